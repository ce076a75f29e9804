"""comfyui-fuse: the command line of the host-independent pipeline.

    comfyui-fuse demo [--out DIR] [--frames N] [--detector auto]
    comfyui-fuse track VIDEO --out report.json [--preview preview.mp4] [--output out.mp4]

Each subcommand is one add_<name>_command(subparsers) function that declares its arguments and
sets `run` to a function(args) -> exit code; build_parser calls them all. User errors (bad
input, missing files) print one line on stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
from fractions import Fraction

PROG = "comfyui-fuse"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class TextProgress:
    """progress(stage, total) -> on_progress(n): a one-line counter per stage on stderr (a terminal only)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, stage: str, total: int):
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if self.enabled:
                end = "\n" if done >= total else ""
                self.stream.write(f"\r{stage:8s} {done}/{total}{end}")
                self.stream.flush()

        return advance


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text}")
    return value


@contextlib.contextmanager
def models_dir(path: str | None):
    """Read model files from `path` (FUSE_MODELS_DIR) for the duration of the block."""
    if path is None:
        yield
        return
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--models-dir {path!r} is not a folder; pass the folder that holds ultralytics/bbox and insightface")
    previous = os.environ.get("FUSE_MODELS_DIR")
    os.environ["FUSE_MODELS_DIR"] = os.path.abspath(path)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["FUSE_MODELS_DIR"]
        else:
            os.environ["FUSE_MODELS_DIR"] = previous


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run the track pipeline."""
    parser.add_argument("--detector", default="auto", help='face detector: "auto" (best model found, else the built-in Haar cascade), "haar (built-in, low quality)", or a model file option; see --list-detectors')
    parser.add_argument("--models-dir", default=None, help="folder with ultralytics/bbox and insightface model files (default: $FUSE_MODELS_DIR or ./models)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="minimum detector confidence (default 0.5)")
    parser.add_argument("--face-size", type=positive_int, default=256, help="side of the face crops in pixels (default 256)")
    parser.add_argument("--list-detectors", action="store_true", help="print the detector options found and exit")


def detector_arguments(args: argparse.Namespace) -> dict:
    """run_track_pipeline keyword arguments for the detector: option, model files, path resolver.

    The option is checked here, so a typo fails before a long video is read."""
    from .models.face_detectors import resolve_detector_option
    from .nodes import host

    arguments = {
        "detector": args.detector,
        "yolo_files": host.model_files("ultralytics_bbox"),
        "insightface_files": host.model_files("insightface"),
        "resolve_path": host.model_path,
    }
    resolve_detector_option(arguments["detector"], arguments["yolo_files"], arguments["insightface_files"])
    return arguments


def list_detectors(arguments: dict) -> int:
    from .models.face_detectors import detector_options

    for option in detector_options(arguments["yolo_files"], arguments["insightface_files"]):
        print(option)
    return 0


def write_report(path: str, report: dict) -> None:
    """Write JSON atomically: a temporary file beside `path`, renamed at the end."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def fps_text(fps: Fraction) -> str:
    """'25' or '30000/1001 (29.970)': the exact rate and, when fractional, its decimal value."""
    return str(fps) if fps.denominator == 1 else f"{fps} ({float(fps):.3f})"


def print_summary(result, arguments: dict, written: list[str]) -> None:
    """What the pipeline found and proved, for a person reading the terminal."""
    from .models.face_detectors import AUTO_OPTION, HAAR_OPTION

    report = result.report
    video = report["video"]
    print(f"video: {video['frame_count']} frames of {video['width']}x{video['height']} at {fps_text(Fraction(video['fps']))} fps")
    detector = report["detector"]
    if arguments["detector"] == AUTO_OPTION and detector == HAAR_OPTION:
        print(f"detector: {detector} -- auto found no YOLO or InsightFace model, so it fell back to OpenCV's built-in Haar cascade; "
              "put a face model in models/ultralytics/bbox or pass --models-dir for better detection")
    else:
        print(f"detector: {detector}")
    ids = ", ".join(str(int(track_id)) for track_id in result.tracks.track_id) or "none"
    print(f"faces: {report['detections']['count']} detections on {report['detections']['frames_with_faces']} frames, {len(result.tracks)} tracks (ids {ids})")
    if "round_trip" in report:
        check = report["round_trip"]
        print(f"crop -> paste round trip: max abs difference outside faces = {check['max_abs_diff_outside_faces']:g}/255, inside faces = {check['max_abs_diff_inside_faces']:g}/255")
    for path in written:
        print(f"wrote {path}")


