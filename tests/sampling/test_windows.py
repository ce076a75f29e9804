"""Table tests for temporal windows: 4k+1 clips, coverage, cross-fade weights, padding, blending."""

import numpy as np
import pytest
import torch

from comfyui_fuse.sampling.windows import blend_windows, clip_size, fold_index, plan_windows

LENGTHS = [1, 2, 5, 9, 80, 81, 82, 200]


def coverage(windows, length):
    """(length,) summed weight and (length,) number of windows writing each frame."""
    total = np.zeros(length)
    count = np.zeros(length, int)
    for window in windows:
        total[window.start : window.stop] += window.weight
        count[window.start : window.stop] += 1
    return total, count


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("context", [0, 3])
def test_every_frame_covered_weights_sum_to_one_and_clips_are_4k_plus_1(length, context):
    windows = plan_windows(length, window_frames=81, overlap=16, temporal_multiple=4, context_before=context, context_after=context)
    total, count = coverage(windows, length)
    assert (count >= 1).all(), f"frames {np.flatnonzero(count == 0)[:5]} of {length} are not covered by any window"
    assert np.allclose(total, 1.0, atol=1e-6), f"weights must sum to 1 per frame, got {total.min():.6f}..{total.max():.6f}"
    for window in windows:
        assert (window.clip_frames - 1) % 4 == 0, f"clip of {window.clip_frames} frames is not 4k+1: the VAE would drop frames"
        assert window.clip_frames <= 81, f"clip of {window.clip_frames} frames exceeds window_frames 81"
        assert window.source_index.min() >= 0 and window.source_index.max() < length, "source_index must stay inside the sequence"
        kept = window.source_index[window.core_rows]
        assert kept.tolist() == list(range(window.start, window.stop)), f"core rows must show frames {window.start}..{window.stop - 1} in order, got {kept.tolist()}"
        assert window.dropped == window.clip_frames - (window.stop - window.start)
        assert (window.weight > 0).all(), "a window frame with zero weight is wasted work"


@pytest.mark.parametrize(
    "length, expected",
    [
        (1, [(0, 1, 1)]),
        (2, [(0, 2, 5)]),
        (5, [(0, 5, 5)]),
        (9, [(0, 9, 9)]),
        (80, [(0, 80, 81)]),
        (81, [(0, 81, 81)]),
        (82, [(0, 81, 81), (65, 82, 17)]),
        (200, [(0, 81, 81), (65, 146, 81), (130, 200, 73)]),
    ],
)
def test_window_spans_and_clip_sizes(length, expected):
    windows = plan_windows(length, window_frames=81, overlap=16)
    assert [(w.start, w.stop, w.clip_frames) for w in windows] == expected


@pytest.mark.parametrize(
    "window_frames, temporal_multiple, expected_limit",
    [(81, 4, 81), (84, 4, 81), (10, 4, 9), (4, 4, 1), (7, 1, 7), (33, 8, 33), (40, 8, 33)],
)
def test_window_frames_rounds_down_to_a_whole_clip(window_frames, temporal_multiple, expected_limit):
    windows = plan_windows(500, window_frames=window_frames, overlap=0, temporal_multiple=temporal_multiple)
    assert max(w.clip_frames for w in windows) == expected_limit


def test_overlap_is_exact_between_consecutive_windows_and_crossfade_is_monotonic():
    windows = plan_windows(300, window_frames=49, overlap=12)
    for before, after in zip(windows, windows[1:]):
        assert before.stop - after.start == 12, f"windows {before.start}-{before.stop} and {after.start}-{after.stop} must overlap by 12"
        fade_in = after.weight[:12]
        assert (np.diff(fade_in) > 0).all(), f"the incoming window must fade in steadily, got {fade_in.round(3)}"
        assert np.allclose(before.weight[-12:] + fade_in, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "index, length, mode, expected",
    [
        ([-3, -2, -1, 0, 3, 4, 5, 6], 4, "reflect", [3, 2, 1, 0, 3, 2, 1, 0]),
        ([-2, -1, 4, 5], 4, "repeat", [0, 0, 3, 3]),
        ([-5, 0, 7], 1, "reflect", [0, 0, 0]),
        ([0, 1, 2, 3, 4], 2, "reflect", [0, 1, 0, 1, 0]),
    ],
)
def test_fold_index(index, length, mode, expected):
    assert fold_index(np.array(index), length, mode).tolist() == expected


