"""The whole-clip pipeline (crop -> process -> paste) with plain crop processors, no host at all."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.pipeline import process_faces_in_video
from comfyui_fuse.core.types import DETECTED, FaceTracks


def clip_with_one_track(frame_count=4, frame_size=(96, 128)):
    frames = torch.full((frame_count, *frame_size, 3), 0.6)
    frames[:, :10] = torch.rand(frame_count, 10, frame_size[1], 3)  # texture far from the face
    tracks = FaceTracks(
        track_id=np.array([1]), xyxy=np.tile(np.array([[[40, 20, 80, 60]]], np.float32), (1, frame_count, 1)),
        state=np.full((1, frame_count), DETECTED, np.uint8), score=np.ones((1, frame_count), np.float32),
        frame_count=frame_count, frame_size=frame_size, fps=Fraction(25),
    )
    return frames, tracks


def test_processed_crops_are_pasted_back_and_stages_report_progress():
    frames, tracks = clip_with_one_track()
    stages = {}

    def progress(stage, total):
        stages[stage] = [total, 0]

        def advance(count):
            stages[stage][1] += count

        return advance

    def darken(crops, plan, on_progress=None, check_interrupt=None):
        on_progress(len(crops))
        return crops * 0.5

    out = process_faces_in_video(frames, darken, tracks=tracks, crop=CropSpec(face_size=32, face_padding=4), progress=progress)
    assert out.shape == frames.shape
    assert (out[:, 40, 60] < frames[:, 40, 60]).all(), "the face centre must show the processed (darkened) crop"
    assert torch.equal(out[:, :10], frames[:, :10]), "rows far above the face must be bit-identical"
    assert {stage: done for stage, (total, done) in stages.items()} == {"crop": 4, "process": 4, "paste": 4}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(), ValueError, "detector must be a loaded face detector"),
        (dict(tracks="tracks"), TypeError, "tracks must be a FaceTracks"),
    ],
)
def test_missing_faces_source_is_a_clear_error(kwargs, error, match):
    frames, _ = clip_with_one_track()
    with pytest.raises(error, match=match):
        process_faces_in_video(frames, lambda crops, plan, **_: crops, **kwargs)


def test_a_processor_that_changes_the_crop_shape_is_a_clear_error():
    frames, tracks = clip_with_one_track()
    with pytest.raises(ValueError, match="processed crops must keep the crop batch's shape"):
        process_faces_in_video(frames, lambda crops, plan, **_: crops[:-1], tracks=tracks, crop=CropSpec(face_size=32))
