"""Audio-visual sync confidence of one face against one audio track, per video frame.

Two measures, one per kind of face signal, both over a sliding window of frames centred on each
frame and both searching a small range of audio-video offsets (a face in sync with the audio at
some small lag is speaking; a face in sync with nothing is not):

- windowed_correlation (the 68-landmark fallback): Pearson correlation of the mouth opening with
  the audio's speech envelope, the best over lags of -max_lag..max_lag frames. A mouth that does
  not move has no correlation (0), however loud the audio. Weaker than SyncNet: any mouth motion
  that happens to follow the loudness (laughing, chewing) counts.
- offset_confidence (SyncNet, after Chung & Zisserman, "Out of time", ACCV 2016 workshops): from
  the distances between the face's video embeddings and the audio embeddings at each offset
  (frames x offsets), the window's mean distance per offset; the confidence is the median over
  offsets minus the distance at the face's offset, high when that offset fits much better than
  the others. The face's offset is the one that fits its whole track best (best_offset_column,
  as SyncNet's reference finds a clip's offset): searching each window for its own best offset
  would let a still face "match" whichever offset lands on a pause of someone else's speech.

Frames where the face is absent are NaN in the signals; a window needs min_fraction of its frames
known, else the confidence is NaN (unknown).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

STILL_MOUTH_STD = 1e-3  # mouth-opening standard deviation (fraction of the mouth width) below which a mouth is still


def _check_window(window: int, name: str = "window") -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"{name} must be an int >= 1 (frames), but got {window!r}")
    return int(window)


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    """(N, window) views of values (N, ...) centred on each frame, NaN beyond the ends."""
    half = window // 2
    pad = [(half, window - 1 - half)] + [(0, 0)] * (values.ndim - 1)
    padded = np.pad(values.astype(np.float64), pad, constant_values=np.nan)
    return np.moveaxis(sliding_window_view(padded, window, axis=0), -1, 1)


def _shift(values: np.ndarray, lag: int) -> np.ndarray:
    """values[t + lag], NaN where that is outside."""
    out = np.full(len(values), np.nan)
    if lag >= 0:
        out[: len(values) - lag] = values[lag:]
    else:
        out[-lag:] = values[: len(values) + lag]
    return out


def windowed_correlation(visual: np.ndarray, audio: np.ndarray, window: int, max_lag: int = 0, min_fraction: float = 0.5) -> np.ndarray:
    """(N,) float64 best Pearson correlation over lags -max_lag..max_lag of visual[t] with audio[t + lag]
    in the window centred on each frame; 0 where the visual signal is still, NaN where fewer than
    min_fraction of the window's frames are known.

    visual (N,) e.g. mouth opening, NaN where unknown; audio (N,) e.g. the level per frame in dB.
    """
    window = _check_window(window)
    visual = np.asarray(visual, np.float64).reshape(-1)
    audio = np.asarray(audio, np.float64).reshape(-1)
    if len(visual) != len(audio):
        raise ValueError(f"visual and audio must have one value per frame, but got {len(visual)} and {len(audio)}")
    best = np.full(len(visual), -np.inf)
    known_enough = np.zeros(len(visual), bool)
    still = np.zeros(len(visual), bool)
    for lag in range(-int(max_lag), int(max_lag) + 1):
        a = _windows(visual, window)
        b = _windows(_shift(audio, lag), window)
        valid = np.isfinite(a) & np.isfinite(b)
        count = valid.sum(axis=1)
        enough = count >= max(min_fraction * window, 2)
        a0, b0 = np.where(valid, a, 0.0), np.where(valid, b, 0.0)
        n = np.maximum(count, 1)
        mean_a, mean_b = a0.sum(axis=1) / n, b0.sum(axis=1) / n
        da, db = np.where(valid, a - mean_a[:, None], 0.0), np.where(valid, b - mean_b[:, None], 0.0)
        var_a, var_b = (da**2).sum(axis=1) / n, (db**2).sum(axis=1) / n
        correlation = (da * db).sum(axis=1) / n / np.sqrt(np.maximum(var_a * var_b, 1e-24))
        correlation = np.where((var_b > 1e-12), correlation, 0.0)
        is_still = var_a < STILL_MOUTH_STD**2
        best = np.where(enough & (correlation > best), correlation, best)
        known_enough |= enough
        still |= enough & is_still
    out = np.where(known_enough, best, np.nan)
    return np.where(still & known_enough, 0.0, out)


def windowed_std(values: np.ndarray, window: int) -> np.ndarray:
    """(N,) float64 standard deviation of the known values in the window centred on each frame (NaN: none known)."""
    windows = _windows(np.asarray(values, np.float64).reshape(-1), _check_window(window))
    known = np.isfinite(windows).sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(known > 0, np.nanstd(np.where(known[:, None] > 0, windows, 0.0), axis=1), np.nan)


def best_offset_column(distances: np.ndarray) -> int:
    """The column (offset) of (N, O) distances with the smallest mean over its known entries."""
    distances = np.asarray(distances, np.float64)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
        means = np.nanmean(distances, axis=0)
    if not np.isfinite(means).any():
        return distances.shape[1] // 2
    return int(np.nanargmin(means))


def offset_confidence(distances: np.ndarray, window: int, offset_column: int | None = None, min_fraction: float = 0.5) -> np.ndarray:
    """(N,) float64 SyncNet confidence per frame: over the window centred on it, the mean distance at
    each offset; median over offsets minus the mean at offset_column (default: best_offset_column).
    NaN where fewer than min_fraction of the window's frames have distances.

    distances (N, O) float: video-audio embedding distance of frame t at each of O offsets (e.g.
    -15..15 frames), NaN where the face is absent (whole rows) or where the offset reaches past
    the audio (single entries: no audio is not a zero embedding).
    """
    window = _check_window(window)
    distances = np.asarray(distances, np.float64)
    if distances.ndim != 2 or distances.shape[1] < 2:
        raise ValueError(f"distances must be a 2D array (frames, offsets) with at least 2 offsets, but got shape {distances.shape}")
    windows = _windows(distances, window)  # (N, window, O)
    valid = np.isfinite(windows)
    frames_known = valid.any(axis=2).sum(axis=1)
    counts = valid.sum(axis=1)  # (N, O)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows with no known entry
        mean = np.where(counts > 0, np.where(valid, windows, 0.0).sum(axis=1) / counts, np.nan)
        column = best_offset_column(distances) if offset_column is None else int(offset_column)
        confidence = np.nanmedian(mean, axis=1) - mean[:, column]
    return np.where(frames_known >= max(min_fraction * window, 1), confidence, np.nan)
