"""Box geometry shared by the tracking stages: xyxy <-> centre/size, face size, IoU.

All boxes are source-frame pixels. Centre/size form is (cx, cy, w, h); the "size" of a face is
sqrt(w * h), the side of the square with the same area, so one number describes its scale.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) x1, y1, x2, y2 -> (..., 4) cx, cy, w, h (float64)."""
    xyxy = np.asarray(xyxy, np.float64)
    centre = (xyxy[..., :2] + xyxy[..., 2:]) / 2
    size = xyxy[..., 2:] - xyxy[..., :2]
    return np.concatenate([centre, size], axis=-1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """(..., 4) cx, cy, w, h -> (..., 4) x1, y1, x2, y2 (float64)."""
    cxcywh = np.asarray(cxcywh, np.float64)
    half = cxcywh[..., 2:] / 2
    return np.concatenate([cxcywh[..., :2] - half, cxcywh[..., :2] + half], axis=-1)


def face_size(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) boxes -> (...) sqrt(w * h) in pixels, at least 1 so it can divide."""
    xyxy = np.asarray(xyxy, np.float64)
    area = np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None) * np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)
    return np.maximum(np.sqrt(area), 1.0)


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """(m,4) and (n,4) boxes -> (m,n) intersection over union (float64, 0 for empty boxes)."""
    a = np.asarray(a_xyxy, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b_xyxy, np.float64).reshape(1, -1, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def touches_border(xyxy: np.ndarray, frame_size: tuple[int, int], margin_fraction: float = 0.01) -> np.ndarray:
    """(..., 4) boxes -> (...) bool: the box reaches within margin_fraction * max(H, W) + 1 px of an edge."""
    height, width = frame_size
    margin = margin_fraction * max(height, width) + 1.0
    xyxy = np.asarray(xyxy, np.float64)
    return (xyxy[..., 0] <= margin) | (xyxy[..., 1] <= margin) | (xyxy[..., 2] >= width - margin) | (xyxy[..., 3] >= height - margin)
