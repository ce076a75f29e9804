"""Composite node: paste processed face crops back into the untouched frames."""

from __future__ import annotations

from ..compositing.masks import BLEND_MODES
from ..compositing.paste import PASTE_MODES, paste_faces
from . import host


class FUSEPasteFaces:
    DESCRIPTION = (
        "Pastes processed face crops back into the video through the inverse of the crop transform. "
        "Pixels outside the pasted faces stay bit-identical; frames without faces pass through unchanged. "
        "Where faces overlap, the higher track id is drawn on top. Chain several of these to paste tracks separately."
    )
    CATEGORY = "FUSE/composite"
    FUNCTION = "paste"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "pasted_mask")
    OUTPUT_TOOLTIPS = (
        "The frames with the crops pasted in (4-channel frames keep their alpha channel).",
        "Per frame, how much of each pixel was replaced (0 = original pixel, 1 = crop pixel); useful for chaining.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video the crops were cut from (or the output of an earlier FUSE Paste Faces on it)."}),
                "crops": ("IMAGE", {"tooltip": "The processed crops: same row count, order and size as the crops output of FUSE Crop Face Sequences."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan from the FUSE Crop Face Sequences node that made these crops."}),
                "blend_mode": (list(BLEND_MODES), {"default": "box", "tooltip": "Shape of the pasted area: box (feathered rectangle, the whole crop) or ellipse (inscribed in the crop)."}),
                "blend_amount": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Feather width as a fraction of half the crop side (box) or of the radius (ellipse); 0 = hard edge."}),
            },
            "optional": {
                "paste_mode": (list(PASTE_MODES), {"default": "difference", "tooltip": "difference: paste only what the processing changed (an unchanged crop changes nothing, and source detail finer than the crop is kept). replace: paste the processed crop's colours over the face (for processors that redraw the whole face, e.g. a face swap)."}),
                "crop_mask": ("MASK", {"tooltip": "Optional mask in crop space, one per crop (or one for all), e.g. from a face parser: only where it is set is the crop pasted."}),
                "occlusion_mask": ("MASK", {"tooltip": "Optional mask in frame space, one per frame (or one for all): where it is 1 the original pixels are kept (hands, microphones)."}),
            },
        }

    def paste(self, images, crops, crop_plan, blend_mode="box", blend_amount=0.3, paste_mode="difference", crop_mask=None, occlusion_mask=None):
        pasted, pasted_mask = paste_faces(
            images,
            crops,
            crop_plan,
            blend_mode=blend_mode,
            blend_amount=float(blend_amount),
            paste_mode=paste_mode,
            crop_mask=crop_mask,
            occlusion_mask=occlusion_mask,
            on_progress=host.progress_callback(crop_plan.total_rows),
            check_interrupt=host.check_interrupt,
            return_mask=True,
        )
        device = host.intermediate_device()
        return (pasted.to(device), pasted_mask.to(device))


NODE_CLASS_MAPPINGS = {"FUSEPasteFaces": FUSEPasteFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEPasteFaces": "FUSE Paste Faces"}
