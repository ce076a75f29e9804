"""Box-level scenarios with ground truth for the tracking benchmark, and a simulated face detector.

A scenario holds the true boxes of every face in every frame (no pixels are needed to benchmark
association). The detector simulation turns them into FaceDetections with box jitter, missed
detections, false positives and occlusion: a face hidden by a hand, or behind a nearer face, is
rarely detected; a face mostly outside the frame is neither detected nor in the ground truth.
With an embedding size it also gives every detection a face embedding: the true person's vector
plus noise (cosine about 0.7 to it, as ArcFace gives for one person across poses), a random one
for a false positive.

Edited footage: a scenario may have shots (true cuts), each with its own background, and a
camera shift per frame (a whip pan moves the faces and the background together). render_small
draws it the way shot detection sees a video: downscaled to 256x144, faces as real face photos
(media.synthetic) over each shot's background, so the cuts the tracker gets come from
PySceneDetect on pixels, not from the ground truth.
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
    cuts: tuple[int, ...] = ()  # true shot boundaries: frames that start a new shot
    shift: np.ndarray | None = None  # (T,2) px the camera moved the scene (faces already include it)
    people: np.ndarray | None = None  # (T,K) int: the person in each column per frame (None: column k is person k)

    def person_ids(self) -> np.ndarray:
        """(T,K) int64: the ground-truth id of each column in each frame."""
        if self.people is None:
            return np.broadcast_to(np.arange(self.boxes.shape[1]), self.boxes.shape[:2])
        return self.people

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


def _scenario(name: str, boxes: list[np.ndarray], *, depth=None, scores=None, hidden=None, partial=None, cuts=(), shift=None) -> Scenario:
    stacked = np.stack(boxes, axis=1)
    frames, count = stacked.shape[:2]
    return Scenario(
        name=name,
        boxes=stacked,
        hidden=np.zeros((frames, count), bool) if hidden is None else hidden,
        partial=np.ones((frames, count)) if partial is None else partial,
        depth=np.arange(count, dtype=np.float64) if depth is None else np.asarray(depth, np.float64),
        scores=np.array([TIGHT_SCORES] * count if scores is None else scores, np.float64),
        cuts=tuple(int(c) for c in cuts),
        shift=shift,
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


def _in_shots(path: np.ndarray, shots: list[tuple[int, int]], keep: list[int]) -> np.ndarray:
    """path with NaN outside the shots whose index is in keep."""
    out = np.full_like(path, np.nan)
    for index in keep:
        start, stop = shots[index]
        out[start:stop] = path[start:stop]
    return out


def hard_cuts(rng: np.random.Generator) -> Scenario:
    """Three shots of two people each; after each cut two other people stand where the last two stood."""
    frames, cuts = 240, (int(rng.integers(70, 90)), int(rng.integers(150, 170)))
    shots = list(zip((0, *cuts), (*cuts, frames)))
    places = [(rng.uniform(330, 430), rng.uniform(320, 400)), (rng.uniform(850, 950), rng.uniform(320, 400))]
    faces = []
    for shot in range(3):
        for cx, cy in places:
            x, y = _wander(rng, frames, (cx + rng.uniform(-20, 20), cy + rng.uniform(-15, 15)), (25, 15), (60, 120))
            faces.append(_in_shots(_box(x, y, rng.uniform(105, 125)), shots, [shot]))
    return _scenario("hard cuts, new people in the same places", faces, cuts=cuts)


def cut_and_return(rng: np.random.Generator) -> Scenario:
    """Shot 1: A and B; shot 2: a close-up of A; shot 3: A and B again, near where they were."""
    frames, cuts = 250, (int(rng.integers(80, 100)), int(rng.integers(150, 170)))
    shots = list(zip((0, *cuts), (*cuts, frames)))
    ax, ay = _wander(rng, frames, (380, 360), (40, 20), (70, 140))
    bx, by = _wander(rng, frames, (900, 350), (40, 20), (70, 140))
    cx, cy = _wander(rng, frames, (640, 330), (30, 15), (70, 140))
    a = np.where(np.isfinite(_in_shots(ax[:, None], shots, [0, 2])), _box(ax, ay, 115), _box(cx, cy, 330))
    b = _in_shots(_box(bx, by, 110), shots, [0, 2])
    return _scenario("cut and return, 3 shots", [a, b], cuts=cuts)


def _jumps(rng: np.random.Generator, frames: int, size: float, every: tuple[int, int], limit: tuple[float, float]) -> np.ndarray:
    """(T,2) a cumulative shift that jumps 1.5-2 face sizes at random frames, mostly sideways,
    turning back before it leaves +-limit px."""
    shift = np.zeros((frames, 2))
    frame = int(rng.integers(*every))
    position = np.zeros(2)
    while frame < frames:
        angle = rng.uniform(-0.35, 0.35) + (np.pi if rng.random() < 0.5 else 0.0)
        step = rng.uniform(1.5, 2.0) * size * np.array([np.cos(angle), np.sin(angle)])
        if np.abs(position + step)[0] > limit[0] or np.abs(position + step)[1] > limit[1]:
            step = -step
        position = position + step
        shift[frame:] = position
        frame += int(rng.integers(*every))
    return shift


def whip_pans(rng: np.random.Generator) -> Scenario:
    """Two people far apart; whip pans move the whole picture 1.5-2 face sizes in one frame."""
    frames, size = 300, 110.0
    shift = _jumps(rng, frames, size, (20, 40), (260, 120))
    faces = []
    for cx in (rng.uniform(330, 380), rng.uniform(900, 950)):
        x, y = _wander(rng, frames, (cx, rng.uniform(330, 390)), (25, 12), (80, 160))
        faces.append(_box(x + shift[:, 0], y + shift[:, 1], size + rng.uniform(-8, 8)))
    return _scenario("whip pans, jumps of 1.5-2 face sizes", faces, shift=shift)


def head_turns(rng: np.random.Generator) -> Scenario:
    """One face jumps 1.5-2 face sizes in one frame now and then (fast head turns, dropped
    frames); another face stays put across the frame."""
    frames, size = 300, 115.0
    jumps = _jumps(rng, frames, size, (15, 35), (220, 100))
    x, y = _wander(rng, frames, (420, 360), (20, 10), (80, 160))
    mover = _box(x + jumps[:, 0], y + jumps[:, 1], size)
    x, y = _wander(rng, frames, (1050, 330), (20, 10), (80, 160))
    return _scenario("fast head turns and dropped frames", [mover, _box(x, y, 105)])


def many_short_tracks(frames: int = 50_000, per_set: int = 5, set_frames: int = 250, seed: int = 0) -> Scenario:
    """frames frames; every set_frames frames a new set of per_set people (a cut), wandering.
    Column k holds the k-th person of whichever set is on screen (people says who), so the
    ground truth stays frames x per_set, not frames x people."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((frames, per_set, 4))
    people = np.zeros((frames, per_set), np.int64)
    t = np.arange(set_frames, dtype=np.float64)
    for index, start in enumerate(range(0, frames, set_frames)):
        span = min(set_frames, frames - start)
        for face in range(per_set):
            cx = 150 + 245 * face + rng.uniform(-30, 30) + 20 * np.sin(t / rng.uniform(20, 40) + rng.uniform(0, 6))
            cy = rng.uniform(250, 450) + 12 * np.sin(t / rng.uniform(20, 40))
            boxes[start : start + span, face] = _box(cx, cy, rng.uniform(90, 130))[:span]
            people[start : start + span, face] = index * per_set + face
    return Scenario(
        name=f"{frames} frames, {int(people.max()) + 1} short tracks",
        boxes=boxes,
        hidden=np.zeros((frames, per_set), bool),
        partial=np.ones((frames, per_set)),
        depth=np.arange(per_set, dtype=np.float64),
        scores=np.array([TIGHT_SCORES] * per_set, np.float64),
        cuts=tuple(range(set_frames, frames, set_frames)),
        people=people,
    )


