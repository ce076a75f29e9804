"""Preview nodes: see what the tracker found before spending time on processing."""

from __future__ import annotations

from ..compositing.overlay import draw_tracks
from . import host


class FUSEPreviewTracks:
    DESCRIPTION = (
        "Draws every tracked face on the frames: a box, its track id and its state "
        "(green = detected, yellow = filled in across a gap), and marks the first frames after each cut (magenta border, "
        "'cut -> shot N'). Connect the output to Preview Image or a video saver to check the tracks before processing."
    )
    CATEGORY = "FUSE/preview"
    FUNCTION = "preview"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("preview",)
    OUTPUT_TOOLTIPS = ("The frames with boxes, 'id N' labels and state colours drawn on; the input frames are not changed.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video frames the tracks were made from (the same batch that went into FUSE Detect Faces)."}),
                "tracks": ("FUSE_TRACKS", {"tooltip": "Face tracks from FUSE Track Faces."}),
                "thickness": ("INT", {"default": 2, "min": 1, "max": 16, "step": 1, "tooltip": "Line width of the boxes in pixels; raise it for 4K video."}),
            }
        }

    def preview(self, images, tracks, thickness=2):
        drawn = draw_tracks(images, tracks, thickness=thickness, on_progress=host.progress_callback(getattr(tracks, "frame_count", 0)), check_interrupt=host.check_interrupt)
        return (drawn.to(host.intermediate_device()),)


NODE_CLASS_MAPPINGS = {"FUSEPreviewTracks": FUSEPreviewTracks}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEPreviewTracks": "FUSE Preview Tracks"}
