"""track_faces end to end: the seed tracker's known failures, each fixed, and the output contract."""

from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.tracking.boxes import iou_matrix, xyxy_to_cxcywh
from comfyui_fuse.tracking.track import track_faces
from comfyui_fuse.core.types import ABSENT, DETECTED, INTERPOLATED, FaceDetections


def id_covering(tracks, frame: int, box) -> int | None:
    """The id of the track whose box at `frame` overlaps `box` best (IoU >= 0.5), else None."""
    present = np.flatnonzero(tracks.present[:, frame])
    if not len(present):
        return None
    iou = iou_matrix(np.asarray(box)[None], tracks.xyxy[present, frame])[0]
    best = int(np.argmax(iou))
    return int(tracks.track_id[present[best]]) if iou[best] >= 0.5 else None


# --- the seed's failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missed, link_gaps, expected_tracks, expected_gap_state",
    [
        (range(20, 21), True, 1, INTERPOLATED),  # the seed gave a new id after every miss
        (range(20, 25), True, 1, INTERPOLATED),
        (range(20, 35), True, 1, INTERPOLATED),  # exactly max_gap = 15 missed frames
        (range(20, 36), True, 1, ABSENT),  # longer than max_gap: linked, but not drawn in the gap
        (range(20, 36), False, 2, ABSENT),
    ],
)
def test_missed_detections_keep_the_id(builders, missed, link_gaps, expected_tracks, expected_gap_state):
    path = builders.moving_box(60, 300, 200, 120, vx=2.0)
    tracks = track_faces(builders.detections([builders.drop(path, missed)]), link_gaps=link_gaps)
    assert len(tracks) == expected_tracks, f"{len(missed)} missed detection(s) gave {len(tracks)} tracks, expected {expected_tracks}"
    gap = list(missed)
    assert (tracks.state[0, gap] == expected_gap_state).all() or (tracks.state[:, gap] == expected_gap_state).all(), f"states in the gap: {tracks.state[:, gap]}"
    if expected_gap_state == INTERPOLATED:
        error = np.abs(tracks.xyxy[0, gap] - path[gap]).max()
        assert error < 3.0, f"the interpolated box strays {error:.1f} px from the true path"


def crossing_paths(builders, frames=80):
    front = builders.moving_box(frames, 200, 300, 110, vx=10.0)
    back = builders.moving_box(frames, 990, 315, 100, vx=-10.0, vy=-0.2)
    hidden = np.flatnonzero(iou_matrix(front, back).diagonal() > 0.2)
    return front, back, hidden


def test_two_faces_crossing_keep_their_ids(builders):
    front, back, hidden = crossing_paths(builders)
    assert len(hidden) >= 5, "the builder must hide the back face for a while"
    tracks = track_faces(builders.detections([front, builders.drop(back, hidden)]))
    assert len(tracks) == 2, f"expected one track per face, got {len(tracks)}"
    for name, path in (("front", front), ("back", back)):
        first, last = id_covering(tracks, 0, path[0]), id_covering(tracks, 79, path[79])
        assert first is not None and first == last, f"the {name} face started as id {first} and ended as id {last}: ids swapped or broke at the crossing"
    back_id = id_covering(tracks, 0, back[0])
    index = tracks.index_of(back_id)
    assert (tracks.state[index, hidden] == INTERPOLATED).all(), "the hidden face must be interpolated behind the front face"


@pytest.mark.parametrize(
    "false_positives",
    [
        [(5, [900, 500, 960, 570])],
        [(5, [900, 500, 960, 570]), (6, [100, 600, 150, 660]), (30, [1000, 100, 1080, 190])],
        [(f, [900 + 3 * (f % 2), 500, 960, 570]) for f in (10, 12)],  # the same spot twice, not in a row
        [(f, [1000, 80, 1060, 150]) for f in (40, 41)],  # two frames in a row: still under min_hits
    ],
)
def test_false_positives_never_become_tracks(builders, false_positives):
    face = builders.moving_box(50, 300, 200, 120, vx=1.0)
    tracks = track_faces(builders.detections([face], extra=false_positives))
    assert len(tracks) == 1, f"false positives {false_positives} became tracks: {len(tracks)} tracks"
    assert id_covering(tracks, 25, face[25]) == 1


