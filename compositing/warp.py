"""Warp in: cut face crops out of the source frames, one affine per crop-batch row.

Sampling is the Catmull-Rom cubic (Keys a=-0.5) at exact float64 positions, reading only the
small source region each crop covers, so the cost scales with the crop, not the frame. Pixels
outside the frame repeat its edge; valid_mask tells which crop pixels those are.

Why this kernel: the round trip crop -> identity -> paste must stay within 2/255 (DESIGN.md
invariant 2), and crops must stay in 0..1 (they are IMAGEs; third-party nodes may cast them to
uint8 without clipping), so cubic overshoot is clamped. Measured on the synthetic faces at a
4.6x crop scale, worst pixel where alpha is 1: bilinear in and out 9-24/255; torch grid_sample
bicubic (a=-0.75) in and out 2.8-3.9/255 (its larger overshoot is clamped away); Catmull-Rom in
and out 2.0-2.5/255, and 0.7-1.0/255 at 9x. At 1080p, a 300 px face in a 512 crop (1.5x) keeps
99.99% of pixels within 1.6/255, but a few specular highlights reach 3-4/255: pixel-level peaks
do not survive resampling to a grid only 1.5x finer (bench/composite_bench.py). OpenCV's
warpAffine quantises positions to 1/32 pixel, which alone costs about 1/255.

Speed: an affine without rotation (every box crop) maps rows to rows and columns to columns, so
the 4x4 kernel is applied as two 1D passes (4 gathers along x, then 4 along y: 8 instead of 16
per pixel, and the x pass runs once per source row instead of once per output pixel). The
arithmetic is the same, operation for operation, as the 2D path, so both give the same bits
(tests/compositing/test_warp.py holds this); rotated affines (landmark alignment) take the 2D path.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from ..core.checks import all_finite, check_instance, check_memory
from ..core.images import check_video_frames
from ..core.types import FaceTracks
from ..core.threads import single_threaded
from .align import plan_aligned_crops
from .geometry import CropSpec, plan_crops, plan_rows
from .plan import CropPlan, fingerprint_frames, same_video

log = logging.getLogger(__name__)


def check_frames_match_plan(images: torch.Tensor, plan: CropPlan, name: str = "images") -> None:
    """ValueError unless images is the video the plan was made from (count, size, fingerprint)."""
    check_instance("crop_plan", plan, CropPlan, "FUSE_CROPS")
    fix = "crop and paste the same video"
    check_video_frames(name, images, plan.frame_count, plan.frame_size, source="the crop plan was made from", fix=fix)
    if len(images) and not same_video(plan.fingerprint, images):
        raise ValueError(f"{name} must be the video the crop plan was made from, but its pixels differ (another or a re-encoded video); {fix}")


def source_positions(affine_dst_to_src: np.ndarray, dst_box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """float64 (h,w) x and y source positions (pixel centres) of the destination pixels in
    dst_box (x0, y0, x1, y1), for affine_dst_to_src (2,3)."""
    x0, y0, x1, y1 = dst_box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    src_x = affine_dst_to_src[0, 0] * xs + affine_dst_to_src[0, 1] * ys + affine_dst_to_src[0, 2]
    src_y = affine_dst_to_src[1, 0] * xs + affine_dst_to_src[1, 1] * ys + affine_dst_to_src[1, 2]
    return src_x, src_y


def sampling_grid(src_x: np.ndarray, src_y: np.ndarray, src_size: tuple[int, int]) -> torch.Tensor:
    """grid_sample grid (1,h,w,2) float32 (align_corners=False) for float64 (h,w) pixel-centre
    positions in a source of size (height, width)."""
    height, width = src_size
    grid = np.stack([(2 * src_x + 1) / width - 1, (2 * src_y + 1) / height - 1], axis=-1)
    return torch.from_numpy(grid.astype(np.float32))[None]


def _catmull_rom_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """Weights of the taps at -1, 0, +1, +2 for fractional positions t in [0, 1)."""
    t2 = t * t
    t3 = t2 * t
    return [(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2]


def sample_catmull_rom(image_hwc: torch.Tensor, src_x: np.ndarray, src_y: np.ndarray, strip: int = 32768) -> torch.Tensor:
    """image float [h,w,C] sampled at float64 pixel-centre positions src_x, src_y (both of shape
    S) with the Catmull-Rom cubic; taps past the edge repeat it (replicate padding).
    Returns float32 [*S, C] on the image's device; it may overshoot 0..1 a little.

    The positions are done `strip` at a time, so the 16 taps of a strip stay in a core's cache."""
    height, width, channels = image_hwc.shape
    device = image_hwc.device
    planes = image_hwc.permute(2, 0, 1).float().contiguous().reshape(channels, -1)  # HWC -> C,(H*W); contiguous, or every gather copies it
    flat_x, flat_y = src_x.reshape(-1), src_y.reshape(-1)
    result = torch.empty((channels, len(flat_x)), dtype=torch.float32, device=device)
    taps = torch.empty((channels, min(strip, len(flat_x))), dtype=torch.float32, device=device)
    row, total = torch.empty_like(taps), torch.empty_like(taps)
    for start in range(0, len(flat_x), strip):
        stop = min(start + strip, len(flat_x))
        x, y = flat_x[start:stop], flat_y[start:stop]
        x_floor, y_floor = np.floor(x), np.floor(y)
        weights_x = _catmull_rom_weights(torch.from_numpy(x - x_floor).float().to(device))
        weights_y = _catmull_rom_weights(torch.from_numpy(y - y_floor).float().to(device))
        columns = [torch.from_numpy(np.clip(x_floor + k - 1, 0, width - 1).astype(np.int64)).to(device) for k in range(4)]
        row_starts = [torch.from_numpy((np.clip(y_floor + k - 1, 0, height - 1) * width).astype(np.int64)).to(device) for k in range(4)]
        output, tap, partial = total[:, : stop - start], taps[:, : stop - start], row[:, : stop - start]
        for tap_y, (row_start, weight_y) in enumerate(zip(row_starts, weights_y)):
            target = output if tap_y == 0 else partial
            for tap_x, (column, weight_x) in enumerate(zip(columns, weights_x)):
                gathered = target if tap_x == 0 else tap
                torch.index_select(planes, 1, row_start + column, out=gathered)  # index_select: far faster than fancy indexing
                gathered.mul_(weight_x)
                if tap_x:
                    target.add_(tap)
            target.mul_(weight_y)
            if tap_y:
                output.add_(partial)
        result[:, start:stop] = output
    return result.reshape(channels, *src_x.shape).permute(*range(1, src_x.ndim + 1), 0)  # C,S -> S,C


