"""The lipsync model registry: which architecture a checkpoint is, and loading it safely.

Like spandrel: each architecture registers an id and a `detect(state_dict)` condition in REGISTRY
(models/registry.py); it rejects duplicate ids, tries entries in order and raises
UnsupportedLipsyncModel when nothing matches. Loading is safe: models/safe_load.py (plain data
and tensors, no code from the file runs) or safetensors. A loaded model is kept (models/cache.py)
while its file is unchanged, so re-running a workflow does not read the ~435 MB Wav2Lip
checkpoint again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

from ..core.checks import check_state_dict_keys
from ..models.cache import ModelCache
from ..models.safe_load import ModelFileError, load_weights
from ..models.registry import Registry, UnsupportedModelError
from ..models.store import ModelFolders

log = logging.getLogger(__name__)

LICENSE_NOTE = (
    "The released Wav2Lip weights (wav2lip.pth, wav2lip_gan.pth) are for research and other "
    "non-commercial use only (see the Wav2Lip authors' licence); FUSE's code does not change that."
)


MODEL_FOLDER = "lipsync"


class UnsupportedLipsyncModel(UnsupportedModelError):
    """The file is not a lipsync checkpoint FUSE knows."""


@dataclass(frozen=True)
class LipsyncArchitecture:
    """An entry of the registry.

    detect(state_dict) -> bool; build(state_dict) -> nn.Module with the weights loaded (strict).
    face_size: side of the square face input; mel_step: mel frames per video frame;
    channel_order: "BGR" or "RGB" pixels the net expects.
    """

    id: str
    detect: Callable[[dict], bool]
    build: Callable[[dict], object]
    face_size: int
    mel_step: int
    channel_order: str
    license_note: str


@dataclass(frozen=True)
class LipsyncModel:
    """A loaded lipsync net in eval mode and what a caller needs to feed it."""

    architecture: LipsyncArchitecture
    net: object  # torch.nn.Module
    source: str  # file name, for messages

    @property
    def face_size(self) -> int:
        return self.architecture.face_size

    @property
    def mel_step(self) -> int:
        return self.architecture.mel_step


def _shape(state_dict: dict, key: str) -> tuple[int, ...] | None:
    value = state_dict.get(key)
    return tuple(value.shape) if hasattr(value, "shape") else None


def _is_wav2lip(state_dict: dict) -> bool:
    return (
        _shape(state_dict, "face_encoder_blocks.0.0.conv_block.0.weight") == (16, 6, 7, 7)
        and _shape(state_dict, "audio_encoder.0.conv_block.0.weight") == (32, 1, 3, 3)
        and _shape(state_dict, "output_block.1.weight") == (3, 32, 1, 1)
    )


def _build_wav2lip(state_dict: dict):
    from .wav2lip import Wav2Lip

    net = Wav2Lip()
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


REGISTRY: Registry[LipsyncArchitecture] = Registry("lipsync architecture", error=UnsupportedLipsyncModel)
REGISTRY.register(LipsyncArchitecture("wav2lip", _is_wav2lip, _build_wav2lip, face_size=96, mel_step=16, channel_order="BGR", license_note=LICENSE_NOTE))

_PREFIX = "module."  # checkpoints saved from nn.DataParallel


def read_state_dict(path: str) -> dict:
    """Tensors of a .pth / .pt / .ckpt ({"state_dict": ...} or a bare state dict) or .safetensors file.

    Read by models/safe_load.py: a file holding anything but plain data and tensors is refused with
    a clear error. The "module." prefix of DataParallel checkpoints is removed.
    """
    name = os.path.basename(path)
    try:
        checkpoint = load_weights(path)
    except ModelFileError as error:
        raise UnsupportedLipsyncModel(str(error)) from None
    state_dict = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state_dict, dict):
        raise UnsupportedLipsyncModel(f"{name} must hold a state_dict of tensors, but holds a {type(state_dict).__name__}")
    check_state_dict_keys(name, state_dict, UnsupportedLipsyncModel)
    return {(key[len(_PREFIX):] if key.startswith(_PREFIX) else key): value for key, value in state_dict.items()}


def detect_architecture(state_dict: dict, source: str = "state_dict") -> LipsyncArchitecture:
    """The first registered architecture whose detect(state_dict) holds; UnsupportedLipsyncModel
    naming `source` (a file name) when none does."""
    sample = ", ".join(list(state_dict)[:4])
    return REGISTRY.find(
        lambda architecture: architecture.detect(state_dict),
        f"{source} must be a lipsync checkpoint of a known architecture ({', '.join(REGISTRY)}), "
        f"but its {len(state_dict)} tensors (first keys: {sample}) match none; put wav2lip.pth or wav2lip_gan.pth in models/lipsync",
    )


def lipsync_options(models: ModelFolders) -> list[str]:
    """Dropdown entries: the checkpoint files of the lipsync model folder."""
    return models.files(MODEL_FOLDER)


_cache = ModelCache(size=1)  # one Wav2Lip is ~435 MB; a workflow uses one lipsync model


def load_lipsync_model(path: str, device=None) -> LipsyncModel:
    """The lipsync model of a checkpoint on `device`, cached per (path, modification time, size,
    device): the same unchanged file returns the same LipsyncModel without reading it again; a
    replaced file is read anew. Raises as read_lipsync_model (errors are not cached)."""
    return _cache.load("lipsync", path, lambda: read_lipsync_model(path, device), device)


def read_lipsync_model(path: str, device=None) -> LipsyncModel:
    """Read a checkpoint, find its architecture in REGISTRY, build the net (strict) on `device`.

    Raises UnsupportedLipsyncModel naming the file when it is not a known lipsync checkpoint or
    its tensors do not fit the architecture.
    """
    name = os.path.basename(path)
    state_dict = read_state_dict(path)
    architecture = detect_architecture(state_dict, source=name)
    try:
        net = architecture.build(state_dict)
    except RuntimeError as error:  # missing / unexpected keys or wrong shapes
        first = str(error).splitlines()
        raise UnsupportedLipsyncModel(f"{name} must hold a complete {architecture.id} state_dict, but loading it failed: {' '.join(first[:3])}") from None
    if device is not None:
        net = net.to(device)
    log.info("loaded %s as %s", name, architecture.id)
    return LipsyncModel(architecture, net, name)
