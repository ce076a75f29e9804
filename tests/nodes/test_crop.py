"""FUSECropFaceSequences: declaration, and runs without ComfyUI that cut crops and never mutate."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.nodes import crop
from comfyui_fuse.tracking.types import DETECTED, FaceTracks


def make_tracks(n=4, frame_size=(64, 96)) -> FaceTracks:
    """Two faces in every frame: id 1 on the left, id 2 (smaller) on the right."""
    boxes = np.array([[[10, 10, 40, 40]], [[60, 20, 80, 40]]], np.float32)
    return FaceTracks(
        track_id=np.array([1, 2]),
        xyxy=np.tile(boxes, (1, n, 1)),
        state=np.full((2, n), DETECTED, np.uint8),
        score=np.full((2, n), 0.9, np.float32),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
    )


def make_images(n=4, frame_size=(64, 96)) -> torch.Tensor:
    return torch.rand(n, *frame_size, 3, generator=torch.Generator().manual_seed(1))


def test_node_is_declared_for_comfyui():
    node = crop.FUSECropFaceSequences
    inputs = node.INPUT_TYPES()["required"]
    assert list(inputs) == ["images", "tracks", "face_size", "face_padding", "margin", "force_square", "size_multiple", "min_run_length", "face_id", "largest_n"]
    for name, (_, options) in inputs.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert inputs["face_size"][1]["default"] == 512 and inputs["face_padding"][1]["default"] == 20 and inputs["face_id"][1]["default"] == -1
    assert inputs["size_multiple"][1]["default"] in inputs["size_multiple"][0]
    assert node.RETURN_TYPES == ("IMAGE", "FUSE_CROPS", "MASK") and node.RETURN_NAMES == ("crops", "crop_plan", "valid")
    assert len(node.OUTPUT_TOOLTIPS) == 3 and node.CATEGORY == "FUSE/crop" and node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))
    assert crop.NODE_CLASS_MAPPINGS == {"FUSECropFaceSequences": node}
    assert crop.NODE_DISPLAY_NAME_MAPPINGS == {"FUSECropFaceSequences": "FUSE Crop Face Sequences"}


@pytest.mark.parametrize(
    "options, expected_ids, expected_size",
    [
        (dict(), [1, 2], (64, 64)),
        (dict(face_id=2), [2], (64, 64)),
        (dict(largest_n=1), [1], (64, 64)),
        (dict(face_size=70, size_multiple="32"), [1, 2], (64, 64)),
        (dict(force_square=False, face_padding=0, size_multiple="8"), [1, 2], (64, 64)),
    ],
)
def test_crop_node_cuts_the_selected_tracks(monkeypatch, options, expected_ids, expected_size):
    totals, steps = [], []
    monkeypatch.setattr(crop.host, "progress_callback", lambda total: (totals.append(total), steps.append)[1])
    images = make_images()
    before = images.clone()
    arguments = dict(face_size=64, face_padding=4, margin=0.0, force_square=True, size_multiple="16", min_run_length=1, face_id=-1, largest_n=0)
    arguments.update(options)
    crops, plan, valid = crop.FUSECropFaceSequences().crop(images, make_tracks(), **arguments)
    assert torch.equal(images, before), "the node must not mutate its input IMAGE"
    assert [s.track_id for s in plan.sequences] == expected_ids
    assert crops.shape == (4 * len(expected_ids), *expected_size, 3) and crops.dtype == torch.float32
    assert valid.shape == crops.shape[:3] and 0 <= crops.min() and crops.max() <= 1
    assert totals == [8] and sum(steps) == 8, f"progress must run over every face-frame, got {totals} {steps}"


def test_crop_node_with_no_faces_returns_empty_batches():
    crops, plan, valid = crop.FUSECropFaceSequences().crop(make_images(), FaceTracks.empty(4, (64, 96)), face_size=512)
    assert len(plan) == 0 and crops.shape == (0, 512, 512, 3) and valid.shape == (0, 512, 512)


def test_crop_node_refuses_tracks_of_another_video():
    with pytest.raises(ValueError, match="images must be the video the tracks were made from"):
        crop.FUSECropFaceSequences().crop(make_images(n=3), make_tracks(n=4))
