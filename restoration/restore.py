"""The restoration pass: face crop sequences through a face restorer, stabilised over time.

The restorers themselves (registry, loading, the cache) live in models/restorers.py. Every net
there takes pixels in [-1, 1] and returns pixels in [-1, 1]; restore_faces maps [0, 1] crops in
(x * 2 - 1) and back ((y + 1) / 2), resizing them to the net's input size.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..compositing.plan import CropPlan, check_crops_match_plan
from ..core.images import check_image_batch
from ..models.restorers import FaceRestorer
from .stabilize import stabilize_sequence


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
    if not 0.0 <= float(temporal_smoothing) <= 1.0:  # checked before the first sequence is restored, not after
        raise ValueError(f"temporal_smoothing must be in [0, 1], but got {temporal_smoothing}")
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
