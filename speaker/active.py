"""Active speakers: per face and frame, is this face speaking, and how sure is that.

detect_active_speakers combines three things, all on the video's frame timeline:
1. speech activity of the audio itself (speaker.vad): silence assigns no speaker;
2. each face's sync confidence against the audio (a SyncScorer, speaker.scorers), over a sliding
   window of window_ms;
3. the decision. One soundtrack: a face speaks where it is on screen, the audio has speech and its
   confidence is at least `threshold`; several faces may speak at once (overlapping speech), and
   speech that no face is in sync with (an off-screen speaker) is assigned to nobody. Stems (one
   audio track per speaker): each stem goes to one face (speaker.stems), and that face speaks
   wherever its stem has speech and it is on screen. Then, per face, pauses shorter than
   max_gap_ms are bridged and segments shorter than min_segment_ms dropped.

The result, ActiveSpeakers (socket FUSE_SPEAKERS), is what FUSE Lipsync and FUSE Face Sequence
Audio route by, and what the report and the timeline image show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..core.types import FaceTracks, _check_shape, _frozen, check_fps
from ..lipsync.audio import as_offset, audio_for_frames, check_audio, duration_of
from .stems import assign_stems, stem_scores
from .vad import VadSettings, bridge_and_prune, speech_frames, timeline_samples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeakerSettings:
    """threshold: sync confidence (0..1) a face needs to count as speaking; window_ms: the sliding
    window the confidence is measured over; min_segment_ms / max_gap_ms: shortest segment kept and
    longest pause bridged; a stem goes to a face only when the face's score for it is at least
    stem_min_score_fraction x threshold; vad: the speech detector's settings."""

    threshold: float = 0.5
    window_ms: float = 1000.0
    min_segment_ms: float = 200.0
    max_gap_ms: float = 300.0
    stem_min_score_fraction: float = 0.8
    vad: VadSettings = field(default_factory=VadSettings)

    def __post_init__(self) -> None:
        checks = (("threshold", 0.0, 1.0), ("window_ms", 40.0, 60000.0), ("min_segment_ms", 0.0, None), ("max_gap_ms", 0.0, None), ("stem_min_score_fraction", 0.0, 1.0))
        for name, low, high in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value < low or (high is not None and value > high):
                span = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
                raise ValueError(f"{name} must be a number {span}, but got {value!r}")

    def frames(self, milliseconds: float, fps: Fraction) -> int:
        return int(round(Fraction(milliseconds) / 1000 * fps))

    def window_frames(self, fps: Fraction) -> int:
        """The sliding window in frames: odd (centred on its frame), at least 3."""
        frames = max(self.frames(self.window_ms, fps), 3)
        return frames if frames % 2 else frames + 1


