"""The online pass: follow faces frame by frame and cut the clip's detections into tracklets.

Each sampled frame, the active tracks predict where their face is (constant velocity fitted to
their last hits), confirmed tracks are matched first and tentative tracks get what is left
(global assignment per frame, see associate.py). A detection nobody takes starts a tentative
track; a tentative track is confirmed after `min_hits` detections and dropped when it misses
more than TENTATIVE_MAX_MISSES sampled frames in a row first, so a one-frame false positive never becomes
a track. A confirmed track survives up to `max_gap` missed sampled frames, predicted meanwhile.
When it finds a face again after a gap, the hit is on probation: it counts once the next sampled
frame hits too (PROBATION_HITS in a row), and a miss before that throws it away: a lost track
that grabs a false positive, which shows up once, forgets it instead of following it. Frames the detector did not run
on (detect_every > 1) are gaps by design, never misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .associate import assign, association_cost
from .boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from ..core.types import FaceDetections

MOTION_HISTORY = 5  # hits used to fit the constant-velocity motion model
TENTATIVE_MAX_MISSES = 1  # a tentative track may miss one sampled frame (a real face missed once)
GATE_GROWTH_PER_FRAME = 0.1  # the distance gate widens by 10% per frame since the last hit
PROBATION_HITS = 2  # hits in a row that confirm a lost track has found its face again


@dataclass(frozen=True, eq=False)
class Tracklet:
    """One unbroken run of association: rows (m,) int64 into the FaceDetections, frames (m,) int64,
    both in frame order."""

    rows: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def stop(self) -> int:
        """The last detected frame (inclusive)."""
        return int(self.frames[-1])


class _ActiveTrack:
    """A track being followed: accepted hits, hits on probation, a constant-velocity motion model."""

    def __init__(self, birth: int, row: int, frame: int, cxcywh: np.ndarray, min_hits: int) -> None:
        self.birth = birth  # creation order, for a deterministic output order
        self.min_hits = min_hits
        self.hits: list[tuple[int, int, np.ndarray]] = [(row, frame, cxcywh)]  # (row, frame, cxcywh)
        self.probation: list[tuple[int, int, np.ndarray]] = []  # hits after a gap, not yet accepted
        self.misses = 0  # missed sampled frames since the last accepted hit

    @property
    def confirmed(self) -> bool:
        return len(self.hits) >= self.min_hits

    @property
    def last_frame(self) -> int:
        return (self.probation or self.hits)[-1][1]

    def hit(self, row: int, frame: int, cxcywh: np.ndarray) -> None:
        if self.misses == 0 or not self.confirmed:
            self.hits.append((row, frame, cxcywh))
            self.misses = 0
            return
        self.probation.append((row, frame, cxcywh))
        if len(self.probation) >= PROBATION_HITS:
            self._accept_probation()

    def miss(self) -> None:
        self.misses += 1 + len(self.probation)  # hits thrown off probation count as misses
        self.probation = []

    def _accept_probation(self) -> None:
        self.hits += self.probation
        self.probation = []
        self.misses = 0

    def predict(self, frame: int) -> np.ndarray:
        """(4,) xyxy where the face should be at `frame`: a least-squares line through the last
        hits' centres, the mean of their sizes."""
        recent = (self.hits + self.probation)[-MOTION_HISTORY:]
        frames = np.array([f for _, f, _ in recent], np.float64)
        boxes = np.array([b for _, _, b in recent], np.float64)
        t = frames - frames[-1]
        centre = boxes[:, :2].mean(axis=0)
        if len(t) >= 2 and np.ptp(t) > 0:
            t_mean = t.mean()
            velocity = ((t - t_mean)[:, None] * (boxes[:, :2] - centre)).sum(axis=0) / ((t - t_mean) ** 2).sum()
            centre = centre + velocity * (frame - frames[-1] - t_mean)
        size = boxes[-3:, 2:].mean(axis=0)
        return cxcywh_to_xyxy(np.concatenate([centre, size]))

    def tracklet(self) -> Tracklet:
        return Tracklet(rows=np.array([r for r, _, _ in self.hits], np.int64), frames=np.array([f for _, f, _ in self.hits], np.int64))


def _match(tracks: list[_ActiveTrack], detected_xyxy: np.ndarray, frame: int, iou_threshold: float, distance_threshold: float) -> list[tuple[int, int]]:
    """Globally best pairs (track index, detection index) within the gates."""
    if not tracks or not len(detected_xyxy):
        return []
    predicted = np.stack([track.predict(frame) for track in tracks])
    elapsed = np.array([frame - track.last_frame for track in tracks], np.float64)
    cost = association_cost(predicted, detected_xyxy, iou_threshold=iou_threshold, distance_threshold=distance_threshold, radius_scale=1.0 + GATE_GROWTH_PER_FRAME * (elapsed - 1))
    return [(int(t), int(d)) for t, d in assign(cost)]


def follow_tracks(
    detections: FaceDetections,
    *,
    iou_threshold: float,
    distance_threshold: float,
    max_gap: int,
    min_hits: int,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> list[Tracklet]:
    """Run the online pass over the whole clip; returns the confirmed tracklets in order of birth.

    detections: the clip's faces (xyxy source pixels); its sampled_frames say which frames the
    detector saw. on_progress receives frame_count steps in total; check_interrupt is called once
    per frame.
    """
    order = np.argsort(detections.frame, kind="stable")
    rows_of_frame = np.split(order, np.searchsorted(detections.frame[order], np.arange(1, detections.frame_count)))
    boxes = xyxy_to_cxcywh(detections.xyxy)
    sampled = detections.is_sampled
    active: list[_ActiveTrack] = []
    finished: list[_ActiveTrack] = []
    births = 0
    for frame in range(detections.frame_count):
        if check_interrupt is not None:
            check_interrupt()
        if sampled[frame]:
            rows = rows_of_frame[frame]
            free = np.ones(len(rows), bool)
            matched: set[int] = set()
            # confirmed tracks choose first, so a tentative track never takes an established face
            for group in ([t for t in active if t.confirmed], [t for t in active if not t.confirmed]):
                left = np.flatnonzero(free)
                for t, d in _match(group, detections.xyxy[rows[left]], frame, iou_threshold, distance_threshold):
                    group[t].hit(int(rows[left[d]]), frame, boxes[rows[left[d]]])
                    free[left[d]] = False
                    matched.add(id(group[t]))
            survivors = []
            for track in active:
                if id(track) not in matched:
                    track.miss()
                limit = max_gap if track.confirmed else TENTATIVE_MAX_MISSES
                if track.misses <= limit:
                    survivors.append(track)
                elif track.confirmed:
                    finished.append(track)
            for d in np.flatnonzero(free):
                survivors.append(_ActiveTrack(births, int(rows[d]), frame, boxes[rows[d]], min_hits))
                births += 1
            active = survivors
        if on_progress is not None:
            on_progress(1)
    finished += [track for track in active if track.confirmed]
    finished.sort(key=lambda track: track.birth)
    return [track.tracklet() for track in finished]
