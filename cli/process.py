"""comfyui-fuse restore | lipsync: process every face of a video file with a model, streaming.

    comfyui-fuse restore VIDEO --model GFPGANv1.4.pth --output out.mp4 [--window 81] [--overlap 8]
    comfyui-fuse lipsync VIDEO --audio speech.wav --model wav2lip_gan.pth --output out.mp4

The video stays in its file: faces are tracked in one decoding pass, then cut, processed,
pasted and encoded a window of frames at a time (streaming.py), so memory does not grow with
the video's length. The output keeps the source's audio (restore) or carries the new speech
(lipsync), and its exact frame rate; it appears under its name only when complete, and running
the same command again after an interruption resumes after the last finished window.
"""

from __future__ import annotations

import argparse
import os

from .models import add_models_dir_arguments, models_dir
from .files import check_output_paths, check_video_path
from .track import detector_arguments, finite_float, load_detector, positive_int


def add_processing_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("video", metavar="VIDEO", help="input video file (.mp4, .mov, .mkv, ...)")
    parser.add_argument("--output", required=True, help="the video to write (.mp4/.mov/.mkv)")
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--detector", default="auto", help='face detector: "auto" (best model found, else the built-in Haar cascade) or a model file option')
    add_models_dir_arguments(parser)
    parser.add_argument("--score-threshold", type=finite_float, default=0.5, help="minimum detector confidence (default 0.5)")
    parser.add_argument("--detect-size", type=int, default=960, help="longest side of the frames the detector sees (default 960; 0 = full size)")
    parser.add_argument("--face-size", type=positive_int, default=512, help="side of the face crops in pixels (default 512)")
    parser.add_argument("--window", type=positive_int, default=81, help="frames processed at a time (default 81); memory grows with it, not with the video")
    parser.add_argument("--overlap", type=int, default=8, help="frames consecutive windows share and cross-fade (default 8)")
    parser.add_argument("--codec", default="h264", choices=("h264", "h264_lossless"), help="output codec (default h264; h264_lossless keeps every pixel outside the faces)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="process only the first N frames")


def run_processing(args: argparse.Namespace, processor, job_key: dict, audio_source: str | None) -> int:
    from ..compositing.geometry import CropSpec
    from ..streaming import StreamSpec, process_video, probe_limited, track_video

    check_video_path("--output", args.output)
    check_output_paths({"VIDEO": args.video, "--audio": getattr(args, "audio", None)}, {"--output": args.output})
    progress = args.progress.stage
    with models_dir(args):
        detector = load_detector(detector_arguments(args))
    info = probe_limited(args.video, args.max_frames)
    tracked = track_video(args.video, detector, max_frames=args.max_frames, score_threshold=args.score_threshold, detect_size=args.detect_size,
                          on_progress=progress("detect+track", info.frame_count))
    for note in tracked.decode.warnings(os.path.basename(args.video)):
        print(f"note: {note}")
    spec = StreamSpec(crop=CropSpec(face_size=args.face_size), window_frames=args.window, overlap_frames=args.overlap, codec=args.codec)
    report = process_video(
        args.video, tracked.tracks, args.output, spec, process_crops=processor, max_frames=args.max_frames, job_key=job_key,
        audio_source=audio_source, on_progress=progress("process", info.frame_count),
    )
    if report["resumed_windows"]:
        print(f"resumed: {report['resumed_windows']} of {report['windows']} windows were already done")
    print(f"faces: {len(tracked.tracks)} tracks, {report['crops']} crops in {report['windows']} windows")
    print(f"wrote {args.output}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from ..models.restorers import load_face_restorer
    from ..nodes import host
    from ..restoration.restore import restore_face_sequences

    with models_dir(args):
        restorer = load_face_restorer(args.model, host.model_store())

    def restore(crops, plan, **_):
        return restore_face_sequences(restorer, crops, plan, fidelity=args.fidelity, strength=args.strength, temporal_smoothing=args.temporal_smoothing, device=host.torch_device())

    key = {"restore": args.model, "fidelity": args.fidelity, "strength": args.strength, "temporal_smoothing": args.temporal_smoothing}
    return run_processing(args, restore, key, audio_source=None)


def add_restore_command(subparsers) -> None:
    parser = subparsers.add_parser("restore", help="restore every face of a video with a face restoration model, in flat memory", description="Track every face of VIDEO, restore it with a face restorer (GFPGAN, CodeFormer, RestoreFormer) a window at a time and write --output with the source's audio and exact fps. Rerun after an interruption to resume.")
    add_processing_arguments(parser, "a restorer file in models/facerestore_models (e.g. GFPGANv1.4.pth)")
    parser.add_argument("--fidelity", type=finite_float, default=0.5, help="CodeFormer fidelity 0..1 (default 0.5)")
    parser.add_argument("--strength", type=finite_float, default=1.0, help="blend of the restored face over the original 0..1 (default 1)")
    parser.add_argument("--temporal-smoothing", type=finite_float, default=0.5, help="how much restoration detail is smoothed over time 0..1 (default 0.5)")
    parser.set_defaults(run=run_restore)


def run_lipsync(args: argparse.Namespace) -> int:
    from fractions import Fraction

    from ..analysis.syncability import SyncRules
    from ..lipsync.backends import load_lipsync_model
    from ..lipsync.pipeline import LipsyncSpec, lipsync_crops
    from ..media.video import read_audio
    from ..nodes import host

    audio = read_audio(args.audio)
    with models_dir(args):
        model = load_lipsync_model(host.model_path("lipsync", args.model), device=host.torch_device())

    def lipsync(crops, plan, *, frame_offset=0, tracks=None, **_):
        start = int(round(Fraction(frame_offset) / plan.fps * audio["sample_rate"]))
        window_audio = {"waveform": audio["waveform"][..., start:], "sample_rate": audio["sample_rate"]}
        result = lipsync_crops(crops, plan, window_audio, model, LipsyncSpec(audio_policy="pad_silence", rules=SyncRules()), tracks=tracks, device=host.torch_device())
        return result.crops, result.edit_mask

    return run_processing(args, lipsync, {"lipsync": args.model, "audio": os.path.abspath(args.audio)}, audio_source=args.audio)


def add_lipsync_command(subparsers) -> None:
    parser = subparsers.add_parser("lipsync", help="lipsync every face of a video to an audio file with Wav2Lip, in flat memory", description="Track every face of VIDEO, sync its mouth to --audio with a Wav2Lip checkpoint a window at a time (each window gets its own stretch of the audio, cut at the exact sample) and write --output carrying that audio. Rerun after an interruption to resume.")
    add_processing_arguments(parser, "a Wav2Lip checkpoint in models/lipsync (wav2lip.pth or wav2lip_gan.pth)")
    parser.add_argument("--audio", required=True, help="the speech: any audio or video file with an audio stream")
    parser.set_defaults(run=run_lipsync, overlap=0)
