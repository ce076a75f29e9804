"""Ultralytics YOLO face detectors (.pt and .onnx from models/ultralytics/bbox), safely loaded.

Safe .pt loading: ultralytics' own loader unpickles with weights_only switched off, which runs any
code a pickle names, and torch's weights_only mode calls allow-listed classes with arguments from
the file (DetectionModel's constructor evaluates its config). We use neither: models/safe_load.py
restores the saved layer objects without running their constructors or __setstate__, with the
classes ultralytics_class allows (torch and ultralytics layers, renamed legacy names, plain data).
ultralytics is used only as the library of layer classes; pre- and post-processing are ours, so
nothing can trigger an ultralytics download or auto-install.

Both formats go through the same decoding: ultralytics heads in inference mode give either
(B, 4+nc+extra, anchors) with xywh boxes in input pixels and sigmoid class scores (needs NMS),
or, for end-to-end heads (YOLOv10, YOLO26), (B, max_det, 6+extra) rows of
[x1, y1, x2, y2, score, class, extra]. extra holds keypoints for pose models (5 keypoints = face
landmarks), mask coefficients for segmentation models (ignored).
"""

from __future__ import annotations

import ast
import importlib
import logging
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .detector_common import FrameFaces, letterbox_batch, load_error, nms, no_faces, top_candidates
from .safe_load import ModelFileError, load_torch_file

log = logging.getLogger(__name__)

PAD_VALUE = 114  # grey ultralytics pads its letterbox with (the models were trained on it)
IOU_THRESHOLD = 0.5  # faces rarely overlap more than this; ultralytics' predict default is 0.7
MAX_CANDIDATES = 3000  # highest-scoring boxes that enter NMS per frame
MAX_DETECTIONS = 300  # per frame, as ultralytics
DEFAULT_IMGSZ = 640

# Layer classes are accepted from these modules (and their submodules) only if they are nn.Modules.
_LAYER_MODULES = ("torch.nn.modules", "ultralytics.nn.modules", "ultralytics.nn.tasks")
# Plain classes some training checkpoints pickle along (loss criteria and their target assigner).
_CRITERION_MODULES = ("ultralytics.utils.loss", "ultralytics.utils.tal")
_TRAIN_ARGS_CLASS = "ultralytics.utils.IterableSimpleNamespace"  # train args of older checkpoints
# ultralytics moved these modules; checkpoints written before the move still name the old path.
_RENAMED_MODULES = {
    "ultralytics.yolo.utils": "ultralytics.utils",
    "ultralytics.yolo.v8": "ultralytics.models.yolo",
    "ultralytics.yolo.data": "ultralytics.data",
}
# Classes that ultralytics renamed or removed, and what stands in for them now.
_RENAMED_CLASSES = {
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",  # YOLOv9e's no-op layer
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
}


def _resolve(qualified_name: str):
    module_name, _, attribute = qualified_name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute, None)
    except ImportError:
        return None


def ultralytics_class(name: str):
    """The class an ultralytics checkpoint may hold objects of, or None when it is not allowed.

    Layers (nn.Modules of torch and ultralytics), the loss criteria training checkpoints carry and
    ultralytics' namespace of training arguments; renamed legacy names map to today's classes.
    safe_load restores their objects without running any of their code.
    """
    import torch

    name = _RENAMED_CLASSES.get(name, name)
    module, _, attribute = name.rpartition(".")
    for old, new in _RENAMED_MODULES.items():
        if module == old or module.startswith(old + "."):
            module = new + module[len(old) :]
    if any(module == allowed or module.startswith(allowed + ".") for allowed in _LAYER_MODULES):
        found = _resolve(f"{module}.{attribute}")
        return found if isinstance(found, type) and issubclass(found, torch.nn.Module) else None
    if module in _CRITERION_MODULES:
        found = _resolve(f"{module}.{attribute}")
        return found if isinstance(found, type) and found.__module__ == module else None
    if f"{module}.{attribute}" == _TRAIN_ARGS_CLASS:
        return _resolve(_TRAIN_ARGS_CLASS)
    return None