@dataclass(frozen=True, eq=False)
class ActiveSpeakers:
    """Who speaks when (socket FUSE_SPEAKERS).

    track_id (k,) int64 and identity (k,) str or None: the faces, as in the FaceTracks analysed;
    present (k,N) bool: the face is on screen; speaking (k,N) bool; confidence (k,N) float32 sync
    confidence 0..1 against the face's audio (its stem, or the soundtrack), NaN where unknown;
    speech (a,N) bool: speech in each audio track analysed (the soundtrack, or each stem);
    stem_of_track (k,) int64 stem index or -1; stem_scores (k,s) float64; stems: the stems as AUDIO
    dicts laid on the video timeline (offset applied, lasting frame_count / fps), empty without
    stems. method ("syncnet", "landmarks"), model (the scorer's name), settings and notes (what
    the user should know, e.g. an audio shorter than the video) travel to the report.
    """

    track_id: np.ndarray
    present: np.ndarray
    speaking: np.ndarray
    confidence: np.ndarray
    speech: np.ndarray
    frame_count: int
    fps: Fraction
    method: str
    model: str
    identity: np.ndarray | None = None
    stem_of_track: np.ndarray | None = None
    stem_scores: np.ndarray | None = None
    stems: tuple = ()
    settings: SpeakerSettings = field(default_factory=SpeakerSettings)
    notes: tuple = ()

    def __post_init__(self) -> None:
        track_id = np.asarray(self.track_id, np.int64).reshape(-1)
        k, n = len(track_id), int(self.frame_count)
        for name, dtype in (("present", bool), ("speaking", bool), ("confidence", np.float32)):
            value = np.asarray(getattr(self, name), dtype).reshape(k, n) if np.size(getattr(self, name)) == 0 else np.asarray(getattr(self, name), dtype)
            _check_shape(name, value, (k, n))
            object.__setattr__(self, name, _frozen(value))
        speech = np.asarray(self.speech, bool)
        _check_shape("speech", speech, (None, n))
        if self.speaking[~self.present].any():
            raise ValueError("speaking must be False wherever the face is not present, but got a speaking absent face")
        stem_of_track = np.full(k, -1, np.int64) if self.stem_of_track is None else np.asarray(self.stem_of_track, np.int64)
        _check_shape("stem_of_track", stem_of_track, (k,))
        if len(self.stems) and (stem_of_track >= len(self.stems)).any():
            raise ValueError(f"stem_of_track must index the {len(self.stems)} stems, but got {stem_of_track.tolist()}")
        scores = np.zeros((k, len(self.stems))) if self.stem_scores is None else np.asarray(self.stem_scores, np.float64)
        _check_shape("stem_scores", scores, (k, len(self.stems)))
        if self.identity is not None:
            identity = np.asarray(self.identity, str)
            _check_shape("identity", identity, (k,))
            object.__setattr__(self, "identity", _frozen(identity))
        object.__setattr__(self, "track_id", _frozen(track_id))
        object.__setattr__(self, "speech", _frozen(speech))
        object.__setattr__(self, "stem_of_track", _frozen(stem_of_track))
        object.__setattr__(self, "stem_scores", _frozen(scores))
        object.__setattr__(self, "frame_count", n)
        object.__setattr__(self, "fps", check_fps(self.fps))
        object.__setattr__(self, "stems", tuple(self.stems))
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self) -> int:
        return len(self.track_id)

    def __repr__(self) -> str:
        stems = f", {len(self.stems)} stems" if self.stems else ""
        return f"ActiveSpeakers({len(self)} faces over {self.frame_count} frames, {self.method}{stems})"

    def name_of(self, index: int) -> str:
        """The face's character name, or face_<track id> when it has none."""
        if self.identity is not None and self.identity[index]:
            return str(self.identity[index])
        return f"face_{int(self.track_id[index])}"

    def index_of(self, track_id: int) -> int | None:
        hits = np.flatnonzero(self.track_id == int(track_id))
        return int(hits[0]) if len(hits) else None

    def unassigned_speech(self) -> np.ndarray:
        """(a,N) bool: speech of each audio track that no face on screen is speaking (off-screen
        speakers, or speech no face was in sync with)."""
        if not self.stems:
            return self.speech & ~self.speaking.any(axis=0)[None]
        out = self.speech.copy()
        for face, stem in enumerate(self.stem_of_track):
            if stem >= 0:
                out[stem] &= ~self.speaking[face]
        return out


