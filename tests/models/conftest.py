"""Detector models built at test time from real architectures with random weights (no download).

YOLO: ultralytics' own yolov8n / yolov8n-pose yamls with one class "face", saved by ultralytics
and exported by ultralytics to ONNX. SCRFD: an ONNX graph with det_10g's input, output names and
output layout (see scrfd_onnx), built with onnx.helper.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

YOLO_IMGSZ = 160  # a small network input keeps the tests fast
# det_10g.onnx's output names, in its order: scores, boxes, landmarks for strides 8, 16, 32.
SCRFD_OUTPUT_NAMES = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
SCRFD_STRIDES = (8, 16, 32)


def _randomise_yolo(model, seed: int) -> None:
    """He-style random conv weights.

    With ultralytics' initialisation a random net's features fade to ~1e-11 before the head, so
    every anchor scores exactly the head's bias. Larger weights give varied scores and box sizes.
    DFL's fixed (non-trainable) conv is left alone: it decodes the box distribution.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.weight.requires_grad:
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2.6 / fan_in) ** 0.5


def build_yolo(directory: Path, base_yaml: str, stem: str, keypoints: list[int] | None = None, seed: int = 0):
    """A random-weight ultralytics YOLO face model saved by ultralytics as <directory>/<stem>.pt.

    Returns (ultralytics.YOLO, path). stem must name the scale (e.g. "yolov8n-...") because
    ultralytics reads the model scale from the yaml's file name.
    """
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    config = yaml_model_load(base_yaml)
    config.pop("yaml_file", None)
    config["nc"] = 1
    if keypoints is not None:
        config["kpt_shape"] = keypoints
    yaml_path = directory / f"{stem}.yaml"
    yaml_path.write_text(yaml.safe_dump(config))
    model = YOLO(str(yaml_path))
    _randomise_yolo(model.model, seed)
    model.model.names = {0: "face"}
    model.ckpt = {"train_args": {"imgsz": YOLO_IMGSZ}}  # where trained checkpoints keep their input size
    path = directory / f"{stem}.pt"
    model.save(str(path))
    model.model.half().float()  # the .pt holds fp16 weights (ultralytics saves half); export those same weights
    return model, path


def export_yolo_onnx(model, target: Path, **options) -> Path:
    """ultralytics' own ONNX export, moved to target (ultralytics writes next to the yaml)."""
    exported = model.export(format="onnx", imgsz=YOLO_IMGSZ, simplify=False, verbose=False, **options)
    shutil.move(exported, target)
    return target


@pytest.fixture(scope="session")
def yolo_models(tmp_path_factory) -> dict[str, Path]:
    """Random-weight YOLO face models in a models/ultralytics/bbox folder, built once per session.

    Keys: face.pt, face.onnx (dynamic batch and size), face_batch2.onnx (fixed batch 2, 160x160),
    pose.pt and pose.onnx (5 keypoints, i.e. landmarks).
    """
    work = tmp_path_factory.mktemp("yolo_build")
    folder = tmp_path_factory.mktemp("models") / "ultralytics" / "bbox"
    folder.mkdir(parents=True)
    face, face_pt = build_yolo(work, "yolov8n.yaml", "yolov8n-face")
    pose, pose_pt = build_yolo(work, "yolov8n-pose.yaml", "yolov8n-pose-face", keypoints=[5, 3], seed=1)
    paths = {
        "face.pt": Path(shutil.copy(face_pt, folder / "face_yolov8n.pt")),
        "pose.pt": Path(shutil.copy(pose_pt, folder / "face_yolov8n_pose.pt")),
        "face.onnx": export_yolo_onnx(face, folder / "face_yolov8n.onnx", dynamic=True),
        "face_batch2.onnx": export_yolo_onnx(face, folder / "face_yolov8n_batch2.onnx", dynamic=False, batch=2),
        "pose.onnx": export_yolo_onnx(pose, folder / "face_yolov8n_pose.onnx", dynamic=True),
    }
    return paths


def scrfd_onnx(path: Path, *, batched: bool = False, landmarks: bool = True, seed: int = 0) -> Path:
    """An ONNX file shaped like insightface's SCRFD det_10g, with random weights.

    Input "input.1" (1 or batch, 3, height, width); per stride 8/16/32 a pooled 1x1 conv gives 2
    anchors per cell of scores (sigmoid), box distances (made positive, as a trained net's are) and
    landmark offsets, laid out as det_10g: (cells*2, C) rows, cells row by row, the 2 anchors of a
    cell together, outputs ordered scores, boxes, landmarks. batched=True gives (batch, cells*2, C).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, initializers, outputs = [], [], []
    kinds = [("score", 1), ("bbox", 4)] + ([("kps", 10)] if landmarks else [])
    names = iter(SCRFD_OUTPUT_NAMES if landmarks else SCRFD_OUTPUT_NAMES[:6])
    for kind, width in kinds:
        for stride in SCRFD_STRIDES:
            name = next(names)
            pooled = f"pool{stride}_{kind}"
            nodes.append(helper.make_node("AveragePool", ["input.1"], [pooled], kernel_shape=[stride, stride], strides=[stride, stride]))
            # Scores: a few anchors above 0.5, as on a real frame; boxes a few strides across.
            weight = rng.normal(0, 3.0 if kind == "score" else 1.5, size=(2 * width, 3, 1, 1)).astype(np.float32)
            bias = (rng.normal(0, 0.5, size=(2 * width,)) - (3.0 if kind == "score" else 0.0)).astype(np.float32)
            initializers += [numpy_helper.from_array(weight, f"w_{name}"), numpy_helper.from_array(bias, f"b_{name}")]
            nodes.append(helper.make_node("Conv", [pooled, f"w_{name}", f"b_{name}"], [f"conv_{name}"]))
            activated = f"act_{name}"
            nodes.append(helper.make_node({"score": "Sigmoid", "bbox": "Abs", "kps": "Identity"}[kind], [f"conv_{name}"], [activated]))
            nodes.append(helper.make_node("Transpose", [activated], [f"nhwc_{name}"], perm=[0, 2, 3, 1]))  # NCHW -> NHWC
            shape = [0, -1, width] if batched else [-1, width]
            initializers.append(numpy_helper.from_array(np.array(shape, np.int64), f"shape_{name}"))
            nodes.append(helper.make_node("Reshape", [f"nhwc_{name}", f"shape_{name}"], [name]))
            dims = ["batch", f"n{stride}", width] if batched else [f"n{stride}", width]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    model_input = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch" if batched else 1, 3, "height", "width"])
    graph = helper.make_graph(nodes, "scrfd_shaped", [model_input], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def build_scrfd_onnx():
    """The scrfd_onnx builder (test modules cannot import conftest)."""
    return scrfd_onnx
