"""InsightFace's 68-point 3D landmarker (buffalo_l/1k3d68.onnx) on onnxruntime, for head pose.

As insightface runs it (model_zoo/landmark.py), without the insightface package:
- crop: a square of CROP_SCALE x the box's longer side around the box centre, resized to the
  input side (192), no rotation, black outside: p -> s (p - centre) + side / 2 with
  s = side / (CROP_SCALE max(w, h));
- input: RGB, raw 0..255 (1k3d68 normalises inside its graph: insightface reads mean 0, std 1
  off it), NCHW float32;
- output: (B, 3309), 1103 points of (x, y, z); the last 68 are the iBUG landmarks in units of
  half the crop: x, y -> (v + 1) * side / 2 crop pixels, z -> v * side / 2; mapped back to the
  source by the inverse crop (z divided by s, so it is in source pixels too).
Dropdown entries (LANDMARKERS, models/registry.py): "auto" (the first 1k3d68 file found, else
none), "none" (head pose from the five detector landmarks), "insightface/<file>".
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .detector_common import DetectorLoadError, onnx_session
from .registry import FileModelRegistry, ModelBackend
from .store import ModelFolders

CROP_SCALE = 1.5  # crop side / longer box side
POINTS = 68


class LandmarkerLoadError(ValueError):
    """A 3D landmark model file is corrupt or not shaped like 1k3d68."""


def is_landmark_3d_file(file: str) -> bool:
    name = file.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name.endswith(".onnx") and name.startswith("1k3d68")


def landmarker_options(models: ModelFolders) -> list[str]:
    """Dropdown entries: "auto", "none", then "insightface/<file>" for each 1k3d68 file."""
    return LANDMARKERS.options(models)


class Landmarker3D:
    """A 68-point 3D landmarker; infer maps a (b,3,s,s) float32 batch to (b, 3P) predictions."""

    def __init__(self, name: str, infer: Callable[[np.ndarray], np.ndarray], side: int, batched: bool) -> None:
        self.name = name
        self._infer = infer
        self.side = side
        self.batched = batched

    def __repr__(self) -> str:
        return f"Landmarker3D({self.name!r}, {self.side}x{self.side})"

    def crop_affines(self, xyxy: np.ndarray) -> np.ndarray:
        """(n,2,3) float64 source -> crop affines (pixel centres) for (n,4) boxes."""
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        scale = self.side / (CROP_SCALE * np.maximum((xyxy[:, 2:] - xyxy[:, :2]).max(axis=1), 1e-6))
        affine = np.zeros((len(xyxy), 2, 3))
        affine[:, 0, 0] = affine[:, 1, 1] = scale
        affine[:, :, 2] = self.side / 2 - scale[:, None] * centre
        return affine

    def landmarks_3d(self, frame_rgb_uint8: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """(H,W,3) uint8 RGB frame and (n,4) face boxes -> (n,68,3) float32: x, y source pixels, z depth (source pixel units)."""
        import cv2

        affines = self.crop_affines(xyxy)
        if not len(affines):
            return np.zeros((0, POINTS, 3), np.float32)
        crops = np.stack([cv2.warpAffine(frame_rgb_uint8, affine, (self.side, self.side), flags=cv2.INTER_LINEAR, borderValue=0) for affine in affines])
        blob = crops.transpose(0, 3, 1, 2).astype(np.float32)  # BHWC -> BCHW, raw 0..255
        if self.batched:
            predictions = np.asarray(self._infer(blob), np.float64)
        else:
            predictions = np.concatenate([np.asarray(self._infer(blob[i : i + 1]), np.float64) for i in range(len(blob))])
        points = predictions.reshape(len(blob), -1, 3)[:, -POINTS:].copy()
        half = self.side // 2
        points[..., :2] = (points[..., :2] + 1) * half
        points[..., 2] *= half
        scale = affines[:, 0, 0]
        points[..., :2] = (points[..., :2] - affines[:, None, :, 2]) / scale[:, None, None]  # crop -> source
        points[..., 2] /= scale[:, None]
        return points.astype(np.float32)


def _load_error(path: str, reason: str) -> LandmarkerLoadError:
    return LandmarkerLoadError(f"3D landmark model {path} could not be loaded: {reason}; choose InsightFace's 1k3d68.onnx or 'none'")


def load_landmarker_3d(name: str, path: str) -> Landmarker3D:
    """Load a 1k3d68-shaped .onnx on CPU onnxruntime: (batch, 3, s, s) in, (batch, 3P) out, P >= 68."""
    try:
        session = onnx_session(path)
    except DetectorLoadError as error:
        raise _load_error(path, "it is not a valid ONNX model") from error
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if len(inputs) == 1 else ()
    if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
        raise _load_error(path, f"it takes inputs of shapes {[i.shape for i in inputs]}, not one (batch, 3, 192, 192) face crop")
    width = outputs[0].shape[-1] if len(outputs) == 1 and len(outputs[0].shape) == 2 else None
    if not isinstance(width, int) or width % 3 or width < 3 * POINTS:
        raise _load_error(path, f"it has outputs of shapes {[o.shape for o in outputs]}, not one (batch, 3309) of 3D points")
    if isinstance(shape[0], int) and shape[0] != 1:
        raise _load_error(path, f"its batch size is fixed at {shape[0]}; export it with batch 1 or a dynamic batch")
    input_name, output_name = inputs[0].name, outputs[0].name

    def infer(blob: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: blob})[0]

    return Landmarker3D(name, infer, int(shape[2]), batched=not isinstance(shape[0], int))


def load_face_landmarker(option: str, models: ModelFolders) -> Landmarker3D | None:
    """The landmarker an option names (cached while the file is unchanged); None for "none" and
    for "auto" without a 1k3d68 file. models: the model folders (a store.ModelStore or the host's)."""
    return LANDMARKERS.load(option, models)


LANDMARKERS = FileModelRegistry("landmarks_3d", example="insightface/buffalo_l/1k3d68.onnx", with_none=True, cache_size=1)
LANDMARKERS.register(ModelBackend(id="insightface", load=lambda name, path, device: load_landmarker_3d(name, path), folder="insightface", offers=is_landmark_3d_file))
