"""The online pass: follow faces frame by frame and cut the clip's detections into tracklets.

Each shot is followed on its own: at a cut every track ends, so no tracklet crosses one.
Each sampled frame, the active tracks predict where their face is (constant velocity fitted to
their last hits), confirmed tracks are matched first and tentative tracks get what is left
(global assignment per frame, see associate.py). A detection nobody takes starts a tentative
track; a tentative track is confirmed after `min_hits` detections and dropped when it misses
more than TENTATIVE_MAX_MISSES sampled frames in a row first, so a one-frame false positive never
becomes a track. A confirmed track survives up to `max_gap` missed sampled frames, predicted
meanwhile. When it finds a face again after a gap, the hit is on probation: it counts once the
next sampled frame hits too (PROBATION_HITS in a row), and a miss before that throws it away: a
lost track that grabs a false positive, which shows up once, forgets it instead of following it.
Frames the detector did not run on (detect_every > 1) are gaps by design, never misses.

Jumps. A face can move further in one frame than the match gate allows: a whip pan, a fast head
turn, a dropped frame. A confirmed track that found nothing in its gate may take a free
detection up to `max_jump` of its face sizes away when
- the size agrees (within JUMP_MAX_SIZE_RATIO) and, when detections carry embeddings, so does
  the appearance (cosine >= JUMP_EMBEDDING_VETO);
- it is unambiguous: every other free candidate of the track, and every other confirmed track
  (lost or not) that could reach the detection, costs at least JUMP_MARGIN face sizes more (a
  candidate that the same assignment gives to another lost track does not count);
- the next sampled frames of the shot confirm it (the clip is seen whole, so the pass looks
  ahead): within JUMP_LOOKAHEAD of them a face of its size is detected again where the jump
  leads, and before that none where the track would have been without the jump.
After a jump the motion model moves with the face: its velocity is kept, its position shifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .associate import assign, association_cost
from .boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from ..core.vectors import unit_rows
from ..core.types import FaceDetections, shot_ranges

MOTION_HISTORY = 5  # hits used to fit the constant-velocity motion model
TENTATIVE_MAX_MISSES = 1  # a tentative track may miss one sampled frame (a real face missed once)
GATE_GROWTH_PER_FRAME = 0.1  # the distance gate widens by 10% per frame since the last hit
PROBATION_HITS = 2  # hits in a row that confirm a lost track has found its face again
JUMP_MAX_SIZE_RATIO = 1.3  # a face that jumps keeps its size
JUMP_MARGIN = 0.5  # face sizes between a jump and its nearest rival
RECALL_MAX_MISSES = 3  # misses (thrown-off hits included) after which hits thrown off probation stay out
JUMP_LOOKAHEAD = 3  # sampled frames after a jump in which it must be confirmed
JUMP_MAX_MISSES = 3  # a track may jump after missing at most this many sampled frames
JUMP_EMBEDDING_VETO = 0.3  # cosine similarity under which a jump is refused


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
    """A track being followed: accepted hits, hits on probation, a constant-velocity motion model.

    trail holds (frame, cx, cy, w, h) of recent hits and probation hits for the motion model;
    after a jump its positions are shifted by the jump, so the velocity carries on."""

    def __init__(self, birth: int, row: int, frame: int, cxcywh: np.ndarray, min_hits: int) -> None:
        self.birth = birth  # creation order, for a deterministic output order
        self.min_hits = min_hits
        self.rows: list[int] = [row]
        self.frames: list[int] = [frame]
        self.probation: list[tuple[int, int]] = []  # (row, frame) hits after a gap, not yet accepted
        self.dropped: list[tuple[int, int]] = []  # probation hits thrown off since the last accepted hit
        self.misses = 0  # missed sampled frames since the last accepted hit
        self.trail: list[list[float]] = [[float(frame), *map(float, cxcywh)]]
        self.fit = self._fit()

    @property
    def confirmed(self) -> bool:
        return len(self.rows) >= self.min_hits

    @property
    def last_frame(self) -> int:
        return (self.probation[-1] if self.probation else (None, self.frames[-1]))[1]

    def _fit(self) -> tuple[float, ...]:
        """anchor frame, centre (x, y) at the anchor, velocity (x, y) px/frame, size (w, h): a
        least-squares line through the last MOTION_HISTORY trail centres, the mean of the last 3
        sizes. Plain Python: a handful of points, fitted once per hit."""
        recent = self.trail[-MOTION_HISTORY:]
        count = len(recent)
        anchor = sum(entry[0] for entry in recent) / count
        cx = sum(entry[1] for entry in recent) / count
        cy = sum(entry[2] for entry in recent) / count
        spread = sum((entry[0] - anchor) ** 2 for entry in recent)
        vx = vy = 0.0
        if spread > 0:
            vx = sum((entry[0] - anchor) * (entry[1] - cx) for entry in recent) / spread
            vy = sum((entry[0] - anchor) * (entry[2] - cy) for entry in recent) / spread
        last = recent[-3:]
        return (anchor, cx, cy, vx, vy, sum(entry[3] for entry in last) / len(last), sum(entry[4] for entry in last) / len(last))

    def _extend_trail(self, frame: int, cxcywh: np.ndarray) -> None:
        self.trail.append([float(frame), *map(float, cxcywh)])
        del self.trail[: -(MOTION_HISTORY + PROBATION_HITS)]
        self.fit = self._fit()

    def hit(self, row: int, frame: int, cxcywh: np.ndarray) -> None:
        self._extend_trail(frame, cxcywh)
        if self.misses == 0 or not self.confirmed:
            self.rows.append(row)
            self.frames.append(frame)
            self.misses = 0
            return
        self.probation.append((row, frame))
        if len(self.probation) >= PROBATION_HITS:
            self._accept_probation()

    def jump(self, row: int, frame: int, cxcywh: np.ndarray, predicted_centre: np.ndarray) -> None:
        """Take a detection beyond the gate: the motion model moves by the jump, keeps its velocity.
        Hits on probation are accepted: the face was found again, then it jumped."""
        self._accept_probation()
        offset = np.asarray(cxcywh[:2], np.float64) - predicted_centre
        for entry in self.trail:
            entry[1] += offset[0]
            entry[2] += offset[1]
        self.rows.append(row)
        self.frames.append(frame)
        self.misses = 0
        self._extend_trail(frame, cxcywh)

    def miss(self) -> None:
        if self.probation:
            del self.trail[-len(self.probation) :]  # hits thrown off probation leave the motion model
            self.fit = self._fit()
        self.misses += 1 + len(self.probation)  # hits thrown off probation count as misses
        self.dropped += self.probation
        self.probation = []

    def _accept_probation(self) -> None:
        """The face is found again: the probation hits join the track, and so do the hits thrown
        off probation since the last accepted one when the face was lost only briefly (at most
        RECALL_MAX_MISSES; the offline pass, which sees both sides, drops those of them that
        stray: motion.motion_outliers). After a longer loss they are more likely whatever hid it."""
        if not self.probation:
            return
        recalled = self.dropped if self.misses <= RECALL_MAX_MISSES else []
        for row, frame in recalled + self.probation:
            self.rows.append(row)
            self.frames.append(frame)
        self.probation, self.dropped = [], []
        self.misses = 0

    def tracklet(self) -> Tracklet:
        return Tracklet(rows=np.array(self.rows, np.int64), frames=np.array(self.frames, np.int64))


def predict_xyxy(tracks: list[_ActiveTrack], frame: int) -> np.ndarray:
    """(m,4) xyxy where each track's face should be at `frame`."""
    fits = np.array([track.fit for track in tracks], np.float64)
    centre = fits[:, 1:3] + fits[:, 3:5] * (frame - fits[:, :1])
    return cxcywh_to_xyxy(np.concatenate([centre, fits[:, 5:7]], axis=1))


