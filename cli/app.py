"""comfyui-fuse: the parser and the dispatch of every command.

    comfyui-fuse demo [--out DIR] [--frames N] [--detector auto]                      (track.py)
    comfyui-fuse track VIDEO --out report.json [--preview preview.mp4] [--output out.mp4]
    comfyui-fuse detect VIDEO --out report.json [--refs characters.json] [--sample-fps 3]
    comfyui-fuse restore VIDEO --model GFPGANv1.4.pth --output out.mp4                 (process.py)
    comfyui-fuse lipsync VIDEO --audio speech.wav --model wav2lip_gan.pth --output out.mp4
    comfyui-fuse qc ORIGINAL PROCESSED --out qc.json [--tracks T.json] [--plot P.png] [--fallback out.mp4]  (qc.py)
    comfyui-fuse speakers VIDEO --out speakers.json [--timeline t.png] [--stem a.wav ...]  (speaker.py)
    comfyui-fuse models list [--verify] | models download NAME [--models-dir DIR | --comfyui PATH]  (models.py)
    comfyui-fuse queue WORKFLOW [--set NODE.INPUT=VALUE] [--input NAME=FILE] [--out DIR]  (queue.py)
    comfyui-fuse nodes [--markdown | --write-docs [FILE]]                                 (node_reference.py)

Each command group is one module with add_<name>_command(subparsers) functions that declare the
arguments and set `run` to a function(args) -> exit code; build_parser calls them all. main gives
every command the one progress printer (args.progress). User errors (bad input, missing files)
print one line on stderr and exit with code 2, without a traceback; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .models import add_models_command
from .node_reference import add_nodes_command
from .process import add_lipsync_command, add_restore_command
from .progress import EXIT_INTERRUPTED, EXIT_USER_ERROR, ProgressPrinter
from .qc import add_qc_command
from .queue import add_queue_command
from .speaker import add_speakers_command
from .track import add_demo_command, add_detect_command, add_track_command

PROG = "comfyui-fuse"

# One function per subcommand; a new command is one more entry here.
COMMANDS = (
    add_demo_command, add_track_command, add_detect_command, add_speakers_command, add_restore_command, add_lipsync_command, add_qc_command,
    add_models_command, add_queue_command, add_nodes_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="ComfyUI-FUSE on the command line: temporal face tracking and compositing without ComfyUI, model downloads, and saved workflows queued on a ComfyUI server.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the pipeline does")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed, 2 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.progress = ProgressPrinter()
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # bad input, missing or unwritable files: the user can fix these
        args.progress.close()
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        args.progress.close()
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
