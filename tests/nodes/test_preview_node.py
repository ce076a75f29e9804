"""FUSEPreviewTracks: declaration, and a run without ComfyUI that draws and never mutates."""

from fractions import Fraction

import numpy as np
import torch

from comfyui_fuse.nodes import preview
from comfyui_fuse.core.types import DETECTED, FaceTracks


def make_tracks(n=4, frame_size=(64, 96)) -> FaceTracks:
    return FaceTracks(
        track_id=np.array([1]),
        xyxy=np.tile(np.array([[[20, 20, 60, 50]]], np.float32), (1, n, 1)),
        state=np.full((1, n), DETECTED, np.uint8),
        score=np.full((1, n), 0.9, np.float32),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
    )


def test_node_is_declared_for_comfyui():
    node = preview.FUSEPreviewTracks
    inputs = node.INPUT_TYPES()["required"]
    assert set(inputs) == {"images", "tracks", "thickness"}
    for name, (_, options) in inputs.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert node.RETURN_TYPES == ("IMAGE",) and len(node.OUTPUT_TOOLTIPS) == 1
    assert node.CATEGORY == "FUSE/preview" and node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))
    assert preview.NODE_CLASS_MAPPINGS == {"FUSEPreviewTracks": node}
    assert preview.NODE_DISPLAY_NAME_MAPPINGS == {"FUSEPreviewTracks": "FUSE Preview Tracks"}


def test_preview_draws_boxes_and_leaves_the_input_alone(monkeypatch):
    steps = []
    monkeypatch.setattr(preview.host, "progress_callback", lambda total: steps.append)
    images = torch.rand(4, 64, 96, 3, generator=torch.Generator().manual_seed(1))
    before = images.clone()
    (drawn,) = preview.FUSEPreviewTracks().preview(images, make_tracks(), thickness=2)
    assert torch.equal(images, before), "the node must not mutate its input IMAGE"
    assert drawn.shape == images.shape and drawn.dtype == torch.float32
    assert (drawn != images).any(dim=-1).all(dim=0).any(), "every frame should have the box drawn"
    assert sum(steps) == 4, f"progress should reach the frame count, but got {steps}"
