"""The online pass: confirmation, gaps, probation after a gap, sampled frames."""

import numpy as np
import pytest

from comfyui_fuse.core.types import DETECTED
from comfyui_fuse.tracking.lifecycle import follow_tracks
from comfyui_fuse.tracking.track import track_faces

DEFAULTS = dict(iou_threshold=0.3, distance_threshold=100.0, max_gap=15, min_hits=3)


def run(detections, **overrides):
    return follow_tracks(detections, **{**DEFAULTS, **overrides})


@pytest.mark.parametrize("hits, confirmed", [(1, 0), (2, 0), (3, 1), (10, 1)])
def test_a_track_counts_after_min_hits(builders, hits, confirmed):
    path = builders.moving_box(20, 300, 300, 100)
    path[hits:] = np.nan
    assert len(run(builders.detections([path]))) == confirmed


def test_a_confirmed_track_survives_max_gap_and_not_more(builders):
    path = builders.moving_box(40, 300, 300, 100, vx=3.0)
    assert len(run(builders.detections([builders.drop(path, range(10, 25))]))) == 1
    assert len(run(builders.detections([builders.drop(path, range(10, 26))]))) == 2


def test_a_lost_track_forgets_a_false_positive_it_grabbed(builders):
    path = builders.drop(builders.moving_box(40, 300, 300, 100, vx=3.0), range(10, 22))
    grab = (15, [420, 330, 520, 430])  # near where the lost track predicts, shown once
    detections = builders.detections([path], extra=[grab])
    tracklets = run(detections)
    assert len(tracklets) == 1, f"the grab broke the track: {len(tracklets)} tracklets"
    tracks = track_faces(detections)
    assert len(tracks) == 1 and tracks.state[0, 15] != DETECTED, "a lone hit after a gap that strays out and back must not stay in the track"
    assert np.abs(tracks.xyxy[0, 15] - np.array(grab[1])).max() > 30, "the gap is filled along the face's path, not through the grab"


def test_hits_thrown_off_probation_come_back_when_the_face_is_found_again(builders):
    """Face seen, missed, seen once (probation), missed, then seen twice: the lone hit in between
    is the face (it lies on its path), so it stays in the track once the face is found again."""
    path = builders.moving_box(40, 300, 300, 100, vx=3.0)
    path = builders.drop(path, [10, 12])
    tracklets = run(builders.detections([path]))
    assert len(tracklets) == 1 and 11 in tracklets[0].frames.tolist(), "the face's own hit between two misses was thrown away"
    tracks = track_faces(builders.detections([path]))
    assert tracks.state[0, 11] == DETECTED


def test_skipped_frames_are_not_misses(builders):
    sampled = np.arange(0, 60, 6)
    path = builders.moving_box(60, 200, 200, 100, vx=2.0)
    path[np.setdiff1d(np.arange(60), sampled)] = np.nan
    tracklets = run(builders.detections([path], sampled_frames=sampled), max_gap=0)
    assert len(tracklets) == 1 and tracklets[0].frames.tolist() == sampled.tolist()


def test_progress_counts_every_frame(builders):
    steps = []
    run(builders.detections([builders.moving_box(17, 100, 100, 80)]), on_progress=steps.append)
    assert sum(steps) == 17


def test_a_jump_is_taken_when_the_next_frames_confirm_it(builders):
    path = builders.moving_box(40, 300, 300, 100)
    path[20:, [0, 2]] += 180  # 1.8 face sizes in one frame
    tracklets = run(builders.detections([path]), max_jump=2.5)
    assert len(tracklets) == 1 and len(tracklets[0]) == 40, f"the jump split the face: {[len(t) for t in tracklets]}"
    assert len(run(builders.detections([path]), max_jump=0.0)) == 2, "with jumps off the gate cannot reach the new place"


def test_no_jump_when_the_face_is_still_where_it_was(builders):
    face = builders.drop(builders.moving_box(40, 300, 300, 100), [20])  # missed once ...
    other = builders.moving_box(40, 480, 300, 100)
    other[:20] = np.nan  # ... just as another face turns up 1.8 face sizes away, and stays
    tracklets = run(builders.detections([face, other]), max_jump=2.5)
    assert sorted(len(t) for t in tracklets) == [20, 39], "the track must not jump to the newcomer: its own face is back next frame"
