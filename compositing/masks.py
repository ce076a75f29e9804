"""Blend masks in crop space: where, and how strongly, a processed crop replaces the frame.

All masks are float32 torch tensors in 0..1, exactly 1 in their solid interior (so a pasted
pixel there is the crop's pixel) and exactly 0 where nothing is pasted. Feathering uses a
smoothstep ramp, so the blend has no visible kink at either end.
"""

from __future__ import annotations

import torch

from ..tracking.types import check_frame_size

BLEND_MODES = ("box", "ellipse")


def _check_blend_amount(blend_amount: float) -> float:
    blend_amount = float(blend_amount)
    if not 0.0 <= blend_amount <= 1.0:
        raise ValueError(f"blend_amount must be in 0..1 (the feather width as a fraction of half the crop side), but got {blend_amount}")
    return blend_amount


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _edge_ramp(length: int, feather: float) -> torch.Tensor:
    """(length,) 0..1: rises from the two ends over `feather` pixels, 1 in between."""
    centres = torch.arange(length, dtype=torch.float64) + 0.5
    distance = torch.minimum(centres, length - centres)  # pixel centre to the nearest edge
    if feather <= 0:
        return torch.ones(length, dtype=torch.float32)
    return _smoothstep(distance / feather).float()


def box_mask(crop_size: tuple[int, int], blend_amount: float) -> torch.Tensor:
    """[h,w] float32 feathered rectangle covering the whole crop.

    blend_amount 0..1: the feather width on each side as a fraction of half that side
    (0 = hard edge, every pixel 1; 1 = the ramps meet in the middle).
    """
    height, width = check_frame_size(crop_size)
    blend_amount = _check_blend_amount(blend_amount)
    rows = _edge_ramp(height, blend_amount * height / 2)
    columns = _edge_ramp(width, blend_amount * width / 2)
    return rows[:, None] * columns[None, :]


def ellipse_mask(crop_size: tuple[int, int], blend_amount: float) -> torch.Tensor:
    """[h,w] float32 ellipse inscribed in the crop, feathered inwards.

    blend_amount 0..1: the feather width as a fraction of the radius (0 = hard edge).
    """
    height, width = check_frame_size(crop_size)
    blend_amount = _check_blend_amount(blend_amount)
    ys = (torch.arange(height, dtype=torch.float64) + 0.5 - height / 2) / (height / 2)
    xs = (torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / (width / 2)
    radius = torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    if blend_amount == 0:
        return (radius <= 1.0).float()
    return _smoothstep((1.0 - radius) / blend_amount).float()


def blend_mask(crop_size: tuple[int, int], blend_mode: str, blend_amount: float) -> torch.Tensor:
    """[h,w] float32 crop-space blend mask for a blend_mode in BLEND_MODES."""
    if blend_mode == "box":
        return box_mask(crop_size, blend_amount)
    if blend_mode == "ellipse":
        return ellipse_mask(crop_size, blend_amount)
    raise ValueError(f"blend_mode must be one of {list(BLEND_MODES)}, but got {blend_mode!r}")
