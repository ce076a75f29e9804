"""FUSE Active Speaker: declaration, runs on IMAGE and VIDEO with a stand-in landmarker, clear errors."""

import json

import jsonschema
import numpy as np
import pytest
import torch
from fuse_speaker_builders import PixelLandmarker, mouth_frames, still_tracks
from fuse_video_files import write_test_video

from comfyui_fuse.media.dialogue import Turn, audio_dict, make_dialogue, mouth_openings
from comfyui_fuse.nodes import speaker as speaker_node
from comfyui_fuse.speaker.report import speaker_report_schema
from comfyui_fuse.speaker.scorers import LandmarkScorer

NODE = speaker_node.FUSEActiveSpeaker


class Folders:
    """ModelFolders listing given files."""

    def __init__(self, files: dict) -> None:
        self._files = files

    def files(self, folder: str) -> list[str]:
        return list(self._files.get(folder, []))

    def path(self, folder: str, name: str) -> str:
        return f"/models/{folder}/{name}"


@pytest.fixture(scope="module")
def scene():
    dialogue = make_dialogue([Turn(0, 0.3, 1.6), Turn(1, 2.0, 3.4)], 2, 4.0)
    tracks = still_tracks(2, dialogue.frame_count)
    frames = mouth_frames(mouth_openings(dialogue, [0, 1]), tracks)
    return dialogue, tracks, frames


@pytest.fixture
def pixel_scorer(monkeypatch):
    loaded = []

    def load(option, models, device=None):
        loaded.append(option)
        return LandmarkScorer(PixelLandmarker())

    monkeypatch.setattr(speaker_node, "load_sync_scorer", load)
    return loaded


def test_node_is_declared_for_comfyui():
    declared = NODE.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, spec in declared[section].items():
            assert len(spec) == 2 and spec[1].get("tooltip"), f"input {name!r} needs a tooltip"
    assert list(declared["optional"]) == ["images", "video", "stem_1", "stem_2", "stem_3", "stem_4"]
    assert NODE.RETURN_TYPES == ("FUSE_SPEAKERS", "STRING", "IMAGE") and len(NODE.OUTPUT_TOOLTIPS) == 3
    assert speaker_node.NODE_DISPLAY_NAME_MAPPINGS["FUSEActiveSpeaker"] == "FUSE Active Speaker"


def test_node_finds_the_speakers_in_an_image_batch(scene, pixel_scorer):
    dialogue, tracks, frames = scene
    out = NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", images=torch.from_numpy(frames).float() / 255)
    speakers, text, timeline = out["result"]
    report = json.loads(text)
    jsonschema.validate(report, speaker_report_schema())
    assert pixel_scorer == ["auto"] and out["ui"]["text"] == [text]
    assert [segment["track_id"] for segment in report["segments"]] == [1, 2], f"face 1 speaks first, then face 2: {report['segments']}"
    assert abs(report["segments"][0]["start_ms"] - 300) <= 80 and abs(report["segments"][1]["end_ms"] - 3400) <= 80
    assert timeline.ndim == 4 and timeline.shape[0] == 1 and timeline.shape[-1] == 3 and 0 <= timeline.min() and timeline.max() <= 1


def test_node_reads_a_video_file_in_chunks(scene, pixel_scorer, tmp_path, monkeypatch):
    dialogue, tracks, frames = scene
    path = tmp_path / "dialogue.mp4"
    write_test_video(path, frames, fps=dialogue.fps)  # lossless: the mouths survive
    monkeypatch.setattr(speaker_node.host, "video_file", lambda video: str(path))
    from_video = NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", video="a VIDEO")["result"][0]
    from_images = NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", images=torch.from_numpy(frames).float() / 255)["result"][0]
    assert np.array_equal(from_video.speaking, from_images.speaking)


def test_node_assigns_stems(scene, pixel_scorer):
    dialogue, tracks, frames = scene
    stems = {"stem_1": audio_dict(dialogue.stems[1], 16000), "stem_2": audio_dict(dialogue.stems[0], 16000)}
    speakers = NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", images=torch.from_numpy(frames).float() / 255, **stems)["result"][0]
    assert speakers.stem_of_track.tolist() == [1, 0], "face 1 speaks the voice given as stem_2"


@pytest.mark.parametrize("inputs, words", [
    (dict(), "images or video must be connected"),
    (dict(images=torch.zeros(5, 120, 360, 3)), "images must be the video the tracks were made from (100 frames"),
])
def test_node_refuses_missing_or_wrong_frames(scene, pixel_scorer, inputs, words):
    dialogue, tracks, _ = scene
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", **inputs)


def test_without_a_model_the_node_says_which_to_add(scene, monkeypatch):
    dialogue, tracks, frames = scene
    monkeypatch.setattr(speaker_node.host, "model_store", lambda: Folders({}))
    assert NODE.INPUT_TYPES()["required"]["sync_model"][0] == ["auto"]
    with pytest.raises(ValueError, match="syncnet_v2.model in models/syncnet.*1k3d68.onnx in models/insightface.*FUSE Lipsync's ranges by hand"):
        NODE().detect(tracks, audio_dict(dialogue.mix, 16000), "auto", images=torch.from_numpy(frames).float() / 255)


def test_is_changed_follows_the_model_file(monkeypatch):
    monkeypatch.setattr(speaker_node.host, "model_store", lambda: Folders({}))
    first = NODE.IS_CHANGED(sync_model="auto")
    assert first == first and "ValueError" in first, "no model yet: a stable text, so the result is reused until a model is added"
    assert NODE.IS_CHANGED(sync_model=None) != NODE.IS_CHANGED(sync_model=None), "a linked input: run every time"


def test_the_syncnet_and_landmarker_files_are_the_options(monkeypatch):
    files = {"insightface": ["buffalo_l/1k3d68.onnx", "buffalo_l/w600k_r50.onnx"], "syncnet": ["syncnet_v2.model"]}
    monkeypatch.setattr(speaker_node.host, "model_store", lambda: Folders(files))
    assert NODE.INPUT_TYPES()["required"]["sync_model"][0] == ["auto", "syncnet/syncnet_v2.model", "insightface/buffalo_l/1k3d68.onnx"]
