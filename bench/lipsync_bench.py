"""Lipsync benchmark: frames per second of the FUSE lipsync stage on CPU at several batch sizes.

    python bench/lipsync_bench.py [--frames 32] [--batch-sizes 1 8 32] [--threads 2] [--face-size 256]

A synthetic clip of one real face (skimage's astronaut) at 30000/1001 fps, its ground-truth track
with landmarks, FUSE crops of face_size pixels and 44.1 kHz stereo audio go through
lipsync_crops with a random-weight Wav2Lip (the real architecture, 36.3 M parameters; speed does
not depend on the weights). Columns: the whole stage (audio to mono 16 kHz, mel, crop -> 96 px
warps, the net, warps back and blending) and the net alone on the same batches, both in frames
per second, best of --repeats runs.
"""

from __future__ import annotations

import argparse
import platform
import time
from fractions import Fraction

import numpy as np
import torch

from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.plan import fingerprint_frames
from comfyui_fuse.compositing.warp import crop_faces
from comfyui_fuse.lipsync.adapter import REFERENCE_LANDMARKS_112, REFERENCE_REGION_112
from comfyui_fuse.lipsync.backends import LipsyncModel, detect_architecture
from comfyui_fuse.lipsync.pipeline import LipsyncSpec, lipsync_crops
from comfyui_fuse.lipsync.wav2lip import Wav2Lip
from comfyui_fuse.media.synthetic import Scene, linear_path, render
from comfyui_fuse.core.types import DETECTED, FaceTracks


def make_inputs(frames: int, face_size: int):
    fps = Fraction(30000, 1001)
    path = linear_path(frames, (200, 100, 400, 300), (240, 110, 440, 310))
    scene = Scene(frames, (480, 854), [path], [0], fps=fps)
    images = torch.from_numpy(render(scene)).float() / 255
    x1, y1, x2, y2 = (path[:, i, None] for i in range(4))
    rx1, ry1, rx2, ry2 = REFERENCE_REGION_112
    landmarks = np.stack([x1 + (REFERENCE_LANDMARKS_112[:, 0] - rx1) / (rx2 - rx1) * (x2 - x1), y1 + (REFERENCE_LANDMARKS_112[:, 1] - ry1) / (ry2 - ry1) * (y2 - y1) * 1.05], -1)
    tracks = FaceTracks([1], path[None], np.full((1, frames), DETECTED, np.uint8), np.full((1, frames), 0.9, np.float32), frames, (480, 854), fps, landmarks=landmarks[None].astype(np.float32))
    plan = plan_crops(tracks, fingerprint_frames(images), CropSpec(face_size=face_size))
    crops = crop_faces(images, plan)
    seconds = frames / float(fps) + 0.5
    audio = {"waveform": torch.randn(1, 2, int(44100 * seconds), generator=torch.Generator().manual_seed(0)) * 0.1, "sample_rate": 44100}
    return tracks, plan, crops, audio


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--face-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = Wav2Lip().eval()
    model = LipsyncModel(detect_architecture(net.state_dict()), net, "random wav2lip")
    tracks, plan, crops, audio = make_inputs(args.frames, args.face_size)
    with torch.inference_mode():  # warm-up: first calls allocate
        net(torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96))

    print(f"FUSE lipsync stage, CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, {args.threads} threads")
    print(f"{args.frames} frames, 1 face, crops {args.face_size}x{args.face_size}, 44.1 kHz stereo audio, random-weight Wav2Lip\n")
    print(f"| batch size | stage s | stage fps | net-only fps |")
    print(f"|-----------:|--------:|----------:|-------------:|")
    for batch_size in args.batch_sizes:
        stage = best_of(args.repeats, lambda: lipsync_crops(crops, plan, audio, model, LipsyncSpec(batch_size=batch_size), tracks=tracks))

        def net_only():
            with torch.inference_mode():
                for start in range(0, args.frames, batch_size):
                    count = min(batch_size, args.frames - start)
                    net(torch.zeros(count, 1, 80, 16), torch.rand(count, 6, 96, 96))

        network = best_of(args.repeats, net_only)
        print(f"| {batch_size:>10} | {stage:7.2f} | {args.frames / stage:9.2f} | {args.frames / network:12.2f} |")


if __name__ == "__main__":
    main()
