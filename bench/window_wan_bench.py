"""Processing windows against one batch with a (tiny, random) Wan model, in a real ComfyUI.

    COMFYUI_PATH=/path/to/ComfyUI python bench/window_wan_bench.py [--frames 48] [--window 16] [--overlaps 0,4,8]

A short clip of two real faces (lossless) goes through LoadVideo -> FUSE Track Video Faces ->
FUSE Sample Processor (a tiny random Wan DiT and a random Wan 2.1 VAE, the models the
real-ComfyUI tests build; zero text conditioning) -> FUSE Process Video Faces (lossless) ->
SaveVideo, once with one window holding the whole clip and once per overlap in windows of
--window frames. Each windowed result is compared with the one-window result over the face
pixels (where the two differ from the source at all), in 1/255: how much the model changed
them (one window against the source), the max and mean difference,
and the boundary flicker (mean frame-to-frame change of the processing's effect at window
boundaries over that elsewhere; 1.00 = no extra change at the boundaries).

A random model invents a different picture from each noise and each context, so this measures
what windows change in a model that attends across frames (a trained model differs less, as its
output follows the input more closely); bench/window_seam_bench.py measures the restorer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "integration"
FACE_SIZE = 32
STEPS = 2


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prompt_for(video: str, models: dict, window: int, overlap: int) -> dict:
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "2": {"class_type": "FUSEVideoTrackFaces", "inputs": {"video": ["1", 0], "detector": "auto", "score_threshold": 0.5,
                                                              "min_face_size": 16, "detect_every": 1, "detect_size": 960}},
        "3": {"class_type": "UNETLoader", "inputs": {"unet_name": models["dit"], "weight_dtype": "default"}},
        "4": {"class_type": "VAELoader", "inputs": {"vae_name": models["vae"]}},
        "5": {"class_type": "FUSETestZeroConditioning", "inputs": {"length": 8}},
        "6": {"class_type": "FUSESampleProcessor", "inputs": {
            "model": ["3", 0], "vae": ["4", 0], "positive": ["5", 0], "negative": ["5", 0], "seed": 7, "steps": STEPS, "cfg": 1.0,
            "sampler_name": "euler", "scheduler": "simple", "denoise": 0.6, "window_frames": 81, "overlap": 8,
            "temporal_padding": 0, "batch_tracks": True, "face_only_mask": False}},
        "7": {"class_type": "FUSEVideoProcessFaces", "inputs": {
            "video": ["1", 0], "tracks": ["2", 0], "window_frames": window, "face_size": FACE_SIZE, "face_padding": 20.0,
            "overlap_frames": overlap, "blend_mode": "box", "blend_amount": 0.3, "fade_frames": 3, "codec": "h264_lossless",
            "crf": 18, "processor": ["6", 0]}},
        "8": {"class_type": "SaveVideo", "inputs": {"video": ["7", 0], "filename_prefix": f"bench/w{window}_o{overlap}", "format": "auto", "codec": "auto"}},
    }


def compare(source: np.ndarray, whole: np.ndarray, windowed: np.ndarray, window: int) -> dict:
    """Max/mean |windowed - whole| over the face pixels (1/255) and the boundary flicker."""
    source, whole, windowed = (a.astype(np.float64) for a in (source, whole, windowed))
    face = (np.abs(whole - source).max(axis=-1) > 0) | (np.abs(windowed - source).max(axis=-1) > 0)
    difference = np.abs(windowed - whole).max(axis=-1)[face]
    effect = windowed - source
    change = np.abs(np.diff(effect, axis=0)).mean(axis=(1, 2, 3))  # change from frame t to t+1
    boundary = np.array([t + 1 for t in range(len(change)) if (t + 1) % window == 0]) - 1
    inside = np.setdiff1d(np.arange(len(change)), boundary)
    flicker = change[boundary].mean() / max(change[inside].mean(), 1e-9) if len(boundary) else float("nan")
    changed = np.abs(whole - source).max(axis=-1)[face]
    return {"effect": float(changed.mean()) if changed.size else 0.0, "max": float(difference.max(initial=0)), "mean": float(difference.mean()) if difference.size else 0.0, "flicker": float(flicker)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--overlaps", default="0,4,8")
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"), help="a ComfyUI checkout (default: $COMFYUI_PATH)")
    parser.add_argument("--python", default=os.environ.get("COMFYUI_PYTHON") or sys.executable)
    args = parser.parse_args()
    if not args.comfyui:
        parser.error("--comfyui (or COMFYUI_PATH) must name a ComfyUI checkout")
    from comfyui_fuse.media import synthetic
    from comfyui_fuse.media.video import read_video, write_video

    harness = _load("fuse_harness", TESTS / "harness.py")
    wan_models = _load("fuse_wan_models", TESTS / "wan_models.py")
    server = harness.ComfyUIServer(args.comfyui, python=args.python, start_timeout=300)
    (server.custom_nodes_dir / "fuse_test_nodes").mkdir()
    shutil.copyfile(TESTS / "zero_conditioning_node.py", server.custom_nodes_dir / "fuse_test_nodes" / "__init__.py")
    models = {"dit": "bench_tiny_wan.safetensors", "vae": "bench_random_wan21_vae.safetensors"}
    rows = []
    with server, tempfile.TemporaryDirectory(prefix="fuse-wan-window-") as tmp:
        wan_models.write_wan_models(server.comfyui_path, server.python, server.model_dir("diffusion_models"), server.model_dir("vae"),
                                    dits={models["dit"]: 0}, vae=models["vae"])
        scene = synthetic.demo_scene(frame_count=args.frames, frame_size=(144, 256))
        frames = synthetic.render(scene)
        clip = Path(tmp) / "two faces.mkv"
        write_video(clip, frames, scene.fps, None, crf=0)
        uploaded = server.client.upload_file(str(clip))
        source = read_video(str(clip)).frames

        def run(window: int, overlap: int) -> np.ndarray:
            entry = server.client.wait(server.client.queue_prompt(prompt_for(uploaded, models, window, overlap)), timeout=3600)
            out = Path(tmp) / f"w{window}_o{overlap}"
            videos = [Path(f) for f in server.client.download_outputs(entry, str(out)) if f.endswith(".mp4")]
            return read_video(str(videos[0])).frames

        whole = run(args.frames, 0)
        for overlap in [int(value) for value in args.overlaps.split(",")]:
            rows.append((overlap, compare(np.asarray(source), np.asarray(whole), np.asarray(run(args.window, overlap)), args.window)))
    print(f"\nTiny random Wan (2 steps, denoise 0.6), {args.frames} frames, windows of {args.window} against one window; 1/255 over the face pixels\n")
    print("| overlap | change by the model (mean) | max difference | mean difference | boundary flicker |")
    print("|---|---|---|---|---|")
    for overlap, row in rows:
        print(f"| {overlap} | {row['effect']:.2f} | {row['max']:.0f} | {row['mean']:.2f} | {row['flicker']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
