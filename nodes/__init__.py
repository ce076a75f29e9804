"""FUSE nodes: one module per stage, each exporting its own NODE_CLASS_MAPPINGS."""

from importlib import import_module

# Every stage module, in menu order. Each defines NODE_CLASS_MAPPINGS and NODE_DISPLAY_NAME_MAPPINGS.
STAGES = ("detect", "track", "analyze", "crop", "sample", "speaker", "lipsync", "restore", "composite", "preview", "video", "quality", "demo", "download")

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
for _stage in STAGES:
    _module = import_module(f".{_stage}", __name__)
    for _node_id in _module.NODE_CLASS_MAPPINGS:
        if _node_id in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"node id {_node_id} is defined twice (in nodes/{_stage}.py and before)")
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

# The pack's model folders exist for ComfyUI (and the command line) as soon as the nodes do.
from .host import register_model_folders  # noqa: E402

register_model_folders()
