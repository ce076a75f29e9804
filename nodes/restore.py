"""Restore node: face restoration (GFPGAN, CodeFormer, RestoreFormer) of face crop sequences."""

from __future__ import annotations

from ..models.restorers import MODEL_FOLDER, NO_MODEL, load_face_restorer, restorer_from_descriptor, restorer_options
from ..models.store import file_fingerprint
from ..restoration.restore import restore_face_sequences
from . import host


class FUSERestoreFaces:
    DESCRIPTION = (
        "Restores face crops with GFPGAN (v1.2-1.4), RestoreFormer or CodeFormer from models/facerestore_models "
        "(or a face restorer from a Load Upscale Model node), called the way the nets were trained: 512x512 input "
        "in [-1, 1]. Restored detail is smoothed over time so the faces do not shimmer, then blended with the "
        "original crop by strength. Best on crops aligned to the face template (landmark alignment). "
        "Licences: GFPGAN and RestoreFormer are permissive; CodeFormer (S-Lab License 1.0) is for NON-COMMERCIAL "
        "use only and needs the spandrel_extra_arches package."
    )
    CATEGORY = "FUSE/restore"
    FUNCTION = "restore"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("crops",)
    OUTPUT_TOOLTIPS = ("The restored crops: same count, size and order as the input crops; paste them with FUSE Paste Faces and the same crop plan.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "crops": ("IMAGE", {"tooltip": "Face crops from FUSE Crop Face Sequences (or a node that processed them)."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan that came with the crops: it tells which rows form one face sequence over time."}),
                "model": (
                    restorer_options(host.model_store()),
                    {"tooltip": "Face restorer in models/facerestore_models (.pth / .safetensors): GFPGAN v1.2-1.4, RestoreFormer, or CodeFormer (non-commercial licence). Ignored when upscale_model is connected."},
                ),
                "fidelity": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "CodeFormer only: 0 = strongest restoration, 1 = closest to the input face. Other models ignore it."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "Blend with the unrestored crop: 0 = original, 1 = fully restored."}),
                "temporal_smoothing": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "Smooths what restoration adds over time where the face is still, against flicker: 0 = frame by frame, 1 = strongest."}),
                "batch_size": ("INT", {"default": 4, "min": 1, "max": 64, "step": 1, "tooltip": "Crops per forward pass; lower it if the device runs out of memory."}),
            },
            "optional": {
                "upscale_model": ("UPSCALE_MODEL", {"tooltip": "Optional: a face restorer loaded by the Load Upscale Model node; used instead of model."}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, model=None, **inputs):
        # run again when the model file is replaced; a connected upscale_model (present, as None,
        # among the inputs) is used instead of the file
        if "upscale_model" in inputs:
            return ""
        return host.is_changed(file_fingerprint(host.model_store(), MODEL_FOLDER, model))

    def restore(self, crops, crop_plan, model=NO_MODEL, fidelity=0.5, strength=1.0, temporal_smoothing=0.5, batch_size=4, upscale_model=None):
        if upscale_model is not None:
            restorer = restorer_from_descriptor(upscale_model)
        else:
            restorer = load_face_restorer(model, host.model_store())
        restored = restore_face_sequences(
            restorer,
            crops,
            crop_plan,
            fidelity=float(fidelity),
            strength=float(strength),
            temporal_smoothing=float(temporal_smoothing),
            batch_size=int(batch_size),
            device=host.torch_device(),
            on_progress=host.progress_callback(getattr(crop_plan, "total_rows", 0)),
            check_interrupt=host.check_interrupt,
        )
        return (restored.to(host.intermediate_device()),)


NODE_CLASS_MAPPINGS = {"FUSERestoreFaces": FUSERestoreFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSERestoreFaces": "FUSE Restore Faces"}
