"""Bad input across the nodes: nothing connected where a socket needs a value, tracks of another
video. Each must be a sentence naming the input (TypeError / ValueError), never an AttributeError
or KeyError from deep inside, and never a silent result."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.compositing.warp import crop_face_sequences
from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.media import synthetic
from comfyui_fuse.models.face_detectors import HAAR_OPTION
from comfyui_fuse.nodes.composite import FUSEPasteFaces
from comfyui_fuse.nodes.crop import FUSECropFaceSequences
from comfyui_fuse.nodes.detect import FUSEFaceDetector
from comfyui_fuse.nodes.lipsync import FUSEFaceSequenceAudio, FUSEFitVideoToAudio
from comfyui_fuse.nodes.preview import FUSEPreviewTracks
from comfyui_fuse.nodes.restore import FUSERestoreFaces
from comfyui_fuse.nodes.track import FUSETrackFaces, FUSETracksToJSON


@pytest.fixture(scope="module")
def clip():
    """frames [5,64,80,3], tracks of one face, and its crops and plan."""
    frames = torch.rand((5, 64, 80, 3), generator=torch.Generator().manual_seed(0))
    xyxy = np.tile(np.array([[[20, 10, 50, 40]]], np.float32), (1, 5, 1))
    state = np.full((1, 5), DETECTED, np.uint8)
    tracks = FaceTracks([1], xyxy, state, np.full((1, 5), 0.9, np.float32), 5, (64, 80), Fraction(25))
    crops, plan, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=32))
    return frames, tracks, crops, plan


AUDIO = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}

# (label, the missing input's name, call(frames, tracks, crops, plan) with that input None)
NOTHING_CONNECTED = [
    ("detect images", "images", lambda f, t, c, p: FUSEFaceDetector().detect(None, HAAR_OPTION, 0.5, 16, 1, 8)),
    ("track faces", "detections", lambda f, t, c, p: FUSETrackFaces().track(None, 25.0, 0.3, 100.0, 15, 3, True, 3, True)),
    ("tracks to json", "tracks", lambda f, t, c, p: FUSETracksToJSON().to_json(None)),
    ("crop images", "images", lambda f, t, c, p: FUSECropFaceSequences().crop(None, t, face_size=32)),
    ("crop tracks", "tracks", lambda f, t, c, p: FUSECropFaceSequences().crop(f, None, face_size=32)),
    ("paste images", "images", lambda f, t, c, p: FUSEPasteFaces().paste(None, c, p)),
    ("paste crops", "crops", lambda f, t, c, p: FUSEPasteFaces().paste(f, None, p)),
    ("paste plan", "crop_plan", lambda f, t, c, p: FUSEPasteFaces().paste(f, c, None)),
    ("preview images", "images", lambda f, t, c, p: FUSEPreviewTracks().preview(None, t)),
    ("preview tracks", "tracks", lambda f, t, c, p: FUSEPreviewTracks().preview(f, None)),
    ("fit images", "images", lambda f, t, c, p: FUSEFitVideoToAudio().fit(None, AUDIO)),
    ("fit audio", "audio", lambda f, t, c, p: FUSEFitVideoToAudio().fit(f, None)),
    ("sequence audio plan", "crop_plan", lambda f, t, c, p: FUSEFaceSequenceAudio().slice(None, AUDIO)),
    ("sequence audio audio", "audio", lambda f, t, c, p: FUSEFaceSequenceAudio().slice(p, None)),
]


@pytest.mark.parametrize("label, name, call", NOTHING_CONNECTED, ids=[case[0] for case in NOTHING_CONNECTED])
def test_nothing_connected_is_named_not_an_attribute_error(clip, label, name, call):
    with pytest.raises((TypeError, ValueError)) as raised:
        call(*clip)
    assert str(raised.value).startswith(name), f"{label}: the error must name the input {name!r}, but says: {raised.value}"


def test_restore_without_a_crop_plan_names_it(clip, monkeypatch):
    from comfyui_fuse.nodes import restore

    frames, tracks, crops, plan = clip
    monkeypatch.setattr(restore, "restorer_from_descriptor", lambda model: object())
    with pytest.raises(TypeError, match=r"^crop_plan must be FUSE_CROPS \(CropPlan\), but got nothing \(None\)"):
        FUSERestoreFaces().restore(crops, None, upscale_model="a loaded face restorer")


def test_tracks_of_another_video_of_the_same_size_are_refused_by_crop():
    """Detect -> track on one clip, crop another of the same size and length: an error, not crops
    of the wrong pixels (before, only paste compared the video)."""
    scene = synthetic.Scene(4, (200, 280), [synthetic.linear_path(4, (20, 30, 120, 130), (60, 40, 160, 140))], [0])
    images = torch.from_numpy(synthetic.render(scene)).float() / 255
    other = torch.flip(images, dims=[2])
    (faces,) = FUSEFaceDetector().detect(images, HAAR_OPTION, 0.5, 16, 1, 8)
    (tracks,) = FUSETrackFaces().track(faces, 25.0, 0.3, 100.0, 15, 1, True, 3, True)
    assert len(tracks), "precondition: Haar finds the astronaut"
    crops, _, _ = FUSECropFaceSequences().crop(images, tracks, face_size=64)
    assert crops.shape[0] == tracks.present.sum(), "the video the tracks were made from is cropped"
    with pytest.raises(ValueError, match=r"images must be the video the tracks were made from, but its pixels differ"):
        FUSECropFaceSequences().crop(other, tracks, face_size=64)
