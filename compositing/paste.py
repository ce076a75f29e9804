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

Alpha of a crop pixel = blend mask x optional crop_mask x optional edit_mask x valid (0 where
the crop reached outside the frame) x the sequence fade of its row. The blend mask is a crop
shape (box, ellipse) or a landmark hull (face_hull, lower_face: built per row from the tracks'
landmarks, feathered in source pixels); see masks.py. edit_mask is what the processors upstream
changed (e.g. FUSE Lipsync's mouth mask; the union when several did), so nothing else is
resampled. Fades: each face sequence fades in and out over fade_frames frames, except at the
clip's first and last frame. Alpha is carried to the frame bilinearly, then multiplied by
(1 - occlusion_mask) in frame space: where the occlusion mask is 1, the original pixel stays.
Colour is sampled with the Catmull-Rom cubic, like the crop (see warp.py for why).

Options on top of the blend:
- color_match "lab_mean_std": before pasting, each processed crop is mapped so that its Lab mean
  and standard deviation in a ring around the seam (color.seam_ring of the row's alpha) match the
  crop as cut from the input frame; the per-row transfer is smoothed over time within each
  sequence (color.smooth_over_time), so the correction does not flicker. In difference mode the
  processed crop is matched before the difference is taken, so an unchanged crop still changes
  nothing.
- seam "poisson": the pasted change is corrected by a harmonic membrane (poisson.py) so it is zero
  at the edge of the paste area (seamless cloning, the frame's pixels as the boundary condition),
  solved on the float ROI; pixels outside the paste area are untouched, bit for bit.

Rows are pasted in plan order (track id, then start frame), each onto the result of the ones
before: where faces overlap, the higher track id is drawn on top (DESIGN.md invariant 4).

Frames with 4 channels keep their 4th (alpha) channel untouched; only RGB is pasted. Crops must
have 3 channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..core.checks import all_finite, check_choice, check_number
from ..core.threads import single_threaded
from .color import apply_transfer, color_transfer, rgb_to_lab, seam_ring, smooth_over_time
from .geometry import plan_rows
from .masks import BLEND_MODES, LANDMARK_BLEND_MODES, blend_mask, box_profiles, crop_landmarks, hull_mask, hull_polygon, sequence_fades
from .plan import CropPlan, check_crops_match_plan
from .poisson import harmonic_correction
from .warp import check_frames_match_plan, crop_one, footprint, is_axis_aligned, valid_pixels, warp_profiles, warp_region

PASTE_MODES = ("difference", "replace")
PASTE_BLEND_MODES = BLEND_MODES + LANDMARK_BLEND_MODES
SEAM_MODES = ("feather", "poisson")
COLOR_MATCH_MODES = ("none", "lab_mean_std")
COLOR_TEMPORAL_SIGMA = 3.0  # frames: the colour transfer follows lighting changes, not per-frame noise
COLOR_RING_FRACTION = 1 / 32  # ring half-width as a fraction of the crop side (16 px at 512)


def _check_crops(crops_bhwc, plan: CropPlan) -> None:
    check_crops_match_plan(crops_bhwc, plan)
    if crops_bhwc.shape[-1] != 3:
        raise ValueError(f"crops must have 3 channels (RGB), but got {crops_bhwc.shape[-1]}; drop the alpha channel (pass it as crop_mask instead)")
    if not all_finite(crops_bhwc):  # one read, no full-size mask; a float16 sum would overflow on finite pixels
        raise ValueError("crops must hold finite pixel values, but got NaN or inf; check the node that processed them")


@dataclass(frozen=True)
class PasteSpec:
    """How crops are pasted back: the settings of FUSE Paste Faces, in one place (see the module
    docstring for what each does).

    blend_mode: "box" | "ellipse" (blend_amount 0..1 = feather as a fraction of the crop, see
    masks.py) or "face_hull" | "lower_face" (landmark hulls; need tracks with landmarks;
    feather_pixels = feather width in source pixels). paste_mode "difference" | "replace", seam
    "feather" | "poisson", color_match "none" | "lab_mean_std". fade_frames: frames over which
    each sequence fades in and out (masks.sequence_fades; 0 = none).
    """

    blend_mode: str = "box"
    blend_amount: float = 0.3
    feather_pixels: float = 8.0
    paste_mode: str = "difference"
    seam: str = "feather"
    color_match: str = "none"
    fade_frames: int = 3

    def __post_init__(self) -> None:
        check_choice("blend_mode", self.blend_mode, PASTE_BLEND_MODES)
        check_number("blend_amount", self.blend_amount, 0, 1, note=" (the feather width as a fraction of half the crop side)")
        check_number("feather_pixels", self.feather_pixels, 0, note=" source pixels")
        check_choice("paste_mode", self.paste_mode, PASTE_MODES)
        check_choice("seam", self.seam, SEAM_MODES)
        check_choice("color_match", self.color_match, COLOR_MATCH_MODES)
        check_number("fade_frames", self.fade_frames, 0, integer=True, note=" (0 = no fades)")


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


class _CropAlpha:
    """The crop-space paste alpha of each row, before its fade: blend mask x crop_mask x
    edit_mask x valid, float32 [h,w] on the CPU."""

    def __init__(self, plan: CropPlan, crop_to_src: np.ndarray, spec: PasteSpec, tracks, crop_mask, edit_mask):
        self.plan, self.crop_to_src, self.blend_mode = plan, crop_to_src, spec.blend_mode
        self.crop_size = plan.crop_size or (1, 1)
        self.masks = [mask for mask in (crop_mask, edit_mask) if mask is not None]
        if spec.blend_mode in LANDMARK_BLEND_MODES:
            self.shape_mask = None
            self.landmarks = crop_landmarks(plan, tracks, spec.blend_mode)
            source_pixels_per_crop_pixel = np.sqrt(np.abs(np.linalg.det(crop_to_src[:, :, :2]))) if len(crop_to_src) else np.ones(0)
            self.feathers = float(spec.feather_pixels) / source_pixels_per_crop_pixel  # the feather is given in source pixels
        else:
            self.shape_mask = blend_mask(self.crop_size, spec.blend_mode, float(spec.blend_amount))
        # the box without masks is rows x columns: warped as two 1D profiles (a fast path for the default)
        self.profiles = box_profiles(self.crop_size, float(spec.blend_amount)) if spec.blend_mode == "box" and not self.masks else None

    def separable(self, row: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The row's alpha as (rows (h,), columns (w,)) when it is their product and its affine
        has no rotation (so the frame alpha is a product too); else None."""
        if self.profiles is None or not is_axis_aligned(self.crop_to_src[row]):
            return None
        if not valid_pixels(self.crop_to_src[row], self.crop_size, self.plan.frame_size).all():
            return None
        return self.profiles

    def __call__(self, row: int) -> torch.Tensor:
        if self.shape_mask is None:
            alpha = hull_mask(self.crop_size, hull_polygon(self.landmarks[row], self.blend_mode), float(self.feathers[row]))
        else:
            alpha = self.shape_mask
        valid = valid_pixels(self.crop_to_src[row], self.crop_size, self.plan.frame_size)
        if not valid.all():  # the usual crop lies inside the frame: nothing to multiply
            alpha = alpha * torch.from_numpy(valid)
        for mask in self.masks:
            alpha = alpha * mask[row if len(mask) > 1 else 0].float().cpu().clamp(0.0, 1.0)
        return alpha


class _RowPaster:
    """Pastes one crop row at a time onto the output frames: the state paste_faces shares between
    rows (affines, alphas, fades, colour transfers)."""

    def __init__(self, frames_bhwc, crops_bhwc, plan: CropPlan, spec: PasteSpec, crop_alpha: _CropAlpha, transfers, occlusion_mask):
        self.frame_index, self.src_to_crop, self.crop_to_src = plan_rows(plan)
        self.crops, self.spec, self.crop_alpha, self.transfers, self.occlusion_mask = crops_bhwc, spec, crop_alpha, transfers, occlusion_mask
        self.crop_size = plan.crop_size or tuple(int(v) for v in crops_bhwc.shape[1:3])
        self.frame_size = tuple(int(v) for v in frames_bhwc.shape[1:3])
        self.device = frames_bhwc.device
        self.fades = sequence_fades(plan, spec.fade_frames)
        self.shape_box = None if crop_alpha.shape_mask is None else _nonzero_box(crop_alpha.shape_mask)  # rows that use the shape as it is share it

    def _alpha(self, row: int):
        """(the row's crop alpha: a tensor [h,w] or separable (rows, columns), the half-open box
        (x0, y0, x1, y1) of its pixels > 0), or None when no pixel of the row is pasted."""
        crop_height, crop_width = self.crop_size
        alpha_crop = self.crop_alpha.separable(row)
        if alpha_crop is not None:
            return alpha_crop, (0, 0, crop_width, crop_height)
        alpha_crop = self.crop_alpha(row)
        nonzero = self.shape_box if alpha_crop is self.crop_alpha.shape_mask else _nonzero_box(alpha_crop)
        return None if nonzero is None else (alpha_crop, nonzero)

    def _areas(self, row: int, nonzero) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
        """(frame box, crop window) of a row whose crop alpha is > 0 in nonzero: the frame pixels
        the paste may change and the crop pixels they read; None when the crop misses the frame."""
        crop_height, crop_width = self.crop_size
        height, width = self.frame_size
        # frame pixels that can get alpha > 0: their crop positions lie within the crop's area
        # [-0.5, w-0.5] x [-0.5, h-0.5] and within one pixel (the bilinear reach) of a crop pixel with alpha > 0
        nx0, ny0, nx1, ny1 = nonzero
        reach = (max(nx0 - 1, -0.5), max(ny0 - 1, -0.5), min(nx1, crop_width - 0.5), min(ny1, crop_height - 0.5))
        xmin, ymin, xmax, ymax = footprint(self.crop_to_src[row], reach)
        x0, y0 = max(int(np.ceil(xmin)), 0), max(int(np.ceil(ymin)), 0)
        x1, y1 = min(int(np.floor(xmax)) + 1, width), min(int(np.floor(ymax)) + 1, height)
        if x1 <= x0 or y1 <= y0:
            return None  # the crop lies wholly outside the frame
        # the crop pixels those frame pixels read: the cubic kernel reaches 2 pixels further, plus one for the bilinear reach
        window = (max(nx0 - 3, 0), max(ny0 - 3, 0), min(nx1 + 3, crop_width), min(ny1 + 3, crop_height))
        return (x0, y0, x1, y1), window

    def __call__(self, output: torch.Tensor, pasted: torch.Tensor | None, row: int) -> None:
        alpha = self._alpha(row)
        areas = None if alpha is None else self._areas(row, alpha[1])
        if areas is None:
            return
        alpha_crop, (box, window) = alpha[0], areas
        wx0, wy0, wx1, wy1 = window
        fade = float(self.fades[row])
        if isinstance(alpha_crop, tuple):
            alpha_crop = (alpha_crop[0] * fade, alpha_crop[1]) if fade < 1 else alpha_crop
        else:
            alpha_crop = alpha_crop[wy0:wy1, wx0:wx1] * fade if fade < 1 else alpha_crop[wy0:wy1, wx0:wx1]
        frame = int(self.frame_index[row])
        crop = self.crops[row, wy0:wy1, wx0:wx1].float()
        if self.transfers is not None:
            gain, bias = self.transfers
            crop = torch.from_numpy(apply_transfer(crop.cpu().numpy(), gain[row], bias[row]))
        crop = crop.to(self.device)
        if self.spec.paste_mode == "difference":
            # what processing changed, against the crop as cut from the frame as it is now: the
            # input's, or where an earlier row of this plan overlapped, that row's result (so the
            # later row is on top, as in "replace")
            crop = crop_one(output[frame], self.crop_to_src[row], self.crop_size, window).neg_().add_(crop)  # crop - cut, in place
        _paste_row(output, pasted, frame, crop, alpha_crop, window, self.src_to_crop[row], box, self.occlusion_mask, self.spec.paste_mode, self.spec.seam)


@single_threaded
def paste_faces(
    frames_bhwc: torch.Tensor,
    crops_bhwc: torch.Tensor,
    plan: CropPlan,
    spec: PasteSpec = PasteSpec(),
    *,
    tracks=None,
    crop_mask: torch.Tensor | None = None,
    edit_mask: torch.Tensor | None = None,
    occlusion_mask: torch.Tensor | None = None,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    return_mask: bool = False,
    in_place: bool = False,
):
    """Paste crops back into the frames they were cut from, as spec says (PasteSpec).

    frames_bhwc: IMAGE float [N,H,W,C] 0..1 (C 3 or 4), the video the plan was made from (or the
        output of an earlier paste onto it).
    crops_bhwc: IMAGE float [M,h,w,3], M = plan.total_rows, rows in plan order, size plan.crop_size.
    tracks: the FaceTracks the plan was made from (only read for the landmark blend modes).
    crop_mask, edit_mask: optional MASK [M,h,w] or [1,h,w] in crop space, multiplied in; crop_mask
        is where pasting is allowed (e.g. a face parser's), edit_mask what the processors changed.
    occlusion_mask: optional MASK [N,H,W] or [1,H,W] in frame space; alpha *= 1 - occlusion, so
        the original pixels are kept exactly where it is 1.
    Returns frames [N,H,W,C] (same dtype and device as frames_bhwc), and with return_mask also the
    frame-space alpha that was pasted, float32 [N,H,W] (0 = pixel untouched; the union of all
    rows). Inputs are never modified, unless in_place: then frames_bhwc is pasted into and
    returned (no copy of the frames; for a caller that owns them). on_progress counts crop rows (each row twice with
    color_match: measuring, then pasting); check_interrupt runs before each chunk of chunk_size
    rows. ValueError when the crops, masks, tracks or frames do not match the plan.
    """
    if not isinstance(spec, PasteSpec):
        raise TypeError(f"spec must be a PasteSpec, but got {type(spec).__name__}")
    check_frames_match_plan(frames_bhwc, plan)
    _check_crops(crops_bhwc, plan)
    check_number("chunk_size", chunk_size, 1, integer=True)
    frame_count, height, width = (int(v) for v in frames_bhwc.shape[:3])
    crop_size = plan.crop_size or tuple(int(v) for v in crops_bhwc.shape[1:3])
    crop_mask = _as_mask_batch("crop_mask", crop_mask, plan.total_rows, crop_size, "one per crop, in crop space")
    edit_mask = _as_mask_batch("edit_mask", edit_mask, plan.total_rows, crop_size, "one per crop, in crop space, e.g. FUSE Lipsync's edit_mask")
    occlusion_mask = _as_mask_batch("occlusion_mask", occlusion_mask, frame_count, (height, width), "one per frame, in frame space")
    crop_alpha = _CropAlpha(plan, plan_rows(plan)[2], spec, tracks, crop_mask, edit_mask)
    transfers = None
    if spec.color_match == "lab_mean_std":
        transfers = _color_transfers(frames_bhwc, crops_bhwc, plan, crop_alpha, chunk_size, on_progress, check_interrupt)
    paste_row = _RowPaster(frames_bhwc, crops_bhwc, plan, spec, crop_alpha, transfers, occlusion_mask)

    output = frames_bhwc if in_place else frames_bhwc.clone()
    pasted = _zeros((frame_count, height, width), frames_bhwc.device) if return_mask else None
    for start in range(0, plan.total_rows, chunk_size):
        if check_interrupt is not None:
            check_interrupt()
        stop = min(start + chunk_size, plan.total_rows)
        for row in range(start, stop):
            paste_row(output, pasted, row)
        if on_progress is not None:
            on_progress(stop - start)
    return (output, pasted) if return_mask else output


def _nonzero_box(alpha_hw: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) half-open bounding box of the pixels with alpha > 0; None when there are none."""
    nonzero = alpha_hw > 0
    columns = torch.nonzero(nonzero.any(dim=0)).flatten()
    if not len(columns):
        return None
    rows = torch.nonzero(nonzero.any(dim=1)).flatten()
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _zeros(shape: tuple[int, ...], device) -> torch.Tensor:
    """float32 zeros. On the CPU through numpy's calloc: pages nothing is pasted into are never
    written, so they cost neither time nor resident memory (a full-resolution mask per frame)."""
    if torch.device(device).type == "cpu":
        return torch.from_numpy(np.zeros(shape, np.float32))
    return torch.zeros(shape, dtype=torch.float32, device=device)


def _color_transfers(frames_bhwc, crops_bhwc, plan, crop_alpha, chunk_size, on_progress, check_interrupt) -> tuple[np.ndarray, np.ndarray]:
    """Per crop row, the Lab (gain (M,3), bias (M,3)) that maps the processed crop's colours in
    the ring around its seam onto those of the crop as cut from the input frame, smoothed over
    time within each sequence; identity where no ring pixel lies inside the frame."""
    frame_index, _, crop_to_src = plan_rows(plan)
    crop_size = plan.crop_size or (1, 1)
    ring_width = max(2, int(round(min(crop_size) * COLOR_RING_FRACTION)))
    rows = len(frame_index)
    gains, biases = np.ones((rows, 3)), np.zeros((rows, 3))
    measured = np.zeros(rows, bool)
    # a box or ellipse without masks has one ring for every crop that lies inside its frame
    shared_ring = seam_ring(crop_alpha.shape_mask.numpy(), ring_width) if crop_alpha.shape_mask is not None and not crop_alpha.masks else None
    for start in range(0, rows, chunk_size):
        if check_interrupt is not None:
            check_interrupt()
        stop = min(start + chunk_size, rows)
        for row in range(start, stop):
            valid = valid_pixels(crop_to_src[row], crop_size, plan.frame_size)
            ring = shared_ring if shared_ring is not None and valid.all() else seam_ring(crop_alpha(row).numpy(), ring_width) * valid
            picked = ring > 0
            if not picked.any():
                continue
            original = crop_one(frames_bhwc[int(frame_index[row])], crop_to_src[row], crop_size).cpu().numpy()[picked]
            processed = crops_bhwc[row].detach().float().cpu().numpy()[picked]
            gains[row], biases[row] = color_transfer(rgb_to_lab(processed[None]), rgb_to_lab(original[None]), ring[picked][None])
            measured[row] = True
        if on_progress is not None:
            on_progress(stop - start)
    offsets = plan.row_offsets
    for start, stop in zip(offsets[:-1], offsets[1:]):
        known = measured[start:stop]
        gains[start:stop] = np.nan_to_num(smooth_over_time(gains[start:stop], COLOR_TEMPORAL_SIGMA, known), nan=1.0)
        biases[start:stop] = np.nan_to_num(smooth_over_time(biases[start:stop], COLOR_TEMPORAL_SIGMA, known), nan=0.0)
    return gains, biases


def _select(condition: torch.Tensor, chosen: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """torch.where(condition, chosen, other) for float32 tensors of one shape, bit for bit, done
    as integer masking of the bit patterns: several times faster than torch.where on the CPU."""
    mask = condition.to(torch.int32).neg_()  # all 32 bits set where chosen, none elsewhere
    bits = chosen.view(torch.int32).bitwise_and(mask)
    return bits.bitwise_or_(other.view(torch.int32).bitwise_and(mask.bitwise_not_())).view(torch.float32)


def _frame_alpha(alpha_crop, origin, src_to_crop, area, device) -> torch.Tensor:
    """The paste alpha of the frame pixels in area, float32 [h,w,3] (one copy per channel, so the
    blend runs without broadcasting along channels, several times faster): a crop alpha [h,w]
    whose pixel (0, 0) is crop pixel origin (x, y), warped bilinearly, or a separable one
    (rows, columns) of the whole crop, warped as two profiles."""
    x0, y0, x1, y1 = area
    if isinstance(alpha_crop, tuple):
        rows, columns = warp_profiles(alpha_crop[0].to(device), alpha_crop[1].to(device), src_to_crop, area)
        columns = columns.clamp_(0.0, 1.0)[:, None].expand(-1, 3).reshape(1, -1)  # (1, w*3)
        return (rows.clamp_(0.0, 1.0)[:, None] * columns).view(y1 - y0, x1 - x0, 3)
    alpha = warp_region(alpha_crop.to(device)[..., None], src_to_crop, area, origin=origin, kernel="linear").clamp_(0.0, 1.0)
    return alpha.expand(-1, -1, 3).contiguous()


def _paste_row(output, pasted, frame, crop_hwc, alpha_crop, window, src_to_crop, box, occlusion_mask, paste_mode, seam) -> None:
    """Blend one crop (colours for "replace", changes for "difference") into output[frame]
    inside box (x0, y0, x1, y1), in place. crop_hwc: the crop pixels in window (x0, y0, x1, y1)
    of the crop; alpha_crop: the window's alpha [h,w], or (rows, columns) of the whole crop (see
    _frame_alpha). With seam "poisson" the work area is the box plus a one-pixel rim (alpha 0:
    the boundary condition)."""
    x0, y0, x1, y1 = box
    if seam == "poisson":
        height, width = output.shape[1:3]
        area = (max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, width), min(y1 + 1, height))
    else:
        area = box
    ax0, ay0, ax1, ay1 = area
    device = output.device
    sampled = warp_region(crop_hwc, src_to_crop, area, origin=window[:2])  # frame pixel -> crop position
    alpha = _frame_alpha(alpha_crop, window[:2], src_to_crop, area, device)
    if area != box:  # the rim is outside the crop's footprint: nothing is pasted there
        alpha[: y0 - ay0], alpha[y1 - ay0 :], alpha[:, : x0 - ax0], alpha[:, x1 - ax0 :] = 0.0, 0.0, 0.0, 0.0
    if occlusion_mask is not None:
        occlusion = occlusion_mask[frame if len(occlusion_mask) > 1 else 0, ay0:ay1, ax0:ax1]
        alpha.mul_(1.0 - occlusion.to(device).float().clamp(0.0, 1.0)[..., None])
    original = output[frame, ay0:ay1, ax0:ax1, :3].float()
    change = sampled if paste_mode == "difference" else sampled.clamp_(0.0, 1.0).sub_(original)  # sampled is ours: work in place
    touched = alpha > 0
    if seam == "poisson":
        change.add_(harmonic_correction(change, touched[..., 0]))
    blended = change.mul_(alpha).add_(original).clamp_(0.0, 1.0)
    # exact where-semantics: a pixel with alpha 0 keeps its original bits
    output[frame, ay0:ay1, ax0:ax1, :3] = _select(touched, blended, original).to(output.dtype)
    if pasted is not None:
        previous = pasted[frame, ay0:ay1, ax0:ax1]
        pasted[frame, ay0:ay1, ax0:ax1] = previous + alpha[..., 0] * (1.0 - previous)  # "over"; stays > 0 for any alpha > 0
