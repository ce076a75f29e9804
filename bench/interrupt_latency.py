"""How long Cancel takes to stop FUSE's Wan VAE encode / decode of a face sequence (CPU).

Run in ComfyUI's Python with the pack importable as comfyui_fuse (ComfyUI is imported in-process):

    COMFYUI_PATH=/path/to/ComfyUI $COMFYUI_PYTHON bench/interrupt_latency.py \
        [--phase encode|decode] [--frames 17] [--face-size 64] [--after 2] [--threads 1] [--repeats 1]

A random full-width Wan 2.1 VAE (ComfyUI's WanVAE class, the config tests/integration/wan_models.py
uses; speed does not depend on the weights) is loaded through comfy.sd.VAE. One real face (the demo's
astronaut) drifts across a short clip; FUSE crops it as one face sequence and runs
sampling.sequences.sample_face_sequences on it with the node's VAE wrapper (nodes/sample.py
vae_codec) and an identity sampler, in a worker thread, with check_interrupt = nodes/host.py's
(ComfyUI's interrupt flag) and the node's progress bar, whose updates are interrupt points as in
the server (main.py's progress hook, which this script installs). --after seconds into the chosen phase the main thread sets the flag
(comfy.model_management.interrupt_current_processing, what POST /interrupt does) and times how long
the worker takes to raise. Prints one line per run and the median; --json prints the results as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_wan_models_module():
    spec = importlib.util.spec_from_file_location("fuse_wan_models", REPO / "tests" / "integration" / "wan_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_wan21_vae():
    """A comfy.sd.VAE holding a random full-width Wan 2.1 VAE, built in memory."""
    import comfy.sd
    import torch
    from comfy.ldm.wan.vae import WanVAE

    wan_models = load_wan_models_module()
    state = wan_models._random_state_dict(WanVAE(**wan_models.WAN21_VAE_CONFIG), 0, torch.float16)
    return comfy.sd.VAE(sd=state)


def face_sequence(frames: int, face_size: int):
    """(crops [F,s,s,3], plan): one face sequence cut from a synthetic clip of the demo's astronaut."""
    import numpy as np
    import torch

    from comfyui_fuse.compositing.geometry import CropSpec
    from comfyui_fuse.compositing.warp import crop_face_sequences
    from comfyui_fuse.core.types import DETECTED, FaceTracks
    from comfyui_fuse.media.synthetic import Scene, linear_path, render

    side = 2 * face_size
    path = linear_path(frames, (0.2 * side, 0.25 * side, 0.2 * side + face_size * 0.8, 0.25 * side + face_size * 0.8), (0.3 * side, 0.25 * side, 0.3 * side + face_size * 0.8, 0.25 * side + face_size * 0.8))
    pixels = torch.from_numpy(render(Scene(frames, (side, side), [path], [0]))).float().div(255.0)
    tracks = FaceTracks(
        track_id=np.array([1]), xyxy=path[None], state=np.full((1, frames), DETECTED, np.uint8), score=np.ones((1, frames), np.float32),
        frame_count=frames, frame_size=(side, side), fps=Fraction(25),
    )
    crops, plan, _ = crop_face_sequences(pixels, tracks, CropSpec(face_size=face_size, face_padding=0.1 * face_size, size_multiple=16))
    return crops, plan


def measure_once(vae, crops, plan, phase: str, after: float) -> dict:
    """Start the sequence's encode -> sample -> decode in a thread, press Cancel `after` s into `phase`, time the stop."""
    import comfy.model_management
    import comfy.utils
    import torch

    from comfyui_fuse.nodes import host
    from comfyui_fuse.nodes.sample import vae_codec
    from comfyui_fuse.sampling.backend import LatentSampler, VaeCodec
    from comfyui_fuse.sampling.sequences import sample_face_sequences

    codec = vae_codec(vae)
    started = {name: threading.Event() for name in ("encode", "decode")}

    def watched(name, call):
        def run(tensor):
            started[name].set()
            return call(tensor)

        return run

    codec = VaeCodec(watched("encode", codec.encode), watched("decode", codec.decode), codec.spatial_compression, codec.temporal_compression, codec.latent_dim, codec.latent_channels)

    def identity_sample(model, latent, noise_seeds, *, on_step=None, **settings):
        if on_step is not None:
            on_step(1)
        return latent

    sampler = LatentSampler(identity_sample, None, 1)
    outcome = {}

    def work():
        begin = time.perf_counter()
        try:
            with torch.inference_mode():  # as ComfyUI's executor runs nodes
                sample_face_sequences(crops, plan, codec, sampler, on_progress=host.progress_callback(plan.total_rows), check_interrupt=host.check_interrupt)
            outcome["result"] = "finished"
        except comfy.model_management.InterruptProcessingException:
            outcome["result"] = "interrupted"
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            outcome["result"] = f"error: {error!r}"
        outcome["stopped"] = time.perf_counter()
        outcome["total"] = outcome["stopped"] - begin

    comfy.model_management.interrupt_current_processing(False)
    comfy.utils.set_progress_bar_global_hook(lambda *args, **kwargs: comfy.model_management.throw_exception_if_processing_interrupted())
    worker = threading.Thread(target=work)
    worker.start()
    started[phase].wait()
    time.sleep(after)
    pressed = time.perf_counter()
    comfy.model_management.interrupt_current_processing(True)
    worker.join()
    comfy.model_management.interrupt_current_processing(False)
    latency = outcome["stopped"] - pressed if outcome["stopped"] >= pressed else 0.0
    return {"result": outcome["result"], "latency_s": round(latency, 3), "run_s": round(outcome["total"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"), help="the ComfyUI checkout (default: $COMFYUI_PATH)")
    parser.add_argument("--phase", choices=("encode", "decode"), default="encode", help="press Cancel during the VAE encode or decode")
    parser.add_argument("--frames", type=int, default=17, help="face sequence length (4k+1: one Wan clip)")
    parser.add_argument("--face-size", type=int, default=64, help="crop side in pixels (a multiple of 16)")
    parser.add_argument("--after", type=float, default=2.0, help="seconds into the phase at which Cancel is pressed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.comfyui:
        parser.error("--comfyui (or COMFYUI_PATH) must name a ComfyUI checkout")
    sys.path.insert(0, args.comfyui)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import torch

    torch.set_num_threads(args.threads)
    vae = random_wan21_vae()
    crops, plan = face_sequence(args.frames, args.face_size)
    runs = [measure_once(vae, crops, plan, args.phase, args.after) for _ in range(args.repeats)]
    summary = {
        "phase": args.phase, "frames": args.frames, "crop": list(crops.shape[1:3]), "after_s": args.after, "threads": args.threads,
        "cpu": platform.processor() or platform.machine(), "runs": runs, "median_latency_s": statistics.median(run["latency_s"] for run in runs),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for run in runs:
            print(f"{args.phase} of {args.frames} frames {crops.shape[2]}x{crops.shape[1]}: Cancel after {args.after:.1f} s -> {run['result']} {run['latency_s']:.3f} s later (run {run['run_s']:.1f} s)")
        print(f"median interrupt latency: {summary['median_latency_s']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
