"""media.stream: probe, chunked decode (rotation, variable rate, corrupt frames), segments, atomic finish."""

from fractions import Fraction

import av
import numpy as np
import pytest

from comfyui_fuse.media import stream
from fuse_video_files import frame_pattern, patterned_video, write_test_video


def decode_all(path, **options):
    return np.concatenate([chunk for _, chunk in stream.iter_frames(path, **options)])


def test_probe_keeps_the_exact_fps_and_counts_frames(tmp_path):
    patterned_video(tmp_path / "a.mp4", 25, audio_seconds=0.5)
    info = stream.probe_video(tmp_path / "a.mp4")
    assert info.fps == Fraction(30000, 1001), f"fps must stay 30000/1001, got {info.fps}"
    assert (info.frame_count, info.width, info.height, info.has_audio, info.rotation) == (25, 160, 96, True, 0)


@pytest.mark.parametrize("chunk_frames", [1, 7, 25, 64])
def test_chunks_hold_every_frame_exactly_once_in_order(tmp_path, chunk_frames):
    frames = patterned_video(tmp_path / "a.mp4", 25)
    chunks = list(stream.iter_frames(tmp_path / "a.mp4", chunk_frames=chunk_frames))
    assert [start for start, _ in chunks] == list(range(0, 25, chunk_frames))
    assert all(len(chunk) <= chunk_frames for _, chunk in chunks)
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), frames)


def test_start_and_stop_cut_the_timeline(tmp_path):
    frames = patterned_video(tmp_path / "a.mp4", 30)
    np.testing.assert_array_equal(decode_all(tmp_path / "a.mp4", start=11, stop=23, chunk_frames=5), frames[11:23])


def test_downscaled_decode_has_the_asked_size(tmp_path):
    patterned_video(tmp_path / "a.mp4", 5)
    small = decode_all(tmp_path / "a.mp4", size=(80, 48))
    assert small.shape == (5, 48, 80, 3)


@pytest.mark.parametrize("rotation, turns", [(90, 1), (-90, 3), (180, 2)])
def test_rotation_metadata_is_honoured(tmp_path, rotation, turns):
    frames = patterned_video(tmp_path / "r.mp4", 6, rotation=rotation)
    info = stream.probe_video(tmp_path / "r.mp4")
    upright = np.rot90(frames, k=turns, axes=(1, 2))
    assert (info.height, info.width) == upright.shape[1:3], "width and height must be those displayed"
    np.testing.assert_array_equal(decode_all(tmp_path / "r.mp4"), upright)


def test_variable_rate_video_is_laid_on_the_constant_rate_timeline(tmp_path):
    timestamps = [0, 1, 2, 4, 5, 6, 9, 10, 11, 12]  # gaps after frames 2 and 6
    frames = patterned_video(tmp_path / "v.mp4", len(timestamps), pts=timestamps)
    info = stream.probe_video(tmp_path / "v.mp4")
    report = stream.DecodeReport()
    decoded = decode_all(tmp_path / "v.mp4", report=report)
    assert info.variable_rate and info.frame_count == 13 == len(decoded), "duration (13 slots at the nominal rate) must be kept"
    assert report.repeated == 3
    for slot, source in [(0, 0), (2, 2), (3, 2), (4, 3), (6, 5), (7, 5), (8, 5), (9, 6), (12, 9)]:
        np.testing.assert_array_equal(decoded[slot], frames[source], err_msg=f"slot {slot} must show frame {source}")