def test_fast_motion_is_smoothed_without_lag(builders):
    rng = np.random.default_rng(3)
    frames = 60
    t = np.arange(frames)
    cx = 640 + 450 * np.sin(2 * np.pi * t / 40)  # up to 70 px/frame, turning at the ends
    truth = np.stack([cx - 50, np.full(frames, 300.0), cx + 50, np.full(frames, 400.0)], axis=1)
    detected = truth + rng.normal(0, 3.0, truth.shape)
    tracks = track_faces(builders.detections([detected]))
    assert len(tracks) == 1, f"fast motion broke the track into {len(tracks)}"
    centre = xyxy_to_cxcywh(tracks.xyxy[0])[:, 0]
    velocity = np.gradient(cx)
    lag = float(np.mean((centre - cx) * np.sign(velocity)))  # > 0: ahead, < 0: behind
    trailing_average = np.array([detected[max(0, f - 2) : f + 1].mean(axis=0) for f in range(frames)])
    seed_lag = float(np.mean((xyxy_to_cxcywh(trailing_average)[:, 0] - cx) * np.sign(velocity)))
    assert abs(lag) < 2.0, f"the smoothed centre lags {lag:.1f} px behind the face (the seed's moving average: {seed_lag:.1f} px)"
    assert seed_lag < -20, "the builder must be fast enough for a trailing average to lag"
    rms_smoothed = np.sqrt(np.mean((centre - cx) ** 2))
    assert rms_smoothed < 6.0, f"the smoothed centre is {rms_smoothed:.1f} px RMS off a 100 px face moving up to 70 px/frame"


def leave_and_come_back(builders, frames=100, out=range(33, 58)):
    """A face walking out of the right edge and back; its path is NaN while mostly outside."""
    t = np.arange(frames, dtype=np.float64)
    cx = 1150 + 4 * (45 - np.abs(t - 45))  # more than half outside from frame 33 to 57
    path = np.stack([cx - 50, np.full(frames, 300.0), np.minimum(cx + 50, 1280), np.full(frames, 410.0)], axis=1)
    path[list(out)] = np.nan
    return path


def test_a_face_that_leaves_and_comes_back_keeps_its_id(builders):
    walker = leave_and_come_back(builders)
    stayer = builders.moving_box(100, 200, 350, 110, vx=0.3)
    tracks = track_faces(builders.detections([walker, stayer]))
    assert len(tracks) == 2, f"expected the walker and the stayer, got {len(tracks)} tracks"
    before, after = id_covering(tracks, 20, walker[20]), id_covering(tracks, 80, walker[80])
    assert before == after, f"the face that left and came back changed id {before} -> {after}"
    index = tracks.index_of(before)
    assert (tracks.state[index, 33:58] == ABSENT).all(), "while the face is out of the picture its track must be absent, not interpolated"


def test_a_face_that_comes_back_where_two_left_gets_a_new_id(builders):
    first = leave_and_come_back(builders)
    second = first.copy()
    second[:, [1, 3]] += 40  # a second face leaves at the same edge, just below
    second[55:] = np.nan  # ... and does not come back
    tracks = track_faces(builders.detections([first, second]))
    ids_before = {id_covering(tracks, 20, first[20]), id_covering(tracks, 20, second[20])}
    after = id_covering(tracks, 80, first[80])
    assert after not in ids_before, f"the returning face took id {after} of {ids_before}, but either face could be it"
    assert len(tracks) == 3


def test_embeddings_link_what_geometry_cannot(builders):
    frames = 90
    leaving = builders.moving_box(frames, 1000, 300, 110, vx=12.0)  # gone right at ~frame 15
    leaving[20:] = np.nan
    returning = builders.moving_box(frames, -700, 320, 110, vx=12.0)  # back from the left at ~frame 60
    returning[:65] = np.nan
    path = np.where(np.isfinite(leaving), leaving, returning)
    other = builders.moving_box(frames, 500, 100, 100)
    same, stranger = np.eye(8)[0], np.eye(8)[1]
    without = track_faces(builders.detections([path, other]))
    with_same = track_faces(builders.detections([path, other], embeddings=[same, stranger]))
    assert len(without) == 3, "without embeddings a face coming back at the far side is a new face"
    assert len(with_same) == 2, "the same embedding on both sides must link the face across the frame"


