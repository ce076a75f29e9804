"""FUSEPasteFaces: declaration, and crop -> paste runs through both nodes without ComfyUI."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.nodes import composite, crop
from comfyui_fuse.tracking.types import DETECTED, FaceTracks


def make_clip(n=3, frame_size=(64, 96)):
    images = torch.rand(n, *frame_size, 3, generator=torch.Generator().manual_seed(2))
    tracks = FaceTracks(
        track_id=np.array([1]),
        xyxy=np.tile(np.array([[[20, 12, 50, 42]]], np.float32), (1, n, 1)),
        state=np.full((1, n), DETECTED, np.uint8),
        score=np.full((1, n), 0.9, np.float32),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
    )
    return images, tracks


def test_node_is_declared_for_comfyui():
    node = composite.FUSEPasteFaces
    declared = node.INPUT_TYPES()
    assert list(declared["required"]) == ["images", "crops", "crop_plan", "blend_mode", "blend_amount"]
    assert list(declared["optional"]) == ["paste_mode", "crop_mask", "occlusion_mask"]
    assert declared["optional"]["paste_mode"][1]["default"] == "difference"
    for group in ("required", "optional"):
        for name, (_, options) in declared[group].items():
            assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert declared["required"]["blend_mode"][0] == ["box", "ellipse"] and declared["required"]["blend_amount"][1]["default"] == 0.3
    assert node.RETURN_TYPES == ("IMAGE", "MASK") and len(node.OUTPUT_TOOLTIPS) == 2
    assert node.CATEGORY == "FUSE/composite" and node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))
    assert composite.NODE_CLASS_MAPPINGS == {"FUSEPasteFaces": node}
    assert composite.NODE_DISPLAY_NAME_MAPPINGS == {"FUSEPasteFaces": "FUSE Paste Faces"}


@pytest.mark.parametrize("blend_mode", ["box", "ellipse"])
def test_crop_then_paste_nodes_change_only_the_face(monkeypatch, blend_mode):
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    totals, steps = [], []
    monkeypatch.setattr(composite.host, "progress_callback", lambda total: (totals.append(total), steps.append)[1])
    processed = 1.0 - crops  # any IMAGE -> IMAGE node
    copies = images.clone(), processed.clone()
    pasted, mask = composite.FUSEPasteFaces().paste(images, processed, plan, blend_mode=blend_mode, blend_amount=0.3)
    assert torch.equal(images, copies[0]) and torch.equal(processed, copies[1]), "the node must not mutate its inputs"
    assert pasted.shape == images.shape and mask.shape == images.shape[:3]
    assert torch.equal(pasted[mask == 0], images[mask == 0]), "outside the pasted mask the frames must be bit-identical"
    assert (pasted[mask > 0.5] != images[mask > 0.5]).all(), "inside, the processed face must show"
    assert mask[:, :, 70:].eq(0).all() and mask[:, 27, 35].eq(1).all()
    assert totals == [3] and sum(steps) == 3, f"progress must run over the crop rows, got {totals} {steps}"


def test_paste_node_takes_optional_masks():
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    occlusion = torch.ones(1, 64, 96)
    pasted, mask = composite.FUSEPasteFaces().paste(images, 1.0 - crops, plan, crop_mask=torch.ones(3, 64, 64), occlusion_mask=occlusion)
    assert torch.equal(pasted, images) and mask.eq(0).all(), "a full occlusion mask must keep every original pixel"


def test_paste_node_reports_crops_of_the_wrong_count():
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64)
    with pytest.raises(ValueError, match=r"crops must have 3 rows for this plan \(1 sequences\), but got 2"):
        composite.FUSEPasteFaces().paste(images, crops[:2], plan)