def load_ultralytics_checkpoint(path: str) -> dict:
    """An ultralytics .pt checkpoint dict, read by safe_load with the ultralytics classes allowed.

    DetectorLoadError when the file is not a torch checkpoint, is damaged, or holds anything but
    layers and plain data (which could run code when loaded).
    """
    try:
        checkpoint = load_torch_file(path, classes=ultralytics_class, fix="use a YOLO face model from its official source (saved by ultralytics), or export it to .onnx")
    except ModelFileError as error:
        raise load_error(path, error.reason, error.fix) from None
    if not isinstance(checkpoint, dict):
        raise load_error(path, f"it holds a {type(checkpoint).__name__}, not an ultralytics checkpoint dict", "use an ultralytics YOLO face model")
    return checkpoint


@dataclass(frozen=True)
class YoloLayout:
    """What decoding needs to know about a YOLO network's input and output."""

    face_classes: tuple[int, ...]  # class columns that mean "face"
    class_count: int | None  # nc; None = unknown (ONNX without metadata: taken as 1)
    keypoints: tuple[int, int] | None  # (count, values per keypoint) of a pose model, else None
    end2end: bool | None  # rows of [x1,y1,x2,y2,score,class]; None = unknown, decided by shape
    imgsz: int  # long side of the network input when the input size is free
    stride: int  # input sides must be multiples of this when the input size is free
    fixed_input_hw: tuple[int, int] | None  # the network's fixed input size, if it has one
    fixed_batch: int | None  # the network's fixed batch size, if it has one


def face_class_indices(names: dict[int, str], path: str) -> tuple[int, ...]:
    """The classes whose name contains "face"; a single-class model counts as a face model."""
    faces = tuple(index for index, name in sorted(names.items()) if "face" in str(name).lower())
    if faces:
        return faces
    if len(names) == 1:
        log.warning("%s has one class named %r, not 'face'; using it as the face class", path, next(iter(names.values())))
        return tuple(names)
    shown = ", ".join(repr(n) for n in list(names.values())[:8])
    raise load_error(path, f"it detects {len(names)} classes ({shown}...), none of them a face", "choose a face model such as face_yolov8n.pt")


def decode_yolo_output(output: np.ndarray, layout: YoloLayout, score_threshold: float) -> list[FrameFaces]:
    """Raw network output -> per image (xyxy, score, landmarks) in INPUT pixels, after NMS.

    output: (B, 4+nc+extra, anchors) float32 (boxes xywh), or for end-to-end heads
    (B, rows, 6+extra) of [x1, y1, x2, y2, score, class, extra].
    """
    if output.ndim != 3:
        raise ValueError(f"YOLO output must be 3D (batch, channels, anchors), but got shape {output.shape}")
    end2end = layout.end2end if layout.end2end is not None else output.shape[1] > output.shape[2]
    class_count = layout.class_count or 1
    with_landmarks = layout.keypoints is not None and layout.keypoints[0] == 5
    results = []
    for rows in output:
        if end2end:
            score = rows[:, 4]
            score = np.where(np.isin(rows[:, 5].round().astype(np.int64), layout.face_classes), score, 0)
            keep = top_candidates(score, score_threshold, MAX_DETECTIONS)
            xyxy = rows[keep, :4]
            extra = rows[keep, 6:]
        else:
            rows = rows.T  # (channels, anchors) -> (anchors, channels)
            score = rows[:, [4 + c for c in layout.face_classes]].max(axis=1)
            index = top_candidates(score, score_threshold, MAX_CANDIDATES)
            center, size = rows[index, :2], rows[index, 2:4]
            xyxy = np.concatenate([center - size / 2, center + size / 2], axis=1)
            keep_in_index = nms(xyxy, score[index], IOU_THRESHOLD, MAX_DETECTIONS)
            keep = index[keep_in_index]
            xyxy = xyxy[keep_in_index]
            extra = rows[keep, 4 + class_count :]
        if not len(keep):
            results.append(no_faces(with_landmarks))
            continue
        landmarks = None
        if with_landmarks:
            count, values = layout.keypoints
            landmarks = extra[:, : count * values].reshape(-1, count, values)[..., :2].astype(np.float32)
        results.append((xyxy.astype(np.float32), score[keep].astype(np.float32), landmarks))
    return results


