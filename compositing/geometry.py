"""Crop geometry: one 2x3 affine per frame that cuts a face sequence out of the source video.

Coordinate conventions (the same everywhere in compositing/):
- xyxy boxes are pixel EDGES: a box (0, 0, W, H) covers the whole frame.
- Affines map pixel CENTRES (OpenCV's warpAffine convention): pixel column x has its centre at
  x, and the frame covers [-0.5, W-0.5] x [-0.5, H-0.5]. affine_src_to_crop maps a source point
  (x, y, 1) to crop (x, y).

This module only builds affines from boxes (scale + translation). Landmark alignment (issue 4)
adds rotation; warp.py and paste.py take any invertible 2x3 affine.
"""

from __future__ import annotations

import logging

import numpy as np

from ..core.types import FaceTracks
from .plan import CropPlan, FaceSequence

log = logging.getLogger(__name__)


def snap_to_multiple(value: float, multiple: int) -> int:
    """value rounded to the nearest positive multiple of `multiple` (halves up; never below `multiple`)."""
    return max(multiple, int(np.floor(value / multiple + 0.5)) * multiple)


def _check_options(face_size, face_padding, margin, size_multiple, min_run_length, face_id, largest_n) -> None:
    if not isinstance(size_multiple, (int, np.integer)) or size_multiple < 1:
        raise ValueError(f"size_multiple must be an int >= 1 (e.g. 16 or 32 for video VAEs), but got {size_multiple!r}")
    if not isinstance(face_size, (int, np.integer)) or face_size < size_multiple:
        raise ValueError(f"face_size must be an int >= size_multiple ({size_multiple}), but got {face_size!r}; raise face_size or lower size_multiple")
    if face_padding < 0 or not np.isfinite(face_padding):
        raise ValueError(f"face_padding must be >= 0 source pixels, but got {face_padding!r}")
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"margin must be >= 0 (a fraction of the face size added on each side), but got {margin!r}")
    if not isinstance(min_run_length, (int, np.integer)) or min_run_length < 1:
        raise ValueError(f"min_run_length must be an int >= 1 frame, but got {min_run_length!r}")
    if not isinstance(face_id, (int, np.integer)) or face_id < -1:
        raise ValueError(f"face_id must be -1 (all tracks) or a track id >= 1, but got {face_id!r}")
    if not isinstance(largest_n, (int, np.integer)) or largest_n < 0:
        raise ValueError(f"largest_n must be an int >= 0 (0 = keep every track), but got {largest_n!r}")


def select_track_indices(tracks: FaceTracks, face_id: int = -1, largest_n: int = 0) -> np.ndarray:
    """Indices (into tracks) of the tracks to crop, in ascending track id order.

    face_id -1 keeps every track, else only that id (ValueError naming the ids that exist).
    largest_n > 0 keeps the n tracks with the largest median face side (max of box width and
    height over the frames where the face is present); ties go to the lower track id.
    """
    indices = np.argsort(tracks.track_id, kind="stable")
    if face_id != -1:
        if face_id not in tracks.track_id:
            raise ValueError(f"face_id must be -1 (all tracks) or one of the track ids {sorted(tracks.track_id.tolist())}, but got {face_id}")
        indices = indices[tracks.track_id[indices] == face_id]
    if largest_n and len(indices) > largest_n:
        sides = np.array([_median_side(tracks, index) for index in indices])
        keep = np.argsort(-sides, kind="stable")[:largest_n]  # stable: ties go to the lower id
        indices = indices[np.sort(keep)]
    return indices


def _median_side(tracks: FaceTracks, index: int) -> float:
    boxes = tracks.xyxy[index][tracks.present[index]]
    if not len(boxes):
        return 0.0
    return float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))


