"""comfyui-fuse qc: the quality check of a processed video against its original.

    comfyui-fuse qc ORIGINAL PROCESSED --out report.json [--tracks tracks.json] [--plot plot.png]
                    [--fallback result.mp4] [--audio FILE] [--syncnet auto] [--embedder auto] [thresholds]

Both videos are read a chunk at a time. The tracks come from --tracks (the JSON `comfyui-fuse
track --out` writes, or FUSE Tracks To JSON's) or are made here from ORIGINAL. The audio is
--audio's, else PROCESSED's own. The exit code is 0 whether or not segments fail: the report
says which did (its summary is printed).
"""

from __future__ import annotations

import argparse

from .models import add_models_dir_arguments, models_dir
from .files import check_output_paths, check_picture_path, check_video_path, read_json, require_out, write_picture, write_report
from .track import detector_arguments, finite_float, load_detector


def read_tracks(path: str):
    """FaceTracks from a tracks JSON: `comfyui-fuse track`'s report (its "tracks") or a bare tracks dict."""
    from ..tracking.report import tracks_from_dict

    data = read_json("--tracks", path, "JSON written by comfyui-fuse track --out (or FUSE Tracks To JSON)")
    if isinstance(data, dict) and isinstance(data.get("tracks"), dict):
        data = data["tracks"]
    if not isinstance(data, dict) or "tracks" not in data:
        raise ValueError(f"--tracks {path!r} must hold tracks (keys fps, frame_count, frame_size, tracks), as comfyui-fuse track --out writes them")
    return tracks_from_dict(data)


def run_qc(args: argparse.Namespace) -> int:
    from ..lipsync.syncnet import MODEL_FOLDER
    from ..media.video import read_audio
    from ..models.face_embedders import load_face_embedder
    from ..nodes import host
    from ..quality.check import QualityOptions, Thresholds
    from ..quality.fallback import write_fallback_video
    from ..quality.frames import VideoFrames
    from ..quality.plot import plot_quality
    from ..quality.report import build_report, summary_lines
    from ..quality.run import load_syncnet_choice, run_check

    require_out(args, "qc.json")
    check_video_path("--fallback", args.fallback)
    check_picture_path("--plot", args.plot)
    check_output_paths({"ORIGINAL": args.original, "PROCESSED": args.processed, "--tracks": args.tracks, "--audio": args.audio},
                       {"--out": args.out, "--plot": args.plot, "--fallback": args.fallback})
    options = QualityOptions(
        Thresholds(args.min_lse_c, args.max_av_offset, args.min_identity, args.max_flicker, args.max_jitter, args.max_seam),
        args.segment_seconds, args.face_margin, args.shot_cuts,
    )
    with models_dir(args):
        original, processed = VideoFrames(args.original), VideoFrames(args.processed)
        if args.tracks is not None:
            tracks = read_tracks(args.tracks)
        else:
            from ..streaming import track_video

            arguments = detector_arguments(args)
            tracks = track_video(args.original, load_detector(arguments), score_threshold=args.score_threshold,
                                 on_progress=args.progress.stage("track", original.frame_count)).tracks
        net, note = load_syncnet_choice(args.syncnet, host.model_files(MODEL_FOLDER), host.model_path)
        embedder = load_face_embedder(args.embedder, host.model_store())
        audio = read_audio(args.audio) if args.audio is not None else (read_audio(processed.path) if processed.info.has_audio else None)
        result, weights = run_check(original, processed, tracks, options=options, audio=audio, syncnet=net, syncnet_note=note, embedder=embedder,
                                    identity_note="identity turned off (--embedder none)" if args.embedder == "none" else "",
                                    fallback=args.fallback is not None, fade_frames=args.fade_frames,
                                    on_progress=args.progress.stage("check", original.frame_count))
    written = []
    if args.fallback is not None:
        if weights is None:
            print(f"no segment failed: {args.fallback} is not written (the processed video stands as it is)")
        else:
            write_fallback_video(original, processed, tracks, weights, options.face_margin, args.fallback, codec=args.codec,
                                 audio_source=processed.path if processed.info.has_audio else None,
                                 on_progress=args.progress.stage("fallback", original.frame_count))
            written.append(args.fallback)
    if args.plot is not None:
        write_picture("--plot", args.plot, plot_quality(result))
        written.append(args.plot)
    report = build_report(result, fallback={"applied": weights is not None, "fade_frames": args.fade_frames} if args.fallback is not None else None)
    write_report(args.out, report)
    written.append(args.out)
    for line in summary_lines(report):
        print(line)
    for path in written:
        print(f"wrote {path}")
    return 0


