"""Run the comfyui-fuse command line in-process and capture what it prints."""

import contextlib
import io

from comfyui_fuse.cli import app as cli


def run_cli(argv) -> tuple[int, str, str]:
    """main(argv) -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
