"""Active speaker benchmark: who speaks when on synthetic dialogues with known turns.

    python bench/speaker_bench.py [--seeds 5] [--random-weights]

Dialogues (media.dialogue): speech-like voices taking turns, with overlaps, a face that never
speaks (its mouth fidgets), and a voice whose speaker is off screen. Per face and frame the
detector's "speaking" is compared with the turns: precision, recall and F1 over all faces and
dialogues (the silent face's false positives count). Stems: each voice as its own audio track;
accuracy = stems given to the right face (the off-screen voice's stem to none).

Two kinds of models, never mixed in one row:
- constructed: the face signals are made to follow each voice (mouth openings for the landmark
  fallback; SyncNet-style embeddings of the voice plus noise for the SyncNet path): these rows
  measure the decision (speech activity, windows, thresholds, assignment), not a network;
- random weights (--random-weights): the real SyncNet network and a 1k3d68-shaped landmarker with
  random weights on rendered frames of still face photos: chance level, a check that the path
  runs end to end. Real weights (syncnet_v2.model, buffalo_l/1k3d68.onnx) cannot be downloaded
  here, so no row measures them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from comfyui_fuse.core.types import DETECTED, FaceTracks  # noqa: E402
from comfyui_fuse.media.dialogue import (  # noqa: E402
    Turn, audio_dict, constructed_audio_embeddings, constructed_video_embeddings, make_dialogue, mouth_openings,
)
from comfyui_fuse.lipsync.syncnet import av_offset_distances  # noqa: E402
from comfyui_fuse.speaker.active import detect_active_speakers  # noqa: E402
from comfyui_fuse.speaker.scorers import EmbeddingScorer, LandmarkScorer  # noqa: E402

FPS = Fraction(25)
SECONDS = 12.0
CONSTRUCTED_FULL_CONFIDENCE = 0.8  # the constructed embeddings' raw offset confidence of a speaker is ~0.5


def scenarios(seed: int):
    """(name, turns, voice count, the voice of each face or None)."""
    rng = np.random.default_rng(seed)
    jitter = lambda: float(rng.uniform(-0.3, 0.3))  # noqa: E731
    turns = [Turn(0, 0.5 + jitter(), 3.0), Turn(1, 3.5 + jitter(), 6.5), Turn(0, 7.0 + jitter(), 9.0), Turn(1, 9.5 + jitter(), 11.5)]
    overlap = [Turn(0, 0.5, 4.0 + jitter()), Turn(1, 3.2 + jitter(), 7.0), Turn(0, 6.4 + jitter(), 9.5), Turn(1, 9.0 + jitter(), 11.5)]
    three = [Turn(0, 0.5, 3.0 + jitter()), Turn(2, 3.5 + jitter(), 5.5), Turn(1, 6.0 + jitter(), 8.5), Turn(0, 9.0 + jitter(), 11.5)]
    return [
        ("two faces, turns", turns, 2, [0, 1]),
        ("two faces, overlapping turns", overlap, 2, [0, 1]),
        ("three faces (one silent), an off-screen voice", three, 3, [0, 1, None]),
    ]


def still_tracks(count: int, frame_count: int) -> FaceTracks:
    boxes = np.array([[40 + 200 * i, 60, 160 + 200 * i, 180] for i in range(count)], np.float32)
    return FaceTracks(np.arange(1, count + 1), np.tile(boxes[:, None], (1, frame_count, 1)), np.full((count, frame_count), DETECTED, np.uint8),
                      np.full((count, frame_count), 0.9, np.float32), frame_count, (240, 200 * count + 40), FPS)


class GivenOpenings(LandmarkScorer):
    def __init__(self) -> None:
        self.name = "constructed mouth openings"


def constructed_syncnet() -> EmbeddingScorer:
    return EmbeddingScorer("constructed embeddings", None, constructed_audio_embeddings, av_offset_distances, full_confidence=CONSTRUCTED_FULL_CONFIDENCE)


def truth_of(dialogue, face_voices) -> np.ndarray:
    return np.stack([dialogue.speaking[v] if v is not None else np.zeros(dialogue.frame_count, bool) for v in face_voices])


class Tally:
    def __init__(self) -> None:
        self.hits = self.predicted = self.actual = 0
        self.stems_right = self.stems = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        self.hits += int((predicted & truth).sum())
        self.predicted += int(predicted.sum())
        self.actual += int(truth.sum())

    def row(self) -> tuple[float, float, float]:
        precision = self.hits / max(self.predicted, 1)
        recall = self.hits / max(self.actual, 1)
        return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def run_constructed(seeds: int) -> dict:
    """(path, scenario) -> Tally for the constructed face signals."""
    tallies = {}
    paths = {
        "landmark fallback": (GivenOpenings, lambda d, voices: mouth_openings(d, voices, fidget=0.1)[..., None]),
        "SyncNet path": (constructed_syncnet, lambda d, voices: constructed_video_embeddings(d, voices)),
    }
    for seed in range(seeds):
        for name, turns, voices, face_voices in scenarios(seed):
            dialogue = make_dialogue(turns, voices, SECONDS, fps=FPS, seed=seed)
            tracks = still_tracks(len(face_voices), dialogue.frame_count)
            truth = truth_of(dialogue, face_voices)
            for path, (scorer, signals_of) in paths.items():
                signals = signals_of(dialogue, face_voices)
                tally = tallies.setdefault((path, name), Tally())
                mixed = detect_active_speakers(tracks, signals, scorer(), audio_dict(dialogue.mix, dialogue.sample_rate))
                tally.add(mixed.speaking, truth)
                stems = detect_active_speakers(tracks, signals, scorer(), None, stems=[audio_dict(stem, dialogue.sample_rate) for stem in dialogue.stems])
                face_of_voice = {voice: face for face, voice in enumerate(face_voices) if voice is not None}
                for voice in range(voices):
                    given = np.flatnonzero(stems.stem_of_track == voice)
                    tally.stems_right += int((given.tolist() or [None])[0] == face_of_voice.get(voice))
                    tally.stems += 1
    return tallies


def run_random_weights(seed: int = 0) -> dict:
    """The real networks with random weights on rendered frames of still face photos (chance level)."""
    import torch

    from comfyui_fuse.lipsync.syncnet import SyncNet
    from comfyui_fuse.media.synthetic import Scene, render
    from comfyui_fuse.models.face_landmarks import load_landmarker_3d
    from comfyui_fuse.core.images import uint8_chunks
    from comfyui_fuse.speaker.analyse import CHUNK_FRAMES
    from comfyui_fuse.speaker.scorers import SyncNetScorer, collect_signals
    from fuse_insightface_models import landmark_3d68_onnx

    name, turns, voices, face_voices = scenarios(seed)[0]
    dialogue = make_dialogue(turns, voices, 6.0, fps=FPS, seed=seed)
    tracks = still_tracks(len(face_voices), dialogue.frame_count)
    scene = Scene(dialogue.frame_count, tracks.frame_size, [tracks.xyxy[i] for i in range(len(tracks))], list(range(len(tracks))), fps=FPS)
    frames = torch.from_numpy(render(scene)).float() / 255
    truth = truth_of(dialogue, face_voices)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as folder:
        landmarker = load_landmarker_3d("random 1k3d68", str(landmark_3d68_onnx(os.path.join(folder, "1k3d68.onnx"), seed=seed)))
        scorers = {"SyncNet path": SyncNetScorer(SyncNet().eval(), "random-weight SyncNet"), "landmark fallback": LandmarkScorer(landmarker)}
        tallies = {}
        for path, scorer in scorers.items():
            start = time.perf_counter()
            signals = collect_signals(scorer, tracks, uint8_chunks(frames, CHUNK_FRAMES))
            speakers = detect_active_speakers(tracks, signals, scorer, audio_dict(dialogue.mix, dialogue.sample_rate))
            tally = tallies.setdefault((path, f"{name} (6 s, rendered)"), Tally())
            tally.add(speakers.speaking, truth)
            tally.seconds = time.perf_counter() - start
    return tallies


def print_table(title: str, tallies: dict, stems: bool, timing: bool = False) -> None:
    print(f"\n{title}\n")
    header = "| path | dialogue | precision | recall | F1 |" + (" stems right |" if stems else "") + (" seconds |" if timing else "")
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    for (path, scenario), tally in sorted(tallies.items()):
        precision, recall, f1 = tally.row()
        cells = [path, scenario, f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}"]
        if stems:
            cells.append(f"{tally.stems_right}/{tally.stems}")
        if timing:
            cells.append(f"{tally.seconds:.1f}")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    import logging

    logging.getLogger("comfyui_fuse.speaker").setLevel(logging.ERROR)  # the notes (a stem without a face) are expected here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="dialogues per scenario (default 5)")
    parser.add_argument("--random-weights", action="store_true", help="also run the random-weight networks on rendered frames (slow: SyncNet on CPU)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"# active speaker benchmark: {args.seeds} dialogues of {SECONDS:g} s per scenario at {FPS} fps; {platform.processor() or platform.machine()}, 1 torch thread")
    print_table("Constructed models (the face signals follow each voice by construction; measures the decision, not a network)", run_constructed(args.seeds), stems=True)
    if args.random_weights:
        print_table("Random-weight networks on rendered still faces (chance level expected; the path runs end to end)", run_random_weights(), stems=False, timing=True)


if __name__ == "__main__":
    main()
