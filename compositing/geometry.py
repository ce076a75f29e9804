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

from dataclasses import dataclass

import numpy as np

from ..core.checks import INT_TYPES, check_choice, check_number
from ..core.types import FaceTracks
from .plan import CropPlan, FaceSequence


def snap_to_multiple(value: float, multiple: int) -> int:
    """value rounded to the nearest positive multiple of `multiple` (halves up; never below `multiple`)."""
    return max(multiple, int(np.floor(value / multiple + 0.5)) * multiple)


ALIGN_MODES = ("box", "ffhq_landmarks")


@dataclass(frozen=True)
class CropSpec:
    """How face sequences are cut: the settings of FUSE Crop Face Sequences, in one place.

    face_size: crop width in pixels, snapped to the nearest multiple of size_multiple (crop_width);
    the height equals it when force_square, else follows one aspect for the plan (plan_crop_size).
    face_padding: source pixels added on each side of the box; margin: a fraction of the face
    size added on each side (0.25 = a quarter of the face width/height). min_run_length: runs
    shorter than this many frames are not cropped (their faces stay untouched). align "box": crops
    follow the boxes; "ffhq_landmarks": square crops that put each face on the FFHQ template
    (align.plan_aligned_crops; face_padding, margin and force_square do not apply).
    """

    face_size: int = 512
    face_padding: float = 20
    margin: float = 0.0
    force_square: bool = True
    size_multiple: int = 1
    min_run_length: int = 1
    align: str = "box"

    def __post_init__(self) -> None:
        check_number("size_multiple", self.size_multiple, 1, integer=True, note=" (e.g. 16 or 32 for video VAEs)")
        if isinstance(self.face_size, bool) or not isinstance(self.face_size, INT_TYPES) or self.face_size < self.size_multiple:
            raise ValueError(f"face_size must be an int >= size_multiple ({self.size_multiple}), but got {self.face_size!r}; raise face_size or lower size_multiple")
        check_number("face_padding", self.face_padding, 0, note=" source pixels")
        check_number("margin", self.margin, 0, note=" (a fraction of the face size added on each side)")
        check_number("min_run_length", self.min_run_length, 1, integer=True, note=" frame")
        if not isinstance(self.force_square, (bool, np.bool_)):
            raise ValueError(f"force_square must be True or False, but got {self.force_square!r}")
        check_choice("align", self.align, ALIGN_MODES)

    @property
    def crop_width(self) -> int:
        """face_size snapped to size_multiple: the width of every crop."""
        return snap_to_multiple(self.face_size, self.size_multiple)


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


def plan_crop_size(tracks: FaceTracks, spec: CropSpec) -> tuple[int, int]:
    """(height, width) shared by every crop of the plan.

    The width is spec.crop_width. Square crops when force_square; otherwise the height follows ONE
    aspect for the whole plan (every sequence must share a crop size to form one IMAGE batch): the
    median height/width of the padded boxes of the tracks over all their frames, snapped to
    size_multiple.
    """
    width = spec.crop_width
    if spec.force_square:
        return width, width
    boxes = tracks.xyxy[tracks.present]
    if not len(boxes):
        return width, width
    region_width, region_height = padded_sizes(boxes, spec.face_padding, spec.margin)
    aspect = float(np.median(region_height / np.maximum(region_width, 1e-6)))
    return snap_to_multiple(width * aspect, spec.size_multiple), width


def check_fingerprint(fingerprint, tracks: FaceTracks) -> np.ndarray:
    """fingerprint as an array, or ValueError unless it has one row per frame of the tracks."""
    fingerprint = np.asarray(fingerprint)
    if fingerprint.ndim != 4 or len(fingerprint) != tracks.frame_count:
        raise ValueError(f"fingerprint must have one row per frame of the tracks ({tracks.frame_count}), but got shape {fingerprint.shape}; take it with fingerprint_frames(images) of the tracked video")
    return fingerprint


def track_runs(tracks: FaceTracks, min_run_length: int):
    """(index, start, stop) of every contiguous run of at least min_run_length frames, by track
    id, then start frame: the order of a plan's sequences (paste draws later rows on top)."""
    for index in np.argsort(tracks.track_id, kind="stable"):
        for start, stop in tracks.runs(int(index)):
            if stop - start >= min_run_length:
                yield int(index), start, stop


def plan_crops(tracks: FaceTracks, fingerprint: np.ndarray, spec: CropSpec = CropSpec()) -> CropPlan:
    """A CropPlan with one FaceSequence per contiguous run of each track (select the tracks first:
    analysis.selection.select_faces), cut by the box crop of spec (align is not read here).

    tracks: boxes already smoothed (the crop follows them frame by frame).
    fingerprint: fingerprint_frames(images) of the video the tracks came from, (N,16,16,C) uint8.
    Sequences are ordered by track id, then by start frame. Paste draws rows in this order, so
    where faces overlap a higher track id is drawn on top of a lower one.
    No tracks (or no run long enough) gives an empty plan, not an error.
    """
    fingerprint = check_fingerprint(fingerprint, tracks)
    crop_size = plan_crop_size(tracks, spec)
    sequences = []
    for index, start, stop in track_runs(tracks, spec.min_run_length):
        identity = "" if tracks.identity is None else str(tracks.identity[index])
        affine = box_affines(tracks.xyxy[index, start:stop], crop_size, spec.face_padding, spec.margin)
        sequences.append(FaceSequence(int(tracks.track_id[index]), np.arange(start, stop), affine, crop_size, identity))
    return CropPlan(tuple(sequences), tracks.frame_size, tracks.frame_count, tracks.fps, fingerprint, tracks.cuts)


def plan_rows(plan: CropPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per crop-batch row, in plan order: source frame index (M,) int64, affine_src_to_crop
    (M,2,3) float64 and its inverse affine_crop_to_src (M,2,3) float64."""
    if not plan.sequences:
        return np.zeros(0, np.int64), np.zeros((0, 2, 3)), np.zeros((0, 2, 3))
    frames = np.concatenate([s.frames for s in plan.sequences])
    src_to_crop = np.concatenate([s.affine_src_to_crop for s in plan.sequences])
    crop_to_src = np.concatenate([s.affine_crop_to_src for s in plan.sequences])
    return frames, src_to_crop, crop_to_src
