"""comfyui-fuse demo | track | detect: the host-independent pipeline on a video file.

    comfyui-fuse demo [--out DIR] [--frames N] [--detector auto]
    comfyui-fuse track VIDEO --out report.json [--preview preview.mp4] [--output out.mp4]
    comfyui-fuse detect VIDEO --out report.json [--refs characters.json] [--sample-fps 3]

Files are written atomically (a temporary name, renamed at the end), so an error never leaves a
half-written report or video; the audio track and the exact fps are carried through.
"""

from __future__ import annotations

import argparse
import math
import os
from fractions import Fraction

from .files import check_output_paths, check_video_path, read_json, require_video_and_out, write_report
from .models import add_models_dir_arguments, models_dir


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text}")
    return value


def finite_float(text: str) -> float:
    """A number option: float() also reads "nan" and "inf", which no threshold means."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, but got {text}")
    return value


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """The face detector options of the commands that detect faces (with the models folder)."""
    parser.add_argument("--detector", default="auto", help='face detector: "auto" (best model found, else the built-in Haar cascade), "haar (built-in, low quality)", or a model file option; see --list-detectors')
    add_models_dir_arguments(parser)
    parser.add_argument("--score-threshold", type=finite_float, default=0.5, help="minimum detector confidence (default 0.5)")
    parser.add_argument("--list-detectors", action="store_true", help="print the detector options found and exit")


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run the track pipeline."""
    add_detector_arguments(parser)
    parser.add_argument("--face-size", type=positive_int, default=256, help="side of the face crops in pixels (default 256)")
    add_cut_arguments(parser)


def add_cut_arguments(parser: argparse.ArgumentParser) -> None:
    """Shot boundary options: nothing is tracked, smoothed, cropped or blended across a cut."""
    parser.add_argument("--cuts", default="", help='change the cuts found: "120,+348" adds, "-200" removes the one found at 200, "=120,348" gives them exactly, "none" = one shot (frames from 0)')
    parser.add_argument("--no-cut-detection", action="store_true", help="do not look for shot boundaries (the clip is one shot unless --cuts gives some)")


def cut_arguments(args: argparse.Namespace) -> dict:
    """Keyword arguments for shots (detect_cuts, cuts); a malformed cut list fails before any work."""
    from ..tracking.cuts import parse_cut_override

    parse_cut_override(args.cuts)
    return {"detect_cuts": not args.no_cut_detection, "cuts": args.cuts}


def detector_arguments(args: argparse.Namespace) -> dict:
    """run_track_pipeline keyword arguments for the detector: the option and the model folders.

    The option is checked here, so a typo fails before a long video is read."""
    from ..models.face_detectors import resolve_detector_option
    from ..models.store import check_model_name
    from ..nodes import host

    arguments = {"detector": args.detector, "models": host.model_store()}
    backend, file = resolve_detector_option(arguments["detector"], arguments["models"])
    if file is not None:
        check_model_name(backend.folder, file)
    return arguments


def list_detectors(arguments: dict) -> int:
    from ..models.face_detectors import detector_options

    for option in detector_options(arguments["models"]):
        print(option)
    return 0


def video_command_arguments(args: argparse.Namespace, command: str, purpose: str = "", report: str = "report.json") -> dict | None:
    """The detector arguments of a command that reads VIDEO and writes the --out report, after
    checking both are given; None when --list-detectors printed the options instead (all done)."""
    arguments = detector_arguments(args)
    if args.list_detectors:
        list_detectors(arguments)
        return None
    require_video_and_out(args, command, purpose, report)
    return arguments


def fps_text(fps: Fraction) -> str:
    """'25' or '30000/1001 (29.970)': the exact rate and, when fractional, its decimal value."""
    return str(fps) if fps.denominator == 1 else f"{fps} ({float(fps):.3f})"


