"""Face-sequence sampling (FUSE) vs full-frame video-to-video in a real ComfyUI, side by side.

    COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/comfyui-venv/bin/python \
        python bench/wan_face_vs_full_bench.py [--frames 33] [--width 640] [--height 360] [--steps 4]

One clip, one real face (skimage's astronaut) whose box covers about a tenth of the frame
(--face-side 144 px of a 640x360 frame: 9 %), drifting slowly. Both peers use the same tiny random
Wan DiT (ComfyUI's WanModel class, ~1.1 M parameters) and the same random full-width Wan 2.1 VAE
(speed does not depend on the weights), the same conditioning (zeros [1,8,4096]), seed, steps,
cfg, sampler, scheduler and denoise:

- fuse: FUSE Video Latent KSampler (detect with the built-in Haar fallback, track, crop one
  face sequence at its native size --face-size, one VAE encode, KSampler-equivalent sampling,
  one VAE decode, paste back);
- full: ComfyUI's own nodes on whole frames: VAEEncode -> KSampler -> VAEDecode.

Each peer runs in a fresh ComfyUI Python process (ComfyUI imported in-process, under
torch.inference_mode as ComfyUI's executor runs nodes), so the peak RSS of each is its own
(os.wait4's ru_maxrss). A watchdog kills a peer whose RSS passes --max-rss-gb. Columns: seconds
of the work itself (models already loaded) on the wall clock and in CPU time (less sensitive to other
load on the machine), seconds of the whole process, peak RSS, pixels per
frame that went through the VAE and the DiT, and the share of output pixels that differ from the
input (FUSE leaves everything outside the face bit-identical).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = ("fuse", "full")
TEXT_TOKENS = 8  # length of the zero conditioning
SEED = 0


# ---- the driver (any Python with this pack installed) -------------------------------------------


def load_wan_models_module():
    spec = importlib.util.spec_from_file_location("fuse_wan_models", REPO / "tests" / "integration" / "wan_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_clip(frames: int, width: int, height: int, face_side: int):
    """(N,H,W,3) uint8 frames with one face_side x face_side face drifting right by a tenth of the width."""
    from comfyui_fuse.media.synthetic import Scene, linear_path, render

    x0, y0 = 0.35 * width, 0.5 * (height - face_side)
    path = linear_path(frames, (x0, y0, x0 + face_side, y0 + face_side), (x0 + 0.1 * width, y0 + 8, x0 + 0.1 * width + face_side, y0 + 8 + face_side))
    return render(Scene(frames, (height, width), [path], [0]))


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_peer(python: str, peer: str, workdir: Path, args) -> dict:
    """Run one peer in a fresh process; its JSON result plus wall seconds and peak RSS (bytes)."""
    command = [python, str(Path(__file__).resolve()), "--worker", peer, "--workdir", str(workdir), "--comfyui", args.comfyui,
               "--steps", str(args.steps), "--cfg", str(args.cfg), "--denoise", str(args.denoise),
               "--face-size", str(args.face_size), "--face-padding", str(args.face_padding)]
    limit = int(args.max_rss_gb * 2**30)
    log_path = workdir / f"{peer}.log"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    killed = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if rss_bytes(process.pid) > limit:
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.2)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    log_text = log_path.read_text(errors="replace")
    if killed:
        return {"error": f"killed: RSS passed --max-rss-gb {args.max_rss_gb}", "wall_seconds": wall, "peak_rss": usage.ru_maxrss * 1024}
    if process.returncode != 0:
        raise RuntimeError(f"peer {peer} failed with exit code {process.returncode}; log {log_path}:\n{log_text[-4000:]}")
    result = json.loads([line for line in log_text.splitlines() if line.startswith("{")][-1])
    result.update(wall_seconds=wall, peak_rss=usage.ru_maxrss * 1024)  # Linux: ru_maxrss in KiB
    return result


def changed_share(workdir: Path, peer: str, clip) -> float:
    import numpy as np

    output = np.load(workdir / f"{peer}_out.npy")
    if output.shape != clip.shape:
        raise ValueError(f"peer {peer} returned frames of shape {output.shape}, but the clip is {clip.shape}")
    return float((output != clip).any(axis=-1).mean())


def print_table(results: dict, clip_shape, args) -> None:
    frames, height, width, _ = clip_shape
    print(f"\nWan face-sequence sampling vs full-frame video-to-video: {frames} frames {width}x{height}, one face {args.face_side} px "
          f"({args.face_side**2 / (width * height):.0%} of the frame), tiny random Wan DiT + random Wan 2.1 VAE, steps {args.steps}, "
          f"cfg {args.cfg}, denoise {args.denoise}, euler/simple")
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, {platform.python_version()}; load average {args.load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    header = "| peer | work s | work CPU s | process s | peak RSS GB | pixels/frame through the VAE | output pixels changed |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    names = {"fuse": "FUSE Video Latent KSampler (face sequence)", "full": "VAEEncode -> KSampler -> VAEDecode (full frame)"}
    for peer in PEERS:
        result = results[peer]
        if "error" in result:
            print(f"| {names[peer]} | {result['error']} | | {result['wall_seconds']:.0f} | {result['peak_rss'] / 2**30:.2f} | | |")
            continue
        print(f"| {names[peer]} | {result['work_seconds']:.1f} | {result['work_cpu_seconds']:.1f} | {result['wall_seconds']:.1f} | {result['peak_rss'] / 2**30:.2f} | "
              f"{result['vae_pixels_per_frame']} | {result['changed_share']:.1%} |")
    if all("error" not in results[peer] for peer in PEERS):
        fuse, full = results["fuse"], results["full"]
        print(f"\nFUSE is {full['work_seconds'] / fuse['work_seconds']:.1f}x faster (work, wall clock), {full['work_cpu_seconds'] / fuse['work_cpu_seconds']:.1f}x (work, CPU time), "
              f"{full['wall_seconds'] / fuse['wall_seconds']:.1f}x (whole process), peak RSS {fuse['peak_rss'] / full['peak_rss']:.2f}x of full frame.")


def drive(args) -> int:
    import numpy as np

    args.comfyui = args.comfyui or os.environ.get("COMFYUI_PATH")
    python = args.python or os.environ.get("COMFYUI_PYTHON")
    if not args.comfyui or not python:
        print("COMFYUI_PATH and COMFYUI_PYTHON must be set: a ComfyUI checkout and the Python that runs it (see tests/integration/README.md)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fuse-wan-bench-"))
    try:
        models = load_wan_models_module().write_wan_models(
            args.comfyui, python, workdir / "diffusion_models", workdir / "vae", dits={"tiny_wan.safetensors": SEED}, vae="random_wan21_vae.safetensors",
        )
        clip = render_clip(args.frames, args.width, args.height, args.face_side)
        np.save(workdir / "clip.npy", clip)
        print(f"models {', '.join(str(path) for path in models.values())}; clip {clip.shape}", flush=True)
        results = {}
        args.load_before = os.getloadavg()[0]  # other work on the machine slows the peers unevenly: reported with the table
        for peer in PEERS:
            print(f"running {peer} ...", flush=True)
            results[peer] = run_peer(python, peer, workdir, args)
            if "error" not in results[peer]:
                results[peer]["changed_share"] = changed_share(workdir, peer, clip)
            print(f"  {peer}: {json.dumps(results[peer])}", flush=True)
        print_table(results, clip.shape, args)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            workdir.rmdir()
    return 0


# ---- a peer (run by COMFYUI_PYTHON in a fresh process) -------------------------------------------


def import_pack():
    """This repository as the package comfyui_fuse (ComfyUI's Python need not have it installed)."""
    spec = importlib.util.spec_from_file_location("comfyui_fuse", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules["comfyui_fuse"] = pack
    spec.loader.exec_module(pack)
    return pack


def work(args) -> int:
    sys.path.insert(0, args.comfyui)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import numpy as np
    import torch

    import comfy.sd
    import comfy.utils
    import nodes as comfy_nodes  # ComfyUI's nodes.py

    workdir = Path(args.workdir)
    started = time.perf_counter()
    model = comfy.sd.load_diffusion_model(str(workdir / "diffusion_models" / "tiny_wan.safetensors"))  # what UNETLoader does
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(workdir / "vae" / "random_wan21_vae.safetensors")))  # what VAELoader does
    vae.throw_exception_if_invalid()
    conditioning = [[torch.zeros(1, TEXT_TOKENS, 4096), {}]]
    images = torch.from_numpy(np.load(workdir / "clip.npy")).to(torch.float32).div_(255.0)
    settings = dict(seed=SEED, steps=args.steps, cfg=args.cfg, sampler_name="euler", scheduler="simple", denoise=args.denoise)
    if args.worker == "fuse":
        sample_node = import_pack().nodes.sample.FUSEVideoLatentKSampler()
    load_seconds = time.perf_counter() - started
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        started, started_cpu = time.perf_counter(), time.process_time()
        if args.worker == "fuse":
            (output,) = sample_node.sample(
                model, vae, images, conditioning, conditioning, detector="auto", face_id=-1, face_size=args.face_size,
                face_padding=args.face_padding, force_square=True, iou_threshold=0.3, smooth_boxes=True, smooth_window=3,
                blend_mode="box", blend_amount=0.3, window_frames=81, overlap=16, temporal_padding=0, batch_tracks=False,
                face_only_mask=False, **settings,
            )
            vae_pixels = args.face_size * args.face_size
        else:
            (latent,) = comfy_nodes.VAEEncode().encode(vae, images)
            (latent,) = comfy_nodes.common_ksampler(model, settings["seed"], settings["steps"], settings["cfg"], settings["sampler_name"],
                                                    settings["scheduler"], conditioning, conditioning, latent, denoise=settings["denoise"])
            (output,) = comfy_nodes.VAEDecode().decode(vae, latent)
            vae_pixels = int(images.shape[1]) * int(images.shape[2])
        work_seconds, work_cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    frames = (output.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    np.save(workdir / f"{args.worker}_out.npy", frames)
    print(json.dumps({"peer": args.worker, "load_seconds": load_seconds, "work_seconds": work_seconds, "work_cpu_seconds": work_cpu_seconds, "vae_pixels_per_frame": vae_pixels, "output_shape": list(frames.shape)}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=33, help="clip length (4k+1 suits Wan)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--face-side", type=int, default=144, help="face box side in pixels (144 of 640x360: about a tenth of the frame)")
    parser.add_argument("--face-padding", type=int, default=16, help="source pixels around the face box in the FUSE crop")
    parser.add_argument("--face-size", type=int, default=176, help="FUSE crop side: the face box plus padding at its native size (a multiple of 16)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cfg", type=float, default=3.5)
    parser.add_argument("--denoise", type=float, default=0.5)
    parser.add_argument("--max-rss-gb", type=float, default=16.0, help="kill a peer whose RSS passes this (protects a shared machine)")
    parser.add_argument("--comfyui", default=None, help="ComfyUI checkout (default: $COMFYUI_PATH)")
    parser.add_argument("--python", default=None, help="ComfyUI's Python (default: $COMFYUI_PYTHON)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (models, clip, outputs, logs)")
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return work(args) if args.worker else drive(args)


if __name__ == "__main__":
    sys.exit(main())