def is_axis_aligned(affine: np.ndarray) -> bool:
    """True when the 2x3 affine has no rotation or shear: x maps from x alone, y from y alone."""
    return bool(affine[0, 1] == 0 and affine[1, 0] == 0)


def _cubic_taps(positions: np.ndarray, size: int, device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Catmull-Rom taps along one axis: 4 index (n,) int64 and 4 weight (n,) float32 tensors for
    float64 pixel-centre positions (n,) in an axis of `size` pixels (replicate past the edge)."""
    floor = np.floor(positions)
    weights = _catmull_rom_weights(torch.from_numpy(positions - floor).float().to(device))
    indices = [torch.from_numpy(np.clip(floor + k - 1, 0, size - 1).astype(np.int64)).to(device) for k in range(4)]
    return indices, weights


def _linear_taps(positions: np.ndarray, size: int, device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Linear taps along one axis, zero past the edge (grid_sample's padding_mode="zeros")."""
    floor = np.floor(positions)
    fraction = torch.from_numpy(positions - floor).float()
    indices, weights = [], []
    for index, weight in ((floor, 1.0 - fraction), (floor + 1, fraction)):
        inside = torch.from_numpy((index >= 0) & (index <= size - 1))
        indices.append(torch.from_numpy(np.clip(index, 0, size - 1).astype(np.int64)).to(device))
        weights.append(torch.where(inside, weight, torch.zeros_like(weight)).to(device))
    return indices, weights


def _sample_separable(image_hwc: torch.Tensor, taps_x, taps_y, strip_rows: int = 128) -> torch.Tensor:
    """float32 [h,w,C]: image [H,W,C] filtered along x by taps_x (w outputs), then along y by
    taps_y (h outputs). Same operations, in the same order, as sample_catmull_rom's 2D sum.

    Speed (the passes are bound by memory traffic, not arithmetic): the output is made in strips
    of strip_rows rows, so each strip's intermediate rows stay in a core's cache; the x pass
    gathers from rows flattened to (H, W*C) (one index per float is several times faster than
    index_select along a middle dimension), the y pass gathers whole rows; buffers are reused."""
    indices_x, weights_x = taps_x
    indices_y, weights_y = taps_y
    device = image_hwc.device
    out_height, out_width, channels = len(indices_y[0]), len(indices_x[0]), int(image_hwc.shape[2])
    result = torch.empty((out_height, out_width, channels), dtype=torch.float32, device=device)
    if out_height == 0 or out_width == 0:
        return result
    rows_y = torch.stack(indices_y)  # (taps, h) source rows of each output row
    first, last = int(rows_y.min()), int(rows_y.max())
    image = image_hwc[first : last + 1].float()  # only the source rows some output reads
    flat = image.reshape(image.shape[0], -1)  # HWC -> H,(W*C)
    channel = torch.arange(channels, device=device)
    gather_x = [(index[:, None] * channels + channel).reshape(-1) for index in indices_x]
    scale_x = [weight.repeat_interleave(channels) for weight in weights_x]
    lows = [int(rows_y[:, start : start + strip_rows].min()) for start in range(0, out_height, strip_rows)]
    highs = [int(rows_y[:, start : start + strip_rows].max()) for start in range(0, out_height, strip_rows)]
    most = max(high - low + 1 for low, high in zip(lows, highs))
    rows_buffer = torch.empty((most, out_width * channels), dtype=torch.float32, device=device)
    scratch_x = torch.empty_like(rows_buffer)
    scratch_y = torch.empty((min(strip_rows, out_height), out_width, channels), dtype=torch.float32, device=device)
    for strip, start in enumerate(range(0, out_height, strip_rows)):
        stop = min(start + strip_rows, out_height)
        low, count = lows[strip], highs[strip] - lows[strip] + 1
        source = flat[low - first : low - first + count]
        rows, scratch = rows_buffer[:count], scratch_x[:count]
        for tap in range(len(gather_x)):
            target = rows if tap == 0 else scratch
            torch.index_select(source, 1, gather_x[tap], out=target)
            target.mul_(scale_x[tap])
            if tap:
                rows.add_(scratch)
        rows = rows.view(count, out_width, channels)
        local_y = rows_y[:, start:stop] - low
        output, scratch = result[start:stop], scratch_y[: stop - start]
        for tap in range(len(indices_y)):
            target = output if tap == 0 else scratch
            torch.index_select(rows, 0, local_y[tap], out=target)
            target.mul_(weights_y[tap][start:stop, None, None])
            if tap:
                output.add_(scratch)
    return result


def warp_region(image_hwc: torch.Tensor, affine_dst_to_src: np.ndarray, dst_box: tuple[int, int, int, int], *, origin: tuple[int, int] = (0, 0), kernel: str = "cubic") -> torch.Tensor:
    """An image [H,W,C] resampled at the destination pixels of dst_box (x0, y0, x1, y1).

    affine_dst_to_src (2,3) maps destination pixel centres to positions in the image's full frame;
    origin (x, y) is where the image's pixel (0, 0) sits in that frame (the image may be a region
    of it). kernel "cubic": Catmull-Rom, edge pixels repeated past the edge (may overshoot 0..1);
    "linear": bilinear, zero past the edge (for masks). Axis-aligned affines take the separable
    path. Returns float32 [y1-y0, x1-x0, C] on the image's device.
    """
    height, width = (int(v) for v in image_hwc.shape[:2])
    x0, y0, x1, y1 = dst_box
    origin_x, origin_y = origin
    if is_axis_aligned(affine_dst_to_src):
        src_x = affine_dst_to_src[0, 0] * np.arange(x0, x1, dtype=np.float64) + affine_dst_to_src[0, 2] - origin_x
        src_y = affine_dst_to_src[1, 1] * np.arange(y0, y1, dtype=np.float64) + affine_dst_to_src[1, 2] - origin_y
        taps = _cubic_taps if kernel == "cubic" else _linear_taps
        return _sample_separable(image_hwc, taps(src_x, width, image_hwc.device), taps(src_y, height, image_hwc.device))
    src_x, src_y = source_positions(affine_dst_to_src, dst_box)
    src_x, src_y = src_x - origin_x, src_y - origin_y
    if kernel == "cubic":
        return sample_catmull_rom(image_hwc, src_x, src_y)
    grid = sampling_grid(src_x, src_y, (height, width)).to(image_hwc.device)
    planes = image_hwc.float().permute(2, 0, 1)[None]  # HWC -> 1,C,H,W
    return torch.nn.functional.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0].permute(1, 2, 0)


