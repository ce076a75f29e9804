"""FUSECropFaceSequences: declaration, and runs without ComfyUI that cut crops (box or FFHQ-aligned) and never mutate."""

from fractions import Fraction

import logging

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.align import template_points
from comfyui_fuse.compositing.paste import PasteSpec, paste_faces
from comfyui_fuse.nodes import crop
from comfyui_fuse.media.synthetic import Scene, render
from comfyui_fuse.core.types import DETECTED, FaceTracks


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
    optional = node.INPUT_TYPES()["optional"]
    assert list(optional) == ["align", "faces"] and optional["faces"][1]["default"] == "all"
    assert optional["align"][0] == ["box", "ffhq_landmarks"] and optional["align"][1]["default"] == "box"
    assert optional["align"][1]["tooltip"], "align needs a tooltip"
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
    face_frames = 4 * len(expected_ids)
    assert totals == [face_frames] and sum(steps) == face_frames, f"progress must run over every selected face-frame, got {totals} {steps}"


def test_crop_node_with_no_faces_returns_empty_batches():
    crops, plan, valid = crop.FUSECropFaceSequences().crop(make_images(), FaceTracks.empty(4, (64, 96)), face_size=512)
    assert len(plan) == 0 and crops.shape == (0, 512, 512, 3) and valid.shape == (0, 512, 512)


def test_crop_node_refuses_tracks_of_another_video():
    with pytest.raises(ValueError, match="images must be the video the tracks were made from"):
        crop.FUSECropFaceSequences().crop(make_images(n=3), make_tracks(n=4))


def tilted_face(angle_deg: float, n=3, frame_size=(96, 128), landmarks=True):
    """A real face (rendered) and tracks whose landmarks are the 128 template turned by angle_deg
    about the face centre and scaled by 0.15 (about 19 source pixels between the eyes)."""
    angle = np.deg2rad(angle_deg)
    scale = 0.15  # source pixels per template pixel at face_size 128: a 6.7x crop scale, for the 2/255 round trip
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = template_points(128)
    centre = np.array([64.0, 48.0])
    points = (template - template.mean(axis=0)) @ rotation.T + centre + 0.5  # pixel centres -> the box convention
    box = np.concatenate([points.min(axis=0) - 12, points.max(axis=0) + 12])
    images = torch.from_numpy(render(Scene(n, frame_size, [np.tile(box, (n, 1)).astype(np.float32)], [0]))).float() / 255
    tracks = FaceTracks(
        track_id=np.array([1]),
        xyxy=np.tile(box, (1, n, 1)).astype(np.float32),
        state=np.full((1, n), DETECTED, np.uint8),
        score=np.full((1, n), 0.9, np.float32),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
        landmarks=np.tile(points, (1, n, 1, 1)).astype(np.float32) if landmarks else None,
    )
    return images, tracks


@pytest.mark.parametrize("angle_deg", [0.0, 25.0, -40.0])
def test_ffhq_alignment_turns_tilted_faces_upright_and_round_trips(angle_deg):
    images, tracks = tilted_face(angle_deg)
    crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, face_size=128, size_multiple="16", align="ffhq_landmarks")
    affine = plan.sequences[0].affine_src_to_crop[0]
    turned = np.rad2deg(np.arctan2(affine[1, 0], affine[0, 0]))
    assert abs(turned + angle_deg) < 0.5, f"the crop must undo a {angle_deg} degree tilt, but turns by {turned:.2f}"
    assert abs(np.hypot(*affine[:, 0]) - 1 / 0.15) < 0.01, "and scale the face to the template"
    assert crops.shape == (3, 128, 128, 3)
    assert torch.equal(paste_faces(images, crops, plan), images), "an unchanged aligned crop pasted back (difference) must change nothing"
    pasted, mask = paste_faces(images, crops, plan, PasteSpec(paste_mode="replace"), return_mask=True)
    solid = mask >= 1 - 1e-6
    error = float((pasted - images).abs()[solid].max())
    assert solid.sum() > 300 and error <= 2 / 255, f"replace paste through the inverse rotation must round-trip within 2/255, got {error * 255:.2f}/255"


def test_ffhq_alignment_without_landmarks_falls_back_to_box_crops(caplog):
    images, tracks = tilted_face(25.0, landmarks=False)
    arguments = dict(face_size=128, face_padding=4, size_multiple="16")
    with caplog.at_level(logging.WARNING):
        crops, plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, align="ffhq_landmarks", **arguments)
    box_crops, box_plan, _ = crop.FUSECropFaceSequences().crop(images, tracks, **arguments)
    assert "needs face landmarks" in caplog.text, "the fallback must be logged as a warning"
    assert torch.equal(crops, box_crops) and np.array_equal(plan.sequences[0].affine_src_to_crop, box_plan.sequences[0].affine_src_to_crop), "without landmarks the crops are the box crops"


def test_unknown_align_mode_is_named():
    with pytest.raises(ValueError, match=r"align must be one of \['box', 'ffhq_landmarks'\], but got 'eyes'"):
        crop.FUSECropFaceSequences().crop(make_images(), make_tracks(), face_size=64, align="eyes")


@pytest.mark.parametrize(
    "faces, identity, expected_ids",
    [
        ("all", None, [1, 2]),
        ("2", None, [2]),
        ("bob", ["alice", "bob"], [2]),
        ("alice, 2", ["alice", "bob"], [1, 2]),
    ],
)
def test_faces_selects_tracks_by_id_or_character(faces, identity, expected_ids):
    tracks = make_tracks()
    if identity is not None:
        tracks = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps, identity=np.array(identity))
    _, plan, _ = crop.FUSECropFaceSequences().crop(make_images(), tracks, face_size=32, faces=faces)
    assert [s.track_id for s in plan.sequences] == expected_ids, f"faces={faces!r} must crop tracks {expected_ids}"


def test_faces_and_face_id_together_is_a_clear_error():
    with pytest.raises(ValueError, match="face_id must be -1 when faces selects faces"):
        crop.FUSECropFaceSequences().crop(make_images(), make_tracks(), face_size=32, face_id=1, faces="2")


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(faces="carol"), r"faces must select faces in the tracks \(1 \(alice\), 2 \(bob\)\), but got carol, which is not there"),
        (dict(face_id=3), r"face_id must select faces in the tracks \(1 \(alice\), 2 \(bob\)\), but got 3"),  # as face_id always did
    ],
)
def test_a_face_the_clip_does_not_have_is_an_error_naming_the_faces_there(settings, message):
    tracks = make_tracks()
    tracks = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps, identity=np.array(["alice", "bob"]))
    with pytest.raises(ValueError, match=message):
        crop.FUSECropFaceSequences().crop(make_images(), tracks, face_size=32, **settings)
