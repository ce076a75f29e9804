"""Crop-space blend masks: shape, range, exact 1 inside, feather width, landmark hulls, fades, validation."""

import logging
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.align import MEAN_LANDMARKS_IN_BOX
from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.masks import blend_mask, box_mask, crop_landmarks, ellipse_mask, hull_mask, hull_polygon, sequence_fades
from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
from comfyui_fuse.media.synthetic import linear_path
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks


@pytest.mark.parametrize("make", [box_mask, ellipse_mask])
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (1, 1)])
@pytest.mark.parametrize("amount", [0.0, 0.3, 1.0])
def test_masks_are_float_0_to_1_and_symmetric(make, size, amount):
    mask = make(size, amount)
    assert mask.shape == size and mask.dtype == torch.float32
    assert mask.min() >= 0 and mask.max() <= 1, f"mask must stay in 0..1, got {mask.min()}..{mask.max()}"
    assert torch.allclose(mask, mask.flip(0)) and torch.allclose(mask, mask.flip(1)), "mask must be symmetric"


def test_hard_box_covers_the_whole_crop():
    assert torch.equal(box_mask((32, 48), 0.0), torch.ones(32, 48)), "blend_amount 0 must paste every crop pixel at full strength"


@pytest.mark.parametrize("amount, feather_pixels", [(0.25, 8), (0.5, 16), (0.75, 24)])
def test_box_feather_width_is_a_fraction_of_half_the_side(amount, feather_pixels):
    mask = box_mask((64, 64), amount)
    middle_row = mask[32]
    solid = torch.nonzero(middle_row == 1.0).flatten()
    assert solid.numel() > 0 and int(solid.min()) == feather_pixels, f"the ramp must span {feather_pixels} px, but ends at {solid.min() if solid.numel() else None}"
    assert (torch.diff(middle_row[:32]) >= 0).all(), "the ramp must rise monotonically towards the centre"
    assert middle_row[0] > 0, "the outermost pixel centre is half a pixel inside the crop, so it is pasted a little"


def test_ellipse_is_solid_in_the_middle_and_empty_in_the_corners():
    mask = ellipse_mask((64, 96), 0.3)
    assert mask[32, 48] == 1.0 and mask[0, 0] == 0 and mask[63, 95] == 0
    hard = ellipse_mask((64, 64), 0.0)
    assert set(hard.unique().tolist()) == {0.0, 1.0}, "blend_amount 0 must give a hard-edged ellipse"
    assert hard[32, 0] == 1.0 and hard[0, 0] == 0.0


@pytest.mark.parametrize(
    "mode, amount, message",
    [
        ("circle", 0.3, r"blend_mode must be one of \['box', 'ellipse'\], but got 'circle'"),
        ("box", 1.5, r"blend_amount must be a number in \[0, 1\] \(the feather width"),
        ("ellipse", -0.1, r"blend_amount must be a number in \[0, 1\] \(the feather width"),
    ],
)
def test_bad_blend_options_are_named(mode, amount, message):
    with pytest.raises(ValueError, match=message):
        blend_mask((32, 32), mode, amount)


# --- landmark hulls ---------------------------------------------------------------------------

FACE_LANDMARKS_128 = np.array([[48.0, 56.0], [80.0, 56.0], [64.0, 74.0], [51.0, 89.0], [77.0, 89.0]])  # an upright face in a 128 crop


