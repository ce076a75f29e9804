"""FUSE Quality Check and FUSE Video Quality Check: declarations, a run on a processed copy with a
known fault, the fallback output, models present and missing."""

from __future__ import annotations

import json
import os

import jsonschema
import numpy as np
import pytest
import torch

from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, quality
from comfyui_fuse.quality.report import report_schema
from fuse_insightface_models import arcface_onnx
from fuse_quality_builders import brighten_faces, make_clip
from fuse_syncnet_models import released_state_dict, save_released_checkpoint

SETTINGS = dict(syncnet="auto", embedder="auto", fallback=True, fade_frames=2, segment_seconds=0.4, min_lse_c=3.0, max_av_offset=2, min_identity=0.5,
                max_flicker=4.0, max_jitter=0.05, max_seam=0.5, face_margin=0.5, shot_cuts="none")


@pytest.fixture(scope="module")
def clip():
    return make_clip(frame_count=30)


@pytest.fixture
def empty_models(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def image(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).float() / 255


@pytest.mark.parametrize("node_id", ["FUSEQualityCheck", "FUSEVideoQualityCheck"])
def test_nodes_are_declared_for_comfyui(empty_models, node_id):
    node = NODE_CLASS_MAPPINGS[node_id]
    types = node.INPUT_TYPES()
    for name, (_, options) in {**types["required"], **types["optional"]}.items():
        assert options.get("tooltip"), f"{node_id}.{name} needs a tooltip"
    assert list(types["required"])[:3] == ["original", "processed", "tracks"] and list(types["optional"]) == ["audio"]
    assert types["required"]["syncnet"][0] == ["auto", "none"], "without files in models/syncnet only auto and none are offered"
    assert node.CATEGORY == "FUSE/quality" and node.DESCRIPTION and len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_TYPES) == 3


def test_the_syncnet_combo_lists_models_syncnet(empty_models):
    save_released_checkpoint((empty_models / "syncnet").mkdir(parents=True) or empty_models / "syncnet" / "syncnet_v2.model", released_state_dict())
    assert quality.FUSEQualityCheck.INPUT_TYPES()["required"]["syncnet"][0] == ["auto", "none", "syncnet_v2.model"]


def test_image_node_puts_the_original_face_back_in_the_failing_segment_only(empty_models, clip):
    processed = brighten_faces(clip.frames, clip.tracks, [15], 25)
    original_image, processed_image = image(clip.frames), image(processed)
    out = quality.FUSEQualityCheck().check(original_image, processed_image, clip.tracks, **SETTINGS)
    images, plot, text = out["result"]
    report = json.loads(text)
    jsonschema.validate({k: v for k, v in report.items() if k != "summary"}, report_schema())
    assert [s["start"] for s in report["faces"][0]["segments"] if s["fallback"]] == [10]
    changed = torch.nonzero((images != processed_image).flatten(1).any(dim=1)).flatten().tolist()
    assert changed and min(changed) >= 10 and max(changed) < 20, f"only the failing segment's frames change, got {changed}"
    assert torch.equal(images[:10], processed_image[:10]) and torch.equal(images[20:], processed_image[20:]), "passing frames are the processed values exactly"
    assert plot.shape[0] == 1 and plot.shape[-1] == 3 and plot.dtype == torch.float32
    assert report["lip_sync"]["reason"] == "no audio connected" and "no ArcFace model" in report["identity"]["reason"]
    assert out["ui"]["text"] == [text] and report["summary"][0].startswith("face 1: 1 of 3 segments failed")


def test_image_node_with_fallback_off_only_measures(empty_models, clip):
    processed = image(brighten_faces(clip.frames, clip.tracks, [15], 25))
    images, _, text = quality.FUSEQualityCheck().check(image(clip.frames), processed, clip.tracks, **{**SETTINGS, "fallback": False})["result"]
    assert images is processed
    report = json.loads(text)
    assert report["fallback"]["enabled"] is False and report["faces"][0]["failed_segments"] == 1


