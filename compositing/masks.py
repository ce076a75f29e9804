"""Blend masks in crop space: where, and how strongly, a processed crop replaces the frame.

All masks are float32 torch tensors in 0..1, exactly 1 in their solid interior (so a pasted
pixel there is the crop's pixel) and exactly 0 where nothing is pasted. Feathering uses a
smoothstep ramp, so the blend has no visible kink at either end.

Two families:
- crop shapes (BLEND_MODES: box, ellipse), the same for every crop, feathered by a fraction of
  the crop;
- landmark hulls (LANDMARK_BLEND_MODES: face_hull, lower_face), one per crop row: an average
  face outline (forehead to chin, or nose to chin for lipsync) in the FFHQ layout, placed on the
  row's five landmarks by a similarity transform, feathered inwards by a width given in SOURCE
  pixels (so the seam looks the same whatever the crop scale), and zero outside the hull.
Plus sequence_fades: a per-row weight that fades each face sequence in and out over time.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import torch

from ..core.checks import check_number
from ..core.types import FaceTracks, check_frame_size
from .align import FFHQ_TEMPLATE_512, MEAN_LANDMARKS_IN_BOX, similarity_transforms, smooth_landmarks
from .plan import CropPlan

log = logging.getLogger(__name__)

BLEND_MODES = ("box", "ellipse")  # need nothing but the crop
LANDMARK_BLEND_MODES = ("face_hull", "lower_face")  # need the tracks' landmarks

# Average face outlines in the 512 FFHQ-aligned layout (pixel centres, the layout of
# align.FFHQ_TEMPLATE_512: eyes at y 240, nose tip 314, mouth 371): the jaw line from ear to ear
# through the chin (y 470), and the forehead up to the hairline (y 108); about 2.3 eye distances wide.
FACE_OUTLINE_FFHQ_512 = np.array(
    [[112, 258], [120, 335], [143, 400], [185, 448], [256, 470], [327, 448], [369, 400], [392, 335], [400, 258],
     [392, 195], [360, 140], [310, 115], [256, 108], [202, 115], [152, 140], [120, 195]],
    np.float64,
)
# Mouth, chin and jaw (what a lipsync model redraws): from just above the nose tip down to the chin.
LOWER_FACE_OUTLINE_FFHQ_512 = np.array(
    [[116, 290], [120, 335], [143, 400], [185, 448], [256, 470], [327, 448], [369, 400], [392, 335], [396, 290]],
    np.float64,
)
OUTLINES = {"face_hull": FACE_OUTLINE_FFHQ_512, "lower_face": LOWER_FACE_OUTLINE_FFHQ_512}
LANDMARK_DETECTORS = "YOLO pose (a face model with keypoints), InsightFace or MTCNN"


def _check_blend_amount(blend_amount: float) -> float:
    return float(check_number("blend_amount", blend_amount, 0, 1, note=" (the feather width as a fraction of half the crop side)"))


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


def box_profiles(crop_size: tuple[int, int], blend_amount: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The box mask as its two factors: rows (h,) and columns (w,) float32; see box_mask."""
    height, width = check_frame_size(crop_size)
    blend_amount = _check_blend_amount(blend_amount)
    return _edge_ramp(height, blend_amount * height / 2), _edge_ramp(width, blend_amount * width / 2)


def box_mask(crop_size: tuple[int, int], blend_amount: float) -> torch.Tensor:
    """[h,w] float32 feathered rectangle covering the whole crop: rows[:, None] * columns[None, :].

    blend_amount 0..1: the feather width on each side as a fraction of half that side
    (0 = hard edge, every pixel 1; 1 = the ramps meet in the middle).
    """
    rows, columns = box_profiles(crop_size, blend_amount)
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


def _check_landmark_mode(blend_mode: str) -> None:
    if blend_mode not in LANDMARK_BLEND_MODES:
        raise ValueError(f"blend_mode must be one of {list(LANDMARK_BLEND_MODES)} for a landmark hull, but got {blend_mode!r}")


def hull_polygon(landmarks_crop: np.ndarray, blend_mode: str) -> np.ndarray:
    """(P,2) float64 convex polygon in crop pixel centres: the outline of blend_mode
    ("face_hull" or "lower_face") placed on five landmarks (5,2) (crop pixel centres) by the
    similarity transform that maps the FFHQ template's landmarks onto them."""
    _check_landmark_mode(blend_mode)
    template_to_crop = similarity_transforms(FFHQ_TEMPLATE_512[None], np.asarray(landmarks_crop, np.float64)[None])[0]
    outline = OUTLINES[blend_mode] @ template_to_crop[:, :2].T + template_to_crop[:, 2]
    return cv2.convexHull(outline.astype(np.float32))[:, 0].astype(np.float64)


