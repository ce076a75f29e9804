"""The `comfyui-fuse` command line: demo, track, detect, models, queue and nodes.

main (the console script comfyui_fuse.cli:main) is app.main; `python -m comfyui_fuse.cli` and the
pack's fuse.py launcher run the same. The parser lives in app.py, not main.py: a submodule called
main would be shadowed by this function.
"""

from .app import main

__all__ = ["main"]
