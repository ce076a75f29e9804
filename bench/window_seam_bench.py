"""Windows against one batch: how far the streaming path's windowed result is from the one-batch one.

    python bench/window_seam_bench.py [--frames 48] [--window 16]

A 48-frame clip of two real faces (ground-truth tracks, no detector) goes through
streaming.process_video with the restoration pass (restoration.restore.restore_face_sequences:
per-crop restoration, temporal stabilisation, blend) and a stand-in restorer net whose invented
detail depends on each crop's content (a frame-by-frame restorer's flicker, without the minutes a
512-pixel net takes on a CPU). Rows: the whole clip as one window (the reference), then windows of
--window frames with 0, 4 and 8 frames of overlap, and a per-frame processor (darkening) as the
control that must match exactly. Output is lossless, so every difference is the windowing's.

Columns: largest and mean difference from the one-batch result over the face pixels (1/255);
boundary flicker: the mean frame-to-frame change of the processing's effect inside the faces at
window boundaries, over the same figure elsewhere (1.0 = a boundary is like any other frame).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

import numpy as np
import torch

from comfyui_fuse import streaming
from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.media import stream, synthetic
from comfyui_fuse.media.video import write_video
from comfyui_fuse.models import restorers
from comfyui_fuse.restoration import restore


class InventedDetail(torch.nn.Module):
    """[-1,1] BCHW -> the input plus fine detail that follows the crop's content (like a GAN restorer's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        detail = torch.sin(x * 40.0 + x.roll(1, dims=-1) * 25.0) * 0.08
        return (x + detail).clamp(-1, 1)


def restorer_processor(temporal_smoothing: float):
    spec = dataclasses.replace(restorers.RESTORERS["RestoreFormer"], input_size=128, call=lambda net, x, fidelity: net(x))
    restorer = restorers.FaceRestorer(spec, InventedDetail(), "bench stand-in")

    def process(crops, plan, **_):
        return restore.restore_face_sequences(restorer, crops, plan, temporal_smoothing=temporal_smoothing)

    return process


def darken(crops, plan, **_):
    return crops * 0.8


def ground_truth_tracks(scene) -> FaceTracks:
    boxes = np.stack(scene.boxes).astype(np.float32)
    state = np.full(boxes.shape[:2], DETECTED, np.uint8)
    return FaceTracks(np.arange(1, len(boxes) + 1), boxes, state, np.ones(boxes.shape[:2], np.float32), scene.frame_count, scene.frame_size, scene.fps)


def decode(path: str) -> np.ndarray:
    return np.concatenate([chunk for _, chunk in stream.iter_frames(path)]).astype(np.float32)


def face_mask(scene) -> np.ndarray:
    mask = np.zeros((scene.frame_count, *scene.frame_size), bool)
    for boxes in scene.boxes:
        for index, (x0, y0, x1, y1) in enumerate(boxes):
            mask[index, int(y0) : int(y1), int(x0) : int(x1)] = True
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scene = synthetic.demo_scene(args.frames)
    scene.occluders = []
    tracks = ground_truth_tracks(scene)
    faces = face_mask(scene)
    with tempfile.TemporaryDirectory(prefix="fuse-seam-bench-") as folder:
        source = os.path.join(folder, "source.mp4")
        write_video(source, synthetic.render(scene), scene.fps, crf=0)
        original = decode(source)

        def run(name, processor, window, overlap):
            out = os.path.join(folder, f"{name}_{window}_{overlap}.mp4")
            spec = streaming.StreamSpec(crop=CropSpec(face_size=128), window_frames=window, overlap_frames=overlap, codec="h264_lossless")
            streaming.process_video(source, tracks, out, spec, process_crops=processor, resume=False)
            return decode(out)

        print(f"window_seam_bench: {args.frames} frames of {scene.frame_size[1]}x{scene.frame_size[0]}, 2 faces, crops 128 px, window {args.window}")
        print(f"{'processor':<28} {'overlap':>7} | {'max diff':>8} {'mean diff':>9} | {'boundary flicker':>16}")
        for name, processor in (("restore (smoothing 0.5)", restorer_processor(0.5)), ("restore (smoothing 0)", restorer_processor(0.0)), ("darken (per frame)", darken)):
            reference = run("one", processor, args.frames, 0)
            for overlap in (None, 0, 4, 8):
                result = reference if overlap is None else run("win", processor, args.window, overlap)
                difference = np.abs(result - reference).max(axis=-1)[faces]
                effect = np.abs(np.diff((result - original) * faces[..., None], axis=0)).mean(axis=(1, 2, 3))
                step = args.window - (overlap or 0)
                boundaries = [b - 1 for b in range(step, args.frames, step)] if overlap is not None else []
                others = [i for i in range(len(effect)) if i not in boundaries]
                ratio = effect[boundaries].mean() / effect[others].mean() if boundaries else 1.0
                label = "one batch" if overlap is None else str(overlap)
                print(f"{name:<28} {label:>7} | {difference.max():>8.1f} {difference.mean():>9.3f} | {ratio:>16.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
