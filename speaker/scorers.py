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
EmbeddingScorer (any embedding model like SyncNet): the signal is a video embedding per frame,
the confidence SyncNet's offset confidence against the audio embeddings
(speaker.sync.offset_confidence) divided by `full_confidence` and clipped to 0..1.
SyncNetScorer (lipsync.syncnet, the released syncnet_v2.model): the same on SyncNet's own 25 fps
timeline. Each face is cropped as SyncNet's reference pipeline crops it (224 px, its boxes
median-filtered along each run), one 5-frame stack gives one embedding (stack i covers 25 fps
slots i..i+4 and speaks for its middle slot), and the signal is kept per 25 fps slot (k, T25,
1024) in float16 (2 KB per face per 1/25 s); confidences are mapped back to the video's frames.
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
    """signals(tracks).result() is (k, T, D): T is the clip's frame count for per-frame scorers, or
    the scorer's own timeline (SyncNet: 25 fps); confidence always returns (k, N) per video frame."""

    name: str
    method: str

    def signals(self, tracks: FaceTracks) -> FaceSignals: ...

    def confidence(self, signals: np.ndarray, samples: np.ndarray, fps, window: int) -> np.ndarray: ...


def without_padding(distances: np.ndarray, vshift: int) -> np.ndarray:
    """(T', 2 vshift + 1) offset distances with NaN where frame i + offset lies outside 0..T'-1
    (SyncNet's reference compares with zero vectors there; no audio is not an audio embedding)."""
    distances = np.array(distances, np.float64)
    target = np.arange(len(distances))[:, None] + np.arange(distances.shape[1])[None] - vshift
    distances[(target < 0) | (target >= len(distances))] = np.nan
    return distances


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
            distances = without_padding(self.distances(np.where(known[:, None], face, 0.0), audio, self.vshift), self.vshift)
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
    "active speaker detection needs a model that sees mouths move: put SyncNet's syncnet_v2.model in models/syncnet "
    "(comfyui-fuse models download syncnet_v2; research use) or, for the weaker landmark method, InsightFace's "
    "buffalo_l/1k3d68.onnx in models/insightface (comfyui-fuse models download buffalo_l; non-commercial licence); "
    "without either, leave speakers unconnected and give FUSE Lipsync's ranges by hand ({\"1\": [[0, 2000]]})"
)
SYNCNET_FOLDER = "syncnet"


def sync_model_options(models) -> list[str]:
    """Combo entries: "auto", each "syncnet/<file>" (SyncNet), then each 68-point landmarker
    "insightface/<file>" (the landmark method). models: models.store.ModelFolders."""
    from ..models.face_landmarks import landmarker_options

    syncnets = [f"{SYNCNET_FOLDER}/{file}" for file in models.files(SYNCNET_FOLDER)]
    return [AUTO_OPTION] + syncnets + [option for option in landmarker_options(models) if option.startswith("insightface/")]


def resolve_sync_model(option: str, models) -> str:
    """The "syncnet/<file>" or "insightface/<file>" an option stands for ("auto": SyncNet when a
    file is there, else the first landmarker); ValueError naming the model to add when there is
    neither, or when the option is not listed."""
    if not isinstance(option, str):
        raise TypeError(f"sync_model must be a str such as {AUTO_OPTION!r}, but got {type(option).__name__}")
    options = sync_model_options(models)
    if option == AUTO_OPTION:
        if len(options) == 1:
            raise ValueError(NO_SYNC_MODEL)
        return options[1]
    if option not in options:
        raise ValueError(f"sync_model must be one of {options}, but got {option!r}; {NO_SYNC_MODEL}")
    return option


def sync_model_fingerprint(option, models) -> str | None:
    """What an option resolves to now (the file's path, time and size), for a node's IS_CHANGED;
    None for a linked input. Never raises."""
    from ..models.store import file_fingerprint

    if not isinstance(option, str):
        return None
    try:
        folder, _, file = resolve_sync_model(option, models).partition("/")
    except (TypeError, ValueError) as error:
        return f"sync_model {option}: {type(error).__name__} {error}"
    return file_fingerprint(models, folder, file)


def load_sync_scorer(option: str, models, device=None) -> SyncScorer:
    """The scorer an option names (resolve_sync_model). models: models.store.ModelFolders;
    device: where SyncNet runs."""
    from ..models.face_landmarks import load_face_landmarker

    option = resolve_sync_model(option, models)
    if option.startswith(SYNCNET_FOLDER + "/"):
        from ..lipsync.syncnet import load_syncnet

        file = option[len(SYNCNET_FOLDER) + 1 :]
        return SyncNetScorer(load_syncnet(models.path(SYNCNET_FOLDER, file), device=device), f"syncnet {option}")
    return LandmarkScorer(load_face_landmarker(option, models))


