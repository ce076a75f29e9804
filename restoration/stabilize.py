"""Temporal stabilisation of processed face sequences (restoration, any IMAGE -> IMAGE node).

A restorer run frame by frame invents detail anew on every frame: the face shimmers although the
input barely changes. In aligned crop space the face stays put, so what the processor added
(residual = processed - input) can be smoothed over time per pixel. The filter is zero phase (the
mean of a forward and a backward exponential filter, so nothing lags) and motion gated: where the
input itself changes between two frames (the mouth opens, a hand passes) the filter lets the new
residual through instead of smearing the old one over it.

flicker_ratio measures the effect: frame-to-frame change of the output relative to the input's.
"""

from __future__ import annotations

import numpy as np
import torch

# strength 1 -> recursion coefficient 0.9 (time constant ~10 frames) where the input is still;
# a coefficient of 1 would freeze the residual for good.
MAX_COEFFICIENT = 0.9
# input change (mean |difference| of 0..1 pixels, after a 5x5 box blur) at which the gate is
# 1/e: about 10/255, well above compression noise, well below a mouth opening.
MOTION_SCALE = 0.04


def _temporal_change(frames: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(m-1,) mean |frames[t] - frames[t-1]| over pixels (weighted by mask) and channels."""
    difference = (frames[1:] - frames[:-1]).abs().mean(dim=-1)  # (m-1,H,W)
    if mask is None:
        return difference.mean(dim=(1, 2))
    weights = mask[1:] * mask[:-1] if mask.ndim == 3 else mask[None]
    return (difference * weights).sum(dim=(1, 2)) / weights.sum(dim=(1, 2)).clamp_min(1e-8)


def flicker_ratio(output_bhwc: torch.Tensor, input_bhwc: torch.Tensor, *, mask=None, row_offsets=None) -> float:
    """Frame-to-frame change of the output relative to the input's, inside the face region.

    output_bhwc, input_bhwc: (B,H,W,C) float 0..1, the processed crops and the crops before
    processing, in the same (aligned crop) space. mask: (H,W) or (B,H,W) weights 0..1 of the face
    region, None = every pixel. row_offsets: (s+1,) sequence boundaries (CropPlan.row_offsets);
    frame pairs across two sequences are not counted. None = one sequence.

    Returns sum_t mean|out_t - out_{t-1}| / sum_t mean|in_t - in_{t-1}|: 1.0 when the output moves
    exactly as much as the input, above 1 when processing adds flicker.
    """
    if output_bhwc.shape != input_bhwc.shape or output_bhwc.ndim != 4:
        raise ValueError(f"output and input must be (B,H,W,C) of one shape, but got {tuple(output_bhwc.shape)} and {tuple(input_bhwc.shape)}")
    count = output_bhwc.shape[0]
    offsets = np.asarray([0, count] if row_offsets is None else row_offsets, dtype=np.int64)
    mask = None if mask is None else torch.as_tensor(mask, dtype=torch.float32)
    output_total = input_total = 0.0
    for start, stop in zip(offsets[:-1], offsets[1:]):
        if stop - start < 2:
            continue
        part = mask if mask is None or mask.ndim == 2 else mask[start:stop]
        output_total += float(_temporal_change(output_bhwc[start:stop].float(), part).sum())
        input_total += float(_temporal_change(input_bhwc[start:stop].float(), part).sum())
    return output_total / max(input_total, 1e-8)


def _motion_gate(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """(H,W,1) in (0,1]: 1 where the input is still between two frames, towards 0 where it moves."""
    difference = (current - previous).abs().mean(dim=-1)[None, None]  # (1,1,H,W)
    difference = torch.nn.functional.avg_pool2d(difference, 5, stride=1, padding=2, count_include_pad=False)
    return torch.exp(-((difference[0, 0] / MOTION_SCALE) ** 2))[..., None]


def stabilize_sequence(processed_bhwc: torch.Tensor, input_bhwc: torch.Tensor, *, strength: float = 0.5) -> torch.Tensor:
    """Smooth what processing added to one face sequence over time.

    processed_bhwc, input_bhwc: (m,H,W,C) float 0..1, consecutive frames of one sequence in
    aligned crop space (the processed crops and the crops they came from). strength 0..1: 0
    returns processed_bhwc's values unchanged, 1 smooths most (time constant about 10 frames
    where the face is still). The residual r_t = processed_t - input_t is filtered with
    s_t = (1 - a_t) r_t + a_t s_{t-1}, a_t = 0.9 * strength * gate(input_{t-1}, input_t), forwards
    and backwards; the result is input + the mean of both. Returns a new (m,H,W,C) float32 tensor.
    """
    if processed_bhwc.shape != input_bhwc.shape or processed_bhwc.ndim != 4:
        raise ValueError(f"processed and input must be (m,H,W,C) of one shape, but got {tuple(processed_bhwc.shape)} and {tuple(input_bhwc.shape)}")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], but got {strength}")
    processed = processed_bhwc.float()
    original = input_bhwc.float()
    count = len(processed)
    if float(strength) == 0.0 or count < 2:
        return processed.clone()
    top = MAX_COEFFICIENT * float(strength)
    # coefficient[t] couples frames t-1 and t; computed once, used by both passes
    coefficients = [top * _motion_gate(original[t - 1], original[t]) for t in range(1, count)]
    forward = torch.empty_like(processed)
    state = processed[0] - original[0]
    forward[0] = state
    for t in range(1, count):
        a = coefficients[t - 1]
        state = (1 - a) * (processed[t] - original[t]) + a * state
        forward[t] = state
    state = processed[-1] - original[-1]
    forward[-1] = original[-1] + 0.5 * (forward[-1] + state)
    for t in range(count - 2, -1, -1):
        a = coefficients[t]
        state = (1 - a) * (processed[t] - original[t]) + a * state
        forward[t] = original[t] + 0.5 * (forward[t] + state)
    return forward.clamp_(0, 1)

