"""What every command shows while it runs and how it ends: one progress printer, one set of exit codes.

A task (a pipeline stage, a download, a node of a queued prompt) is drawn as one line on stderr,

    detect   [############------------] 24/48
    wav2lip  [######------------------] 109.0/435.8 MB
    Restore (node 3) [########################] 20/20

redrawn in place on a terminal; elsewhere (a log, a pipe) one line is written per tenth of each
task's work, so a log shows progress without thousands of lines.
"""

from __future__ import annotations

import sys

from ..core.progress import OnProgress

EXIT_FAILED = 1  # the work failed for a reason outside the user's input (e.g. the server failed the prompt)
EXIT_USER_ERROR = 2  # bad input, a missing or unwritable file: the user can fix it
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class ProgressPrinter:
    """Progress lines on `stream` (default stderr), one task at a time."""

    WIDTH = 24

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._shown: tuple[str, int] | None = None  # (task, tenth) last written to a log
        self._open: tuple[str, int] | None = None  # (task, width) of a live line not yet ended

    def update(self, task: str, done: float, total: float, label: str | None = None, megabytes: bool = False) -> None:
        """Show that `done` of `total` units of `task` are finished (label: the text before the bar)."""
        if total <= 0:
            return
        fraction = min(max(done / total, 0.0), 1.0)
        filled = round(fraction * self.WIDTH)
        amount = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if megabytes else f"{done}/{total}"
        line = f"{label if label is not None else task} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {amount}"
        if self.live:
            self._draw(task, line, done >= total)
        elif self._shown != (task, int(fraction * 10)):
            self.stream.write(line + "\n")
            self._shown = (task, int(fraction * 10))
        self.stream.flush()

    def _draw(self, task: str, line: str, finished: bool) -> None:
        width = 0
        if self._open is not None:
            if self._open[0] == task:
                width = self._open[1]
            else:
                self.stream.write("\n")
        self.stream.write("\r" + line.ljust(width))
        self._open = None if finished else (task, len(line))
        if finished:
            self.stream.write("\n")

    def stage(self, stage: str, total: int) -> OnProgress:
        """on_progress(n) counting the frames of one pipeline stage (core.progress.StageProgress shape)."""
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            self.update(stage, done, total, label=f"{stage:8s}")

        return advance

    def download(self, name: str, size: int) -> OnProgress:
        """on_progress(n) counting the bytes of one download."""
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            self.update(name, done, size, megabytes=True)

        return advance

    def close(self) -> None:
        """End a live line that is still open (before other messages are printed)."""
        if self._open is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._open = None
