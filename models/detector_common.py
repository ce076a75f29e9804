"""What every face detector backend shares: the load error, letterboxing, NMS, ONNX sessions.

Coordinates are pixels, xyxy, float32. "Source" is the frame the caller passed; "input" is the
letterboxed image the network sees.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Protocol, Tuple

import numpy as np

log = logging.getLogger(__name__)

# One frame's faces in source pixels: xyxy (n,4) float32, score (n,) float32, landmarks (n,5,2)
# float32 (left eye, right eye, nose, left and right mouth corner) or None.
FrameFaces = Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


class DetectorLoadError(ValueError):
    """A detector model file is missing a piece we need, corrupt, or of an unsupported kind."""


class FaceDetector(Protocol):
    """A loaded face detector. name is the option it was loaded from (e.g. "yolo/face_yolov8n.pt")."""

    name: str

    def detect_batch(self, frames_rgb_uint8: np.ndarray, score_threshold: float = 0.5) -> list[FrameFaces]:
        """frames (B,H,W,3) uint8 RGB -> one (xyxy, score, landmarks) per frame, source pixels, unclipped."""
        ...


def no_faces(with_landmarks: bool) -> FrameFaces:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32) if with_landmarks else None


def load_error(path: str, reason: str, fix: str = "re-download or re-export the file, or choose another detector") -> DetectorLoadError:
    return DetectorLoadError(f"detector model {path} could not be loaded: {reason}; {fix}")


@dataclass(frozen=True)
class Letterbox:
    """How a source frame was resized (keeping its aspect) and padded into the network input."""

    scale_x: float  # input pixels per source pixel
    scale_y: float
    left: int  # padding before the image, input pixels
    top: int

    def xy_to_source(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input-pixel points -> source pixels."""
        xy = np.asarray(xy, np.float32)
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] - self.left) / self.scale_x
        out[..., 1] = (xy[..., 1] - self.top) / self.scale_y
        return out

    def xyxy_to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """(n,4) input-pixel boxes -> source pixels."""
        return self.xy_to_source(np.asarray(xyxy, np.float32).reshape(-1, 2, 2)).reshape(-1, 4)


def letterbox_batch(frames: np.ndarray, input_hw: tuple[int, int], pad_value: int, centered: bool) -> tuple[np.ndarray, Letterbox]:
    """Resize (B,H,W,3) uint8 frames keeping their aspect to fit input_hw and pad the rest.

    centered=True splits the padding on both sides (ultralytics); False pads right and bottom
    only (insightface). Returns the (B,h,w,3) uint8 batch and the Letterbox that undoes it.
    """
    import cv2

    count, height, width = frames.shape[:3]
    input_h, input_w = input_hw
    scale = min(input_h / height, input_w / width)
    new_w = min(max(int(round(width * scale)), 1), input_w)
    new_h = min(max(int(round(height * scale)), 1), input_h)
    left = (input_w - new_w) // 2 if centered else 0
    top = (input_h - new_h) // 2 if centered else 0
    batch = np.full((count, input_h, input_w, 3), pad_value, np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    for index in range(count):
        frame = frames[index]
        if (new_h, new_w) != (height, width):
            frame = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
        batch[index, top : top + new_h, left : left + new_w] = frame
    return batch, Letterbox(new_w / width, new_h / height, left, top)


def nms(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression: indices of kept boxes, highest score first.

    A box is dropped when it overlaps an already kept, higher-scoring box by IoU > iou_threshold.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(score, np.float32), kind="stable")
    areas = np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.clip(np.minimum(xyxy[best, 2], xyxy[rest, 2]) - np.maximum(xyxy[best, 0], xyxy[rest, 0]), 0, None)
        inter_h = np.clip(np.minimum(xyxy[best, 3], xyxy[rest, 3]) - np.maximum(xyxy[best, 1], xyxy[rest, 1]), 0, None)
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def top_candidates(score: np.ndarray, score_threshold: float, max_candidates: int) -> np.ndarray:
    """Indices of scores >= score_threshold, at most max_candidates of the highest (bounds NMS time)."""
    index = np.flatnonzero(score >= score_threshold)
    if len(index) > max_candidates:
        index = index[np.argsort(-score[index], kind="stable")[:max_candidates]]
    return index


def onnx_session(path: str):
    """An onnxruntime CPU session for path; DetectorLoadError when the file is not a loadable model.

    onnxruntime ignores OMP_NUM_THREADS, so we pass it on: on a shared machine the user's cap holds.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit():
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: our own logging says what matters
    try:
        return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph classes
        raise load_error(path, f"it is not a valid ONNX model ({type(error).__name__}: {str(error).strip()[:300]})") from error