def warp_profiles(rows: torch.Tensor, columns: torch.Tensor, affine_dst_to_src: np.ndarray, dst_box: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A separable mask rows (h,) x columns (w,) warped bilinearly (zero past the edge) through an
    axis-aligned affine_dst_to_src (2,3) to the destination pixels of dst_box: its factors
    (y1-y0,) and (x1-x0,) float32. Bilinear sampling of a product is the product of the 1D
    samplings, so this equals warp_region of the full mask with kernel "linear", at a fraction of
    the cost."""
    if not is_axis_aligned(affine_dst_to_src):
        raise ValueError(f"affine_dst_to_src must be axis-aligned (no rotation) for separable profiles, but got {affine_dst_to_src.tolist()}")
    x0, y0, x1, y1 = dst_box
    factors = []
    for profile, scale, offset, start, stop in ((rows, affine_dst_to_src[1, 1], affine_dst_to_src[1, 2], y0, y1), (columns, affine_dst_to_src[0, 0], affine_dst_to_src[0, 2], x0, x1)):
        indices, weights = _linear_taps(scale * np.arange(start, stop, dtype=np.float64) + offset, len(profile), profile.device)
        factors.append(profile.index_select(0, indices[0]) * weights[0] + profile.index_select(0, indices[1]) * weights[1])
    return factors[0], factors[1]


def footprint(affine: np.ndarray, rectangle: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) bounding box of the rectangle (x0, y0, x1, y1) mapped by affine (2,3)."""
    x0, y0, x1, y1 = rectangle
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
    points = corners @ affine.T
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


def _source_box(crop_to_src: np.ndarray, crop_box: tuple[int, int, int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The source pixels a cubic crop of the crop pixels crop_box (x0, y0, x1, y1) reads: their
    footprint plus the 4x4 kernel's reach, clipped to the frame. Clipping is exact: replicate
    padding of this region repeats the frame's edge pixels, as it would on the whole frame."""
    height, width = frame_size
    crop_x0, crop_y0, crop_x1, crop_y1 = crop_box
    xmin, ymin, xmax, ymax = footprint(crop_to_src, (crop_x0, crop_y0, crop_x1 - 1, crop_y1 - 1))  # crop pixel centres
    x0 = int(np.clip(np.floor(xmin) - 1, 0, width - 1))
    y0 = int(np.clip(np.floor(ymin) - 1, 0, height - 1))
    x1 = int(np.clip(np.floor(xmax) + 3, x0 + 1, width))
    y1 = int(np.clip(np.floor(ymax) + 3, y0 + 1, height))
    return x0, y0, x1, y1


def crop_one(frame_hwc: torch.Tensor, crop_to_src: np.ndarray, crop_size: tuple[int, int], crop_box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """One crop float32 [h,w,3] 0..1 of one frame [H,W,C] through crop_to_src (2,3); with
    crop_box (x0, y0, x1, y1) only those crop pixels, [y1-y0, x1-x0, 3], with the same bits as
    the same pixels of the whole crop. A uint8 frame (0..255) is converted to float only where
    the crop reads it, with the bits of the whole frame converted (x / 255 in float32)."""
    crop_height, crop_width = crop_size
    crop_box = crop_box or (0, 0, crop_width, crop_height)
    x0, y0, x1, y1 = _source_box(crop_to_src, crop_box, tuple(frame_hwc.shape[:2]))
    region = frame_hwc[y0:y1, x0:x1, :3]
    if region.dtype == torch.uint8:
        region = region.to(torch.float32).div_(255.0)
    elif not all_finite(region):  # or the crops carry it and the crop processing gets the blame
        raise ValueError(
            "images must hold finite pixel values, but the source frame holds NaN or inf where a face is cropped; "
            "the frames were broken before FUSE: check the node that made them (a decoder, an upscaler, a VAE decode)"
        )
    return warp_region(region, crop_to_src, crop_box, origin=(x0, y0)).clamp_(0.0, 1.0)  # IMAGEs stay in 0..1


@single_threaded
def crop_faces(
    frames_bhwc: torch.Tensor,
    plan: CropPlan,
    *,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Cut every crop of the plan out of the frames.

    frames_bhwc: IMAGE float [N,H,W,C] 0..1 (C 3 or 4; only RGB is cropped), the video the plan
    was made from (ValueError otherwise). Returns crops float32 [M,h,w,3] 0..1 on the frames'
    device, M = plan.total_rows, rows in plan order. Regions outside the frame replicate its
    edge. on_progress gets the number of rows done after each chunk of chunk_size rows;
    check_interrupt runs before each chunk.
    """
    check_frames_match_plan(frames_bhwc, plan)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, but got {chunk_size}")
    frame_index, _, crop_to_src = plan_rows(plan)
    crop_height, crop_width = plan.crop_size or (0, 0)
    check_crop_memory(len(frame_index), (crop_height, crop_width), frames_bhwc.device)
    crops = torch.empty((len(frame_index), crop_height, crop_width, 3), dtype=torch.float32, device=frames_bhwc.device)
    for start in range(0, len(frame_index), chunk_size):
        if check_interrupt is not None:
            check_interrupt()
        stop = min(start + chunk_size, len(frame_index))
        for row in range(start, stop):
            crops[row] = crop_one(frames_bhwc[frame_index[row]], crop_to_src[row], (crop_height, crop_width))
        if on_progress is not None:
            on_progress(stop - start)
    return crops


def check_crop_memory(rows: int, crop_size: tuple[int, int], device, planes: int = 3) -> None:
    """ValueError up front when `rows` float32 crops of crop_size with `planes` planes (3 RGB, 4 with
    the valid mask) do not fit in the memory available on `device`."""
    height, width = crop_size
    check_memory(
        f"{rows} face crops of {width}x{height}", rows * height * width * planes * 4,
        "lower face_size, or crop fewer faces or frames (face_id, largest_n, faces, or a shorter clip)", device,
    )


def valid_pixels(crop_to_src: np.ndarray, crop_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """bool (h,w): the crop pixel's centre, mapped by crop_to_src (2,3), lies inside the source
    frame ([-0.5, W-0.5] x [-0.5, H-0.5] in pixel-centre coordinates)."""
    crop_height, crop_width = crop_size
    height, width = frame_size
    tolerance = 1e-6  # float noise on a crop edge that lands exactly on the frame edge
    xmin, ymin, xmax, ymax = footprint(crop_to_src, (0, 0, crop_width - 1, crop_height - 1))
    if xmin >= -0.5 - tolerance and ymin >= -0.5 - tolerance and xmax <= width - 0.5 + tolerance and ymax <= height - 0.5 + tolerance:
        return np.ones((crop_height, crop_width), bool)  # the usual case: the crop lies inside the frame
    src_x, src_y = source_positions(crop_to_src, (0, 0, crop_width, crop_height))
    return (src_x >= -0.5 - tolerance) & (src_x <= width - 0.5 + tolerance) & (src_y >= -0.5 - tolerance) & (src_y <= height - 0.5 + tolerance)


def valid_mask(plan: CropPlan, rows=None) -> torch.Tensor:
    """float32 [M,h,w] (M = len(rows), default every row in plan order): 1 where the crop pixel
    came from inside the source frame, 0 where the crop reached outside it (those pixels repeat
    the frame's edge). Computed from the affines on demand, so the plan stays small."""
    _, _, crop_to_src = plan_rows(plan)
    rows = np.arange(len(crop_to_src)) if rows is None else np.asarray(rows, np.int64).reshape(-1)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(crop_to_src)):
        raise ValueError(f"rows must index the plan's {len(crop_to_src)} crop rows, but got {rows.min()}..{rows.max()}")
    crop_size = plan.crop_size or (0, 0)
    masks = np.empty((len(rows), *crop_size), np.float32)
    for position, row in enumerate(rows):
        masks[position] = valid_pixels(crop_to_src[row], crop_size, plan.frame_size)
    return torch.from_numpy(masks)


def plan_face_crops(frames_bhwc: torch.Tensor, tracks: FaceTracks, spec: CropSpec = CropSpec()) -> CropPlan:
    """The CropPlan of every track of a video (see crop_face_sequences), not yet cut."""
    check_instance("tracks", tracks, FaceTracks, "FUSE_TRACKS")
    fix = "connect the same images to detection and cropping"
    check_video_frames("images", frames_bhwc, tracks.frame_count, tracks.frame_size, source="the tracks were made from", fix=fix)
    if tracks.fingerprint is not None and tracks.frame_count and not same_video(tracks.fingerprint, frames_bhwc):
        raise ValueError(f"images must be the video the tracks were made from, but its pixels differ (another video of the same size and length); {fix}")
    if spec.align == "ffhq_landmarks" and tracks.landmarks is None:
        log.warning("align ffhq_landmarks needs face landmarks, but the tracks have none; cropping by the boxes instead (detect with YOLO pose, InsightFace or MTCNN for aligned crops)")
        spec = replace(spec, align="box")
    if spec.align == "ffhq_landmarks":
        return plan_aligned_crops(tracks, fingerprint_frames(frames_bhwc), spec)
    return plan_crops(tracks, fingerprint_frames(frames_bhwc), spec)


@single_threaded
def crop_face_sequences(
    frames_bhwc: torch.Tensor,
    tracks: FaceTracks,
    spec: CropSpec = CropSpec(),
    *,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, CropPlan, torch.Tensor]:
    """Plan and cut the face sequences of every track: (crops [M,h,w,3], plan, valid [M,h,w]).

    frames_bhwc: IMAGE [N,H,W,C], the video the tracks were made from; tracks: the faces to crop
    (analysis.selection.select_faces picks them). spec.align "box": geometry.plan_crops.
    "ffhq_landmarks": square crops that put each face on the FFHQ five-point template, one
    similarity transform per frame from temporally smoothed landmarks (align.plan_aligned_crops);
    a run without landmarks uses the average layout in its boxes. Tracks with no landmarks at all
    (a detector without them) fall back to box crops with a warning in the log, so a workflow
    still runs. A clip without faces gives an empty plan and crop / valid batches of 0 rows of
    the square crop width, so shapes downstream stay meaningful.
    on_progress counts face-frames: in all int(tracks.present.sum()) steps, one per crop row and
    the rest (runs shorter than min_run_length) at the end.
    """
    plan = plan_face_crops(frames_bhwc, tracks, spec)
    if plan.sequences:
        check_crop_memory(plan.total_rows, plan.crop_size, frames_bhwc.device, planes=4)  # crops and valid mask
        crops = crop_faces(frames_bhwc, plan, chunk_size=chunk_size, on_progress=on_progress, check_interrupt=check_interrupt)
        valid = valid_mask(plan)
    else:
        side = spec.crop_width
        crops, valid = torch.zeros((0, side, side, 3), device=frames_bhwc.device), torch.zeros((0, side, side))
    skipped = int(tracks.present.sum()) - plan.total_rows
    if on_progress is not None and skipped > 0:
        on_progress(skipped)
    return crops, plan, valid