def test_image_node_uses_the_models_it_finds(empty_models, clip):
    arcface_onnx(empty_models / "insightface" / "buffalo_l" / "w600k_r50.onnx")
    save_released_checkpoint((empty_models / "syncnet").mkdir(parents=True) or empty_models / "syncnet" / "syncnet_v2.model", released_state_dict())
    audio = {"waveform": torch.randn(1, 2, 44100 * 30 // 25) * 0.1, "sample_rate": 44100}
    _, _, text = quality.FUSEQualityCheck().check(image(clip.frames), image(clip.frames), clip.tracks, **{**SETTINGS, "segment_seconds": 10.0}, audio=audio)["result"]
    report = json.loads(text)
    assert report["identity"]["available"] and report["lip_sync"]["available"]
    figures = report["faces"][0]["segments"][0]["figures"]
    assert figures["identity_min"] > 0.99 and figures["sync_stacks"] == 25 and isinstance(figures["av_offset"], int)


def test_syncnet_none_says_lip_sync_was_turned_off(empty_models, clip):
    audio = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}
    _, _, text = quality.FUSEQualityCheck().check(image(clip.frames), image(clip.frames), clip.tracks, **{**SETTINGS, "syncnet": "none"}, audio=audio)["result"]
    assert json.loads(text)["lip_sync"] == {"available": False, "reason": "lip sync turned off (syncnet: none)"}


def test_image_node_refuses_mismatched_inputs(empty_models, clip):
    with pytest.raises(ValueError, match="processed must have as many frames as original"):
        quality.FUSEQualityCheck().check(image(clip.frames), image(clip.frames[:20]), clip.tracks, **SETTINGS)
    with pytest.raises(ValueError, match="max_flicker must be a number >= 0"):
        quality.FUSEQualityCheck().check(image(clip.frames), image(clip.frames), clip.tracks, **{**SETTINGS, "max_flicker": -1.0})


def test_video_node_writes_a_fallback_video_that_differs_only_in_the_failing_segment(empty_models, clip, tmp_path, monkeypatch):
    from comfyui_fuse.media.stream import SegmentWriter, finish_video, iter_frames

    monkeypatch.chdir(tmp_path)
    processed = brighten_faces(clip.frames, clip.tracks, [15], 25)
    paths = {}
    for name, frames in (("original", clip.frames), ("processed", processed)):
        segment = tmp_path / f"{name}.mov"
        with SegmentWriter(segment, fps=clip.tracks.fps, size=clip.tracks.frame_size[::-1], codec="h264_lossless") as writer:
            writer.write(frames)
        finish_video([str(segment)], str(tmp_path / f"{name}.mkv"))
        paths[name] = str(tmp_path / f"{name}.mkv")
    out = quality.FUSEVideoQualityCheck().check(paths["original"], paths["processed"], clip.tracks, **SETTINGS, codec="h264_lossless", crf=18)
    video, plot, text = out["result"]
    assert isinstance(video, str) and os.path.isfile(video) and video != paths["processed"]
    result = np.concatenate([chunk for _, chunk in iter_frames(video)])
    changed = np.flatnonzero((result != processed).any(axis=(1, 2, 3)))
    assert changed.min() >= 10 and changed.max() < 20, f"only frames of the failing segment differ, got {changed.tolist()}"
    assert json.loads(text)["fallback"]["applied"] is True
    unchanged, _, _ = quality.FUSEVideoQualityCheck().check(paths["original"], paths["original"], clip.tracks, **SETTINGS, codec="h264", crf=18)["result"]
    assert unchanged == paths["original"], "nothing failed: the processed VIDEO itself comes back"


def test_is_changed_follows_the_model_files(empty_models):
    before = quality.FUSEQualityCheck.IS_CHANGED(syncnet="auto", embedder="auto")
    assert before == quality.FUSEQualityCheck.IS_CHANGED(syncnet="auto", embedder="auto"), "unchanged folders: ComfyUI may reuse the result"
    save_released_checkpoint((empty_models / "syncnet").mkdir(parents=True) or empty_models / "syncnet" / "syncnet_v2.model", released_state_dict())
    assert quality.FUSEVideoQualityCheck.IS_CHANGED(syncnet="auto", embedder="auto") != before, "a SyncNet that auto now finds makes the node run again"
