"""Head pose: a generic face projected at a known pose is recovered, from 5 points and from 68 3D points."""

import numpy as np
import pytest

from fuse_analysis_builders import FRAME_SIZE, points_68_from_five, project_face

from comfyui_fuse.analysis.pose import (
    GENERIC_FACE_3D_MM,
    angles_to_rotation,
    head_pose_from_landmarks,
    head_pose_from_landmarks_3d,
    rotation_to_angles,
)

TOLERANCE_DEG = 5.0
POSES = [(pitch, yaw, roll) for yaw in range(-60, 61, 15) for pitch in (-20, 0, 15) for roll in (-15, 0, 10)]


def angle_error(found: np.ndarray, expected) -> float:
    return float(np.abs(np.asarray(found, np.float64) - np.asarray(expected, np.float64)).max())


@pytest.mark.parametrize("pose", [(0, 0, 0), (10, -30, 5), (-25, 60, -20), (40, 75, 170)])
def test_angles_and_rotation_are_inverse_and_proper(pose):
    rotation = angles_to_rotation(np.array(pose, np.float64))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12, err_msg="a rotation must be orthonormal")
    assert np.linalg.det(rotation) == pytest.approx(1.0), "a rotation, never a reflection"
    np.testing.assert_allclose(rotation_to_angles(rotation), pose, atol=1e-9)


def test_sign_conventions_are_the_documented_ones():
    """Positive yaw turns the face to the image's left, positive pitch looks down, positive roll is clockwise."""
    frontal = project_face((0, 0, 0))
    turned = project_face((0, 30, 0))
    assert turned[2, 0] < turned[:2, 0].mean() - 5, "yaw +30: the nose tip must sit left of the eyes' middle"

    def nose_to_mouth(points):
        return points[3:, 1].mean() - points[2, 1]

    down = project_face((30, 0, 0))
    assert nose_to_mouth(down) < nose_to_mouth(frontal) - 5, "pitch +30 (looking down): the nose tip must come closer to the mouth on screen"
    rolled = project_face((0, 0, 20))
    assert rolled[1, 1] > rolled[0, 1] + 5, "roll +20 (clockwise): the image-right eye moves down"


@pytest.mark.parametrize("pose", POSES)
def test_pnp_recovers_the_pose_of_projected_landmarks(pose):
    landmarks = project_face(pose, centre_xy=(500.0, 300.0))
    found = head_pose_from_landmarks(landmarks[None], FRAME_SIZE)[0]
    assert angle_error(found, pose) <= TOLERANCE_DEG, f"pose {pose} recovered as {np.round(found, 2).tolist()}"


def test_pnp_stays_within_tolerance_with_detector_jitter():
    rng = np.random.default_rng(0)
    poses = np.array(POSES, np.float64)
    landmarks = np.stack([project_face(pose, eye_distance_px=120.0) for pose in poses]) + rng.normal(0, 0.5, (len(poses), 5, 2))
    found = head_pose_from_landmarks(landmarks, FRAME_SIZE)
    errors = np.abs(found - poses).max(axis=1)
    assert errors.max() <= TOLERANCE_DEG, f"with 0.5 px noise, pose {poses[errors.argmax()].tolist()} came out {found[errors.argmax()].round(2).tolist()}"


def test_missing_or_degenerate_landmarks_give_nan_rows():
    good = project_face((0, 20, 0))
    landmarks = np.stack([good, np.full((5, 2), np.nan), np.zeros((5, 2))])
    found = head_pose_from_landmarks(landmarks, FRAME_SIZE)
    assert np.isfinite(found[0]).all()
    assert np.isnan(found[1:]).all(), "NaN or collapsed landmarks must give an unknown pose, not a guess"


@pytest.mark.parametrize("shape", [(5, 2), (1, 4, 2), (2, 5, 3)])
def test_pnp_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"landmarks must be a 3D array with shape \(_, 5, 2\)"):
        head_pose_from_landmarks(np.zeros(shape), FRAME_SIZE)


@pytest.mark.parametrize("depth_sign", [1.0, -1.0])
@pytest.mark.parametrize("pose", POSES[::3])
def test_3d_landmarks_recover_the_pose_whatever_the_depth_sign(pose, depth_sign):
    """InsightFace's 1k3d68 gives x, y pixels and a depth of undocumented sign: both must work."""
    scale, shift = 1.7, np.array([400.0, 250.0, 0.0])
    five = GENERIC_FACE_3D_MM @ angles_to_rotation(np.array(pose, np.float64)).T * scale + shift
    five[:, 2] *= depth_sign
    found = head_pose_from_landmarks_3d(points_68_from_five(five)[None])[0]
    assert angle_error(found, pose) <= TOLERANCE_DEG, f"pose {pose} (depth sign {depth_sign}) recovered as {np.round(found, 2).tolist()}"


def test_3d_landmarks_with_nan_give_nan():
    points = np.full((1, 68, 3), np.nan)
    assert np.isnan(head_pose_from_landmarks_3d(points)).all()
    with pytest.raises(ValueError, match=r"shape \(_, 68, 3\)"):
        head_pose_from_landmarks_3d(np.zeros((1, 68, 2)))