def padded_sizes(xyxy: np.ndarray, face_padding: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(width, height) float64 of the padded face regions of boxes (n,4): size*(1+2*margin) + 2*padding."""
    width = (xyxy[:, 2] - xyxy[:, 0]).astype(np.float64)
    height = (xyxy[:, 3] - xyxy[:, 1]).astype(np.float64)
    return width * (1 + 2 * margin) + 2 * face_padding, height * (1 + 2 * margin) + 2 * face_padding


def box_affines(xyxy: np.ndarray, crop_size: tuple[int, int], face_padding: float, margin: float) -> np.ndarray:
    """(n,2,3) float64 affines source -> crop for boxes (n,4) xyxy (pixel edges).

    Each crop shows the region centred on its box, large enough to hold the padded box at the
    crop's aspect (height/width), scaled uniformly (no stretching) to crop_size (height, width).
    """
    crop_height, crop_width = crop_size
    region_width, region_height = padded_sizes(xyxy, face_padding, margin)
    region_width = np.maximum(np.maximum(region_width, region_height * crop_width / crop_height), 1.0)
    scale = crop_width / region_width
    centre_x = (xyxy[:, 0] + xyxy[:, 2]).astype(np.float64) / 2 - 0.5  # edges -> pixel-centre coordinates
    centre_y = (xyxy[:, 1] + xyxy[:, 3]).astype(np.float64) / 2 - 0.5
    affine = np.zeros((len(xyxy), 2, 3), np.float64)
    affine[:, 0, 0] = scale
    affine[:, 1, 1] = scale
    affine[:, 0, 2] = (crop_width - 1) / 2 - scale * centre_x
    affine[:, 1, 2] = (crop_height - 1) / 2 - scale * centre_y
    return affine


def plan_crop_size(tracks: FaceTracks, indices: np.ndarray, *, face_size: int, face_padding: float, margin: float, force_square: bool, size_multiple: int) -> tuple[int, int]:
    """(height, width) shared by every crop of the plan.

    The width is face_size snapped to size_multiple. Square crops when force_square; otherwise the
    height follows ONE aspect for the whole plan (every sequence must share a crop size to form one
    IMAGE batch): the median height/width of the padded boxes of the selected tracks over all their
    frames, snapped to size_multiple.
    """
    width = snap_to_multiple(face_size, size_multiple)
    if force_square:
        return width, width
    boxes = tracks.xyxy[indices][tracks.present[indices]]
    if not len(boxes):
        return width, width
    region_width, region_height = padded_sizes(boxes, face_padding, margin)
    aspect = float(np.median(region_height / np.maximum(region_width, 1e-6)))
    return snap_to_multiple(width * aspect, size_multiple), width


def plan_crops(
    tracks: FaceTracks,
    fingerprint: np.ndarray,
    *,
    face_size: int = 512,
    face_padding: float = 20,
    margin: float = 0.0,
    force_square: bool = True,
    size_multiple: int = 1,
    min_run_length: int = 1,
    face_id: int = -1,
    largest_n: int = 0,
) -> CropPlan:
    """A CropPlan with one FaceSequence per contiguous run of each selected track.

    tracks: boxes already smoothed (the crop follows them frame by frame).
    fingerprint: fingerprint_frames(images) of the video the tracks came from, (N,16,16,C) uint8.
    face_size: crop width in pixels, snapped to the nearest multiple of size_multiple; the
        height equals it when force_square, else follows one aspect for the plan
        (see plan_crop_size).
    face_padding: source pixels added on each side of the box; margin: a fraction of the face
        size added on each side (0.25 = a quarter of the face width/height).
    min_run_length: runs shorter than this (frames) are not cropped; their faces stay untouched.
    face_id: -1 = every track, else only that track id. largest_n: 0 = no limit, else the n
        tracks with the largest median face.

    Sequences are ordered by track id, then by start frame. Paste draws rows in this order, so
    where faces overlap a higher track id is drawn on top of a lower one.
    No tracks (or no run long enough) gives an empty plan, not an error.
    """
    _check_options(face_size, face_padding, margin, size_multiple, min_run_length, face_id, largest_n)
    fingerprint = np.asarray(fingerprint)
    if fingerprint.ndim != 4 or len(fingerprint) != tracks.frame_count:
        raise ValueError(f"fingerprint must have one row per frame of the tracks ({tracks.frame_count}), but got shape {fingerprint.shape}; take it with fingerprint_frames(images) of the tracked video")
    if len(tracks) == 0:
        if face_id != -1:
            log.info("no face tracks in the clip, so face_id %d selects nothing; the crop plan is empty", face_id)
        indices = np.zeros(0, np.int64)
    else:
        indices = select_track_indices(tracks, face_id, largest_n)
    crop_size = plan_crop_size(tracks, indices, face_size=face_size, face_padding=face_padding, margin=margin, force_square=force_square, size_multiple=size_multiple)
    sequences = []
    for index in indices:
        identity = "" if tracks.identity is None else str(tracks.identity[index])
        for start, stop in tracks.runs(int(index)):
            if stop - start < min_run_length:
                continue
            affine = box_affines(tracks.xyxy[index, start:stop], crop_size, face_padding, margin)
            sequences.append(FaceSequence(int(tracks.track_id[index]), np.arange(start, stop), affine, crop_size, identity))
    return CropPlan(tuple(sequences), tracks.frame_size, tracks.frame_count, tracks.fps, fingerprint)


def plan_rows(plan: CropPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per crop-batch row, in plan order: source frame index (M,) int64, affine_src_to_crop
    (M,2,3) float64 and its inverse affine_crop_to_src (M,2,3) float64."""
    if not plan.sequences:
        return np.zeros(0, np.int64), np.zeros((0, 2, 3)), np.zeros((0, 2, 3))
    frames = np.concatenate([s.frames for s in plan.sequences])
    src_to_crop = np.concatenate([s.affine_src_to_crop for s in plan.sequences])
    crop_to_src = np.concatenate([s.affine_crop_to_src for s in plan.sequences])
    return frames, src_to_crop, crop_to_src
