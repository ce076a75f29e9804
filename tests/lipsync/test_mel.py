"""Wav2Lip mel features: the filterbank and spectrogram match librosa's (as Wav2Lip computed
them, librosa 0.7 defaults); chunk positions follow exact frame times.

Reference numbers were computed once with librosa 0.11 (filters.mel(sr=16000, n_fft=800,
n_mels=80, fmin=55, fmax=7600); stft(n_fft=800, hop_length=200, win_length=800,
pad_mode="reflect") of the pre-emphasised signal; Wav2Lip's dB and normalisation); our own code
matched librosa to 2e-9 (filters) and 1.3e-7 (mel) on 3 s of tone plus noise.
"""

from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.lipsync.mel import MEL_STEP, mel_chunk_start, mel_chunks, mel_filterbank, melspectrogram


def test_filterbank_matches_librosa_reference_values():
    bank = mel_filterbank()
    assert bank.shape == (80, 401)
    assert np.flatnonzero(bank[0]).tolist() == [3, 4, 5, 6], "first filter spans FFT bins 3..6 (55 Hz upwards at 20 Hz per bin)"
    np.testing.assert_allclose(bank[0, 3:7], [0.003869592, 0.01934796, 0.02081245, 0.005334082], rtol=1e-5)
    assert np.flatnonzero(bank[40]).tolist() == [84, 85, 86, 87, 88, 89]
    np.testing.assert_allclose(bank[40, 84:90], [0.004383108, 0.009363133, 0.014343159, 0.012076846, 0.007278051, 0.002479257], rtol=1e-5)
    assert (bank[:, 381:] == 0).all(), "nothing above fmax 7600 Hz (bin 380)"


def tone(frequency=1000.0, seconds=0.5, amplitude=0.5):
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize(
    "frame, expected",
    [
        (0, [0.350848, 1.614967, 2.588106, 2.063366, 0.570086]),  # reflect padding at the start
        (20, [-4.0, 1.04945, 2.55035, 2.15337, -4.0]),
        (40, [1.042847, 1.636327, 2.24225, 2.444079, 1.049973]),  # and at the end
    ],
)
def test_melspectrogram_matches_librosa_reference_values(frame, expected):
    mel = melspectrogram(tone())
    assert mel.shape == (80, 41), "1 + 8000 // 200 centred frames"
    np.testing.assert_allclose(mel[[22, 24, 25, 26, 28], frame], expected, atol=2e-4)


def test_silence_is_the_floor_and_values_stay_in_range():
    assert (melspectrogram(np.zeros(3200)) == -4).all(), "silence maps to the -100 dB floor, -4 after normalisation"
    loud = melspectrogram(np.random.default_rng(0).uniform(-1, 1, 16000))
    assert loud.min() >= -4 and loud.max() <= 4 and loud.max() > 0


@pytest.mark.parametrize("samples, frames", [(199, 1), (200, 2), (3200, 17), (16000, 81), (10, 1)])
def test_frame_count_is_one_plus_samples_over_hop(samples, frames):
    assert melspectrogram(np.ones(samples) * 0.1).shape == (80, frames)


@pytest.mark.parametrize(
    "frame, fps, start",
    [
        (0, 25, 0),
        (1, 25, 3),  # 80 / 25 = 3.2
        (5, 25, 16),
        (1, Fraction(30000, 1001), 2),  # 80 * 1001 / 30000 = 2.669
        (3, Fraction(30000, 1001), 8),  # 8.008
        (17981, Fraction(30000, 1001), 47997),  # 47997.3 at the end of 10 minutes
        (3, 24, 10),
        (59, 60, 78),  # 78.67
    ],
)
def test_mel_chunk_start_is_floor_of_80_times_time(frame, fps, start):
    assert mel_chunk_start(frame, fps) == start


def test_mel_chunks_take_16_frames_and_clamp_at_the_end_like_wav2lip():
    mel = np.tile(np.arange(40, dtype=np.float32), (80, 1))
    chunks = mel_chunks(mel, [0, 5, 12], 25)  # starts 0, 16, 38 -> clamped to 24
    assert chunks.shape == (3, 80, MEL_STEP)
    assert chunks[:, 0, 0].tolist() == [0, 16, 24]


def test_mel_chunks_reject_a_short_mel():
    with pytest.raises(ValueError, match=r"mel must be a 2D array with shape \(80, >= 16\)"):
        mel_chunks(np.zeros((80, 10)), [0], 25)
