"""The only module that touches ComfyUI.

Every import of the host (folder_paths, comfy.utils, comfy.model_management, comfy.sample) is
made lazily inside a function, so every node module imports and runs in tests and on the command
line without ComfyUI. Outside ComfyUI, progress is silent, interrupts never fire, the device is
the CPU and model folders come from FUSE_MODELS_DIR (default ./models).

Tests replace functions of this module (monkeypatch) to act as a fake host.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Callable

log = logging.getLogger(__name__)

# ComfyUI model folder name -> the file extensions FUSE loads from it. Shared with the packs users
# already have (Impact Pack: ultralytics/bbox; ReActor: insightface, facerestore_models).
MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "ultralytics_bbox": (".pt", ".onnx"),
    "insightface": (".onnx",),
    "facerestore_models": (".pth", ".pt", ".safetensors"),
    "lipsync": (".pth", ".pt", ".safetensors"),
}
# folder name -> path below ComfyUI's models directory
MODEL_SUBDIRS: dict[str, str] = {
    "ultralytics_bbox": os.path.join("ultralytics", "bbox"),
    "insightface": "insightface",
    "facerestore_models": "facerestore_models",
    "lipsync": "lipsync",
}


def in_comfyui() -> bool:
    """True when running inside a ComfyUI process (folder_paths is importable)."""
    return importlib.util.find_spec("folder_paths") is not None


def register_model_folders() -> None:
    """Register FUSE's model folders with ComfyUI, with explicit extensions.

    A folder another pack already registered keeps its paths; we add ours and the extensions we
    need. add_model_folder_path on a new name sets NO extension filter, so we set the pair ourselves.
    """
    if not in_comfyui():
        return
    import folder_paths

    for name, extensions in MODEL_FOLDERS.items():
        default_dir = os.path.join(folder_paths.models_dir, MODEL_SUBDIRS[name])
        paths, known_extensions = folder_paths.folder_names_and_paths.get(name, ([], set()))
        paths = list(paths)
        if default_dir not in paths:
            paths.append(default_dir)
        folder_paths.folder_names_and_paths[name] = (paths, set(known_extensions) | set(extensions))


def _standalone_dir(folder: str) -> str:
    root = os.environ.get("FUSE_MODELS_DIR", os.path.join(os.getcwd(), "models"))
    return os.path.join(root, MODEL_SUBDIRS.get(folder, folder))


def model_files(folder: str) -> list[str]:
    """Relative file names in a model folder (ComfyUI's list when inside ComfyUI)."""
    if in_comfyui():
        import folder_paths

        try:
            return list(folder_paths.get_filename_list(folder))
        except KeyError:
            return []
    directory = _standalone_dir(folder)
    extensions = MODEL_FOLDERS.get(folder, ())
    found = []
    for root, _, files in os.walk(directory):
        for name in files:
            if not extensions or name.lower().endswith(extensions):
                found.append(os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/"))
    return sorted(found)


def model_path(folder: str, name: str) -> str:
    """Absolute path of a model file; FileNotFoundError naming the folder when it is missing."""
    if in_comfyui():
        import folder_paths

        path = folder_paths.get_full_path(folder, name)
        if path is None:
            dirs = folder_paths.folder_names_and_paths.get(folder, ([],))[0]
            raise FileNotFoundError(f"model file {name!r} was not found in {folder} ({', '.join(dirs)}); put it there and refresh the node")
        return path
    path = os.path.join(_standalone_dir(folder), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {name!r} was not found in {_standalone_dir(folder)}; put it there or set FUSE_MODELS_DIR")
    return path


def model_folder_dirs(folder: str) -> list[str]:
    """The directories a model folder reads from."""
    if in_comfyui():
        import folder_paths

        return list(folder_paths.folder_names_and_paths.get(folder, ([],))[0])
    return [_standalone_dir(folder)]


class _SilentProgress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.current = 0

    def update(self, count: int = 1) -> None:
        self.current += count


def progress(total: int):
    """A progress bar with update(n): ComfyUI's ProgressBar (also an interrupt point) or silent."""
    if in_comfyui():
        import comfy.utils

        return comfy.utils.ProgressBar(max(int(total), 1))
    return _SilentProgress(total)


def progress_callback(total: int) -> Callable[[int], None]:
    """A callable(n) advancing a progress bar of `total` steps; core functions take this shape."""
    bar = progress(total)
    return bar.update


def check_interrupt() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel; no-op outside ComfyUI."""
    if in_comfyui():
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()


def torch_device():
    """The device heavy work runs on (ComfyUI's choice, else CPU)."""
    import torch

    if in_comfyui():
        import comfy.model_management

        return comfy.model_management.get_torch_device()
    return torch.device("cpu")


def intermediate_device():
    """The device node outputs live on (CPU in ComfyUI's default configuration)."""
    import torch

    if in_comfyui():
        import comfy.model_management

        return comfy.model_management.intermediate_device()
    return torch.device("cpu")
