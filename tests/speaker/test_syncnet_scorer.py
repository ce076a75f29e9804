"""The SyncNet path end to end: frames -> SyncNet's crops and 5-frame stacks -> embeddings -> who speaks,
with a constructed SyncNet whose video embedding is a crop's brightness and audio embedding a
buzz's loudness (tests/fuse_syncnet_models.py), and with random weights."""

from fractions import Fraction

import numpy as np
import pytest
from fuse_syncnet_models import BRIGHT, DARK, LOUD, QUIET, buzz_audio, loud_pattern, loudness_syncnet, released_state_dict, save_released_checkpoint

from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.media.dialogue import audio_dict
from comfyui_fuse.speaker.active import detect_active_speakers
from comfyui_fuse.models.store import ModelStore
from comfyui_fuse.speaker.scorers import (
    NO_SYNC_MODEL, SyncNetScorer, collect_signals, load_sync_scorer, resolve_sync_model, sync_model_fingerprint, sync_model_options,
)

FRAMES = 60  # 2.4 s at 25 fps: face 1 speaks in the first half, face 2 in the second
BOXES = np.array([[60, 60, 100, 100], [220, 60, 260, 100]], np.float32)
FRAME_SIZE = (180, 320)


@pytest.fixture(scope="module")
def scene():
    """Frames whose SyncNet crop of each face is lit while that face's voice is loud, and the mix."""
    loud = np.zeros((2, FRAMES), bool)
    loud[0, :30] = loud_pattern(30, seed=1, shortest=5, longest=8)
    loud[1, 30:] = loud_pattern(30, seed=2, shortest=5, longest=8)
    frames = np.full((FRAMES, *FRAME_SIZE, 3), 128, np.uint8)
    for face, (x1, y1, x2, y2) in enumerate(BOXES):
        cx, cy, s = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
        rows, columns = slice(int(cy - s) - 2, int(cy + 1.8 * s) + 3), slice(int(cx - 1.4 * s) - 2, int(cx + 1.4 * s) + 3)
        frames[:, rows, columns] = np.where(loud[face], BRIGHT, DARK)[:, None, None, None]
    mix = buzz_audio(np.where(loud.any(axis=0), LOUD, QUIET))
    tracks = FaceTracks([1, 2], np.tile(BOXES[:, None], (1, FRAMES, 1)), np.full((2, FRAMES), DETECTED, np.uint8), np.full((2, FRAMES), 0.9, np.float32),
                        FRAMES, FRAME_SIZE, Fraction(25))
    return frames, mix, tracks, loud


def chunks(frames, size=17):
    return ((start, frames[start : start + size]) for start in range(0, len(frames), size))


@pytest.fixture(scope="module")
def constructed(scene):
    frames, _, tracks, _ = scene
    scorer = SyncNetScorer(loudness_syncnet(), "constructed loudness SyncNet", full_confidence=3.0)
    return scorer, collect_signals(scorer, tracks, chunks(frames))


def test_syncnet_finds_who_speaks_from_the_frames(scene, constructed):
    frames, mix, tracks, loud = scene
    scorer, signals = constructed
    assert signals.shape == (2, FRAMES, 1024) and signals.dtype == np.float16
    assert np.isfinite(signals[:, : FRAMES - 4]).all() and np.isnan(signals[:, FRAMES - 4 :]).all(), "one embedding per full 5-frame stack, across chunk edges"
    speakers = detect_active_speakers(tracks, signals, scorer, audio_dict(mix, 16000))
    assert speakers.method == "syncnet"
    first, second = speakers.speaking
    assert (first & loud[0]).sum() >= 0.8 * loud[0].sum() and not first[34:].any(), f"face 1 speaks in the first half only: {np.flatnonzero(first).tolist()}"
    # the 1 s window smears each turn's start by up to half a window: face 2 may start a few frames early
    assert (second & loud[1]).sum() >= 0.8 * loud[1].sum() and not second[:23].any() and (second & loud[0]).sum() <= 3, f"face 2 speaks in the second half: {np.flatnonzero(second).tolist()}"