class _Clip:
    """What the pass needs to know about the clip's detections, frame by frame."""

    def __init__(self, detections: FaceDetections, iou_threshold: float, distance_threshold: float) -> None:
        order = np.argsort(detections.frame, kind="stable")
        self.rows_of_frame = np.split(order, np.searchsorted(detections.frame[order], np.arange(1, detections.frame_count)))
        self.xyxy = detections.xyxy
        self.cxcywh = xyxy_to_cxcywh(detections.xyxy)
        self.sampled = detections.is_sampled
        self.embedding = None if detections.embedding is None else unit_rows(detections.embedding, np.float32)
        self.iou_threshold = iou_threshold
        self.distance_threshold = distance_threshold

    def gated(self, expected_xyxy: np.ndarray, frame: int) -> bool:
        """Is a face of the expected size detected at `frame` inside the match gate of the (4,) box
        expected there?"""
        rows = self.rows_of_frame[frame]
        if not len(rows):
            return False
        cost = association_cost(expected_xyxy[None], self.xyxy[rows], iou_threshold=self.iou_threshold, distance_threshold=self.distance_threshold)
        size_e = np.sqrt(self.cxcywh[rows, 2] * self.cxcywh[rows, 3]).clip(1.0)
        expected = xyxy_to_cxcywh(expected_xyxy)
        alike = np.abs(np.log(size_e / max(float(np.sqrt(expected[2] * expected[3])), 1.0))) <= np.log(JUMP_MAX_SIZE_RATIO)
        return bool((np.isfinite(cost[0]) & alike).any())