def test_padding_reflects_at_the_end_and_context_uses_real_neighbours():
    (single,) = plan_windows(6, window_frames=81, overlap=0, context_before=2, context_after=1)
    # 2 context + 6 core + 1 context = 9 = 4*2+1: no extra padding needed
    assert single.source_index.tolist() == [2, 1, 0, 1, 2, 3, 4, 5, 4] and single.core_offset == 2 and single.dropped == 3
    windows = plan_windows(60, window_frames=21, overlap=4, context_before=2, context_after=2)
    second = windows[1]
    assert second.source_index[:2].tolist() == [second.start - 2, second.start - 1], "inner windows take real frames as context"
    (padded,) = plan_windows(7, window_frames=81, overlap=0, pad_mode="repeat")
    assert padded.source_index.tolist() == [0, 1, 2, 3, 4, 5, 6, 6, 6]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length=0), "length must be an int >= 1"),
        (dict(length=10, window_frames=0), "window_frames must be an int >= 1"),
        (dict(length=10, overlap=-1), "overlap must be an int >= 0"),
        (dict(length=100, window_frames=9, overlap=9), "overlap must be smaller than the 9 frames"),
        (dict(length=100, window_frames=9, context_before=4, context_after=5), "window_frames must leave room"),
        (dict(length=10, pad_mode="wrap"), "pad_mode must be one of"),
        (dict(length=2.5), "length must be an int"),
    ],
)
def test_bad_window_options_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan_windows(**kwargs)


def test_a_long_overlap_fits_when_one_window_holds_the_sequence():
    assert len(plan_windows(9, window_frames=9, overlap=20)) == 1


@pytest.mark.parametrize("frames, multiple, expected", [(1, 4, 1), (2, 4, 5), (5, 4, 5), (6, 4, 9), (7, 1, 7), (10, 8, 17)])
def test_clip_size(frames, multiple, expected):
    assert clip_size(frames, multiple) == expected


def clips_showing_frame_numbers(windows, disturb=0.0):
    """Decoded clips whose pixels equal the sequence frame they show (+ a per-window disturbance)."""
    for position, window in enumerate(windows):
        values = torch.as_tensor(window.source_index, dtype=torch.float32) + disturb * position
        yield values.reshape(-1, 1, 1, 1).expand(-1, 2, 3, 3).clone()


@pytest.mark.parametrize("length", LENGTHS)
def test_blending_identical_content_gives_it_back_and_drops_padding(length):
    windows = plan_windows(length, window_frames=33, overlap=8, context_before=2, context_after=2)
    out = blend_windows(windows, clips_showing_frame_numbers(windows))
    expected = torch.arange(length, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, 2, 3, 3)
    assert out.shape == (length, 2, 3, 3)
    assert torch.allclose(out, expected, atol=1e-4), f"blended frames must equal their sources, max error {(out - expected).abs().max():.2e}"


def test_crossfade_has_no_step_at_window_joins():
    windows = plan_windows(120, window_frames=33, overlap=8)
    # every window adds its own offset: without cross-fade the output would jump by 1.0 at a join
    out = blend_windows(windows, clips_showing_frame_numbers(windows, disturb=1.0))[:, 0, 0, 0]
    offset = out - torch.arange(120, dtype=torch.float32)
    assert offset.diff().abs().max() < 0.5, f"offset must change gradually across joins, largest step {offset.diff().abs().max():.3f}"


def test_single_window_frames_are_bit_identical_and_out_is_written_in_place():
    (window,) = plan_windows(7)
    clip = torch.rand(window.clip_frames, 4, 4, 3)
    out = torch.zeros(7, 4, 4, 3)
    result = blend_windows([window], [clip], out=out)
    assert result is out and torch.equal(out, clip[:7]), "a frame written by one window must come out bit-identical"


def test_blend_rejects_a_clip_of_the_wrong_length():
    (window,) = plan_windows(7)
    with pytest.raises(ValueError, match="must have 9 frames"):
        blend_windows([window], [torch.zeros(7, 2, 2, 3)])
