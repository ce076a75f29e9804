"""Face detector registry: the detector dropdown's options, loading (cached) and the detection loop.

Each backend registers an id in DETECTORS (models/registry.py). Backends with model files offer
"<id>/<file>" entries (files from their model folder); the others offer one fixed entry. "auto"
takes the first backend in registration order that has something to run: a YOLO face model,
then an InsightFace SCRFD detector, then MTCNN (if facenet_pytorch is installed), then OpenCV's
Haar cascade, which ships with opencv-python and so always works (low quality).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.checks import check_image_values, check_number
from ..core.fingerprint import fingerprint_frames
from ..core.images import image_to_uint8
from ..core.types import FaceDetections
from . import detector_mtcnn
from .detector_common import DetectorLoadError, FaceDetector, FrameFaces
from .detector_haar import load_haar_detector
from .detector_mtcnn import load_mtcnn_detector
from .detector_scrfd import load_scrfd_detector
from .detector_yolo import load_yolo_detector
from .registry import AUTO_OPTION, FileModelRegistry, ModelBackend, ModelChoice
from .store import ModelFolders

__all__ = [
    "AUTO_OPTION",
    "DETECTORS",
    "DetectorLoadError",
    "FaceDetector",
    "FrameFaces",
    "HAAR_OPTION",
    "MTCNN_OPTION",
    "detect_faces",
    "detector_options",
    "load_face_detector",
    "resolve_detector_option",
    "sampled_frame_indices",
]

MTCNN_OPTION = "mtcnn"
HAAR_OPTION = "haar (built-in, low quality)"


def _basename(file: str) -> str:
    return file.replace("\\", "/").rsplit("/", 1)[-1].lower()


def _is_scrfd_file(file: str) -> bool:
    """insightface packs hold a detector (det_10g.onnx, scrfd_*.onnx) next to recognisers and landmarkers."""
    name = _basename(file)
    return name.endswith(".onnx") and (name.startswith("det_") or "scrfd" in name)


DETECTORS = FileModelRegistry("detector", example="yolo/face_yolov8n.pt", with_none=False, cache_size=3)  # 3 loaded detectors kept
DETECTORS.register(ModelBackend(
    id="yolo",
    load=load_yolo_detector,
    folder="ultralytics_bbox",
    offers=lambda file: _basename(file).endswith((".pt", ".onnx")),
    auto_picks=lambda file: "face" in _basename(file),  # the bbox folder also holds hand / person models
))
DETECTORS.register(ModelBackend(id="insightface", load=load_scrfd_detector, folder="insightface", offers=_is_scrfd_file))
DETECTORS.register(ModelBackend(id="mtcnn", load=load_mtcnn_detector, option=MTCNN_OPTION, available=lambda: detector_mtcnn.mtcnn_available()))
DETECTORS.register(ModelBackend(id="haar", load=load_haar_detector, option=HAAR_OPTION))


def _nothing_runs() -> DetectorLoadError:
    return DetectorLoadError("no face detector can run here; reinstall opencv-python 4.x (it ships the Haar cascade)")


def detector_options(models: ModelFolders) -> list[str]:
    """Dropdown entries: "auto", then "yolo/<file>", "insightface/<file>" (SCRFD detectors only),
    "mtcnn" (if installed), Haar. models: the model folders (a store.ModelStore or the host's)."""
    return DETECTORS.options(models)


def resolve_detector_option(option: str, models: ModelFolders | None = None) -> ModelChoice:
    """The backend and model file (relative to its folder; None for file-less backends) of an option.

    "auto" picks the first backend in registration order that has a model to run (models is
    needed for "auto" only). ValueError (UnsupportedModelError) for an unknown option.
    """
    choice = DETECTORS.resolve(option, models)
    if choice is None:
        raise _nothing_runs()
    return choice


def load_face_detector(option: str, models: ModelFolders, device=None) -> FaceDetector:
    """Load the detector an option names; cached per (file, modification time, size, device).

    models: the model folders "auto" chooses from and files are found in. device: torch device
    for torch backends (ONNX backends run on the CPU). A re-run with the same unchanged file
    reuses the loaded model. Raises FileNotFoundError for a missing file, DetectorLoadError for a
    corrupt or unsupported one.
    """
    detector = DETECTORS.load(option, models, device)
    if detector is None:
        raise _nothing_runs()
    return detector


def sampled_frame_indices(frame_count: int, detect_every: int) -> np.ndarray:
    """Frames the detector runs on: 0, k, 2k, ... and always the last frame. (s,) int64."""
    indices = np.arange(0, frame_count, detect_every, dtype=np.int64)
    if frame_count and indices[-1] != frame_count - 1:
        indices = np.append(indices, frame_count - 1)
    return indices


def _check_frames(frames_bhwc) -> tuple[int, int, int]:
    import torch

    if not isinstance(frames_bhwc, (torch.Tensor, np.ndarray)):
        raise TypeError(f"images must be a torch.Tensor or np.ndarray [B,H,W,3], but got {type(frames_bhwc).__name__}")
    shape = tuple(frames_bhwc.shape)
    if len(shape) != 4 or shape[-1] not in (3, 4):
        raise ValueError(f"images must be a 4D [B,H,W,3] RGB batch, but got shape {shape}; pass a ComfyUI IMAGE")
    if shape[0] == 0 or shape[1] == 0 or shape[2] == 0:
        raise ValueError(f"images must hold at least one frame of at least 1x1 pixels, but got shape {shape}")
    dtype = frames_bhwc.dtype
    is_float = dtype.is_floating_point if isinstance(frames_bhwc, torch.Tensor) else np.issubdtype(dtype, np.floating)
    if not is_float and dtype not in (torch.uint8, np.uint8):
        raise TypeError(f"images must be float 0..1 or uint8, but got dtype {dtype}")
    return shape[0], shape[1], shape[2]


def _uint8_batch(frames_bhwc, chunk: np.ndarray) -> np.ndarray:
    """The chunk's frames as (n,H,W,3) uint8: a view when they are consecutive frames of a uint8
    RGB numpy batch (the VIDEO path decodes straight to that), else a converted copy."""
    consecutive = int(chunk[-1]) - int(chunk[0]) + 1 == len(chunk)
    if isinstance(frames_bhwc, np.ndarray) and frames_bhwc.dtype == np.uint8 and frames_bhwc.shape[-1] == 3 and consecutive:
        return frames_bhwc[int(chunk[0]) : int(chunk[-1]) + 1]
    return image_to_uint8(frames_bhwc, chunk)


def detect_faces(
    detector: FaceDetector,
    frames_bhwc,
    *,
    score_threshold: float = 0.5,
    min_face_size: float = 16,
    detect_every: int = 1,
    batch_size: int = 8,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    shot_detector=None,
) -> FaceDetections:
    """Run a face detector over a clip.

    frames_bhwc: torch float [B,H,W,3] 0..1 (a ComfyUI IMAGE) or np uint8 [B,H,W,3] RGB; an alpha
    channel is ignored. Frames are converted to uint8 one batch at a time (no full copy).
    The detector runs on frames 0, k, 2k, ... and the last frame (k = detect_every), batch_size
    frames per call; with k > 1 the result's sampled_frames lists them. Boxes (source-frame pixels,
    xyxy) are clipped to the frame; faces scoring below score_threshold or whose shorter side is
    below min_face_size pixels are dropped. No face anywhere gives an empty FaceDetections, never
    an error. on_progress(n) is called with the number of clip frames covered since its last call
    (they add up to B); check_interrupt() before each batch. shot_detector (a
    media.shots.ShotDetector, or None) is fed every frame in the same pass, and the result carries
    the cuts it found.
    """
    frame_count, height, width = _check_frames(frames_bhwc)
    check_number("score_threshold", score_threshold, 0.0, 1.0)
    check_number("min_face_size", min_face_size, 0)
    check_number("detect_every", detect_every, 1, integer=True)
    check_number("batch_size", batch_size, 1, integer=True)
    sampled = sampled_frame_indices(frame_count, int(detect_every))
    found_frame, found_xyxy, found_score, found_landmarks = [], [], [], []
    covered = 0
    for start in range(0, len(sampled), int(batch_size)):
        if check_interrupt is not None:
            check_interrupt()
        chunk = sampled[start : start + int(batch_size)]
        if shot_detector is not None:
            shot_detector.feed(frames_bhwc, covered, int(chunk[-1]) + 1)
        for index in chunk:  # clamping NaN or 0..255 pixels to uint8 would find no face, silently
            check_image_values("images", frames_bhwc[int(index) : int(index) + 1], [int(index)])
        faces = detector.detect_batch(_uint8_batch(frames_bhwc, chunk), score_threshold=float(score_threshold))
        if len(faces) != len(chunk):
            raise RuntimeError(f"detector {detector.name} returned {len(faces)} results for {len(chunk)} frames")
        for frame_index, (xyxy, score, landmarks) in zip(chunk, faces):
            xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
            score = np.asarray(score, np.float32).reshape(-1)
            xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
            xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
            shorter_side = np.minimum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
            keep = (score >= score_threshold) & (shorter_side >= min_face_size) & (shorter_side > 0) & np.isfinite(xyxy).all(axis=1)
            if not keep.any():
                continue
            found_frame.append(np.full(int(keep.sum()), frame_index, np.int64))
            found_xyxy.append(xyxy[keep])
            found_score.append(score[keep])
            found_landmarks.append(None if landmarks is None else np.asarray(landmarks, np.float32).reshape(-1, 5, 2)[keep])
        if on_progress is not None:
            on_progress(int(chunk[-1]) + 1 - covered)
        covered = int(chunk[-1]) + 1
    sampled_frames = sampled if detect_every > 1 else None
    fingerprint = fingerprint_frames(frames_bhwc)  # the tracks carry it, so cropping another video is refused
    cuts = None if shot_detector is None else shot_detector.finish()
    if not found_frame:
        return FaceDetections(frame=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32), score=np.zeros(0, np.float32), frame_count=frame_count, frame_size=(height, width), detector=detector.name, sampled_frames=sampled_frames, fingerprint=fingerprint, cuts=cuts)
    with_landmarks = all(part is not None for part in found_landmarks)
    return FaceDetections(
        frame=np.concatenate(found_frame),
        xyxy=np.concatenate(found_xyxy),
        score=np.concatenate(found_score),
        frame_count=frame_count,
        frame_size=(height, width),
        landmarks=np.concatenate(found_landmarks) if with_landmarks else None,
        detector=detector.name,
        sampled_frames=sampled_frames,
        fingerprint=fingerprint,
        cuts=cuts,
    )
