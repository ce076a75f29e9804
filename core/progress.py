"""Progress and interrupt callbacks shared by every long loop (host-free).

A stage reports work done through on_progress(n) and polls check_interrupt() between pieces of
work; the node layer binds both to ComfyUI's progress bar and interrupt flag, the command line to
its own progress printer.
"""

from __future__ import annotations

from typing import Callable

# on_progress(n): n more units of work are done.
OnProgress = Callable[[int], None]
# check_interrupt(): raises when the user asked to stop.
CheckInterrupt = Callable[[], None]
# progress(stage, total) -> on_progress(n): one progress counter per named stage.
StageProgress = Callable[[str, int], OnProgress]
