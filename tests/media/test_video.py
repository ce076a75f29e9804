"""read_video / write_video: exact fps, frames, audio round trip, atomic writes, clear errors."""

import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.media import video as video_io
from comfyui_fuse.media.video import Video, frames_to_image, read_video, write_video


def make_frames(n=6, height=48, width=64) -> np.ndarray:
    """(n,H,W,3) uint8: smooth gradients that change per frame (H.264 keeps them close)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = [np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, 20 + 30 * i)], axis=-1) for i in range(n)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def make_audio(seconds=1.0, sample_rate=16000, channels=2) -> dict:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    tones = torch.stack([0.4 * torch.sin(2 * torch.pi * (330 + 110 * c) * t) for c in range(channels)])
    return {"waveform": tones[None].float(), "sample_rate": sample_rate}


@pytest.mark.parametrize("fps", [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(60)], ids=str)
@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_fps_and_frames_survive_a_round_trip(tmp_path, fps, extension):
    frames = make_frames()
    path = tmp_path / f"clip{extension}"
    write_video(path, frames, fps)
    video = read_video(path)
    assert isinstance(video.fps, Fraction) and video.fps == fps, f"fps must come back exactly as {fps}, but got {video.fps!r}"
    assert video.frames.shape == frames.shape and video.frames.dtype == np.uint8
    error = np.abs(video.frames.astype(int) - frames.astype(int)).mean()
    assert error < 3, f"crf 18 should keep smooth frames close, but the mean error is {error:.2f}"
    assert video.audio is None, "a file without audio must give audio None"


def test_image_tensor_input_is_written_like_uint8(tmp_path):
    frames = make_frames(3)
    write_video(tmp_path / "a.mp4", frames_to_image(frames), 25)
    write_video(tmp_path / "b.mp4", frames, 25)
    assert np.array_equal(read_video(tmp_path / "a.mp4").frames, read_video(tmp_path / "b.mp4").frames), "IMAGE 0..1 and uint8 must encode alike"


def test_frames_to_image_is_float_0_to_1():
    image = frames_to_image(np.array([[[[0, 128, 255]]]], np.uint8))
    assert image.dtype == torch.float32 and image.shape == (1, 1, 1, 3)
    assert torch.allclose(image, torch.tensor([0.0, 128 / 255, 1.0]))


def test_odd_sides_are_padded_to_even(tmp_path):
    write_video(tmp_path / "odd.mp4", make_frames(2, 33, 47), 25)
    video = read_video(tmp_path / "odd.mp4")
    assert video.frame_size == (34, 48), f"odd sides should be padded by one pixel for yuv420p, but got {video.frame_size}"
    assert video.frame_count == 2


def test_max_frames_keeps_the_first_frames_and_cuts_the_audio(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, make_frames(10), 25, make_audio(seconds=0.4, sample_rate=16000))
    video = read_video(path, max_frames=4)
    assert video.frame_count == 4
    samples = video.audio["waveform"].shape[-1]
    assert samples == round(4 / 25 * 16000), f"audio should be cut to 4 frames at 25 fps, but holds {samples} samples"


@pytest.mark.parametrize(
    "sample_rate, channels, expected_rate",
    [(16000, 1, 16000), (44100, 2, 44100), (48000, 2, 48000), (12345, 1, 16000)],
    ids=["16k-mono", "44k1-stereo", "48k-stereo", "odd-rate-resampled"],
)
def test_audio_round_trip(tmp_path, sample_rate, channels, expected_rate):
    audio = make_audio(seconds=0.5, sample_rate=sample_rate, channels=channels)
    path = tmp_path / "clip.mp4"
    write_video(path, make_frames(13), 25, audio)
    back = read_video(path).audio
    assert back is not None, "the audio stream was lost"
    waveform = back["waveform"]
    assert back["sample_rate"] == expected_rate
    assert waveform.dtype == torch.float32 and waveform.ndim == 3 and waveform.shape[:2] == (1, channels)
    expected = 0.5 * expected_rate
    assert abs(waveform.shape[-1] - expected) <= 2048, f"audio length should be about {expected:.0f} samples (AAC pads up to 2 frames), but got {waveform.shape[-1]}"
    if sample_rate == expected_rate:
        middle = slice(2048, 4096)
        error = (waveform[0, :, middle] - audio["waveform"][0, :, middle]).pow(2).mean().sqrt().item()
        assert error < 0.01, f"decoded audio should match, sample for sample, the tones it was written from (RMS 0.28), but the RMS error is {error:.4f}"


def test_failed_write_leaves_no_file_and_keeps_an_old_one(tmp_path, monkeypatch):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    calls = []

    def failing_frame(frame):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("encoder exploded")
        return original(frame)

    original = video_io._frame_uint8
    monkeypatch.setattr(video_io, "_frame_uint8", failing_frame)
    with pytest.raises(RuntimeError, match="encoder exploded"):
        write_video(path, make_frames(5), 25, make_audio(seconds=0.2))
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"], f"no partial file may stay behind, but found {os.listdir(tmp_path)}"
    assert path.read_bytes() == b"previous result", "a failed write must not touch the existing file"


def test_interrupt_during_write_leaves_nothing(tmp_path):
    class Interrupted(Exception):
        pass

    def interrupt():
        raise Interrupted()

    with pytest.raises(Interrupted):
        write_video(tmp_path / "out.mp4", make_frames(3), 25, check_interrupt=interrupt)
    assert os.listdir(tmp_path) == [], f"an interrupted write must leave no file, but found {os.listdir(tmp_path)}"


def test_write_creates_the_folder(tmp_path):
    path = tmp_path / "new" / "folder" / "clip.mp4"
    write_video(path, make_frames(2), 25)
    assert read_video(path).frame_count == 2


def test_progress_counts_frames(tmp_path):
    written, read = [], []
    write_video(tmp_path / "clip.mp4", make_frames(4), 25, on_progress=written.append)
    read_video(tmp_path / "clip.mp4", on_progress=read.append)
    assert sum(written) == 4 and sum(read) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"path": "clip.avi"}, "video path must end in one of"),
        ({"frames": np.zeros((2, 8, 8), np.uint8)}, r"frames must be a \[N,H,W,3\] batch"),
        ({"frames": np.zeros((0, 8, 8, 3), np.uint8)}, "frames must hold at least one frame"),
        ({"fps": 0}, "fps must be a positive number"),
        ({"crf": 70}, "crf must be an int in 0..51"),
        ({"audio": {"waveform": torch.zeros(2, 1, 100), "sample_rate": 16000}}, r"audio waveform must have shape \[1,C,S\]"),
        ({"audio": {"waveform": torch.zeros(1, 9, 100), "sample_rate": 16000}}, "audio must have 1 to 8 channels"),
        ({"audio": {"waveform": torch.zeros(1, 1, 100), "sample_rate": 0}}, "audio sample_rate must be a positive int"),
        ({"audio": torch.zeros(1, 1, 100)}, "audio must be an AUDIO dict"),
    ],
    ids=["extension", "not-4d", "empty", "fps", "crf", "batch", "channels", "rate", "not-dict"],
)
def test_bad_write_arguments_are_clear_errors(tmp_path, kwargs, message):
    arguments = {"path": "clip.mp4", "frames": make_frames(2, 8, 8), "fps": 25, "audio": None, "crf": 18}
    arguments.update(kwargs)
    arguments["path"] = tmp_path / arguments["path"]
    with pytest.raises(ValueError, match=message):
        write_video(arguments.pop("path"), arguments.pop("frames"), arguments.pop("fps"), **arguments)
    assert os.listdir(tmp_path) == [], "a rejected write must create nothing"


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video(missing)


@pytest.mark.parametrize(
    "content, message",
    [(b"this is not a video at all" * 10, "could not be read as a video"), (None, "is a directory")],
    ids=["garbage", "directory"],
)
def test_unreadable_file_is_a_value_error_naming_the_path(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as caught:
        read_video(path)
    assert "bad.mp4" in str(caught.value)


def test_max_frames_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="max_frames must be a positive int"):
        read_video(tmp_path / "x.mp4", max_frames=0)


def test_video_reports_size_and_count():
    video = Video(frames=make_frames(3, 10, 20), fps=Fraction(25))
    assert video.frame_count == 3 and video.frame_size == (10, 20)
