"""comfyui-fuse speakers: who speaks when in a video file; the speaker report and a timeline picture.

    comfyui-fuse speakers VIDEO --out speakers.json [--timeline timeline.png] [--audio speech.wav]
                          [--stem alice.wav --stem bob.wav] [--sync-model auto] [--threshold 0.5]

The faces are detected and tracked in one streaming pass (as `track` does), the mouths are read in
a second (one chunk of frames in memory at a time), the soundtrack comes from the video (or
--audio). Files are written atomically; the model is checked before the video is read.
"""

from __future__ import annotations

import argparse
import os

from .files import check_output_paths, check_picture_path, write_picture, write_report
from .models import models_dir
from .track import add_detector_arguments, fps_text, load_detector, positive_int, video_command_arguments


def print_speaker_summary(info, report: dict, written: list[str]) -> None:
    print(f"video: {info.frame_count} frames of {info.width}x{info.height} at {fps_text(info.fps)} fps; sync measured by {report['method']} ({report['model']})")
    for face in report["faces"]:
        stem = f", driven by {face['stem']}" if face["stem"] else ""
        print(f"{face['character_id']} (track {face['track_id']}): speaks {face['speaking_ms']} of {face['on_screen_ms']} ms on screen in {face['segments']} segments{stem}")
    unassigned = sum(span["end_ms"] - span["start_ms"] for span in report["unassigned_speech"])
    if unassigned:
        print(f"speech no face on screen speaks (off screen): {unassigned} ms")
    for note in report["notes"]:
        print(f"note: {note}")
    for path in written:
        print(f"wrote {path}")


def run_speakers(args: argparse.Namespace) -> int:
    from ..media.stream import iter_frames, probe_video
    from ..media.video import read_audio
    from ..speaker.active import SpeakerSettings
    from ..speaker.analyse import CHUNK_FRAMES, find_active_speakers
    from ..speaker.scorers import load_sync_scorer
    from ..speaker.timeline import timeline_image
    from ..streaming import track_video

    with models_dir(args):
        arguments = video_command_arguments(args, "speakers", report="speakers.json")
        if arguments is None:
            return 0
        check_picture_path("--timeline", args.timeline, (".png",))
        inputs = {"VIDEO": args.video, "--audio": args.audio, **{f"--stem {path}": path for path in args.stem}}
        check_output_paths(inputs, {"--out": args.out, "--timeline": args.timeline})
        settings = SpeakerSettings(threshold=args.threshold, window_ms=args.window_ms, min_segment_ms=args.min_segment_ms, max_gap_ms=args.max_gap_ms)
        scorer = load_sync_scorer(args.sync_model, arguments["models"])
        audio = read_audio(args.audio if args.audio else args.video)
        stems = [read_audio(path) for path in args.stem]
        info = probe_video(args.video)
        frames = min(info.frame_count, args.max_frames or info.frame_count)
        tracked = track_video(args.video, load_detector(arguments), max_frames=args.max_frames, score_threshold=args.score_threshold,
                              on_progress=args.progress.stage("track", frames))
        tracks = tracked.tracks
        chunks = iter_frames(args.video, chunk_frames=CHUNK_FRAMES, stop=tracks.frame_count)
        run = find_active_speakers(scorer, tracks, chunks, audio, stems=stems, audio_offset_ms=args.audio_offset_ms, settings=settings,
                                   on_progress=args.progress.stage("speakers", tracks.frame_count))
    written = []
    if args.timeline is not None:
        write_picture("--timeline", args.timeline, timeline_image(run.speakers))
        written.append(args.timeline)
    write_report(args.out, {**run.report, "source": {"path": os.path.abspath(args.video), "audio": os.path.abspath(args.audio) if args.audio else None, "stems": [os.path.abspath(p) for p in args.stem]}})
    written.append(args.out)
    print_speaker_summary(tracked.info, run.report, written)
    return 0


def add_speakers_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "speakers", help="find who speaks when in a video; write the speaker report and a timeline picture",
        description=(
            "Detect and track every face of VIDEO, then decide per face and frame whether it is speaking: speech is found in the "
            "audio (energy with hysteresis) and each face's mouth is compared with it over a sliding window (SyncNet, or the "
            "68-point landmark fallback). With --stem (one "
            "audio file per speaker) each stem is given to the face it belongs to. Writes the speaker report JSON "
            "(schemas/speaker_report.schema.json) and, with --timeline, a picture of who speaks when."
        ),
    )
    parser.add_argument("video", nargs="?", metavar="VIDEO", help="input video file (.mp4, .mov, .mkv, ...)")
    parser.add_argument("--out", help="the JSON report to write")
    parser.add_argument("--timeline", help="write a timeline picture of who speaks when (.png)")
    parser.add_argument("--audio", help="the soundtrack to analyse, if not the video's own (any audio or video file)")
    parser.add_argument("--stem", action="append", default=[], metavar="FILE", help="one speaker's own audio track; repeat for each speaker (the soundtrack is then not analysed)")
    parser.add_argument("--audio-offset-ms", type=int, default=0, help="video time (ms) at which the audio and the stems start (default 0)")
    parser.add_argument("--sync-model", default="auto", help='what measures sync: "auto" (SyncNet if present, else a landmarker), "syncnet/<file>" (syncnet_v2.model) or "insightface/<file>" (a 68-point landmarker such as buffalo_l/1k3d68.onnx, the weaker fallback)')
    parser.add_argument("--threshold", type=float, default=0.5, help="sync confidence (0..1) a face needs to count as speaking (default 0.5)")
    parser.add_argument("--window-ms", type=float, default=1000.0, help="sliding window sync is measured over (default 1000)")
    parser.add_argument("--min-segment-ms", type=float, default=200.0, help="shorter speaking segments are dropped (default 200)")
    parser.add_argument("--max-gap-ms", type=float, default=300.0, help="shorter pauses in one face's speech are bridged (default 300)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="read only the first N frames")
    add_detector_arguments(parser)
    parser.set_defaults(run=run_speakers)
