"""Face embedder registry and InsightFace ArcFace on onnxruntime (without the insightface package).

A face embedder maps a face to a vector; faces of one person have a high cosine similarity.
Backends register an id and the model folder their files come from in EMBEDDERS
(models/registry.py); dropdown entries are "<id>/<file>", plus "auto" (the first file any backend
offers, else none) and "none".

ArcFace as InsightFace runs it (buffalo_l/w600k_r50.onnx, antelopev2/glintr100.onnx):
- the face is aligned first: a similarity transform (rotation, uniform scale, shift; least
  squares) takes its five landmarks onto ARCFACE_TEMPLATE_112 and warps it to 112x112
  (bilinear, black outside). The landmarks are used as given, in OpenCV's pixel-centre
  convention, exactly as insightface hands SCRFD's points to cv2.warpAffine. Without landmarks
  the five points are estimated from the face box (compositing.align.MEAN_LANDMARKS_IN_BOX).
- input: RGB (insightface reads BGR and swaps to RGB in cv2.dnn.blobFromImages),
  (x - 127.5) / 127.5, NCHW float32 (buffalo_l's w600k_r50 and antelopev2's glintr100 are
  PyTorch exports; old MXNet exports normalise inside the graph and are not supported);
- output: (B, 512), L2-normalised here (insightface's normed_embedding).
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

import numpy as np

from ..compositing.align import MEAN_LANDMARKS_IN_BOX, similarity_transforms
from .detector_common import DetectorLoadError, onnx_session
from .registry import AUTO_OPTION, FileModelRegistry, ModelBackend, ModelChoice
from .store import ModelFolders

log = logging.getLogger(__name__)

ARCFACE_SIDE = 112
INPUT_MEAN = 127.5
INPUT_STD = 127.5
# InsightFace's arcface_dst: where the five points of an aligned 112x112 face lie (left eye, right
# eye, nose tip, left and right mouth corner; pixel centres).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float64,
)
# Files of an insightface pack that are not recognisers.
_NOT_RECOGNISERS = ("det_", "scrfd", "1k3d68", "2d106det", "genderage", "inswapper", "landmark")


class FaceEmbedderLoadError(ValueError):
    """An embedder file is corrupt or not a face recogniser."""


class FaceEmbedder(Protocol):
    """A loaded face embedder. name is the option it was loaded from; dimension the vector length."""

    name: str
    dimension: int

    def embed(self, frame_rgb_uint8: np.ndarray, xyxy: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(H,W,3) uint8 RGB frame, (n,4) boxes and (n,5,2) landmarks (source pixels, NaN rows
        unknown) -> (n, dimension) float32 unit vectors."""
        ...


def _basename(file: str) -> str:
    return file.replace("\\", "/").rsplit("/", 1)[-1].lower()


def is_arcface_file(file: str) -> bool:
    """An .onnx of an insightface folder that is not one of the pack's other models."""
    name = _basename(file)
    return name.endswith(".onnx") and not any(name.startswith(p) or p in name for p in _NOT_RECOGNISERS)


def embedder_options(models: ModelFolders) -> list[str]:
    """Dropdown entries: "auto", "none", then "<backend id>/<file>" for each file a backend offers.

    models: the model folders (a store.ModelStore or the host's).
    """
    return EMBEDDERS.options(models)


def resolve_embedder_option(option: str, models: ModelFolders | None = None) -> ModelChoice | None:
    """The backend and file (relative to its folder) an option names; None for "none" and for
    "auto" when no backend offers a file (models is needed for "auto" only)."""
    return EMBEDDERS.resolve(option, models)


def load_face_embedder(option: str, models: ModelFolders) -> FaceEmbedder | None:
    """Load the embedder an option names (cached while the file is unchanged); None for "none"
    and for "auto" without a model file."""
    embedder = EMBEDDERS.load(option, models)
    if embedder is None and option == AUTO_OPTION:
        log.info("embedder 'auto' found no face recogniser; faces are named face_1, face_2, ... per track")
    return embedder


def box_landmarks(xyxy: np.ndarray) -> np.ndarray:
    """(n,4) face boxes -> (n,5,2) the five points where they lie on average in a detector box."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    size = xyxy[:, None, 2:] - xyxy[:, None, :2]
    return xyxy[:, None, :2] + MEAN_LANDMARKS_IN_BOX[None] * size


def alignment_affines(xyxy: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(n,2,3) float64 affines (source pixels -> 112x112 aligned face) onto the ArcFace template.

    xyxy (n,4) boxes; landmarks (n,5,2) or None; rows with missing (NaN) landmarks use the box.
    """
    points = box_landmarks(xyxy)
    if landmarks is not None:
        landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
        known = np.isfinite(landmarks).all(axis=(1, 2))
        points[known] = landmarks[known]
    if not len(points):
        return np.zeros((0, 2, 3))
    return similarity_transforms(points, ARCFACE_TEMPLATE_112)