def hull_mask(crop_size: tuple[int, int], polygon: np.ndarray, feather: float) -> torch.Tensor:
    """[h,w] float32 mask of a convex polygon (P,2) in crop pixel centres: exactly 0 where a pixel
    centre is not inside it, rising inwards from its edge (and from the crop's edge, where the
    polygon leaves the crop) over `feather` crop pixels with a smoothstep, 1 beyond. feather 0 =
    hard edge.

    Distances are exact: inside a convex polygon, the distance to its boundary is the smallest
    distance to the lines of its edges (a rasteriser would also fill pixels up to half a pixel
    outside the polygon)."""
    height, width = check_frame_size(crop_size)
    polygon = np.asarray(polygon, np.float64)
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    keep = lengths > 1e-9
    starts, edges, lengths = polygon[keep], edges[keep], lengths[keep]
    mask = torch.zeros((height, width), dtype=torch.float32)
    if len(starts) < 3:
        return mask  # a degenerate polygon covers no area
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1) / lengths[:, None]
    normals *= np.sign(((polygon.mean(axis=0) - starts) * normals).sum(axis=1))[:, None]  # point inwards
    # only the pixels of the polygon's bounding box can be inside
    x0, y0 = (max(int(np.ceil(v)), 0) for v in polygon.min(axis=0))
    x1, y1 = min(int(np.floor(polygon[:, 0].max())) + 1, width), min(int(np.floor(polygon[:, 1].max())) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return mask
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)
    distance = torch.full((y1 - y0, x1 - x0), np.inf, dtype=torch.float32)
    for (start_x, start_y), (normal_x, normal_y) in zip(starts, normals):
        # signed distance to the edge's line, as a sum of a row term and a column term
        along_x = torch.from_numpy(((xs - start_x) * normal_x).astype(np.float32))
        along_y = torch.from_numpy(((ys - start_y) * normal_y).astype(np.float32))
        torch.minimum(distance, along_y[:, None] + along_x[None, :], out=distance)
    inside = distance > 0
    xs, ys = torch.from_numpy(xs)[None, :], torch.from_numpy(ys)[:, None]
    if feather <= 0:
        mask[y0:y1, x0:x1] = inside.float()
        return mask
    to_crop_edge = torch.minimum(torch.minimum(xs + 0.5, width - 0.5 - xs), torch.minimum(ys + 0.5, height - 0.5 - ys)).float()
    ramp = _smoothstep(torch.minimum(distance, to_crop_edge) / feather)
    mask[y0:y1, x0:x1] = torch.where(inside, ramp, torch.zeros_like(ramp)).float()
    return mask


def crop_landmarks(plan: CropPlan, tracks: FaceTracks | None, blend_mode: str, smooth_window: int = 5) -> np.ndarray:
    """(M,5,2) float64 landmarks of every crop row (plan order) in crop pixel centres.

    tracks: the FaceTracks the plan was made from, with landmarks (source pixels, box
    convention). Each sequence's landmarks are smoothed over time (align.smooth_landmarks, which
    also fills frames without landmarks) so the mask does not jitter. A sequence with no
    landmarks at all uses the average layout in its boxes (logged). ValueError, naming the fix,
    when tracks are missing, carry no landmarks, or belong to another video or plan.
    """
    _check_landmark_mode(blend_mode)
    if tracks is None:
        raise ValueError(
            f"tracks must be connected for blend_mode {blend_mode!r} (its mask is built from the face landmarks), but got none; "
            "connect the FUSE_TRACKS the crop plan was made from, or use blend_mode box or ellipse"
        )
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be FUSE_TRACKS (FaceTracks), but got {type(tracks).__name__}")
    if tracks.landmarks is None:
        raise ValueError(
            f"tracks must carry face landmarks for blend_mode {blend_mode!r}, but these tracks have none (the detector gave boxes only); "
            f"detect faces with a detector that gives landmarks ({LANDMARK_DETECTORS}), or use blend_mode box or ellipse"
        )
    if tracks.frame_count != plan.frame_count or tuple(tracks.frame_size) != tuple(plan.frame_size):
        raise ValueError(
            f"tracks must be the FUSE_TRACKS the crop plan was made from ({plan.frame_count} frames of {plan.frame_size[1]}x{plan.frame_size[0]}), "
            f"but got {tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}"
        )
    missing = sorted({s.track_id for s in plan.sequences} - set(tracks.track_id.tolist()))
    if missing:
        raise ValueError(f"tracks must hold every track of the crop plan, but track ids {missing} are missing; connect the tracks the crop plan was made from")
    parts = []
    for sequence in plan.sequences:
        index = tracks.index_of(sequence.track_id)
        points = tracks.landmarks[index, sequence.frames].astype(np.float64)
        if not np.isfinite(points).all(axis=(1, 2)).any():
            log.warning("track %d has no landmarks in frames %d-%d; its %s mask uses the average face layout in its boxes", sequence.track_id, sequence.frames[0], sequence.frames[-1], blend_mode)
            boxes = tracks.xyxy[index, sequence.frames].astype(np.float64)
            points = boxes[:, None, :2] + MEAN_LANDMARKS_IN_BOX[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
        centres = smooth_landmarks(points, smooth_window) - 0.5  # pixel edges -> pixel centres
        affine = sequence.affine_src_to_crop
        parts.append(np.einsum("mij,mpj->mpi", affine[:, :, :2], centres) + affine[:, None, :, 2])
    return np.concatenate(parts) if parts else np.zeros((0, 5, 2))


def sequence_fades(plan: CropPlan, fade_frames: int) -> np.ndarray:
    """(M,) float32 per crop row (plan order): the paste weight that fades each face sequence in
    over its first fade_frames frames and out over its last, linearly (1/(F+1), 2/(F+1), ...),
    so a face never pops in or out. A sequence that starts at the clip's first frame, or at a cut,
    is not faded in, one that ends at the clip's last frame, or right before a cut, is not faded
    out: the face was there all along, or the whole picture changes there anyway.
    A sequence shorter than 2 F frames peaks below 1. fade_frames 0 = every weight 1."""
    check_number("fade_frames", fade_frames, 0, integer=True, note=" (0 = no fades)")
    parts = []
    for sequence in plan.sequences:
        position = np.arange(len(sequence), dtype=np.float64)
        weight = np.ones(len(sequence))
        if sequence.frames[0] > 0 and sequence.frames[0] not in plan.cuts:
            weight = np.minimum(weight, (position + 1) / (fade_frames + 1))
        if sequence.frames[-1] < plan.frame_count - 1 and sequence.frames[-1] + 1 not in plan.cuts:
            weight = np.minimum(weight, (len(sequence) - position) / (fade_frames + 1))
        parts.append(weight)
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