def print_summary(report: dict, tracks, arguments: dict, written: list[str]) -> None:
    """What the pipeline found and proved, for a person reading the terminal."""
    from ..models.face_detectors import AUTO_OPTION, HAAR_OPTION

    video = report["video"]
    print(f"video: {video['frame_count']} frames of {video['width']}x{video['height']} at {fps_text(Fraction(video['fps']))} fps")
    detector = report["detector"]
    if arguments["detector"] == AUTO_OPTION and detector == HAAR_OPTION:
        print(f"detector: {detector} -- auto found no YOLO or InsightFace model, so it fell back to OpenCV's built-in Haar cascade; "
              "put a face model in models/ultralytics/bbox or pass --models-dir for better detection")
    else:
        print(f"detector: {detector}")
    ids = ", ".join(str(int(track_id)) for track_id in tracks.track_id) or "none"
    print(f"faces: {report['detections']['count']} detections on {report['detections']['frames_with_faces']} frames, {len(tracks)} tracks (ids {ids})")
    for note in report.get("decode_warnings", []):
        print(f"note: {note}")
    if "round_trip" in report:
        check = report["round_trip"]
        print(f"crop -> paste round trip: max abs difference outside faces = {check['max_abs_diff_outside_faces']:g}/255, inside faces = {check['max_abs_diff_inside_faces']:g}/255")
    for path in written:
        print(f"wrote {path}")


def load_detector(arguments: dict):
    from ..models.face_detectors import load_face_detector

    return load_face_detector(arguments["detector"], arguments["models"])


def write_rendered(path: str, scene, progress) -> None:
    """Render the scene into a video file a chunk at a time (memory: one chunk)."""
    from ..media.stream import SegmentWriter, finish_video
    from ..media.synthetic import render

    segment = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.render.mov")
    on_progress = progress("write", scene.frame_count)
    try:
        with SegmentWriter(segment, fps=scene.fps, size=scene.frame_size[::-1]) as writer:
            for start in range(0, scene.frame_count, 32):
                frames = render(scene, start, start + 32)
                writer.write(frames)
                on_progress(len(frames))
        finish_video([segment], path)
    finally:
        if os.path.exists(segment):
            os.remove(segment)


def run_demo(args: argparse.Namespace) -> int:
    from ..media.synthetic import demo_scene, missing_photo_packages

    missing = missing_photo_packages()
    if missing:
        raise ValueError(f"the demo renders faces from the sample photos of scikit-image and matplotlib, but {' and '.join(missing)} is not installed; pip install {' '.join(missing)}")
    from ..streaming import track_file

    with models_dir(args):
        arguments = detector_arguments(args)
        if args.list_detectors:
            return list_detectors(arguments)
        progress = args.progress.stage
        scene = demo_scene(frame_count=args.frames)
        paths = {name: os.path.join(args.out, f"demo_{name}") for name in ("input.mp4", "output.mp4", "preview.mp4", "report.json")}
        os.makedirs(args.out, exist_ok=True)
        write_rendered(paths["input.mp4"], scene, progress)
        tracked, report = track_file(paths["input.mp4"], load_detector(arguments), output=paths["output.mp4"], preview=paths["preview.mp4"],
                                     score_threshold=args.score_threshold, face_size=args.face_size, stage=progress, **cut_arguments(args))
    write_report(paths["report.json"], {**report, "demo": {"faces_in_scene": len(scene.boxes), "frame_size": list(scene.frame_size)}})
    print_summary(report, tracked.tracks, arguments, list(paths.values()))
    return 0


def add_demo_command(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="render a sample clip of real face photos and run detect -> track -> crop -> paste on it", description="Render a short clip of two people (public-domain portraits shipped with scikit-image and matplotlib), run the pipeline with identity processing and write DIR/demo_input.mp4, demo_output.mp4, demo_preview.mp4 and demo_report.json.")
    parser.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    parser.add_argument("--frames", type=positive_int, default=48, help="number of frames to render (default 48)")
    add_pipeline_arguments(parser)
    parser.set_defaults(run=run_demo)


