"""From FUSE face crops to the lipsync model's face crop and back.

A FUSE crop (h x w, the face with context) is mapped to the model's square input (96 x 96 for
Wav2Lip) by one 2x3 affine per crop row. Wav2Lip was trained on face-detector boxes (brow to
chin, cheek to cheek) squashed to 96 x 96, with a little room under the chin at inference; the
affine reproduces that framing from what is known about the face, in this order:

1. five landmarks (eyes, nose, mouth corners): a similarity (scale, rotation, shift) fitted to
   the landmarks of a reference face, so the mouth lands where the model expects it;
2. the face box: squashed to the model square, with CHIN_ROOM of its height added below;
3. nothing: a centred box of CENTRED_FACE_FRACTION of the crop, so the mouth sits in the crop's
   lower centre (FUSE crops are centred on the face box).

Coordinates here are continuous pixel coordinates with pixel i spanning [i, i+1] (the xyxy
convention); affines handed to OpenCV are converted to its pixel-centre convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..compositing.plan import CropPlan
from ..models.face_embedders import ARCFACE_TEMPLATE_112
from ..core.types import FaceTracks
from ..analysis.pose import head_pose_from_landmarks

# InsightFace's 112 x 112 reference face (left eye, right eye, nose, left / right mouth corner),
# moved from its pixel-centre convention to the continuous coordinates used here.
REFERENCE_LANDMARKS_112 = ARCFACE_TEMPLATE_112 + 0.5
# The region of that reference frame shown to the model: the face box plus room below the chin.
REFERENCE_REGION_112 = (0.0, 0.0, 112.0, 118.0)
CHIN_ROOM = 0.05  # fraction of the box height added below a face box (Wav2Lip pads 10 px at 720p)
CENTRED_FACE_FRACTION = 0.8  # face box side / crop side when nothing else is known (plan_crops' default framing)


@dataclass(frozen=True)
class RowGeometry:
    """What is known about the face of each crop row (M rows, plan order), in crop pixels.

    face_xyxy (M,4) float64 face box, NaN rows unknown; landmarks (M,5,2) float64 or None, NaN
    rows unknown; score (M,) float64 detection score, NaN unknown; face_width_src (M,) float64
    face box width in source pixels; yaw_deg (M,) float64 or None (from the tracks' landmarks by tracking.pose; NaN where unknown).
    """

    face_xyxy: np.ndarray
    landmarks: np.ndarray | None
    score: np.ndarray
    face_width_src: np.ndarray
    yaw_deg: np.ndarray | None = None


def _plan_rows(plan: CropPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M,) source frames, (M,) track ids, (M,2,3) src -> crop affines (pixel centres)."""
    if not plan.sequences:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2, 3))
    frames = np.concatenate([s.frames for s in plan.sequences])
    track_ids = np.concatenate([np.full(len(s), s.track_id, np.int64) for s in plan.sequences])
    affines = np.concatenate([s.affine_src_to_crop for s in plan.sequences])
    return frames, track_ids, affines


