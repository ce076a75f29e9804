"""Speech activity from the audio itself: short-time energy with hysteresis, on the video's timeline.

The audio is first laid on the video timeline (its offset applied, silence where it does not
reach, cut at the video's end), so every result here is per video frame. Levels are measured in
hops of HOP_MS; a hop's level is its RMS in dBFS (digital silence is FLOOR_DBFS).

Hysteresis: speech starts where the level rises to the start threshold and lasts until it falls
below the stop threshold (stop_db under the start). The start threshold adapts to the recording:
start_db above the noise floor (the NOISE_PERCENTILE of the levels) or start_db under the loud
parts (the PEAK_PERCENTILE), whichever is lower, so a recording that is speech throughout (its
floor is the pauses between syllables) is still found; when the loud parts are less than
start_db above the floor there is nothing to tell apart and the floor + start_db holds. It is
never under min_level_dbfs (quiet room noise is not speech). Pauses
shorter than min_silence_ms are bridged, then bursts shorter than min_speech_ms dropped (a click
is not speech). A video frame has speech when at least half of its time does.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.types import check_fps
from ..lipsync.audio import audio_to_mono, place_on_timeline

SAMPLE_RATE = 16000
HOP_MS = 10
FLOOR_DBFS = -100.0
NOISE_PERCENTILE = 10
PEAK_PERCENTILE = 95


@dataclass(frozen=True)
class VadSettings:
    """The energy detector's thresholds (dB) and durations (ms); see the module docstring."""

    start_db: float = 12.0
    stop_db: float = 6.0
    min_level_dbfs: float = -55.0
    min_speech_ms: float = 100.0
    min_silence_ms: float = 250.0

    def __post_init__(self) -> None:
        for name in ("start_db", "stop_db", "min_speech_ms", "min_silence_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, but got {value!r}")


def timeline_samples(audio, frame_count: int, fps, offset_ms=0, name: str = "audio") -> np.ndarray:
    """An AUDIO dict -> (S,) float32 mono 16 kHz samples heard from video time 0 to the end of the
    last frame (frame_count / fps): offset applied, silence where the audio does not reach."""
    samples = audio_to_mono(audio, SAMPLE_RATE, name)
    return place_on_timeline(samples, SAMPLE_RATE, Fraction(0), Fraction(int(frame_count)) / check_fps(fps), offset_ms)


def frame_sample_bounds(frame_count: int, fps, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N+1,) int64: video frame i covers timeline samples [bounds[i], bounds[i+1]), exactly."""
    fps = check_fps(fps)
    frames = np.arange(int(frame_count) + 1, dtype=object)
    return np.array([(int(i) * sample_rate * fps.denominator) // fps.numerator for i in frames], np.int64)


def hop_levels_db(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(H,) float64 RMS level in dBFS of each HOP_MS hop (the last partial hop included)."""
    hop = sample_rate * HOP_MS // 1000
    count = -(-len(samples) // hop)
    padded = np.zeros(count * hop, np.float64)
    padded[: len(samples)] = samples
    power = (padded.reshape(count, hop) ** 2).mean(axis=1)
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), FLOOR_DBFS)


def start_threshold_db(levels_db: np.ndarray, settings: VadSettings) -> float:
    """The level (dBFS) at which speech starts for this recording (module docstring)."""
    if not len(levels_db):
        return float("inf")
    noise = float(np.percentile(levels_db, NOISE_PERCENTILE))
    peak = float(np.percentile(levels_db, PEAK_PERCENTILE))
    start = noise + settings.start_db
    if peak - noise >= settings.start_db:
        start = min(start, peak - settings.start_db)
    return max(start, settings.min_level_dbfs)


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, stop) runs of True."""
    padded = np.concatenate([[False], np.asarray(active, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def bridge_and_prune(active: np.ndarray, min_gap: int, min_run: int) -> np.ndarray:
    """Fill gaps shorter than min_gap between runs of True, then drop runs shorter than min_run."""
    out = np.asarray(active, bool).copy()
    runs = _runs(out)
    for (_, stop), (start, _) in zip(runs[:-1], runs[1:]):
        if start - stop < min_gap:
            out[stop:start] = True
    for start, stop in _runs(out):
        if stop - start < min_run:
            out[start:stop] = False
    return out


def hysteresis(levels_db: np.ndarray, start_db: float, stop_db: float) -> np.ndarray:
    """(H,) bool: on from a level >= start_db until the level falls below stop_db."""
    active = np.zeros(len(levels_db), bool)
    on = False
    for index, level in enumerate(levels_db):
        on = level >= stop_db if on else level >= start_db
        active[index] = on
    return active


def speech_hops(samples: np.ndarray, settings: VadSettings = VadSettings(), sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(H,) bool speech per HOP_MS hop of mono samples (module docstring)."""
    levels = hop_levels_db(np.asarray(samples, np.float32), sample_rate)
    start = start_threshold_db(levels, settings)
    active = hysteresis(levels, start, start - settings.stop_db)
    return bridge_and_prune(active, int(round(settings.min_silence_ms / HOP_MS)), int(round(settings.min_speech_ms / HOP_MS)))


def speech_frames(samples: np.ndarray, frame_count: int, fps, settings: VadSettings = VadSettings()) -> np.ndarray:
    """(N,) bool: speech in video frame i (at least half of its time), from timeline samples at 16 kHz."""
    hops = speech_hops(samples, settings)
    hop = SAMPLE_RATE * HOP_MS // 1000
    per_sample = np.repeat(hops, hop)[: len(samples)]
    return _mean_per_frame(per_sample.astype(np.float64), frame_count, fps) >= 0.5


def level_frames(samples: np.ndarray, frame_count: int, fps) -> np.ndarray:
    """(N,) float64 RMS level in dBFS of the audio during each video frame (the speech envelope)."""
    power = _mean_per_frame(np.asarray(samples, np.float64) ** 2, frame_count, fps)
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), FLOOR_DBFS)


def _mean_per_frame(values: np.ndarray, frame_count: int, fps) -> np.ndarray:
    """(N,) mean of per-sample values over each frame's samples (0 for a frame with none)."""
    bounds = np.minimum(frame_sample_bounds(frame_count, fps), len(values))
    sums = np.concatenate([[0.0], np.cumsum(values)])
    counts = np.diff(bounds)
    return np.where(counts > 0, (sums[bounds[1:]] - sums[bounds[:-1]]) / np.maximum(counts, 1), 0.0)