def run_track(args: argparse.Namespace) -> int:
    from ..streaming import track_file

    with models_dir(args):
        arguments = video_command_arguments(args, "track", " to track")
        if arguments is None:
            return 0
        check_video_path("--preview", args.preview)
        check_video_path("--output", args.output)
        check_output_paths({"VIDEO": args.video}, {"--out": args.out, "--preview": args.preview, "--output": args.output})
        shots = cut_arguments(args)
        tracked, report = track_file(args.video, load_detector(arguments), output=args.output, preview=args.preview, max_frames=args.max_frames,
                                     score_threshold=args.score_threshold, face_size=args.face_size, stage=args.progress.stage, **shots)
    written = [path for path in (args.output, args.preview) if path is not None]
    write_report(args.out, {**report, "source": {"path": os.path.abspath(args.video), "audio": tracked.info.has_audio}})
    written.append(args.out)
    print_summary(report, tracked.tracks, arguments, written)
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


def read_references(path: str) -> tuple[list, list[str]]:
    """characters.json {"alice": ["a1.jpg", ...], ...} -> (RGB uint8 images, the name of each).

    Image paths are relative to the JSON file's folder; 1 to 15 images per character."""
    import cv2

    characters = read_json("--refs", path, 'JSON such as {"alice": ["alice1.jpg"]}')
    if not isinstance(characters, dict) or not characters:
        raise ValueError(f"--refs {path!r} must map each character name to a list of 1 to 15 image files, e.g. {{\"alice\": [\"alice1.jpg\"]}}")
    folder = os.path.dirname(os.path.abspath(path))
    images, names = [], []
    for name, files in characters.items():
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not 1 <= len(files) <= 15 or not all(isinstance(f, str) for f in files):
            raise ValueError(f"--refs entry {name!r} must be a list of 1 to 15 image files, but got {files!r}")
        for file in files:
            image_path = os.path.join(folder, file)
            if not os.path.isfile(image_path):
                raise FileNotFoundError(f"reference image {image_path!r} of {name!r} does not exist; paths in --refs are relative to {folder}")
            image = cv2.imread(image_path, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"reference image {image_path!r} of {name!r} could not be read as an image (jpg, png, webp, ...)")
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            names.append(name)
    return images, names


def load_analysis_models(args: argparse.Namespace, arguments: dict) -> tuple:
    """(reference images, their character names, face embedder, 3D landmarker) for detect."""
    from ..models.face_embedders import load_face_embedder
    from ..models.face_landmarks import load_face_landmarker

    images, names = read_references(args.refs) if args.refs else ([], [])
    embedder = load_face_embedder(args.embedder, arguments["models"])
    if images and embedder is None:
        raise ValueError("--refs needs a face embedder: put InsightFace's buffalo_l/w600k_r50.onnx in models/insightface (comfyui-fuse models download) or name one with --embedder")
    landmarker = load_face_landmarker(args.landmarks_3d, arguments["models"])
    return images, names, embedder, landmarker


def analyse_video(args: argparse.Namespace, arguments: dict, images, names, embedder, landmarker) -> tuple:
    """Detect, track and analyse args.video in bounded memory, timing each stage -> (video info,
    detector, analysis). Detection and tracking stream the file in one pass (streaming.track_video);
    the analysis reads it again front to back, holding one chunk of frames (media.stream.ForwardFrames)."""
    from ..analysis.analyze import AnalysisSpec, analyze_faces
    from ..analysis.syncability import SyncRules
    from ..media.stream import ForwardFrames
    from ..models.face_detectors import load_face_detector
    from ..streaming import probe_limited, track_video

    spec = AnalysisSpec(
        sample_fps=args.sample_fps, similarity_threshold=args.similarity_threshold, merge_identities=not args.no_merge,
        rules=SyncRules(max_yaw_deg=args.max_yaw, min_face_px=args.min_face_px, min_confidence=args.min_confidence),
    )
    shots = cut_arguments(args)
    progress = args.progress.stage
    info = probe_limited(args.video, args.max_frames)
    detector = load_face_detector(arguments["detector"], arguments["models"])
    tracked = track_video(args.video, detector, max_frames=args.max_frames, score_threshold=args.score_threshold, detect_every=args.detect_every, detect_size=args.detect_size,
                          detect_cuts=shots["detect_cuts"], track_options={"cuts": shots["cuts"]}, on_progress=progress("detect+track", info.frame_count))
    for note in tracked.decode.warnings(os.path.basename(args.video)):
        print(f"note: {note}")
    analysis = analyze_faces(
        ForwardFrames(args.video, tracked.info), tracked.tracks, spec, embedder=embedder, landmarker=landmarker, reference_images=images, reference_names=names,
        reference_detector=detector, timing_ms=dict(tracked.timing_ms), on_progress=progress("analyze", info.frame_count),
    )
    return tracked.info, detector, analysis


