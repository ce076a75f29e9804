"""Per-frame measures on frames with known faults."""

from __future__ import annotations

import numpy as np
import pytest

from comfyui_fuse.quality import metrics
from fuse_quality_builders import brighten_faces, make_clip


@pytest.fixture(scope="module")
def clip():
    return make_clip(frame_count=12)


@pytest.mark.parametrize(
    "xyxy, margin, expected",
    [((40, 40, 60, 80), 0.0, (30, 40, 70, 80)), ((40, 40, 60, 80), 0.5, (10, 20, 90, 100)), ((0, 0, 20, 20), 1.0, (0, 0, 40, 40)), ((90, 90, 120, 130), 0.0, (85, 90, 100, 100))],
)
def test_face_region_is_a_square_around_the_box_clipped_to_the_frame(xyxy, margin, expected):
    assert metrics.face_region(xyxy, margin, (100, 100)) == expected


def test_warping_errors_of_an_unchanged_copy_are_equal(clip):
    processed, original = metrics.warping_errors(clip.frames[3], clip.frames[4], clip.frames[3], clip.frames[4], clip.tracks.xyxy[0, 4])
    assert processed == original and 0 < original < 10, "the original's own error (motion the flow misses) is small but not 0"


def test_warping_error_rises_when_the_processed_face_jumps_in_brightness(clip):
    flickered = brighten_faces(clip.frames, clip.tracks, [4], 20)
    processed, original = metrics.warping_errors(clip.frames[3], clip.frames[4], flickered[3], flickered[4], clip.tracks.xyxy[0, 4])
    assert processed - original > 5, f"a 20-level bump on the face must show, got {processed:.2f} vs {original:.2f}"


def test_flow_follows_the_moving_face(clip):
    """The flow is what makes the original's error small: without it a moving face would flicker."""
    x0, y0, x1, y1 = metrics.face_region(clip.tracks.xyxy[0, 4], 0.5, clip.tracks.frame_size)
    before, after = clip.frames[3, y0:y1, x0:x1], clip.frames[4, y0:y1, x0:x1]
    still = np.abs(after.astype(np.float32) - before.astype(np.float32)).mean()
    warped, valid = metrics.warp_back(before, metrics.backward_flow(before, after))
    assert np.abs(after.astype(np.float32) - warped)[valid].mean() < 0.7 * still


def test_outside_change_counts_only_pixels_outside_the_faces(clip):
    frame = clip.frames[0]
    changed = frame.copy()
    changed[0:2, 0:3] = 255 - changed[0:2, 0:3]
    mask = metrics.regions_mask([clip.tracks.xyxy[0, 0]], 0.5, clip.tracks.frame_size)
    assert metrics.outside_change(frame, frame, mask) == (0, 0.0, 0)
    largest, mean, count = metrics.outside_change(frame, changed, mask)
    assert count == 6 and largest > 0 and mean > 0
    inside = frame.copy()
    inside[mask] = 0
    assert metrics.outside_change(frame, inside, mask)[2] == 0, "a change inside the face regions is not outside"


def test_seam_contrast_sees_a_hard_edge_and_not_a_feathered_one(clip):
    t = 5
    hard = brighten_faces(clip.frames, clip.tracks, [t], 40, hard=True, margin=0.2)
    soft = brighten_faces(clip.frames, clip.tracks, [t], 40, hard=False, margin=0.2)
    xyxy = clip.tracks.xyxy[0, t]
    assert metrics.seam_contrast(clip.frames[t], clip.frames[t], xyxy) == 0.0, "nothing pasted, no seam"
    hard_seam, soft_seam = metrics.seam_contrast(clip.frames[t], hard[t], xyxy), metrics.seam_contrast(clip.frames[t], soft[t], xyxy)
    assert hard_seam > 1.0 and soft_seam < 0.2, f"hard edge {hard_seam:.2f}, feathered {soft_seam:.2f}"


@pytest.mark.parametrize("amplitude", [0.0, 0.5, 2.0])
def test_box_jitter_is_the_centres_jerk_over_the_face_size(amplitude):
    frames = 10
    xyxy = np.tile(np.array([100.0, 100.0, 200.0, 200.0]), (frames, 1))
    xyxy[:, [0, 2]] += np.arange(frames)[:, None] * 3.0  # steady motion: no jerk
    xyxy[:, [0, 2]] += (amplitude * (-1.0) ** np.arange(frames))[:, None]
    jitter = metrics.box_jitter(xyxy)
    assert np.isnan(jitter[0]) and np.isnan(jitter[-1])
    np.testing.assert_allclose(jitter[1:-1], 4 * amplitude / 100, atol=1e-12)


def test_cosine_similarity():
    assert metrics.cosine_similarity([1, 0], [1, 0]) == pytest.approx(1.0)
    assert metrics.cosine_similarity([1, 0], [0, 2]) == pytest.approx(0.0)
    assert np.isnan(metrics.cosine_similarity([0, 0], [1, 0]))
