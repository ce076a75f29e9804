"""The VIDEO nodes: a file in, a file out, processors a window at a time, the window chain."""

import io
import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse import streaming
from comfyui_fuse.media import stream
from comfyui_fuse.nodes import host, video
from fuse_video_files import patterned_video
from test_streaming import lossless, moving_tracks  # noqa: F401 - shared builders

FPS = Fraction(30000, 1001)


class FakeVideo:
    """ComfyUI's VideoFromFile as the nodes see it: get_stream_source() gives a path or BytesIO."""

    def __init__(self, source):
        self.source = source

    def get_stream_source(self):
        return self.source


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "job_directory", lambda: str(tmp_path / "jobs"))
    (tmp_path / "jobs").mkdir()
    path = tmp_path / "clip.mp4"
    frames = patterned_video(path, 40, size=(96, 160), audio_seconds=40 / float(FPS))
    return path, frames


def decode(path):
    return np.concatenate([chunk for _, chunk in stream.iter_frames(path)])


def darken_crops(crops, plan, offset, tracks):
    return crops * 0.5


def test_every_video_node_input_has_a_tooltip():
    for node_id, node in video.NODE_CLASS_MAPPINGS.items():
        for group, inputs in node.INPUT_TYPES().items():
            for name, spec in inputs.items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_process_node_writes_a_file_and_a_second_run_finds_it_done(source):
    path, frames = source
    node = video.FUSEVideoProcessFaces()
    processor = video.FaceProcessor("darken", darken_crops, {"strength": 0.5})
    out, report = node.process(FakeVideo(str(path)), moving_tracks(), 16, 64, 4.0, 4, "box", 0.3, 3, "h264_lossless", 18, processor=processor)
    result = decode(out)
    assert result.shape == frames.shape and not np.array_equal(result, frames)
    assert stream.probe_video(out).fps == FPS
    again, report_again = node.process(FakeVideo(str(path)), moving_tracks(), 16, 64, 4.0, 4, "box", 0.3, 3, "h264_lossless", 18, processor=processor)
    assert again == out and json.loads(report_again)["already_done"] is True


def test_a_video_held_in_memory_is_written_once_and_streamed(source):
    path, frames = source
    node = video.FUSEVideoProcessFaces()
    out, _ = node.process(FakeVideo(io.BytesIO(path.read_bytes())), moving_tracks(), 16, 64, 4.0, 0, "box", 0.3, 3, "h264_lossless", 18)
    np.testing.assert_array_equal(decode(out), frames)


def test_a_video_without_a_file_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="built from frames"):
        host.video_file(FakeVideo(None))
    with pytest.raises(TypeError, match="video must be a VIDEO"):
        host.video_file(42)


def test_the_window_chain_gives_what_the_video_node_gives(source, tmp_path):
    path, frames = source
    tracks = moving_tracks()
    crop, paste = video.FUSEVideoCropWindow(), video.FUSEVideoPasteWindow()
    index, count, status = 0, None, ""
    while True:
        crops, plan, index, count = crop.crop(FakeVideo(str(path)), tracks, index, 16, 64, 4.0)
        result = paste.paste(FakeVideo(str(path)), tracks, crops * 0.5, plan, index, 16, "box", 0.3, 3, "h264_lossless", 18)
        status = result["result"][0]
        if index == count - 1:
            break
        assert f"window {index + 1} of {count} done" in status
        index += 1
    assert count == 3 and status.endswith(".mp4")
    expected = tmp_path / "expected.mp4"
    streaming.process_video(path, tracks, expected, process_crops=lambda c, p, **_: c * 0.5, spec=lossless(16))
    np.testing.assert_array_equal(decode(status), decode(expected))


def test_a_window_index_past_the_end_says_how_many_windows_there_are(source):
    path, _ = source
    with pytest.raises(ValueError, match=r"window_index must be in 0\.\.2 for this video \(3 windows\)"):
        video.FUSEVideoCropWindow().crop(FakeVideo(str(path)), moving_tracks(), 3, 16, 64, 4.0)


