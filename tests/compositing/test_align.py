"""Landmark alignment to the FFHQ template: known similarity transforms are recovered."""

from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.align import plan_aligned_crops, similarity_transforms, smooth_landmarks, template_points
from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.plan import fingerprint_frames
from comfyui_fuse.compositing.warp import crop_faces, valid_mask
from comfyui_fuse.media.synthetic import face_sprites
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """(2,3) affine: rotate by angle, scale, then translate."""
    angle = np.deg2rad(angle_deg)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def invert(affine: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(affine[:, :2])
    return np.concatenate([linear, (-linear @ affine[:, 2])[:, None]], axis=1)


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def landmarks_for(src_to_crop: np.ndarray, face_size: int) -> np.ndarray:
    """(5,2) source landmarks (pixel-edge convention) that src_to_crop puts exactly on the template."""
    return apply(invert(src_to_crop), template_points(face_size)) + 0.5


def make_tracks(landmarks: np.ndarray, frame_size=(240, 320), present=None) -> FaceTracks:
    """One track from per-frame landmarks (N,5,2); boxes around them; `present` (N,) bool."""
    count = len(landmarks)
    present = np.ones(count, bool) if present is None else present
    finite = np.where(np.isfinite(landmarks), landmarks, 100.0)
    boxes = np.concatenate([finite.min(axis=1) - 20, finite.max(axis=1) + 20], axis=1)
    return FaceTracks(
        track_id=np.array([1]),
        xyxy=boxes[None].astype(np.float32),
        state=np.where(present, DETECTED, ABSENT)[None].astype(np.uint8),
        score=np.full((1, count), 0.9, np.float32),
        frame_count=count,
        frame_size=frame_size,
        fps=Fraction(25),
        landmarks=landmarks[None].astype(np.float32),
    )


@pytest.mark.parametrize("angle, scale, tx, ty", [(0, 1, 0, 0), (30, 0.5, 10, -4), (-75, 3.2, -100, 250), (179, 1.7, 3, 3)])
def test_similarity_transforms_recover_a_known_transform(angle, scale, tx, ty):
    points = np.random.default_rng(0).uniform(-50, 50, size=(5, 2))
    truth = similarity(angle, scale, tx, ty)
    found = similarity_transforms(points[None], apply(truth, points))[0]
    assert np.allclose(found, truth, atol=1e-9), f"expected\n{truth}\ngot\n{found}"


def test_similarity_transforms_reject_collapsed_points():
    with pytest.raises(ValueError, match="source_points must be spread out"):
        similarity_transforms(np.ones((1, 5, 2)), template_points(512))


@pytest.mark.parametrize("face_size", [512, 128])
def test_plan_recovers_a_moving_similarity_exactly(face_size):
    # rotation and scale fixed, translation linear in time: the landmarks move linearly, so the
    # local linear smoothing must reproduce them exactly, also at both ends of the run
    count = 9
    truths = np.stack([similarity(20, face_size / 150, -40 - 3 * t, -30 + 2 * t) for t in range(count)])
    tracks = make_tracks(np.stack([landmarks_for(truth, face_size) for truth in truths]))
    plan = plan_aligned_crops(tracks, np.zeros((count, 16, 16, 3), np.uint8), CropSpec(face_size=face_size), smooth_window=7)
    (sequence,) = plan.sequences
    assert sequence.crop_size == (face_size, face_size) and sequence.frames.tolist() == list(range(count))
    error = np.abs(sequence.affine_src_to_crop - truths).max()
    assert error < 1e-3, f"aligned affines must equal the known similarity (landmarks are float32), max error {error:.2e}"


def test_aligned_crop_of_a_warped_face_gives_the_face_back():
    face_size = 128
    face = cv2.resize(face_sprites()[0].pixels, (face_size, face_size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    truth = similarity(-25, face_size / 90, -60, 20)  # source -> crop
    frame = cv2.warpAffine(face, invert(truth), (320, 240), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    frames = torch.from_numpy(np.stack([frame, frame]))
    tracks = make_tracks(np.stack([landmarks_for(truth, face_size)] * 2))
    plan = plan_aligned_crops(tracks, fingerprint_frames(frames), CropSpec(face_size=face_size))
    crops = crop_faces(frames, plan)
    inner = valid_mask(plan)[0].bool().numpy()
    inner[:8], inner[-8:], inner[:, :8], inner[:, -8:] = False, False, False, False  # edges sample the reflected border
    error = np.abs(crops[0].numpy() - face)[inner].mean()
    assert error < 0.02, f"the aligned crop must show the face as it was before warping, mean error {error:.4f}"


def test_smoothing_removes_jitter_without_lag():
    rng = np.random.default_rng(3)
    count = 60
    t = np.arange(count, dtype=np.float64)[:, None, None]
    path = template_points(512)[None] * 0.3 + np.array([4.0, -1.5]) * t  # fast steady motion: 4 px / frame
    assert np.abs(smooth_landmarks(path, 9) - path).max() < 1e-9, "steady motion must pass without lag, ends included"
    noisy = path + rng.normal(0, 1.5, size=path.shape)
    smoothed = smooth_landmarks(noisy, 9)
    raw_error = np.sqrt(((noisy - path) ** 2).mean())
    smooth_error = np.sqrt(((smoothed - path) ** 2).mean())
    assert smooth_error < 0.6 * raw_error, f"smoothing should cut landmark jitter, RMS {raw_error:.2f} -> {smooth_error:.2f}"


@pytest.mark.parametrize(
    "known_frames, count, window",
    [
        ([0, 9], 10, 3),  # a long gap, wider than the window: bridged by a straight line
        ([4], 7, 7),  # one known frame: held over the whole run
        ([2, 3], 6, 1),  # no smoothing, only filling (extrapolated along the line at the ends)
    ],
)
def test_smoothing_fills_missing_frames_along_the_motion(known_frames, count, window):
    path = np.arange(count, dtype=np.float64)[:, None, None] * np.ones((1, 5, 2)) * 2.0 + 7.0
    holes = np.full_like(path, np.nan)
    holes[known_frames] = path[known_frames]
    filled = smooth_landmarks(holes, window)
    expected = path if len(known_frames) > 1 else np.broadcast_to(path[known_frames[0]], path.shape)
    np.testing.assert_allclose(filled, expected, atol=1e-9, err_msg=f"frames {known_frames} of {count} should fill the run")


def test_missing_landmarks_are_filled_and_a_run_without_any_uses_its_boxes():
    count = 6
    truth = similarity(10, 2.0, -100, -50)
    landmarks = np.stack([landmarks_for(truth, 512)] * count)
    landmarks[2] = np.nan  # one frame without landmarks inside the first run
    landmarks[4:] = np.nan  # the second run has none at all
    present = np.array([True, True, True, False, True, True])
    plan = plan_aligned_crops(make_tracks(landmarks, present=present), np.zeros((count, 16, 16, 3), np.uint8), smooth_window=3)
    first, second = plan.sequences
    assert np.abs(first.affine_src_to_crop - truth).max() < 1e-3, "a frame without landmarks must be filled from its neighbours"
    angles = np.degrees(np.arctan2(second.affine_src_to_crop[:, 1, 0], second.affine_src_to_crop[:, 0, 0]))
    assert np.all(np.abs(angles) < 1.0), f"a run without landmarks is aligned by its upright boxes (the template is almost symmetric), but got {angles} degrees"
    box = make_tracks(landmarks, present=present).xyxy[0, 4]
    centre = apply(second.affine_src_to_crop[0], np.array([(box[0] + box[2]) / 2 - 0.5, (box[1] + box[3]) / 2 - 0.5]))
    assert np.all(np.abs(centre - 256) < 60), f"the box centre should land near the crop centre, but got {centre}"


def test_without_landmarks_the_box_crop_is_used():
    count = 4
    tracks = make_tracks(np.stack([landmarks_for(similarity(0, 2, -50, -50), 512)] * count))
    bare = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps)
    fingerprint = np.zeros((count, 16, 16, 3), np.uint8)
    aligned = plan_aligned_crops(bare, fingerprint, CropSpec(face_size=256))
    boxed = plan_crops(bare, fingerprint, CropSpec(face_size=256))
    assert np.array_equal(aligned.sequences[0].affine_src_to_crop, boxed.sequences[0].affine_src_to_crop), "no landmarks must mean the box crop"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(face_size=8), "face_size must be an int >= 16"),
        (dict(smooth_window=0), "smooth_window must be an int >= 1"),
        (dict(min_run_length=0), "min_run_length must be an int >= 1"),
        (dict(fingerprint=np.zeros((3, 16, 16, 3), np.uint8)), "fingerprint must have one row per frame"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    tracks = make_tracks(np.stack([landmarks_for(similarity(0, 2, -50, -50), 512)] * 4))
    fingerprint = kwargs.pop("fingerprint", np.zeros((4, 16, 16, 3), np.uint8))
    smooth_window = kwargs.pop("smooth_window", 7)
    with pytest.raises(ValueError, match=message):
        plan_aligned_crops(tracks, fingerprint, CropSpec(**kwargs), smooth_window=smooth_window)