def inside_polygon(polygon: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool (h,w): pixel centre strictly inside the polygon (more than 0.5 px from its edge)."""
    height, width = size
    contour = polygon.astype(np.float32)[:, None]
    distance = np.array([[cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x in range(width)] for y in range(height)])
    return distance


@pytest.mark.parametrize("blend_mode", ["face_hull", "lower_face"])
@pytest.mark.parametrize("feather", [0.0, 6.0])
def test_hull_mask_is_zero_outside_the_hull_and_one_deep_inside(blend_mode, feather):
    polygon = hull_polygon(FACE_LANDMARKS_128, blend_mode)
    mask = hull_mask((128, 128), polygon, feather)
    distance = inside_polygon(polygon, (128, 128))  # > 0 inside, < 0 outside, in pixels
    assert mask.dtype == torch.float32 and mask.shape == (128, 128)
    assert mask[torch.from_numpy(distance < -0.5)].eq(0).all(), "a hull mask must be exactly 0 outside the hull"
    assert mask[torch.from_numpy(distance > feather + 1.0)].eq(1).all(), f"beyond the feather ({feather} px) the mask must be exactly 1"
    if feather:
        ramp = mask[torch.from_numpy((distance > 1.0) & (distance < feather - 1.0))]
        assert ramp.gt(0).all() and ramp.lt(1).all(), "inside the feather band the mask ramps between 0 and 1"


def test_lower_face_covers_mouth_and_chin_but_not_the_eyes():
    face = hull_mask((128, 128), hull_polygon(FACE_LANDMARKS_128, "face_hull"), 0.0)
    lower = hull_mask((128, 128), hull_polygon(FACE_LANDMARKS_128, "lower_face"), 0.0)
    (left_eye, right_eye, nose, mouth_left, mouth_right) = FACE_LANDMARKS_128.round().astype(int)
    assert face[left_eye[1], left_eye[0]] == 1 and face[nose[1], nose[0]] == 1, "the whole-face hull holds the eyes and the nose"
    assert lower[left_eye[1], left_eye[0]] == 0 and lower[right_eye[1], right_eye[0]] == 0, "the lower-face hull must leave the eyes alone"
    assert lower[mouth_left[1], mouth_left[0]] == 1 and lower[mouth_right[1] + 10, 64] == 1, "the lower-face hull holds the mouth and the chin"
    assert (lower <= face).all(), "the lower face lies inside the whole face"


@pytest.mark.parametrize("feather", [4.0, 10.0])
def test_hull_feather_is_measured_in_the_given_pixels(feather):
    mask = hull_mask((128, 128), hull_polygon(FACE_LANDMARKS_128, "face_hull"), feather)
    row = mask[64]  # through the cheeks
    outside = torch.nonzero(row == 0).flatten()
    left_edge = int(outside[outside < 64].max())  # last empty pixel left of the centre
    first_solid = int(torch.nonzero(row[left_edge:] == 1).flatten().min())
    assert abs(first_solid - feather) <= 1.5, f"the ramp must span {feather} px from the hull edge, but spans {first_solid}"


def test_hull_follows_a_tilted_face():
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (FACE_LANDMARKS_128 - 64) @ rotation.T + 64
    upright, turned = hull_polygon(FACE_LANDMARKS_128, "face_hull"), hull_polygon(tilted, "face_hull")
    expected = (upright - 64) @ rotation.T + 64
    assert np.abs(np.sort(turned, axis=0) - np.sort(expected, axis=0)).max() < 1e-3, "the hull must turn with the landmarks"


# --- landmarks of crop rows ---------------------------------------------------------------------


def landmark_tracks(frame_count=6, landmarks=True, present=slice(None)) -> FaceTracks:
    """One upright face of 40 px drifting right; landmarks at the average layout in its box."""
    boxes = np.full((frame_count, 4), np.nan, np.float32)
    boxes[present] = linear_path(frame_count, (20, 10, 60, 50), (30, 12, 70, 52))[present]
    state = np.where(np.isfinite(boxes).all(-1), DETECTED, ABSENT).astype(np.uint8)
    points = boxes[:, None, :2] + MEAN_LANDMARKS_IN_BOX[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
    return FaceTracks([1], boxes[None], state[None], (state == DETECTED)[None].astype(np.float32), frame_count, (64, 96), Fraction(25), landmarks=points[None].astype(np.float32) if landmarks else None)


def box_plan(tracks: FaceTracks, face_size=64) -> CropPlan:
    return plan_crops(tracks, np.zeros((tracks.frame_count, 16, 16, 3), np.uint8), CropSpec(face_size=face_size, face_padding=4))


def test_crop_landmarks_are_the_track_landmarks_mapped_into_each_crop():
    tracks = landmark_tracks()
    plan = box_plan(tracks)
    mapped = crop_landmarks(plan, tracks, "face_hull", smooth_window=1)
    affine = plan.sequences[0].affine_src_to_crop
    expected = np.einsum("mij,mpj->mpi", affine[:, :, :2], tracks.landmarks[0].astype(np.float64) - 0.5) + affine[:, None, :, 2]
    np.testing.assert_allclose(mapped, expected, atol=1e-4, err_msg="landmarks (pixel edges) must land on crop pixel centres through each row's affine")


def test_a_sequence_without_landmarks_uses_the_average_layout(caplog):
    tracks = landmark_tracks()
    tracks = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps, landmarks=np.full_like(tracks.landmarks, np.nan))
    with caplog.at_level(logging.WARNING):
        mapped = crop_landmarks(box_plan(tracks), tracks, "lower_face")
    assert np.isfinite(mapped).all() and "has no landmarks" in caplog.text


def _landmark_error_cases():
    tracks = landmark_tracks()
    plan = box_plan(tracks)
    other = landmark_tracks(frame_count=5)
    return [
        ("no tracks", plan, None, r"tracks must be connected for blend_mode 'face_hull' .* connect the FUSE_TRACKS the crop plan was made from, or use blend_mode box or ellipse"),
        ("no landmarks", plan, landmark_tracks(landmarks=False), r"tracks must carry face landmarks for blend_mode 'face_hull', but these tracks have none .* \(YOLO pose .*, InsightFace or MTCNN\)"),
        ("another video", plan, other, r"tracks must be the FUSE_TRACKS the crop plan was made from \(6 frames of 96x64\), but got 5 frames"),
        ("other track ids", plan, FaceTracks([7], tracks.xyxy, tracks.state, tracks.score, 6, (64, 96), landmarks=tracks.landmarks), r"tracks must hold every track of the crop plan, but track ids \[1\] are missing"),
    ]


@pytest.mark.parametrize("label, plan, tracks, message", _landmark_error_cases(), ids=[case[0] for case in _landmark_error_cases()])
def test_missing_landmarks_are_refused_with_the_fix(label, plan, tracks, message):
    with pytest.raises(ValueError, match=message):
        crop_landmarks(plan, tracks, "face_hull")


# --- fades --------------------------------------------------------------------------------------


def plan_of_runs(runs: list[tuple[int, int]], frame_count: int) -> CropPlan:
    """A plan with one sequence per (start, stop) run, identity-like affines."""
    sequences = tuple(FaceSequence(index + 1, np.arange(start, stop), np.tile(np.eye(2, 3), (stop - start, 1, 1)), (8, 8)) for index, (start, stop) in enumerate(runs))
    return CropPlan(sequences, (8, 8), frame_count, Fraction(25), np.zeros((frame_count, 16, 16, 3), np.uint8))


@pytest.mark.parametrize(
    "runs, frame_count, fade_frames, expected",
    [
        ([(0, 10)], 10, 3, [1] * 10),  # the whole clip: the face was there all along
        ([(0, 6)], 10, 3, [1, 1, 1, 0.75, 0.5, 0.25]),  # leaves before the clip ends: fades out
        ([(4, 10)], 10, 3, [0.25, 0.5, 0.75, 1, 1, 1]),  # enters after the clip starts: fades in
        ([(2, 8)], 10, 3, [0.25, 0.5, 0.75, 0.75, 0.5, 0.25]),  # short: in and out, peak below 1
        ([(2, 8)], 10, 0, [1] * 6),  # fade_frames 0: no fades
        ([(0, 3), (5, 10)], 10, 1, [1, 1, 0.5, 0.5, 1, 1, 1, 1]),  # each sequence on its own
    ],
)
def test_sequence_fades_ramp_at_sequence_ends_but_not_at_clip_ends(runs, frame_count, fade_frames, expected):
    fades = sequence_fades(plan_of_runs(runs, frame_count), fade_frames)
    np.testing.assert_allclose(fades, expected, err_msg=f"fades of runs {runs} in a {frame_count}-frame clip")


def test_bad_fade_frames_are_named():
    with pytest.raises(ValueError, match=r"fade_frames must be an int >= 0 \(0 = no fades\), but got -1"):
        sequence_fades(plan_of_runs([(0, 3)], 5), -1)
