"""Sync scorers: what a face looks like over time (its signal) and how well that follows an audio track.

A scorer is injected into active speaker detection, so the detection does not depend on one
model. It has a `name` (for the report), a `method` ("syncnet" or "landmarks"), and:

- signals(tracks) -> a FaceSignals accumulator: add(first_frame, frames_uint8 (n,H,W,3) RGB) for
  consecutive chunks of the clip, then result() -> (k, N, D) float32 per track, frame and signal
  dimension, NaN where the face is absent. Only one chunk of frames is ever held, so a VIDEO of any
  length is scored in flat memory.
- confidence(signals (k,N,D), samples (S,) mono 16 kHz on the video timeline, fps, window) ->
  (k,N) float64 sync confidence in 0..1 of each face per frame (NaN where unknown) against that
  audio, over a sliding window of `window` frames.

LandmarkScorer (the fallback): the signal is the mouth opening from a 68-point landmarker (1k3d68),
the confidence the windowed correlation with the speech level (speaker.sync.windowed_correlation),
scaled down where the mouth moves less than a speaking mouth does (SPEAKING_MOUTH_STD): landmark
jitter on a closed mouth can follow a smooth loudness curve by chance.
EmbeddingScorer (SyncNet and any embedding model like it): the signal is a video embedding per
frame, the confidence SyncNet's offset confidence against the audio embeddings
(speaker.sync.offset_confidence) divided by `full_confidence` and clipped to 0..1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Protocol

import numpy as np

from ..core.types import FaceTracks, check_fps
from .mouth import mouth_opening
from .sync import offset_confidence, windowed_correlation, windowed_std
from .vad import FLOOR_DBFS, level_frames

MAX_LAG_SECONDS = Fraction(1, 10)  # audio-video lag searched by the landmark fallback (+-0.1 s)
ENVELOPE_RANGE_DB = 50.0  # the speech level is clipped this far under its loudest frame
SPEAKING_MOUTH_STD = 0.06  # mouth-opening std (fraction of the mouth width) over a window that counts as full movement; landmark jitter is ~0.02


class FaceSignals(Protocol):
    def add(self, first_frame: int, frames_uint8: np.ndarray) -> None: ...

    def result(self) -> np.ndarray: ...


class SyncScorer(Protocol):
    name: str
    method: str

    def signals(self, tracks: FaceTracks) -> FaceSignals: ...

    def confidence(self, signals: np.ndarray, samples: np.ndarray, fps, window: int) -> np.ndarray: ...


class PerFrameSignals:
    """FaceSignals computed one frame at a time: measure(frame (H,W,3) uint8, xyxy (n,4)) -> (n, D)
    for the faces present in that frame."""

    def __init__(self, tracks: FaceTracks, dimensions: int, measure: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.tracks = tracks
        self.measure = measure
        self.values = np.full((len(tracks), tracks.frame_count, dimensions), np.nan, np.float32)

    def add(self, first_frame: int, frames_uint8: np.ndarray) -> None:
        frames_uint8 = np.asarray(frames_uint8)
        if frames_uint8.ndim != 4 or tuple(frames_uint8.shape[1:3]) != tuple(self.tracks.frame_size):
            height, width = self.tracks.frame_size
            raise ValueError(f"frames must be the video the tracks were made from ({width}x{height}), but got shape {tuple(frames_uint8.shape)}")
        for offset, frame in enumerate(frames_uint8):
            index = first_frame + offset
            if index >= self.tracks.frame_count:
                raise ValueError(f"frames must be the video the tracks were made from ({self.tracks.frame_count} frames), but got frame {index}")
            faces = np.flatnonzero(self.tracks.present[:, index])
            if len(faces):
                self.values[faces, index] = np.asarray(self.measure(frame, self.tracks.xyxy[faces, index]), np.float32).reshape(len(faces), -1)

    def result(self) -> np.ndarray:
        return self.values


def speech_envelope(samples: np.ndarray, frame_count: int, fps) -> np.ndarray:
    """(N,) float64 level per frame in dB, clipped ENVELOPE_RANGE_DB under the loudest frame."""
    levels = level_frames(samples, frame_count, fps)
    top = levels.max() if len(levels) else FLOOR_DBFS
    return np.maximum(levels, top - ENVELOPE_RANGE_DB)


class LandmarkScorer:
    """The fallback: mouth opening from a 68-point landmarker against the speech level.

    landmarker: .name and .landmarks_3d(frame (H,W,3) uint8, xyxy (n,4)) -> (n,68,3)
    (models.face_landmarks.Landmarker3D).
    """

    method = "landmarks"

    def __init__(self, landmarker) -> None:
        self.landmarker = landmarker
        self.name = f"landmarks {landmarker.name}"

    def signals(self, tracks: FaceTracks) -> FaceSignals:
        return PerFrameSignals(tracks, 1, lambda frame, xyxy: mouth_opening(self.landmarker.landmarks_3d(frame, xyxy))[:, None])

    def confidence(self, signals: np.ndarray, samples: np.ndarray, fps, window: int) -> np.ndarray:
        signals = np.asarray(signals, np.float64)
        envelope = speech_envelope(samples, signals.shape[1], fps)
        max_lag = int(round(MAX_LAG_SECONDS * check_fps(fps)))
        confidence = np.zeros(signals.shape[:2])
        for index, face in enumerate(signals[..., 0]):
            movement = np.clip(windowed_std(face, window) / SPEAKING_MOUTH_STD, 0.0, 1.0)
            confidence[index] = np.clip(windowed_correlation(face, envelope, window, max_lag), 0.0, 1.0) * movement
        return confidence


class EmbeddingScorer:
    """Audio-visual embeddings compared at a range of offsets (SyncNet's way).

    signals: tracks -> FaceSignals of video embeddings (k, N, D);
    audio_embeddings(samples (S,) 16 kHz timeline, frame_count, fps) -> (N, D) per video frame;
    distances(video (N,D), audio (N,D), vshift) -> (N, 2 vshift + 1) distance of frame t's video
    embedding to the audio embedding at each offset -vshift..vshift (NaN where unknown);
    full_confidence: the raw offset confidence that maps to 1.
    """

    method = "syncnet"

    def __init__(self, name: str, signals: Callable[[FaceTracks], FaceSignals], audio_embeddings, distances, *, vshift: int = 15, full_confidence: float = 6.0) -> None:
        self.name = name
        self._signals = signals
        self.audio_embeddings = audio_embeddings
        self.distances = distances
        self.vshift = int(vshift)
        self.full_confidence = float(full_confidence)

    def signals(self, tracks: FaceTracks) -> FaceSignals:
        return self._signals(tracks)

    def confidence(self, signals: np.ndarray, samples: np.ndarray, fps, window: int) -> np.ndarray:
        signals = np.asarray(signals, np.float64)
        audio = np.asarray(self.audio_embeddings(samples, signals.shape[1], fps), np.float64)  # once for every face
        out = np.full(signals.shape[:2], np.nan)
        for index, face in enumerate(signals):
            known = np.isfinite(face).all(axis=1)
            distances = np.asarray(self.distances(np.where(known[:, None], face, 0.0), audio, self.vshift), np.float64)
            distances[~known] = np.nan
            out[index] = np.clip(offset_confidence(distances, window) / self.full_confidence, 0.0, 1.0)
        return out


def collect_signals(scorer: SyncScorer, tracks: FaceTracks, chunks, on_progress: Callable[[int], None] | None = None, check_interrupt: Callable[[], None] | None = None) -> np.ndarray:
    """(k, N, D) face signals of every track: chunks yields (first frame, uint8 (n,H,W,3) RGB) in order."""
    accumulator = scorer.signals(tracks)
    for first_frame, frames in chunks:
        if check_interrupt is not None:
            check_interrupt()
        accumulator.add(int(first_frame), frames)
        if on_progress is not None:
            on_progress(len(frames))
    return accumulator.result()


AUTO_OPTION = "auto"
NO_SYNC_MODEL = (
    "active speaker detection needs a model that sees mouths move: put InsightFace's 3D landmarker buffalo_l/1k3d68.onnx in "
    "models/insightface (comfyui-fuse models download buffalo_l; non-commercial licence) for the landmark method; "
    "without one, leave speakers unconnected and give FUSE Lipsync's ranges by hand ({\"1\": [[0, 2000]]})"
)


def sync_model_options(insightface_files) -> list[str]:
    """Combo entries: "auto", then each 68-point landmarker "insightface/<file>" (the landmark method)."""
    from ..models.face_landmarks import landmarker_options

    return [AUTO_OPTION] + [option for option in landmarker_options(insightface_files) if option.startswith("insightface/")]


def load_sync_scorer(option: str, resolve_path, insightface_files) -> SyncScorer:
    """The scorer an option names. "auto": the first landmarker found; ValueError naming the model
    to add when there is none. resolve_path(folder, file) -> absolute path (host.model_path)."""
    from ..models.face_landmarks import load_face_landmarker

    if not isinstance(option, str):
        raise TypeError(f"sync_model must be a str such as {AUTO_OPTION!r}, but got {type(option).__name__}")
    options = sync_model_options(insightface_files)
    if option == AUTO_OPTION:
        if len(options) == 1:
            raise ValueError(NO_SYNC_MODEL)
        option = options[1]
    if option not in options:
        raise ValueError(f"sync_model must be one of {options}, but got {option!r}; {NO_SYNC_MODEL}")
    return LandmarkScorer(load_face_landmarker(option, resolve_path, insightface_files))
