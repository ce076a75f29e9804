"""Face detector registry: the detector combo's options, loading (cached) and the detection loop.

Each backend registers an id. Backends with model files offer "<id>/<file>" entries (files from
their model folder); the others offer one fixed entry. "auto" takes the first backend in
registration order that has something to run: a YOLO face model, then an InsightFace SCRFD
detector, then MTCNN (if facenet_pytorch is installed), then OpenCV's Haar cascade, which ships
with opencv-python and so always works (low quality).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from ..core.checks import check_number
from ..core.images import image_to_uint8
from ..core.types import FaceDetections
from .detector_common import DetectorLoadError, FaceDetector, FrameFaces
from .detector_haar import load_haar_detector
from .detector_mtcnn import load_mtcnn_detector, mtcnn_available
from .detector_scrfd import load_scrfd_detector
from .detector_yolo import load_yolo_detector

__all__ = [
    "AUTO_OPTION",
    "DETECTOR_BACKENDS",
    "DetectorBackend",
    "DetectorLoadError",
    "FaceDetector",
    "FrameFaces",
    "HAAR_OPTION",
    "MTCNN_OPTION",
    "detect_faces",
    "detector_options",
    "load_face_detector",
    "register_detector_backend",
    "resolve_detector_option",
    "sampled_frame_indices",
]

log = logging.getLogger(__name__)

AUTO_OPTION = "auto"
MTCNN_OPTION = "mtcnn"
HAAR_OPTION = "haar (built-in, low quality)"
CACHE_SIZE = 3  # loaded detectors kept in memory, most recently used first


@dataclass(frozen=True)
class DetectorBackend:
    """One family of face detectors.

    id: prefix of its combo entries ("yolo/<file>"). folder: the model folder its files come from
    (a nodes/host.py MODEL_FOLDERS name), or None for a backend without files, whose single combo
    entry is option. load(name, absolute path or None, torch device or None) -> FaceDetector.
    offers(file): which files of the folder are its models. auto_picks(file): which of those
    "auto" may choose. available(): whether it can run here at all.
    """

    id: str
    load: Callable[[str, "str | None", object], FaceDetector]
    folder: str | None = None
    option: str | None = None
    offers: Callable[[str], bool] = lambda file: True
    auto_picks: Callable[[str], bool] = lambda file: True
    available: Callable[[], bool] = lambda: True

    def entry(self, file: str | None = None) -> str:
        return self.option if self.folder is None else f"{self.id}/{file}"


DETECTOR_BACKENDS: "OrderedDict[str, DetectorBackend]" = OrderedDict()


def register_detector_backend(backend: DetectorBackend) -> None:
    """Add a backend after the registered ones ("auto" tries them in this order)."""
    if backend.id in DETECTOR_BACKENDS:
        raise ValueError(f"detector backend id must be unique, but {backend.id!r} is already registered")
    if (backend.folder is None) == (backend.option is None):
        raise ValueError(f"detector backend {backend.id!r} must have either a model folder or a fixed option, not both or neither")
    DETECTOR_BACKENDS[backend.id] = backend


def _basename(file: str) -> str:
    return file.replace("\\", "/").rsplit("/", 1)[-1].lower()


def _is_scrfd_file(file: str) -> bool:
    """insightface packs hold a detector (det_10g.onnx, scrfd_*.onnx) next to recognisers and landmarkers."""
    name = _basename(file)
    return name.endswith(".onnx") and (name.startswith("det_") or "scrfd" in name)


register_detector_backend(DetectorBackend(
    id="yolo",
    load=load_yolo_detector,
    folder="ultralytics_bbox",
    offers=lambda file: _basename(file).endswith((".pt", ".onnx")),
    auto_picks=lambda file: "face" in _basename(file),  # the bbox folder also holds hand / person models
))
register_detector_backend(DetectorBackend(id="insightface", load=load_scrfd_detector, folder="insightface", offers=_is_scrfd_file))
register_detector_backend(DetectorBackend(id="mtcnn", load=load_mtcnn_detector, option=MTCNN_OPTION, available=mtcnn_available))
register_detector_backend(DetectorBackend(id="haar", load=load_haar_detector, option=HAAR_OPTION))


def _files_by_folder(yolo_files: Iterable[str], insightface_files: Iterable[str]) -> dict[str, list[str]]:
    return {"ultralytics_bbox": list(yolo_files), "insightface": list(insightface_files)}


def detector_options(yolo_files: list[str], insightface_files: list[str]) -> list[str]:
    """Combo entries: "auto", then "yolo/<file>", "insightface/<file>", "mtcnn" (if installed), Haar.

    yolo_files / insightface_files: file names relative to the ultralytics_bbox / insightface
    model folders (host.model_files). Only SCRFD detectors of the insightface folder are listed.
    """
    files = _files_by_folder(yolo_files, insightface_files)
    options = [AUTO_OPTION]
    for backend in DETECTOR_BACKENDS.values():
        if backend.folder is None:
            if backend.available():
                options.append(backend.option)
        else:
            options.extend(backend.entry(file) for file in files.get(backend.folder, []) if backend.offers(file))
    return options


def resolve_detector_option(option: str, yolo_files: Sequence[str] = (), insightface_files: Sequence[str] = ()) -> tuple[DetectorBackend, str | None]:
    """The backend and model file (relative to its folder; None for file-less backends) of an option.

    "auto" picks the first backend in registration order that has a model to run.
    """
    if not isinstance(option, str):
        raise TypeError(f"detector must be a str such as {AUTO_OPTION!r}, but got {type(option).__name__}")
    if option == AUTO_OPTION:
        files = _files_by_folder(yolo_files, insightface_files)
        for backend in DETECTOR_BACKENDS.values():
            if backend.folder is None:
                if backend.available():
                    return backend, None
                continue
            picks = [file for file in files.get(backend.folder, []) if backend.offers(file) and backend.auto_picks(file)]
            if picks:
                return backend, picks[0]
        raise DetectorLoadError("no face detector can run here; reinstall opencv-python 4.x (it ships the Haar cascade)")
    for backend in DETECTOR_BACKENDS.values():
        if backend.folder is None and option == backend.option:
            return backend, None
        if backend.folder is not None and option.startswith(backend.id + "/") and len(option) > len(backend.id) + 1:
            return backend, option[len(backend.id) + 1 :]
    examples = ", ".join(repr(o) for o in [AUTO_OPTION, "yolo/face_yolov8n.pt", "insightface/buffalo_l/det_10g.onnx", HAAR_OPTION])
    raise ValueError(f"detector must be one of the listed options ({examples}, ...), but got {option!r}")


_loaded: "OrderedDict[tuple, FaceDetector]" = OrderedDict()
_loaded_lock = threading.Lock()


def load_face_detector(option: str, resolve_path: Callable[[str, str], str], yolo_files: Sequence[str] = (), insightface_files: Sequence[str] = (), device=None) -> FaceDetector:
    """Load the detector an option names; cached per (file, modification time, device).

    resolve_path(folder_name, file_name) -> absolute path (host.model_path). yolo_files and
    insightface_files are what "auto" chooses from. device: torch device for torch backends
    (ONNX backends run on the CPU). A re-run with the same unchanged file reuses the loaded model.
    Raises FileNotFoundError for a missing file, DetectorLoadError for a corrupt or unsupported one.
    """
    backend, file = resolve_detector_option(option, yolo_files, insightface_files)
    name = backend.entry(file)
    path, stamp = None, None
    if file is not None:
        path = resolve_path(backend.folder, file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"detector model {name!r} was not found at {path}; put the file in the {backend.folder} model folder or choose another detector")
        status = os.stat(path)
        stamp = (status.st_mtime_ns, status.st_size)
    key = (name, path, stamp, str(device))
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key, last=False)
            return _loaded[key]
        if option == AUTO_OPTION:
            log.info("detector 'auto' chose %s", name)
        detector = backend.load(name, path, device)
        _loaded[key] = detector
        _loaded.move_to_end(key, last=False)
        while len(_loaded) > CACHE_SIZE:
            _loaded.popitem(last=True)
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
) -> FaceDetections:
    """Run a face detector over a clip.

    frames_bhwc: torch float [B,H,W,3] 0..1 (a ComfyUI IMAGE) or np uint8 [B,H,W,3] RGB; an alpha
    channel is ignored. Frames are converted to uint8 one batch at a time (no full copy).
    The detector runs on frames 0, k, 2k, ... and the last frame (k = detect_every), batch_size
    frames per call; with k > 1 the result's sampled_frames lists them. Boxes (source-frame pixels,
    xyxy) are clipped to the frame; faces scoring below score_threshold or whose shorter side is
    below min_face_size pixels are dropped. No face anywhere gives an empty FaceDetections, never
    an error. on_progress(n) is called with the number of clip frames covered since its last call
    (they add up to B); check_interrupt() before each batch.
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
        faces = detector.detect_batch(image_to_uint8(frames_bhwc, chunk), score_threshold=float(score_threshold))
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
    if not found_frame:
        return FaceDetections(frame=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32), score=np.zeros(0, np.float32), frame_count=frame_count, frame_size=(height, width), detector=detector.name, sampled_frames=sampled_frames)
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
    )
