"""Colour matching of processed faces to their surroundings, in crop space.

A processed face (restored, re-rendered by a video model, lipsynced) often comes back a little
warmer, darker or flatter than the frame around it, and the paste seam shows. The fix measured
here is a per-channel mean / std transfer in CIE Lab (perceptual, so a shift of one unit looks
alike in every channel): the statistics of the processed crop and of the original crop are taken
in a ring around the seam (where the two meet in the pasted frame), the processed crop is mapped
so its ring statistics become the original's, and the per-frame transfer is smoothed over time
per sequence so the correction itself does not flicker.

Pure functions: numpy / torch in, the same out. compositing.paste measures the transfer per crop
row (ring statistics, smoothed per sequence) and maps each crop with apply_transfer before
warping it back; match_color does the same for a whole crop batch at once.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# A transfer never stretches or squeezes a channel's contrast by more than this factor: a ring
# with almost flat colour (a plain wall) must not blow the face's contrast up.
MAX_GAIN = 2.0


def seam_ring(blend_mask_hw, ring_width: int) -> np.ndarray:
    """(H,W) float32 0/1: pixels within ring_width of the seam of a blend mask.

    blend_mask_hw: (H,W) float 0..1 in crop space (1 = processed face shown). The seam is the
    0.5 level of the mask; the ring is the band ring_width pixels to either side of it (dilated
    minus eroded), so it holds processed pixels that are shown and original pixels next to them.
    """
    mask = np.asarray(blend_mask_hw, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError(f"blend_mask must be a 2D (H,W) crop-space mask, but got shape {mask.shape}")
    if int(ring_width) < 1:
        raise ValueError(f"ring_width must be at least 1 pixel, but got {ring_width}")
    inside = (mask >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(ring_width) + 1, 2 * int(ring_width) + 1))
    dilated = cv2.dilate(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    eroded = cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (dilated - eroded).astype(np.float32)


def rgb_to_lab(rgb_hwc: np.ndarray) -> np.ndarray:
    """(H,W,3) float32 RGB 0..1 -> (H,W,3) float32 CIE Lab (L 0..100, a and b about -128..127)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb_hwc, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab_hwc: np.ndarray) -> np.ndarray:
    """(H,W,3) float32 CIE Lab -> (H,W,3) float32 RGB (about 0..1, not clipped)."""
    return cv2.cvtColor(np.ascontiguousarray(lab_hwc, dtype=np.float32), cv2.COLOR_Lab2RGB)


