"""Wav2Lip's audio features: an 80-bin mel spectrogram of 16 kHz audio, normalised to [-4, 4].

The numbers are the ones the released Wav2Lip models were trained with (its hparams): n_fft 800,
hop 200 (12.5 ms, so 80 mel frames per second), Hann window 800, pre-emphasis 0.97, Slaney mel
filters from 55 to 7600 Hz with area normalisation, magnitude (not power) spectrum, dB with a
-100 dB floor and a 20 dB reference level, symmetric normalisation to [-4, 4] with clipping. The
STFT is centred with reflect padding (librosa 0.7's defaults, which Wav2Lip used).

A video frame i gets the 16 mel frames (0.2 s) starting at mel index floor(80 * i / fps), the
time computed exactly from the Fraction fps.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from ..core.types import check_fps

SAMPLE_RATE = 16000
N_FFT = 800
HOP_LENGTH = 200
WIN_LENGTH = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
MEL_FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 80
MEL_STEP = 16  # mel frames per video frame (0.2 s)

_STFT_CHUNK = 4096  # frames per rfft call: bounds memory on long clips


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_LINEAR_STEP = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_STEP
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / _LINEAR_STEP
    above = frequencies >= _BREAK_HZ
    return np.where(above, _BREAK_MEL + np.log(np.maximum(frequencies, 1e-12) / _BREAK_HZ) / _LOG_STEP, mels)


def mel_to_hz(mels) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(mels >= _BREAK_MEL, _BREAK_HZ * np.exp(_LOG_STEP * (mels - _BREAK_MEL)), mels * _LINEAR_STEP)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangular filters on the Slaney mel scale, area-normalised.

    Filter m rises from edge m to edge m+1 and falls to edge m+2, the n_mels + 2 edges spaced
    evenly in mel between fmin and fmax; each filter is scaled by 2 / (its width in Hz) so that
    filters have equal area.
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"fmin and fmax must satisfy 0 <= fmin < fmax <= sample_rate / 2, but got {fmin}, {fmax} at {sample_rate} Hz")
    bin_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    distance = edges_hz[:, None] - bin_hz[None, :]  # (n_mels+2, bins): edge minus bin frequency
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    """Wav2Lip's filterbank, built once (a constant)."""
    bank = mel_filterbank()
    bank.setflags(write=False)
    return bank


def preemphasize(samples: np.ndarray, coefficient: float = PREEMPHASIS) -> np.ndarray:
    """y[n] = x[n] - k * x[n-1], y[0] = x[0]."""
    samples = np.asarray(samples, dtype=np.float64)
    out = samples.copy()
    out[1:] -= coefficient * samples[:-1]
    return out


def stft_magnitude(samples: np.ndarray) -> np.ndarray:
    """(1 + n_fft//2, 1 + S // hop) float64 |STFT| with a periodic Hann window, centred frames.

    Frame t is centred on sample t * hop: the signal is reflect-padded by n_fft // 2 at both ends
    (zero-padded when it is too short to reflect).
    """
    samples = np.asarray(samples, dtype=np.float64)
    half = N_FFT // 2
    padded = np.pad(samples, half, mode="reflect" if len(samples) > half else "constant")
    frame_count = 1 + len(samples) // HOP_LENGTH
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN_LENGTH) / WIN_LENGTH)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:frame_count]
    out = np.empty((1 + N_FFT // 2, frame_count), np.float64)
    for first in range(0, frame_count, _STFT_CHUNK):
        chunk = frames[first : first + _STFT_CHUNK] * window
        out[:, first : first + len(chunk)] = np.abs(np.fft.rfft(chunk, axis=1)).T
    return out


def melspectrogram(samples_16k: np.ndarray) -> np.ndarray:
    """(S,) mono float samples at 16 kHz -> (80, 1 + S // 200) float32 mel features in [-4, 4]."""
    magnitude = stft_magnitude(preemphasize(samples_16k))
    mel = _filterbank().astype(np.float64) @ magnitude
    min_level = 10.0 ** (MIN_LEVEL_DB / 20.0)
    decibels = 20.0 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    normalised = (2.0 * MAX_ABS_VALUE) * ((decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(normalised, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_chunk_start(frame_index: int, fps) -> int:
    """First mel index of frame i's chunk: floor(80 * i / fps), exact (no float accumulation)."""
    return math.floor(Fraction(MEL_FRAMES_PER_SECOND * int(frame_index)) / check_fps(fps))


def mel_chunks(mel: np.ndarray, frame_indices, fps) -> np.ndarray:
    """(n, 80, 16) float32: the mel chunk of each frame (mel frame 0 at video time 0).

    A chunk that would run past the end of the mel takes the last 16 frames, as Wav2Lip does.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != N_MELS or mel.shape[1] < MEL_STEP:
        raise ValueError(f"mel must be a 2D array with shape (80, >= {MEL_STEP}), but got shape {mel.shape}")
    starts = np.array([mel_chunk_start(i, fps) for i in np.asarray(frame_indices).reshape(-1)], dtype=np.int64)
    starts = np.clip(starts, 0, mel.shape[1] - MEL_STEP)
    return np.stack([mel[:, s : s + MEL_STEP] for s in starts]) if len(starts) else np.zeros((0, N_MELS, MEL_STEP), np.float32)
