"""ComfyUI-FUSE: temporal face processing for video in ComfyUI.

ComfyUI imports this folder by path and reads NODE_CLASS_MAPPINGS; pip installs it as the package
comfyui_fuse. Nothing heavy happens here: no model is loaded and nothing is downloaded.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.host import register_model_folders

register_model_folders()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
