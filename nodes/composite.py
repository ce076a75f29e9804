"""Composite node: paste processed face crops back into the untouched frames."""

from __future__ import annotations

from ..compositing.paste import COLOR_MATCH_MODES, PASTE_BLEND_MODES, PASTE_MODES, SEAM_MODES, PasteSpec, paste_faces
from ..core.progress import StagedProgress
from . import host


class FUSEPasteFaces:
    DESCRIPTION = (
        "Pastes processed face crops back into the video through the inverse of the crop transform. "
        "Pixels outside the pasted faces stay bit-identical; frames without faces pass through unchanged. "
        "Seam tools: landmark-hull masks (whole face, or lower face for lipsync), colour matching to the surroundings, "
        "Poisson (seamless) blending, an occlusion mask for hands and microphones, and fades at the ends of each face sequence. "
        "Where faces overlap, the higher track id is drawn on top. Chain several of these to paste tracks separately."
    )
    CATEGORY = "FUSE/composite"
    FUNCTION = "paste"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "pasted_mask")
    OUTPUT_TOOLTIPS = (
        "The frames with the crops pasted in (4-channel frames keep their alpha channel).",
        "Per frame, how much of each pixel was replaced (0 = original pixel, bit-identical; 1 = fully pasted): the union over every "
        "pasted face, in frame space; useful for chaining (e.g. as the region a later node may touch).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video the crops were cut from (or the output of an earlier FUSE Paste Faces on it)."}),
                "crops": ("IMAGE", {"tooltip": "The processed crops: same row count, order and size as the crops output of FUSE Crop Face Sequences."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan from the FUSE Crop Face Sequences node that made these crops."}),
                "blend_mode": (
                    list(PASTE_BLEND_MODES),
                    {
                        "default": "box",
                        "tooltip": "Shape of the pasted area: box (feathered rectangle, the whole crop), ellipse (inscribed in the crop), "
                        "face_hull (the face outline from forehead to chin, placed on the landmarks) or lower_face (nose to chin: mouth and jaw, "
                        "for lipsync). The hull modes need tracks with landmarks.",
                    },
                ),
                "blend_amount": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "box / ellipse: feather width as a fraction of half the crop side (box) or of the radius (ellipse); 0 = hard edge. The hull modes use feather_pixels."}),
            },
            "optional": {
                "paste_mode": (list(PASTE_MODES), {"default": "difference", "tooltip": "difference: paste only what the processing changed (an unchanged crop changes nothing, and source detail finer than the crop is kept). replace: paste the processed crop's colours over the face (for processors that redraw the whole face, e.g. a face swap)."}),
                "crop_mask": ("MASK", {"tooltip": "Optional mask in crop space, one per crop (or one for all), e.g. from a face parser: only where it is set is the crop pasted."}),
                "occlusion_mask": ("MASK", {"tooltip": "Optional mask in frame space, one per frame (or one for all): where it is 1 the original pixels are kept (hands, microphones)."}),
                "edit_mask": ("MASK", {"tooltip": "Optional mask in crop space of what the processors changed, e.g. FUSE Lipsync's edit_mask (several processors: combine their masks with a maximum first). Only there is the crop pasted, so everything else stays bit-identical, and the colour ring and Poisson seam follow its edge."}),
                "tracks": ("FUSE_TRACKS", {"tooltip": "The face tracks the crop plan was made from; needed for blend_mode face_hull and lower_face (their landmarks place the mask)."}),
                "seam": (list(SEAM_MODES), {"default": "feather", "tooltip": "feather: the pasted change fades out over the mask's feather. poisson: in addition, a smooth correction makes the change exactly zero at the mask's edge (seamless cloning), so a brightness or colour offset of the processed face leaves no seam; slower."}),
                "color_match": (list(COLOR_MATCH_MODES), {"default": "none", "tooltip": "lab_mean_std: match the processed face's colour (Lab mean and contrast) to the original in a ring around the seam, smoothed over time so it does not flicker. For processors that shift colour (restorers, video models). none: keep the processed colours."}),
                "feather_pixels": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 256.0, "step": 0.5, "tooltip": "face_hull / lower_face: feather width inside the hull edge, in pixels of the video (the same at any crop scale); 0 = hard edge."}),
                "fade_frames": ("INT", {"default": 3, "min": 0, "max": 120, "step": 1, "tooltip": "Each face sequence fades in over its first and out over its last this many frames, so faces never pop (not at the clip's first and last frame, where the face was there all along). 0 = no fades."}),
            },
        }

    def paste(self, images, crops, crop_plan, blend_mode="box", blend_amount=0.3, paste_mode="difference", crop_mask=None, occlusion_mask=None,
              edit_mask=None, tracks=None, seam="feather", color_match="none", feather_pixels=8.0, fade_frames=3):
        spec = PasteSpec(
            blend_mode=blend_mode, blend_amount=float(blend_amount), feather_pixels=float(feather_pixels), paste_mode=paste_mode,
            seam=seam, color_match=color_match, fade_frames=int(fade_frames),
        )
        # one bar counting the crops; with colour matching paste_faces reports every row twice (measured, then pasted)
        passes = 2 if color_match != "none" else 1
        rows = getattr(crop_plan, "total_rows", 0)  # paste_faces names a missing crop plan
        on_progress = StagedProgress(host.progress_callback(rows), {"paste": 1}, rows)("paste", passes * rows)
        pasted, pasted_mask = paste_faces(
            images, crops, crop_plan, spec, tracks=tracks, crop_mask=crop_mask, edit_mask=edit_mask, occlusion_mask=occlusion_mask,
            on_progress=on_progress, check_interrupt=host.check_interrupt, return_mask=True,
        )
        device = host.intermediate_device()
        return (pasted.to(device), pasted_mask.to(device))


NODE_CLASS_MAPPINGS = {"FUSEPasteFaces": FUSEPasteFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEPasteFaces": "FUSE Paste Faces"}
