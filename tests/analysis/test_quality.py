"""Face quality measures: each responds to what it measures, and the score picks the better face."""

import cv2
import numpy as np
import pytest

from comfyui_fuse.media import synthetic
from comfyui_fuse.analysis.quality import FaceQuality, artifact_score, exposure_score, face_quality, sharpness_score, symmetry_score

FACE_BOX = np.array([40.0, 40.0, 200.0, 200.0])


@pytest.fixture(scope="module")
def face_frame() -> np.ndarray:
    """A 240x240 frame with the astronaut's face filling FACE_BOX."""
    scene = synthetic.Scene(1, (240, 240), [FACE_BOX[None].astype(np.float32)], [0])
    return synthetic.render(scene)[0]


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def test_blur_lowers_sharpness(face_frame):
    sharp = face_quality(face_frame, FACE_BOX)
    blurred = face_quality(cv2.GaussianBlur(face_frame, (0, 0), 3), FACE_BOX)
    assert blurred.sharpness < sharp.sharpness - 0.2, f"blurring should cost sharpness: {sharp.sharpness:.3f} -> {blurred.sharpness:.3f}"
    assert blurred.score < sharp.score


def test_flat_or_clipped_faces_have_low_exposure(face_frame):
    assert exposure_score(np.full((50, 50), 128.0)) == 0, "one grey level carries no information"
    normal = face_quality(face_frame, FACE_BOX).exposure
    dark = face_quality((face_frame // 16).astype(np.uint8), FACE_BOX).exposure
    assert dark < normal - 0.2, f"an under-exposed face uses few grey levels: {normal:.3f} -> {dark:.3f}"


@pytest.mark.parametrize("side, target, expected", [(64, 256, 1 / 16), (128, 256, 0.25), (256, 256, 1.0), (400, 256, 1.0), (100, 100, 1.0)])
def test_resolution_is_area_over_target_capped(side, target, expected):
    frame = np.zeros((500, 500, 3), np.uint8)
    quality = face_quality(frame, np.array([0.0, 0.0, side, side]), target_side=target)
    assert quality.resolution == pytest.approx(expected)


@pytest.mark.parametrize(
    "landmarks, yaw, expected",
    [
        ([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float("nan"), 1.0),  # nose centred between the eyes
        ([[30, 40], [70, 40], [40, 60], [35, 80], [65, 80]], float("nan"), 1 / 3),  # nose 10 px from one eye, 30 from the other
        (None, 60.0, 0.5),  # cos(yaw) without landmarks
        (None, float("nan"), float("nan")),
    ],
)
def test_symmetry(landmarks, yaw, expected):
    value = symmetry_score(None if landmarks is None else np.array(landmarks, np.float64), yaw)
    if np.isnan(expected):
        assert np.isnan(value)
    else:
        assert value == pytest.approx(expected)


def test_jpeg_blocking_lowers_the_artifact_score(face_frame):
    clean = face_quality(face_frame, FACE_BOX).artifacts
    blocky = face_quality(jpeg(face_frame, 5), FACE_BOX).artifacts
    assert clean > 0.9, f"an uncompressed face shows no 8 px grid, but scored {clean:.3f}"
    assert blocky < clean - 0.3, f"JPEG quality 5 should show its 8 px blocks: {clean:.3f} -> {blocky:.3f}"


def test_blockiness_is_measured_on_the_frames_grid():
    """Blocks are aligned to the frame, so a region must say where it starts."""
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.uniform(0, 255, (8, 8)), np.ones((8, 8))) + rng.normal(0, 2, (64, 64))
    assert artifact_score(blocks, (0, 0)) == 0, "8x8 constant blocks on the grid are pure blocking"
    assert artifact_score(blocks[4:, 4:], (4, 4)) == 0, "the same blocks seen from an offset region"
    assert artifact_score(blocks[4:, 4:], (0, 0)) > 0.5, "with the wrong origin the boundaries are missed"
    assert np.isnan(artifact_score(blocks[:10, :10], (0, 0))), "too small to measure"


def test_score_is_the_weighted_mean_of_the_known_measures():
    quality = FaceQuality(sharpness=1.0, exposure=1.0, resolution=0.0, symmetry=float("nan"), artifacts=1.0)
    assert quality.score == pytest.approx((0.3 + 0.15 + 0.1) / (0.3 + 0.15 + 0.25 + 0.1))
    assert quality.as_dict()["symmetry"] is None


def test_a_box_outside_the_frame_scores_without_failing(face_frame):
    quality = face_quality(face_frame, np.array([300.0, 300.0, 400.0, 400.0]))
    assert quality.sharpness == 0 and quality.exposure == 0
    assert 0 <= quality.score <= 1
    assert sharpness_score(np.zeros((10, 10), np.float32)) == 0
