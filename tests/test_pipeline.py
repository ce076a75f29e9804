"""run_track_pipeline: the round trip keeps the outside exact, a clip without faces passes through."""

from fractions import Fraction

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