def test_embeddings_veto_a_geometric_link(builders):
    walker = leave_and_come_back(builders)
    first_half, second_half = walker.copy(), walker.copy()
    first_half[50:] = np.nan
    second_half[:50] = np.nan
    stayer = builders.moving_box(100, 200, 350, 110)
    a, b, c = np.eye(8)[:3]
    tracks = track_faces(builders.detections([first_half, second_half, stayer], embeddings=[a, b, c]))
    assert len(tracks) == 3, "a different face (embedding) coming back where one left must get a new id"


# --- the output contract ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "drop_frames, expected",
    [
        ([], "DDDDDDDDDD"),
        ([4], "DDDDIDDDDD"),
        ([3, 4, 5], "DDDIIIDDDD"),
        ([0], ".DDDDDDDDD"),  # nothing before the first detection
        ([9], "DDDDDDDDD."),  # nor after the last
    ],
)
def test_states_say_detected_interpolated_absent(builders, drop_frames, expected):
    path = builders.drop(builders.moving_box(10, 100, 100, 100, vx=3.0), drop_frames)
    tracks = track_faces(builders.detections([path]), min_hits=2)
    letters = {DETECTED: "D", INTERPOLATED: "I", ABSENT: "."}
    got = "".join(letters[s] for s in tracks.state[0])
    assert got == expected, f"dropping frames {drop_frames}: states {got}, expected {expected}"


def noisy_clip(builders, seed=0, landmarks=True):
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(3):
        path = builders.moving_box(80, 150 + 350 * index, 200 + 50 * index, 90 + 10 * index, vx=rng.uniform(-3, 3), vy=rng.uniform(-2, 2))
        path = path + rng.normal(0, 2.0, path.shape)
        paths.append(builders.drop(path, np.flatnonzero(rng.random(80) < 0.15)))
    extra = [(int(f), list(rng.uniform(0, 600, 2)) + [0, 0]) for f in rng.integers(0, 80, 10)]
    extra = [(f, [x, y, x + 60, y + 70]) for f, (x, y, _, _) in extra]
    return builders.detections(paths, extra=extra, landmarks=landmarks)


def test_same_input_gives_the_same_output_in_any_row_order(builders):
    detections = noisy_clip(builders)
    first, second = track_faces(detections), track_faces(detections)
    order = np.random.default_rng(1).permutation(len(detections))
    shuffled = track_faces(detections.select(order))
    for other, name in ((second, "a second run"), (shuffled, "shuffled rows")):
        np.testing.assert_array_equal(first.track_id, other.track_id, err_msg=name)
        np.testing.assert_array_equal(first.state, other.state, err_msg=name)
        np.testing.assert_allclose(first.xyxy, other.xyxy, rtol=0, atol=1e-3, err_msg=name)
        np.testing.assert_array_equal(first.score, other.score, err_msg=name)


def test_ids_start_at_1_by_first_frame_then_left_edge(builders):
    right = builders.moving_box(30, 800, 100, 100)
    left = builders.moving_box(30, 100, 300, 100)
    late = builders.drop(builders.moving_box(30, 20, 500, 100), range(10))
    tracks = track_faces(builders.detections([right, late, left]))
    assert tracks.track_id.tolist() == [1, 2, 3]
    assert [id_covering(tracks, 20, p[20]) for p in (left, right, late)] == [1, 2, 3], "ids go by first frame, then x"


def test_no_detections_give_no_tracks():
    detections = FaceDetections.empty(12, (480, 640))
    progress = []
    tracks = track_faces(detections, fps=Fraction(30000, 1001), on_progress=progress.append)
    assert len(tracks) == 0 and tracks.frame_count == 12 and tracks.frame_size == (480, 640)
    assert tracks.fps == Fraction(30000, 1001)
    assert sum(progress) == 12, "the progress bar must still complete"


