"""StagedProgress: one bar over several stages, total fixed up front, only moving forward."""

import pytest

from comfyui_fuse.core.progress import StagedProgress


def run_stages(weights, total, script):
    """script: (stage, units, reports) in order; returns the bar values after every step it sent."""
    values = []
    progress = StagedProgress(lambda step: values.append((values[-1] if values else 0) + step), weights, total)
    for stage, units, reports in script:
        on_progress = progress(stage, units)
        for count in reports:
            on_progress(count)
    progress.finish()
    return values, progress


@pytest.mark.parametrize(
    "weights, total, script, expected",
    [
        ({"a": 1, "b": 1}, 10, [("a", 4, [1, 1, 1, 1]), ("b", 2, [1, 1])], [1, 2, 3, 5, 7, 10]),
        ({"a": 1, "b": 3}, 8, [("a", 2, [2]), ("b", 3, [1, 1, 1])], [2, 4, 6, 8]),
        ({"detect": 1, "process": 1}, 10, [("process", 5, [5])], [5, 10]),  # detect never ran: skipped when process starts
        ({"a": 1, "b": 1}, 10, [("a", 0, []), ("b", 1, [1])], [5, 10]),  # no work in a: done at once
        ({"a": 1}, 10, [("a", 2, [5])], [10]),  # more reported than announced: capped
        ({"a": 1}, 10, [("preview", 3, [3])], [10]),  # a stage without a share moves nothing
        ({"a": 1}, 0, [("a", 3, [3])], []),
    ],
    ids=["even", "weighted", "skipped-stage", "empty-stage", "over-report", "unknown-stage", "zero-total"],
)
def test_the_bar_moves_forward_through_each_stage_share(weights, total, script, expected):
    values, progress = run_stages(weights, total, script)
    assert values == expected
    assert progress.value == total


def test_a_stage_started_again_never_moves_the_bar_back():
    values, _ = run_stages({"a": 1, "b": 1}, 10, [("b", 2, [2]), ("a", 2, [1, 1])])
    assert values == [5, 10] and values == sorted(values), "the bar must be monotonic"


@pytest.mark.parametrize(
    "weights, total, match",
    [({}, 10, "weights must give every stage a weight > 0"), ({"a": 0}, 10, "weights must"), ({"a": 1}, -1, "total must be an int >= 0"), ({"a": 1}, 2.5, "total must")],
)
def test_bad_settings_are_clear_errors(weights, total, match):
    with pytest.raises(ValueError, match=match):
        StagedProgress(lambda step: None, weights, total)