def test_lipsync_windows_get_their_own_stretch_of_audio_and_ranges():
    audio = {"waveform": torch.arange(96000, dtype=torch.float32)[None, None], "sample_rate": 48000}
    shifted = video.audio_from(audio, Fraction(1001, 30000) * 30)  # 30 frames at 29.97 fps = 1.001 s
    assert shifted["waveform"][0, 0, 0].item() == 48048, "the window's audio must start at the exact sample of its first frame"
    ranges = json.loads(video.shift_ranges('{"1": [[0, 2000]], "alice": [[1500, 1600]]}', Fraction(1)))
    assert ranges == {"1": [[-1000.0, 1000.0]], "alice": [[500.0, 600.0]]}
    assert video.shift_ranges("", Fraction(1)) == ""
    window = json.loads(video.shift_ranges('{"01": [[0, 2000]], "alice": [[1500, 1600]], "2": [[0, 10]]}', Fraction(1), {"1", "bob"}))
    assert window == {"01": [[-1000.0, 1000.0]]}, "a window gets the ranges of the faces on screen in it ('01' is track 1)"


def test_track_video_node_tracks_the_demo_clip(tmp_path, monkeypatch):
    from comfyui_fuse.media import synthetic
    from comfyui_fuse.media.video import write_video
    from comfyui_fuse.models.face_detectors import HAAR_OPTION

    scene = synthetic.demo_scene(12)
    write_video(tmp_path / "demo.mp4", synthetic.render(scene), scene.fps, crf=0)
    tracks, faces, fps, count = video.FUSEVideoTrackFaces().track(FakeVideo(str(tmp_path / "demo.mp4")), HAAR_OPTION, 0.5, 16, 1, 320)
    assert count == 12 and abs(fps - 29.97) < 0.01 and tracks.fps == scene.fps
    assert len(tracks) >= 1 and len(faces) > 0


def test_lipsync_processor_syncs_the_selected_faces_on_screen_in_each_window(monkeypatch):
    from comfyui_fuse.compositing.plan import CropPlan, FaceSequence

    calls = []

    def recording_lipsync(self, crops, plan, audio, *args, track_ids="all", **kwargs):
        calls.append(track_ids)
        return crops, torch.ones(tuple(crops.shape[:3]))

    monkeypatch.setattr(video.FUSELipsync, "lipsync", recording_lipsync)
    audio = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}
    (processor,) = video.FUSELipsyncProcessor().build(audio, track_ids="2, alice", lipsync_model="wav2lip.pth")
    affine = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (4, 1, 1))

    def window(*faces):
        sequences = tuple(FaceSequence(track_id, np.arange(4), affine, (8, 8), identity) for track_id, identity in faces)
        return CropPlan(sequences, (32, 32), 4, FPS, np.zeros((4, 16, 16, 3), np.uint8))

    crops = torch.rand(4, 8, 8, 3)
    out, mask = processor(crops, window((1, "bob")), frame_offset=0)
    assert torch.equal(out, crops) and not mask.any() and calls == [], "a window without a selected face passes through, without error"
    processor(torch.rand(8, 8, 8, 3), window((1, "bob"), (2, "carol")), frame_offset=4)
    assert calls == ["2"], f"the window's part of the selection is synced (track 2; alice is not on screen), but got {calls}"
    with pytest.raises(ValueError, match="track_ids must hold track ids >= 1"):
        video.FUSELipsyncProcessor().build(audio, track_ids="0")


def test_track_video_node_runs_again_when_auto_would_pick_a_new_detector(tmp_path, monkeypatch):
    """A face model put in models/ultralytics/bbox after a run with the Haar fallback."""
    from fuse_fake_host import install_models_dir, put_model_file

    install_models_dir(monkeypatch, tmp_path)
    widgets = dict(video=None, score_threshold=0.5, min_face_size=16, detect_every=1, detect_size=960)
    with_haar = video.FUSEVideoTrackFaces.IS_CHANGED(detector="auto", **widgets)
    assert video.FUSEVideoTrackFaces.IS_CHANGED(detector="auto", **widgets) == with_haar, "nothing changed: ComfyUI may reuse the result"
    put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    assert video.FUSEVideoTrackFaces.IS_CHANGED(detector="auto", **widgets) != with_haar, "auto now loads face_yolov8n.pt, so the node must run again"


