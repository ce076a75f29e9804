"""Builders for the face analysis tests: faces at a known head pose, tracks over frame spans.

Tests import this module by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from comfyui_fuse.analysis.pose import GENERIC_FACE_3D_MM, angles_to_rotation, camera_matrix
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks

FRAME_SIZE = (720, 1280)


def project_face(pose_deg, centre_xy=(640.0, 360.0), eye_distance_px=90.0, frame_size=FRAME_SIZE) -> np.ndarray:
    """(5,2) image points of GENERIC_FACE_3D_MM at pose [pitch, yaw, roll], seen through
    pose.camera_matrix(frame_size), its nose tip projected at centre_xy, placed at the depth where a
    frontal face's eyes are eye_distance_px apart."""
    intrinsics = camera_matrix(frame_size)
    focal = intrinsics[0, 0]
    depth = focal * 63.0 / eye_distance_px
    direction = np.linalg.inv(intrinsics) @ np.array([centre_xy[0], centre_xy[1], 1.0])
    nose = direction * depth / direction[2]
    camera_points = GENERIC_FACE_3D_MM @ angles_to_rotation(np.asarray(pose_deg, np.float64)).T + nose
    projected = camera_points @ intrinsics.T
    return projected[:, :2] / projected[:, 2:]


def points_68_from_five(five_3d: np.ndarray, spread: float = 3.0) -> np.ndarray:
    """(5,3) points -> (68,3) in the iBUG layout: each eye contour around its eye centre (mean
    exact), nose tip at 30, mouth corners at 48 and 54, every other point at the face's centroid."""
    points = np.tile(five_3d.mean(axis=0), (68, 1))
    ring = np.array([[-1, 0, 0], [-0.5, -0.5, 0], [0.5, -0.5, 0], [1, 0, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]]) * spread
    points[36:42] = five_3d[0] + ring
    points[42:48] = five_3d[1] + ring
    points[30] = five_3d[2]
    points[48] = five_3d[3]
    points[54] = five_3d[4]
    return points


def span_tracks(frame_count: int, spans: list[tuple[int, int]], boxes: list | None = None, fps=Fraction(25), frame_size=FRAME_SIZE, landmarks: np.ndarray | None = None) -> FaceTracks:
    """One track per (start, stop) frame span (half-open), ids from 1, score 0.9.

    boxes: one xyxy per track (default: 100 px squares side by side); landmarks (k,N,5,2) or None.
    """
    count = len(spans)
    xyxy = np.full((count, frame_count, 4), np.nan, np.float32)
    state = np.full((count, frame_count), ABSENT, np.uint8)
    for index, (start, stop) in enumerate(spans):
        box = boxes[index] if boxes is not None else (50 + 150 * index, 100, 150 + 150 * index, 200)
        xyxy[index, start:stop] = box
        state[index, start:stop] = DETECTED
    return FaceTracks(
        track_id=np.arange(1, count + 1), xyxy=xyxy, state=state, score=np.where(state != ABSENT, 0.9, 0).astype(np.float32),
        frame_count=frame_count, frame_size=frame_size, fps=fps, landmarks=landmarks,
    )
