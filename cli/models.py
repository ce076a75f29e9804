"""Where the command line reads model files from, and `comfyui-fuse models list | download`.

    comfyui-fuse models list [--verify] [--models-dir DIR | --comfyui PATH]
    comfyui-fuse models download NAME [--url-base URL] [--models-dir DIR | --comfyui PATH]

The models folder is, first that applies: --models-dir; <--comfyui>/models; $FUSE_MODELS_DIR;
$COMFYUI_PATH/models; <ComfyUI>/models when this pack sits in <ComfyUI>/custom_nodes/; ./models.
So a command run with ComfyUI's Python from the installed pack uses ComfyUI's models folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_comfyui(path: str) -> bool:
    """True for a ComfyUI folder: the one holding main.py and folder_paths.py."""
    return os.path.isfile(os.path.join(path, "main.py")) and os.path.isfile(os.path.join(path, "folder_paths.py"))


def comfyui_root(path: str, option: str) -> str:
    """The ComfyUI folder `path` names: ComfyUI itself, or the folder around it (the portable build)."""
    for candidate in (path, os.path.join(path, "ComfyUI")):
        if is_comfyui(candidate):
            return os.path.abspath(candidate)
    raise FileNotFoundError(f"{option} must be the ComfyUI folder (the one holding main.py, folder_paths.py and models/), but {path!r} is not one")


def comfyui_around_pack(pack_dir: str) -> str | None:
    """<ComfyUI> when the pack at pack_dir is installed as <ComfyUI>/custom_nodes/<folder>, else None."""
    custom_nodes = os.path.dirname(pack_dir)
    root = os.path.dirname(custom_nodes)
    return root if os.path.basename(custom_nodes) == "custom_nodes" and is_comfyui(root) else None


def resolve_models_dir(models_dir: str | None, comfyui: str | None, pack_dir: str | None = None) -> tuple[str, str]:
    """(models folder, where that choice came from), by the order in the module docstring.

    pack_dir: where the pack is installed (default: this one)."""
    if models_dir is not None:
        return os.path.abspath(models_dir), "--models-dir"
    if comfyui is not None:
        return os.path.join(comfyui_root(comfyui, "--comfyui"), "models"), "--comfyui"
    if os.environ.get("FUSE_MODELS_DIR"):
        return os.path.abspath(os.environ["FUSE_MODELS_DIR"]), "$FUSE_MODELS_DIR"
    if os.environ.get("COMFYUI_PATH"):
        return os.path.join(comfyui_root(os.environ["COMFYUI_PATH"], "$COMFYUI_PATH"), "models"), "$COMFYUI_PATH"
    root = comfyui_around_pack(pack_dir or PACK_DIR)
    if root is not None:
        return os.path.join(root, "models"), "the ComfyUI this pack is installed in"
    return os.path.join(os.getcwd(), "models"), "the current folder"


@contextlib.contextmanager
def models_dir(args: argparse.Namespace, must_exist: bool = True):
    """Read model files from the folder args choose (FUSE_MODELS_DIR) for the duration of the block.

    Yields (folder, where that choice came from). An explicit --models-dir must be a folder when
    must_exist (a download creates it instead)."""
    path, source = resolve_models_dir(args.models_dir, args.comfyui)
    if must_exist and args.models_dir is not None and not os.path.isdir(path):
        raise FileNotFoundError(f"--models-dir {args.models_dir!r} is not a folder; pass the folder that holds ultralytics/bbox and insightface")
    previous = os.environ.get("FUSE_MODELS_DIR")
    os.environ["FUSE_MODELS_DIR"] = path
    try:
        yield path, source
    finally:
        if previous is None:
            del os.environ["FUSE_MODELS_DIR"]
        else:
            os.environ["FUSE_MODELS_DIR"] = previous


def add_models_dir_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", default=None, help="models folder holding ultralytics/bbox, insightface, facerestore_models, lipsync (default: $FUSE_MODELS_DIR; else ComfyUI's models folder: of $COMFYUI_PATH, or of the ComfyUI this pack is installed in; else ./models)")
    parser.add_argument("--comfyui", default=None, metavar="PATH", help="read and write the models of the ComfyUI at PATH (PATH/models); found by itself when this pack sits in ComfyUI/custom_nodes or $COMFYUI_PATH is set")


def print_list(verify: bool) -> None:
    from ..models.downloads import CATALOGUE, installed_state
    from ..nodes import host

    print(f"{'NAME':14s} {'FOLDER':20s} {'SIZE':>9s}  {'INSTALLED':21s}  LICENCE")
    for entry in CATALOGUE.values():
        state = installed_state(entry, host.model_folder_dirs(entry.folder)[0], verify=verify)
        size = "      ?  " if entry.size is None else f"{entry.size / 1e6:7.1f}MB"
        print(f"{entry.name:14s} {host.MODEL_SUBDIRS[entry.folder]:20s} {size}  {state:21s}  {entry.licence}")


def download(args: argparse.Namespace) -> str:
    """Download args.name into the models folder; returns the path written (or already there)."""
    from ..models.downloads import INSTALLED, MISSING, catalogue_entry, describe_download, download_model, installed_state, with_url_base
    from ..nodes import host

    entry = catalogue_entry(args.name)
    if args.url_base is not None:
        entry = with_url_base(entry, args.url_base)
    directory = host.model_folder_dirs(entry.folder)[0]
    state = installed_state(entry, directory)
    if state == INSTALLED:
        print(f"{entry.name} is already installed in {directory}; nothing to download")
        return os.path.join(directory, entry.filename)
    if state != MISSING:
        raise ValueError(f"{os.path.join(directory, entry.filename)} exists but is {state} (the catalogue file has {entry.size} bytes); "
                         "it is left alone: delete or move it, then run the download again")
    print(f"downloading {describe_download(entry, directory)}")
    path = download_model(entry, lambda folder: directory, on_progress=args.progress.download(entry.name, entry.size or 0))
    print(f"wrote {path} (size and sha256 verified)")
    return path


def run_models(args: argparse.Namespace) -> int:
    with models_dir(args, must_exist=args.action == "list") as (folder, source):
        if args.action == "list":
            print_list(args.verify)
            print(f"models folder: {folder} ({source})")
        else:
            download(args)
    return 0


def add_models_command(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the known model files and download them (sha256-verified, resumable)", description="List the model files FUSE knows (YOLO face, InsightFace buffalo_l, GFPGAN, CodeFormer, Wav2Lip) or download one into the folder FUSE reads it from: ComfyUI's models folder when run for a ComfyUI install. Downloads are checked against a pinned size and sha256, written to NAME.part and moved into place only when verified; an interrupted download resumes when run again. Mind the licences: several models are for non-commercial use only.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="name, folder, size, licence and whether each file is installed (a file of the wrong size is not)")
    listing.add_argument("--verify", action="store_true", help="also check the sha256 of every installed file (reads each file once)")
    download_parser = actions.add_parser("download", help="download one model file by NAME (see models list)")
    download_parser.add_argument("name", metavar="NAME", help="catalogue name, e.g. face_yolov8m")
    download_parser.add_argument("--url-base", default=None, help="fetch from this scheme://host instead of the catalogue's (a mirror, or a test server); the file must still match the catalogue sha256")
    for action in (listing, download_parser):
        add_models_dir_arguments(action)
    parser.set_defaults(run=run_models)
