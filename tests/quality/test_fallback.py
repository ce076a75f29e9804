"""The fallback: the original face back in failing segments, cross-faded where a passing segment
of the same shot follows, and nothing else changed."""

from __future__ import annotations

import numpy as np
import pytest

from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.quality.check import QualityOptions, check_quality
from comfyui_fuse.quality.fallback import apply_fallback, fallback_chunks, fallback_weights
from comfyui_fuse.quality.frames import ImageFrames
from comfyui_fuse.quality.metrics import face_region
from comfyui_fuse.quality.segments import Segment
from fuse_quality_builders import brighten_faces, make_clip


def _tracks(frames: int = 30) -> FaceTracks:
    return FaceTracks(track_id=[1], xyxy=np.tile(np.array([[10, 10, 30, 30]], np.float32), (1, frames, 1)), state=np.full((1, frames), DETECTED, np.uint8),
                      score=np.ones((1, frames), np.float32), frame_count=frames, frame_size=(60, 60))


SEGMENTS = [Segment(0, 1, 0, 10, 0), Segment(0, 1, 10, 20, 0), Segment(0, 1, 20, 30, 1)]


@pytest.mark.parametrize(
    "failed, expected",
    [
        ([False, True, False], [0] * 10 + [0.25, 0.5, 0.75] + [1] * 7 + [0] * 10),  # the cut at 20: no fade into shot 1
        ([True, False, False], [1] * 7 + [0.75, 0.5, 0.25] + [0] * 20),
        ([True, True, False], [1] * 20 + [0] * 10),
        ([False, False, True], [0] * 20 + [1] * 10),
        ([False, False, False], [0] * 30),
    ],
    ids=["fade-in-only-inside-the-shot", "fade-out", "failing-neighbours-no-fade", "after-a-cut", "nothing-fails"],
)
def test_weights_fade_only_into_a_passing_segment_of_the_same_shot(failed, expected):
    weights = fallback_weights(_tracks(), SEGMENTS, failed, fade_frames=3)
    np.testing.assert_allclose(weights[0], expected)


def test_weights_check_their_input():
    with pytest.raises(ValueError, match="fade_frames"):
        fallback_weights(_tracks(), SEGMENTS, [False] * 3, fade_frames=-1)
    with pytest.raises(ValueError, match="one flag per segment"):
        fallback_weights(_tracks(), SEGMENTS, [False], fade_frames=0)


def test_apply_puts_the_original_face_back_with_a_feathered_edge():
    tracks = _tracks(1)
    original = np.full((1, 60, 60, 3), 100, np.uint8)
    processed = np.full((1, 60, 60, 3), 200, np.uint8)
    weights = np.ones((1, 1), np.float32)
    out = apply_fallback(original, processed, 0, tracks, weights, margin=0.5)
    x0, y0, x1, y1 = face_region(tracks.xyxy[0, 0], 0.5, (60, 60))
    centre = out[0, (y0 + y1) // 2, (x0 + x1) // 2]
    assert centre.tolist() == [100, 100, 100], "the face region's middle is the original"
    assert (out[0, y1:, :] == 200).all() and (out[0, :, x1:] == 200).all(), "outside the face region the processed frame stays"
    assert 100 < out[0, y0, (x0 + x1) // 2, 0] < 200, "the region's edge blends"
    assert (processed == 200).all(), "the input is not changed"


def test_the_result_differs_from_the_processed_video_only_in_the_failing_segments():
    clip = make_clip(frame_count=40)
    processed = brighten_faces(clip.frames, clip.tracks, range(40), 6)  # a harmless change everywhere
    processed = brighten_faces(processed, clip.tracks, [12], 25)  # flicker in segment 10-20
    options = QualityOptions(segment_seconds=0.4, shot_cuts="none")
    result = check_quality(ImageFrames(clip.frames), ImageFrames(processed), clip.tracks, options=options)
    assert [s.start for s, f in zip(result.segments, result.failed) if f] == [10]
    weights = fallback_weights(clip.tracks, result.segments, result.failed, fade_frames=2)
    out = np.concatenate([chunk for _, chunk in fallback_chunks(ImageFrames(clip.frames), ImageFrames(processed), clip.tracks, weights, options.face_margin, chunk_frames=7)])
    changed = np.flatnonzero((out != processed).any(axis=(1, 2, 3)))
    assert changed.min() >= 10 and changed.max() < 20, f"only frames of the failing segment change, got {changed.tolist()}"
    x0, y0, x1, y1 = face_region(clip.tracks.xyxy[0, 15], options.face_margin, clip.tracks.frame_size)
    inner = (slice(y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4), slice(x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4))
    np.testing.assert_array_equal(out[15][inner], clip.frames[15][inner], "inside the failing segment the face is the original's")
    assert 0 < np.abs(out[10].astype(int) - processed[10].astype(int)).max() < np.abs(clip.frames[10].astype(int) - processed[10].astype(int)).max(), "the first frame is cross-faded"


def test_a_face_at_the_frame_edge_is_put_back_up_to_the_edge():
    tracks = FaceTracks(track_id=[1], xyxy=np.array([[[0, 20, 20, 40]]], np.float32), state=np.full((1, 1), DETECTED, np.uint8),
                        score=np.ones((1, 1), np.float32), frame_count=1, frame_size=(60, 60))
    original = np.full((1, 60, 60, 3), 100, np.uint8)
    processed = np.full((1, 60, 60, 3), 200, np.uint8)
    out = apply_fallback(original, processed, 0, tracks, np.ones((1, 1), np.float32), margin=0.5)
    assert (out[0, 30, 0:10] == 100).all(), "the region's part inside the frame is not feathered along the frame's edge"
