"""Compositor benchmark: paste time and peak memory against copying the video, and flicker.

    python bench/composite_bench.py [--frames 16] [--height 1080] [--width 1920] [--face 300] [--face-size 512] [--threads 1] [--repeats 5]

A synthetic clip (one real face drifting across a textured background, ground-truth track with
five landmarks at the average layout in the box) is cropped into one face sequence; the crops
come back "processed" (a warm colour cast and a brightness offset, as restorers and video models
return them) and are pasted back with each compositor variant. Every variant runs in a fresh
subprocess, so its peak memory is its own, and times the floor there too, interleaved with it.

Columns: time per frame (best of --repeats; wall clock, and CPU time, which load from other
processes disturbs less), the floor in the same process (frames.clone(): the paste's one
unavoidable full-resolution copy) and the ratio (target: within 2x); peak memory over input
(frames + crops) plus output (frames + the pasted mask): (input + growth of the resident set
above what it was with the inputs built, at its peak while the variant runs) / (input + output)
(target: within 1.2x; below 1.0 is possible: the pasted mask is allocated lazily, so its pages
without a face are never touched).

Then: DESIGN.md invariants 1 and 2 on this clip (bit-identical outside the paste mask; an
unchanged crop pasted back in difference mode changes nothing), and flicker before/after
compositing.stabilize on a synthetic "restored" sequence: the clip's crops plus detail invented
anew each frame (blurred noise, 4/255 rms, as a frame-by-frame restorer adds; no restorer runs),
flicker_ratio against the unprocessed crops.
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
from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.compositing.paste import PasteSpec, paste_faces
from comfyui_fuse.restoration.stabilize import flicker_ratio, stabilize_sequence
from comfyui_fuse.compositing.warp import crop_face_sequences
from comfyui_fuse.media.synthetic import Scene, linear_path, render
from comfyui_fuse.core.types import DETECTED, FaceTracks

# name -> (what runs, PasteSpec settings); "floor" and "crop" are the references
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


def timed(runs: dict, repeats: int) -> dict:
    """Best wall and CPU seconds of each run, the runs interleaved `repeats` times (so load from
    other processes hits them alike); each result is freed before the next run."""
    best = {name: [float("inf"), float("inf")] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            result = run()
            best[name][0] = min(best[name][0], time.perf_counter() - wall)
            best[name][1] = min(best[name][1], time.process_time() - cpu)
            del result
    return best


def run_variant(name: str, args) -> dict:
    """One variant in this process: its times and the floor's, memory, invariant 1. A JSON-able dict."""
    torch.set_num_threads(args.threads)
    kind, options = VARIANTS[name]
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face, angle_deg=12.0 if kind == "aligned" else 0.0)
    crops, plan, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=args.face_size, align="ffhq_landmarks" if kind == "aligned" else "box"))
    crops = processed(crops)
    frame_mb, crop_mb = frames.numel() * 4 / 2**20, crops.numel() * 4 / 2**20
    if kind == "floor":
        run, input_mb, output_mb = frames.clone, frame_mb, frame_mb
    elif kind == "crop":
        run, input_mb, output_mb = (lambda: crop_face_sequences(frames, tracks, CropSpec(face_size=args.face_size))), frame_mb, crop_mb
    else:
        run, input_mb, output_mb = (lambda: paste_faces(frames, crops, plan, PasteSpec(**options), tracks=tracks, return_mask=True)), frame_mb + crop_mb, frame_mb * 4 / 3
    with_inputs = rss_mb()
    reset = reset_peak_rss()
    result = run()  # alone first, for its peak memory
    growth = peak_rss_mb() - with_inputs
    if kind in ("paste", "aligned"):
        pasted, mask = result
        invariant_1 = bool(torch.equal(pasted[mask == 0], frames[mask == 0]))
        del pasted, mask
    del result
    best = timed({"variant": run, "floor": frames.clone}, args.repeats)
    (wall, cpu), (floor_wall, floor_cpu) = best["variant"], best["floor"]
    per_frame = 1000 / args.frames
    result = {
        "name": name, "wall_ms": wall * per_frame, "cpu_ms": cpu * per_frame, "floor_wall_ms": floor_wall * per_frame, "floor_cpu_ms": floor_cpu * per_frame,
        "memory": (input_mb + growth) / (input_mb + output_mb), "peak_reset": reset,
    }
    if kind in ("paste", "aligned"):
        result["invariant_1"] = invariant_1
    return result


def invariant_2(args) -> list[str]:
    """Unchanged crops pasted back: exact in difference mode (the default; invariant 2); replace
    mode resamples the colours, so its error is reported, not held to 2/255 (see warp.py)."""
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face)
    crops, plan, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=args.face_size))
    scale = plan.sequences[0].affine_src_to_crop[0, 0, 0]
    lines = []
    for paste_mode in ("difference", "replace"):
        pasted, mask = paste_faces(frames, crops, plan, PasteSpec(paste_mode=paste_mode), return_mask=True)
        errors = (pasted - frames).abs().amax(-1)[mask >= 1 - 1e-6] * 255
        worst, share = float(errors.max()), float((errors > 2).float().mean())
        verdict = ("PASS" if worst <= 2 else "FAIL") if paste_mode == "difference" else "(replace resamples the colours: not held to 2/255)"
        lines.append(f"invariant 2, {paste_mode} paste of unchanged crops, where alpha is 1 (crop scale {scale:.2f}x): worst {worst:.2f}/255, {100 * share:.3f}% of pixels above 2/255 {verdict}")
    return lines


def flicker(args) -> list[str]:
    """flicker_ratio of a synthetic frame-by-frame 'restoration' before and after stabilize_sequence."""
    frames, tracks = make_clip(args.frames, args.height, args.width, args.face)
    crops, _, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=args.face_size))
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
    parser.add_argument("--repeats", type=int, default=5)
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
    frame_mb = args.height * args.width * 3 * 4 / 2**20
    print(f"{args.frames} frames of {args.width}x{args.height} ({frame_mb:.1f} MB each), one {args.face}px face, crops {args.face_size}x{args.face_size}, "
          f"{args.threads} thread(s), best of {args.repeats}; torch {torch.__version__}, {platform.machine()}, load average {os.getloadavg()[0]:.2f}")
    print("| variant | ms/frame wall | floor wall | x floor (wall) | ms/frame CPU | floor CPU | x floor (CPU) | peak memory / (in + out) | invariant 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in results:
        check = {True: "PASS", False: "FAIL", None: ""}[row.get("invariant_1")]
        print(f"| {row['name']} | {row['wall_ms']:.1f} | {row['floor_wall_ms']:.1f} | {row['wall_ms'] / row['floor_wall_ms']:.2f} | "
              f"{row['cpu_ms']:.1f} | {row['floor_cpu_ms']:.1f} | {row['cpu_ms'] / row['floor_cpu_ms']:.2f} | {row['memory']:.2f} | {check} |")
    if not all(row["peak_reset"] for row in results):
        print("note: VmHWM could not be reset; peak memory includes building the inputs")
    for line in invariant_2(args) + flicker(args):
        print(line)


if __name__ == "__main__":
    main()
