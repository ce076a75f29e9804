"""Motion breaks (jumps) and outliers (out and straight back) in a track's detections."""

import numpy as np
import pytest

from comfyui_fuse.tracking.motion import EXCURSION_MAX_DETECTIONS, doubtful_edges, motion_breaks, motion_outliers


def path(frames, vx=0.0, size=100.0):
    """(cxcywh (n,4)) of a face moving vx px/frame on the given frames."""
    frames = np.asarray(frames, np.float64)
    return np.stack([300 + vx * frames, np.full(len(frames), 300.0), np.full(len(frames), size), np.full(len(frames), size)], axis=1)


@pytest.mark.parametrize("jump", [150.0, 200.0])
def test_a_jump_is_a_break(jump):
    frames = np.arange(30)
    boxes = path(frames, vx=5)
    boxes[15:, 0] += jump  # 1.5-2 face sizes in one frame
    assert np.flatnonzero(motion_breaks(frames, boxes)).tolist() == [14]


def test_steady_fast_motion_and_noise_are_no_break():
    frames = np.arange(60)
    boxes = path(frames, vx=45)  # fast, but steady
    boxes[:, :2] += np.random.default_rng(0).normal(0, 5, (60, 2))  # 5% of the face size
    assert not motion_breaks(frames, boxes).any()


def test_a_face_slowing_into_a_turn_during_a_gap_is_no_break():
    frames = np.r_[np.arange(0, 10), np.arange(18, 28)]
    x = np.where(frames < 14, 300 + 40 * frames, 300 + 40 * 14 - 10 * (frames - 14))
    boxes = path(frames)
    boxes[:, 0] = x
    assert not motion_breaks(frames, boxes).any(), "a change of velocity across a gap is motion, not a jump"


def test_a_jump_across_a_gap_is_a_break():
    frames = np.r_[np.arange(0, 10), np.arange(14, 24)]
    boxes = path(frames, vx=2)
    boxes[10:, 0] += 180
    assert np.flatnonzero(motion_breaks(frames, boxes)).tolist() == [9]


def test_out_and_back_is_an_outlier_a_jump_is_not():
    frames = np.arange(20)
    boxes = path(frames, vx=3)
    boxes[8, 0] += 70  # one box 0.7 face sizes off, then back: a false positive taken by the track
    boxes[14:, 0] += 180  # a jump that stays
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == [8]


def test_a_last_detection_that_jumps_is_an_outlier():
    frames = np.arange(10)
    boxes = path(frames)
    boxes[9, 0] += 200
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == [9]
    assert not motion_outliers(frames[:2], boxes[[0, 9]]).any(), "two detections: no way to tell which one is off"


def test_a_box_jumped_to_and_straight_away_from_is_an_outlier():
    frames = np.arange(20)
    boxes = path(frames, vx=2)
    boxes[10, 0] += 250  # a false positive far off, then back ...
    boxes[11:, 0] += 180  # ... where the face has jumped meanwhile: no line between neighbours explains it
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == [10]


@pytest.mark.parametrize("run", [2, 3, 4])
def test_a_short_run_jumped_to_and_back_from_is_dropped(run):
    """A false positive that holds the track for a few frames while the face is missed (the face's
    boxes on both sides agree across the run): the run goes, the face stays."""
    frames = np.r_[np.arange(0, 10), np.arange(12, 12 + run), np.arange(13 + run, 30)]
    boxes = path(frames, vx=-2)
    inside = (frames >= 12) & (frames < 12 + run)
    boxes[inside, 1] += 90  # a bigger box lower down (0.9 face sizes), as a Haar false positive on the chin
    boxes[inside, 2:] *= 1.4
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == np.flatnonzero(inside).tolist()


