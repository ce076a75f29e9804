"""Face restorers: GFPGAN (v1.2-1.4), RestoreFormer and CodeFormer, loaded with spandrel.

The registry RESTORERS (models/registry.py) maps a spandrel architecture id to a RestorerSpec:
what a caller needs to run the net without reading it (input size, scale, whether it takes a
fidelity weight, licence) and how to call it. GFPGAN and RestoreFormer ship in spandrel
(permissive licences); CodeFormer ships in spandrel_extra_arches and is merged in only when that
package is installed: its S-Lab License 1.0 allows non-commercial use only. The restoration pass
itself (restore_faces, restore_face_sequences) lives in restoration/restore.py.

Every net here takes pixels in [-1, 1] and returns pixels in [-1, 1]. spandrel's own call
functions for GFPGAN and CodeFormer pass [0, 1] pixels straight in and ignore CodeFormer's fidelity
weight, so restore_faces calls the nets itself: x * 2 - 1 in, (y + 1) / 2 out.

Loading is safe: .pth / .pt through models/safe_load.py (plain data and tensors only, no code from
the file runs), .safetensors through safetensors; spandrel then only detects the architecture and
builds the net from the state dict (its own .pth loader unpickles with an allow-list of classes it
calls, so we do not use it).
spandrel is imported lazily: ComfyUI ships it, the command line may not need it. A loaded
restorer is kept (models/cache.py) while its file is unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Callable

import torch

from ..core.checks import check_state_dict_keys
from .cache import ModelCache
from .registry import Registry
from .safe_load import load_weights
from .store import ModelFolders

log = logging.getLogger(__name__)

RESTORER_INPUT_SIZE = 512  # every supported restorer was trained on 512x512 FFHQ-aligned faces


def _call_gfpgan(net: torch.nn.Module, x: torch.Tensor, fidelity: float) -> torch.Tensor:
    # return_rgb=False skips the intermediate pyramid of RGB images; randomize_noise=False uses
    # the noise maps stored in the weights, so one face gives one result (no per-frame noise flicker)
    return net(x, return_rgb=False, randomize_noise=False)[0]


def _call_codeformer(net: torch.nn.Module, x: torch.Tensor, fidelity: float) -> torch.Tensor:
    return net(x, weight=float(fidelity))[0]  # forward(x, weight) -> (image, logits)


def _call_restoreformer(net: torch.nn.Module, x: torch.Tensor, fidelity: float) -> torch.Tensor:
    return net(x)[0]  # forward(x) -> (image, None)


@dataclass(frozen=True)
class RestorerSpec:
    """What a caller needs to know about one restorer architecture without reading the net.

    call(net, x, fidelity) takes x (B,3,S,S) float32 in [-1, 1] with S = input_size and returns
    (B,3,S*scale,S*scale) in [-1, 1]; fidelity is used only when takes_fidelity.
    """

    arch_id: str  # spandrel's architecture id
    display_name: str
    package: str  # the Python package that implements the architecture
    input_size: int
    scale: int
    takes_fidelity: bool
    licence: str
    call: Callable[[torch.nn.Module, torch.Tensor, float], torch.Tensor]

    @property
    def id(self) -> str:
        return self.arch_id

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


RESTORERS: Registry[RestorerSpec] = Registry("restorer architecture")
RESTORERS.register(RestorerSpec("GFPGAN", "GFPGAN v1.2-1.4", "spandrel", RESTORER_INPUT_SIZE, 1, False, "Apache-2.0 (TencentARC GFPGAN)", _call_gfpgan))
RESTORERS.register(RestorerSpec("RestoreFormer", "RestoreFormer", "spandrel", RESTORER_INPUT_SIZE, 1, False, "permissive (in spandrel, which holds only MIT / Apache-2.0 / public-domain architectures)", _call_restoreformer))
RESTORERS.register(
    RestorerSpec(
        "CodeFormer",
        "CodeFormer",
        "spandrel_extra_arches",
        RESTORER_INPUT_SIZE,
        1,
        True,
        "S-Lab License 1.0: NON-COMMERCIAL use only (needs the spandrel_extra_arches package)",
        _call_codeformer,
    )
)

RESTORER_NAMES = ", ".join(RESTORERS)  # "GFPGAN, RestoreFormer, CodeFormer", for messages


def installed_restorers() -> list[RestorerSpec]:
    """The registered restorers whose implementing package is importable."""
    return [spec for spec in RESTORERS.values() if spec.installed]


@dataclass(frozen=True, eq=False)
class FaceRestorer:
    """A loaded face restoration net and its spec. source names where it came from."""

    spec: RestorerSpec
    net: torch.nn.Module
    source: str

    def __repr__(self) -> str:
        return f"FaceRestorer({self.spec.arch_id} from {self.source})"


def _spandrel_face_registry():
    """A spandrel ArchRegistry holding only the installed face restorers.

    A private registry: spandrel's global MAIN_REGISTRY is left as it is (the host shares it).
    """
    import spandrel

    registry = spandrel.ArchRegistry()
    for spec in installed_restorers():
        if spec.package == "spandrel":
            support = spandrel.MAIN_REGISTRY.get(spec.arch_id)
        else:
            extra = importlib.import_module(spec.package)
            support = extra.EXTRA_REGISTRY.get(spec.arch_id)
        if support is None:
            log.warning("%s does not provide the %s architecture; it is skipped", spec.package, spec.arch_id)
            continue
        registry.add(support)
    return registry


def load_state_dict(path: str) -> dict:
    """Read a state dict safely (models/safe_load.py): .pth / .pt of plain data, or .safetensors."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".safetensors", ".pth", ".pt"):
        raise ValueError(f"model file must be .pth, .pt or .safetensors, but got {os.path.basename(path)!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    loaded = load_weights(path)
    check_state_dict_keys(f"model file {os.path.basename(path)!r}", loaded)
    return loaded


def _looks_like_codeformer(state_dict: dict) -> bool:
    import spandrel

    keys = spandrel.canonicalize_state_dict(state_dict).keys()
    return "position_emb" in keys and "idx_pred_layer.1.weight" in keys


def load_restorer(path: str) -> FaceRestorer:
    """Load a face restorer from a .pth / .pt / .safetensors file; the architecture is detected.

    The net is built on the CPU in eval mode; restore_faces moves it to the device it is given.
    ValueError when the file holds no supported face restorer (CodeFormer without
    spandrel_extra_arches gets a message saying what to install).
    """
    import spandrel

    state_dict = load_state_dict(path)
    name = os.path.basename(path)
    registry = _spandrel_face_registry()
    try:
        descriptor = spandrel.ModelLoader(device="cpu", registry=registry).load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError:
        if _looks_like_codeformer(state_dict) and not RESTORERS["CodeFormer"].installed:
            raise ValueError(
                f"model file {name!r} holds CodeFormer, which needs the spandrel_extra_arches package (non-commercial licence): pip install spandrel_extra_arches, or pick a GFPGAN / RestoreFormer model"
            ) from None
        raise ValueError(f"model file {name!r} must hold a face restoration model ({RESTORER_NAMES}), but its keys match none of them") from None
    except Exception as error:  # noqa: BLE001 - an architecture matched, but building it from these tensors failed (missing keys, wrong shapes: KeyError, RuntimeError, ...)
        canonical = spandrel.canonicalize_state_dict(state_dict)
        arch = next((support.architecture.name for support in registry.architectures() if support.detect(canonical)), "face restoration")
        reason = " ".join(str(error).split())[:160] or type(error).__name__
        raise ValueError(
            f"model file {name!r} must hold a complete {arch} model, but loading its tensors failed ({reason}); "
            f"the file is incomplete or not a {arch} model: download it again (comfyui-fuse models list)"
        ) from None
    restorer = FaceRestorer(RESTORERS[str(descriptor.architecture.id)], descriptor.model.eval(), name)
    log.info("loaded %r", restorer)
    return restorer


def restorer_from_descriptor(model) -> FaceRestorer:
    """A FaceRestorer from a spandrel ImageModelDescriptor (the host's UPSCALE_MODEL socket)."""
    import spandrel

    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise TypeError(f"upscale_model must be a spandrel ImageModelDescriptor from a model loader node, but got {type(model).__name__}")
    arch_id = str(model.architecture.id)
    if arch_id not in RESTORERS or model.purpose != "FaceSR":
        raise ValueError(f"upscale_model must be a face restoration model ({RESTORER_NAMES}), but got {arch_id}")
    return FaceRestorer(RESTORERS[arch_id], model.model.eval(), f"UPSCALE_MODEL {arch_id}")


MODEL_FOLDER = "facerestore_models"
NO_MODEL = "none"  # the dropdown's only entry when the folder is empty


def restorer_options(models: ModelFolders) -> list[str]:
    """Dropdown entries: the files of the facerestore_models folder, or ["none"] when it has none."""
    return models.files(MODEL_FOLDER) or [NO_MODEL]


_cache = ModelCache(size=1)  # a workflow restores with one model; GFPGAN is ~350 MB


def load_face_restorer(name: str, models: ModelFolders) -> FaceRestorer:
    """The restorer in file `name` of the facerestore_models folder (load_restorer), cached per
    (path, modification time, size): a re-run with the unchanged file returns the same
    FaceRestorer, a replaced file is read anew. ValueError for the "none" entry of an empty folder."""
    if name == NO_MODEL:
        raise ValueError(f"model must name a face restorer in models/{MODEL_FOLDER}, but the folder has none; put GFPGANv1.4.pth (or another) there and refresh, or connect upscale_model")
    path = models.path(MODEL_FOLDER, name)
    return _cache.load(name, path, lambda: load_restorer(path))
