"""Box-level scenarios with ground truth for the tracking benchmark, and a simulated face detector.

A scenario holds the true boxes of every face in every frame (no pixels are needed to benchmark
association). The detector simulation turns them into FaceDetections with box jitter, missed
detections, false positives and occlusion: a face hidden by a hand, or behind a nearer face, is
rarely detected; a face mostly outside the frame is neither detected nor in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from comfyui_fuse.tracking.boxes import iou_matrix
from comfyui_fuse.core.types import FaceDetections

FRAME_SIZE = (720, 1280)  # (H, W)
FPS = Fraction(25)
MIN_VISIBLE_FRACTION = 0.5  # a face with less of its box inside the frame is not in the ground truth
OCCLUDED_DETECTION_RATE = 0.1  # chance a face mostly behind a nearer one is still detected
TIGHT_SCORES = (0.5, 0.95)
TINY_SCORES = (0.25, 0.6)


@dataclass(frozen=True)
class Scenario:
    """boxes (T,K,4) float64 true xyxy (may reach outside the frame; NaN = not in the scene);
    hidden (T,K) bool: covered (a hand), never detected; partial (T,K) float: fraction of the box
    height visible from the top (a hand coming up); depth (K,): larger is nearer the camera;
    scores (K,2): detection score range of each face."""

    name: str
    boxes: np.ndarray
    hidden: np.ndarray
    partial: np.ndarray
    depth: np.ndarray
    scores: np.ndarray
    frame_size: tuple[int, int] = FRAME_SIZE
    fps: Fraction = FPS

    @property
    def frame_count(self) -> int:
        return self.boxes.shape[0]

    def truth(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth: clipped boxes (T,K,4) and present (T,K) bool (in the scene, mostly in frame)."""
        height, width = self.frame_size
        clipped = self.boxes.copy()
        clipped[..., [0, 2]] = clipped[..., [0, 2]].clip(0, width)
        clipped[..., [1, 3]] = clipped[..., [1, 3]].clip(0, height)
        with np.errstate(invalid="ignore"):
            area = (self.boxes[..., 2] - self.boxes[..., 0]) * (self.boxes[..., 3] - self.boxes[..., 1])
            inside = (clipped[..., 2] - clipped[..., 0]) * (clipped[..., 3] - clipped[..., 1])
            present = np.isfinite(area) & (inside >= MIN_VISIBLE_FRACTION * area)
        return clipped, present


@dataclass(frozen=True)
class Noise:
    """Detector noise: jitter as a fraction of the face size (centre) and of log-size; miss_rate
    of detectable faces; false_positives per frame (Poisson), with their score range."""

    name: str
    centre_jitter: float
    size_jitter: float
    miss_rate: float
    false_positives: float
    false_positive_scores: tuple[float, float] = (0.15, 0.7)


CLEAN = Noise("clean", centre_jitter=0.01, size_jitter=0.01, miss_rate=0.0, false_positives=0.0)
NOISY = Noise("noisy", centre_jitter=0.05, size_jitter=0.05, miss_rate=0.15, false_positives=0.3)


def _box(cx, cy, size) -> np.ndarray:
    """(T,4) xyxy from centre and size series; faces are a little taller than wide."""
    cx, cy, size = np.broadcast_arrays(np.asarray(cx, np.float64), np.asarray(cy, np.float64), np.asarray(size, np.float64))
    return np.stack([cx - 0.45 * size, cy - 0.55 * size, cx + 0.45 * size, cy + 0.55 * size], axis=-1)


