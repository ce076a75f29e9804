"""Demo nodes: a built-in clip of real faces, so bundled workflows run with nothing to upload."""

from __future__ import annotations

import torch

from ..media import synthetic
from . import host


class FUSEDemoClip:
    DESCRIPTION = (
        "Renders the FUSE demo clip: two different real people (public-domain portraits of Eileen Collins and Grace Hopper "
        "from the sample images of scikit-image and matplotlib) drifting "
        "across a textured background, one briefly covered by a hand. Use it to try a workflow without "
        "loading a video; replace it with a video loader for real work."
    )
    CATEGORY = "FUSE/demo"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    OUTPUT_TOOLTIPS = (
        "The clip as a batch of frames [frames, height, width, 3].",
        "The clip's frame rate (30000/1001, about 29.97): connect it to a video saver's fps.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("INT", {"default": 24, "min": 1, "max": 600, "step": 1, "tooltip": "Number of frames to render."}),
                "width": ("INT", {"default": 640, "min": 64, "max": 3840, "step": 8, "tooltip": "Frame width in pixels."}),
                "height": ("INT", {"default": 360, "min": 64, "max": 2160, "step": 8, "tooltip": "Frame height in pixels; the faces are a third of the shorter side."}),
            }
        }

    def render(self, frames, width, height):
        missing = synthetic.missing_photo_packages()
        if missing:
            raise ImportError(
                f"FUSE Demo Clip draws faces from the sample photos of scikit-image and matplotlib, but {' and '.join(missing)} "
                f"is not installed; pip install {' '.join(missing)} in ComfyUI's Python"
            )
        scene = synthetic.demo_scene(frame_count=int(frames), frame_size=(int(height), int(width)))
        pixels = synthetic.render(scene)  # (N,H,W,3) uint8
        images = torch.from_numpy(pixels).to(torch.float32).div_(255.0)
        return (images.to(host.intermediate_device()), float(scene.fps))


NODE_CLASS_MAPPINGS = {"FUSEDemoClip": FUSEDemoClip}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEDemoClip": "FUSE Demo Clip"}
