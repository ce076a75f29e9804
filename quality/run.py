"""What the node and the command line share: models and audio to notes, the check, the result frames."""

from __future__ import annotations

import numpy as np

from ..lipsync import syncnet as sn
from .check import QualityOptions, QualityResult, check_quality
from .fallback import fallback_weights


def load_syncnet_choice(option: str, files: list[str], resolve_path, device=None) -> tuple[object | None, str]:
    """(SyncNet or None, why not): option "auto" / "none" / a file of models/syncnet;
    resolve_path(folder, file) -> absolute path."""
    file = sn.resolve_syncnet_option(option, files)
    if file is None:
        return None, "lip sync turned off (syncnet: none)" if option == sn.NONE_OPTION else sn.MISSING_NOTE
    return sn.load_syncnet(resolve_path(sn.MODEL_FOLDER, file), device), ""


def audio_16k(audio, name: str = "audio") -> np.ndarray | None:
    """An AUDIO dict -> (S,) float32 mono at 16 kHz (None stays None)."""
    if audio is None:
        return None
    from ..lipsync.audio import audio_to_mono

    return audio_to_mono(audio, sn.SAMPLE_RATE, name)


def run_check(original, processed, tracks, *, options: QualityOptions, audio=None, syncnet=None, syncnet_note: str = "", embedder=None,
              identity_note: str = "", fallback: bool = True, fade_frames: int = 4, on_progress=None, check_interrupt=None) -> tuple[QualityResult, np.ndarray | None]:
    """Check, and the fallback weights when fallback is on and a segment failed (else None)."""
    if audio is None:
        note = "no audio connected"
    elif syncnet is None:
        note = syncnet_note or sn.MISSING_NOTE
    else:
        note = ""
    result = check_quality(
        original, processed, tracks, options=options, audio_16k=audio_16k(audio), syncnet=syncnet, lip_sync_note=note,
        embedder=embedder, identity_note=identity_note or "no ArcFace model (embedder none, or nothing in models/insightface)",
        on_progress=on_progress, check_interrupt=check_interrupt,
    )
    weights = fallback_weights(tracks, result.segments, result.failed, int(fade_frames)) if fallback and any(result.failed) else None
    return result, weights
