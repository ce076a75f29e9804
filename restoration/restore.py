"""Face restorers: GFPGAN (v1.2-1.4), RestoreFormer and CodeFormer, loaded with spandrel.

The registry maps a spandrel architecture id to a RestorerSpec: what a caller needs to run the net
without reading it (input size, scale, whether it takes a fidelity weight, licence) and how to
call it. GFPGAN and RestoreFormer ship in spandrel (permissive licences); CodeFormer ships in
spandrel_extra_arches and is merged in only when that package is installed: its S-Lab License
1.0 allows non-commercial use only.

Every net here takes pixels in [-1, 1] and returns pixels in [-1, 1]. spandrel's own call
functions for GFPGAN and CodeFormer pass [0, 1] pixels straight in and ignore CodeFormer's fidelity
weight, so restore_faces calls the nets itself: x * 2 - 1 in, (y + 1) / 2 out.

Loading is safe: .pth / .pt through models/safe_load.py (plain data and tensors only, no code from
the file runs), .safetensors through safetensors; spandrel then only detects the architecture and
builds the net from the state dict (its own .pth loader unpickles with an allow-list of classes it
calls, so we do not use it).
spandrel is imported lazily: ComfyUI ships it, the command line may not need it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Callable

import torch

from ..compositing.plan import CropPlan, check_crops_match_plan
from ..core.images import check_image_batch
from ..models.safe_load import load_weights
from .stabilize import stabilize_sequence

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
    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


RESTORERS: dict[str, RestorerSpec] = {}


def register_restorer(spec: RestorerSpec) -> None:
    """Add a restorer architecture; ids are unique."""
    if spec.arch_id in RESTORERS:
        raise ValueError(f"arch_id must be unique, but {spec.arch_id!r} is already registered")
    RESTORERS[spec.arch_id] = spec


register_restorer(RestorerSpec("GFPGAN", "GFPGAN v1.2-1.4", "spandrel", RESTORER_INPUT_SIZE, 1, False, "Apache-2.0 (TencentARC GFPGAN)", _call_gfpgan))
register_restorer(RestorerSpec("RestoreFormer", "RestoreFormer", "spandrel", RESTORER_INPUT_SIZE, 1, False, "permissive (in spandrel, which holds only MIT / Apache-2.0 / public-domain architectures)", _call_restoreformer))
register_restorer(
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
    return load_weights(path)


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
    try:
        descriptor = spandrel.ModelLoader(device="cpu", registry=_spandrel_face_registry()).load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError:
        if _looks_like_codeformer(state_dict) and not RESTORERS["CodeFormer"].installed:
            raise ValueError(
                f"model file {name!r} holds CodeFormer, which needs the spandrel_extra_arches package (non-commercial licence): pip install spandrel_extra_arches, or pick a GFPGAN / RestoreFormer model"
            ) from None
        raise ValueError(f"model file {name!r} must hold a face restoration model ({RESTORER_NAMES}), but its keys match none of them") from None
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


def restore_faces(
    restorer: FaceRestorer,
    crops_bhwc: torch.Tensor,
    *,
    fidelity: float = 0.5,
    batch_size: int = 4,
    device: torch.device | str | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run the restorer on face crops.

    crops_bhwc: (B,H,W,C) float 0..1, C = 3 (or 4: the alpha channel passes through). Crops are
    resized to the net's input size (512) and back when they have another size. fidelity (0..1)
    is CodeFormer's weight: 0 = strongest restoration, 1 = closest to the input; other nets ignore
    it. The net runs on `device` (default: where it is) in batches of batch_size and is returned
    to where it was. on_progress(n) is called with the crops done since the last call.
    Returns (B,H,W,C) float32 0..1 on crops_bhwc's device.
    """
    check_image_batch("crops", crops_bhwc)
    if not 0.0 <= float(fidelity) <= 1.0:
        raise ValueError(f"fidelity must be in [0, 1], but got {fidelity}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, but got {batch_size}")
    spec = restorer.spec
    count, height, width, _ = crops_bhwc.shape
    size = spec.input_size
    output = torch.empty(crops_bhwc.shape, dtype=torch.float32, device=crops_bhwc.device)
    net = restorer.net
    parameter = next(net.parameters(), None)
    home = parameter.device if parameter is not None else torch.device("cpu")
    device = torch.device(device) if device is not None else home
    net.to(device)
    try:
        with torch.inference_mode():
            for start in range(0, count, int(batch_size)):
                if check_interrupt is not None:
                    check_interrupt()
                batch = crops_bhwc[start : start + int(batch_size)]
                x = batch[..., :3].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)  # BHWC -> BCHW
                if (height, width) != (size, size):
                    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
                # contiguous: the BHWC -> BCHW permute leaves a channels-last layout, and GFPGAN's
                # .view() of its 4x4 features fails on it
                y = spec.call(net, (x.clamp(0, 1) * 2 - 1).contiguous(), float(fidelity))
                y = (y.float() + 1) / 2
                if tuple(y.shape[-2:]) != (height, width):
                    y = torch.nn.functional.interpolate(y, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
                output[start : start + len(batch), :, :, :3] = y.clamp(0, 1).permute(0, 2, 3, 1).to(output.device)  # BCHW -> BHWC
                if crops_bhwc.shape[-1] == 4:
                    output[start : start + len(batch), :, :, 3] = batch[..., 3]
                if on_progress is not None:
                    on_progress(len(batch))
    finally:
        net.to(home)
    return output


def restore_face_sequences(
    restorer: FaceRestorer,
    crops_bhwc: torch.Tensor,
    plan: CropPlan,
    *,
    fidelity: float = 0.5,
    strength: float = 1.0,
    temporal_smoothing: float = 0.5,
    batch_size: int = 4,
    device: torch.device | str | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Restore the crops of a plan sequence by sequence, stabilise them over time, blend.

    crops_bhwc: (B,H,W,C) float 0..1 with B = plan.total_rows (the crop IMAGE in plan order).
    Each sequence is restored (restore_faces), then what restoration added is smoothed over time
    (compositing.stabilize.stabilize_sequence, strength temporal_smoothing), then blended with
    the unrestored crop: out = crop + strength * (restored - crop). Memory: the input, the output
    and one sequence of restored crops. on_progress(n) counts crops. Returns (B,H,W,C) float32.
    """
    check_crops_match_plan(crops_bhwc, plan)
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], but got {strength}")
    if float(strength) == 0.0:  # the unrestored crops: no need to run the net
        if on_progress is not None:
            on_progress(int(crops_bhwc.shape[0]))
        return crops_bhwc.float().clone()
    output = torch.empty(crops_bhwc.shape, dtype=torch.float32, device=crops_bhwc.device)
    offsets = plan.row_offsets
    for start, stop in zip(offsets[:-1], offsets[1:]):
        original = crops_bhwc[start:stop].float()
        restored = restore_faces(restorer, original, fidelity=fidelity, batch_size=batch_size, device=device, on_progress=on_progress, check_interrupt=check_interrupt)
        restored = stabilize_sequence(restored, original, strength=temporal_smoothing)
        output[start:stop] = original + float(strength) * (restored - original)
    return output.clamp_(0, 1)
