"""The comfyui-fuse command line, run with ComfyUI's own Python from the installed pack folder:

    python ComfyUI/custom_nodes/ComfyUI-FUSE/fuse.py models list

It is the `comfyui-fuse` command (what `pip install .` installs) for a pack that ComfyUI loads
from custom_nodes: that folder's name, ComfyUI-FUSE, cannot be imported as comfyui_fuse, so this
script loads its own folder under that name. Run it as a script; importing it does nothing.
"""

import importlib.util
import os
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    # Python put this folder on sys.path; its sub-folders (models, nodes, ...) must not be
    # importable as top-level names, where they would shadow other packages.
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.util.spec_from_file_location("comfyui_fuse", os.path.join(here, "__init__.py"), submodule_search_locations=[here])
    package = importlib.util.module_from_spec(spec)
    sys.modules["comfyui_fuse"] = package
    spec.loader.exec_module(package)
    from comfyui_fuse.cli import main as command_line

    return command_line()


if __name__ == "__main__":
    sys.exit(main())