def test_an_audio_only_file_gets_a_clear_error(tmp_path):
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    with pytest.raises(ValueError, match="audio-only file"):
        stream.probe_video(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        stream.probe_video(tmp_path / "nope.mp4")


def test_a_corrupt_frame_keeps_the_count_and_is_reported(tmp_path):
    path = tmp_path / "c.mkv"
    frames = np.stack([frame_pattern(i, 64, 96) for i in range(12)])
    with av.open(str(path), "w") as container:  # intra-only MJPEG: one broken packet breaks one frame
        video = container.add_stream("mjpeg", rate=25)
        video.width, video.height, video.pix_fmt = 96, 64, "yuvj420p"
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    data = bytearray(path.read_bytes())
    marker = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG starts
    data[marker[6] : marker[7] - 64] = bytes(marker[7] - 64 - marker[6])  # destroy frame 6's picture
    path.write_bytes(bytes(data))
    report = stream.DecodeReport()
    decoded = decode_all(path, report=report)
    assert len(decoded) == 12, "the frame count must be kept"
    assert report.corrupt_frames == [6], f"frame 6 must be reported corrupt, got {report.corrupt_frames}"
    assert any("corrupt" in note and "6" in note for note in report.warnings("c.mkv"))


def segments_of(tmp_path, frames, fps, sizes, codec="h264_lossless"):
    paths, start = [], 0
    for index, count in enumerate(sizes):
        path = str(tmp_path / f"s{index}.mov")
        with stream.SegmentWriter(path, fps=fps, size=(frames.shape[2], frames.shape[1]), codec=codec) as writer:
            writer.write(frames[start : start + count])
        paths.append(path)
        start += count
    return paths


@pytest.mark.parametrize("extension", [".mp4", ".mov", ".mkv"])
def test_finished_video_keeps_fps_frames_and_copies_the_audio(tmp_path, extension):
    source = tmp_path / "src.mp4"
    frames = patterned_video(source, 30, audio_seconds=1.0)
    out = tmp_path / f"out{extension}"
    stream.finish_video(segments_of(tmp_path, frames, Fraction(30000, 1001), [12, 12, 6]), out, audio_source=str(source))
    info = stream.probe_video(out)
    assert info.fps == Fraction(30000, 1001) and info.frame_count == 30 and info.has_audio
    np.testing.assert_array_equal(decode_all(out), frames)
    with av.open(str(source)) as a, av.open(str(out)) as b:
        packets_in = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        packets_out = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert packets_in == packets_out, "the audio must be a stream copy (every packet unchanged)"


def test_audio_the_container_cannot_hold_is_reencoded_once(tmp_path):
    source = tmp_path / "src.mov"
    frames = patterned_video(source, 10, audio_seconds=0.4, audio_codec="pcm_s16le")
    out = tmp_path / "out.mp4"
    stream.finish_video(segments_of(tmp_path, frames, Fraction(30000, 1001), [10]), out, audio_source=str(source))
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        duration = sum(frame.samples for frame in container.decode(audio=0)) / 48000
    video_seconds = 10 / (30000 / 1001)
    assert abs(duration - video_seconds) < 0.03, f"audio longer than the video must end with it ({video_seconds:.3f} s), got {duration:.3f} s"


def test_an_interrupted_finish_leaves_nothing_under_the_final_name(tmp_path):
    frames = patterned_video(tmp_path / "src.mp4", 10)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the user's older file")
    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stream.finish_video(segments_of(tmp_path, frames, Fraction(25), [5, 5]), out, check_interrupt=interrupt)
    assert out.read_bytes() == b"the user's older file", "an existing file must stay as it was"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == [], "no partial file may be left"


@pytest.mark.parametrize("path, codec, message", [
    ("out.avi", "h264", "must end in one of"),
    ("out.mp4", "prores", "codec must be one of"),
])
def test_bad_output_paths_are_refused(tmp_path, path, codec, message):
    with pytest.raises(ValueError, match=message):
        stream.check_output_path(str(tmp_path / path), codec)


def test_an_output_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        stream.check_output_path(str(tmp_path / "dir.mp4"))


def test_forward_frames_reads_any_increasing_frames_and_refuses_going_back(tmp_path):
    frames = patterned_video(tmp_path / "a.mp4", 30)
    reader = stream.ForwardFrames(tmp_path / "a.mp4", chunk_frames=4)
    assert reader.shape == frames.shape and len(reader) == 30 and reader.dtype == np.uint8
    for index in (0, 3, 4, 13, 14, 29):
        np.testing.assert_array_equal(reader[index], frames[index])
    with pytest.raises(ValueError, match="front to back"):
        reader[10]
    with pytest.raises(IndexError, match="0..29"):
        reader[30]