def _wander(rng: np.random.Generator, frames: int, centre: tuple[float, float], reach: tuple[float, float], period: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random path: two sinusoids per axis with random periods (frames) and phases."""
    t = np.arange(frames, dtype=np.float64)
    axes = []
    for axis in range(2):
        value = np.zeros(frames)
        for weight in (0.7, 0.3):
            cycle = rng.uniform(*period) / (1 if weight > 0.5 else 2.5)
            value += weight * np.sin(2 * np.pi * t / cycle + rng.uniform(0, 2 * np.pi))
        axes.append(centre[axis] + reach[axis] * value)
    return axes[0], axes[1]


def _scenario(name: str, boxes: list[np.ndarray], *, depth=None, scores=None, hidden=None, partial=None) -> Scenario:
    stacked = np.stack(boxes, axis=1)
    frames, count = stacked.shape[:2]
    return Scenario(
        name=name,
        boxes=stacked,
        hidden=np.zeros((frames, count), bool) if hidden is None else hidden,
        partial=np.ones((frames, count)) if partial is None else partial,
        depth=np.arange(count, dtype=np.float64) if depth is None else np.asarray(depth, np.float64),
        scores=np.array([TIGHT_SCORES] * count if scores is None else scores, np.float64),
    )


def crossing(rng: np.random.Generator) -> Scenario:
    """Two faces walk past each other; the one behind is hidden while they overlap."""
    frames = 100
    t = np.linspace(0, 1, frames)
    y = rng.uniform(300, 360)
    a = _box(250 + 780 * t, y + 12 * np.sin(3 * t), 115)
    b = _box(1030 - 780 * t, y + rng.uniform(15, 35) - 10 * t, 105)
    return _scenario("two faces crossing", [a, b], depth=[1, 0])


def hand_occlusion(rng: np.random.Generator) -> Scenario:
    """A slowly drifting face is covered by a hand for 10 frames, half covered 3 frames either side."""
    frames = 120
    t = np.arange(frames, dtype=np.float64)
    face = _box(500 + rng.uniform(0.8, 1.8) * t, 340 + 20 * np.sin(t / 30), 140)
    hidden = np.zeros((frames, 1), bool)
    partial = np.ones((frames, 1))
    hidden[50:60] = True
    partial[47:50, 0] = [0.75, 0.6, 0.45]  # the hand rises over the chin and mouth
    partial[60:63, 0] = [0.45, 0.6, 0.75]
    return _scenario("hand hides a face 10 frames", [face], hidden=hidden, partial=partial)


def leave_and_reenter(rng: np.random.Generator) -> Scenario:
    """A face walks out of the right edge, is away 1 to 2 s, and comes back; another face stays left."""
    frames = 150
    t = np.arange(frames, dtype=np.float64)
    speed = rng.uniform(9, 12)
    turn = (1280 - 850) / speed + rng.uniform(12, 22)  # out at ~frame 40, back 25-45 frames later
    cx = 850 + speed * (turn - np.abs(t - turn))
    walker = _box(cx, 330 + rng.uniform(-30, 30) + 10 * np.sin(t / 20), 120)
    stayer = _box(260 + 15 * np.sin(t / 25), 360 + 10 * np.cos(t / 30), 110)
    return _scenario("leave and re-enter", [walker, stayer])


def fast_motion(rng: np.random.Generator) -> Scenario:
    """A face swings across the frame at up to ~45 px/frame, turning sharply at the ends."""
    frames = 150
    t = np.arange(frames, dtype=np.float64)
    px, py = rng.uniform(55, 65), rng.uniform(40, 50)
    cx = 640 + 430 * np.sin(2 * np.pi * t / px + rng.uniform(0, 6.3))
    cy = 360 + 180 * np.sin(2 * np.pi * t / py + rng.uniform(0, 6.3))
    face = _box(cx, cy, 110 + 15 * np.sin(t / 17))
    return _scenario("fast motion", [face])


def tiny_face(rng: np.random.Generator) -> Scenario:
    """A 20 px face in the background (low scores) next to a normal face."""
    frames = 150
    x, y = _wander(rng, frames, (900, 250), (60, 30), (90, 140))
    tiny = _box(x, y, 20 + 2 * np.sin(np.arange(frames) / 40))
    x, y = _wander(rng, frames, (400, 400), (80, 40), (90, 140))
    near = _box(x, y, 130)
    return _scenario("tiny face", [tiny, near], scores=[TINY_SCORES, TIGHT_SCORES])


def crowd(rng: np.random.Generator) -> Scenario:
    """Five faces wandering and crossing; a face behind a nearer one is hidden."""
    frames = 200
    faces = []
    for index in range(5):
        x, y = _wander(rng, frames, (180 + 230 * index, rng.uniform(280, 440)), (rng.uniform(80, 160), rng.uniform(40, 90)), (70, 150))
        faces.append(_box(x, y, rng.uniform(75, 120)))
    return _scenario("5 faces", faces, depth=rng.permutation(5))


def long_clip(rng: np.random.Generator, frames: int = 1500) -> Scenario:
    """A minute of three people moving about; one steps out of the picture twice."""
    faces = []
    for index in range(3):
        x, y = _wander(rng, frames, (300 + 340 * index, 360), (220, 120), (150, 400))
        faces.append(_box(x, y, rng.uniform(90, 140)))
    away = faces[2].copy()
    for start in (frames // 3, 2 * frames // 3):
        length = int(rng.uniform(35, 60))
        away[start : start + length] = np.nan
    faces[2] = away
    return _scenario("long clip (1500 frames)" if frames == 1500 else f"long clip ({frames} frames)", faces, depth=[0, 1, 2])


SCENARIOS = (crossing, hand_occlusion, leave_and_reenter, fast_motion, tiny_face, crowd, long_clip)


@dataclass(frozen=True)
class SimulatedDetections:
    """What a detector would report: the FaceDetections and, for each row, the true face it came
    from (-1 for a false positive), so raw-detection jitter can be measured."""

    detections: FaceDetections
    source: np.ndarray


def simulate_detector(scenario: Scenario, noise: Noise, rng: np.random.Generator) -> SimulatedDetections:
    truth, present = scenario.truth()
    height, width = scenario.frame_size
    frames, rows_xyxy, scores, sources = [], [], [], []
    for frame in range(scenario.frame_count):
        boxes = truth[frame]
        alive = np.flatnonzero(present[frame])
        behind = np.zeros(len(boxes), bool)
        if len(alive) > 1:
            overlap = iou_matrix(boxes[alive], boxes[alive])
            for i, a in enumerate(alive):
                nearer = scenario.depth[alive] > scenario.depth[a]
                behind[a] = bool((overlap[i] > 0.25)[nearer].any())
        for k in alive:
            if scenario.hidden[frame, k] or rng.random() < noise.miss_rate:
                continue
            if behind[k] and rng.random() > OCCLUDED_DETECTION_RATE:
                continue
            x1, y1, x2, y2 = boxes[k]
            y2 = y1 + (y2 - y1) * scenario.partial[frame, k]
            size = np.sqrt((x2 - x1) * (y2 - y1))
            cx = (x1 + x2) / 2 + rng.normal(0, noise.centre_jitter * size)
            cy = (y1 + y2) / 2 + rng.normal(0, noise.centre_jitter * size)
            w = (x2 - x1) * np.exp(rng.normal(0, noise.size_jitter))
            h = (y2 - y1) * np.exp(rng.normal(0, noise.size_jitter))
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).clip([0, 0, 0, 0], [width, height, width, height])
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            low, high = scenario.scores[k]
            frames.append(frame)
            rows_xyxy.append(box)
            scores.append(rng.uniform(low, high) * (0.6 + 0.4 * scenario.partial[frame, k]))
            sources.append(k)
        for _ in range(rng.poisson(noise.false_positives)):
            size = rng.uniform(18, 150)
            cx, cy = rng.uniform(size / 2, width - size / 2), rng.uniform(size / 2, height - size / 2)
            frames.append(frame)
            rows_xyxy.append(np.array([cx - 0.45 * size, cy - 0.55 * size, cx + 0.45 * size, cy + 0.55 * size]).clip([0, 0, 0, 0], [width, height, width, height]))
            scores.append(rng.uniform(*noise.false_positive_scores))
            sources.append(-1)
    detections = FaceDetections(
        frame=np.asarray(frames, np.int64),
        xyxy=np.asarray(rows_xyxy, np.float32).reshape(-1, 4),
        score=np.asarray(scores, np.float32),
        frame_count=scenario.frame_count,
        frame_size=scenario.frame_size,
        detector="simulated",
    )
    return SimulatedDetections(detections, np.asarray(sources, np.int64))
