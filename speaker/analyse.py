"""One run of active speaker detection: frames in chunks -> face signals -> speakers, report, timeline.

Shared by FUSE Active Speaker and `comfyui-fuse speakers`. Frames come as chunks (first frame,
uint8 (n,H,W,3) RGB) so an IMAGE batch and a VIDEO file of any length go the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..core.types import FaceTracks
from .active import ActiveSpeakers, SpeakerSettings, detect_active_speakers
from .report import build_speaker_report
from .scorers import collect_signals

CHUNK_FRAMES = 32


@dataclass(frozen=True, eq=False)
class SpeakerRun:
    speakers: ActiveSpeakers
    report: dict


def check_frames_match_tracks(frame_count: int, frame_size, tracks: FaceTracks, source: str) -> None:
    if frame_count != tracks.frame_count or tuple(frame_size) != tuple(tracks.frame_size):
        raise ValueError(
            f"{source} must be the video the tracks were made from ({tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}), "
            f"but got {frame_count} frames of {frame_size[1]}x{frame_size[0]}"
        )


def find_active_speakers(
    scorer,
    tracks: FaceTracks,
    chunks: Iterable[tuple[int, np.ndarray]],
    audio,
    *,
    stems=(),
    audio_offset_ms=0,
    settings: SpeakerSettings = SpeakerSettings(),
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> SpeakerRun:
    """Signals from the chunks, then speakers (speaker.active.detect_active_speakers) and the report."""
    start = time.perf_counter()
    signals = collect_signals(scorer, tracks, chunks, on_progress=on_progress, check_interrupt=check_interrupt)
    signals_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    speakers = detect_active_speakers(tracks, signals, scorer, audio, stems=stems, audio_offset_ms=audio_offset_ms, settings=settings)
    decide_ms = (time.perf_counter() - start) * 1000
    return SpeakerRun(speakers, build_speaker_report(speakers, timing_ms={"signals_ms": signals_ms, "sync_ms": decide_ms}))
