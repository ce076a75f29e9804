"""Which rows get lipsync: face selection (the pack's syntax), per-face ranges, syncability rules, fades."""

from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
from comfyui_fuse.lipsync.adapter import RowGeometry
from comfyui_fuse.analysis.selection import FaceSelection
from comfyui_fuse.lipsync.selection import fade_weights, parse_ranges, selected_rows, selected_sequences, syncable_rows
from comfyui_fuse.analysis.syncability import SyncRules


def make_plan(sequences, fps=Fraction(25), frame_count=20) -> CropPlan:
    """sequences: (track_id, first_frame, stop_frame, identity)."""
    built = []
    for track_id, first, stop, identity in sequences:
        count = stop - first
        affine = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (count, 1, 1))
        built.append(FaceSequence(track_id, np.arange(first, stop), affine, (8, 8), identity))
    return CropPlan(tuple(built), (32, 32), frame_count, fps, np.zeros((frame_count, 16, 16, 3), np.uint8))


NAMED = [(1, 0, 3, "alice"), (2, 0, 3, "bob"), (3, 0, 2, "")]


def track_ids(text: str) -> FaceSelection:
    """The selection FUSE Lipsync reads from its track_ids input."""
    return FaceSelection.parse(text, input_name="track_ids")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", [True, True, True]),
        ("   ", [True, True, True]),
        ("-1", [True, True, True]),
        ("ALL", [True, True, True]),
        ("1", [True, False, False]),
        ("1, 3", [True, False, True]),
        ("bob, 3", [False, True, True]),
        ("1;bob", [True, True, False]),
    ],
)
def test_selected_sequences_by_id_and_identity(text, expected):
    assert selected_sequences(make_plan(NAMED), track_ids(text)).tolist() == expected


@pytest.mark.parametrize(
    "sequences, text, error",
    [
        (NAMED, "carol, 7", r"track_ids must select faces in the crop plan \(1 \(alice\), 2 \(bob\), 3\), but got 7, carol, which are not there"),
        ([(1, 0, 3, ""), (2, 0, 3, "")], "alice", "no face in the crop plan has a character name; connect the tracks of FUSE Analyze Faces"),
    ],
    ids=["absent-faces", "names-without-identities"],
)
def test_selected_sequences_rejects_faces_the_plan_does_not_have(sequences, text, error):
    with pytest.raises(ValueError, match=error):
        selected_sequences(make_plan(sequences), track_ids(text))


def test_names_on_an_empty_plan_select_nothing_without_error():
    assert selected_sequences(make_plan([]), track_ids("alice")).tolist() == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", {}),
        ('{"1": [[0, 2000]]}', {"1": [(Fraction(0), Fraction(2000))]}),
        ('{"1": [[-500, 100.5], [900, 99999]], "alice": []}', {"1": [(Fraction(-500), Fraction(201, 2)), (Fraction(900), Fraction(99999))], "alice": []}),
    ],
)
def test_parse_ranges(text, expected):
    assert parse_ranges(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{1: [0, 2]}", "ranges must be JSON"),
        ("[[0, 2000]]", "ranges must be a JSON object"),
        ('{"1": [0, 2000]}', "must be a list of [start_ms, end_ms] pairs"),
        ('{"1": [[2000, 1000]]}', "must have end_ms > start_ms"),
        ('{"1": [["a", 1000]]}', "must hold numbers of milliseconds"),
    ],
)
def test_parse_ranges_rejects_bad_input(text, fragment):
    with pytest.raises(ValueError) as raised:
        parse_ranges(text)
    assert fragment in str(raised.value)


def test_every_face_over_the_whole_video_by_default():
    plan = make_plan([(1, 0, 5, ""), (2, 3, 8, "")])
    assert selected_rows(plan, track_ids("all"), {}).all()


def test_track_selection_by_id_and_identity():
    rows = selected_rows(make_plan(NAMED), track_ids("bob, 3"), {})
    assert rows.tolist() == [False] * 3 + [True] * 3 + [True] * 2


