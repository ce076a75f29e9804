"""Builders for tracking tests: face paths and the FaceDetections a detector would report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from comfyui_fuse.core.types import FaceDetections

FRAME_SIZE = (720, 1280)  # (H, W)


def moving_box(frames: int, x: float, y: float, size: float, vx: float = 0.0, vy: float = 0.0) -> np.ndarray:
    """(frames,4) xyxy of a size x size face whose top-left starts at (x, y) and moves (vx, vy) px/frame."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    start = np.array([x, y, x + size, y + size], np.float64)
    return start + t * np.array([vx, vy, vx, vy])


def build_detections(
    paths: list[np.ndarray],
    *,
    frame_size=FRAME_SIZE,
    scores: float | list[float] = 0.9,
    extra: list[tuple[int, list[float]]] = (),
    landmarks: bool = False,
    embeddings: list[np.ndarray] | None = None,
    sampled_frames=None,
) -> FaceDetections:
    """FaceDetections from per-face paths ((N,4) xyxy, NaN rows = not detected there) plus `extra`
    (frame, xyxy) false positives. landmarks: five points at fixed spots of each box. embeddings:
    one (D,) vector per path (false positives get a random one). Rows are ordered by frame."""
    frame_count = len(paths[0]) if paths else 1 + max((f for f, _ in extra), default=0)
    rows = []
    for index, path in enumerate(paths):
        score = scores[index] if isinstance(scores, (list, tuple)) else scores
        for frame in range(frame_count):
            if np.isfinite(path[frame]).all():
                rows.append((frame, index, path[frame], score))
    for frame, box in extra:
        rows.append((frame, -1, np.asarray(box, np.float64), 0.6))
    rows.sort(key=lambda row: (row[0], row[1]))
    xyxy = np.array([r[2] for r in rows], np.float32).reshape(-1, 4)
    spots = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)
    lm = xyxy[:, None, :2] + spots[None] * (xyxy[:, None, 2:] - xyxy[:, None, :2]) if landmarks else None
    embedding = None
    if embeddings is not None:
        rng = np.random.default_rng(0)
        embedding = np.array([embeddings[r[1]] if r[1] >= 0 else rng.normal(size=len(embeddings[0])) for r in rows], np.float32)
    return FaceDetections(
        frame=np.array([r[0] for r in rows], np.int64),
        xyxy=xyxy,
        score=np.array([r[3] for r in rows], np.float32),
        frame_count=frame_count,
        frame_size=frame_size,
        landmarks=lm,
        embedding=embedding,
        sampled_frames=sampled_frames,
    )


def drop(path: np.ndarray, frames) -> np.ndarray:
    """A copy of path with the given frames not detected."""
    out = path.copy()
    out[list(frames) if not isinstance(frames, slice) else frames] = np.nan
    return out


@pytest.fixture
def builders():
    """The builders, as a namespace: builders.moving_box(...), builders.detections(...), builders.drop(...)."""

    return SimpleNamespace(moving_box=moving_box, detections=build_detections, drop=drop, frame_size=FRAME_SIZE)