class YoloFaceDetector:
    """A YOLO face detector; infer maps a (b,3,h,w) float32 0..1 RGB batch to the raw output."""

    def __init__(self, name: str, infer: Callable[[np.ndarray], np.ndarray], layout: YoloLayout) -> None:
        self.name = name
        self._infer = infer
        self.layout = layout

    def __repr__(self) -> str:
        return f"YoloFaceDetector({self.name!r})"

    def input_hw(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """The network input size for frames of frame_hw: fixed, or long side imgsz in stride steps."""
        if self.layout.fixed_input_hw is not None:
            return self.layout.fixed_input_hw
        height, width = frame_hw
        scale = self.layout.imgsz / max(height, width)
        stride = self.layout.stride
        return (max(math.ceil(round(height * scale) / stride), 1) * stride, max(math.ceil(round(width * scale) / stride), 1) * stride)

    def detect_batch(self, frames_rgb_uint8: np.ndarray, score_threshold: float = 0.5) -> list[FrameFaces]:
        """frames (B,H,W,3) uint8 RGB -> per frame (xyxy, score, landmarks), source pixels.

        One network call for the whole batch, unless the network has a fixed batch size (then one
        call per chunk of that size, the last chunk padded).
        """
        count = len(frames_rgb_uint8)
        letterboxed, box = letterbox_batch(frames_rgb_uint8, self.input_hw(frames_rgb_uint8.shape[1:3]), PAD_VALUE, centered=True)
        blob = np.divide(letterboxed.transpose(0, 3, 1, 2), 255.0, dtype=np.float32)  # BHWC -> BCHW float 0..1, one pass
        step = self.layout.fixed_batch or count
        outputs = []
        for start in range(0, count, step):
            chunk = blob[start : start + step]
            if len(chunk) < step:
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk),) + chunk.shape[1:], chunk.dtype)])
            outputs.append(np.asarray(self._infer(chunk), np.float32)[: count - start])
        results = []
        for xyxy, score, landmarks in decode_yolo_output(np.concatenate(outputs), self.layout, score_threshold):
            results.append((box.xyxy_to_source(xyxy), score, None if landmarks is None else box.xy_to_source(landmarks)))
        return results