def _map_points(affine_centres: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Continuous points (M,P,2) through pixel-centre affines (M,2,3)."""
    shifted = points - 0.5
    mapped = np.einsum("mij,mpj->mpi", affine_centres[:, :, :2], shifted) + affine_centres[:, None, :, 2]
    return mapped + 0.5


def centred_geometry(plan: CropPlan) -> RowGeometry:
    """Geometry when only the plan is known: a centred face box of CENTRED_FACE_FRACTION of the crop."""
    rows = plan.total_rows
    height, width = plan.crop_size or (1, 1)
    side = CENTRED_FACE_FRACTION * min(height, width)
    box = np.array([(width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2])
    _, _, affines = _plan_rows(plan)
    crop_px_per_src = np.sqrt(np.abs(np.linalg.det(affines[:, :, :2]))) if rows else np.zeros(0)
    return RowGeometry(
        face_xyxy=np.tile(box, (rows, 1)),
        landmarks=None,
        score=np.full(rows, np.nan),
        face_width_src=side / np.maximum(crop_px_per_src, 1e-12),
    )


def tracks_geometry(plan: CropPlan, tracks: FaceTracks) -> RowGeometry:
    """Geometry of each crop row from the tracks the plan was made from: box, landmarks, score.

    ValueError when the tracks do not belong to the plan (another clip or other track ids).
    """
    if tracks.frame_count != plan.frame_count or tuple(tracks.frame_size) != tuple(plan.frame_size):
        raise ValueError(
            f"tracks must be the FUSE_TRACKS the crop plan was made from ({plan.frame_count} frames of {plan.frame_size[1]}x{plan.frame_size[0]}), "
            f"but got {tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}"
        )
    frames, track_ids, affines = _plan_rows(plan)
    missing = sorted(set(track_ids.tolist()) - set(tracks.track_id.tolist()))
    if missing:
        raise ValueError(f"tracks must hold every track of the crop plan, but track ids {missing} are missing; connect the tracks the crop plan was made from")
    index = np.array([tracks.index_of(int(t)) for t in track_ids], np.int64)
    xyxy_src = tracks.xyxy[index, frames].astype(np.float64)  # (M,4)
    corners = np.stack([xyxy_src[:, [0, 1]], xyxy_src[:, [2, 1]], xyxy_src[:, [0, 3]], xyxy_src[:, [2, 3]]], axis=1)
    mapped = _map_points(affines, corners)
    face_xyxy = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1)
    landmarks = yaw_deg = None
    if tracks.landmarks is not None:
        landmarks_src = tracks.landmarks[index, frames].astype(np.float64)
        landmarks = _map_points(affines, landmarks_src)
        yaw_deg = head_pose_from_landmarks(landmarks_src, tracks.frame_size)[:, 1].astype(np.float64)  # NaN where unknown
    return RowGeometry(
        face_xyxy=face_xyxy,
        landmarks=landmarks,
        score=tracks.score[index, frames].astype(np.float64),
        face_width_src=xyxy_src[:, 2] - xyxy_src[:, 0],
        yaw_deg=yaw_deg,
    )


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2,3) least-squares similarity (uniform scale, rotation, shift, no reflection): source -> target.

    source, target (P,2). Closed form from the cross-covariance of the centred point sets.
    """
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    covariance = b.T @ a / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (a**2).sum() / len(source)
    scale = float((singular * np.diag(sign)).sum() / max(variance, 1e-12))
    linear = scale * rotation
    return np.concatenate([linear, (target_mean - linear @ source_mean)[:, None]], axis=1)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2,3) affine applying inner, then outer."""
    return np.concatenate([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]], axis=1)


def _box_to_square(box: np.ndarray, face_size: int) -> np.ndarray:
    """(2,3) continuous-coordinate affine taking box (x1,y1,x2,y2) onto [0, face_size]^2."""
    x1, y1, x2, y2 = box
    sx, sy = face_size / max(x2 - x1, 1e-6), face_size / max(y2 - y1, 1e-6)
    return np.array([[sx, 0.0, -sx * x1], [0.0, sy, -sy * y1]])


def model_affines(geometry: RowGeometry, face_size: int) -> np.ndarray:
    """(M,2,3) float64 crop -> model affines in OpenCV's pixel-centre convention.

    Landmarks where all five are finite, else the face box (with CHIN_ROOM below it).
    """
    rows = len(geometry.face_xyxy)
    region = _box_to_square(np.array(REFERENCE_REGION_112), face_size)
    out = np.empty((rows, 2, 3), np.float64)
    for row in range(rows):
        points = None if geometry.landmarks is None else geometry.landmarks[row]
        if points is not None and np.isfinite(points).all():
            continuous = compose(region, fit_similarity(points, REFERENCE_LANDMARKS_112))
        else:
            x1, y1, x2, y2 = geometry.face_xyxy[row]
            continuous = _box_to_square(np.array([x1, y1, x2, y2 + CHIN_ROOM * (y2 - y1)]), face_size)
        linear = continuous[:, :2]
        out[row, :, :2] = linear
        out[row, :, 2] = continuous[:, 2] + linear @ np.array([0.5, 0.5]) - 0.5  # continuous -> pixel centres
    return out


def warp_to_model(crop_hwc: np.ndarray, affine: np.ndarray, face_size: int) -> np.ndarray:
    """One crop (h,w,3) float32 -> the model's face (S,S,3) float32 through affine (2,3) crop -> model.

    Area-averages first when the face is much larger than the model square (no aliasing).
    """
    crop_hwc = np.ascontiguousarray(crop_hwc, dtype=np.float32)
    shrink = float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))  # model px per crop px
    if shrink < 0.66:
        height, width = crop_hwc.shape[:2]
        new_width, new_height = max(int(round(width * shrink)), 1), max(int(round(height * shrink)), 1)
        crop_hwc = cv2.resize(crop_hwc, (new_width, new_height), interpolation=cv2.INTER_AREA)
        sx, sy = new_width / width, new_height / height
        # resized pixel centre x' = sx * (x + 0.5) - 0.5  ->  x = (x' + 0.5) / sx - 0.5
        from_resized = np.array([[1 / sx, 0.0, 0.5 / sx - 0.5], [0.0, 1 / sy, 0.5 / sy - 0.5]])
        affine = compose(affine, from_resized)
    return cv2.warpAffine(crop_hwc, affine, (face_size, face_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_from_model(image: np.ndarray, affine: np.ndarray, crop_size: tuple[int, int], cubic: bool = True) -> np.ndarray:
    """A model-space image (S,S[,C]) float32 -> crop space (h,w[,C]) through the inverse of affine (2,3).

    Outside the model square the result is 0. cubic=False (bilinear) for masks: no overshoot, and
    exactly 0 wherever the model-space mask is 0 around the sample.
    """
    height, width = crop_size
    interpolation = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return cv2.warpAffine(image, affine, (width, height), flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def lower_face_mask(face_size: int) -> np.ndarray:
    """(S,S) float32 edit mask in model space: a feathered ellipse over mouth, chin and jaw.

    1 inside 70% of the ellipse radius, falling smoothly to exactly 0 at the ellipse, 0 outside.
    The ellipse spans x 17%..83%, y 48%..98% of the model square (the half Wav2Lip regenerates).
    """
    centre_x, centre_y = 0.5 * face_size, 0.73 * face_size
    radius_x, radius_y = 0.33 * face_size, 0.25 * face_size
    ys, xs = np.mgrid[0:face_size, 0:face_size].astype(np.float64) + 0.5
    radius = np.sqrt(((xs - centre_x) / radius_x) ** 2 + ((ys - centre_y) / radius_y) ** 2)
    t = np.clip((1.0 - radius) / 0.3, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)
