"""Random-weight ONNX files shaped like InsightFace buffalo_l's recogniser and 3D landmarker.

Built at test time with onnx.helper (no download, no weights in the repository):
- arcface_onnx: w600k_r50.onnx's interface: input "input.1" (batch, 3, 112, 112), one output
  "683" (batch, 512). The body is an 8x8 average pool and a random linear layer, so a face's
  embedding depends on its pixels (equal faces, equal embeddings).
- landmark_3d68_onnx: 1k3d68.onnx's interface: input "data" (batch, 3, 192, 192), one output
  "fc1" (batch, 3309) = 1103 (x, y, z) points in -1..1 (tanh), the last 68 the landmarks.
Tests import this module by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(nodes, inputs, outputs, initializers, path: Path) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _pooled_linear(input_name: str, side: int, pool: int, width: int, seed: int, weight_std: float) -> tuple[list, list]:
    """Nodes and weights: AveragePool(pool) -> Flatten -> Gemm to `width` values, named "linear"."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    features = 3 * (side // pool) ** 2
    weight = rng.normal(0, weight_std / np.sqrt(features), size=(features, width)).astype(np.float32)
    bias = rng.normal(0, 0.01, size=(width,)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[pool, pool], strides=[pool, pool]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "weight", "bias"], ["linear"]),
    ]
    return nodes, [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")]


def arcface_onnx(path: Path, *, seed: int = 0, batch="None", dimension: int = 512) -> Path:
    """An ONNX recogniser with w600k_r50's input and output (batch "None" = dynamic, or an int)."""
    from onnx import TensorProto, helper

    nodes, weights = _pooled_linear("input.1", 112, 8, dimension, seed, weight_std=1.0)
    nodes.append(helper.make_node("Identity", ["linear"], ["683"]))
    inputs = [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, 112, 112])]
    outputs = [helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, dimension])]
    return _save(nodes, inputs, outputs, weights, Path(path))


def landmark_3d68_onnx(path: Path, *, seed: int = 0) -> Path:
    """An ONNX landmarker with 1k3d68's input (raw 0..255 pixels) and output."""
    from onnx import TensorProto, helper

    nodes, weights = _pooled_linear("data", 192, 16, 3309, seed, weight_std=0.01)
    nodes.append(helper.make_node("Tanh", ["linear"], ["fc1"]))
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["None", 3, 192, 192])]
    outputs = [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["None", 3309])]
    return _save(nodes, inputs, outputs, weights, Path(path))