class ArcFaceEmbedder:
    """An InsightFace ArcFace recogniser; infer maps a (b,3,112,112) normalised float32 batch to (b, D)."""

    def __init__(self, name: str, infer: Callable[[np.ndarray], np.ndarray], batched: bool, dimension: int) -> None:
        self.name = name
        self._infer = infer
        self.batched = batched
        self.dimension = dimension

    def __repr__(self) -> str:
        return f"ArcFaceEmbedder({self.name!r}, {ARCFACE_SIDE}x{ARCFACE_SIDE} -> {self.dimension})"

    def align(self, frame_rgb_uint8: np.ndarray, xyxy: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(n,112,112,3) uint8 RGB faces aligned to the ArcFace template."""
        import cv2

        affines = alignment_affines(xyxy, landmarks)
        side = (ARCFACE_SIDE, ARCFACE_SIDE)
        faces = [cv2.warpAffine(frame_rgb_uint8, affine, side, flags=cv2.INTER_LINEAR, borderValue=0) for affine in affines]
        return np.stack(faces) if faces else np.zeros((0, *side, 3), np.uint8)

    def embed_aligned(self, faces_rgb_uint8: np.ndarray) -> np.ndarray:
        """(n,112,112,3) uint8 RGB aligned faces -> (n, D) float32 unit vectors."""
        if not len(faces_rgb_uint8):
            return np.zeros((0, self.dimension), np.float32)
        blob = (faces_rgb_uint8.transpose(0, 3, 1, 2).astype(np.float32) - INPUT_MEAN) / INPUT_STD  # BHWC -> BCHW
        if self.batched:
            vectors = np.asarray(self._infer(blob), np.float64)
        else:
            vectors = np.concatenate([np.asarray(self._infer(blob[i : i + 1]), np.float64) for i in range(len(blob))])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0).astype(np.float32)

    def embed(self, frame_rgb_uint8: np.ndarray, xyxy: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(H,W,3) uint8 RGB frame, (n,4) boxes, (n,5,2) landmarks or None -> (n, D) float32 unit vectors."""
        return self.embed_aligned(self.align(frame_rgb_uint8, xyxy, landmarks))


def _load_error(path: str, reason: str) -> FaceEmbedderLoadError:
    return FaceEmbedderLoadError(
        f"face embedder {path} could not be loaded: {reason}; choose an ArcFace recogniser such as buffalo_l/w600k_r50.onnx "
        "(det_10g.onnx, 1k3d68.onnx, 2d106det.onnx and genderage.onnx are other models of the pack)"
    )


def load_arcface_embedder(name: str, path: str) -> ArcFaceEmbedder:
    """Load an ArcFace .onnx on CPU onnxruntime: one (batch, 3, 112, 112) input, one (batch, D) output."""
    try:
        session = onnx_session(path)
    except DetectorLoadError as error:
        raise _load_error(path, "it is not a valid ONNX model") from error
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise _load_error(path, f"it takes {len(inputs)} inputs of shapes {[i.shape for i in inputs]}, not one (batch, 3, 112, 112) face")
    _, channels, height, width = inputs[0].shape
    if (channels, height, width) != (3, ARCFACE_SIDE, ARCFACE_SIDE):
        raise _load_error(path, f"its input has shape {inputs[0].shape}, not (batch, 3, 112, 112)")
    if len(outputs) != 1 or len(outputs[0].shape) != 2 or not isinstance(outputs[0].shape[1], int):
        raise _load_error(path, f"it has {len(outputs)} outputs of shapes {[o.shape for o in outputs]}, not one (batch, D) embedding")
    input_name, output_name = inputs[0].name, outputs[0].name

    def infer(blob: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: blob})[0]

    batch = inputs[0].shape[0]
    if isinstance(batch, int) and batch != 1:
        raise _load_error(path, f"its batch size is fixed at {batch}; export it with batch 1 or a dynamic batch")
    return ArcFaceEmbedder(name, infer, batched=not isinstance(batch, int), dimension=int(outputs[0].shape[1]))


EMBEDDERS = FileModelRegistry("embedder", example="insightface/buffalo_l/w600k_r50.onnx", with_none=True, cache_size=2)
EMBEDDERS.register(ModelBackend(id="insightface", load=lambda name, path, device: load_arcface_embedder(name, path), folder="insightface", offers=is_arcface_file))
