"""FUSEDemoClip: declaration, and a render without ComfyUI that matches the synthetic demo scene."""

import importlib.util
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.media import synthetic
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, demo


def test_node_is_declared_for_comfyui():
    node = demo.FUSEDemoClip
    inputs = node.INPUT_TYPES()["required"]
    assert list(inputs) == ["frames", "width", "height"]
    for name, (_, options) in inputs.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert node.RETURN_TYPES == ("IMAGE", "FLOAT") and len(node.OUTPUT_TOOLTIPS) == 2
    assert node.CATEGORY == "FUSE/demo" and NODE_CLASS_MAPPINGS["FUSEDemoClip"] is node


@pytest.mark.parametrize("frames, width, height", [(1, 64, 64), (3, 96, 64)])
def test_render_gives_the_demo_scene_as_an_image_batch(frames, width, height):
    images, fps = demo.FUSEDemoClip().render(frames, width, height)
    expected = synthetic.render(synthetic.demo_scene(frame_count=frames, frame_size=(height, width)))
    assert images.shape == (frames, height, width, 3) and images.dtype == torch.float32, f"got {tuple(images.shape)} {images.dtype}"
    assert np.array_equal(np.round(images.numpy() * 255).astype(np.uint8), expected), "the node must return the synthetic demo frames / 255"
    assert fps == float(Fraction(30000, 1001))


@pytest.mark.parametrize("module, pip_name", [("skimage", "scikit-image"), ("matplotlib", "matplotlib")])
def test_render_without_a_photo_package_says_what_to_install(monkeypatch, module, pip_name):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == module else real_find_spec(name, *args))
    with pytest.raises(ImportError, match=f"pip install {pip_name} in ComfyUI's Python"):
        demo.FUSEDemoClip().render(2, 64, 64)