@pytest.mark.parametrize(
    "ranges, expected",
    [
        ('{"1": [[-1000, 120]]}', [0, 1, 2]),  # starts before the video: 0, 40, 80 ms
        ('{"1": [[600, 10000]]}', [15, 16, 17, 18, 19]),  # ends after the video
        ('{"1": [[40, 80], [160, 200]]}', [1, 4]),  # half-open ranges
        ('{"1": [[5000, 6000]]}', []),  # wholly after the video
        ('{"01": [[0, 100]]}', [0, 1, 2]),  # a key of digits is a track id
    ],
)
def test_ranges_select_frames_by_exact_time(ranges, expected):
    plan = make_plan([(1, 0, 20, "")])
    rows = selected_rows(plan, track_ids("all"), parse_ranges(ranges))
    assert np.flatnonzero(rows).tolist() == expected


def test_another_faces_range_does_not_limit_a_face():
    plan = make_plan([(1, 0, 4, ""), (2, 0, 4, "")])
    rows = selected_rows(plan, track_ids("all"), parse_ranges('{"2": [[0, 40]]}'))
    assert rows.tolist() == [True] * 4 + [True, False, False, False]


@pytest.mark.parametrize("ranges", ['{"7": [[0, 100]]}', '{"carol": [[0, 100]], "1": [[0, 40]]}', '{"²": [[0, 100]]}'])
def test_range_keys_that_match_no_face_are_an_error(ranges):
    plan = make_plan([(1, 0, 4, "alice"), (2, 0, 4, "")])
    with pytest.raises(ValueError, match=r"ranges keys must name faces in the crop plan \(1 \(alice\), 2\), but .* none; fix the keys") as raised:
        selected_rows(plan, track_ids("all"), parse_ranges(ranges))
    unknown = next(key for key in ("7", "carol", "²") if key in ranges)
    assert repr(unknown) in str(raised.value), f"the error must name the key {unknown!r}: {raised.value}"


def test_any_range_key_is_accepted_when_the_plan_has_no_face():
    assert selected_rows(make_plan([]), track_ids("all"), parse_ranges('{"7": [[0, 100]]}')).tolist() == []


def test_ranges_by_identity_and_at_ntsc_rate():
    plan = make_plan([(1, 0, 20, "alice")], fps=Fraction(30000, 1001))
    rows = selected_rows(plan, track_ids("all"), parse_ranges('{"alice": [[100, 200]]}'))
    # frame 3 is at 100.1 ms, frame 5 at 166.8 ms, frame 6 at 200.2 ms
    assert np.flatnonzero(rows).tolist() == [3, 4, 5]


def geometry(width, score, yaw=None):
    return RowGeometry(
        face_xyxy=np.zeros((len(width), 4)),
        landmarks=None,
        score=np.array(score, float),
        face_width_src=np.array(width, float),
        yaw_deg=None if yaw is None else np.array(yaw, float),
    )


@pytest.mark.parametrize(
    "width, score, yaw, expected",
    [
        ([64, 63.9, 200], [0.9, 0.9, 0.9], None, [True, False, True]),
        ([100, 100, 100], [0.5, 0.49, np.nan], None, [True, False, True]),
        ([100, 100, 100, 100], [0.9] * 4, [0, 45, -46, np.nan], [True, True, False, True]),
    ],
    ids=["min-face-px", "min-score", "yaw"],
)
def test_syncability_rules(width, score, yaw, expected):
    assert syncable_rows(geometry(width, score, yaw), SyncRules()).tolist() == expected


def test_syncability_follows_the_rules_it_is_given():
    rows = geometry([80, 120, 120], [0.9, 0.7, 0.95], [0, 0, 35])
    assert syncable_rows(rows, SyncRules(min_face_px=100, min_confidence=0.8, max_yaw_deg=30)).tolist() == [False, False, False]
    assert syncable_rows(rows, SyncRules(min_face_px=50, min_confidence=0.5, max_yaw_deg=40)).tolist() == [True, True, True]


@pytest.mark.parametrize(
    "active, offsets, fade, expected",
    [
        ([1, 1, 1, 1], [0, 4], 3, [1, 1, 1, 1]),
        ([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1], [0, 11], 1, [1, 1, 0.5, 0, 0, 0.5, 1, 1, 1, 1, 1]),
        ([0, 1, 1, 1, 1, 1, 1, 1, 1], [0, 9], 3, [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1]),
        ([1, 1, 0, 1], [0, 2, 4], 3, [1, 1, 0, 0.25]),  # each sequence fades on its own
        ([1, 0, 1], [0, 3], 0, [1, 0, 1]),
    ],
)
def test_fade_weights(active, offsets, fade, expected):
    weights = fade_weights(np.array(active, bool), np.array(offsets), fade)
    np.testing.assert_allclose(weights, expected)
