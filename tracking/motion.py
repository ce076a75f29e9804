"""Motion breaks: the steps of a track that its own motion does not explain.

A face that jumps (a whip pan, a fast head turn, dropped frames) is one face before and after,
but nothing lies between: gap filling must not draw a box through the background between the two
places, and smoothing must not spread the jump over its neighbours. A step between consecutive
detections j and j+1 (g frames apart) is a break when it strays from the local motion by more
than BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * g face sizes, plus half the change of
velocity across it times g (a face that slows into a turn during a gap is not a jump). The
velocity before and after are the medians of the step velocities of the BREAK_CONTEXT steps on
each side (not the step itself), so one jump, or one noisy box, cannot hide another; the local
motion is their mean.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BREAK_DEVIATION = 0.5  # face sizes a step may stray from the local motion (noise, acceleration)
BREAK_DEVIATION_PER_FRAME = 0.05  # ... plus this per frame of the step (motion changes over a gap)
BREAK_CONTEXT = 3  # steps on each side that give the local velocity
OUTLIER_DEVIATION = 0.35  # face sizes a detection may lie off the line between its neighbours


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


def motion_breaks(frames: np.ndarray, cxcywh: np.ndarray) -> np.ndarray:
    """(m-1,) bool: step j (detection j -> j+1) is a break. frames (m,) strictly increasing,
    cxcywh (m,4) source pixels (centre, width, height)."""
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
    tolerance = BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * gap + np.linalg.norm(change, axis=1) * gap / 2 / step_size
    return deviation > tolerance


def motion_outliers(frames: np.ndarray, cxcywh: np.ndarray) -> np.ndarray:
    """(m,) bool: detections that stray out and straight back (a false positive or a bad box the
    track took while its face was missed), so the track is better without them.

    An inner detection is one when it lies more than OUTLIER_DEVIATION (+ BREAK_DEVIATION_PER_FRAME
    per frame to its farther neighbour) face sizes off the line between its neighbours, counting
    the centre and the log size ratio, and the step from one neighbour to the other is no break.
    The first or last detection of a track of three or more is one when its step is a break (a
    real jump is followed by more detections). At least two detections always stay."""
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
    if (~outlier).sum() < 2:  # nothing to tell the track from its outliers: keep it whole
        return np.zeros(len(frames), bool)
    return outlier
