"""OpenCV's Haar cascade: the zero-download fallback face detector (low quality).

The cascade file ships with opencv-python (cv2.data.haarcascades). It finds frontal, upright,
unoccluded faces only, gives no landmarks and no calibrated confidence, and runs one frame at a
time on the CPU.
"""

from __future__ import annotations

import os

import numpy as np

from .detector_common import FrameFaces, load_error, no_faces

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# The cascade gives no confidence, so every face it finds gets this score: above the default
# threshold of 0.5, below anything a real detector is sure of. A threshold above it drops them all.
HAAR_SCORE = 0.6
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_SIZE = 20  # px; smaller faces are too blurry for the cascade's 24x24 window anyway


def cascade_path() -> str:
    """Where opencv-python keeps the frontal-face cascade."""
    import cv2

    return os.path.join(cv2.data.haarcascades, CASCADE_FILE)


class HaarFaceDetector:
    """OpenCV CascadeClassifier on each frame (grey, histogram-equalised)."""

    def __init__(self, name: str, path: str) -> None:
        import cv2

        self.name = name
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise load_error(path, "OpenCV could not read the Haar cascade", "reinstall opencv-python (4.x; 5.x has no cascades)")

    def __repr__(self) -> str:
        return f"HaarFaceDetector({self.name!r})"

    def detect_batch(self, frames_rgb_uint8: np.ndarray, score_threshold: float = 0.5) -> list[FrameFaces]:
        """frames (B,H,W,3) uint8 RGB -> per frame (xyxy, score=HAAR_SCORE, None), source pixels."""
        import cv2

        results = []
        for frame in frames_rgb_uint8:
            if HAAR_SCORE < score_threshold:
                results.append(no_faces(False))
                continue
            grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY))
            found = self._cascade.detectMultiScale(grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(MIN_SIZE, MIN_SIZE))
            xywh = np.asarray(found, np.float32).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            results.append((xyxy, np.full(len(xyxy), HAAR_SCORE, np.float32), None))
        return results


def load_haar_detector(name: str, path: str | None = None, device=None) -> HaarFaceDetector:
    """The frontal-face cascade from path (default: the one in opencv-python)."""
    return HaarFaceDetector(name, path or cascade_path())
