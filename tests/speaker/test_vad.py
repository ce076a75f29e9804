"""Speech activity from energy with hysteresis, per video frame."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.media.dialogue import Turn, make_dialogue
from comfyui_fuse.speaker.vad import (
    VadSettings, bridge_and_prune, frame_sample_bounds, hysteresis, level_frames, speech_frames, speech_hops, timeline_samples,
)

RATE = 16000


def bursts(spans, seconds, level=0.2, noise=1e-3, seed=0):
    """Noise at -60 dBFS with a 200 Hz tone of `level` during each (start, stop) span in seconds."""
    rng = np.random.default_rng(seed)
    samples = noise * rng.standard_normal(int(seconds * RATE))
    time = np.arange(len(samples)) / RATE
    for start, stop in spans:
        inside = (time >= start) & (time < stop)
        samples[inside] += level * np.sin(2 * np.pi * 200 * time[inside])
    return samples.astype(np.float32)


def test_frame_sample_bounds_are_exact_at_29_97_fps():
    bounds = frame_sample_bounds(30000, Fraction(30000, 1001))
    assert bounds[0] == 0 and bounds[-1] == 30000 * 16000 * 1001 // 30000, "frame 30000 starts at exactly 1001 s"


@pytest.mark.parametrize(
    "spans, expected_frames",
    [
        ([], []),
        ([(1.0, 2.0)], [(25, 50)]),
        ([(0.4, 1.0), (2.0, 2.6)], [(10, 25), (50, 65)]),
    ],
)
def test_speech_frames_find_the_bursts(spans, expected_frames):
    speech = speech_frames(bursts(spans, 3.0), 75, Fraction(25))
    truth = np.zeros(75, bool)
    for start, stop in expected_frames:
        truth[start:stop] = True
    wrong = np.flatnonzero(speech != truth)
    assert len(wrong) <= 2 * len(expected_frames), f"speech frames {np.flatnonzero(speech).tolist()} differ from {expected_frames} at {wrong.tolist()}"


def test_digital_silence_and_quiet_noise_are_not_speech():
    assert not speech_frames(np.zeros(RATE * 2, np.float32), 50, 25).any()
    assert not speech_frames(bursts([], 2.0, noise=3e-3), 50, 25).any(), "-50 dBFS room noise alone must not be speech"


def test_a_click_is_dropped_and_a_short_pause_is_bridged():
    hops = speech_hops(bursts([(0.5, 0.53), (1.0, 1.5), (1.6, 2.0)], 3.0))
    assert not hops[45:60].any(), "a 30 ms click is shorter than min_speech_ms (100) and is not speech"
    assert hops[100:200].all(), "the 100 ms pause between 1.5 and 1.6 s is shorter than min_silence_ms (250) and is bridged"


def test_hysteresis_keeps_speech_until_the_level_falls_below_the_stop_threshold():
    levels = np.array([-80, -40, -47, -49, -52, -45, -80], float)
    assert hysteresis(levels, -45, -50).tolist() == [False, True, True, True, False, True, False]


@pytest.mark.parametrize("active, gap, run, expected", [
    ([1, 1, 0, 1, 1, 0, 0, 0, 1], 2, 1, [1, 1, 1, 1, 1, 0, 0, 0, 1]),
    ([1, 0, 0, 1, 1, 1, 0, 1], 1, 2, [0, 0, 0, 1, 1, 1, 0, 0]),
])
def test_bridge_and_prune(active, gap, run, expected):
    assert bridge_and_prune(np.array(active, bool), gap, run).astype(int).tolist() == expected


def test_speech_throughout_is_found_although_its_floor_is_the_pauses_between_syllables():
    dialogue = make_dialogue([Turn(0, 0.0, 6.0)], 1, 6.0)
    speech = speech_frames(dialogue.mix, dialogue.frame_count, dialogue.fps)
    assert speech.mean() > 0.9, f"only {speech.mean():.0%} of continuous speech was found"


def test_timeline_samples_apply_the_offset_and_pad_a_short_audio_with_silence():
    audio = {"waveform": torch.ones(1, 2, RATE), "sample_rate": RATE}  # 1 s of audio
    samples = timeline_samples(audio, 50, Fraction(25), offset_ms=500)  # a 2 s video, audio from 0.5 s
    assert len(samples) == 2 * RATE
    assert not samples[: RATE // 2].any() and samples[RATE // 2 : RATE * 3 // 2].min() > 0.99 and not samples[RATE * 3 // 2 :].any()
    levels = level_frames(samples, 50, 25)
    assert levels[:12].max() < -90 and levels[13:37].min() > -1, "frames of silence and of full-scale audio"


def test_vad_settings_refuse_negative_values():
    with pytest.raises(ValueError, match="min_speech_ms must be a number >= 0"):
        VadSettings(min_speech_ms=-1)
