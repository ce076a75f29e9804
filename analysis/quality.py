"""Face image quality: how good a face looks in one frame, to pick each character's best reference.

Each measure is a score in 0..1 (1 = best), computed on the face box of one frame:
- sharpness: the variance v of the Laplacian of the grey face resized to SHARPNESS_SIDE px
  (so faces of every size are compared alike), as v / (v + SHARPNESS_HALF) (0.5 at 100, a
  common blur threshold for 8-bit images).
- exposure: the entropy of the grey face's 256-bin histogram over 8 bits: a flat, over- or
  under-exposed face uses few grey levels.
- resolution: the face box area over target_side^2, capped at 1.
- symmetry: how frontal the face is, from the landmarks: the smaller over the larger of the
  horizontal nose-to-eye distances (1 frontal, 0 full profile); from the head pose as cos(yaw)
  when there are no landmarks; unknown (NaN) without either.
- artifacts: 1 minus JPEG/MPEG blockiness: the mean absolute step across pixel columns and rows
  on the frame's 8 px grid over the mean step elsewhere; a ratio of 1 is clean, 2 or more scores 0.
The combined score is the weighted mean of the known measures (QUALITY_WEIGHTS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARPNESS_SIDE = 128  # px the face is resized to before the Laplacian
SHARPNESS_HALF = 100.0  # Laplacian variance scored 0.5
BLOCK = 8  # the DCT block of JPEG and MPEG codecs, in frame pixels
QUALITY_WEIGHTS = {"sharpness": 0.3, "exposure": 0.15, "resolution": 0.25, "symmetry": 0.2, "artifacts": 0.1}
MEASURES = tuple(QUALITY_WEIGHTS)


@dataclass(frozen=True)
class FaceQuality:
    """One face's measures (0..1, NaN = unknown) and their weighted mean `score`."""

    sharpness: float
    exposure: float
    resolution: float
    symmetry: float
    artifacts: float

    @property
    def score(self) -> float:
        values = np.array([getattr(self, name) for name in MEASURES], np.float64)
        weights = np.array([QUALITY_WEIGHTS[name] for name in MEASURES])
        known = np.isfinite(values)
        return float((values[known] * weights[known]).sum() / weights[known].sum())

    def as_dict(self) -> dict:
        """{"score", "sharpness", ...} rounded to 4 decimals; unknown measures are None."""
        values = {"score": self.score, **{name: getattr(self, name) for name in MEASURES}}
        return {name: (round(float(v), 4) if np.isfinite(v) else None) for name, v in values.items()}


def _grey(pixels_rgb_uint8: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma
    return pixels_rgb_uint8[..., :3].astype(np.float32) @ weights


def sharpness_score(face_grey: np.ndarray) -> float:
    import cv2

    resized = cv2.resize(face_grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA if min(face_grey.shape) > SHARPNESS_SIDE else cv2.INTER_LINEAR)
    variance = float(cv2.Laplacian(resized, cv2.CV_32F).var())
    return variance / (variance + SHARPNESS_HALF)


def exposure_score(face_grey: np.ndarray) -> float:
    histogram = np.bincount(np.clip(np.round(face_grey), 0, 255).astype(np.int64).reshape(-1), minlength=256).astype(np.float64)
    probability = histogram[histogram > 0] / histogram.sum()
    return float(-(probability * np.log2(probability)).sum() / 8.0)


def symmetry_score(landmarks: np.ndarray | None, yaw_deg: float = float("nan")) -> float:
    """landmarks (5,2) or None; yaw in degrees (NaN = unknown)."""
    if landmarks is not None and np.isfinite(landmarks).all():
        nose_x = landmarks[2, 0]
        to_left, to_right = abs(nose_x - landmarks[0, 0]), abs(landmarks[1, 0] - nose_x)
        larger = max(to_left, to_right)
        return float(min(to_left, to_right) / larger) if larger > 0 else float("nan")
    if np.isfinite(yaw_deg):
        return float(max(np.cos(np.radians(yaw_deg)), 0.0))
    return float("nan")


def artifact_score(grey: np.ndarray, origin_xy: tuple[int, int]) -> float:
    """1 - blockiness of a grey region whose top-left pixel is frame pixel origin_xy."""
    ratios = []
    for axis, origin in ((1, origin_xy[0]), (0, origin_xy[1])):
        steps = np.abs(np.diff(grey, axis=axis))  # step k lies between region pixels k and k+1
        if steps.shape[axis] < 2 * BLOCK:
            continue
        on_grid = (origin + np.arange(steps.shape[axis]) + 1) % BLOCK == 0
        step_means = steps.mean(axis=1 - axis)
        off = step_means[~on_grid].mean()
        ratios.append(step_means[on_grid].mean() / off if off > 1e-3 else 1.0)
    if not ratios:
        return float("nan")
    return float(np.clip(2.0 - max(ratios), 0.0, 1.0))


def face_quality(frame_rgb_uint8: np.ndarray, xyxy: np.ndarray, landmarks: np.ndarray | None = None, yaw_deg: float = float("nan"), target_side: float = 256.0) -> FaceQuality:
    """The quality of one face.

    frame_rgb_uint8 (H,W,3) uint8; xyxy (4,) source pixels; landmarks (5,2) source pixels or
    None; yaw_deg the head yaw (NaN = unknown); target_side: the face side (px) that scores full
    resolution. A box with no pixel inside the frame scores 0 everywhere it can be measured.
    """
    height, width = frame_rgb_uint8.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in np.round(np.asarray(xyxy, np.float64)))
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    box_w, box_h = float(xyxy[2] - xyxy[0]), float(xyxy[3] - xyxy[1])
    resolution = float(min(max(box_w, 0.0) * max(box_h, 0.0) / (target_side * target_side), 1.0))
    symmetry = symmetry_score(landmarks, yaw_deg)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return FaceQuality(0.0, 0.0, resolution, symmetry, float("nan"))
    grey = _grey(frame_rgb_uint8[y1:y2, x1:x2])
    return FaceQuality(sharpness_score(grey), exposure_score(grey), resolution, symmetry, artifact_score(grey, (x1, y1)))
