"""The `comfyui-fuse` command line: track, detect, demo, models, queue and nodes."""

from .app import main

__all__ = ["main"]
