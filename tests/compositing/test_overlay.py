"""draw_tracks: boxes and labels land where the tracks are, in the state colour; nothing else changes."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.overlay import STATE_COLOURS, draw_tracks
from comfyui_fuse.core.types import ABSENT, DETECTED, INTERPOLATED, FaceTracks


def make_tracks(states, boxes, frame_size=(96, 128), identity=None) -> FaceTracks:
    """One track per row of states (k,N); boxes (k,4) held still over the clip."""
    states = np.asarray(states, np.uint8)
    k, n = states.shape
    xyxy = np.repeat(np.asarray(boxes, np.float32)[:, None, :], n, axis=1)
    return FaceTracks(
        track_id=np.arange(1, k + 1),
        xyxy=xyxy,
        state=states,
        score=np.where(states == DETECTED, 0.9, 0.0),
        frame_count=n,
        frame_size=frame_size,
        fps=Fraction(25),
        identity=identity,
    )


def make_frames(n, frame_size=(96, 128), seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((n,) + tuple(frame_size) + (3,), generator=generator)


def changed(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
    """(N,H,W) bool: pixels that differ in any channel."""
    return (before != after).any(dim=-1).numpy()


@pytest.mark.parametrize(
    "state, colour",
    [(DETECTED, STATE_COLOURS[DETECTED]), (INTERPOLATED, STATE_COLOURS[INTERPOLATED])],
    ids=["detected-green", "interpolated-yellow"],
)
def test_box_edge_has_the_state_colour(state, colour):
    frames = make_frames(1)
    tracks = make_tracks([[state]], [[40, 50, 90, 85]])
    out = draw_tracks(frames, tracks, thickness=2)
    # Middle of the bottom edge: only the box line is there, not the label.
    pixel = (out[0, 85, 65] * 255).round().to(torch.int64).tolist()
    assert pixel == list(colour), f"bottom edge of a state-{state} box should be {colour}, but is {pixel}"


def test_pixels_away_from_drawings_are_bit_identical():
    frames = make_frames(3)
    tracks = make_tracks([[DETECTED, INTERPOLATED, ABSENT]], [[40, 50, 90, 85]])
    out = draw_tracks(frames, tracks, thickness=2)
    diff = changed(frames, out)
    assert diff[0].any() and diff[1].any(), "frames with a present face should get a box"
    assert not diff[2].any(), "a frame where the track is absent must pass through unchanged"
    assert not diff[0, 60:80, 45:85].any(), "the inside of the box must stay untouched"
    assert not diff[0, :, :30].any(), "pixels left of the box must stay untouched"
    ys, xs = np.nonzero(diff[0])
    assert ys.min() >= 50 - 30 and ys.max() <= 85 + 2, f"drawing should hug the box and its label, but spans rows {ys.min()}..{ys.max()}"


def test_a_box_far_outside_the_frame_draws_nothing():
    frames = make_frames(1)
    out = draw_tracks(frames, make_tracks([[DETECTED]], [[1e12, 10, 1e12 + 50, 60]]))
    assert torch.equal(out, frames), "a box at x = 1e12 is not in the frame: nothing may be drawn"


def test_a_box_reaching_far_outside_draws_its_visible_part_as_a_cut_box_would():
    frames = make_frames(1)
    far = draw_tracks(frames, make_tracks([[DETECTED]], [[40, 50, 1e12, 85]]))
    near = draw_tracks(frames, make_tracks([[DETECTED]], [[40, 50, 128 + 5, 85]]))
    assert torch.equal(far, near), "a box reaching to x = 1e12 must draw the same pixels as one ending just past the frame"


def test_label_is_drawn_above_the_box_and_inside_when_at_the_top():
    frames = make_frames(1)
    above = changed(frames, draw_tracks(frames, make_tracks([[DETECTED]], [[40, 50, 90, 85]])))[0]
    assert above[:48, 40:60].any(), "the 'id 1' label should sit above a box that has room above it"
    at_top = changed(frames, draw_tracks(frames, make_tracks([[DETECTED]], [[40, 0, 90, 60]])))[0]
    assert at_top[3:15, 42:60].any(), "the label of a box touching the top edge should be drawn inside the box"


def test_each_track_gets_its_own_label():
    frames = make_frames(1)
    one = draw_tracks(frames, make_tracks([[DETECTED]], [[10, 40, 50, 80]]))
    two = draw_tracks(frames, make_tracks([[DETECTED], [DETECTED]], [[10, 40, 50, 80], [70, 40, 110, 80]]))
    assert changed(one, two)[0, :, 65:].any(), "the second track should add a box and label on the right"
    named = draw_tracks(frames, make_tracks([[DETECTED]], [[10, 40, 50, 80]], identity=np.array(["alice"])))
    assert changed(one, named)[0, :40].any(), "an identity name should lengthen the label"


def test_input_is_not_changed_and_output_keeps_shape_and_dtype():
    frames = make_frames(2)
    copy = frames.clone()
    out = draw_tracks(frames, make_tracks([[DETECTED, DETECTED]], [[10, 10, 60, 60]]))
    assert torch.equal(frames, copy), "draw_tracks must not write into its input"
    assert out.shape == frames.shape and out.dtype == frames.dtype


def test_alpha_channel_is_kept():
    frames = torch.cat([make_frames(1), torch.full((1, 96, 128, 1), 0.5)], dim=-1)
    out = draw_tracks(frames, make_tracks([[DETECTED]], [[10, 10, 60, 60]]))
    assert out.shape == frames.shape
    assert torch.equal(out[..., 3], frames[..., 3]), "the alpha channel must pass through unchanged"


def test_no_tracks_returns_an_equal_copy():
    frames = make_frames(2)
    empty = FaceTracks.empty(2, (96, 128))
    out = draw_tracks(frames, empty)
    assert torch.equal(out, frames) and out is not frames


def test_progress_counts_every_frame():
    frames = make_frames(5)
    steps = []
    draw_tracks(frames, make_tracks([[ABSENT, DETECTED, ABSENT, DETECTED, ABSENT]], [[10, 10, 60, 60]]), on_progress=steps.append)
    assert sum(steps) == 5, f"progress should add up to the frame count 5, but got {steps}"


@pytest.mark.parametrize(
    "frames, tracks, thickness, message",
    [
        (make_frames(3), make_tracks([[DETECTED, DETECTED]], [[0, 0, 5, 5]]), 2, "images must be the video the tracks came from"),
        (make_frames(2, (64, 64)), make_tracks([[DETECTED, DETECTED]], [[0, 0, 5, 5]]), 2, "images must be the video the tracks came from"),
        (torch.rand(2, 96, 128), make_tracks([[DETECTED, DETECTED]], [[0, 0, 5, 5]]), 2, r"images must be an IMAGE batch \[B,H,W,C\] with C 3 or 4"),
        (make_frames(2), make_tracks([[DETECTED, DETECTED]], [[0, 0, 5, 5]]), 0, "thickness must be an int >= 1"),
    ],
    ids=["frame-count", "frame-size", "not-4d", "thickness"],
)
def test_bad_input_is_a_clear_error(frames, tracks, thickness, message):
    with pytest.raises(ValueError, match=message):
        draw_tracks(frames, tracks, thickness=thickness)


def test_tracks_of_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="tracks must be a FaceTracks"):
        draw_tracks(make_frames(1), {"track_id": [1]})


def test_cuts_are_marked_on_the_first_frames_of_each_new_shot():
    from comfyui_fuse.compositing.overlay import CUT_COLOUR, CUT_MARK_FRAMES

    tracks = make_tracks([[ABSENT] * 12], [[40, 50, 90, 85]])
    tracks = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, 12, (96, 128), cuts=[4, 10])
    frames = make_frames(12)
    out = draw_tracks(frames, tracks)
    marked = changed(frames, out).any(axis=(1, 2))
    expected = np.zeros(12, bool)
    expected[4 : 4 + CUT_MARK_FRAMES] = True
    expected[10:12] = True  # the last shot is only two frames long
    assert marked.tolist() == expected.tolist(), f"cut marks on frames {np.flatnonzero(marked).tolist()}"
    np.testing.assert_allclose(out[4, 1, 64].numpy(), np.array(CUT_COLOUR) / 255, err_msg="the border has the cut colour")
