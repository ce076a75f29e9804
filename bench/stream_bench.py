"""Long videos: peak memory and speed of the streaming VIDEO path against the IMAGE path and the floor.

    python bench/stream_bench.py [--sizes 720,1080] [--frames 300,1500,6000] [--face-size 256] [--window 81] [--detect-every 1] [--detect-size 640] [--threads 1] [--no-image]

For each size and length a synthetic video is written first (two real faces drifting over a
textured background, a 440 Hz stereo tone; H.264, preset ultrafast). Then, each in a fresh
subprocess so each peak resident set size is its own:

- fuse: the streaming pass-through pipeline, as FUSE Track Video Faces -> FUSE Process Video
  Faces run it: decode (downscaled to --detect-size, 640, for detection) -> detect every frame (OpenCV Haar,
  the zero-download detector) -> track -> crop -> unchanged -> paste -> encode (H.264 crf 18)
  -> mux the source audio by stream copy.
- floor: decode the same file and re-encode it with the same codec and settings, in the same
  segments, with the same audio copy (what any tool that writes a video pays).
- image: the IMAGE path (decode the whole file into an IMAGE batch, as LoadVideo/VHS do, then
  detect, track, crop, paste, encode in memory). It is run only when its float32 IMAGE batch
  alone fits in 60 % of this machine's memory; otherwise the row says what it would need.

Columns: peak RSS (GB), wall time, frames per second, fuse time over floor time (target: at
most 2x), and peak RSS over the 300-frame run of the same size (target: 6000 frames at most
1.25x; the whole must stay under 2 GB plus one window of crops).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

FPS = Fraction(30000, 1001)


def write_source(path: str, frames: int, height: int, width: int) -> None:
    import av

    from comfyui_fuse.media import synthetic

    loop = 60
    scene = synthetic.demo_scene(loop, (height, width))
    pictures = synthetic.render(scene)
    pictures = np.concatenate([pictures, pictures[::-1]])  # back and forth: no jump at the loop
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = 1 / FPS
        video.options = {"preset": "ultrafast", "crf": "18"}
        sound = container.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pictures[index % len(pictures)], format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = int(frames / FPS * 48000)
        for start in range(0, samples, 1024):
            t = np.arange(start, min(start + 1024, samples)) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))


def run_fuse(source: str, out: str, face_size: int, window: int, detect_every: int = 1, detect_size: int = 640) -> dict:
    from comfyui_fuse import streaming
    from comfyui_fuse.compositing.geometry import CropSpec
    from comfyui_fuse.models.face_detectors import HAAR_OPTION, load_face_detector

    detector = load_face_detector(HAAR_OPTION, None)
    tracked = streaming.track_video(source, detector, detect_size=detect_size, detect_every=detect_every)
    spec = streaming.StreamSpec(crop=CropSpec(face_size=face_size), window_frames=window)
    report = streaming.process_video(source, tracked.tracks, out, spec, resume=False)
    return {"tracks": len(tracked.tracks), "crops": report["crops"]}


def run_floor(source: str, out: str, window: int) -> dict:
    from comfyui_fuse.media import stream

    info = stream.probe_video(source)
    folder = tempfile.mkdtemp(dir=os.path.dirname(out))
    segments, writer = [], None
    for start, chunk in stream.iter_frames(source, chunk_frames=16, info=info):
        if start % window == 0 or writer is None:
            if writer is not None:
                writer.close()
            segments.append(os.path.join(folder, f"{len(segments)}.mov"))
            writer = stream.SegmentWriter(segments[-1], fps=info.fps, size=(info.width, info.height))
        writer.write(chunk)
    writer.close()
    stream.finish_video(segments, out, audio_source=source)
    return {}


def run_image(source: str, out: str, face_size: int) -> dict:
    from comfyui_fuse.media.video import frames_to_image, read_video, write_video
    from comfyui_fuse.compositing.geometry import CropSpec
    from comfyui_fuse.pipeline import run_track_pipeline

    video = read_video(source)
    frames = frames_to_image(video.frames)
    del video
    result = run_track_pipeline(frames, FPS, detector="haar (built-in, low quality)", crop=CropSpec(face_size=face_size))
    write_video(out, result.output, FPS)
    return {"tracks": len(result.tracks)}


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    extra = {"fuse": lambda: run_fuse(args.source, args.out, args.face_size, args.window, args.detect_every, args.detect_size),
             "floor": lambda: run_floor(args.source, args.out, args.window),
             "image": lambda: run_image(args.source, args.out, args.face_size)}[args.worker]()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KB -> GB
    print(json.dumps({"seconds": seconds, "peak_gb": peak, **extra}))


def measure(kind: str, source: str, folder: str, args) -> dict:
    out = os.path.join(folder, f"{kind}.mp4")
    command = [sys.executable, __file__, "--worker", kind, "--source", source, "--out", out, "--face-size", str(args.face_size), "--window", str(args.window), "--threads", str(args.threads), "--detect-every", str(args.detect_every), "--detect-size", str(args.detect_size)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["killed"])[-1][:120]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720,1080")
    parser.add_argument("--frames", default="300,1500,6000")
    parser.add_argument("--face-size", type=int, default=256)
    parser.add_argument("--window", type=int, default=81)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--detect-every", type=int, default=1, help="detect on every k-th frame (1 = every frame, the throughput target's setting)")
    parser.add_argument("--detect-size", type=int, default=640, help="longest side of the decode the Haar detector sees (it misses faces under about 20 px there)")
    parser.add_argument("--no-image", action="store_true", help="skip the IMAGE path (the slowest run; memory figures need it)")
    parser.add_argument("--worker")
    parser.add_argument("--source")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    load = os.getloadavg()
    print(f"stream_bench: face_size {args.face_size}, window {args.window}, detect_every {args.detect_every}, detect_size {args.detect_size}, torch threads {args.threads}, machine {os.cpu_count()} cores {memory_gb:.0f} GB, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    print(f"{'size':>6} {'frames':>6} | {'fuse GB':>7} {'fuse s':>7} {'fuse fps':>8} | {'floor s':>7} {'ratio':>5} | {'image GB':>8} {'image s':>7} | {'GB/300f':>7}")
    sizes = {"720": (720, 1280), "1080": (1080, 1920), "360": (360, 640)}
    for size in args.sizes.split(","):
        height, width = sizes[size]
        base = None
        for frames in (int(f) for f in args.frames.split(",")):
            with tempfile.TemporaryDirectory(prefix="fuse-stream-bench-") as folder:
                source = os.path.join(folder, "source.mp4")
                write_source(source, frames, height, width)
                fuse = measure("fuse", source, folder, args)
                floor = measure("floor", source, folder, args)
                image_gb = frames * height * width * 3 * 4 / 1e9
                if args.no_image:
                    image = {"error": "not run (--no-image)"}
                else:
                    image = measure("image", source, folder, args) if image_gb < 0.6 * memory_gb else {"error": f"needs > {image_gb:.0f} GB (the IMAGE batch alone)"}
            if "error" in fuse:
                print(f"{size:>6} {frames:>6} | fuse failed: {fuse['error']}")
                continue
            base = base or fuse["peak_gb"]
            ratio = fuse["seconds"] / floor["seconds"] if "seconds" in floor else float("nan")
            image_text = f"{image['peak_gb']:>8.2f} {image['seconds']:>7.1f}" if "peak_gb" in image else f"{image['error'][:17]:>17}"
            print(f"{size:>6} {frames:>6} | {fuse['peak_gb']:>7.2f} {fuse['seconds']:>7.1f} {frames / fuse['seconds']:>8.1f} | {floor.get('seconds', float('nan')):>7.1f} {ratio:>5.2f} | {image_text} | {fuse['peak_gb'] / base:>7.2f}", flush=True)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