def _match(tracks: list[_ActiveTrack], detected_xyxy: np.ndarray, frame: int, clip: _Clip) -> list[tuple[int, int]]:
    """Globally best pairs (track index, detection index) within the gates."""
    if not tracks or not len(detected_xyxy):
        return []
    elapsed = np.array([frame - track.last_frame for track in tracks], np.float64)
    cost = association_cost(
        predict_xyxy(tracks, frame), detected_xyxy, iou_threshold=clip.iou_threshold, distance_threshold=clip.distance_threshold,
        radius_scale=1.0 + GATE_GROWTH_PER_FRAME * (elapsed - 1),
    )
    return [(int(t), int(d)) for t, d in assign(cost)]


def _jump_cost(tracks: list[_ActiveTrack], rows: np.ndarray, frame: int, clip: _Clip, max_jump: float) -> tuple[np.ndarray, np.ndarray]:
    """(m,n) cost in face sizes of each track jumping to each detection row, inf where it may not;
    and the (m,2) predicted centres."""
    predicted = xyxy_to_cxcywh(predict_xyxy(tracks, frame))
    last = np.array([track.trail[-1][1:3] for track in tracks])
    size_t = np.sqrt(predicted[:, 2] * predicted[:, 3]).clip(1.0)[:, None]
    centre_d = clip.cxcywh[rows, :2][None]
    size_d = np.sqrt(clip.cxcywh[rows, 2] * clip.cxcywh[rows, 3]).clip(1.0)[None]
    distance = np.minimum(np.linalg.norm(centre_d - predicted[:, None, :2], axis=-1), np.linalg.norm(centre_d - last[:, None], axis=-1)) / size_t
    log_ratio = np.abs(np.log(size_d / size_t))
    allowed = (distance <= max_jump) & (log_ratio <= np.log(JUMP_MAX_SIZE_RATIO))
    if clip.embedding is not None:
        appearance = np.stack([clip.embedding[track.rows[-MOTION_HISTORY:]].mean(axis=0) for track in tracks])
        appearance /= np.linalg.norm(appearance, axis=1, keepdims=True).clip(1e-12)
        allowed &= appearance @ clip.embedding[rows].T >= JUMP_EMBEDDING_VETO
    return np.where(allowed, distance + log_ratio, np.inf), predicted[:, :2]


def _jump_confirmed(track: _ActiveTrack, row: int, frame: int, shot_stop: int, clip: _Clip) -> bool:
    """Do the next sampled frames of the shot show the face where the jump leads, and nothing
    where the track would have been without it?"""
    velocity = np.array(track.fit[3:5])
    jumped = clip.cxcywh[row]
    checked = 0
    for later in range(frame + 1, shot_stop):
        if not clip.sampled[later]:
            continue
        if clip.gated(predict_xyxy([track], later)[0], later):
            return False
        expected = cxcywh_to_xyxy(np.concatenate([jumped[:2] + velocity * (later - frame), jumped[2:]]))
        if clip.gated(expected, later):
            return True
        checked += 1
        if checked >= JUMP_LOOKAHEAD:
            break
    return False


def _jumps(lost: list[_ActiveTrack], settled: list[_ActiveTrack], rows: np.ndarray, frame: int, shot_stop: int, clip: _Clip, max_jump: float) -> list[tuple[int, int, np.ndarray]]:
    """(index into lost, detection index into rows, predicted centre) of the jumps to make at
    `frame`. lost: confirmed tracks that found nothing in their gate; settled: the other confirmed
    tracks, which may not jump but are rivals for a detection near them."""
    if not lost or not len(rows):
        return []
    cost, predicted = _jump_cost(lost + settled, rows, frame, clip, max_jump)
    pairs = assign(cost[: len(lost)])
    taken_by = dict((int(d), int(t)) for t, d in pairs)
    jumps = []
    for t, d in pairs:
        value = cost[t, d]
        other_detections = [j for j in range(cost.shape[1]) if j != d and taken_by.get(j, t) == t]
        other_tracks = [i for i in range(cost.shape[0]) if i != t and (i >= len(lost) or i not in taken_by.values())]
        runner_up = min(cost[t, other_detections].min(initial=np.inf), cost[other_tracks, d].min(initial=np.inf))
        if runner_up - value < JUMP_MARGIN:
            continue
        if _jump_confirmed(lost[t], int(rows[d]), frame, shot_stop, clip):
            jumps.append((int(t), int(d), predicted[t]))
    return jumps


