"""Audio: validation, mixdown, resampling, exact frame <-> sample alignment, length policies."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.lipsync.audio import (
    audio_for_frames,
    audio_to_mono,
    audio_window_for_frame,
    check_audio,
    fit_clip_to_audio,
    fit_video_to_audio,
    frames_with_audio,
    place_on_timeline,
    resample,
)
from comfyui_fuse.lipsync.mel import MEL_FRAMES_PER_SECOND, mel_chunk_start

FPS_TABLE = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60)]


@pytest.mark.parametrize("fps", FPS_TABLE, ids=str)
@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
def test_last_frame_of_ten_minutes_starts_within_one_mel_frame_of_its_true_time(fps, sample_rate):
    last = math.floor(600 * fps) - 1
    true_time = Fraction(last) / fps
    start, stop = audio_window_for_frame(last, fps, sample_rate)
    error = abs(Fraction(start, sample_rate) - true_time)
    assert error < Fraction(1, MEL_FRAMES_PER_SECOND), f"frame {last} at {fps} fps: window starts {float(error) * 1000:.3f} ms from its true time"
    assert stop - start == math.floor(true_time * sample_rate + Fraction(sample_rate, 5)) - math.floor(true_time * sample_rate), "the window lasts 0.2 s"
    mel_error = Fraction(MEL_FRAMES_PER_SECOND) * true_time - mel_chunk_start(last, fps)
    assert 0 <= mel_error < 1, f"mel chunk of frame {last} at {fps} fps starts {float(mel_error)} mel frames off"


def test_integer_fps_would_drift_which_is_what_the_exact_time_avoids():
    fps = Fraction(30000, 1001)
    last = math.floor(600 * fps) - 1
    naive_start = last / 30  # a tool that hard-codes 30 fps
    drift_mel_frames = (naive_start - float(Fraction(last) / fps)) * MEL_FRAMES_PER_SECOND
    assert abs(drift_mel_frames) > 40, "the table above must be able to fail: integer fps drifts by ~48 mel frames in 10 min"


@pytest.mark.parametrize(
    "frame_index, fps, sample_rate, offset_ms, expected",
    [
        (0, 25, 16000, 0, (0, 3200)),
        (1, 25, 16000, 0, (640, 3840)),
        (3, Fraction(30000, 1001), 48000, 0, (4804, 14404)),  # 3 * 1001 / 30000 s = 0.1001 s
        (0, 25, 16000, 500, (-8000, -4800)),  # the audio starts half a second into the video
        (10, 25, 16000, -250, (10400, 13600)),  # 0.4 s + 0.25 s skipped
    ],
)
def test_audio_window_for_frame_table(frame_index, fps, sample_rate, offset_ms, expected):
    assert audio_window_for_frame(frame_index, fps, sample_rate, offset_ms) == expected


def stereo(samples_l, samples_r, rate):
    return {"waveform": torch.from_numpy(np.stack([samples_l, samples_r]).astype(np.float32))[None], "sample_rate": rate}


@pytest.mark.parametrize(
    "audio, error, fragment",
    [
        (None, ValueError, "audio must be an AUDIO input, but got nothing"),
        ("speech.wav", TypeError, "audio must be an AUDIO dict"),
        ({"waveform": torch.zeros(1, 1, 10)}, ValueError, "sample_rate is missing"),
        ({"waveform": torch.zeros(1, 1, 10), "sample_rate": 0}, ValueError, "audio sample_rate must be a positive int, but got 0"),
        ({"waveform": torch.zeros(1, 1, 10), "sample_rate": -16000}, ValueError, "positive int"),
        ({"waveform": torch.zeros(1, 10), "sample_rate": 16000}, ValueError, "audio waveform must be a 3D [B,C,S] tensor"),
        ({"waveform": torch.zeros(1, 1, 1, 10), "sample_rate": 16000}, ValueError, "3D [B,C,S]"),
        ({"waveform": torch.zeros(1, 2, 0), "sample_rate": 16000}, ValueError, "zero-length audio"),
        ({"waveform": torch.full((1, 1, 4), float("nan")), "sample_rate": 16000}, ValueError, "finite"),
        ({"waveform": torch.zeros(1, 1, 4, dtype=torch.uint8), "sample_rate": 16000}, TypeError, "audio waveform must hold float samples in -1..1 (or int16 / int32 PCM), but got dtype uint8"),
        ({"waveform": torch.zeros(1, 1, 4, dtype=torch.int64), "sample_rate": 16000}, TypeError, "but got dtype int64; convert it to float"),
    ],
    ids=["none", "not-a-dict", "no-rate", "rate-0", "rate-negative", "rank-2", "rank-4", "zero-length", "nan", "uint8", "int64"],
)
def test_bad_audio_gets_an_error_naming_the_input(audio, error, fragment):
    with pytest.raises(error) as raised:
        check_audio(audio)
    assert fragment in str(raised.value), f"message should say {fragment!r}: {raised.value}"


@pytest.mark.parametrize("dtype, full_scale", [(torch.int16, 32768), (torch.int32, 2**31)], ids=["int16", "int32"])
def test_pcm_integer_samples_are_converted_to_minus_one_to_one(dtype, full_scale):
    pcm = torch.tensor([[[0, full_scale // 2, -full_scale, full_scale - 1]]], dtype=dtype)
    clip, _ = check_audio({"waveform": pcm, "sample_rate": 16000})
    assert clip.dtype == np.float32
    np.testing.assert_allclose(clip[0], [0.0, 0.5, -1.0, 1.0], atol=1e-4, err_msg=f"{dtype} PCM must be divided by its full scale, not read as floats")


def test_integral_float_sample_rate_is_accepted_and_batches_use_the_first_clip():
    waveform = torch.stack([torch.ones(1, 8), torch.zeros(1, 8)])
    clip, rate = check_audio({"waveform": waveform, "sample_rate": 16000.0})
    assert rate == 16000 and isinstance(rate, int)
    assert clip.shape == (1, 8) and (clip == 1).all(), "the first clip of the batch is used"


def test_stereo_is_mixed_to_mono_by_the_mean():
    t = np.arange(1600) / 16000
    left, right = np.sin(2 * np.pi * 440 * t), 0.5 * np.ones_like(t)
    mono = audio_to_mono(stereo(left, right, 16000), 16000)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)


def test_opposite_channels_cancel_to_silence():
    t = np.arange(1600) / 16000
    sine = np.sin(2 * np.pi * 440 * t)
    assert np.abs(audio_to_mono(stereo(sine, -sine, 16000), 16000)).max() < 1e-6


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000, 16000])
def test_resampling_keeps_duration_and_pitch(rate):
    t = np.arange(rate) / rate  # one second
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, rate, 16000)
    assert len(out) == 16000, f"{rate} Hz -> 16 kHz must keep 1 s exactly, got {len(out)} samples"
    spectrum = np.abs(np.fft.rfft(out[2000:14000] * np.hanning(12000)))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 1000) < 2, f"a 1 kHz tone at {rate} Hz came out at {peak_hz:.1f} Hz"


@pytest.mark.parametrize(
    "offset_ms, expected_head, expected_source_start",
    [(0, 0, 0), (250, 4000, 0), (-250, 0, 4000)],
    ids=["none", "delayed", "advanced"],
)
def test_place_on_timeline_applies_the_offset(offset_ms, expected_head, expected_source_start):
    samples = np.arange(1, 16001, dtype=np.float32)  # 1 s, never zero
    placed = place_on_timeline(samples, 16000, Fraction(0), Fraction(2), offset_ms)
    assert len(placed) == 32000
    assert (placed[:expected_head] == 0).all(), "silence before a delayed audio"
    assert placed[expected_head] == samples[expected_source_start], f"audio sample {expected_source_start} must play at sample {expected_head}"
    voiced = np.flatnonzero(placed)
    assert len(voiced) == 16000 - expected_source_start and (placed[voiced[-1] + 1 :] == 0).all(), "silence after the audio ends"


@pytest.mark.parametrize(
    "audio_seconds, offset_ms, policy, expected",
    [
        (1.5, 0, "trim", list(range(10))),
        (1.5, 0, "pad_silence", list(range(10))),
        (1.5, 0, "loop_video", list(range(10)) + [0, 1, 2, 3, 4]),
        (1.5, 0, "pingpong_video", list(range(10)) + [8, 7, 6, 5, 4]),
        (0.55, 0, "trim", list(range(6))),
        (0.55, 0, "pad_silence", list(range(10))),
        (0.55, 0, "loop_video", list(range(6))),
        (0.55, 0, "pingpong_video", list(range(6))),
        (1.0, 200, "loop_video", list(range(10)) + [0, 1]),
        (1.0, -500, "trim", list(range(5))),
        (2.5, 0, "pingpong_video", list(range(10)) + list(range(8, -1, -1)) + list(range(1, 7))),
    ],
)
def test_fit_video_to_audio_policies(audio_seconds, offset_ms, policy, expected):
    fit = fit_video_to_audio(10, 10, Fraction(audio_seconds).limit_denominator(100), policy, offset_ms)
    assert fit.frame_indices.tolist() == expected
    assert fit.duration == Fraction(len(expected), 10)


def test_pingpong_of_a_single_frame_repeats_it():
    assert fit_video_to_audio(1, 25, Fraction(1, 5), "pingpong_video").frame_indices.tolist() == [0] * 5


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="audio_policy must be one of trim, pad_silence, loop_video, pingpong_video"):
        fit_video_to_audio(10, 25, Fraction(1), "stretch")


def test_frames_with_audio_follow_offset_and_length():
    covered = frames_with_audio(np.arange(10), 10, Fraction(1, 2), offset_ms=200)
    assert covered.tolist() == [False, False, True, True, True, True, True, False, False, False]


def test_audio_for_frames_is_the_exact_slice_in_the_source_rate_and_channels():
    rate = 48000
    waveform = torch.arange(2 * 2 * rate, dtype=torch.float32).reshape(1, 2, 2 * rate) + 1
    sliced = audio_for_frames({"waveform": waveform, "sample_rate": rate}, 25, 50, 25)
    assert sliced["sample_rate"] == rate
    assert torch.equal(sliced["waveform"], waveform[:, :, rate : 2 * rate]), "frames 25..49 at 25 fps are seconds 1..2"


def test_audio_for_frames_pads_with_silence_past_the_audio():
    audio = {"waveform": torch.ones(1, 1, 16000), "sample_rate": 16000}
    sliced = audio_for_frames(audio, 20, 40, 25, offset_ms=100)  # video 0.8..1.6 s; audio plays 0.1..1.1 s
    wave = sliced["waveform"][0, 0]
    assert wave.shape == (12800,), "the slice lasts exactly 20 frames at 25 fps"
    assert (wave[:4800] == 1).all() and (wave[4800:] == 0).all(), "audio until 1.1 s, silence after"


def test_fit_clip_to_audio_loops_frames_and_sizes_audio():
    images = torch.arange(10, dtype=torch.float32)[:, None, None, None].expand(10, 4, 4, 3)
    audio = {"waveform": torch.ones(1, 2, 12000), "sample_rate": 8000}  # 1.5 s stereo
    out_images, out_audio = fit_clip_to_audio(images, audio, 10, "loop_video")
    assert out_images[:, 0, 0, 0].tolist() == list(range(10)) + [0, 1, 2, 3, 4]
    assert out_audio["waveform"].shape == (1, 2, 12000) and out_audio["sample_rate"] == 8000
    assert images.shape == (10, 4, 4, 3), "the input is not changed"


def test_looping_a_video_beyond_the_memory_available_is_refused_up_front(monkeypatch):
    """4 frames looped to 10 minutes of audio needed 41 GB: refused with the size, before allocating."""
    monkeypatch.setattr("comfyui_fuse.core.checks.available_memory_bytes", lambda device=None: 10**6)
    images = torch.zeros(4, 32, 32, 3)
    audio = {"waveform": torch.zeros(1, 1, 8000 * 600), "sample_rate": 8000}  # 10 minutes
    with pytest.raises(ValueError, match=r"the loop_video video \(6000 frames of 32x32 for 600.0 s of audio\) must fit in memory, but would need 73.73 MB and only 1.00 MB is available; use a shorter audio"):
        fit_clip_to_audio(images, audio, 10, "loop_video")
    out_images, _ = fit_clip_to_audio(images, audio, 10, "trim")
    assert out_images.shape[0] == 4, "trimming allocates nothing new and is not refused"


def test_fit_clip_to_audio_pads_short_audio_with_silence():
    images = torch.zeros(10, 4, 4, 3)
    audio = {"waveform": torch.ones(1, 1, 4000), "sample_rate": 8000}  # 0.5 s
    out_images, out_audio = fit_clip_to_audio(images, audio, 10, "pad_silence", offset_ms=100)
    wave = out_audio["waveform"][0, 0]
    assert out_images.shape[0] == 10 and wave.shape == (8000,)
    assert (wave[:800] == 0).all() and (wave[800:4800] == 1).all() and (wave[4800:] == 0).all()