def test_a_face_that_jumps_and_stays_or_comes_back_late_keeps_its_boxes():
    frames = np.arange(40)
    stays = path(frames, vx=2)
    stays[20:, 0] += 180  # jumps and stays
    assert not motion_outliers(frames, stays).any()
    away = path(frames, vx=2)
    away[15:15 + EXCURSION_MAX_DETECTIONS + 2, 0] += 180  # away longer than an excursion: a real move
    assert not motion_outliers(frames, away).any()


def test_a_track_that_jumps_on_every_step_is_no_face():
    frames = np.arange(3)
    boxes = path(frames)
    boxes[1, 0] += 250
    boxes[2, 1] += 250
    assert motion_outliers(frames, boxes).all()


def jump_track(jump_at=15, count=30, noise=0.0, seed=0):
    """frames, cxcywh, score of a face moving 2 px/frame that jumps 180 px right at jump_at."""
    frames = np.arange(count)
    boxes = path(frames, vx=2)
    boxes[jump_at:, 0] += 180
    boxes[:, :2] += np.random.default_rng(seed).normal(0, noise * 100, (count, 2))
    return frames, boxes, np.full(count, 0.8)


def nothing_else(_frame):
    return np.zeros((0, 4))


def test_a_genuine_face_keeps_the_boxes_either_side_of_its_jump():
    for seed in range(10):
        frames, boxes, score = jump_track(noise=0.03, seed=seed)  # 3% jitter of the face size
        breaks = motion_breaks(frames, boxes)
        assert np.flatnonzero(breaks).tolist() == [14]
        assert not doubtful_edges(frames, boxes, score, breaks, nothing_else).any(), f"seed {seed}: a true box next to the jump was dropped"


def test_a_box_before_a_jump_is_doubtful_when_the_face_is_already_seen_after_it():
    frames, boxes, score = jump_track()
    boxes[15] = boxes[14] + [10, 0, 0, 0]  # a false positive near the old place, on the frame the face jumped
    breaks = motion_breaks(frames, boxes)
    assert np.flatnonzero(breaks).tolist() == [15], "the false positive looks like the last box before the jump"
    face_there = path(np.array([15]), vx=2)[0] + [180, 0, 0, 0]  # ... while the face was detected where it went
    seen = {15: np.stack([boxes[15], face_there])}
    doubtful = doubtful_edges(frames, boxes, score, breaks, lambda f: seen.get(f, np.zeros((0, 4))))
    assert np.flatnonzero(doubtful).tolist() == [15]


def test_a_box_next_to_a_jump_is_doubtful_when_it_scores_far_below_its_track():
    frames, boxes, score = jump_track()
    score[14] = 0.4  # half the track's score
    breaks = motion_breaks(frames, boxes)
    assert np.flatnonzero(doubtful_edges(frames, boxes, score, breaks, nothing_else)).tolist() == [14]
    score[14], score[20] = 0.8, 0.4  # not next to the jump: not judged here
    assert not doubtful_edges(frames, boxes, score, breaks, nothing_else).any()


def test_a_box_next_to_a_jump_is_doubtful_when_its_appearance_disagrees():
    frames, boxes, score = jump_track()
    embedding = np.tile(np.eye(8)[0], (len(frames), 1))
    embedding[15] = np.eye(8)[1]  # the first box after the jump is someone, or something, else
    breaks = motion_breaks(frames, boxes)
    assert np.flatnonzero(doubtful_edges(frames, boxes, score, breaks, nothing_else, embedding)).tolist() == [15]


def test_a_box_next_to_a_jump_is_doubtful_when_it_strays_from_its_side():
    frames, boxes, score = jump_track()
    boxes[14, :2] += [-30, 35]  # 0.46 face sizes off its side's line, still no break on its own
    breaks = motion_breaks(frames, boxes)
    assert np.flatnonzero(breaks).tolist() == [14]
    assert np.flatnonzero(doubtful_edges(frames, boxes, score, breaks, nothing_else)).tolist() == [14]


