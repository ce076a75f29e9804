"""FUSEPasteFaces: declaration, and crop -> paste runs through both nodes without ComfyUI."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.align import MEAN_LANDMARKS_IN_BOX
from comfyui_fuse.nodes import composite, crop
from comfyui_fuse.core.types import DETECTED, FaceTracks
from fuse_fake_host import record_progress


def make_clip(n=3, frame_size=(64, 96), landmarks=False):
    """Random frames and one face box at (20, 12, 50, 42) in every frame; with landmarks, five points
    at the average layout in the box."""
    images = torch.rand(n, *frame_size, 3, generator=torch.Generator().manual_seed(2))
    xyxy = np.tile(np.array([[[20, 12, 50, 42]]], np.float32), (1, n, 1))
    points = xyxy[..., None, :2] + MEAN_LANDMARKS_IN_BOX * (xyxy[..., None, 2:] - xyxy[..., None, :2])
    tracks = FaceTracks(
        track_id=np.array([1]),
        xyxy=xyxy,
        state=np.full((1, n), DETECTED, np.uint8),
        score=np.full((1, n), 0.9, np.float32),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
        landmarks=points.astype(np.float32) if landmarks else None,
    )
    return images, tracks


def test_node_is_declared_for_comfyui():
    node = composite.FUSEPasteFaces
    declared = node.INPUT_TYPES()
    assert list(declared["required"]) == ["images", "crops", "crop_plan", "blend_mode", "blend_amount"]
    # new inputs go last, so saved workflows (widget values by position) keep their meaning
    assert list(declared["optional"]) == ["paste_mode", "crop_mask", "occlusion_mask", "edit_mask", "tracks", "seam", "color_match", "feather_pixels", "fade_frames"]
    optional = declared["optional"]
    assert optional["paste_mode"][1]["default"] == "difference" and optional["seam"] == (["feather", "poisson"], optional["seam"][1])
    assert optional["color_match"][0] == ["none", "lab_mean_std"] and optional["color_match"][1]["default"] == "none"
    assert optional["fade_frames"][1]["default"] == 3 and optional["tracks"][0] == "FUSE_TRACKS" and optional["edit_mask"][0] == "MASK"
    for group in ("required", "optional"):
        for name, (_, options) in declared[group].items():
            assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert declared["required"]["blend_mode"][0] == ["box", "ellipse", "face_hull", "lower_face"] and declared["required"]["blend_amount"][1]["default"] == 0.3
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
    with pytest.raises(ValueError, match=r"crops must have 3 rows, one per crop of the crop plan \(1 sequences\), but got 2"):
        composite.FUSEPasteFaces().paste(images, crops[:2], plan)


@pytest.mark.parametrize("blend_mode", ["face_hull", "lower_face"])
def test_hull_modes_paste_inside_the_face_with_the_tracks(blend_mode):
    images, tracks = make_clip(landmarks=True)
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    pasted, mask = composite.FUSEPasteFaces().paste(images, 1.0 - crops, plan, blend_mode=blend_mode, tracks=tracks, feather_pixels=2.0)
    box_mask = composite.FUSEPasteFaces().paste(images, 1.0 - crops, plan)[1]
    assert torch.equal(pasted[mask == 0], images[mask == 0]), "outside the hull the frames must be bit-identical"
    assert 0 < mask.gt(0).sum() < box_mask.gt(0).sum() / 2, "a hull covers part of the face box, not the crop"


def test_hull_mode_without_tracks_names_the_missing_input():
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    with pytest.raises(ValueError, match=r"tracks must be connected for blend_mode 'face_hull'"):
        composite.FUSEPasteFaces().paste(images, crops, plan, blend_mode="face_hull")
    with pytest.raises(ValueError, match=r"tracks must carry face landmarks .*YOLO pose"):
        composite.FUSEPasteFaces().paste(images, crops, plan, blend_mode="face_hull", tracks=tracks)


@pytest.mark.parametrize("color_match", ["none", "lab_mean_std"])
def test_one_bar_counts_the_crops_once_with_or_without_the_colour_pass(monkeypatch, color_match):
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    bars = record_progress(monkeypatch)
    composite.FUSEPasteFaces().paste(images, crops * 0.9, plan, color_match=color_match, seam="poisson")
    assert [bar["total"] for bar in bars.bars] == [3], f"one bar over the 3 crops (not one per pass), got {bars.messages()}"
    values = bars.bars[0]["values"]
    assert values[-1] == 3 and values == sorted(set(values)), f"the bar must rise to 3/3 without repeating, got {bars.messages()}"


def test_edit_mask_input_limits_the_paste():
    images, tracks = make_clip()
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=64, face_padding=4)
    edit = torch.zeros(1, 64, 64)
    edit[:, 40:56, 16:48] = 1.0
    pasted, mask = composite.FUSEPasteFaces().paste(images, 1.0 - crops, plan, paste_mode="replace", edit_mask=edit)
    assert torch.equal(pasted[mask == 0], images[mask == 0]) and mask[:, :27].eq(0).all(), "only the edited (lower) part of the crop may be pasted"
