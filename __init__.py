"""ComfyUI-FUSE: temporal face processing for video in ComfyUI.

ComfyUI imports this folder by path and reads NODE_CLASS_MAPPINGS; pip installs it as the package
comfyui_fuse. The node modules load on first access of those two names (PEP 562), so importing a
library package such as comfyui_fuse.tracking loads no node and no host module. Nothing heavy
happens either way: no model is loaded and nothing is downloaded.
"""

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]


def __getattr__(name: str):
    if name in __all__:
        from . import nodes

        return getattr(nodes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