def print_detect_summary(video, detector, report: dict, path: str) -> None:
    print(f"video: {video.frame_count} frames of {video.frame_size[1]}x{video.frame_size[0]} at {fps_text(video.fps)} fps; {len(report['frames'])} analysed at {report['sample_fps']:g} fps")
    print(f"detector: {detector.name}; embedder: {report['settings']['embedder'] or 'none'}; head pose: {report['settings']['head_pose_source'] or 'unknown (no landmarks)'}")
    for face in report["faces"]["results"] + report["faces"]["unknown_faces"]:
        summary = face["summary"]
        print(f"{face['character_id']} (track {face['track_id']}): synced {summary['synced_ms']} of {summary['total_ms']} ms in {len(face['segments'])} segments")
    missing = [reference["character_id"] for reference in report["references"] if not reference["detected"]]
    if missing:
        print(f"not found: {', '.join(missing)}")
    print(f"wrote {path}")


def run_detect(args: argparse.Namespace) -> int:
    with models_dir(args):
        arguments = video_command_arguments(args, "detect", " to analyse")
        if arguments is None:
            return 0
        check_output_paths({"VIDEO": args.video, "--refs": args.refs}, {"--out": args.out})
        models = load_analysis_models(args, arguments)
        video, detector, analysis = analyse_video(args, arguments, *models)
    write_report(args.out, {**analysis.report, "detector": detector.name, "source": {"path": os.path.abspath(args.video)}})
    print_detect_summary(video, detector, analysis.report, args.out)
    return 0


def add_detect_command(subparsers) -> None:
    parser = subparsers.add_parser("detect", help="analyse the faces of a video: characters, head pose, syncability, quality; write the detection report", description="Detect, track and analyse every face of VIDEO: which character each is (reference headshots from --refs, compared by InsightFace ArcFace embeddings), head pose, syncability (profile, too small, low confidence) and quality, sampled at --sample-fps. Writes the detection report JSON (schemas/detection_report.schema.json).")
    parser.add_argument("video", nargs="?", metavar="VIDEO", help="input video file (.mp4, .mov, .mkv, ...)")
    parser.add_argument("--out", help="the JSON report to write")
    parser.add_argument("--refs", default=None, help='characters JSON {"alice": ["alice1.jpg", ...], ...} (1 to 15 headshots each, paths relative to the file); without it faces are named face_1, face_2, ...')
    parser.add_argument("--sample-fps", type=finite_float, default=3.0, help="frames analysed per second (default 3; 0 = every frame)")
    parser.add_argument("--similarity-threshold", type=finite_float, default=0.5, help="cosine similarity to match a reference character (default 0.5)")
    parser.add_argument("--no-merge", action="store_true", help="keep each track apart instead of one track per person")
    parser.add_argument("--embedder", default="auto", help='face recogniser: "auto" (the first ArcFace file in models/insightface), "none", or "insightface/<file>"')
    parser.add_argument("--landmarks-3d", default="auto", help='head pose from InsightFace 1k3d68: "auto" (when the file is there), "none" (the detector\'s five landmarks), or "insightface/<file>"')
    parser.add_argument("--max-yaw", type=finite_float, default=45.0, help="faces turned further (degrees) are not syncable (default 45)")
    parser.add_argument("--min-face-px", type=finite_float, default=64.0, help="faces narrower (px) are not syncable (default 64)")
    parser.add_argument("--min-confidence", type=finite_float, default=0.5, help="faces detected less surely are not syncable (default 0.5)")
    parser.add_argument("--detect-every", type=positive_int, default=1, help="run the detector on every k-th frame; tracking fills the rest (default 1)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="read only the first N frames")
    parser.add_argument("--detect-size", type=int, default=960, help="longest side of the frames the detector sees (default 960; 0 = full size)")
    add_detector_arguments(parser)
    add_cut_arguments(parser)
    parser.set_defaults(run=run_detect)