def ring_statistics(lab_hwc: np.ndarray, weights_hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted per-channel mean (3,) and standard deviation (3,) of an image under weights (H,W)."""
    total = float(weights_hw.sum())
    if total <= 0:
        raise ValueError("ring weights must cover at least one pixel, but the ring is empty")
    w = weights_hw[..., None] / total
    mean = (lab_hwc * w).sum(axis=(0, 1))
    std = np.sqrt(np.maximum((((lab_hwc - mean) ** 2) * w).sum(axis=(0, 1)), 0.0))
    return mean, std


def smooth_over_time(values: np.ndarray, sigma: float, known=None) -> np.ndarray:
    """Gaussian smoothing along axis 0 (frames), renormalised at the ends so nothing drifts.

    values: (m, ...) float; sigma in frames (0 = no smoothing); known: optional (m,) bool, frames
    whose value is unknown are left out and filled from their neighbours (NaN where no known
    frame is within reach). Returns a new float64 array.
    """
    values = np.asarray(values, dtype=np.float64)
    count = len(values)
    known = np.ones(count, bool) if known is None else np.asarray(known, bool)
    radius = int(np.ceil(3 * sigma)) if sigma > 0 else 0
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) if sigma > 0 else np.ones(1)
    smoothed = np.zeros_like(values)
    norm = np.zeros(count)
    filled = np.where(known.reshape((count,) + (1,) * (values.ndim - 1)), values, 0.0)
    for offset, weight in zip(offsets, kernel):
        lo, hi = max(0, -offset), min(count, count - offset)  # frames t with t + offset inside
        if hi <= lo:
            continue
        smoothed[lo:hi] += weight * filled[lo + offset : hi + offset]
        norm[lo:hi] += weight * known[lo + offset : hi + offset]
    with np.errstate(invalid="ignore", divide="ignore"):
        return smoothed / norm.reshape((count,) + (1,) * (values.ndim - 1))


def color_transfer(processed_lab: np.ndarray, original_lab: np.ndarray, ring_hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (gain (3,), bias (3,)) with gain * processed + bias matching original in the ring.

    Mean / std transfer: gain = std_original / std_processed (clipped to [1/2, 2]),
    bias = mean_original - gain * mean_processed, both measured under ring_hw (H,W) weights.
    """
    mean_p, std_p = ring_statistics(processed_lab, ring_hw)
    mean_o, std_o = ring_statistics(original_lab, ring_hw)
    gain = np.clip(std_o / np.maximum(std_p, 1e-6), 1.0 / MAX_GAIN, MAX_GAIN)
    return gain, mean_o - gain * mean_p


def apply_transfer(rgb_hwc: np.ndarray, gain, bias) -> np.ndarray:
    """(H,W,3) float32 RGB 0..1 mapped by a Lab transfer (gain (3,), bias (3,)), clipped to 0..1.

    The change the transfer makes is added rather than converting back: OpenCV's float Lab round
    trip is off by up to 2e-3, and this way an identity transfer is exact.
    """
    rgb = np.ascontiguousarray(rgb_hwc, dtype=np.float32)
    lab = rgb_to_lab(rgb)
    mapped = lab * np.asarray(gain, np.float32) + np.asarray(bias, np.float32)
    return np.clip(rgb + (lab_to_rgb(mapped) - lab_to_rgb(lab)), 0.0, 1.0)


def match_color(
    processed_bhwc: torch.Tensor,
    original_bhwc: torch.Tensor,
    blend_mask_hw,
    *,
    ring_width: int = 16,
    temporal_sigma: float = 3.0,
    strength: float = 1.0,
    valid_bhw=None,
    row_offsets=None,
) -> torch.Tensor:
    """Match the colour of processed crops to the original crops around the paste seam.

    processed_bhwc: (B,H,W,3) float 0..1, the crops after processing; original_bhwc: the same
    crops as cut from the source frames (what surrounds the face once it is pasted). blend_mask_hw:
    (H,W) float 0..1 paste mask in crop space (see seam_ring); ring_width in crop pixels.
    valid_bhw: optional (B,H,W) 0..1, 0 where a crop reached outside its frame (those pixels are
    padding and are left out of the statistics). row_offsets: (s+1,) sequence boundaries
    (CropPlan.row_offsets); None = one sequence. temporal_sigma: Gaussian sigma, in frames, of
    the smoothing of each sequence's per-frame transfer (0 = per frame). strength 0..1 scales
    the transfer towards identity.

    Returns (B,H,W,3) float32 0..1 on processed_bhwc's device: every pixel of each crop mapped by
    its frame's smoothed Lab transfer (the paste mask then decides where it shows).
    """
    if processed_bhwc.shape != original_bhwc.shape or processed_bhwc.ndim != 4 or processed_bhwc.shape[-1] != 3:
        raise ValueError(f"processed and original crops must be (B,H,W,3) of one shape, but got {tuple(processed_bhwc.shape)} and {tuple(original_bhwc.shape)}")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], but got {strength}")
    count, height, width, _ = processed_bhwc.shape
    ring = seam_ring(blend_mask_hw, ring_width)
    if ring.shape != (height, width):
        raise ValueError(f"blend_mask must be {width}x{height} like the crops, but got {ring.shape[1]}x{ring.shape[0]}")
    valid = None if valid_bhw is None else np.asarray(valid_bhw.cpu() if isinstance(valid_bhw, torch.Tensor) else valid_bhw, dtype=np.float32)
    offsets = np.asarray([0, count] if row_offsets is None else row_offsets, dtype=np.int64)
    if offsets[0] != 0 or offsets[-1] != count or (np.diff(offsets) < 0).any():
        raise ValueError(f"row_offsets must run from 0 to {count} without decreasing, but got {offsets.tolist()[:8]}")
    processed = processed_bhwc.detach().float().cpu().numpy()
    original = original_bhwc.detach().float().cpu().numpy()
    gains = np.ones((count, 3))
    biases = np.zeros((count, 3))
    measured = np.zeros(count, bool)  # False where the ring lies wholly outside the frame
    for row in range(count):
        weights = ring if valid is None else ring * valid[row]
        if weights.sum() > 0:
            gains[row], biases[row] = color_transfer(rgb_to_lab(processed[row]), rgb_to_lab(original[row]), weights)
            measured[row] = True
    output = np.empty_like(processed)
    for start, stop in zip(offsets[:-1], offsets[1:]):
        known = measured[start:stop]
        # frames with nothing measured within reach keep their colour (gain 1, bias 0)
        gain = np.nan_to_num(smooth_over_time(gains[start:stop], temporal_sigma, known), nan=1.0)
        bias = np.nan_to_num(smooth_over_time(biases[start:stop], temporal_sigma, known), nan=0.0)
        gain = 1.0 + float(strength) * (gain - 1.0)
        bias = float(strength) * bias
        for row in range(start, stop):
            output[row] = apply_transfer(processed[row], gain[row - start], bias[row - start])
    return torch.from_numpy(output).to(processed_bhwc.device)
