"""Warp out: paste processed face crops back into the frames through the inverse of their affine.

The output is one clone of the frames. Each crop is pasted only into the bounding box of its
footprint in its frame, so the cost scales with the face area, not the frame area. A frame
pixel changes only where the paste alpha is > 0; everywhere else it is copied untouched, bit for
bit (DESIGN.md invariant 1).

Two paste modes. "difference" (the default) pastes what processing CHANGED: the frame gets
alpha x (processed crop - the crop as cut from the frame as it stands), carried back through the inverse
affine. A crop that came back unchanged therefore changes nothing, exactly, at any crop scale
(DESIGN.md invariant 2 holds with error 0), and detail the crop grid could not hold (a face
larger than face_size, single-pixel highlights) is kept from the source. "replace" blends the
processed crop's colours over the frame (alpha x crop + (1 - alpha) x frame): the classic paste,
for processors that redraw the whole face; its round trip costs resampling error (about 1/255 at
9x crop scale, a few /255 on sharp highlights at 1.5x).

Alpha of a crop pixel = blend mask (box or ellipse) x optional crop_mask x valid (0 where the
crop reached outside the frame). It is carried to the frame bilinearly, then multiplied by
(1 - occlusion_mask) in frame space: where the occlusion mask is 1, the original pixel stays.
Colour is sampled with the Catmull-Rom cubic, like the crop (see warp.py for why).

Rows are pasted in plan order (track id, then start frame), each onto the result of the ones
before: where faces overlap, the higher track id is drawn on top (DESIGN.md invariant 4).

Frames with 4 channels keep their 4th (alpha) channel untouched; only RGB is pasted. Crops must
have 3 channels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .geometry import plan_rows
from .masks import blend_mask
from .plan import CropPlan
from .warp import check_frames_match_plan, check_image_batch, crop_one, footprint, sample_catmull_rom, sampling_grid, source_positions, valid_pixels

PASTE_MODES = ("difference", "replace")


def _check_crops(crops_bhwc, plan: CropPlan) -> None:
    check_image_batch("crops", crops_bhwc)
    if crops_bhwc.shape[-1] != 3:
        raise ValueError(f"crops must have 3 channels (RGB), but got {crops_bhwc.shape[-1]}; drop the alpha channel (pass it as crop_mask instead)")
    rows = int(crops_bhwc.shape[0])
    if rows != plan.total_rows:
        raise ValueError(
            f"crops must have {plan.total_rows} rows for this plan ({len(plan)} sequences), but got {rows} — did a node in between drop or add frames?"
        )
    if plan.crop_size is not None and tuple(crops_bhwc.shape[1:3]) != plan.crop_size:
        height, width = plan.crop_size
        raise ValueError(
            f"crops must be {width}x{height} (the crop plan's size), but got {crops_bhwc.shape[2]}x{crops_bhwc.shape[1]}; "
            "resize the processed crops back to the plan's size before pasting"
        )
    if not bool(torch.isfinite(crops_bhwc).all()):
        raise ValueError("crops must hold finite pixel values, but got NaN or inf; check the node that processed them")


def _as_mask_batch(name: str, mask, rows: int, size: tuple[int, int], what: str) -> torch.Tensor | None:
    """mask as [rows or 1, h, w] float, or ValueError naming the input."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a MASK torch.Tensor [B,H,W], but got {type(mask).__name__}")
    if mask.ndim == 2:
        mask = mask[None]
    height, width = size
    if mask.ndim != 3 or tuple(mask.shape[1:]) != (height, width) or mask.shape[0] not in (1, rows):
        raise ValueError(f"{name} must be a MASK [{rows} or 1, {height}, {width}] ({what}), but got shape {tuple(mask.shape)}")
    return mask


