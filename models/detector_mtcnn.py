"""MTCNN face detector from the optional facenet_pytorch package (its weights ship inside it).

Offered only when facenet_pytorch is importable; FUSE never installs it (it pins old torch
versions). Landmarks come in our order: left eye, right eye, nose, left and right mouth corner.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .detector_common import DetectorLoadError, FrameFaces, no_faces

MIN_FACE_SIZE = 20  # px, facenet_pytorch's default


def mtcnn_available() -> bool:
    """True when the facenet_pytorch package is importable (checked without importing it)."""
    return importlib.util.find_spec("facenet_pytorch") is not None


class MtcnnFaceDetector:
    """facenet_pytorch.MTCNN keeping every face, on a whole batch of equal-size frames per call."""

    def __init__(self, name: str, device=None) -> None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as error:  # installed, but one of its own dependencies is missing
            raise DetectorLoadError(f"detector 'mtcnn' needs facenet_pytorch, which is installed but fails to import ({error}); reinstall facenet-pytorch, or choose another detector") from error
        self.name = name
        self._mtcnn = MTCNN(keep_all=True, select_largest=False, min_face_size=MIN_FACE_SIZE, device=device)

    def __repr__(self) -> str:
        return f"MtcnnFaceDetector({self.name!r})"

    def detect_batch(self, frames_rgb_uint8: np.ndarray, score_threshold: float = 0.5) -> list[FrameFaces]:
        """frames (B,H,W,3) uint8 RGB -> per frame (xyxy, score, landmarks), source pixels."""
        boxes, probs, points = self._mtcnn.detect(np.ascontiguousarray(frames_rgb_uint8), landmarks=True)
        results = []
        for frame_boxes, frame_probs, frame_points in zip(boxes, probs, points):
            if frame_boxes is None:
                results.append(no_faces(True))
                continue
            score = np.asarray(frame_probs, np.float32).reshape(-1)
            keep = score >= score_threshold
            results.append((np.asarray(frame_boxes, np.float32).reshape(-1, 4)[keep], score[keep], np.asarray(frame_points, np.float32).reshape(-1, 5, 2)[keep]))
        return results


def load_mtcnn_detector(name: str, path: str | None = None, device=None) -> MtcnnFaceDetector:
    """MTCNN with facenet_pytorch's bundled weights (path is unused: there is no file to choose)."""
    if not mtcnn_available():
        raise DetectorLoadError("detector 'mtcnn' needs the facenet_pytorch package, which is not installed; pip install facenet-pytorch, or choose another detector")
    return MtcnnFaceDetector(name, device)
