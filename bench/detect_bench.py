"""Detection + tracking throughput: FUSE's VIDEO path against ultralytics' model.track() (ByteTrack).

    python bench/detect_bench.py [--size 720] [--frames 300] [--repeats 3] [--threads 1] [--score 0.5] [--detect-size 640]

Both run the same YOLO weights on the same synthetic 1280x720 H.264 file (bench/stream_bench.py's
write_source: two real faces drifting over a textured background), interleaved: each repetition
runs FUSE, then ultralytics (the order alternates), each in a fresh process, so neither inherits
the other's caches or thread settings.

- weights: a random-weight YOLOv8n detector built from ultralytics' own yolov8n.yaml with one
  class {0: "face"}, saved by ultralytics (YOLO.save, as tests/models/conftest.py does) with
  imgsz 640; no download. Random weights find random boxes (He-style weights score most anchors
  near 1, so the class logits are lowered by CLASS_BIAS_SHIFT to leave a few boxes per frame, as
  on a clip of a few faces). Both sides keep the boxes scoring above the same fixed --score
  (ultralytics' conf) and suppress with the same IoU (0.5); the table shows the boxes per frame
  each kept, so the work after the network is comparable.
- fuse: streaming.track_video (decode straight to uint8, downscaled by FFmpeg to --detect-size,
  YOLO at 640 on the long side, padded to the stride, frames batched; then FUSE's tracker), shot
  detection off (ultralytics has none).
- ultralytics: YOLO(weights).track(source=file, stream=True, tracker="bytetrack.yaml",
  imgsz=640, conf=--score, iou=0.5): cv2 decode, letterbox to the stride, one frame per call,
  ByteTrack.
- threads: torch runs --threads threads on both sides (ultralytics resets torch to
  min(8, cores - 1) threads when its predictor starts; the bench sets that number to --threads).
  Decoders use their own default threads (FFmpeg's in PyAV, OpenCV's in ultralytics).
- time: the whole pass over the file after a warm-up pass on a 4-frame clip in the same
  process (model loading and first-call costs are excluded on both sides). "network ms" is the
  network's share per frame (FUSE: its forward calls timed, a batch divided by its frames;
  ultralytics: its own result.speed["inference"]); "rest" is everything else per frame
  (decoding, letterboxing, NMS, tracking).

Environment: YOLO_OFFLINE=1, YOLO_AUTOINSTALL=False and a temporary YOLO_CONFIG_DIR, so
ultralytics neither downloads nor installs anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stream_bench import write_source  # noqa: E402

IOU = 0.5  # FUSE's NMS IoU (models/detector_yolo.py); ultralytics is given the same
WARMUP_FRAMES = 4
CLASS_BIAS_SHIFT = 13.0  # random weights score most anchors near 1; this leaves a few per frame above 0.5


def build_weights(folder: str, seed: int = 0) -> str:
    """A random-weight YOLOv8n face detector saved by ultralytics as <folder>/yolov8n-face.pt."""
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    config = yaml_model_load("yolov8n.yaml")
    config.pop("yaml_file", None)
    config["nc"] = 1
    yaml_path = os.path.join(folder, "yolov8n-face.yaml")  # the name carries the scale ("n")
    with open(yaml_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    model = YOLO(yaml_path)
    generator = torch.Generator().manual_seed(seed)
    for module in model.model.modules():  # He-style weights: varied scores and box sizes (see tests/models/conftest.py)
        if isinstance(module, torch.nn.Conv2d) and module.weight.requires_grad:
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2.6 / module.weight[0].numel()) ** 0.5
    for branch in model.model.model[-1].cv3:  # class logits lowered: a few boxes per frame pass, as faces would
        branch[-1].bias.data -= CLASS_BIAS_SHIFT
    model.model.names = {0: "face"}
    model.ckpt = {"train_args": {"imgsz": 640}}
    path = os.path.join(folder, "yolov8n-face.pt")
    model.save(path)
    return path


def run_fuse(source: str, warmup: str, weights: str, score: float, detect_size: int) -> dict:
    from comfyui_fuse import streaming
    from comfyui_fuse.models.detector_yolo import load_yolo_detector

    detector = load_yolo_detector("yolo/yolov8n-face.pt", weights)
    streaming.track_video(warmup, detector, detect_size=detect_size, score_threshold=score, min_face_size=0, detect_cuts=False)
    network = [0.0]
    infer = detector._infer

    def timed_infer(blob):
        start = time.perf_counter()
        output = infer(blob)
        network[0] += time.perf_counter() - start
        return output

    detector._infer = timed_infer
    start = time.perf_counter()
    tracked = streaming.track_video(source, detector, detect_size=detect_size, score_threshold=score, min_face_size=0, detect_cuts=False)
    seconds = time.perf_counter() - start
    frames = tracked.info.frame_count
    return {"seconds": seconds, "frames": frames, "boxes": len(tracked.detections), "tracks": len(tracked.tracks), "network_ms": network[0] * 1000 / frames}


def run_ultralytics(source: str, warmup: str, weights: str, score: float, threads: int) -> dict:
    from ultralytics import YOLO
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = threads  # what select_device sets torch to when the predictor starts
    model = YOLO(weights, task="detect")
    options = {"stream": True, "tracker": "bytetrack.yaml", "imgsz": 640, "conf": score, "iou": IOU, "device": "cpu", "verbose": False}
    for _ in model.track(source=warmup, **options):
        pass
    start = time.perf_counter()
    frames = boxes = 0
    network_ms = 0.0
    ids = set()
    for result in model.track(source=source, **options):
        frames += 1
        boxes += len(result.boxes)
        network_ms += result.speed["inference"]
        if result.boxes.id is not None:
            ids.update(int(i) for i in result.boxes.id.tolist())
    seconds = time.perf_counter() - start
    import torch

    return {"seconds": seconds, "frames": frames, "boxes": boxes, "tracks": len(ids), "network_ms": network_ms / frames, "torch_threads_after": torch.get_num_threads()}


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "fuse":
        result = run_fuse(args.source, args.warmup, args.weights, args.score, args.detect_size)
    else:
        result = run_ultralytics(args.source, args.warmup, args.weights, args.score, args.threads)
    print(json.dumps({**result, "torch_threads": torch.get_num_threads()}))


def measure(kind: str, folder: str, args) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--source", os.path.join(folder, "source.mp4"), "--warmup", os.path.join(folder, "warmup.mp4"),
               "--weights", os.path.join(folder, "yolov8n-face.pt"), "--threads", str(args.threads), "--score", str(args.score), "--detect-size", str(args.detect_size)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def offline_environment(folder: str) -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(folder, "ultralytics-config"))
    os.makedirs(os.environ["YOLO_CONFIG_DIR"], exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="720", choices=("360", "720", "1080"))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--score", type=float, default=0.5, help="score threshold on both sides (ultralytics' conf)")
    parser.add_argument("--detect-size", type=int, default=640, help="FUSE decodes for detection at this long side (0 = full size)")
    for name in ("--worker", "--source", "--warmup", "--weights"):
        parser.add_argument(name)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    height, width = {"360": (360, 640), "720": (720, 1280), "1080": (1080, 1920)}[args.size]
    with tempfile.TemporaryDirectory(prefix="fuse-detect-bench-") as folder:
        offline_environment(folder)
        write_source(os.path.join(folder, "source.mp4"), args.frames, height, width)
        write_source(os.path.join(folder, "warmup.mp4"), WARMUP_FRAMES, height, width)
        build_weights(folder)
        load = os.getloadavg()
        print(f"detect_bench: {width}x{height}, {args.frames} frames, score >= {args.score}, IoU {IOU}, torch threads {args.threads}, "
              f"FUSE detect size {args.detect_size}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"{'rep':>3} {'run':>12} | {'fps':>6} {'ms/frame':>8} {'network ms':>10} {'rest ms':>7} {'threads':>7} | {'boxes/frame':>11} {'tracks':>6}")
        ratios = []
        for repeat in range(args.repeats):
            order = ("fuse", "ultralytics") if repeat % 2 == 0 else ("ultralytics", "fuse")
            results = {kind: measure(kind, folder, args) for kind in order}
            for kind in order:
                result = results[kind]
                fps = result["frames"] / result["seconds"]
                print(f"{repeat + 1:>3} {kind:>12} | {fps:>6.1f} {1000 / fps:>8.1f} {result['network_ms']:>10.1f} {1000 / fps - result['network_ms']:>7.1f} {result['torch_threads']:>7} | {result['boxes'] / result['frames']:>11.1f} {result['tracks']:>6}", flush=True)
            ratios.append(results["ultralytics"]["seconds"] / results["fuse"]["seconds"])
        load = os.getloadavg()
        print(f"FUSE / model.track() throughput: {', '.join(f'{r:.2f}x' for r in ratios)}; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
