"""Long videos in a real ComfyUI: LoadVideo -> FUSE Track Video Faces -> FUSE Process Video Faces -> SaveVideo.

    COMFYUI_PATH=/path/to/ComfyUI python bench/comfyui_video_bench.py [--size 720] [--frames 300,6000] [--detect-every 1] [--window 81]

For each length a synthetic clip is written first (bench/stream_bench.py's source: two real faces
over a textured background, a 440 Hz stereo AAC tone, 30000/1001 fps, H.264). Then a ComfyUI of
its own is started for each length (tests/integration/harness.py: a copy of COMFYUI_PATH with
this pack, run on the CPU), and the bundled workflow workflows/api/long_video_restore.json is
queued with `comfyui-fuse queue` with its restorer taken out (faces pasted back unprocessed, so
the run measures FUSE's own work: decode, Haar detection, tracking, crops, paste, encode, audio).

The peak resident set of the ComfyUI server process (VmHWM) is read after start-up and after
the run: the first is what ComfyUI and its imports cost, the second what the whole run cost.
The saved video is checked: frame count, the exact frame rate, and the audio packets.
Columns: frames, server peak RSS after start-up and after the run (GB), run time, frames per
second, and the run's peak over the shortest run's (target: at most 1.25x at 20x the frames).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "api" / "long_video_restore.json"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_rss_gb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_one(harness, comfyui_path: str, python: str, source: Path, folder: Path, args) -> dict:
    workflow = folder / "pass_through.json"
    prompt = harness.pass_through_video_prompt(json.loads(WORKFLOW.read_text()), window_frames=args.window, face_size=256)
    prompt[harness.node_id(prompt, "FUSEVideoTrackFaces")]["inputs"]["detect_every"] = args.detect_every
    workflow.write_text(json.dumps(prompt))
    with harness.ComfyUIServer(comfyui_path, python=python, start_timeout=300) as server:
        pid = server._process.pid
        idle = peak_rss_gb(pid)
        out = folder / "out"
        # Placed in ComfyUI's input folder as a user would (an upload is capped at 100 MB by the server).
        os.link(source, server.input_dir / source.name)
        command = [sys.executable, "-m", "comfyui_fuse.cli", "queue", str(workflow), "--server", server.url,
                   "--out", str(out), "--set", f"LoadVideo.file={source.name}", "--timeout", str(args.timeout)]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = peak_rss_gb(pid)
        if result.returncode != 0:
            return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1][:160], "idle_gb": idle, "peak_gb": peak}
    videos = [Path(line) for line in result.stdout.splitlines() if line.strip().endswith(".mp4")]
    return {"idle_gb": idle, "peak_gb": peak, "seconds": seconds, **check_output(source, videos)}


def check_output(source: Path, videos: list[Path]) -> dict:
    import av

    from comfyui_fuse.media import stream

    if len(videos) != 1:
        return {"check": f"expected one saved video, got {len(videos)}"}
    info, original = stream.probe_video(videos[0]), stream.probe_video(source)
    with av.open(str(source)) as a, av.open(str(videos[0])) as b:
        same_audio = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size] == [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    problems = []
    if info.frame_count != original.frame_count:
        problems.append(f"{info.frame_count} of {original.frame_count} frames")
    if info.fps != original.fps:
        problems.append(f"fps {info.fps} instead of {original.fps}")
    if not same_audio:
        problems.append("audio packets changed")
    videos[0].unlink()
    return {"check": "; ".join(problems) or f"ok: {info.frame_count} frames at {info.fps}, audio packets unchanged"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=720, help="frame height: 720 (1280x720) or 1080 (1920x1080)")
    parser.add_argument("--frames", default="300,6000", help="comma-separated clip lengths")
    parser.add_argument("--detect-every", type=int, default=1)
    parser.add_argument("--window", type=int, default=81)
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"), help="a ComfyUI checkout (default: $COMFYUI_PATH)")
    parser.add_argument("--python", default=os.environ.get("COMFYUI_PYTHON") or sys.executable, help="the Python with ComfyUI's requirements")
    args = parser.parse_args()
    if not args.comfyui:
        parser.error("--comfyui (or COMFYUI_PATH) must name a ComfyUI checkout")
    harness = _load("fuse_harness", ROOT / "tests" / "integration" / "harness.py")
    stream_bench = _load("fuse_stream_bench", ROOT / "bench" / "stream_bench.py")
    height, width = {720: (720, 1280), 1080: (1080, 1920)}[args.size]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fuse-comfyui-bench-") as tmp:
        for frames in [int(value) for value in args.frames.split(",")]:
            folder = Path(tmp) / str(frames)
            folder.mkdir()
            source = folder / f"clip_{args.size}p_{frames}.mp4"
            stream_bench.write_source(str(source), frames, height, width)
            print(f"{frames} frames: running ...", file=sys.stderr, flush=True)
            rows.append((frames, run_one(harness, args.comfyui, args.python, source, folder, args)))
            source.unlink()
    print(f"\nReal ComfyUI, {args.size}p, pass-through, detect_every {args.detect_every}, window {args.window}, load average {os.getloadavg()[0]:.1f}\n")
    print("| frames | server peak after start-up | server peak after the run | time | fps | peak / first run's peak | output |")
    print("|---|---|---|---|---|---|---|")
    first = rows[0][1].get("peak_gb")
    for frames, row in rows:
        if "error" in row:
            print(f"| {frames} | {row['idle_gb']:.2f} GB | {row['peak_gb']:.2f} GB | - | - | - | failed: {row['error']} |")
            continue
        print(f"| {frames} | {row['idle_gb']:.2f} GB | {row['peak_gb']:.2f} GB | {row['seconds']:.0f} s | {frames / row['seconds']:.1f} | "
              f"{row['peak_gb'] / first:.2f} | {row['check']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
