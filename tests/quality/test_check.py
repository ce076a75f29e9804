"""The check on processed copies with faults put in on purpose, where the figures must rise, and
nowhere else."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.quality.check import QualityOptions, Thresholds, check_quality, judge
from comfyui_fuse.quality.frames import ImageFrames
from fuse_quality_builders import brighten_faces, make_clip, swap_face
from fuse_syncnet_models import BRIGHT, DARK, LOUD, QUIET, buzz_audio, loud_pattern, loudness_syncnet

FLICKERED = [10, 20]


def run(original, processed, tracks, **kwargs):
    options = kwargs.pop("options", QualityOptions(segment_seconds=0.4, shot_cuts="none"))
    return check_quality(ImageFrames(original), ImageFrames(processed), tracks, options=options, **kwargs)


@pytest.fixture(scope="module")
def clip():
    return make_clip(frame_count=40)


@pytest.fixture(scope="module")
def two_faces():
    paths = [np.tile(np.array([[20, 40, 80, 100]], np.float32), (30, 1)), np.tile(np.array([[150, 50, 210, 110]], np.float32), (30, 1))]
    return make_clip(frame_count=30, paths=paths, sprites=(0, 1))


def test_an_unchanged_copy_passes_everything(clip):
    result = run(clip.frames, clip.frames, clip.tracks)
    assert not any(result.failed)
    assert np.nanmax(np.abs(result.figures["flicker"])) == 0 and np.nanmax(result.figures["seam"]) == 0
    assert result.outside["max_abs_diff"] == 0


def test_flicker_rises_exactly_where_the_face_flickers(clip):
    processed = brighten_faces(clip.frames, clip.tracks, FLICKERED, 20)
    result = run(clip.frames, processed, clip.tracks)
    flicker = result.figures["flicker"][0]
    affected = sorted({t for f in FLICKERED for t in (f, f + 1)})  # t compares frame t with t-1
    assert np.isnan(flicker[0]), "the first frame has no frame before it"
    assert (flicker[affected] > 5).all(), f"flicker at {affected}: {flicker[affected].round(2)}"
    others = np.setdiff1d(np.arange(1, 40), affected)
    assert np.abs(flicker[others]).max() < 0.5, f"no flicker elsewhere, got up to {np.abs(flicker[others]).max():.2f}"
    assert result.outside == {"max_abs_diff": 0, "mean_abs_diff": 0.0, "changed_pixels": 0, "frames_changed": 0}, "nothing changed outside the face"
    failing = [(s.start, s.stop) for s, failures in zip(result.segments, result.failures) if failures]
    assert failing == [(10, 20), (20, 30)], f"the segments holding frames 10, 11, 20, 21 fail, got {failing}"
    assert all(f["check"] == "flicker" for fs in result.failures for f in fs)


def test_change_outside_the_faces_is_reported(clip):
    processed = clip.frames.copy()
    processed[7, -4:, -4:] = 0  # the corner away from the face
    result = run(clip.frames, processed, clip.tracks)
    assert result.outside["frames_changed"] == 1 and result.outside["changed_pixels"] > 0 and result.outside["max_abs_diff"] > 0


def test_identity_drift_is_caught_where_another_person_is_pasted(clip, embedder):
    swapped = range(15, 30)
    result = run(clip.frames, swap_face(clip, swapped), clip.tracks, embedder=embedder)
    identity = result.figures["identity"][0]
    inside, outside = identity[swapped.start : swapped.stop], np.delete(identity, np.arange(swapped.start, swapped.stop))
    assert outside.min() > 0.99, f"the same face stays itself, got {outside.min():.3f}"
    assert inside.max() < 0.5, f"another person's face must drop below 0.5, got up to {inside.max():.3f}"
    failed = {(s.start, s.stop): [f["check"] for f in fs] for s, fs in zip(result.segments, result.failures)}
    assert "identity" in failed[(20, 30)] and "identity" not in failed[(0, 10)]
    assert result.identity == {"available": True, "reason": ""}


def test_without_an_embedder_there_is_no_identity_figure(clip):
    result = run(clip.frames, clip.frames, clip.tracks, identity_note="no ArcFace model in models/insightface")
    assert np.isnan(result.figures["identity"]).all()
    assert result.identity == {"available": False, "reason": "no ArcFace model in models/insightface"}


def test_a_visible_seam_fails_and_a_feathered_paste_does_not(clip):
    hard = run(clip.frames, brighten_faces(clip.frames, clip.tracks, range(40), 40, hard=True, margin=0.2), clip.tracks)
    soft = run(clip.frames, brighten_faces(clip.frames, clip.tracks, range(40), 40, hard=False, margin=0.2), clip.tracks)
    assert all("seam" in [f["check"] for f in fs] for fs in hard.failures), "a hard 40-level edge must fail every segment"
    assert not any(soft.failed), f"a feathered change passes: {soft.failures}"


def test_each_face_is_judged_on_its_own(two_faces):
    processed = brighten_faces(two_faces.frames, two_faces.tracks, [12], 25, face=1)
    result = run(two_faces.frames, processed, two_faces.tracks)
    assert np.nanmax(np.abs(result.figures["flicker"][0])) < 0.5, "the other face is untouched"
    failing = {(s.track_id, s.start) for s, fs in zip(result.segments, result.failures) if fs}
    assert failing == {(2, 10)}, f"only face 2's segment with frames 12-13 fails, got {failing}"


def test_segments_never_cross_a_given_cut(clip):
    result = run(clip.frames, clip.frames, clip.tracks, options=QualityOptions(segment_seconds=10, shot_cuts="25"))
    assert [(s.start, s.stop, s.shot) for s in result.segments] == [(0, 25, 0), (25, 40, 1)]
    assert result.cuts_source == "user" and np.isnan(result.figures["flicker"][0, 25]), "no flicker across a cut"


def test_cuts_are_detected_in_the_original_when_none_are_given():
    first, second = make_clip(frame_count=10, seed=0), make_clip(frame_count=10, seed=7, sprites=(1,))
    frames = np.concatenate([first.frames, second.frames])
    xyxy = np.concatenate([first.tracks.xyxy, second.tracks.xyxy], axis=1)
    tracks = FaceTracks(track_id=[1], xyxy=xyxy, state=np.full((1, 20), DETECTED, np.uint8), score=np.ones((1, 20), np.float32), frame_count=20, frame_size=first.tracks.frame_size)
    result = run(frames, frames, tracks, options=QualityOptions(segment_seconds=10))
    assert result.cuts.tolist() == [10] and result.cuts_source == "detected"
    assert [(s.start, s.stop) for s in result.segments] == [(0, 10), (10, 20)]


def test_tracks_of_another_video_are_refused(clip):
    other = make_clip(frame_count=12)
    with pytest.raises(ValueError, match="tracks must describe the original video"):
        run(clip.frames, clip.frames, other.tracks)
    with pytest.raises(ValueError, match="processed must have as many frames as original"):
        run(clip.frames, clip.frames[:30], clip.tracks)


@pytest.mark.parametrize(
    "values, failed",
    [
        ({"identity_median": 0.4}, ["identity"]),
        ({"identity_median": 0.6, "flicker": 4.5, "seam": 0.1}, ["flicker"]),
        ({"jitter": 0.06, "seam": 0.6}, ["jitter", "seam"]),
        ({"identity_median": None, "flicker": None}, []),
        ({"lse_c": 2.0, "av_offset": 3}, ["lse_c", "av_offset"]),
        ({"lse_c": 6.0, "av_offset": -2}, []),
    ],
)
def test_judge_applies_each_threshold(values, failed):
    assert [f["check"] for f in judge(values, Thresholds(), lip_sync_on=True)] == failed


def test_a_threshold_of_zero_turns_its_check_off():
    thresholds = Thresholds(min_identity=0, max_flicker=0, max_jitter=0, max_seam=0, min_lse_c=0, max_av_offset=-1)
    assert judge({"identity_median": 0.0, "flicker": 99, "jitter": 9, "seam": 9, "lse_c": 0.0, "av_offset": 15}, thresholds, True) == []


@pytest.mark.parametrize("field, value", [("max_flicker", -1), ("min_identity", float("nan")), ("max_av_offset", -2), ("max_av_offset", 1.5)])
def test_bad_thresholds_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        Thresholds(**{field: value})


# --- lip sync ------------------------------------------------------------------------------------

SYNC_FRAMES = 36


@pytest.fixture(scope="module")
def talking():
    """A face whose whole frame brightens with a loudness pattern, tracked at 25 fps."""
    pattern = loud_pattern(SYNC_FRAMES, seed=3)
    values = np.where(pattern, BRIGHT, DARK).astype(np.uint8)
    frames = np.broadcast_to(values[:, None, None, None], (SYNC_FRAMES, 96, 96, 3)).copy()
    xyxy = np.tile(np.array([[34, 30, 62, 58]], np.float32), (1, SYNC_FRAMES, 1))
    tracks = FaceTracks(track_id=[1], xyxy=xyxy, state=np.full((1, SYNC_FRAMES), DETECTED, np.uint8), score=np.ones((1, SYNC_FRAMES), np.float32),
                        frame_count=SYNC_FRAMES, frame_size=(96, 96), fps=Fraction(25))
    return frames, tracks, pattern, loudness_syncnet()


def test_lip_sync_finds_the_audio_offset_and_fails_the_shifted_segment(talking):
    frames, tracks, pattern, net = talking
    late = 3
    amplitudes = np.concatenate([np.full(late, QUIET), np.where(pattern, LOUD, QUIET)])[:SYNC_FRAMES]
    result = run(frames, frames, tracks, audio_16k=buzz_audio(amplitudes), syncnet=net, options=QualityOptions(segment_seconds=10, shot_cuts="none"))
    (values,) = result.segment_figures
    assert values["av_offset"] == -late and values["sync_stacks"] == SYNC_FRAMES - 5
    assert values["lse_c"] > 3 and values["lse_d"] < values["lse_c"]
    assert [f["check"] for f in result.failures[0]] == ["av_offset"], "in sync with itself but 3 frames late: only the offset fails"
    assert result.lip_sync == {"available": True, "reason": ""}


def test_a_segment_too_short_for_syncnet_has_null_lip_sync_figures(talking):
    frames, tracks, pattern, net = talking
    short = 6
    cut = FaceTracks(track_id=[1], xyxy=tracks.xyxy[:, :short], state=tracks.state[:, :short], score=tracks.score[:, :short], frame_count=short, frame_size=(96, 96), fps=Fraction(25))
    result = run(frames[:short], frames[:short], cut, audio_16k=buzz_audio(np.full(short, LOUD)), syncnet=net, options=QualityOptions(segment_seconds=10, shot_cuts="none"))
    (values,) = result.segment_figures
    assert values["sync_stacks"] == 0 and values["lse_c"] is None and values["av_offset"] is None and not result.failures[0]


def test_without_syncnet_the_lip_sync_figures_are_absent_and_say_why(clip):
    result = run(clip.frames, clip.frames, clip.tracks, audio_16k=np.zeros(16000, np.float32), lip_sync_note="no SyncNet model in models/syncnet")
    assert all("lse_c" not in values for values in result.segment_figures)
    assert result.lip_sync == {"available": False, "reason": "no SyncNet model in models/syncnet"}