def add_qc_command(subparsers) -> None:
    from ..quality.check import QualityOptions, Thresholds

    defaults, option_defaults = Thresholds(), QualityOptions()
    parser = subparsers.add_parser(
        "qc", help="check a processed video against its original: lip sync, identity, flicker, jitter, seams; put failing faces back",
        description=(
            "Measure every face of PROCESSED against ORIGINAL, segment by segment (never across a shot cut): lip sync (SyncNet "
            "LSE-D / LSE-C and audio-video offset; needs audio and models/syncnet/syncnet_v2.model), identity drift (ArcFace), "
            "temporal flicker (flow-warping error), crop jitter, seam visibility and change outside the faces. Writes the JSON "
            "report (schemas/quality_report.schema.json), optionally a plot and a video with the original face put back where "
            "a segment failed. docs/quality.md explains every figure."
        ),
    )
    parser.add_argument("original", metavar="ORIGINAL", help="the video before processing")
    parser.add_argument("processed", metavar="PROCESSED", help="the same video after processing (same frame count and size)")
    parser.add_argument("--out", help="the JSON report to write")
    parser.add_argument("--tracks", default=None, help="tracks of ORIGINAL: the JSON comfyui-fuse track --out writes (default: track ORIGINAL here)")
    parser.add_argument("--plot", default=None, help="write the plot of every face's figures over time (.png or .jpg)")
    parser.add_argument("--fallback", default=None, help="write PROCESSED with the original face put back in failing segments (.mp4/.mov/.mkv); only when a segment fails")
    parser.add_argument("--codec", default="h264", choices=["h264", "h264_lossless"], help="codec of the --fallback video (default h264)")
    parser.add_argument("--fade-frames", type=int, default=4, help="frames of cross-fade where a put-back face meets a passing segment (default 4)")
    parser.add_argument("--audio", default=None, help="the audio the faces should speak (any file with an audio stream; default: PROCESSED's own audio)")
    parser.add_argument("--syncnet", default="auto", help='SyncNet for lip sync: "auto" (the first file in models/syncnet), "none", or a file name in models/syncnet')
    parser.add_argument("--embedder", default="auto", help='ArcFace for identity: "auto" (the first in models/insightface), "none", or "insightface/<file>"')
    parser.add_argument("--segment-seconds", type=finite_float, default=option_defaults.segment_seconds, help=f"length of the segments faces are judged in (default {option_defaults.segment_seconds:g})")
    parser.add_argument("--face-margin", type=finite_float, default=option_defaults.face_margin, help=f"the face region: the box grown by this fraction of its size on every side (default {option_defaults.face_margin:g})")
    parser.add_argument("--shot-cuts", default="", help='frames that start a new shot: "" (the tracks\', else detected), "none", or "120, 348"')
    parser.add_argument("--min-lse-c", type=finite_float, default=defaults.min_lse_c, help=f"fail a segment whose LSE-C is below this; 0 = off (default {defaults.min_lse_c:g})")
    parser.add_argument("--max-av-offset", type=int, default=defaults.max_av_offset, help=f"fail a segment whose audio-video offset exceeds this many 25 fps frames; -1 = off (default {defaults.max_av_offset})")
    parser.add_argument("--min-identity", type=finite_float, default=defaults.min_identity, help=f"fail a segment whose median ArcFace similarity is below this; 0 = off (default {defaults.min_identity:g})")
    parser.add_argument("--max-flicker", type=finite_float, default=defaults.max_flicker, help=f"fail a segment whose excess warping error exceeds this many grey levels; 0 = off (default {defaults.max_flicker:g})")
    parser.add_argument("--max-jitter", type=finite_float, default=defaults.max_jitter, help=f"fail a segment whose crop jitter exceeds this; 0 = off (default {defaults.max_jitter:g})")
    parser.add_argument("--max-seam", type=finite_float, default=defaults.max_seam, help=f"fail a segment whose seam contrast exceeds this; 0 = off (default {defaults.max_seam:g})")
    parser.add_argument("--detector", default="auto", help='face detector when --tracks is not given: "auto" (best model found, else the built-in Haar cascade) or a model file option')
    parser.add_argument("--score-threshold", type=finite_float, default=0.5, help="minimum detector confidence when tracking here (default 0.5)")
    add_models_dir_arguments(parser)
    parser.set_defaults(run=run_qc)
