"""Motion breaks: the steps of a track that its own motion does not explain.

A face that jumps (a whip pan, a fast head turn, dropped frames) is one face before and after,
but nothing lies between: gap filling must not draw a box through the background between the two
places, and smoothing must not spread the jump over its neighbours. A step between consecutive
detections j and j+1 (g frames apart) is a break when it strays from the local velocity by more
than BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * g face sizes. The local velocity is the
median of the step velocities of the BREAK_CONTEXT steps on either side (not the step itself),
so one jump, or one noisy box, cannot hide another.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BREAK_DEVIATION = 0.5  # face sizes a step may stray from the local motion (noise, acceleration)
BREAK_DEVIATION_PER_FRAME = 0.05  # ... plus this per frame of the step (motion changes over a gap)
BREAK_CONTEXT = 3  # steps on each side that give the local velocity


def motion_breaks(frames: np.ndarray, cxcywh: np.ndarray) -> np.ndarray:
    """(m-1,) bool: step j (detection j -> j+1) is a break. frames (m,) strictly increasing,
    cxcywh (m,4) source pixels (centre, width, height)."""
    frames = np.asarray(frames, np.float64)
    cxcywh = np.asarray(cxcywh, np.float64)
    if len(frames) < 2:
        return np.zeros(0, bool)
    gap = np.diff(frames)
    velocity = np.diff(cxcywh[:, :2], axis=0) / gap[:, None]  # (m-1,2) px/frame
    padded = np.full((len(velocity) + 2 * BREAK_CONTEXT, 2), np.nan)
    padded[BREAK_CONTEXT:-BREAK_CONTEXT] = velocity
    windows = sliding_window_view(padded, 2 * BREAK_CONTEXT + 1, axis=0).copy()  # (m-1,2,7)
    windows[:, :, BREAK_CONTEXT] = np.nan  # the step itself is not its own context
    has_context = np.isfinite(windows).any(axis=2)
    with np.errstate(all="ignore"):
        local = np.where(has_context, np.nanmedian(np.where(has_context[..., None], windows, 0.0), axis=2), 0.0)
    size = np.sqrt(cxcywh[:, 2] * cxcywh[:, 3]).clip(1.0)
    step_size = np.sqrt(size[:-1] * size[1:])
    deviation = np.linalg.norm(velocity - local, axis=1) * gap / step_size
    return deviation > BREAK_DEVIATION + BREAK_DEVIATION_PER_FRAME * gap