def test_syncnet_stacks_do_not_depend_on_the_chunk_size(scene, constructed):
    frames, _, tracks, _ = scene
    scorer, by_17 = constructed
    assert np.array_equal(collect_signals(scorer, tracks, [(0, frames)]), by_17, equal_nan=True)


def test_syncnet_signals_stop_where_the_face_leaves(scene):
    frames, _, tracks, _ = scene
    state = tracks.state.copy()
    state[0, 30:40] = 0
    gone = FaceTracks(tracks.track_id, tracks.xyxy, state, tracks.score, FRAMES, FRAME_SIZE, Fraction(25)).select([0])
    signals = collect_signals(SyncNetScorer(loudness_syncnet(), "constructed"), gone, chunks(frames))
    assert np.isnan(signals[0, 26:40]).all(), "no stack may include a frame without the face"
    assert np.isfinite(signals[0, 40:56]).all() and np.isfinite(signals[0, :26]).all()


def test_random_weight_syncnet_runs_at_29_97_fps(scene, tmp_path):
    frames, mix, tracks, _ = scene
    ntsc = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, FRAMES, FRAME_SIZE, Fraction(30000, 1001)).select([1])
    path = tmp_path / "syncnet" / "syncnet_v2.model"
    path.parent.mkdir()
    save_released_checkpoint(path, released_state_dict(seed=3))
    scorer = load_sync_scorer("auto", ModelStore(str(tmp_path)))
    assert isinstance(scorer, SyncNetScorer) and scorer.name == "syncnet syncnet/syncnet_v2.model"
    signals = collect_signals(scorer, ntsc, chunks(frames))
    assert signals.shape[1] == 51, "60 frames at 29.97 fps are 51 slots at 25 fps"
    speakers = detect_active_speakers(ntsc, signals, scorer, audio_dict(mix, 16000))
    assert speakers.confidence.shape == (1, FRAMES) and np.isfinite(speakers.confidence[:, 10:50]).all()


class Folders:
    """ModelFolders listing given files (nothing is read)."""

    def __init__(self, files: dict) -> None:
        self._files = files

    def files(self, folder: str) -> list[str]:
        return list(self._files.get(folder, []))

    def path(self, folder: str, name: str) -> str:
        return f"/models/{folder}/{name}"


def test_auto_prefers_syncnet_then_landmarks_then_says_what_to_add():
    both = Folders({"insightface": ["buffalo_l/1k3d68.onnx", "buffalo_l/w600k_r50.onnx"], "syncnet": ["syncnet_v2.model"]})
    assert sync_model_options(both) == ["auto", "syncnet/syncnet_v2.model", "insightface/buffalo_l/1k3d68.onnx"]
    assert resolve_sync_model("auto", both) == "syncnet/syncnet_v2.model"
    assert resolve_sync_model("auto", Folders({"insightface": ["buffalo_l/1k3d68.onnx"]})) == "insightface/buffalo_l/1k3d68.onnx"
    with pytest.raises(ValueError, match="syncnet_v2.model in models/syncnet") as error:
        load_sync_scorer("auto", Folders({}))
    assert str(error.value) == NO_SYNC_MODEL and "1k3d68.onnx" in NO_SYNC_MODEL and "ranges by hand" in NO_SYNC_MODEL
    with pytest.raises(ValueError, match="sync_model must be one of"):
        load_sync_scorer("syncnet/other.model", both)


def test_the_fingerprint_follows_the_file_auto_would_load(tmp_path):
    store = ModelStore(str(tmp_path))
    assert "ValueError" in sync_model_fingerprint("auto", store), "no model: the error is the fingerprint (it changes once a file is added)"
    landmarker = tmp_path / "insightface" / "buffalo_l" / "1k3d68.onnx"
    landmarker.parent.mkdir(parents=True)
    landmarker.write_bytes(b"x")
    with_landmarker = sync_model_fingerprint("auto", store)
    assert "1k3d68.onnx" in with_landmarker
    (tmp_path / "syncnet").mkdir()
    (tmp_path / "syncnet" / "syncnet_v2.model").write_bytes(b"y")
    assert "syncnet_v2.model" in sync_model_fingerprint("auto", store) != with_landmarker
    assert sync_model_fingerprint(None, store) is None, "a linked input: unknown"
