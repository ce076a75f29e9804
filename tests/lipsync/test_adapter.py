"""FUSE crop <-> model crop: face geometry per row, the crop -> 96x96 affines, the edit mask."""

import math

import numpy as np
import pytest

from comfyui_fuse.lipsync.adapter import (
    CENTRED_FACE_FRACTION,
    REFERENCE_LANDMARKS_112,
    REFERENCE_REGION_112,
    RowGeometry,
    centred_geometry,
    fit_similarity,
    lower_face_mask,
    model_affines,
    tracks_geometry,
    warp_from_model,
    warp_to_model,
)


def similarity(scale, degrees, shift):
    angle = math.radians(degrees)
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.concatenate([rotation, np.array(shift, float)[:, None]], axis=1)


def apply(affine, points):
    return points @ affine[:, :2].T + affine[:, 2]


@pytest.mark.parametrize("scale, degrees, shift", [(1.0, 0, (0, 0)), (1.7, 20, (5, -3)), (0.4, -35, (100, 40)), (3.0, 90, (-7, 7))])
def test_fit_similarity_recovers_a_known_transform(scale, degrees, shift):
    truth = similarity(scale, degrees, shift)
    target = apply(truth, REFERENCE_LANDMARKS_112)
    np.testing.assert_allclose(fit_similarity(REFERENCE_LANDMARKS_112, target), truth, atol=1e-9)


def geometry_for_box(box, landmarks=None):
    return RowGeometry(face_xyxy=np.array([box], float), landmarks=landmarks, score=np.array([np.nan]), face_width_src=np.array([100.0]))


def centres_to_continuous(affine, points):
    """Map continuous points through a pixel-centre affine (what model_affines returns)."""
    return apply(affine, points - 0.5) + 0.5


def test_box_path_squashes_the_box_with_chin_room_onto_the_model_square():
    (affine,) = model_affines(geometry_for_box((10, 20, 110, 120)), 96)
    corners = centres_to_continuous(affine, np.array([[10.0, 20.0], [110.0, 125.0]]))
    np.testing.assert_allclose(corners, [[0, 0], [96, 96]], atol=1e-9, err_msg="box top-left -> (0,0); box bottom-right plus 5% chin room -> (96,96)")


def reference_in_model_space(size=96):
    x1, y1, x2, y2 = REFERENCE_REGION_112
    return (REFERENCE_LANDMARKS_112 - [x1, y1]) * [size / (x2 - x1), size / (y2 - y1)]


@pytest.mark.parametrize("degrees", [0, 25, -40])
def test_landmark_path_puts_eyes_and_mouth_where_the_model_expects_them(degrees):
    truth = similarity(1.6, degrees, (30, 12))  # reference face -> crop, rotated head
    landmarks = apply(truth, REFERENCE_LANDMARKS_112)[None]
    (affine,) = model_affines(geometry_for_box((0, 0, 10, 10), landmarks=landmarks), 96)
    mapped = centres_to_continuous(affine, landmarks[0])
    np.testing.assert_allclose(mapped, reference_in_model_space(), atol=1e-6, err_msg="landmarks must land on the reference positions of the model crop")
    mouth_left, mouth_right = mapped[3], mapped[4]
    assert abs(mouth_left[1] - mouth_right[1]) < 0.5, "a rotated head is levelled: the mouth is horizontal in the model crop"


def test_landmarks_with_nan_fall_back_to_the_box():
    landmarks = np.full((1, 5, 2), np.nan)
    with_nan = model_affines(geometry_for_box((10, 20, 110, 120), landmarks=landmarks), 96)
    box_only = model_affines(geometry_for_box((10, 20, 110, 120)), 96)
    np.testing.assert_array_equal(with_nan, box_only)


def test_box_and_landmark_paths_agree_on_a_square_face(build):
    box = np.array([20.0, 30.0, 120.0, 130.0])
    landmarks = build.reference_landmarks(box[None])
    by_box = model_affines(geometry_for_box(box), 96)[0]
    by_landmarks = model_affines(geometry_for_box(box, landmarks=landmarks), 96)[0]
    points = landmarks[0]
    difference = np.abs(centres_to_continuous(by_box, points) - centres_to_continuous(by_landmarks, points)).max()
    assert difference < 1.0, f"both framings must put the landmarks within a model pixel of each other, got {difference:.2f} px"


def test_lower_face_mask_covers_mouth_and_chin_only():
    mask = lower_face_mask(96)
    assert mask.shape == (96, 96) and mask.dtype == np.float32
    assert (mask[:46] == 0).all(), "nothing above the nose line is edited"
    assert mask[70, 48] == 1, "the mouth is fully edited"
    assert mask[:, :15].max() == 0 and mask[:, 81:].max() == 0, "cheek edges and background are left alone"
    assert 0 < mask[50, 48] < 1, "the edge is feathered"


