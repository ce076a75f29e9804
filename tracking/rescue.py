"""Gap rescue: detections of a face that the online pass left out, given back offline.

The online pass decides frame by frame (lifecycle.py). A face that turns sharply while the
detector misses it every other frame loses its track: each hit after a miss is on probation and
thrown away at the next miss, the motion model forgets it, and the face runs out of the gate.
The pieces are linked again (link.py), but gap filling would then draw the chord across the
curve the face took: boxes over the background beside the face. Offline both sides of the gap are
known, so the face's own detections in it can be found again.

In a gap that gap filling would fill (interpolate.fillable_gaps: one shot, no motion break, the
face missed at most max_gap sampled frames and not gone out of the picture), the face is expected on the cubic Hermite curve that leaves the left detection at the track's
velocity there and reaches the right one at its velocity there (a straight line when the face
moves at constant speed; the size is interpolated linearly). A detection of a frame in the gap
that no tracklet took is given to the track when
- it lies within RESCUE_GATE face sizes of the curve (centre distance plus |log size ratio|, as
  motion.py measures), plus RESCUE_GATE_PER_FRAME for each frame to the nearer side of the gap,
  and its size agrees (JUMP_MAX_SIZE_RATIO);
- it scores at least EDGE_SCORE_RATIO of the track's median (a detector scores one face about the
  same from frame to frame);
- it is unambiguous: any other free detection of its frame deviates RESCUE_MARGIN more.
The velocity at a side is the least-squares slope of up to VELOCITY_POINTS detections on that
side with no break between them (the chord's, when the side has a single detection). The
boxes given back go through the same offline checks as the others (outliers, jump edges).
"""

from __future__ import annotations

import numpy as np

from .lifecycle import JUMP_MAX_SIZE_RATIO
from .motion import EDGE_SCORE_RATIO, deviation

RESCUE_GATE = 0.35  # face sizes a detection may lie off the expected curve next to a side
RESCUE_GATE_PER_FRAME = 0.05  # ... plus this for each frame further into the gap
RESCUE_MARGIN = 0.25  # face sizes by which the runner-up of the frame must deviate more
VELOCITY_POINTS = 4  # detections on a side that give its velocity


def _side_velocity(frames: np.ndarray, centres: np.ndarray, breaks: np.ndarray, edge: int, side: int) -> np.ndarray | None:
    """(2,) px/frame at detection `edge` from up to VELOCITY_POINTS detections on `side` (-1:
    edge and before it, +1: edge and after it) with no break between them; None with one point."""
    points = [edge]
    while len(points) < VELOCITY_POINTS:
        following = points[-1] + side
        step = min(points[-1], following)
        if not 0 <= following < len(frames) or breaks[step]:
            break
        points.append(following)
    if len(points) < 2:
        return None
    t = frames[points] - frames[points].mean()
    xy = centres[points] - centres[points].mean(axis=0)
    return (t[:, None] * xy).sum(axis=0) / (t**2).sum()


def _expected(frames: np.ndarray, cxcywh: np.ndarray, breaks: np.ndarray, left: int, at: np.ndarray) -> np.ndarray:
    """(k,4) cxcywh expected at frames `at` inside the gap after detection `left`."""
    right = left + 1
    span = float(frames[right] - frames[left])
    chord = (cxcywh[right, :2] - cxcywh[left, :2]) / span
    v0 = _side_velocity(frames, cxcywh[:, :2], breaks, left, -1)
    v1 = _side_velocity(frames, cxcywh[:, :2], breaks, right, 1)
    m0 = (chord if v0 is None else v0) * span
    m1 = (chord if v1 is None else v1) * span
    s = ((at - frames[left]) / span)[:, None]
    centre = (2 * s**3 - 3 * s**2 + 1) * cxcywh[left, :2] + (s**3 - 2 * s**2 + s) * m0 + (3 * s**2 - 2 * s**3) * cxcywh[right, :2] + (s**3 - s**2) * m1
    size = (1 - s) * cxcywh[left, 2:] + s * cxcywh[right, 2:]
    return np.concatenate([centre, size], axis=1)


def rescue_rows(rows: np.ndarray, frame: np.ndarray, cxcywh: np.ndarray, score: np.ndarray, gaps: np.ndarray, breaks: np.ndarray, rows_between, free: np.ndarray) -> np.ndarray:
    """Rows of free detections to give back to one track (see the module docstring).

    rows (m,) the track's detection rows in frame order; frame (n,), cxcywh (n,4) and score (n,)
    of every detection of the clip; gaps (m-1,) bool, the track's gaps that gap filling would
    fill; breaks (m-1,) its motion breaks; rows_between(a, b) -> the rows of frames a..b-1;
    free (n,) bool, the rows no tracklet took. Returns the rescued rows (marked taken in `free`),
    in frame order."""
    frames = frame[rows].astype(np.float64)
    boxes = cxcywh[rows].astype(np.float64)
    min_score = EDGE_SCORE_RATIO * float(np.median(score[rows]))
    rescued = []
    for left in np.flatnonzero(gaps):
        candidates = rows_between(int(frames[left]) + 1, int(frames[left + 1]))
        candidates = candidates[free[candidates] & (score[candidates] >= min_score)]
        if not len(candidates):
            continue
        at = frame[candidates].astype(np.float64)
        expected = _expected(frames, boxes, breaks, int(left), at)
        off = deviation(cxcywh[candidates].astype(np.float64), expected)
        nearer_side = np.minimum(at - frames[left], frames[left + 1] - at)
        size_ratio = np.sqrt(cxcywh[candidates, 2] * cxcywh[candidates, 3]) / np.sqrt(expected[:, 2] * expected[:, 3]).clip(1.0)
        inside = (off <= RESCUE_GATE + RESCUE_GATE_PER_FRAME * nearer_side) & (np.abs(np.log(size_ratio.clip(1e-6))) <= np.log(JUMP_MAX_SIZE_RATIO))
        for f in np.unique(at[inside]):
            of_frame = at == f
            order = np.argsort(off[of_frame])
            best = order[0]
            if not inside[of_frame][best] or (len(order) > 1 and off[of_frame][order[1]] - off[of_frame][best] < RESCUE_MARGIN):
                continue
            row = int(candidates[of_frame][best])
            free[row] = False
            rescued.append(row)
    return np.array(rescued, np.int64)  # gaps and frames in order: already in frame order