SCENARIOS = (crossing, hand_occlusion, leave_and_reenter, fast_motion, tiny_face, crowd, long_clip)
EDITED_SCENARIOS = (hard_cuts, cut_and_return, whip_pans, head_turns)


@dataclass(frozen=True)
class SimulatedDetections:
    """What a detector would report: the FaceDetections and, for each row, the true face it came
    from (-1 for a false positive), so raw-detection jitter can be measured."""

    detections: FaceDetections
    source: np.ndarray


def simulate_detector(scenario: Scenario, noise: Noise, rng: np.random.Generator, embedding_size: int | None = None) -> SimulatedDetections:
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
    sources = np.asarray(sources, np.int64)
    detections = FaceDetections(
        frame=np.asarray(frames, np.int64),
        xyxy=np.asarray(rows_xyxy, np.float32).reshape(-1, 4),
        score=np.asarray(scores, np.float32),
        frame_count=scenario.frame_count,
        frame_size=scenario.frame_size,
        detector="simulated",
        embedding=None if embedding_size is None else simulate_embeddings(sources, scenario.boxes.shape[1], embedding_size, rng),
    )
    return SimulatedDetections(detections, sources)


def simulate_embeddings(sources: np.ndarray, people: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n,size) float32: each person's unit vector plus noise (cosine ~0.7 to it), random for -1."""
    people_vectors = rng.normal(size=(people, size))
    people_vectors /= np.linalg.norm(people_vectors, axis=1, keepdims=True)
    noise = rng.normal(size=(len(sources), size)) / np.sqrt(size)
    vectors = np.where(sources[:, None] >= 0, people_vectors[np.maximum(sources, 0)] + noise, rng.normal(size=(len(sources), size)) / np.sqrt(size))
    return vectors.astype(np.float32)