@pytest.mark.parametrize("node, folder, widget, name", [(video.FUSERestoreProcessor, "facerestore_models", "model", "GFPGANv1.4.pth"), (video.FUSELipsyncProcessor, "lipsync", "lipsync_model", "wav2lip.pth")])
def test_processors_change_when_their_model_file_is_replaced(tmp_path, monkeypatch, node, folder, widget, name):
    from fuse_fake_host import install_models_dir, put_model_file

    install_models_dir(monkeypatch, tmp_path)
    model = put_model_file(tmp_path, folder, name)
    first = node.IS_CHANGED(**{widget: name, "batch_size": 4})
    assert node.IS_CHANGED(**{widget: name, "batch_size": 4}) == first
    model.write_bytes(b"other weights of another size")
    assert node.IS_CHANGED(**{widget: name, "batch_size": 4}) != first, "a replaced model file must make a new processor"


def test_lipsync_processor_ranges_name_faces_of_the_whole_video(monkeypatch):
    """A range for a face not on screen in a window is that window's business; a range for no face
    of the video is an error (before, it was dropped and its face synced over the whole video)."""
    from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
    from comfyui_fuse.core.types import FaceTracks

    seen = []
    monkeypatch.setattr(video.FUSELipsync, "lipsync", lambda self, crops, plan, audio, *args, ranges="", **kwargs: seen.append(json.loads(ranges)) or (crops, torch.ones(tuple(crops.shape[:3]))))
    audio = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}
    affine = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (4, 1, 1))
    plan = CropPlan((FaceSequence(1, np.arange(4), affine, (8, 8)),), (32, 32), 4, FPS, np.zeros((4, 16, 16, 3), np.uint8))
    tracks = FaceTracks([1, 2], np.zeros((2, 4, 4), np.float32), np.zeros((2, 4), np.uint8), np.zeros((2, 4), np.float32), 4, (32, 32), FPS)
    (processor,) = video.FUSELipsyncProcessor().build(audio, ranges='{"1": [[0, 100]], "2": [[0, 100]]}', lipsync_model="wav2lip.pth")
    processor(torch.rand(4, 8, 8, 3), plan, frame_offset=0, tracks=tracks)
    assert list(seen[0]) == ["1"], f"the window holds face 1 only, so only its range goes to the lipsync, but got {seen[0]}"
    (processor,) = video.FUSELipsyncProcessor().build(audio, ranges='{"7": [[0, 100]]}', lipsync_model="wav2lip.pth")
    with pytest.raises(ValueError, match=r"ranges keys must name faces in the video's tracks \(1, 2\), but '7' matches none"):
        processor(torch.rand(4, 8, 8, 3), plan, frame_offset=0, tracks=tracks)


@pytest.mark.parametrize("processor_node, wrapped, method", [
    (video.FUSERestoreProcessor, video.FUSERestoreFaces, "restore"),
    (video.FUSESampleProcessor, video.FUSESampleFaceSequences, "sample"),
])
def test_processor_nodes_run_the_wrapped_node_on_each_window_with_its_settings(monkeypatch, processor_node, wrapped, method):
    calls = []

    def work(self, crops, crop_plan, **settings):
        calls.append((crops.shape[0], crop_plan, settings))
        return (crops + 1,)

    monkeypatch.setattr(wrapped, method, work)
    inputs = processor_node.INPUT_TYPES()
    assert "crops" not in inputs["required"] and "crop_plan" not in inputs["required"]
    (processor,) = processor_node().build(strength=0.25)
    result = processor(torch.zeros(3, 8, 8, 3), "plan", frame_offset=10)
    assert torch.equal(result, torch.ones(3, 8, 8, 3)) and calls == [(3, "plan", {"strength": 0.25})]
    assert processor.key["name"] == processor_node.NAME and processor.key["strength"] == 0.25
