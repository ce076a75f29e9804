"""The model folders: their names and extensions, listing their files, resolving a file name.

Every model family takes its files through the ModelFolders interface: files(folder) lists the
file names of a model folder, path(folder, name) gives the absolute path of one. Inside ComfyUI
the host answers (nodes/host.py binds folder_paths); outside it (command line, tests) a
ModelStore does, with every folder below one root: FUSE_MODELS_DIR, default ./models.
"""

from __future__ import annotations

import os
from typing import Protocol

# Model folder name -> the file extensions FUSE loads from it. Shared with the packs users
# already have (Impact Pack: ultralytics/bbox; ReActor: insightface, facerestore_models).
MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "ultralytics_bbox": (".pt", ".onnx"),
    "insightface": (".onnx",),
    "facerestore_models": (".pth", ".pt", ".safetensors"),
    "lipsync": (".pth", ".pt", ".safetensors"),
    "syncnet": (".model", ".pth", ".pt", ".safetensors"),
}
# Model folder name -> its path below the models directory (ComfyUI's models/, or the root).
MODEL_SUBDIRS: dict[str, str] = {
    "ultralytics_bbox": os.path.join("ultralytics", "bbox"),
    "insightface": "insightface",
    "facerestore_models": "facerestore_models",
    "lipsync": "lipsync",
    "syncnet": "syncnet",
}


class ModelFolders(Protocol):
    """Where model files come from: the host's folders or a ModelStore."""

    def files(self, folder: str) -> list[str]:
        """File names in a model folder, relative to it, "/"-separated."""
        ...

    def path(self, folder: str, name: str) -> str:
        """The absolute path of a listed file; FileNotFoundError when it is not there."""
        ...


def models_root() -> str:
    """The directory that holds the model folders outside ComfyUI: FUSE_MODELS_DIR, else ./models."""
    return os.environ.get("FUSE_MODELS_DIR", os.path.join(os.getcwd(), "models"))


def list_files(directory: str, extensions: tuple[str, ...] = ()) -> list[str]:
    """Files below `directory` (subfolders too) whose names end in one of `extensions` (any file
    when empty, case-insensitive), as sorted "/"-separated paths relative to it. A missing
    directory has no files."""
    found = []
    for root, _, names in os.walk(directory):
        for name in names:
            if not extensions or name.lower().endswith(extensions):
                found.append(os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/"))
    return sorted(found)


def check_model_name(folder: str, name) -> list[str]:
    """The "/"-separated parts of a model file name, or ValueError when the name could leave its folder.

    Names come from workflows and the command line, so they are untrusted: an absolute path, a
    drive, or a ".", ".." or empty part ("yolo//etc/passwd" gives "/etc/passwd") is refused
    (TypeError for a name that is not a str). folder: the model folder's name, for messages.
    """
    if not isinstance(name, str):
        raise TypeError(f"model must be a file name (str) from the {folder} model folder, but got {type(name).__name__}")
    parts = name.replace("\\", "/").split("/") if os.name == "nt" else name.split("/")
    if os.path.isabs(name) or os.path.splitdrive(name)[0] or any(part in ("", ".", "..") for part in parts):
        raise ValueError(
            f"model must be a file name inside the {folder} model folder (no absolute path, no '..', '.' or empty parts), "
            f"but got {name!r}; pick one of the listed models"
        )
    return parts


def resolve(directory: str, name: str, folder: str = "model") -> str:
    """The absolute path of the file `name` inside `directory`, the directory model folder `folder` reads.

    Only the name is checked, not whether the file exists: check_model_name's errors, and
    ValueError when the joined path still lies outside the directory. Symlinks a user put inside
    the folder are followed, as ComfyUI does.
    """
    parts = check_model_name(folder, name)
    root = os.path.abspath(directory)
    path = os.path.abspath(os.path.join(root, *parts))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"model {name!r} resolves to {path}, outside its model folder {root}; pick one of the listed models")
    return path


def file_stamp(path: str) -> tuple[str, int, int]:
    """(absolute path, modification time in ns, size in bytes): changes when the file is replaced.
    FileNotFoundError when it is missing."""
    status = os.stat(path)
    return os.path.abspath(path), status.st_mtime_ns, status.st_size


def file_fingerprint(models: ModelFolders, folder: str, name) -> str | None:
    """The file `name` of a model folder as text that changes when it appears, disappears or is
    replaced (path, modification time, size), for a node's IS_CHANGED. None when name is not a
    str (a linked input, whose value the host does not tell). Never raises."""
    if not isinstance(name, str):
        return None
    try:
        return f"{folder}/{name}: {file_stamp(models.path(folder, name))}"
    except (ValueError, OSError) as error:
        return f"{folder}/{name}: {type(error).__name__} {error}"


class ModelStore:
    """The model folders below one root directory (default: models_root() when made).

    ModelStore().files("ultralytics_bbox") lists <root>/ultralytics/bbox; a folder name without a
    MODEL_SUBDIRS entry is a directory of that name below the root.
    """

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.abspath(root if root is not None else models_root())

    def __repr__(self) -> str:
        return f"ModelStore({self.root!r})"

    def dirs(self, folder: str) -> list[str]:
        """The directories a model folder reads from (one: below the root)."""
        return [os.path.join(self.root, MODEL_SUBDIRS.get(folder, folder))]

    def files(self, folder: str) -> list[str]:
        """File names in a model folder with its extensions (MODEL_FOLDERS), relative to it."""
        return list_files(self.dirs(folder)[0], MODEL_FOLDERS.get(folder, ()))

    def path(self, folder: str, name: str) -> str:
        """The absolute path of a file of a model folder; ValueError for a name that leaves the
        folder, FileNotFoundError naming the folder when the file is not there."""
        directory = self.dirs(folder)[0]
        path = resolve(directory, name, folder)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {name!r} was not found in {directory}; put it there or set FUSE_MODELS_DIR")
        return path