class SyncNetSignals:
    """FaceSignals of SyncNet video embeddings on its 25 fps timeline (module docstring).

    Crops of consecutive slots where a face is present are buffered per track; every
    SYNCNET_BATCH_STACKS stacks they go through the video network, the last 4 crops kept for the
    next stack, so only a chunk of crops is ever held.
    """

    def __init__(self, net, tracks: FaceTracks, batch_stacks: int = 32) -> None:
        from ..lipsync import syncnet

        self.syncnet, self.net, self.tracks, self.batch_stacks = syncnet, net, tracks, int(batch_stacks)
        self.source_of_slot = syncnet.frames_at_25fps(tracks.frame_count, tracks.fps) if tracks.frame_count else np.zeros(0, np.int64)
        self.values = np.full((len(tracks), len(self.source_of_slot), syncnet.EMBEDDING_SIZE), np.nan, np.float16)
        self.boxes = np.full((len(tracks), tracks.frame_count, 3), np.nan)
        for face in range(len(tracks)):
            for start, stop in tracks.runs(face):
                self.boxes[face, start:stop] = syncnet.crop_boxes(tracks.xyxy[face, start:stop])
        self.pending: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(len(tracks))]
        self.next_slot = 0

    def add(self, first_frame: int, frames_uint8: np.ndarray) -> None:
        frames_uint8 = np.asarray(frames_uint8)
        if frames_uint8.ndim != 4 or tuple(frames_uint8.shape[1:3]) != tuple(self.tracks.frame_size):
            height, width = self.tracks.frame_size
            raise ValueError(f"frames must be the video the tracks were made from ({width}x{height}), but got shape {tuple(frames_uint8.shape)}")
        stop = first_frame + len(frames_uint8)
        while self.next_slot < len(self.source_of_slot) and self.source_of_slot[self.next_slot] < stop:
            slot, source = self.next_slot, int(self.source_of_slot[self.next_slot])
            for face in range(len(self.tracks)):
                buffer = self.pending[face]
                if buffer and buffer[-1][0] != slot - 1:
                    self._flush(face, final=True)
                if self.tracks.present[face, source]:
                    buffer.append((slot, self.syncnet.face_crop(frames_uint8[source - first_frame], self.boxes[face, source])))
                    if len(buffer) >= self.batch_stacks + self.syncnet.STACK_FRAMES - 1:
                        self._flush(face, final=False)
            self.next_slot += 1

    def _flush(self, face: int, final: bool) -> None:
        """Embed the buffered stacks of a face; keep the last 4 crops unless the run ended."""
        buffer = self.pending[face]
        tail = self.syncnet.STACK_FRAMES - 1
        if len(buffer) > tail:
            embeddings = self.syncnet.video_embeddings(self.net, np.stack([crop for _, crop in buffer]))
            first = buffer[0][0]
            self.values[face, first : first + len(embeddings)] = embeddings.astype(np.float16)
        self.pending[face] = [] if final else buffer[-tail:]

    def result(self) -> np.ndarray:
        for face in range(len(self.tracks)):
            self._flush(face, final=True)
        return self.values


class SyncNetScorer:
    """SyncNet (lipsync.syncnet) as a sync scorer (module docstring); net: a loaded SyncNet."""

    method = "syncnet"

    def __init__(self, net, name: str, *, full_confidence: float = 6.0) -> None:
        self.net = net
        self.name = name
        self.full_confidence = float(full_confidence)

    def signals(self, tracks: FaceTracks) -> FaceSignals:
        return SyncNetSignals(self.net, tracks)

    def confidence(self, signals: np.ndarray, samples: np.ndarray, fps, window: int) -> np.ndarray:
        from ..lipsync import syncnet

        fps = check_fps(fps)
        signals = np.asarray(signals, np.float32)
        faces, slots = signals.shape[:2]
        frame_count = int(round(Fraction(len(samples)) * fps / syncnet.SAMPLE_RATE))  # the samples last frame_count / fps
        out = np.full((faces, frame_count), np.nan)
        stacks = max(slots - syncnet.STACK_FRAMES + 1, 0)
        audio = syncnet.audio_embeddings(self.net, samples)[:stacks]
        if not len(audio) or not faces:
            return out
        window_slots = max(int(round(window * syncnet.FPS / fps)), 3) | 1
        # video frame f shows 25 fps slot round(f * 25 / fps); the stack whose middle that is starts 2 slots earlier
        frame_slots = np.array([int(round(Fraction(f * syncnet.FPS) / fps)) for f in range(frame_count)], np.int64)
        stack_of_frame = np.clip(frame_slots - syncnet.STACK_FRAMES // 2, 0, len(audio) - 1)
        for face in range(faces):
            video = signals[face, : len(audio)]
            known = np.isfinite(video).all(axis=1)
            distances = without_padding(syncnet.av_offset_distances(np.where(known[:, None], video, 0.0), audio), syncnet.VSHIFT)
            distances[~known] = np.nan
            per_stack = np.clip(offset_confidence(distances, window_slots) / self.full_confidence, 0.0, 1.0)
            out[face] = per_stack[stack_of_frame]
        return out