def paste_faces(
    frames_bhwc: torch.Tensor,
    crops_bhwc: torch.Tensor,
    plan: CropPlan,
    *,
    blend_mode: str = "box",
    blend_amount: float = 0.3,
    paste_mode: str = "difference",
    crop_mask: torch.Tensor | None = None,
    occlusion_mask: torch.Tensor | None = None,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    return_mask: bool = False,
):
    """Paste crops back into the frames they were cut from.

    frames_bhwc: IMAGE float [N,H,W,C] 0..1 (C 3 or 4), the video the plan was made from (or the
        output of an earlier paste onto it).
    crops_bhwc: IMAGE float [M,h,w,3], M = plan.total_rows, rows in plan order, size plan.crop_size.
    blend_mode "box" | "ellipse", blend_amount 0..1: see masks.py.
    paste_mode "difference" | "replace": see the module docstring.
    crop_mask: optional MASK [M,h,w] or [1,h,w] in crop space (e.g. a face parser's), multiplied in.
    occlusion_mask: optional MASK [N,H,W] or [1,H,W] in frame space; alpha *= 1 - occlusion, so
        the original pixels are kept exactly where it is 1.
    Returns frames [N,H,W,C] (same dtype and device as frames_bhwc), and with return_mask also the
    frame-space alpha that was pasted, float32 [N,H,W] (0 = pixel untouched). Inputs are never
    modified. ValueError when the crops, the masks or the frames do not match the plan.
    """
    check_frames_match_plan(frames_bhwc, plan)
    _check_crops(crops_bhwc, plan)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, but got {chunk_size}")
    if paste_mode not in PASTE_MODES:
        raise ValueError(f"paste_mode must be one of {', '.join(PASTE_MODES)}, but got {paste_mode!r}")
    frame_count, height, width = (int(v) for v in frames_bhwc.shape[:3])
    crop_size = plan.crop_size or tuple(int(v) for v in crops_bhwc.shape[1:3])
    crop_mask = _as_mask_batch("crop_mask", crop_mask, plan.total_rows, crop_size, "one per crop, in crop space")
    occlusion_mask = _as_mask_batch("occlusion_mask", occlusion_mask, frame_count, (height, width), "one per frame, in frame space")
    blend = blend_mask(plan.crop_size or (1, 1), blend_mode, blend_amount)  # validates the options even for an empty plan

    output = frames_bhwc.clone()
    pasted = torch.zeros((frame_count, height, width), dtype=torch.float32, device=frames_bhwc.device) if return_mask else None
    frame_index, src_to_crop, crop_to_src = plan_rows(plan)
    crop_height, crop_width = crop_size
    for start in range(0, len(frame_index), chunk_size):
        if check_interrupt is not None:
            check_interrupt()
        stop = min(start + chunk_size, len(frame_index))
        for row in range(start, stop):
            # frame pixels whose centres fall inside the crop's area [-0.5, w-0.5] x [-0.5, h-0.5]
            xmin, ymin, xmax, ymax = footprint(crop_to_src[row], (-0.5, -0.5, crop_width - 0.5, crop_height - 0.5))
            x0, y0 = max(int(np.ceil(xmin)), 0), max(int(np.ceil(ymin)), 0)
            x1, y1 = min(int(np.floor(xmax)) + 1, width), min(int(np.floor(ymax)) + 1, height)
            if x1 <= x0 or y1 <= y0:
                continue  # the crop lies wholly outside the frame
            alpha_crop = blend * torch.from_numpy(valid_pixels(crop_to_src[row], crop_size, plan.frame_size))
            if crop_mask is not None:
                alpha_crop = alpha_crop * crop_mask[row if len(crop_mask) > 1 else 0].float().cpu().clamp(0.0, 1.0)
            if not bool((alpha_crop > 0).any()):
                continue
            frame = int(frame_index[row])
            crop = crops_bhwc[row].float()
            if paste_mode == "difference":
                # what processing changed, against the crop as cut from the frame as it is now: the
                # input's, or where an earlier row of this plan overlapped, that row's result (so the
                # later row is on top, as in "replace")
                crop = crop - crop_one(output[frame], crop_to_src[row], crop_size)
            _paste_row(output, pasted, frame, crop, alpha_crop, src_to_crop[row], (x0, y0, x1, y1), occlusion_mask, paste_mode)
        if on_progress is not None:
            on_progress(stop - start)
    return (output, pasted) if return_mask else output


def _paste_row(output, pasted, frame, crop_hwc, alpha_crop, src_to_crop, box, occlusion_mask, paste_mode) -> None:
    """Blend one crop (colours for "replace", changes for "difference") into output[frame]
    inside box (x0, y0, x1, y1), in place."""
    x0, y0, x1, y1 = box
    crop_height, crop_width = alpha_crop.shape
    device = output.device
    crop_x, crop_y = source_positions(src_to_crop, box)  # frame pixel -> crop position
    sampled = sample_catmull_rom(crop_hwc.to(device), crop_x, crop_y)
    grid = sampling_grid(crop_x, crop_y, (crop_height, crop_width)).to(device)
    alpha = F.grid_sample(alpha_crop.to(device)[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0].clamp(0.0, 1.0)
    if occlusion_mask is not None:
        occlusion = occlusion_mask[frame if len(occlusion_mask) > 1 else 0, y0:y1, x0:x1]
        alpha = alpha * (1.0 - occlusion.to(device).float().clamp(0.0, 1.0))
    region = output[frame, y0:y1, x0:x1, :3]
    original = region.float()
    if paste_mode == "difference":
        blended = (original + sampled * alpha[..., None]).clamp_(0.0, 1.0)
    else:
        blended = original * (1.0 - alpha[..., None]) + sampled.clamp_(0.0, 1.0) * alpha[..., None]
    # exact where-semantics: a pixel with alpha 0 keeps its original bits
    output[frame, y0:y1, x0:x1, :3] = torch.where(alpha[..., None] > 0, blended, original).to(output.dtype)
    if pasted is not None:
        previous = pasted[frame, y0:y1, x0:x1]
        pasted[frame, y0:y1, x0:x1] = previous + alpha * (1.0 - previous)  # "over"; stays > 0 for any alpha > 0
