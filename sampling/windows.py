"""Temporal windows: how a face sequence is cut into clips a video model can sample.

A video VAE with temporal compression t (Wan: 4) encodes a clip of F = k*t + 1 frames; frames
beyond that are silently dropped by the host, so every clip is padded up to that size. A sequence
longer than one window is cut into overlapping windows whose outputs are cross-faded, so no seam
shows where two windows meet. Optional context frames before and after each window give the model
temporal context at the edges of a run; like the padding they are dropped after decode.

Frame indices here are positions in one face sequence (0..length-1), not source-video frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..core.checks import check_number

PAD_MODES = ("reflect", "repeat")


@dataclass(frozen=True, eq=False)
class Window:
    """One clip of a face sequence.

    start, stop: the sequence frames [start, stop) this window writes (its core).
    source_index (clip_frames,) int64: the sequence frame shown at every clip frame. Clip frames
    outside the core are context or padding: neighbouring frames where the sequence has them,
    reflected (or repeated) edge frames where it does not.
    core_offset: the clip frame that shows `start`; clip frames outside
    [core_offset, core_offset + stop - start) are dropped after decode.
    weight (stop-start,) float32: cross-fade weight of every core frame; over all windows of a
    plan the weights of each sequence frame sum to 1.
    """

    start: int
    stop: int
    source_index: np.ndarray
    core_offset: int
    weight: np.ndarray

    @property
    def clip_frames(self) -> int:
        return len(self.source_index)

    @property
    def core_rows(self) -> slice:
        """The clip frames that are kept after decode (they show sequence frames start..stop-1)."""
        return slice(self.core_offset, self.core_offset + self.stop - self.start)

    @property
    def dropped(self) -> int:
        """How many decoded frames are context or padding and are dropped."""
        return self.clip_frames - (self.stop - self.start)


def clip_size(frames: int, temporal_multiple: int) -> int:
    """The smallest clip of at least `frames` frames a VAE with this temporal compression keeps whole.

    temporal_multiple t > 1: the next t*k + 1 (Wan, t = 4: 1, 5, 9, ...); t = 1: frames itself.
    """
    if temporal_multiple <= 1:
        return frames
    return math.ceil((frames - 1) / temporal_multiple) * temporal_multiple + 1


def fold_index(index: np.ndarray, length: int, pad_mode: str = "reflect") -> np.ndarray:
    """Map any integer frame positions into [0, length).

    reflect: mirror at the edges without repeating them (-1 -> 1, length -> length-2), periodic;
    repeat: clamp to the first / last frame. A one-frame sequence maps everything to 0.
    """
    index = np.asarray(index, dtype=np.int64)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, but got {pad_mode!r}")
    if length == 1 or pad_mode == "repeat":
        return np.clip(index, 0, length - 1)
    period = 2 * (length - 1)
    phase = np.mod(index, period)
    return np.where(phase < length, phase, period - phase)


def _ramp(count: int) -> np.ndarray:
    """(count,) raised-cosine fade-in, strictly between 0 and 1; ramp + ramp[::-1] == 1."""
    t = np.arange(1, count + 1, dtype=np.float64) / (count + 1)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def plan_windows(
    length: int,
    window_frames: int = 81,
    overlap: int = 16,
    temporal_multiple: int = 4,
    context_before: int = 0,
    context_after: int = 0,
    pad_mode: str = "reflect",
) -> list[Window]:
    """Cut a sequence of `length` frames into clips of at most `window_frames` frames.

    Every clip has clip_size(...) frames (4k+1 for Wan); a clip never exceeds window_frames
    rounded down to that form. Each window's core is preceded by `context_before` and followed by
    `context_after` context frames, then padded at the end to the clip size. A sequence that fits
    in one window gets one window; a longer one gets full windows, each overlapping the previous
    one by exactly `overlap` frames, and a last window that ends with the sequence (it may be
    shorter, down to overlap + 1 frames, so a sequence one frame too long costs a short extra
    clip, not a full one). Windows are ordered by start.
    """
    length = int(check_number("length", length, 1, integer=True))
    window_frames = int(check_number("window_frames", window_frames, 1, integer=True))
    overlap = int(check_number("overlap", overlap, 0, integer=True))
    temporal_multiple = int(check_number("temporal_multiple", temporal_multiple, 1, integer=True))
    context_before = int(check_number("context_before", context_before, 0, integer=True))
    context_after = int(check_number("context_after", context_after, 0, integer=True))
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, but got {pad_mode!r}")
    limit = window_frames if temporal_multiple == 1 else (window_frames - 1) // temporal_multiple * temporal_multiple + 1
    core_max = limit - context_before - context_after
    if core_max < 1:
        raise ValueError(
            f"window_frames must leave room for at least one frame besides the {context_before + context_after} context frames "
            f"(a window holds {limit} frames here), but got window_frames={window_frames}; raise window_frames or lower the temporal padding"
        )
    if length > core_max and overlap >= core_max:
        raise ValueError(f"overlap must be smaller than the {core_max} frames a window writes, but got overlap={overlap}; lower overlap or raise window_frames")
    spans = [(0, min(length, core_max))]
    while spans[-1][1] < length:
        start = spans[-1][1] - overlap
        spans.append((start, min(length, start + core_max)))

    raw = []
    for position, (start, stop) in enumerate(spans):
        fade_in = spans[position - 1][1] - start if position > 0 else 0
        fade_out = stop - spans[position + 1][0] if position + 1 < len(spans) else 0
        weight = np.ones(stop - start, np.float64)
        if fade_in > 0:
            weight[:fade_in] = _ramp(fade_in)
        if fade_out > 0:
            weight[len(weight) - fade_out :] *= _ramp(fade_out)[::-1]
        raw.append((start, stop, weight))
    total = np.zeros(length, np.float64)
    for start, stop, weight in raw:
        total[start:stop] += weight
    windows = []
    for start, stop, weight in raw:
        first = start - context_before
        frames = clip_size(stop - start + context_before + context_after, temporal_multiple)
        windows.append(
            Window(
                start=int(start),
                stop=int(stop),
                source_index=fold_index(np.arange(first, first + frames), length, pad_mode),
                core_offset=context_before,
                weight=(weight / total[start:stop]).astype(np.float32),
            )
        )
    return windows


def blend_windows(windows: Iterable[Window], clips: Iterable, out=None):
    """Cross-fade decoded clips into one sequence: out[start:stop] += weight * clip[core_rows].

    windows and clips pair up in order; clips may be a generator, so only one decoded clip needs
    to exist at a time. Each clip is a torch tensor [clip_frames, h, w, C]. `out` is a
    [length, h, w, C] float tensor holding zeros (or the sum of earlier windows), written in
    place; when None it is made from the first clip. Returns out. A frame covered by a single
    window gets weight 1.0, so it comes out bit-identical to that window's decoded frame.
    """
    import torch

    windows = list(windows)
    for position, (window, clip) in enumerate(zip(windows, clips)):
        if clip.shape[0] != window.clip_frames:
            raise ValueError(f"clips[{position}] must have {window.clip_frames} frames (the window's clip size), but got {clip.shape[0]}")
        if out is None:
            length = max(w.stop for w in windows)
            out = torch.zeros((length,) + tuple(clip.shape[1:]), dtype=torch.float32, device=clip.device)
        weight = torch.as_tensor(window.weight, dtype=out.dtype, device=out.device).reshape((-1,) + (1,) * (clip.ndim - 1))
        out[window.start : window.stop] += weight * clip[window.core_rows].to(out.dtype)
    return out
