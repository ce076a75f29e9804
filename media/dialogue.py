"""Synthetic dialogues with known turns: speech-like voices, their mix, and the ground truth.

For the active speaker tests and benchmark (no recordings, no download). A voice speaks in turns;
a turn is a train of syllables (0.12-0.30 s each, short gaps) whose loudness rises and falls
like speech. The sound is a harmonic buzz at the voice's pitch, a little noise, times the
syllable envelope. The mouth of a face that voices a turn opens with that envelope, so a
constructed face signal follows exactly the part of the audio it speaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

NOISE_FLOOR = 1e-3  # -60 dBFS room noise in the mix


@dataclass(frozen=True)
class Turn:
    """Voice `voice` speaks from `start` to `stop` seconds."""

    voice: int
    start: float
    stop: float


@dataclass(frozen=True, eq=False)
class Dialogue:
    """stems (V,S) float32 one voice each; mix (S,) float32; envelope (V,N) float64 per frame 0..1
    (how open the voice's mouth is); speaking (V,N) bool: frame i lies inside one of the voice's
    turns. Frame i covers [i / fps, (i + 1) / fps)."""

    fps: Fraction
    frame_count: int
    sample_rate: int
    stems: np.ndarray
    mix: np.ndarray
    envelope: np.ndarray
    speaking: np.ndarray


def _syllable_envelope(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    envelope = np.zeros(length, np.float64)
    position = 0
    while position < length:
        syllable = int(rng.uniform(0.12, 0.30) * sample_rate)
        stop = min(position + syllable, length)
        t = np.linspace(0.0, np.pi, syllable, endpoint=False)[: stop - position]
        envelope[position:stop] = rng.uniform(0.5, 1.0) * np.sin(t) ** 2
        position = stop + int(rng.uniform(0.03, 0.10) * sample_rate)
    return envelope


def make_dialogue(turns, voice_count: int, seconds: float, fps=Fraction(25), sample_rate: int = 16000, seed: int = 0) -> Dialogue:
    """A dialogue of voice_count voices speaking `turns` (Turn list; turns may overlap)."""
    rng = np.random.default_rng(seed)
    fps = Fraction(fps)
    frame_count = int(seconds * fps)
    length = int(round(Fraction(frame_count) / fps * sample_rate))
    envelopes = np.zeros((voice_count, length))
    for turn in turns:
        start, stop = int(turn.start * sample_rate), min(int(turn.stop * sample_rate), length)
        if stop > start:  # a turn past the end of the dialogue is cut
            envelopes[turn.voice, start:stop] = _syllable_envelope(stop - start, sample_rate, rng)
    time = np.arange(length) / sample_rate
    stems = np.zeros((voice_count, length), np.float32)
    for voice in range(voice_count):
        pitch = 110.0 + 45.0 * voice + 4.0 * np.sin(2 * np.pi * 5.0 * time)
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        buzz = sum(np.sin(harmonic * phase) / harmonic for harmonic in range(1, 8)) + 0.3 * rng.standard_normal(length)
        stems[voice] = (0.15 * envelopes[voice] * buzz).astype(np.float32)
    mix = (stems.sum(axis=0) + NOISE_FLOOR * rng.standard_normal(length)).astype(np.float32)
    bounds = np.array([(i * sample_rate * fps.denominator) // fps.numerator for i in range(frame_count + 1)])
    per_frame = np.stack([[envelope[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])] for envelope in envelopes]) if voice_count else np.zeros((0, frame_count))
    speaking = np.zeros((voice_count, frame_count), bool)
    frame_times = np.arange(frame_count) / float(fps)
    for turn in turns:
        speaking[turn.voice] |= (frame_times >= turn.start) & (frame_times < turn.stop)
    return Dialogue(fps, frame_count, sample_rate, stems, mix, per_frame, speaking)


def mouth_openings(dialogue: Dialogue, face_voices, noise: float = 0.02, fidget: float = 0.0, seed: int = 1) -> np.ndarray:
    """(k,N) float64 mouth opening (inner-lip gap / mouth width) of each face.

    face_voices: the voice each face speaks with, or None for a face that never speaks (its mouth
    stays nearly closed; fidget > 0 adds slow random movements of that size, e.g. smiling).
    """
    rng = np.random.default_rng(seed)
    openings = []
    for voice in face_voices:
        opening = 0.05 + noise * rng.standard_normal(dialogue.frame_count)
        if voice is not None:
            opening += 0.45 * dialogue.envelope[voice]
        elif fidget:
            slow = np.convolve(rng.standard_normal(dialogue.frame_count + 12), np.ones(12) / 12, mode="valid")[: dialogue.frame_count]
            opening += fidget * slow / max(np.abs(slow).max(), 1e-6)
        openings.append(np.maximum(opening, 0.0))
    return np.stack(openings) if openings else np.zeros((0, dialogue.frame_count))


def audio_dict(samples: np.ndarray, sample_rate: int) -> dict:
    """A ComfyUI AUDIO dict {"waveform": float32 [1,1,S], "sample_rate"} of mono samples."""
    import torch

    return {"waveform": torch.from_numpy(np.ascontiguousarray(samples, np.float32))[None, None], "sample_rate": int(sample_rate)}


# Constructed audio-visual embeddings: stand-ins for SyncNet's, for tests and the benchmark. The
# audio embedding of a frame is a fixed random projection of its log energy in EMBEDDING_BANDS
# frequency bands (over a floor of EMBEDDING_FLOOR, so room noise and silence look alike, less
# EMBEDDING_CENTRE), of unit length: silence points one way, each sound another;
# a speaking face's constructed video embedding is the embedding of its own voice plus noise, so
# it matches the audio where and when it speaks, and nothing at other offsets.
EMBEDDING_BANDS = 8
EMBEDDING_FLOOR = 1.0  # band energy (sum of |rfft|^2); room noise at -60 dBFS is ~0.03
EMBEDDING_CENTRE = 1.5  # log10 units; loud speech reaches ~4


def constructed_audio_embeddings(samples: np.ndarray, frame_count: int, fps, dimensions: int = 32, sample_rate: int = 16000) -> np.ndarray:
    """(N, dimensions) float64 unit vectors, one per video frame of timeline samples."""
    fps = Fraction(fps)
    bounds = [(i * sample_rate * fps.denominator) // fps.numerator for i in range(frame_count + 1)]
    features = np.zeros((frame_count, EMBEDDING_BANDS))
    for frame, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        spectrum = np.abs(np.fft.rfft(np.asarray(samples[start:stop], np.float64), n=max(stop - start, 2))) ** 2
        bands = np.array_split(spectrum[1:], EMBEDDING_BANDS)
        features[frame] = [np.log10(band.sum() + EMBEDDING_FLOOR) - np.log10(EMBEDDING_FLOOR) - EMBEDDING_CENTRE for band in bands]
    return _unit(features @ np.random.default_rng(1234).standard_normal((EMBEDDING_BANDS, dimensions)))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def constructed_video_embeddings(dialogue: Dialogue, face_voices, noise: float = 0.5, seed: int = 2, dimensions: int = 32) -> np.ndarray:
    """(k, N, dimensions) float64 unit vectors: each face's voice embedding plus Gaussian noise of
    length ~`noise`; a face without a voice (None) gets random ones (it is in sync with nothing)."""
    rng = np.random.default_rng(seed)
    faces = []
    for voice in face_voices:
        if voice is None:
            embedding = rng.standard_normal((dialogue.frame_count, dimensions))
        else:
            embedding = constructed_audio_embeddings(dialogue.stems[voice], dialogue.frame_count, dialogue.fps, dimensions, dialogue.sample_rate)
            embedding = embedding + noise * rng.standard_normal(embedding.shape) / np.sqrt(dimensions)
        faces.append(_unit(embedding))
    return np.stack(faces) if faces else np.zeros((0, dialogue.frame_count, dimensions))