def speaking_runs(active: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, stop) frame runs of True."""
    padded = np.concatenate([[False], np.asarray(active, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def decide_speaking(confidence: np.ndarray, present: np.ndarray, speech: np.ndarray, threshold: float, max_gap: int, min_segment: int) -> np.ndarray:
    """(k,N) bool: on screen, speech, confidence >= threshold; pauses < max_gap frames bridged,
    segments < min_segment frames dropped (per face, never where the face is absent)."""
    confident = np.nan_to_num(np.asarray(confidence, np.float64), nan=-1.0) >= threshold
    on = present & speech[None] & confident
    return np.stack([bridge_and_prune(row, max_gap, min_segment) & alive for row, alive in zip(on, present)]) if len(on) else on


def _audio_notes(name: str, audio, frame_count: int, fps: Fraction, offset_ms) -> list[str]:
    """What to tell the user about an audio track that does not cover the video exactly."""
    waveform, rate = check_audio(audio, name)
    start = as_offset(offset_ms)
    end = start + duration_of(waveform.shape[-1], rate)
    video_end = Fraction(frame_count) / fps
    notes = []
    if start > 0:
        notes.append(f"{name} starts at {float(start) * 1000:.0f} ms of the video: the frames before it have no speech")
    if end < video_end:
        notes.append(f"{name} ends at {float(end) * 1000:.0f} ms, before the video ({float(video_end) * 1000:.0f} ms): the frames after it have no speech")
    elif end > video_end:
        notes.append(f"{name} is longer than the video: its last {float(end - video_end) * 1000:.0f} ms (after the video's end) are not analysed")
    return notes


def detect_active_speakers(
    tracks: FaceTracks,
    signals: np.ndarray,
    scorer,
    audio,
    *,
    stems=(),
    audio_offset_ms=0,
    settings: SpeakerSettings = SpeakerSettings(),
) -> ActiveSpeakers:
    """Who speaks when (module docstring).

    tracks: the faces; signals (k, T, D): their face signals from scorer (speaker.scorers.
    collect_signals; T = N, or the scorer's own timeline); scorer: its confidence(signals, samples, fps, window) is called once per
    audio track analysed; audio: the soundtrack (AUDIO dict); stems: AUDIO dicts, one per speaker
    (then the soundtrack is not analysed); audio_offset_ms: the video time at which the audio (and
    every stem) starts.
    """
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be FUSE_TRACKS (FaceTracks), but got {type(tracks).__name__}")
    fps, frame_count = tracks.fps, tracks.frame_count
    signals = np.asarray(signals, np.float32)
    if signals.ndim != 3 or signals.shape[0] != len(tracks):
        raise ValueError(f"signals must be a 3D array with shape ({len(tracks)}, _, _) (tracks, times, signal), but got shape {signals.shape}")
    stems = list(stems or ())
    named = [(f"stem_{i + 1}", stem) for i, stem in enumerate(stems)] if stems else [("audio", audio)]
    notes = []
    for name, track in named:
        notes += _audio_notes(name, track, frame_count, fps, audio_offset_ms)
    samples = [timeline_samples(track, frame_count, fps, audio_offset_ms, name) for name, track in named]
    speech = np.stack([speech_frames(s, frame_count, fps, settings.vad) for s in samples])
    window = settings.window_frames(fps)
    if len(tracks):
        confidence = np.stack([np.asarray(scorer.confidence(signals, s, fps, window), np.float64).reshape(len(tracks), frame_count) for s in samples], axis=1)  # (k, a, N)
    else:
        confidence = np.zeros((0, len(samples), frame_count))
    present = tracks.present
    max_gap, min_segment = settings.frames(settings.max_gap_ms, fps), settings.frames(settings.min_segment_ms, fps)
    stem_of_track = scores = None
    if not len(tracks):
        notes.append("no face was tracked: nobody to assign the speech to")
    if stems:
        scores = stem_scores(confidence, present, speech)
        stem_of_track = assign_stems(scores, settings.stem_min_score_fraction * settings.threshold)
        face_confidence = np.full((len(tracks), frame_count), np.nan)
        speaking = np.zeros((len(tracks), frame_count), bool)
        for face, stem in enumerate(stem_of_track):
            if stem >= 0:
                face_confidence[face] = confidence[face, stem]
                speaking[face] = bridge_and_prune(present[face] & speech[stem], max_gap, min_segment) & present[face]
        notes += _stem_notes(tracks, stem_of_track, len(stems))
        stem_audio = tuple(audio_for_frames(stem, 0, frame_count, fps, audio_offset_ms, name) for (name, _), stem in zip(named, stems))
    else:
        face_confidence = confidence[:, 0] if len(tracks) else np.zeros((0, frame_count))
        speaking = decide_speaking(face_confidence, present, speech[0], settings.threshold, max_gap, min_segment)
        stem_audio = ()
    for note in notes:
        log.warning("active speakers: %s", note)
    return ActiveSpeakers(
        track_id=tracks.track_id, present=present, speaking=speaking, confidence=np.where(present, face_confidence, np.nan),
        speech=speech, frame_count=frame_count, fps=fps, method=scorer.method, model=scorer.name, identity=tracks.identity,
        stem_of_track=stem_of_track, stem_scores=scores, stems=stem_audio, settings=settings, notes=tuple(notes),
    )


def _stem_notes(tracks: FaceTracks, stem_of_track: np.ndarray, stem_count: int) -> list[str]:
    notes = []
    if stem_count != len(tracks):
        notes.append(f"{stem_count} stems for {len(tracks)} faces: each stem goes to at most one face and each face gets at most one stem")
    given = set(int(s) for s in stem_of_track if s >= 0)
    for stem in range(stem_count):
        if stem not in given:
            notes.append(f"stem_{stem + 1} is assigned to no face: no face on screen is in sync with it (an off-screen speaker, or a face that was not tracked)")
    for face, stem in enumerate(stem_of_track):
        if stem < 0 and stem_count:
            notes.append(f"face {int(tracks.track_id[face])} gets no stem: it is never driven")
    return notes
