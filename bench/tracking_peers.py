"""The trackers the benchmark compares, all fed the same FaceDetections.

Each returns the per-frame output as a list over frames of (ids (m,) int64, xyxy (m,4) float64).
- seed: the issue's starting algorithm, implemented as described (bench only);
- ByteTrack and BoT-SORT: ultralytics.trackers with their bytetrack.yaml / botsort.yaml defaults
  (BoT-SORT without ReID and without camera-motion compensation: there are no images);
- FUSE: comfyui_fuse.tracking.track_faces with its defaults (it uses the detections' cuts and
  embeddings when they carry them; the peers cannot).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from comfyui_fuse.tracking.boxes import iou_matrix, xyxy_to_cxcywh
from comfyui_fuse.tracking.track import track_faces
from comfyui_fuse.core.types import FaceDetections

Frames = list[tuple[np.ndarray, np.ndarray]]


def _rows_by_frame(detections: FaceDetections) -> list[np.ndarray]:
    return [np.flatnonzero(detections.frame == frame) for frame in range(detections.frame_count)]


def seed_tracker(detections: FaceDetections, iou_threshold: float = 0.3, distance_threshold: float = 100.0, smooth_window: int = 3) -> Frames:
    """The seed: for each face of frame N-1 (in track order) the best free face of frame N; score
    IoU + 1/(1+dist/100) when IoU >= iou_threshold, else 1/(1+dist/100) within distance_threshold
    px; unmatched tracks end, unmatched faces start tracks; boxes are a trailing moving average of
    the last smooth_window detections."""
    active: list[tuple[int, list[np.ndarray]]] = []  # (id, boxes so far)
    next_id = 1
    out: Frames = []
    for rows in _rows_by_frame(detections):
        boxes = detections.xyxy[rows].astype(np.float64)
        centres = xyxy_to_cxcywh(boxes)[:, :2]
        taken = np.zeros(len(boxes), bool)
        survivors = []
        for track_id, history in active:
            last = history[-1]
            iou = iou_matrix(last[None], boxes)[0] if len(boxes) else np.zeros(0)
            distance = np.linalg.norm(centres - xyxy_to_cxcywh(last)[:2], axis=1)
            closeness = 1.0 / (1.0 + distance / 100.0)
            score = np.where(iou >= iou_threshold, iou + closeness, np.where(distance <= distance_threshold, closeness, -np.inf))
            score[taken] = -np.inf
            if len(score) and np.isfinite(score.max()):
                best = int(np.argmax(score))
                taken[best] = True
                survivors.append((track_id, history + [boxes[best]]))
        for index in np.flatnonzero(~taken):
            survivors.append((next_id, [boxes[index]]))
            next_id += 1
        active = survivors
        ids = np.array([track_id for track_id, _ in active], np.int64)
        smoothed = np.array([np.mean(history[-smooth_window:], axis=0) for _, history in active]).reshape(-1, 4)
        out.append((ids, smoothed))
    return out


class _DetectionBoxes:
    """The minimal results-like object ultralytics trackers read: xyxy, xywh (centre), conf, cls,
    len() and boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), np.float32)
        self.xywh = xyxy_to_cxcywh(self.xyxy).astype(np.float32)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> "_DetectionBoxes":
        return _DetectionBoxes(self.xyxy[index], self.conf[index])


def _tracker_args(name: str, **overrides):
    import ultralytics
    from ultralytics.utils import YAML, IterableSimpleNamespace

    path = Path(ultralytics.__file__).parent / "cfg" / "trackers" / name
    return IterableSimpleNamespace(**{**YAML.load(path), **overrides})


def _run_ultralytics(tracker, detections: FaceDetections) -> Frames:
    out: Frames = []
    for rows in _rows_by_frame(detections):
        result = tracker.update(_DetectionBoxes(detections.xyxy[rows], detections.score[rows]), None)
        result = np.asarray(result, np.float64).reshape(-1, 8)
        out.append((result[:, 4].astype(np.int64), result[:, :4]))
    return out


def bytetrack(detections: FaceDetections) -> Frames:
    from ultralytics.trackers import BYTETracker

    return _run_ultralytics(BYTETracker(_tracker_args("bytetrack.yaml")), detections)


def botsort(detections: FaceDetections) -> Frames:
    from ultralytics.trackers import BOTSORT

    return _run_ultralytics(BOTSORT(_tracker_args("botsort.yaml", gmc_method="none", with_reid=False)), detections)


def fuse(detections: FaceDetections, fps=25) -> Frames:
    tracks = track_faces(detections, fps=fps)
    order = np.argsort(tracks.row_frame, kind="stable")
    bounds = np.searchsorted(tracks.row_frame[order], np.arange(detections.frame_count + 1))
    ids = tracks.track_id[tracks.track_of_row]
    return [(ids[order[a:b]], tracks.row_xyxy[order[a:b]].astype(np.float64)) for a, b in zip(bounds[:-1], bounds[1:])]


TRACKERS = {"seed": seed_tracker, "ByteTrack": bytetrack, "BoT-SORT": botsort, "FUSE": fuse}