RENDER_SIZE = (144, 256)  # (H, W): the downscaled copy shot detection looks at
_RENDER_MARGIN = 80  # px of background around the picture at render scale, for camera shifts


def render_small(scenario: Scenario, seed: int) -> np.ndarray:
    """(T,144,256,3) uint8 RGB frames of the scenario at 1/5 scale: each shot has its own
    background (shifted with the camera), faces are real face photos (media.synthetic) at their
    true boxes (person k is sprite k, tinted per person), hidden faces are not drawn."""
    import cv2

    from comfyui_fuse.media.synthetic import face_sprites, textured_background

    height, width = RENDER_SIZE
    scale = width / scenario.frame_size[1]
    sprites = face_sprites()
    tints = np.random.default_rng(seed).uniform(0.75, 1.1, size=(scenario.boxes.shape[1], 3))
    shift = np.zeros((scenario.frame_count, 2)) if scenario.shift is None else scenario.shift
    edges = [0, *scenario.cuts, scenario.frame_count]
    frames = np.empty((scenario.frame_count, height, width, 3), np.uint8)
    for shot, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        background = textured_background(height + 2 * _RENDER_MARGIN, width + 2 * _RENDER_MARGIN, seed * 1000 + shot)
        for frame in range(start, stop):
            dx, dy = np.clip(np.round(shift[frame] * scale).astype(int), -_RENDER_MARGIN, _RENDER_MARGIN)
            canvas = background[_RENDER_MARGIN - dy : _RENDER_MARGIN - dy + height, _RENDER_MARGIN - dx : _RENDER_MARGIN - dx + width].astype(np.float32)
            for face in np.argsort(scenario.depth):
                box = scenario.boxes[frame, face]
                if not np.isfinite(box).all() or scenario.hidden[frame, face]:
                    continue
                x1, y1, x2, y2 = np.round(box * scale).astype(int)
                if x2 - x1 < 2 or y2 - y1 < 2:
                    continue
                sprite = sprites[face % len(sprites)]
                fx1, fy1, fx2, fy2 = (int(v) for v in sprite.face_xyxy)
                patch = cv2.resize(sprite.pixels[fy1:fy2, fx1:fx2], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA).astype(np.float32) * tints[face]
                cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
                if cx2 > cx1 and cy2 > cy1:
                    canvas[cy1:cy2, cx1:cx2] = patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
            frames[frame] = np.clip(canvas, 0, 255).astype(np.uint8)
    return frames
