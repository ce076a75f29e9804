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


def test_int16_audio_is_written_as_pcm_not_clipped_to_a_square_wave(tmp_path):
    audio = make_audio(seconds=0.5, channels=1)
    pcm = {"waveform": (audio["waveform"] * 32767).round().to(torch.int16), "sample_rate": audio["sample_rate"]}
    write_video(tmp_path / "clip.mp4", make_frames(13), 25, pcm)
    back = read_video(tmp_path / "clip.mp4").audio["waveform"]
    middle = slice(2048, 4096)
    error = (back[0, :, middle] - audio["waveform"][0, :, middle]).pow(2).mean().sqrt().item()
    assert error < 0.01, f"int16 samples must be read as PCM (divided by 32768), but the decoded audio is off by RMS {error:.3f}"


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


def test_writing_over_a_folder_is_refused_before_encoding(tmp_path):
    (tmp_path / "out.mp4").mkdir()
    frames_encoded = []
    with pytest.raises(ValueError, match=r"video path must name a file to write, but .*out.mp4' is a folder"):
        write_video(tmp_path / "out.mp4", make_frames(3), 25, on_progress=frames_encoded.append)
    assert frames_encoded == [], "the folder must be refused before any frame is encoded"
    assert os.listdir(tmp_path) == ["out.mp4"], "nothing may be left behind"


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


def write_with_pyav(path, frames, pts_ms, *, rotation=0, audio_seconds=0.0):
    """A test file written by PyAV directly: frames (n,H,W,3) uint8 shown at pts_ms (ms), a display
    rotation (degrees counter-clockwise, as phones store it) and optionally silent audio."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        sound = None
        if audio_seconds:
            sound = container.add_stream("aac", rate=16000)
            sound.layout = "mono"
        for pixels, pts in zip(frames, pts_ms):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            silence = np.zeros((1, int(audio_seconds * 16000)), np.float32)
            for start in range(0, silence.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(silence[:, start : start + 1024]), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))


def upright_scene(n=3, height=64, width=48) -> np.ndarray:
    """(n,H,W,3) uint8 portrait frames with a bright block in the top-left corner: any turn shows."""
    frames = np.full((n, height, width, 3), 40, np.uint8)
    frames[:, : height // 3, : width // 3] = 230
    return frames


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_rotated_phone_video_is_read_upright(tmp_path, rotation):
    import av

    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix (set_display_rotation)")
    upright = upright_scene()
    stored = np.stack([np.rot90(frame, -(rotation // 90)) for frame in upright])  # what the camera stores; players turn it back
    write_with_pyav(tmp_path / "phone.mp4", stored, [0, 40, 80], rotation=rotation)
    video = read_video(tmp_path / "phone.mp4")
    assert video.frame_size == upright.shape[1:3], f"a video rotated by {rotation} degrees must be read upright ({upright.shape[1:3]}), but came out {video.frame_size}"
    error = np.abs(video.frames.astype(int) - upright.astype(int)).mean()
    assert error < 4, f"the frames must be turned as a player shows them, but differ from the upright scene by {error:.1f} on average"


VFR_GAPS_MS = [40] * 12 + [120] * 10  # 22 frames: 12 at 25 fps, then 10 at 8.33 fps, 1.68 s in all


def test_variable_frame_rate_video_keeps_its_length_and_audio_sync(tmp_path, caplog):
    """The issue's clip: 1.68 s of VFR video with 1.92 s of audio was read as 22 frames at 25 fps (0.88 s)."""
    pts_ms = np.concatenate([[0], np.cumsum(VFR_GAPS_MS)[:-1]])
    frames = np.stack([np.full((48, 64, 3), 10 * index, np.uint8) for index in range(len(pts_ms))])
    write_with_pyav(tmp_path / "vfr.mp4", frames, pts_ms, audio_seconds=1.92)
    with caplog.at_level("WARNING"):
        video = read_video(tmp_path / "vfr.mp4")
    duration = video.frame_count / video.fps
    assert video.fps == 25, f"the clip's stream rate is 25 fps, but it was read at {video.fps}"
    last_frame = Fraction(VFR_GAPS_MS[-1], 1000)  # the timeline ends one tick after the last frame starts, not when it ends
    assert Fraction(168, 100) - last_frame <= duration <= Fraction(168, 100), f"the video lasts 1.68 s and must keep its length, but came out {float(duration):.2f} s"
    assert video.audio["waveform"].shape[-1] == pytest.approx(1.92 * 16000, abs=1100), "the audio must be kept whole"
    ticks_ms = np.arange(video.frame_count) * 40
    expected = np.searchsorted(pts_ms, ticks_ms, side="right") - 1  # the frame on screen at each tick
    shown = np.round(video.frames.reshape(video.frame_count, -1).mean(axis=1) / 10).astype(int)
    assert np.array_equal(shown, expected), f"each frame must be the one on screen at its time, but got source frames {shown.tolist()}, expected {expected.tolist()}"
    assert "variable frame rate" in caplog.text, "repeating frames must be announced in a warning"
