"""InsightFace 1k3d68 on onnxruntime: the crop, the mapping back to source pixels, loading and options."""

import numpy as np
import pytest

from fuse_fake_host import FakeModelFolders
from fuse_insightface_models import arcface_onnx, landmark_3d68_onnx

from comfyui_fuse.models.face_landmarks import Landmarker3D, LandmarkerLoadError, landmarker_options, load_face_landmarker
from comfyui_fuse.analysis.pose import head_pose_from_landmarks_3d

BOX = np.array([[100.0, 60.0, 180.0, 160.0]])  # centre (140, 110), longer side 100 -> crop side 150 source px


def fake_landmarker(prediction: np.ndarray, seen: list | None = None) -> Landmarker3D:
    """A landmarker whose network always predicts `prediction` (1103, 3) in -1..1 units."""

    def infer(blob):
        if seen is not None:
            seen.append(blob)
        return np.tile(prediction.reshape(1, -1), (len(blob), 1))

    return Landmarker3D("test", infer, 192, batched=True)


@pytest.mark.parametrize(
    "value, expected_xy",
    [
        (0.0, (140.0, 110.0)),  # the crop centre is the box centre
        (1.0, (140.0 + 75.0, 110.0 + 75.0)),  # +1 is the crop's far corner: half the 150 px crop away
        (-1.0, (140.0 - 75.0, 110.0 - 75.0)),
    ],
)
def test_predictions_map_back_to_source_pixels(value, expected_xy):
    prediction = np.full((1103, 3), value)
    points = fake_landmarker(prediction).landmarks_3d(np.zeros((300, 300, 3), np.uint8), BOX)
    assert points.shape == (1, 68, 3)
    np.testing.assert_allclose(points[0, :, :2], np.tile(expected_xy, (68, 1)), atol=1e-4)
    np.testing.assert_allclose(points[0, :, 2], value * 75.0, atol=1e-4, err_msg="depth is scaled like x and y")


def test_only_the_last_68_points_are_landmarks():
    prediction = np.zeros((1103, 3))
    prediction[-68:, 0] = 0.5
    points = fake_landmarker(prediction).landmarks_3d(np.zeros((300, 300, 3), np.uint8), BOX)
    np.testing.assert_allclose(points[0, :, 0], 140.0 + 0.5 * 75.0, atol=1e-4)


def test_the_crop_is_raw_rgb_around_the_box():
    seen = []
    frame = np.zeros((300, 300, 3), np.uint8)
    frame[60:160, 100:180] = (10, 20, 30)
    fake_landmarker(np.zeros((1103, 3)), seen).landmarks_3d(frame, BOX)
    blob = seen[0]
    assert blob.shape == (1, 3, 192, 192) and blob.dtype == np.float32
    np.testing.assert_allclose(blob[0, :, 96, 96], [10, 20, 30], err_msg="1k3d68 takes raw 0..255 RGB pixels")
    np.testing.assert_allclose(blob[0, :, 5, 5], 0, err_msg="outside the box (the crop is 1.5x larger) the frame is black here")


@pytest.fixture(scope="module")
def insightface_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("insightface")
    landmark_3d68_onnx(folder / "buffalo_l" / "1k3d68.onnx")
    arcface_onnx(folder / "buffalo_l" / "w600k_r50.onnx")
    return folder, ["buffalo_l/1k3d68.onnx", "buffalo_l/w600k_r50.onnx"]


def load(folder, option, files):
    return load_face_landmarker(option, FakeModelFolders({"insightface": files}, directory=folder))


def test_a_random_1k3d68_gives_68_points_near_the_face(insightface_folder):
    folder, files = insightface_folder
    landmarker = load(folder, "auto", files)
    assert landmarker is not None and landmarker.name == "insightface/buffalo_l/1k3d68.onnx"
    frame = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    points = landmarker.landmarks_3d(frame, np.concatenate([BOX, BOX + 20]))
    assert points.shape == (2, 68, 3) and np.isfinite(points).all()
    assert (np.abs(points[0, :, :2] - [140, 110]) <= 75 + 1e-3).all(), "tanh outputs stay inside the crop"
    assert np.isfinite(head_pose_from_landmarks_3d(points)).all(), "any 3D points give a pose"


def test_options_auto_and_none(insightface_folder):
    folder, files = insightface_folder
    assert landmarker_options(FakeModelFolders({"insightface": files})) == ["auto", "none", "insightface/buffalo_l/1k3d68.onnx"]
    assert load(folder, "none", files) is None
    assert load(folder, "auto", ["buffalo_l/w600k_r50.onnx"]) is None, "auto without a 1k3d68 file: pose from the five landmarks"
    with pytest.raises(ValueError, match="landmarks_3d must be one of 'auto', 'none' or a listed model"):
        load(folder, "1k3d68.onnx", files)


def test_a_recogniser_is_refused_as_landmarker(insightface_folder):
    folder, files = insightface_folder
    with pytest.raises(LandmarkerLoadError, match="not one \\(batch, 3309\\) of 3D points"):
        load(folder, "insightface/buffalo_l/w600k_r50.onnx", files)