def test_a_box_after_a_jump_is_doubtful_when_its_side_does_not_confirm_it():
    frames, boxes, score = jump_track()
    keep = np.ones(len(frames), bool)
    keep[[16, 17]] = False  # the face is missed on the two frames after the first box where it lands
    frames, boxes, score = frames[keep], boxes[keep], score[keep]
    breaks = motion_breaks(frames, boxes)
    assert np.flatnonzero(breaks).tolist() == [14]
    assert np.flatnonzero(doubtful_edges(frames, boxes, score, breaks, nothing_else)).tolist() == [15]


def test_one_miss_after_a_jump_or_sparse_detection_leaves_the_edges_alone():
    frames, boxes, score = jump_track()
    keep = np.arange(len(frames)) != 16  # one frame missed after the landing box: still confirmed
    breaks = motion_breaks(frames[keep], boxes[keep])
    assert not doubtful_edges(frames[keep], boxes[keep], score[keep], breaks, nothing_else).any()
    frames, boxes, score = jump_track(jump_at=45, count=90)
    every_fifth = frames % 5 == 0  # detection on every 5th frame: 5 frames apart is the usual step
    breaks = motion_breaks(frames[every_fifth], boxes[every_fifth])
    assert breaks.sum() == 1
    assert not doubtful_edges(frames[every_fifth], boxes[every_fifth], score[every_fifth], breaks, nothing_else).any()


def test_a_noisy_face_before_its_jump_is_no_excursion():
    """A face standing still, detected with 10% jitter, jumps 1.7 face sizes at frame 20. Its own
    boxes at 17 and 19 sit between two breaks, and the jittery steps beside them gave a velocity
    change large enough to let the bridge over them pass as a turn: they were dropped as an
    excursion, and gap filling then drew a line from 12 to 20 across the background. The bridge
    of an excursion must be explained by the motion itself, without the allowance for turns."""
    frames = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 19, 20, 21, 23, 24, 25, 26, 27, 28, 30])
    boxes = np.array(
        [[426, 356, 104, 132], [402, 372, 101, 136], [408, 370, 116, 118], [409, 361, 90, 133], [388, 361, 92, 135],
         [437, 343, 97, 124], [414, 348, 113, 157], [399, 341, 118, 131], [397, 350, 101, 118], [409, 358, 100, 114],
         [413, 345, 104, 141], [400, 373, 98, 130], [420, 360, 109, 140], [410, 364, 114, 113], [429, 330, 102, 112],
         [394, 354, 102, 125], [412, 345, 105, 129], [595, 307, 101, 125], [619, 322, 94, 112], [580, 321, 109, 118],
         [592, 342, 99, 114], [584, 343, 96, 130], [594, 325, 112, 122], [582, 348, 88, 107], [581, 320, 113, 119],
         [582, 342, 103, 128]], np.float64)
    dropped = frames[motion_outliers(frames, boxes)].tolist()
    assert 17 not in dropped and 19 not in dropped, f"the face's own boxes before its jump were dropped: {dropped}"


def test_the_allowance_for_a_turn_stops_growing_over_a_long_gap():
    """A face that stands still, is missed for 9 frames, and then moves at 10 px/frame: speeding
    up during the gap explains a few dozen px, not 190 (1.9 face sizes). Crediting half the change
    of velocity for every frame of the gap (1.5 face sizes in all here) let that jump pass, and
    detector jitter, which makes the measured change, grows the same way."""
    before = np.arange(0, 6)
    after = np.arange(15, 21)
    frames = np.concatenate([before, after])
    boxes = np.concatenate([path(before), path(after - 15, vx=10)])
    boxes[len(before):, 0] += 190  # where the face is seen again
    breaks = motion_breaks(frames, boxes)
    assert breaks.tolist() == [False] * 5 + [True] + [False] * 5
    boxes[len(before):, 0] -= 140  # 50 px: what speeding up to 10 px/frame during the gap gives
    assert not motion_breaks(frames, boxes).any()