def _step(active: list[_ActiveTrack], frame: int, shot_stop: int, clip: _Clip, min_hits: int, max_gap: int, max_jump: float, births: int) -> tuple[list[_ActiveTrack], list[_ActiveTrack], int]:
    """One sampled frame: match, jump, start tentative tracks. Returns (active, finished, births)."""
    rows = clip.rows_of_frame[frame]
    free = np.ones(len(rows), bool)
    matched: set[int] = set()
    confirmed = [t for t in active if t.confirmed]
    # confirmed tracks choose first, so a tentative track never takes an established face
    left = np.flatnonzero(free)
    for t, d in _match(confirmed, clip.xyxy[rows[left]], frame, clip):
        confirmed[t].hit(int(rows[left[d]]), frame, clip.cxcywh[rows[left[d]]])
        free[left[d]] = False
        matched.add(id(confirmed[t]))
    if max_jump > 0:
        lost = [t for t in confirmed if id(t) not in matched and t.misses <= JUMP_MAX_MISSES]
        settled = [t for t in confirmed if id(t) in matched or t.misses > JUMP_MAX_MISSES]
        left = np.flatnonzero(free)
        for t, d, predicted in _jumps(lost, settled, rows[left], frame, shot_stop, clip, max_jump):
            lost[t].jump(int(rows[left[d]]), frame, clip.cxcywh[rows[left[d]]], predicted)
            free[left[d]] = False
            matched.add(id(lost[t]))
    tentative = [t for t in active if not t.confirmed]
    left = np.flatnonzero(free)
    for t, d in _match(tentative, clip.xyxy[rows[left]], frame, clip):
        tentative[t].hit(int(rows[left[d]]), frame, clip.cxcywh[rows[left[d]]])
        free[left[d]] = False
        matched.add(id(tentative[t]))
    survivors, finished = [], []
    for track in active:
        if id(track) not in matched:
            track.miss()
        limit = max_gap if track.confirmed else TENTATIVE_MAX_MISSES
        if track.misses <= limit:
            survivors.append(track)
        elif track.confirmed:
            finished.append(track)
    for d in np.flatnonzero(free):
        survivors.append(_ActiveTrack(births, int(rows[d]), frame, clip.cxcywh[rows[d]], min_hits))
        births += 1
    return survivors, finished, births


def follow_tracks(
    detections: FaceDetections,
    *,
    iou_threshold: float,
    distance_threshold: float,
    max_gap: int,
    min_hits: int,
    max_jump: float = 0.0,
    cuts: np.ndarray | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> list[Tracklet]:
    """Run the online pass over the whole clip; returns the confirmed tracklets in order of birth.

    detections: the clip's faces (xyxy source pixels); its sampled_frames say which frames the
    detector saw. cuts: frames that start a new shot (every track ends there). min_hits is capped
    at the sampled frames of each shot, so a shot shorter than min_hits still has tracks.
    on_progress receives frame_count steps in total; check_interrupt is called once per frame.
    """
    clip = _Clip(detections, iou_threshold, distance_threshold)
    finished: list[_ActiveTrack] = []
    births = 0
    for shot_start, shot_stop in shot_ranges(np.zeros(0, np.int64) if cuts is None else cuts, detections.frame_count):
        shot_min_hits = max(1, min(min_hits, int(clip.sampled[shot_start:shot_stop].sum())))
        active: list[_ActiveTrack] = []
        for frame in range(shot_start, shot_stop):
            if check_interrupt is not None:
                check_interrupt()
            if clip.sampled[frame]:
                active, ended, births = _step(active, frame, shot_stop, clip, shot_min_hits, max_gap, max_jump, births)
                finished += ended
            if on_progress is not None:
                on_progress(1)
        finished += [track for track in active if track.confirmed]
    finished.sort(key=lambda track: track.birth)
    return [track.tracklet() for track in finished]
