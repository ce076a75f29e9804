"""Frame-to-frame association: a gated cost between predicted track boxes and detections, solved
globally per frame (Hungarian, scipy.optimize.linear_sum_assignment).

A pair may match when its IoU reaches iou_threshold OR its centres are within the distance gate.
The seed tracker used a fixed 100 px radius. FUSE keeps `distance_threshold` in pixels but scales
it down for faces smaller than REFERENCE_FACE_SIZE: the radius is
`distance_threshold * min(1, size / REFERENCE_FACE_SIZE)`, so the default (100) still means
100 px for faces of 100 px and more, and one face width for a 25 px face (a tiny face is never
matched to something four of its widths away). Big faces need no larger radius: their IoU gate
already covers large moves. Inside the gate the cost is measured in face sizes, so it means the
same for a 20 px face as for a 400 px face. A face does not change size by more than
MAX_SIZE_RATIO from one frame to the next (a hand over the chin shrinks the box by a third), so
a box twice as large or small is never the same face (a false positive, or another face).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .boxes import face_size, iou_matrix, xyxy_to_cxcywh

REFERENCE_FACE_SIZE = 100.0  # px: the face size the seed's 100 px distance threshold was set for
MAX_SIZE_RATIO = 2.0  # a match never changes the face size (sqrt(w*h)) by more than this factor
_INFEASIBLE = 1e9  # stands in for a gated-out pair inside the solver


def distance_gate(size: np.ndarray, distance_threshold: float) -> np.ndarray:
    """Centre-distance radius in pixels for faces of `size` px (sqrt(w*h)): scaled down below 100 px."""
    return distance_threshold * np.minimum(1.0, np.asarray(size, np.float64) / REFERENCE_FACE_SIZE)


def association_cost(predicted_xyxy: np.ndarray, detected_xyxy: np.ndarray, *, iou_threshold: float, distance_threshold: float, radius_scale: np.ndarray | None = None) -> np.ndarray:
    """Cost of matching each predicted track box to each detection, inf where the gate forbids it.

    predicted_xyxy (m,4) and detected_xyxy (n,4): source-frame pixels. radius_scale (m,) widens the
    distance gate per track (a track unseen for a while is less certain of where it is).
    Returns (m,n) float64: (1 - IoU) + centre distance in face sizes + |log size ratio|; inf
    outside the gate or when the sizes differ by more than MAX_SIZE_RATIO.
    """
    predicted = np.asarray(predicted_xyxy, np.float64).reshape(-1, 4)
    detected = np.asarray(detected_xyxy, np.float64).reshape(-1, 4)
    if len(predicted) == 0 or len(detected) == 0:
        return np.zeros((len(predicted), len(detected)))
    iou = iou_matrix(predicted, detected)
    centre_p = xyxy_to_cxcywh(predicted)[:, None, :2]
    centre_d = xyxy_to_cxcywh(detected)[None, :, :2]
    distance = np.linalg.norm(centre_p - centre_d, axis=-1)
    size_p = face_size(predicted)[:, None]
    size_d = face_size(detected)[None, :]
    radius = distance_gate(size_p, distance_threshold)
    if radius_scale is not None:
        radius = radius * np.asarray(radius_scale, np.float64).reshape(-1, 1)
    log_ratio = np.abs(np.log(size_d / size_p))
    allowed = (((iou >= iou_threshold) & (iou > 0)) | (distance <= radius)) & (log_ratio <= np.log(MAX_SIZE_RATIO))
    cost = (1.0 - iou) + distance / size_p + log_ratio
    return np.where(allowed, cost, np.inf)


def assign(cost: np.ndarray) -> np.ndarray:
    """Globally optimal pairs for a (m,n) cost with inf = forbidden: (k,2) int64 rows (track, detection).

    The most pairs the gate allows are made first, then the cheapest such set (forbidden pairs cost
    far more than any allowed one), so one track can never take a face another track needs more.
    """
    cost = np.asarray(cost, np.float64)
    if cost.size == 0:
        return np.zeros((0, 2), np.int64)
    finite = np.isfinite(cost)
    rows, cols = linear_sum_assignment(np.where(finite, cost, _INFEASIBLE))
    keep = finite[rows, cols]
    return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
