"""Mouth opening from InsightFace's 68 landmarks (iBUG layout, 1k3d68.onnx): the fallback face signal.

The opening is the mean gap between the inner lips (points 61-67, 62-66, 63-65) divided by the
mouth width (corners 48-54), so it does not depend on the face's size in the frame: about 0 for
a closed mouth, 0.3-0.6 for an open one.
"""

from __future__ import annotations

import numpy as np

UPPER_INNER_LIP = (61, 62, 63)
LOWER_INNER_LIP = (67, 66, 65)
MOUTH_CORNERS = (48, 54)


def mouth_opening(points_68: np.ndarray) -> np.ndarray:
    """(n,68,D>=2) landmarks in pixels -> (n,) float64 inner-lip gap / mouth width."""
    points = np.asarray(points_68, np.float64)
    if points.ndim != 3 or points.shape[1] != 68 or points.shape[2] < 2:
        raise ValueError(f"points_68 must be a 3D array with shape (_, 68, 2 or 3), but got shape {points.shape}")
    xy = points[..., :2]
    gap = np.linalg.norm(xy[:, list(UPPER_INNER_LIP)] - xy[:, list(LOWER_INNER_LIP)], axis=2).mean(axis=1)
    width = np.linalg.norm(xy[:, MOUTH_CORNERS[0]] - xy[:, MOUTH_CORNERS[1]], axis=1)
    return gap / np.maximum(width, 1e-6)