def check_video_path(option: str, path: str | None) -> None:
    from .video_io import VIDEO_EXTENSIONS

    if path is not None and os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"{option} must end in one of {', '.join(VIDEO_EXTENSIONS)}, but got {path!r}")


def run_demo(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("skimage") is None:
        raise ValueError("the demo renders faces from scikit-image's sample photos, but scikit-image is not installed; pip install scikit-image")
    from .pipeline import run_track_pipeline
    from .synthetic import demo_scene, render
    from .video_io import frames_to_image, write_video

    with models_dir(args.models_dir):
        arguments = detector_arguments(args)
        if args.list_detectors:
            return list_detectors(arguments)
        progress = TextProgress()
        scene = demo_scene(frame_count=args.frames)
        frames = render(scene)
        paths = {name: os.path.join(args.out, f"demo_{name}") for name in ("input.mp4", "output.mp4", "preview.mp4", "report.json")}
        write_video(paths["input.mp4"], frames, scene.fps, on_progress=progress("write", len(frames)))
        result = run_track_pipeline(frames_to_image(frames), scene.fps, score_threshold=args.score_threshold, face_size=args.face_size, progress=progress, **arguments)
    write_video(paths["output.mp4"], result.output, scene.fps, on_progress=progress("write", len(frames)))
    write_video(paths["preview.mp4"], result.preview, scene.fps, on_progress=progress("write", len(frames)))
    write_report(paths["report.json"], {**result.report, "demo": {"faces_in_scene": len(scene.boxes), "frame_size": list(scene.frame_size)}})
    print_summary(result, arguments, list(paths.values()))
    return 0


def add_demo_command(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="render a sample clip of real face photos and run detect -> track -> crop -> paste on it", description="Render a short clip of two people (faces from scikit-image's sample photos), run the pipeline with identity processing and write DIR/demo_input.mp4, demo_output.mp4, demo_preview.mp4 and demo_report.json.")
    parser.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    parser.add_argument("--frames", type=positive_int, default=48, help="number of frames to render (default 48)")
    add_pipeline_arguments(parser)
    parser.set_defaults(run=run_demo)


def run_track(args: argparse.Namespace) -> int:
    from .pipeline import run_track_pipeline
    from .video_io import frames_to_image, read_video, write_video

    with models_dir(args.models_dir):
        arguments = detector_arguments(args)
        if args.list_detectors:
            return list_detectors(arguments)
        if args.video is None:
            raise ValueError("VIDEO must name the video file to track, e.g. comfyui-fuse track clip.mp4 --out report.json")
        if args.out is None:
            raise ValueError("--out must name the JSON report to write, e.g. --out report.json")
        check_video_path("--preview", args.preview)
        check_video_path("--output", args.output)
        progress = TextProgress()
        video = read_video(args.video, max_frames=args.max_frames)
        result = run_track_pipeline(frames_to_image(video.frames), video.fps, score_threshold=args.score_threshold, face_size=args.face_size, composite=args.output is not None, progress=progress, **arguments)
    written = []
    if args.output is not None:
        write_video(args.output, result.output, video.fps, video.audio, on_progress=progress("write", video.frame_count))
        written.append(args.output)
    if args.preview is not None:
        write_video(args.preview, result.preview, video.fps, video.audio, on_progress=progress("write", video.frame_count))
        written.append(args.preview)
    write_report(args.out, {**result.report, "source": {"path": os.path.abspath(args.video), "audio": video.audio is not None}})
    written.append(args.out)
    print_summary(result, arguments, written)
    return 0


def add_track_command(subparsers) -> None:
    parser = subparsers.add_parser("track", help="detect and track the faces of a video; write a JSON report, a preview and the pasted-back output", description="Detect and track every face of VIDEO. Writes the tracks as JSON (--out), optionally a preview with boxes and ids (--preview) and the video with every face cropped and pasted back unprocessed (--output), which proves the round trip. Audio is carried through.")
    parser.add_argument("video", nargs="?", metavar="VIDEO", help="input video file (.mp4, .mov, .mkv, ...)")
    parser.add_argument("--out", help="the JSON report to write")
    parser.add_argument("--preview", help="write a preview video with boxes, track ids and states drawn (.mp4/.mov/.mkv)")
    parser.add_argument("--output", help="write the video after crop -> identity -> paste (.mp4/.mov/.mkv)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="read only the first N frames")
    add_pipeline_arguments(parser)
    parser.set_defaults(run=run_track)


# One function per subcommand; a new command is one more entry here.
COMMANDS = (add_demo_command, add_track_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="ComfyUI-FUSE on the command line: temporal face tracking and compositing without ComfyUI.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the pipeline does")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # bad input, missing or unwritable files: the user can fix these
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