def test_warp_to_model_and_back_round_trips_inside_the_model_region():
    ys, xs = np.mgrid[0:200, 0:200]
    crop = np.stack([xs / 200, ys / 200, 0.5 + 0 * xs], -1).astype(np.float32)  # smooth ramps
    (affine,) = model_affines(geometry_for_box((40, 40, 160, 160)), 96)
    face = warp_to_model(crop, affine, 96)
    assert face.shape == (96, 96, 3)
    back = warp_from_model(face, affine, (200, 200))
    inside = (slice(50, 150), slice(50, 150))
    assert np.abs(back[inside] - crop[inside]).max() < 0.02, "a smooth image survives crop -> model -> crop"
    assert (back[:30] == 0).all(), "outside the model square the warp gives 0"


def test_tracks_geometry_maps_boxes_into_crop_space(build):
    clip = build.clip(frame_count=3, face_size=96, landmarks=True)
    geometry = tracks_geometry(clip.plan, clip.tracks)
    assert geometry.face_xyxy.shape == (3, 4) and geometry.landmarks.shape == (3, 5, 2)
    np.testing.assert_allclose(geometry.face_width_src, 100.0, err_msg="source box width")
    # plan_crops centres the box with 20 source px of padding each side: 100 px face in a 140 px region
    np.testing.assert_allclose(geometry.face_xyxy[:, 0], 96 * 20 / 140, atol=1e-6)
    np.testing.assert_allclose(geometry.face_xyxy[:, 2], 96 * 120 / 140, atol=1e-6)
    np.testing.assert_allclose(geometry.score, 0.9, rtol=1e-6)


def test_tracks_geometry_refuses_tracks_of_another_clip(build):
    clip = build.clip(frame_count=3)
    other = build.clip(frame_count=4)
    with pytest.raises(ValueError, match="tracks must be the FUSE_TRACKS the crop plan was made from"):
        tracks_geometry(clip.plan, other.tracks)


def test_centred_geometry_assumes_a_centred_face(build):
    clip = build.clip(frame_count=2, face_size=96)
    geometry = centred_geometry(clip.plan)
    side = CENTRED_FACE_FRACTION * 96
    np.testing.assert_allclose(geometry.face_xyxy[0], [(96 - side) / 2, (96 - side) / 2, (96 + side) / 2, (96 + side) / 2])
    np.testing.assert_allclose(geometry.face_width_src, CENTRED_FACE_FRACTION * 140, rtol=1e-6, err_msg="crop pixels back to source pixels")
    assert geometry.landmarks is None and np.isnan(geometry.score).all()


@pytest.mark.parametrize("yaw, syncable", [(0.0, True), (30.0, True), (60.0, False), (-60.0, False)])
def test_head_pose_from_the_tracks_landmarks_enforces_the_yaw_limit(yaw, syncable):
    """Issue 5: a profile face (|yaw| > 45 degrees by default) is not lipsynced; the yaw comes from
    the tracks' five landmarks through tracking.pose (PnP against the generic 3D face)."""
    from fractions import Fraction

    from fuse_analysis_builders import FRAME_SIZE, project_face

    from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
    from comfyui_fuse.compositing.plan import fingerprint_frames
    from comfyui_fuse.lipsync.selection import syncable_rows
    from comfyui_fuse.analysis.syncability import SyncRules
    from comfyui_fuse.core.types import DETECTED, FaceTracks

    landmarks = project_face([0.0, yaw, 0.0], eye_distance_px=90.0)  # (5,2), a ~200 px face
    box = np.array([*(landmarks.min(0) - 60), *(landmarks.max(0) + 60)], np.float32)
    tracks = FaceTracks(
        track_id=np.array([1]), xyxy=box[None, None], state=np.full((1, 1), DETECTED, np.uint8), score=np.full((1, 1), 0.9, np.float32),
        frame_count=1, frame_size=FRAME_SIZE, fps=Fraction(25), landmarks=landmarks[None, None].astype(np.float32),
    )
    plan = plan_crops(tracks, fingerprint_frames(np.zeros((1, *FRAME_SIZE, 3), np.uint8)), CropSpec(face_size=96))
    geometry = tracks_geometry(plan, tracks)
    assert abs(abs(geometry.yaw_deg[0]) - abs(yaw)) < 5, f"yaw {yaw} must be recovered from the landmarks, got {geometry.yaw_deg[0]:.1f}"
    assert bool(syncable_rows(geometry, SyncRules())[0]) is syncable, f"a face at yaw {yaw} must {'' if syncable else 'not '}be syncable"
