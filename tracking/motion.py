"""Motion breaks: the steps of a track that its own motion does not explain.

A face that jumps (a whip pan, a fast head turn, dropped frames) is one face before and after,
but nothing lies between: gap filling must not draw a box through the background between the two
places, and smoothing must not spread the jump over its neighbours. A step between consecutive
detections j and j+1 (g frames apart) is a break when it strays from the local motion by more
than BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * g face sizes, plus half the change of
velocity across it times g, g counted up to BREAK_TURN_FRAMES (a face that slows into a turn
during a gap is not a jump; over a longer gap the measured change of velocity is mostly the
detector's jitter, and crediting it frame after frame excused a jump of two face sizes). The
velocity before and after are the medians of the step velocities of the BREAK_CONTEXT steps on
each side (not the step itself), so one jump, or one noisy box, cannot hide another; the local
motion is their mean.

Outliers (motion_outliers): a detection that strays out and straight back, a first or last
detection that jumps, and a detection that the track jumps to and straight away from again (both
its steps are breaks: a face that jumps lands and stays, so one box alone between two jumps is a
false positive the track took). The same holds for a short run of up to EXCURSION_MAX_DETECTIONS
boxes between two breaks when the track before and after it agrees with itself across the run
(bridging the run is no break, with no allowance for a turn: noisy velocities beside a real
jump must not excuse it): a false positive that held the track for a few frames while the
face was missed. A track made only of such boxes is no face.

Jump edges (doubtful_edges). At a jump the box on either side of the break is the one geometry
cannot vouch for: on the frame a face jumps it is often missed, and a false positive near where
it was is taken as the track's last box before the jump (or one near where it goes, a frame
early, as the first after it). Its step is no break, so it looks like the face. The box next to
a break is kept only when nothing speaks against it; it is dropped (the frame becomes a miss,
which costs little: nothing is drawn there) when
- the face is seen on the other side of the jump on that same frame: a detection lies where the
  other side's motion puts the face (a face is not in two places);
- its score is under EDGE_SCORE_RATIO of the track's median score (a detector scores one face
  about the same from frame to frame);
- when detections carry embeddings, its appearance disagrees with its own side's (cosine under
  EDGE_EMBEDDING_VETO);
- it strays from the line through the two detections before it on its own side (after it, for
  the first box after a jump) by more than the track's own noise explains: EDGE_NOISE_FACTOR
  times the median of the same deviation over the track's other detections, at least
  EDGE_MIN_DEVIATION face sizes, plus BREAK_DEVIATION_PER_FRAME per frame it is extrapolated;
- its own side does not confirm it: the nearest box on its side is more than EDGE_CONFIRM_STEPS
  of the track's usual detection steps away (a face missed on the two frames next to its jump is
  rarer than a stray box where the face is about to land, or has just been, and a ghost box is
  drawn where a dropped one only leaves the frame unprocessed).
Deviations count the centre distance in face sizes plus the log size ratio, as for outliers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BREAK_DEVIATION = 0.5  # face sizes a step may stray from the local motion (noise, acceleration)
BREAK_DEVIATION_PER_FRAME = 0.05  # ... plus this per frame of the step (motion changes over a gap)
BREAK_CONTEXT = 3  # steps on each side that give the local velocity
BREAK_TURN_FRAMES = 4  # frames of a gap over which a change of velocity is allowed for (noise beyond)
OUTLIER_DEVIATION = 0.35  # face sizes a detection may lie off the line between its neighbours
EXCURSION_MAX_DETECTIONS = 4  # boxes between two breaks that are dropped when the track agrees with itself across them
EDGE_SCORE_RATIO = 2 / 3  # a box next to a jump scoring less than this share of the track's median is doubtful
EDGE_EMBEDDING_VETO = 0.3  # cosine to its side's appearance under which a box next to a jump is doubtful (as a jump's veto)
EDGE_NOISE_FACTOR = 2.0  # times the track's median extrapolation deviation a box next to a jump may stray
EDGE_MIN_DEVIATION = 0.35  # face sizes a box next to a jump may always stray from its side's line
EDGE_CONFIRM_STEPS = 2  # detection steps (the track's usual spacing) a box next to a jump may stand apart from its side


def _side_medians(velocity: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the median of the BREAK_CONTEXT step velocities before it (side -1) or after it
    (side +1), and whether there was any: ((n,2), (n,) bool)."""
    count = len(velocity)
    padded = np.full((count + 2 * BREAK_CONTEXT, 2), np.nan)
    padded[BREAK_CONTEXT:-BREAK_CONTEXT] = velocity
    windows = sliding_window_view(padded, BREAK_CONTEXT, axis=0)  # (n + BREAK_CONTEXT + 1, 2, BREAK_CONTEXT)
    windows = windows[:count] if side < 0 else windows[BREAK_CONTEXT + 1 : BREAK_CONTEXT + 1 + count]
    valid = np.isfinite(windows).sum(axis=2)  # (n,2) values per window (NaN pads the ends)
    ordered = np.sort(windows, axis=2)  # NaN sorts last
    low = np.take_along_axis(ordered, ((valid - 1) // 2).clip(0)[..., None], axis=2)[..., 0]
    high = np.take_along_axis(ordered, (valid // 2).clip(0, BREAK_CONTEXT - 1)[..., None], axis=2)[..., 0]
    found = valid[:, 0] > 0
    return np.where(found[:, None], (low + high) / 2, 0.0), found


def motion_breaks(frames: np.ndarray, cxcywh: np.ndarray, allow_turns: bool = True) -> np.ndarray:
    """(m-1,) bool: step j (detection j -> j+1) is a break. frames (m,) strictly increasing,
    cxcywh (m,4) source pixels (centre, width, height). allow_turns=False leaves out the
    allowance for a change of velocity across the step (see _excursions)."""
    frames = np.asarray(frames, np.float64)
    cxcywh = np.asarray(cxcywh, np.float64)
    if len(frames) < 2:
        return np.zeros(0, bool)
    gap = np.diff(frames)
    velocity = np.diff(cxcywh[:, :2], axis=0) / gap[:, None]  # (m-1,2) px/frame
    before, has_before = _side_medians(velocity, -1)
    after, has_after = _side_medians(velocity, +1)
    before = np.where(has_before[:, None], before, after)  # one side only: it stands for both
    after = np.where(has_after[:, None], after, before)
    known = (has_before | has_after)[:, None]
    local = np.where(known, (before + after) / 2, 0.0)
    change = np.where(known, np.abs(after - before), 0.0)
    size = np.sqrt(cxcywh[:, 2] * cxcywh[:, 3]).clip(1.0)
    step_size = np.sqrt(size[:-1] * size[1:])
    deviation = np.linalg.norm(velocity - local, axis=1) * gap / step_size
    tolerance = BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * gap
    if allow_turns:
        tolerance = tolerance + np.linalg.norm(change, axis=1) * np.minimum(gap, BREAK_TURN_FRAMES) / 2 / step_size
    return deviation > tolerance


def motion_outliers(frames: np.ndarray, cxcywh: np.ndarray) -> np.ndarray:
    """(m,) bool: detections that stray out and straight back (a false positive or a bad box the
    track took while its face was missed), so the track is better without them.

    An inner detection is one when it lies more than OUTLIER_DEVIATION (+ BREAK_DEVIATION_PER_FRAME
    per frame to its farther neighbour) face sizes off the line between its neighbours, counting
    the centre and the log size ratio, and the step from one neighbour to the other is no break.
    The first or last detection of a track of three or more is one when its step is a break (a
    real jump is followed by more detections); so are a detection whose steps on both sides are
    breaks and a short run of them (_excursions). At least two detections always stay."""
    frames = np.asarray(frames, np.float64)
    cxcywh = np.asarray(cxcywh, np.float64)
    outlier = np.zeros(len(frames), bool)
    if len(frames) < 3:
        return outlier
    before, after = frames[1:-1] - frames[:-2], frames[2:] - frames[1:-1]
    weight = (before / (before + after))[:, None]
    expected = (1 - weight) * cxcywh[:-2] + weight * cxcywh[2:]
    size = np.sqrt(cxcywh[:, 2] * cxcywh[:, 3]).clip(1.0)
    expected_size = np.sqrt(expected[:, 2] * expected[:, 3]).clip(1.0)
    deviation = np.linalg.norm(cxcywh[1:-1, :2] - expected[:, :2], axis=1) / expected_size + np.abs(np.log(size[1:-1] / expected_size))
    candidate = deviation > OUTLIER_DEVIATION + BREAK_DEVIATION_PER_FRAME * np.maximum(before, after)
    inner = np.flatnonzero(candidate) + 1
    if len(inner):
        kept = np.flatnonzero(~np.isin(np.arange(len(frames)), inner))
        bridged = motion_breaks(frames[kept], cxcywh[kept])  # the steps over the removed ones
        outlier[inner] = ~bridged[np.searchsorted(kept, inner) - 1]
    breaks = motion_breaks(frames, cxcywh)
    outlier[0] |= breaks[0]
    outlier[-1] |= breaks[-1]
    outlier[1:-1] |= breaks[:-1] & breaks[1:]  # jumped to and straight away from
    outlier |= _excursions(frames, cxcywh, breaks)
    if breaks.all():  # every step a jump: no two boxes of it agree, it is no face
        return np.ones(len(frames), bool)
    if (~outlier).sum() < 2:  # nothing to tell the track from its outliers: keep it whole
        return np.zeros(len(frames), bool)
    return outlier


def _excursions(frames: np.ndarray, cxcywh: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """(m,) bool: short runs of detections between two breaks that the track jumps to and back
    from, its motion on either side agreeing across them (see the module docstring)."""
    excursion = np.zeros(len(frames), bool)
    starts = np.flatnonzero(breaks) + 1  # the first detection after each break
    for first, stop in zip(starts[:-1], starts[1:]):  # detections first..stop-1 lie between two breaks
        if stop - first > EXCURSION_MAX_DETECTIONS:
            continue
        before = np.arange(max(0, first - BREAK_CONTEXT - 1), first)
        after = np.arange(stop, min(len(frames), stop + BREAK_CONTEXT + 1))
        kept = np.concatenate([before, after])
        if not motion_breaks(frames[kept], cxcywh[kept], allow_turns=False)[len(before) - 1]:
            excursion[first:stop] = True
    return excursion


def deviation(cxcywh: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(..., 4) boxes against (..., 4) expected boxes: centre distance in expected face sizes plus
    the |log size ratio|."""
    size = np.sqrt(cxcywh[..., 2] * cxcywh[..., 3]).clip(1.0)
    expected_size = np.sqrt(expected[..., 2] * expected[..., 3]).clip(1.0)
    return np.linalg.norm(cxcywh[..., :2] - expected[..., :2], axis=-1) / expected_size + np.abs(np.log(size / expected_size))


def _side_line(frames: np.ndarray, cxcywh: np.ndarray, first: int, second: int | None, at: float) -> np.ndarray:
    """(4,) the box on the line through detections first and second (second None: first's box
    held), at frame `at`."""
    if second is None:
        return cxcywh[first]
    weight = (at - frames[first]) / (frames[second] - frames[first])
    return cxcywh[first] + weight * (cxcywh[second] - cxcywh[first])


def _extrapolation_noise(frames: np.ndarray, cxcywh: np.ndarray, breaks: np.ndarray) -> float:
    """Median deviation of the track's detections from the line through the two before them (within
    one segment): how far the track's own boxes stray from where their past puts them."""
    inside = ~breaks[:-1] & ~breaks[1:]  # detections k >= 2 whose two steps back are no break
    if not inside.any():
        return 0.0
    k = np.flatnonzero(inside) + 2
    weight = ((frames[k] - frames[k - 1]) / (frames[k - 1] - frames[k - 2]))[:, None]
    expected = cxcywh[k - 1] + weight * (cxcywh[k - 1] - cxcywh[k - 2])
    return float(np.median(deviation(cxcywh[k], expected)))


def _neighbours(breaks: np.ndarray, edge: int, side: int, count: int) -> list[int]:
    """Up to two detections next to `edge` on `side` (-1 before, +1 after) in its segment (no break
    between), nearest first."""
    found = []
    for k in (edge + side, edge + 2 * side):
        if not 0 <= k < count or breaks[min(k, k - side)]:
            break
        found.append(k)
    return found


def doubtful_edges(
    frames: np.ndarray,
    cxcywh: np.ndarray,
    score: np.ndarray,
    breaks: np.ndarray,
    boxes_at: Callable[[int], np.ndarray],
    embedding: np.ndarray | None = None,
) -> np.ndarray:
    """(m,) bool: the boxes next to a motion break that are probably not the face (see the module
    docstring). frames (m,) strictly increasing, cxcywh (m,4), score (m,) of one track's detections;
    breaks (m-1,) from motion_breaks; boxes_at(frame) -> (k,4) cxcywh of every detection of that
    frame (the track's own included); embedding (m,D) unit vectors or None."""
    frames = np.asarray(frames, np.float64)
    cxcywh = np.asarray(cxcywh, np.float64)
    doubtful = np.zeros(len(frames), bool)
    if not breaks.any():
        return doubtful
    median_score = float(np.median(score))
    usual_step = float(np.median(np.diff(frames)))
    tolerance = max(EDGE_MIN_DEVIATION, EDGE_NOISE_FACTOR * _extrapolation_noise(frames, cxcywh, breaks))

    def allowed(at: int, extrapolated_from: int) -> float:  # the tolerance grows with the frames extrapolated over
        return tolerance + BREAK_DEVIATION_PER_FRAME * (abs(frames[extrapolated_from] - frames[at]) - 1)

    for step in np.flatnonzero(breaks):
        for edge, side in ((step, -1), (step + 1, 1)):  # the last box before the jump, the first after
            own = _neighbours(breaks, edge, side, len(frames))
            across = [edge - side, *_neighbours(breaks, edge - side, -side, len(frames))[:1]]
            there = _side_line(frames, cxcywh, across[0], across[1] if len(across) > 1 else None, frames[edge])
            others = boxes_at(int(frames[edge]))
            others = others[~(others == cxcywh[edge]).all(axis=1)]  # the other detections of its frame
            seen_across = len(others) > 0 and deviation(others, there[None]).min() <= allowed(edge, across[0])
            low_score = score[edge] < EDGE_SCORE_RATIO * median_score
            unlike = False
            if embedding is not None and own:
                appearance = embedding[own].mean(axis=0)
                unlike = appearance @ embedding[edge] < EDGE_EMBEDDING_VETO * max(float(np.linalg.norm(appearance)), 1e-12)
            off_line = len(own) == 2 and deviation(cxcywh[edge], _side_line(frames, cxcywh, own[0], own[1], frames[edge])) > allowed(edge, own[0])
            unconfirmed = bool(own) and abs(frames[own[0]] - frames[edge]) > EDGE_CONFIRM_STEPS * usual_step
            doubtful[edge] |= seen_across or low_score or unlike or off_line or unconfirmed
    return doubtful
