"""run_track_pipeline: the round trip keeps the outside exact, a clip without faces passes through."""

from fractions import Fraction

import numpy as np

import pytest
import torch

from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.pipeline import run_track_pipeline
from comfyui_fuse.media.synthetic import demo_scene, render
from comfyui_fuse.media.video import frames_to_image

HAAR = "haar (built-in, low quality)"


@pytest.fixture(scope="module")
def demo_frames() -> torch.Tensor:
    return frames_to_image(render(demo_scene(frame_count=6)))


def test_demo_clip_round_trip_is_exact_outside_the_faces(demo_frames):
    before = demo_frames.clone()
    stages = {}

    def progress(stage, total):
        stages[stage] = [total, 0]

        def advance(count):
            stages[stage][1] += count

        return advance

    result = run_track_pipeline(demo_frames, Fraction(30000, 1001), detector=HAAR, crop=CropSpec(face_size=128), progress=progress)
    assert torch.equal(demo_frames, before), "the pipeline must not write into its input frames"
    assert len(result.tracks) >= 1 and result.tracks.track_id[0] == 1, f"the demo's faces should give tracks from id 1, but got {result.tracks.track_id}"
    assert result.tracks.fps == Fraction(30000, 1001), "the exact fps must reach the tracks"
    check = result.report["round_trip"]
    assert check["max_abs_diff_outside_faces"] == 0, f"outside the paste masks the output must be bit-identical, but differs by {check['max_abs_diff_outside_faces']}/255"
    assert check["crops"] == int(result.tracks.present.sum()), "every present face should be cropped once"
    assert result.output.shape == demo_frames.shape and result.preview.shape == demo_frames.shape
    assert set(stages) == {"detect", "track", "crop", "paste", "preview"}, f"unexpected progress stages {sorted(stages)}"
    for stage, (total, done) in stages.items():
        assert done == total, f"progress of {stage} should reach {total}, but reached {done}"


def test_without_composite_there_is_no_output_and_no_round_trip(demo_frames):
    result = run_track_pipeline(demo_frames, 25, detector=HAAR, composite=False)
    assert result.output is None and "round_trip" not in result.report
    assert (result.preview != demo_frames).any(), "the preview is drawn on the input frames when nothing is pasted"


def test_clip_without_faces_passes_through_unchanged():
    frames = torch.rand(3, 64, 96, 3, generator=torch.Generator().manual_seed(0))
    result = run_track_pipeline(frames, 25, detector=HAAR)
    assert len(result.tracks) == 0 and result.report["detections"]["count"] == 0
    assert torch.equal(result.output, frames), "a clip with no face must come out bit-identical (DESIGN.md invariant 3)"
    assert torch.equal(result.preview, frames), "nothing to draw on a clip with no face"
    assert result.report["tracks"]["tracks"] == []


def test_unknown_detector_is_a_clear_error(demo_frames):
    with pytest.raises(ValueError, match="detector must be one of"):
        run_track_pipeline(demo_frames, 25, detector="nope")


@pytest.fixture(scope="module")
def clip_with_a_cut():
    """24 frames: the astronaut for 12, then a cut to another background with her mirror image
    standing exactly where she stood."""
    from comfyui_fuse.media.synthetic import Scene, linear_path

    box = linear_path(12, (110, 40, 200, 130), (118, 44, 208, 134))
    first = render(Scene(12, (240, 320), [box], [0], seed=0))
    second = render(Scene(12, (240, 320), [box], [1], seed=7))
    return frames_to_image(np.concatenate([first, second]))


def test_cuts_are_found_and_nothing_crosses_them(clip_with_a_cut):
    result = run_track_pipeline(clip_with_a_cut, 25, detector=HAAR, crop=CropSpec(face_size=96))
    assert result.report["tracks"]["cuts"] == [12] and result.tracks.cuts.tolist() == [12]
    assert result.report["tracks"]["shots"] == [[0, 12], [12, 24]]
    assert len(result.tracks) == 2, f"two people one after the other in the same place: two ids, but got {result.tracks.track_id.tolist()}"
    for index in range(len(result.tracks)):
        assert all(stop <= 12 or start >= 12 for start, stop in result.tracks.runs(index)), "a track runs across the cut"
    assert result.report["round_trip"]["max_abs_diff_outside_faces"] == 0


def test_nothing_processed_in_one_shot_leaks_into_the_next(clip_with_a_cut):
    from comfyui_fuse.compositing.masks import sequence_fades
    from comfyui_fuse.models.face_detectors import load_face_detector
    from comfyui_fuse.pipeline import process_faces_in_video
    from comfyui_fuse.sampling.windows import plan_windows

    seen = {}

    def darken_first_shot(crops, plan, **progress):
        seen["plan"] = plan
        frames = np.concatenate([s.frames for s in plan.sequences])
        out = crops.clone()
        out[torch.from_numpy(frames < 12)] *= 0.2
        return out

    output = process_faces_in_video(clip_with_a_cut, darken_first_shot, detector=load_face_detector(HAAR, None), crop=CropSpec(face_size=96))
    plan = seen["plan"]
    assert plan.cuts.tolist() == [12]
    for sequence in plan.sequences:
        assert sequence.frames[-1] < 12 or sequence.frames[0] >= 12, f"crop sequence {sequence.frames.tolist()} crosses the cut"
        for window in plan_windows(len(sequence), 8, 4, 4, 0, 0):
            frames = sequence.frames[window.source_index]
            assert (frames < 12).all() or (frames >= 12).all(), "a sampling window crosses the cut"
    fades = sequence_fades(plan, 3)
    offsets = plan.row_offsets
    for position, sequence in enumerate(plan.sequences):
        weights = fades[offsets[position] : offsets[position + 1]]
        if sequence.frames[-1] == 11:
            assert weights[-1] == 1.0, "no fade-out right before a cut: the picture changes there anyway"
        if sequence.frames[0] == 12:
            assert weights[0] == 1.0, "no fade-in right after a cut"
    assert (output[:12] != clip_with_a_cut[:12]).any(), "the first shot's faces were processed"
    assert torch.equal(output[12:], clip_with_a_cut[12:]), "the second shot must be untouched by what was done to the first"


def test_the_track_spec_decides_which_faces_are_processed(clip_with_a_cut):
    from comfyui_fuse.models.face_detectors import load_face_detector
    from comfyui_fuse.pipeline import process_faces_in_video
    from comfyui_fuse.tracking.spec import TrackSpec

    def darken(crops, plan, **_):
        return crops * 0.2

    detector = load_face_detector(HAAR, None)
    default = process_faces_in_video(clip_with_a_cut, darken, detector=detector, crop=CropSpec(face_size=64))
    assert not torch.equal(default, clip_with_a_cut), "the faces found with the default tracking are darkened"
    strict = process_faces_in_video(clip_with_a_cut, darken, detector=detector, track=TrackSpec(min_track_length=10**6), crop=CropSpec(face_size=64))
    assert torch.equal(strict, clip_with_a_cut), "no track is as long as min_track_length asks: nothing may change"
