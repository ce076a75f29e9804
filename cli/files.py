"""The files the commands read and write: outputs checked before any work, written atomically.

Every command that writes files checks them with check_output_paths before it reads a frame, and
writes them through write_atomic (a temporary file beside the target, renamed at the end), so an
error never leaves a half-written report or picture behind.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Callable

PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def require_video_and_out(args: argparse.Namespace, command: str, purpose: str = "", report: str = "report.json") -> None:
    """ValueError unless VIDEO and --out were given (the commands that read a video and write a report)."""
    if args.video is None:
        raise ValueError(f"VIDEO must name the video file{purpose}, e.g. comfyui-fuse {command} clip.mp4 --out {report}")
    require_out(args, report)


def require_out(args: argparse.Namespace, report: str = "report.json") -> None:
    if args.out is None:
        raise ValueError(f"--out must name the JSON report to write, e.g. --out {report}")


def check_video_path(option: str, path: str | None) -> None:
    from ..media.video import VIDEO_EXTENSIONS

    if path is not None and os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"{option} must end in one of {', '.join(VIDEO_EXTENSIONS)}, but got {path!r}")


def check_picture_path(option: str, path: str | None, extensions: tuple[str, ...] = PICTURE_EXTENSIONS) -> None:
    if path is not None and os.path.splitext(path)[1].lower() not in extensions:
        raise ValueError(f"{option} must end in {' or '.join(extensions)}, but got {path!r}")


def _same_path(first: str, second: str) -> bool:
    if os.path.exists(first) and os.path.exists(second):
        return os.path.samefile(first, second)  # also hard links
    return os.path.realpath(first) == os.path.realpath(second)


def check_output_paths(inputs: dict[str, str | None], outputs: dict[str, str | None]) -> None:
    """Before any work: each output (option -> path) names a file that can be written, is no
    input (option -> path; writing it would replace the source) and no other output."""
    written: dict[str, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        if os.path.isdir(path):
            raise ValueError(f"{option} must name a file, but {path!r} is a directory; e.g. {option} {os.path.join(path, 'report.json' if option == '--out' else 'output.mp4')}")
        folder = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ValueError(f"{option} must be a file in a folder you can write to, but {folder!r} is {'a file' if not os.path.isdir(folder) else 'not writable'}; choose another path")
        for other_option, other in list(inputs.items()) + list(written.items()):
            if other is not None and _same_path(path, other):
                what = "the input would be overwritten" if other_option in inputs else "one would overwrite the other"
                raise ValueError(f"{option} must not be the same file as {other_option} ({other!r}): {what}; choose another name")
        written[option] = path


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """write(partial) fills a temporary file beside `path`, which is then renamed to `path`; on
    any error the temporary file is removed and `path` is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def write_report(path: str, report: dict) -> None:
    """Write JSON atomically."""
    def write(partial: str) -> None:
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")

    write_atomic(path, write)


def write_picture(option: str, path: str, picture_rgb) -> None:
    """Write an RGB uint8 picture atomically, PNG or JPEG by the path's extension."""
    import cv2

    extension = os.path.splitext(path)[1].lower()
    ok, encoded = cv2.imencode(extension, picture_rgb[..., ::-1])
    if not ok:
        raise ValueError(f"{option} {path!r}: the picture could not be encoded as {extension}")

    def write(partial: str) -> None:
        with open(partial, "wb") as handle:
            handle.write(encoded.tobytes())

    write_atomic(path, write)


def read_json(option: str, path: str, expected: str):
    """The JSON value in the file at path; ValueError "<option> <path> must be <expected>, but it is not valid JSON"."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{option} {path!r} must be {expected}, but it is not valid JSON: {error}") from None
