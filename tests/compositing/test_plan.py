"""Table tests for CropPlan / FaceSequence and the source fingerprint."""

from contextlib import nullcontext as does_not_raise
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.plan import CropPlan, FaceSequence, fingerprint_frames, same_video


def scale_affines(m, scale=2.0, tx=-10.0, ty=-20.0):
    return np.tile(np.array([[scale, 0, tx], [0, scale, ty]], np.float64), (m, 1, 1))


@pytest.mark.parametrize(
    "kwargs, expectation",
    [
        (dict(frames=[0, 1, 2], affine_src_to_crop=scale_affines(3)), does_not_raise()),
        (dict(frames=[], affine_src_to_crop=np.zeros((0, 2, 3))), pytest.raises(ValueError, match="at least one frame")),
        (dict(frames=[0, 2, 1], affine_src_to_crop=scale_affines(3)), pytest.raises(ValueError, match="strictly increasing")),
        (dict(frames=[0, 1], affine_src_to_crop=scale_affines(3)), pytest.raises(ValueError, match=r"shape \(2, 2, 3\)")),
        (dict(frames=[0], affine_src_to_crop=np.zeros((1, 2, 3))), pytest.raises(ValueError, match="invertible")),
        (dict(frames=[0], affine_src_to_crop=np.full((1, 2, 3), np.nan)), pytest.raises(ValueError, match="finite")),
    ],
)
def test_face_sequence_construction(kwargs, expectation):
    with expectation:
        FaceSequence(track_id=1, crop_size=(64, 64), **kwargs)


def test_inverse_affine_round_trips():
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle), 5.0], [np.sin(angle), np.cos(angle), -7.0]]) * 1.5
    sequence = FaceSequence(1, [4], rotation[None], (32, 32))
    point = np.array([12.0, 30.0, 1.0])
    crop_point = rotation @ point
    back = sequence.affine_crop_to_src[0] @ np.append(crop_point, 1.0)
    assert np.allclose(back, point[:2]), f"crop->src must invert src->crop, got {back}"


def test_plan_rows_and_validation():
    fingerprint = np.zeros((5, 16, 16, 3), np.uint8)
    a = FaceSequence(1, [0, 1, 2], scale_affines(3), (64, 64))
    b = FaceSequence(2, [3, 4], scale_affines(2), (64, 64))
    plan = CropPlan((a, b), (100, 200), 5, Fraction(25), fingerprint)
    assert plan.total_rows == 5 and plan.row_offsets.tolist() == [0, 3, 5] and plan.crop_size == (64, 64)
    assert [s.track_id for s in plan.select_tracks([2]).sequences] == [2]
    with pytest.raises(ValueError, match="must stay within 4 frames"):
        CropPlan((a, b), (100, 200), 4, Fraction(25), fingerprint[:4])
    with pytest.raises(ValueError, match="share one crop_size"):
        CropPlan((a, FaceSequence(2, [3], scale_affines(1), (32, 32))), (100, 200), 5, Fraction(25), fingerprint)
    with pytest.raises(ValueError, match="fingerprint must be"):
        CropPlan((a,), (100, 200), 5, Fraction(25), fingerprint[:3])
    empty = CropPlan((), (100, 200), 5, Fraction(25), fingerprint)
    assert empty.total_rows == 0 and empty.crop_size is None


def test_fingerprint_tells_videos_apart_but_survives_face_edits():
    generator = torch.Generator().manual_seed(0)
    video = torch.rand((4, 90, 160, 3), generator=generator)
    fingerprint = fingerprint_frames(video)
    assert fingerprint.shape == (4, 16, 16, 3) and fingerprint.dtype == np.uint8
    assert np.array_equal(fingerprint, fingerprint_frames(video.numpy())), "torch and numpy inputs must agree"
    edited = video.clone()
    edited[:, 20:60, 40:90] = 0.5  # a face pasted over: about 14% of the frame
    assert same_video(fingerprint, edited), "a video whose face region changed must still match"
    other = torch.rand((4, 90, 160, 3), generator=generator)
    assert not same_video(fingerprint, other), "a different video must not match"
    assert not same_video(fingerprint, video[:3]), "a different frame count must not match"
    shifted = torch.roll(video, shifts=7, dims=2)
    assert not same_video(fingerprint, shifted), "a shifted video must not match"