def test_a_one_frame_clip_has_a_track_per_face(builders):
    paths = [builders.moving_box(1, 100, 100, 80), builders.moving_box(1, 400, 100, 80)]
    tracks = track_faces(builders.detections(paths))
    assert len(tracks) == 2, "min_hits is capped at the number of sampled frames"
    assert (tracks.state == DETECTED).all()


def test_values_are_finite_wherever_a_face_is_present(builders):
    tracks = track_faces(noisy_clip(builders, seed=4))
    present = tracks.present
    assert present.any()
    assert np.isfinite(tracks.xyxy[present]).all(), "NaN box where state != absent"
    assert np.isfinite(tracks.landmarks[present]).all(), "NaN landmarks where state != absent"
    assert (tracks.score[present] > 0).all() and (tracks.score[~present] == 0).all()
    assert np.isnan(tracks.xyxy[~present]).all(), "boxes must be NaN where absent"


@pytest.mark.parametrize("stride", [2, 4, 7])
def test_detect_every_gaps_are_filled_and_never_count_as_misses(builders, stride):
    frames = 40
    sampled = np.unique(np.r_[np.arange(0, frames, stride), frames - 1])
    path = builders.moving_box(frames, 200, 200, 100, vx=4.0)
    path[np.setdiff1d(np.arange(frames), sampled)] = np.nan
    tracks = track_faces(builders.detections([path], sampled_frames=sampled), max_gap=0, min_hits=2)
    assert len(tracks) == 1, f"stride {stride} with max_gap 0 broke the track into {len(tracks)}"
    assert tracks.present.all(), "every frame between sampled frames must be filled"
    assert (tracks.state[0, sampled] == DETECTED).all()
    assert (tracks.state[0, np.setdiff1d(np.arange(frames), sampled)] == INTERPOLATED).all()
    truth = builders.moving_box(frames, 200, 200, 100, vx=4.0)
    assert np.abs(tracks.xyxy[0] - truth).max() < 1.0


def test_landmarks_are_carried_and_interpolated(builders):
    path = builders.drop(builders.moving_box(20, 100, 100, 100, vx=5.0), [10])
    detections = builders.detections([path], landmarks=True)
    tracks = track_faces(detections, smooth_boxes=False)
    np.testing.assert_array_equal(tracks.landmarks[0, 9], detections.landmarks[9])
    expected = (detections.landmarks[9] + detections.landmarks[10]) / 2  # row 10 is frame 11
    np.testing.assert_allclose(tracks.landmarks[0, 10], expected, atol=1e-4, err_msg="the missed frame's landmarks must be interpolated")
    smoothed = track_faces(detections)
    nose_in_box = (smoothed.landmarks[0, :, 2] - smoothed.xyxy[0, :, :2]) / (smoothed.xyxy[0, :, 2:] - smoothed.xyxy[0, :, :2])
    np.testing.assert_allclose(nose_in_box, np.tile([0.5, 0.6], (20, 1)), atol=1e-4, err_msg="landmarks must follow their smoothed box")


def test_smooth_boxes_off_keeps_detections_exact(builders):
    detections = noisy_clip(builders, seed=2, landmarks=False)
    tracks = track_faces(detections, smooth_boxes=False)
    for index in range(len(tracks)):
        for frame in np.flatnonzero(tracks.state[index] == DETECTED):
            rows = np.flatnonzero(detections.frame == frame)
            assert (np.abs(detections.xyxy[rows] - tracks.xyxy[index, frame]).max(axis=1) == 0).any(), f"track {index} frame {frame} was changed"


def test_min_track_length_drops_short_tracks(builders):
    long = builders.moving_box(40, 100, 100, 100)
    short = builders.drop(builders.moving_box(40, 600, 100, 100), list(range(0, 30)))
    assert len(track_faces(builders.detections([long, short]), min_track_length=5)) == 2
    assert len(track_faces(builders.detections([long, short]), min_track_length=11)) == 1


