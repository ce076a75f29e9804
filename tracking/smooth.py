"""Box smoothing without lag: a Whittaker smoother on the centre and, more strongly, on the size.

The seed smoothed boxes with a trailing 3-frame moving average, which lags a fast face by a frame.
FUSE sees the whole track, so it smooths forwards and backwards at once: the smoothed series x
minimises sum(w_t (x_t - z_t)^2) + lam * sum((x_{t+1} - 2 x_t + x_{t-1})^2) over a segment
of the track: a present run, cut at shot boundaries and at motion breaks (motion.py), so a face
that jumps stays sharp at the jump instead of being smeared over its neighbours (w = 1 on
detected frames and INTERPOLATED_WEIGHT on interpolated ones, whose straight-line fill the
smoother bends smoothly into the detections). It is zero-phase, and a face moving at constant speed passes through unchanged (a straight line has no
second difference), so there is no lag. `smooth_window` sets lam so the smoother removes as much
white noise as a centred moving average of that many frames would; the size uses three times
the window, because faces change size more slowly than they move. Landmarks follow their box.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.integrate import trapezoid
from scipy.linalg import solveh_banded
from scipy.optimize import brentq

from .boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from ..core.types import DETECTED

SIZE_WINDOW_FACTOR = 3  # the size is smoothed over three times the centre's window
# Interpolated frames pull weakly towards their straight-line fill, so the smoother cannot carry a
# trend (a face shrinking as a hand covers it) on through the gap and overshoot.
INTERPOLATED_WEIGHT = 0.1


@lru_cache(maxsize=64)
def smoothing_strength(window: float) -> float:
    """lam of the Whittaker smoother whose white-noise variance gain equals 1/window (that of a
    centred moving average of `window` frames). window <= 1 -> 0 (no smoothing)."""
    if window <= 1:
        return 0.0
    omega = np.linspace(0.0, np.pi, 4097)
    roughness = (2.0 - 2.0 * np.cos(omega)) ** 2  # |second difference|^2 at frequency omega

    def excess_gain(log_lam: float) -> float:
        gain = 1.0 / (1.0 + np.exp(log_lam) * roughness) ** 2
        return float(trapezoid(gain, omega) / np.pi) - 1.0 / window

    return float(np.exp(brentq(excess_gain, -20.0, 40.0)))


def whittaker(values: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """Smooth (n,c) values with (n,) weights (0 = no measurement): solves (W + lam D'D) x = W z.

    Needs at least two weighted samples when lam > 0; returns float64 (n,c).
    """
    values = np.asarray(values, np.float64)
    weights = np.asarray(weights, np.float64)
    n = len(values)
    if lam <= 0 or n < 3:
        return values.copy()
    # D'D of the (n-2, n) second-difference matrix, as upper bands for solveh_banded.
    diagonal = np.zeros(n)
    first = np.zeros(n - 1)
    rows = np.arange(n - 2)
    for offset, coefficient in enumerate((1.0, -2.0, 1.0)):
        np.add.at(diagonal, rows + offset, coefficient**2)
    np.add.at(first, rows, -2.0)
    np.add.at(first, rows + 1, -2.0)
    bands = np.zeros((3, n))
    bands[0, 2:] = lam
    bands[1, 1:] = lam * first
    bands[2] = weights + lam * diagonal
    return solveh_banded(bands, weights[:, None] * np.nan_to_num(values), lower=False)


def segments(frames: np.ndarray, split_before: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of a track's rows that are smoothed together: consecutive frames,
    split before every frame in split_before (cuts, motion breaks)."""
    frames = np.asarray(frames, np.int64)
    if not len(frames):
        return []
    new = np.concatenate([[True], np.diff(frames) > 1])
    if split_before is not None and len(split_before):
        new |= np.isin(frames, split_before)
    starts = np.flatnonzero(new)
    return [(int(a), int(b)) for a, b in zip(starts, np.append(starts[1:], len(frames)))]


def smooth_track(frames: np.ndarray, xyxy: np.ndarray, state: np.ndarray, window: float, split_before: np.ndarray | None = None) -> np.ndarray:
    """One track's boxes smoothed: frames (p,) strictly increasing, xyxy (p,4) source pixels,
    state (p,) uint8 DETECTED / INTERPOLATED, for the frames where the face is present.

    Each segment (segments(): consecutive frames, split before the frames in split_before) with
    two or more detected frames is smoothed on its own, so nothing is spread across a cut or a
    jump; detected frames are the measurements, interpolated frames are filled by the smoother.
    Returns (p,4) float64.
    """
    out = np.array(xyxy, np.float64, copy=True)
    lam_centre = smoothing_strength(window)
    lam_size = smoothing_strength(window * SIZE_WINDOW_FACTOR)
    if lam_centre <= 0:
        return out
    for start, stop in segments(frames, split_before):
        detected = np.asarray(state[start:stop]) == DETECTED
        weights = np.where(detected, 1.0, INTERPOLATED_WEIGHT)
        if stop - start < 3 or detected.sum() < 2:
            continue
        cxcywh = xyxy_to_cxcywh(out[start:stop])
        centre = whittaker(cxcywh[:, :2], weights, lam_centre)
        size = np.clip(whittaker(cxcywh[:, 2:], weights, lam_size), 1.0, None)
        out[start:stop] = cxcywh_to_xyxy(np.concatenate([centre, size], axis=1))
    return out


def follow_boxes(landmarks: np.ndarray, before_xyxy: np.ndarray, after_xyxy: np.ndarray) -> np.ndarray:
    """Move (N,5,2) landmarks with their box: the same scale about the centre and shift that took
    before_xyxy (N,4) to after_xyxy (N,4). Returns (N,5,2) float64."""
    before = xyxy_to_cxcywh(before_xyxy)
    after = xyxy_to_cxcywh(after_xyxy)
    scale = after[:, None, 2:] / np.where(before[:, None, 2:] > 0, before[:, None, 2:], 1.0)
    return (np.asarray(landmarks, np.float64) - before[:, None, :2]) * scale + after[:, None, :2]
