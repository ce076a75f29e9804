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


class StagedProgress:
    """One progress bar for a run of several stages, its total fixed before the first stage starts.

    weights: {stage: weight} in the order the stages run; each stage owns a share of `total`
    proportional to its weight. progress(stage, units) (a StageProgress) starts a stage of `units`
    units of work and returns its on_progress, which moves the bar through the stage's share. The
    bar only moves forward and never passes `total`: a stage that does not run is skipped when a
    later one starts, a stage of 0 units completes at once, a stage not in weights moves nothing,
    and finish() fills the bar. on_progress(n) receives the bar's own steps (n >= 1).
    """

    def __init__(self, on_progress: OnProgress, weights: dict[str, float], total: int = 100) -> None:
        if not weights or any(not weight > 0 for weight in weights.values()):
            raise ValueError(f"weights must give every stage a weight > 0, but got {weights!r}")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be an int >= 0, but got {total!r}")
        self.total = total
        self.value = 0
        self._on_progress = on_progress
        whole, running = float(sum(weights.values())), 0.0
        self._spans: dict[str, tuple[int, int]] = {}
        for stage, weight in weights.items():
            start = round(total * running / whole)
            running += weight
            self._spans[stage] = (start, round(total * running / whole))

    def _advance_to(self, value: int) -> None:
        value = min(value, self.total)
        if value > self.value:
            step, self.value = value - self.value, value
            self._on_progress(step)

    def __call__(self, stage: str, units: int) -> OnProgress:
        if stage not in self._spans:
            return lambda count: None
        start, stop = self._spans[stage]
        self._advance_to(start)
        units = int(units)
        if units <= 0:
            self._advance_to(stop)
            return lambda count: None
        done = 0

        def on_progress(count: int) -> None:
            nonlocal done
            done = min(units, done + int(count))
            self._advance_to(start + (stop - start) * done // units)

        return on_progress

    def finish(self) -> None:
        """Fill the bar (the run is done, whatever its stages reported)."""
        self._advance_to(self.total)