def test_float_fps_is_snapped_to_the_exact_rate(builders):
    tracks = track_faces(builders.detections([builders.moving_box(5, 100, 100, 80)]), fps=29.97)
    assert tracks.fps == Fraction(30000, 1001)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"iou_threshold": 1.5}, ValueError, "iou_threshold must be a number in [0.0, 1.0]"),
        ({"distance_threshold": -1}, ValueError, "distance_threshold must be a number >= 0"),
        ({"max_gap": 2.5}, TypeError, "max_gap must be an int"),
        ({"min_hits": 0}, ValueError, "min_hits must be an int >= 1"),
        ({"smooth_window": 0}, ValueError, "smooth_window must be a number >= 1"),
        ({"max_link_gap": 0}, ValueError, "max_link_gap must be an int >= 1"),
        ({"fps": 0}, ValueError, "fps must be a positive number"),
        ({"min_track_length": True}, TypeError, "min_track_length must be an int"),
    ],
)
def test_bad_arguments_are_named(builders, kwargs, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        track_faces(builders.detections([builders.moving_box(5, 100, 100, 80)]), **kwargs)


def test_detections_must_be_face_detections():
    with pytest.raises(TypeError, match="detections must be a FaceDetections"):
        track_faces([[0, 0, 10, 10]])


def test_progress_and_interrupt(builders):
    detections = builders.detections([builders.moving_box(25, 100, 100, 80)])
    steps = []
    track_faces(detections, on_progress=steps.append)
    assert sum(steps) == 25

    class Interrupted(Exception):
        pass

    def interrupt():
        raise Interrupted

    with pytest.raises(Interrupted):
        track_faces(detections, check_interrupt=interrupt)


# --- edited footage: cuts, jumps --------------------------------------------------------------


def with_cuts(detections: FaceDetections, cuts) -> FaceDetections:
    return FaceDetections(
        frame=detections.frame, xyxy=detections.xyxy, score=detections.score, frame_count=detections.frame_count,
        frame_size=detections.frame_size, landmarks=detections.landmarks, embedding=detections.embedding, cuts=cuts,
    )


def test_a_new_person_where_the_last_one_stood_gets_a_new_id(builders):
    # shot 1: A at the left; shot 2 (cut at 40): B stands exactly where A stood
    a = builders.moving_box(80, 300, 200, 120, vx=0.5)
    b = a.copy() + 3.0
    a[40:], b[:40] = np.nan, np.nan
    detections = builders.detections([a, b])
    without = track_faces(detections)
    assert len(without) == 1, "the builder must fool a tracker that does not know the cut"
    tracks = track_faces(with_cuts(detections, [40]))
    assert len(tracks) == 2, f"a track ran across the cut: {len(tracks)} track(s) for two people"
    assert id_covering(tracks, 39, a[39]) != id_covering(tracks, 40, b[40])
    assert tracks.cuts.tolist() == [40] and all(run[1] <= 40 or run[0] >= 40 for index in range(len(tracks)) for run in tracks.runs(index))


def test_nothing_is_smoothed_or_filled_across_a_cut(builders):
    # one person on both sides of the cut (an embedding says so), a different place in shot 2
    a = builders.moving_box(60, 300, 200, 120, vx=1.0)
    a[30:] = builders.moving_box(30, 800, 300, 150, vx=-1.0)
    a[28:32] = np.nan  # missed on both sides of the cut
    tracks = track_faces(with_cuts(builders.detections([a], embeddings=[np.eye(8)[0]]), [30]))
    assert len(tracks) == 1, "one person, one id across the cut (the embedding links the shots)"
    assert (tracks.state[0, 28:32] == ABSENT).all(), "the gap spans the cut: it must stay absent"
    assert tracks.runs(0) == [(0, 28), (32, 60)]
    error = np.abs(tracks.xyxy[0, 26:28] - a[26:28]).max()
    assert error < 2.0, f"the last boxes before the cut were pulled {error:.1f} px towards the next shot"


def test_the_same_person_across_shots_keeps_one_id_with_embeddings_and_not_without(builders):
    frames = 150
    alice = builders.moving_box(frames, 300, 200, 110, vx=0.5)
    bob = builders.moving_box(frames, 800, 220, 105, vx=-0.5)
    close_up = builders.moving_box(frames, 500, 150, 300)
    alice_shot2 = close_up.copy()
    alice[50:100], bob[50:100] = np.nan, np.nan
    alice_shot2[:50], alice_shot2[100:] = np.nan, np.nan
    path = np.where(np.isfinite(alice), alice, alice_shot2)
    vectors = [np.eye(16)[0] + 0.1 * np.eye(16)[2], np.eye(16)[1]]
    with_embeddings = track_faces(with_cuts(builders.detections([path, bob], embeddings=vectors), [50, 100]))
    assert len(with_embeddings) == 2, f"alice and bob over three shots: {len(with_embeddings)} ids"
    assert id_covering(with_embeddings, 10, path[10]) == id_covering(with_embeddings, 70, path[70]) == id_covering(with_embeddings, 120, path[120])
    without = track_faces(with_cuts(builders.detections([path, bob]), [50, 100]))
    assert len(without) == 5, "without embeddings a new shot gets new ids, even where a face stood before"


@pytest.mark.parametrize("jump", [150.0, 220.0])  # 1.25 and 1.8 face sizes
def test_a_face_that_jumps_keeps_its_id_and_nothing_is_drawn_between(builders, jump):
    path = builders.moving_box(60, 300, 250, 120, vx=1.0)
    path[30:, [0, 2]] += jump  # a whip pan
    path = builders.drop(path, [30])  # ... and the detector missed the frame of the jump
    tracks = track_faces(builders.detections([path, builders.moving_box(60, 1000, 300, 100)]))
    assert len(tracks) == 2, f"the jump broke the face into {len(tracks)} tracks (with the other face)"
    index = tracks.index_of(id_covering(tracks, 10, path[10]))
    assert id_covering(tracks, 50, path[50]) == tracks.track_id[index]
    assert tracks.state[index, 30] == ABSENT, "the frame missed at the jump must stay absent, not hold a box between the two places"
    error = np.abs(tracks.xyxy[index, [29, 31]] - path[[29, 31]]).max()
    assert error < 3.0, f"smoothing spread the jump over its neighbours: {error:.1f} px off"


def boxes_of(tracks, frame: int) -> np.ndarray:
    """(k,4) every output box at `frame`."""
    return np.array([tracks.xyxy[index, frame] for index in range(len(tracks)) if tracks.state[index, frame] != ABSENT]).reshape(-1, 4)


@pytest.mark.parametrize("face_seen_there", [True, False])
def test_a_false_positive_where_the_face_was_when_it_jumped_is_not_kept(builders, face_seen_there):
    path = builders.moving_box(60, 300, 250, 120, vx=1.0)
    path[30:, [0, 2]] += 220  # a whip pan at frame 30 ...
    false_positive = path[29] + [45, 30, 45, 30]  # ... and a false positive near where the face was
    if not face_seen_there:
        path = builders.drop(path, [30])  # the face missed on the frame it jumped
    detections = builders.detections([path, builders.moving_box(60, 1000, 300, 100)], extra=[(30, false_positive.tolist())])
    detections = FaceDetections(  # scored like the faces: only the places tell it apart
        frame=detections.frame, xyxy=detections.xyxy, score=np.full(len(detections), 0.9, np.float32),
        frame_count=detections.frame_count, frame_size=detections.frame_size,
    )
    tracks = track_faces(detections)
    covering = iou_matrix(boxes_of(tracks, 30), false_positive[None])[:, 0]
    assert not (covering > 0.5).any(), "the false positive was kept as the face's last box before the jump"
    assert id_covering(tracks, 20, path[20]) == id_covering(tracks, 50, path[50]), "the face keeps its id across the jump"


def test_a_face_keeps_its_last_box_before_a_real_jump(builders):
    rng = np.random.default_rng(3)
    path = builders.moving_box(60, 300, 250, 120, vx=1.0) + rng.normal(0, 4, (60, 4))  # detector jitter
    path[30:, [0, 2]] += 220
    tracks = track_faces(builders.detections([path, builders.moving_box(60, 1000, 300, 100)]))
    index = tracks.index_of(id_covering(tracks, 29, path[29]))
    assert tracks.state[index, 29] == DETECTED and tracks.state[index, 30] == DETECTED, "the boxes either side of the jump are the face's"
    assert iou_matrix(tracks.xyxy[index, [29, 30]], path[[29, 30]]).diagonal().min() > 0.8


def test_a_jump_is_not_taken_when_another_face_could_be_it(builders):
    path = builders.moving_box(60, 300, 250, 120)
    path[30:] = np.nan  # the face leaves at frame 30 ...
    left = builders.moving_box(60, 80, 250, 120)
    right = builders.moving_box(60, 520, 250, 120)
    left[:31], right[:31] = np.nan, np.nan  # ... and two look-alikes appear either side, as far away
    tracks = track_faces(builders.detections([path, left, right]))
    first = id_covering(tracks, 10, path[10])
    assert first not in (id_covering(tracks, 40, left[40]), id_covering(tracks, 40, right[40])), "an ambiguous jump must not be taken"


@pytest.mark.parametrize("shots", ["every frame", "two frames"])
def test_a_clip_of_very_short_shots_still_has_tracks(builders, shots, caplog):
    path = builders.moving_box(12, 300, 250, 120)
    cuts = list(range(1, 12)) if shots == "every frame" else list(range(2, 12, 2))
    tracks = track_faces(with_cuts(builders.detections([path]), cuts))
    assert len(tracks) == 1 + len(cuts), "one track per shot (no embeddings: nothing links shots)"
    assert (tracks.state == DETECTED).sum() == 12, "every detection is kept, none is smoothed or filled"
    assert "shorter than min_hits" in caplog.text or "fewer than min_hits" in caplog.text


def test_the_cut_list_changes_the_detected_cuts(builders):
    a = builders.moving_box(60, 300, 200, 120)
    detections = with_cuts(builders.detections([a]), [20, 40])
    assert track_faces(detections).cuts.tolist() == [20, 40]
    assert track_faces(detections, cuts="none").cuts.tolist() == []
    assert track_faces(detections, cuts="-20, +50").cuts.tolist() == [40, 50]
    assert len(track_faces(detections, cuts="none")) == 1 and len(track_faces(detections)) == 3
    with pytest.raises(ValueError, match=r"cuts must be frame numbers in \[1, 59\]"):
        track_faces(detections, cuts="60")
    with pytest.raises(ValueError, match="removes no cut"):
        track_faces(detections, cuts="-30")


def test_a_face_turning_sharply_while_missed_every_other_frame_keeps_its_own_boxes(builders):
    """The face swings left and turns down at ~45 px/frame. Missed on two frames, then every other
    frame, the online pass loses it (each lone hit is thrown off probation) and the linker joins the
    pieces across the turn: the straight chord between them ran half a face beside the face. Its
    own detections in the gap are given back, so every box drawn stays on the face."""
    t = np.arange(60, dtype=np.float64)
    cx = 400 + 300 * np.cos(2 * np.pi * t / 50)  # leftmost (turning) at frame 25
    cy = 360 + 180 * np.sin(2 * np.pi * t / 50)
    truth = np.stack([cx - 55, cy - 65, cx + 55, cy + 65], axis=1)
    path = builders.drop(truth, [21, 22, 24, 26, 29, 30])
    tracks = track_faces(builders.detections([path]))
    assert len(tracks) == 1
    drawn = np.flatnonzero(tracks.present[0])
    overlap = np.array([iou_matrix(truth[f][None], tracks.xyxy[0, f][None])[0, 0] for f in drawn])
    assert overlap.min() >= 0.5, f"boxes beside the face at frames {drawn[overlap < 0.5].tolist()}"
    assert tracks.state[0, [23, 25, 27, 28]].tolist() == [DETECTED] * 4, "the face's own detections in the gap were not given back"
