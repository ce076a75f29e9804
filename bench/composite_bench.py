"""Compositor benchmark: paste time and peak memory against copying the video, and flicker.

    python bench/composite_bench.py [--frames 16] [--height 1080] [--width 1920] [--face 300] [--face-size 512] [--threads 1] [--repeats 3]

A synthetic clip (one real face drifting across a textured background, ground-truth track with
five landmarks at the average layout in the box) is cropped into one face sequence; the crops
come back "processed" (a warm colour cast and a brightness offset, as restorers and video models
return them) and are pasted back with each compositor variant. Every variant runs in a fresh
subprocess so its peak memory is its own.

Columns: time per frame (best of --repeats, wall clock and CPU), the ratio to the floor
(frames.clone(): the paste's one unavoidable full-resolution copy; the target is within 2x), and
peak memory: the process's peak resident set while the variant runs (VmHWM, reset once the inputs
are built) minus its resident set right after imports, over the bytes of input (frames + crops)
plus output (frames + the pasted mask) (the target is within 1.2x).

Then: DESIGN.md invariants 1 and 2 on this clip (bit-identical outside the paste mask; an
unchanged crop round-trips exactly in difference mode and within 2/255 in replace mode where
alpha is 1), and flicker before/after compositing.stabilize on a synthetic "restored" sequence:
the clip's crops plus detail invented anew each frame (blurred noise, 4/255 rms, as a
frame-by-frame restorer adds), flicker_ratio against the unprocessed crops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from comfyui_fuse.compositing.align import MEAN_LANDMARKS_IN_BOX
from comfyui_fuse.compositing.paste import paste_faces
from comfyui_fuse.compositing.stabilize import flicker_ratio, stabilize_sequence
from comfyui_fuse.compositing.warp import crop_face_sequences
from comfyui_fuse.synthetic import Scene, linear_path, render
from comfyui_fuse.tracking.types import DETECTED, FaceTracks

# name -> (what runs, paste options); "floor" and "crop" are the references
VARIANTS = {
    "floor: frames.clone()": ("floor", {}),
    "crop_face_sequences": ("crop", {}),
    "paste difference, box": ("paste", {}),
    "paste difference, ellipse": ("paste", {"blend_mode": "ellipse"}),
    "paste replace, box": ("paste", {"paste_mode": "replace"}),
    "paste difference, face_hull": ("paste", {"blend_mode": "face_hull"}),
    "paste difference, lower_face": ("paste", {"blend_mode": "lower_face"}),
    "paste difference, box, color_match": ("paste", {"color_match": "lab_mean_std"}),
    "paste difference, box, poisson": ("paste", {"seam": "poisson"}),
    "paste difference, ffhq-aligned (rotated)": ("aligned", {}),
}


def rss_mb() -> float:
    """Current resident set of this process, MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident set (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def make_clip(frames: int, height: int, width: int, face: int, angle_deg: float = 0.0) -> tuple[torch.Tensor, FaceTracks]:
    """Frames [N,H,W,3] float32 built in place (no uint8 copy of the whole clip) and the face's
    track with landmarks; angle_deg turns the landmarks (for aligned, rotated crops)."""
    start = (0.3 * width, 0.3 * height, 0.3 * width + face, 0.3 * height + face)
    stop = (0.4 * width, 0.32 * height, 0.4 * width + face * 1.05, 0.32 * height + face * 1.05)
    boxes = linear_path(frames, start, stop)
    pixels = torch.empty((frames, height, width, 3), dtype=torch.float32)
    for index in range(frames):
        pixels[index] = torch.from_numpy(render(Scene(1, (height, width), [boxes[index : index + 1]], [0]))[0]).float().div_(255)
    points = boxes[:, None, :2] + MEAN_LANDMARKS_IN_BOX[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
    centre = points.mean(axis=1, keepdims=True)
    angle = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (points - centre) @ rotation.T + centre
    state = np.full((1, frames), DETECTED, np.uint8)
    tracks = FaceTracks([1], boxes[None], state, np.ones((1, frames), np.float32), frames, (height, width), landmarks=points[None].astype(np.float32))
    return pixels, tracks


def processed(crops: torch.Tensor) -> torch.Tensor:
    """What a processor returns: a warm cast and a brightness offset."""
    return (crops * torch.tensor([1.08, 0.98, 0.9]) + 0.02).clamp_(0, 1)


def timed(run, repeats: int) -> tuple[float, float]:
    """Best wall and CPU seconds of `repeats` runs; each result is freed before the next run."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        del result
    return min(walls), min(cpus)


def run_variant(name: str, args) -> dict:
    """One variant in this process: times, memory, invariant 1. Returns a JSON-able dict."""
    torch.set_num_threads(args.threads)
    kind, options = VARIANTS[name]
    baseline = rss_mb()
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face, angle_deg=12.0 if kind == "aligned" else 0.0)
    crops, plan, _ = crop_face_sequences(frames, tracks, face_size=args.face_size, align="ffhq_landmarks" if kind == "aligned" else "box")
    crops = processed(crops)
    frame_bytes, crop_bytes = frames.numel() * 4, crops.numel() * 4
    mask_bytes = frame_bytes // 3
    if kind == "floor":
        run, input_bytes, output_bytes = frames.clone, frame_bytes, frame_bytes
    elif kind == "crop":
        run, input_bytes, output_bytes = (lambda: crop_face_sequences(frames, tracks, face_size=args.face_size)), frame_bytes, crop_bytes
    else:
        run, input_bytes, output_bytes = (lambda: paste_faces(frames, crops, plan, tracks=tracks, return_mask=True, **options)), frame_bytes + crop_bytes, frame_bytes + mask_bytes
    reset = reset_peak_rss()
    wall, cpu = timed(run, args.repeats)
    peak = peak_rss_mb()
    result = {"name": name, "wall_ms": 1000 * wall / args.frames, "cpu_ms": 1000 * cpu / args.frames, "memory": (peak - baseline) / ((input_bytes + output_bytes) / 2**20), "peak_reset": reset}
    if kind in ("paste", "aligned"):
        pasted, mask = run()
        untouched = mask == 0
        result["invariant_1"] = bool(torch.equal(pasted[untouched], frames[untouched]))
    return result


def invariant_2(args) -> list[str]:
    """Identity crops pasted back: exact in difference mode, within 2/255 where alpha is 1 in replace mode."""
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face)
    crops, plan, _ = crop_face_sequences(frames, tracks, face_size=args.face_size)
    scale = plan.sequences[0].affine_src_to_crop[0, 0, 0]
    lines = []
    for paste_mode in ("difference", "replace"):
        pasted, mask = paste_faces(frames, crops, plan, paste_mode=paste_mode, return_mask=True)
        errors = (pasted - frames).abs().amax(-1)[mask >= 1 - 1e-6] * 255
        worst, share = float(errors.max()), float((errors > 2).float().mean())
        lines.append(f"invariant 2, {paste_mode}, where alpha is 1 (crop scale {scale:.2f}x): worst {worst:.2f}/255, {100 * share:.3f}% of pixels above 2/255: {'PASS' if worst <= 2 else 'FAIL'}")
    return lines


def flicker(args) -> list[str]:
    """flicker_ratio of a synthetic frame-by-frame 'restoration' before and after stabilize_sequence."""
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face)
    crops, _, _ = crop_face_sequences(frames, tracks, face_size=args.face_size)
    del frames
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(crops.shape[0], 3, *crops.shape[1:3], generator=generator)
    detail = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1).permute(0, 2, 3, 1)  # BCHW -> BHWC
    detail *= (4 / 255) / detail.std()
    restored = (crops + detail).clamp(0, 1)
    lines = [f"flicker_ratio (output change / input change, 1.0 = moves like the input): unprocessed crops {flicker_ratio(crops, crops):.2f}, restored frame by frame {flicker_ratio(restored, crops):.2f}"]
    for strength in (0.5, 1.0):
        started = time.perf_counter()
        stable = stabilize_sequence(restored, crops, strength=strength)
        seconds = time.perf_counter() - started
        lines.append(f"  after stabilize_sequence(strength={strength}): {flicker_ratio(stable, crops):.2f} ({1000 * seconds / len(crops):.1f} ms per crop)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--face", type=int, default=300, help="face box side in source pixels")
    parser.add_argument("--face-size", type=int, default=512, help="crop side")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args)))
        return
    torch.set_num_threads(args.threads)
    forwarded = [f"--frames={args.frames}", f"--height={args.height}", f"--width={args.width}", f"--face={args.face}", f"--face-size={args.face_size}", f"--threads={args.threads}", f"--repeats={args.repeats}"]
    results = []
    for name in VARIANTS:
        output = subprocess.run([sys.executable, __file__, *forwarded, f"--variant={name}"], check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    floor = results[0]
    frame_mb = args.height * args.width * 3 * 4 / 2**20
    print(f"{args.frames} frames of {args.width}x{args.height} ({frame_mb:.1f} MB each), one {args.face}px face, crops {args.face_size}x{args.face_size}, "
          f"{args.threads} thread(s), best of {args.repeats}; torch {torch.__version__}, {platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.2f}")
    print(f"| {'variant':42s} | {'ms/frame wall':>13s} | {'ms/frame CPU':>12s} | {'x floor (wall)':>14s} | {'x floor (CPU)':>13s} | {'peak mem / (in + out)':>21s} | invariant 1 |")
    print(f"|{'-' * 44}|{'-' * 15}|{'-' * 14}|{'-' * 16}|{'-' * 15}|{'-' * 23}|{'-' * 13}|")
    for row in results:
        check = {True: "PASS", False: "FAIL", None: ""}[row.get("invariant_1")]
        print(f"| {row['name']:42s} | {row['wall_ms']:13.1f} | {row['cpu_ms']:12.1f} | {row['wall_ms'] / floor['wall_ms']:14.2f} | {row['cpu_ms'] / floor['cpu_ms']:13.2f} | {row['memory']:21.2f} | {check:11s} |")
    if not all(row["peak_reset"] for row in results):
        print("note: VmHWM could not be reset; peak memory includes building the inputs")
    for line in invariant_2(args) + flicker(args):
        print(line)


if __name__ == "__main__":
    main()