def _imgsz(value) -> int:
    """ultralytics stores imgsz as an int or [h, w]; the long side is what we need."""
    if isinstance(value, (list, tuple)) and value:
        return int(max(value))
    return int(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_IMGSZ


def _load_pt(name: str, path: str, device) -> YoloFaceDetector:
    import torch
    from ultralytics.nn.modules.head import Detect

    checkpoint = load_ultralytics_checkpoint(path)
    model = checkpoint.get("ema") if checkpoint.get("ema") is not None else checkpoint.get("model")
    if not isinstance(model, torch.nn.Module):
        raise load_error(path, "it holds no model (only weights or training state)", "use an ultralytics YOLO face model saved by ultralytics")
    head = model.model[-1] if isinstance(getattr(model, "model", None), torch.nn.Sequential) else None
    if not isinstance(head, Detect):
        raise load_error(path, f"it is not an ultralytics detection model (last layer {type(head).__name__})", "use a YOLO face detection model such as face_yolov8n.pt")
    names = model.names if isinstance(getattr(model, "names", None), dict) else dict(enumerate(getattr(model, "names", None) or range(head.nc)))
    args = checkpoint.get("train_args") or getattr(model, "args", None) or {}
    imgsz = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    layout = YoloLayout(
        face_classes=face_class_indices(names, path),
        class_count=int(head.nc),
        keypoints=tuple(head.kpt_shape) if getattr(head, "kpt_shape", None) else None,
        end2end=bool(getattr(head, "end2end", False)),
        imgsz=_imgsz(imgsz),
        stride=int(max(getattr(model, "stride", torch.tensor([32.0])).max().item(), 32)),
        fixed_input_hw=None,
        fixed_batch=None,
    )
    device = torch.device(device) if device is not None else torch.device("cpu")
    for module in model.modules():  # attributes layers pickled by old torch lack (safe_load runs no __setstate__ to add them)
        if isinstance(module, torch.nn.Upsample) and not hasattr(module, "recompute_scale_factor"):
            module.recompute_scale_factor = None  # torch < 1.11
        if isinstance(module, torch.nn.modules.conv._ConvNd) and not hasattr(module, "padding_mode"):
            module.padding_mode = "zeros"  # torch < 1.1
    # channels-last: the layout CPU convolutions run fastest in (yolov8n at 640x384 on one thread took
    # 15-30 % less time per frame in interleaved runs); the same network, the same results up to rounding
    model = model.float().fuse(verbose=False).eval().to(device, memory_format=torch.channels_last)

    def infer(blob: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            output = model(torch.from_numpy(blob).to(device).contiguous(memory_format=torch.channels_last))
        while isinstance(output, (list, tuple)):  # (predictions, raw) / ((predictions, protos), raw)
            output = output[0]
        return output.float().cpu().numpy()

    return YoloFaceDetector(name, infer, layout)


def _literal(metadata: dict[str, str], key: str):
    try:
        return ast.literal_eval(metadata[key]) if key in metadata else None
    except (ValueError, SyntaxError):
        return None


def _onnx_end2end(metadata: dict[str, str]) -> bool | None:
    """Rows of [x1,y1,x2,y2,score,class]: an end-to-end head, or an export with NMS built in."""
    export_args = _literal(metadata, "args")
    if isinstance(export_args, dict) and export_args.get("nms"):
        return True
    return {"True": True, "False": False}.get(metadata.get("end2end", ""))


def _load_onnx(name: str, path: str) -> YoloFaceDetector:
    from .detector_common import onnx_session

    session = onnx_session(path)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    task = metadata.get("task", "detect")
    if task not in ("detect", "pose", "segment", "obb"):
        raise load_error(path, f"it is a YOLO {task} model, not a detector", "use a YOLO face detection model")
    model_input = session.get_inputs()[0]
    shape = list(model_input.shape)
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise load_error(path, f"its input must be (batch, 3, height, width), but it is {shape}", "use a YOLO model exported by ultralytics")
    output_name = session.get_outputs()[0].name
    names = _literal(metadata, "names")
    names = names if isinstance(names, dict) else {0: "face"}  # no metadata: a single-class face model
    keypoints = _literal(metadata, "kpt_shape")
    stride = _literal(metadata, "stride")
    fixed_hw = (shape[2], shape[3]) if all(isinstance(v, int) and v > 0 for v in shape[2:]) else None
    layout = YoloLayout(
        face_classes=face_class_indices(names, path),
        class_count=len(names),
        keypoints=tuple(keypoints) if isinstance(keypoints, (list, tuple)) and len(keypoints) == 2 else None,
        end2end=_onnx_end2end(metadata),
        imgsz=_imgsz(_literal(metadata, "imgsz")),
        stride=int(stride) if isinstance(stride, int) and stride > 0 else 32,
        fixed_input_hw=fixed_hw,
        fixed_batch=shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None,
    )

    def infer(blob: np.ndarray) -> np.ndarray:
        return session.run([output_name], {model_input.name: blob})[0]

    detector = YoloFaceDetector(name, infer, layout)
    if "names" not in metadata:
        log.info("%s has no ultralytics metadata: class 0 is taken as the face, the layout is read off one probe run", path)
        detector.layout = _layout_from_probe(detector, path)
    return detector


def _layout_from_probe(detector: YoloFaceDetector, path: str) -> YoloLayout:
    """Without metadata, read the output layout off one run on a blank input.

    Rows of 6 + extra values (more rows than values) are an end-to-end head; otherwise channels
    are 4 + 1 + extra. extra of 10 or 15 is a 5-keypoint face pose model ((x, y) or (x, y, vis)).
    """
    layout = detector.layout
    probe = np.zeros((layout.fixed_batch or 1, 3) + detector.input_hw((layout.imgsz, layout.imgsz)), np.float32)
    shape = np.asarray(detector._infer(probe)).shape
    if len(shape) != 3:
        raise load_error(path, f"its output must be 3D (batch, channels, anchors), but it is {list(shape)}", "use a YOLO model exported by ultralytics")
    end2end = shape[1] > shape[2]
    extra = shape[2] - 6 if end2end else shape[1] - 4 - (layout.class_count or 1)
    keypoints = (5, extra // 5) if extra in (10, 15) else None
    return YoloLayout(**{**layout.__dict__, "end2end": end2end, "keypoints": keypoints})


def load_yolo_detector(name: str, path: str, device=None) -> YoloFaceDetector:
    """Load a YOLO face model from a .pt (ultralytics checkpoint) or .onnx (ultralytics export)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pt":
        return _load_pt(name, path, device)
    if suffix == ".onnx":
        return _load_onnx(name, path)
    raise load_error(path, f"YOLO models must be .pt or .onnx files, but got {suffix or 'no extension'}", "convert it with ultralytics")
