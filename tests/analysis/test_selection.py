"""One face selection for every node: parsing the inputs, ids, names, size rank, unknown faces."""

from fractions import Fraction

import numpy as np
import pytest
from fuse_analysis_builders import span_tracks

from comfyui_fuse.analysis.selection import FaceSelection, describe_faces, face_mask, select_faces
from comfyui_fuse.core.types import FaceTracks


def named(tracks: FaceTracks, names) -> FaceTracks:
    return FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps, identity=np.array(names))


@pytest.fixture
def three_people():
    """Tracks 1 alice, 2 bob, 3 face_1 (an unknown face), faces 100, 60 and 140 px wide."""
    boxes = [(0, 0, 100, 100), (200, 0, 260, 60), (300, 0, 440, 140)]
    return named(span_tracks(10, [(0, 10), (0, 10), (0, 10)], boxes=boxes), ["alice", "bob", "face_1"])


@pytest.mark.parametrize(
    "text, kwargs, ids, names, largest_n",
    [
        ("all", {}, set(), set(), 0),
        ("ALL ", {}, set(), set(), 0),
        ("-1", {}, set(), set(), 0),
        ("", {}, set(), set(), 0),
        (" , ", {}, set(), set(), 0),
        ("1,3", {}, {1, 3}, set(), 0),
        ("alice; 2", {}, {2}, {"alice"}, 0),
        (" bob , face_1 ", {}, set(), {"bob", "face_1"}, 0),
        ("all", {"face_id": 2}, {2}, set(), 0),  # the first release's face_id input
        ("", {"face_id": 2, "largest_n": 1}, {2}, set(), 1),
        ("-1", {"largest_n": 2}, set(), set(), 2),
    ],
)
def test_parse_reads_every_form_the_nodes_ever_took(text, kwargs, ids, names, largest_n):
    selection = FaceSelection.parse(text, **kwargs)
    assert (set(selection.track_ids), set(selection.names), selection.largest_n) == (ids, names, largest_n)
    assert selection.everything == (not ids and not names)


@pytest.mark.parametrize(
    "text, kwargs, error, message",
    [
        ("0, 2", {}, ValueError, "faces must hold track ids >= 1, character names, or be \"all\" / \"-1\" alone, but got '0'"),
        ("2, -1", {}, ValueError, "track ids >= 1"),
        ("bob", {"face_id": 1}, ValueError, "face_id must be -1 when faces selects faces, but got face_id 1 and faces 'bob'; list every face in faces, e.g. \"1, bob\""),
        ("all", {"face_id": 0}, ValueError, "face_id must be -1 (every face) or a track id >= 1, but got 0"),
        ("all", {"largest_n": -1}, ValueError, "largest_n must be an int >= 0 (0 = keep every selected track), but got -1"),
        (3, {}, TypeError, "faces must be a string such as \"all\""),
        ("0", {"input_name": "track_ids"}, ValueError, "track_ids must hold track ids >= 1"),
    ],
)
def test_parse_refuses_what_cannot_be_a_selection(text, kwargs, error, message):
    with pytest.raises(error) as raised:
        FaceSelection.parse(text, **kwargs)
    assert message in str(raised.value), f"got {raised.value}"


@pytest.mark.parametrize(
    "text, kwargs, expected_ids",
    [
        ("all", {}, [1, 2, 3]),
        ("1,3", {}, [1, 3]),
        ("alice", {}, [1]),
        ("bob, face_1", {}, [2, 3]),
        ("alice; 2", {}, [1, 2]),
        ("all", {"face_id": 2}, [2]),
        ("all", {"largest_n": 2}, [1, 3]),  # the two largest faces: 140 and 100 px
        ("alice, bob", {"largest_n": 1}, [1]),  # size rank among the selected faces only
        ("all", {"largest_n": 5}, [1, 2, 3]),
    ],
)
def test_select_faces_by_id_name_and_size(three_people, text, kwargs, expected_ids):
    assert select_faces(three_people, FaceSelection.parse(text, **kwargs)).track_id.tolist() == expected_ids


def test_size_rank_ties_go_to_the_lower_id():
    tracks = span_tracks(4, [(0, 4), (0, 4), (0, 4)], boxes=[(0, 0, 50, 50), (100, 0, 180, 80), (200, 0, 280, 80)])
    assert select_faces(tracks, FaceSelection(largest_n=1)).track_id.tolist() == [2]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("zoe, 9", {}, "faces must select faces in the tracks (1 (alice), 2 (bob), 3 (face_1)), but got 9, zoe, which are not there"),
        ("4", {}, "but got 4, which is not there"),
        ("all", {"face_id": 7}, "face_id must select faces in the tracks"),
        ("alice, carol", {}, "but got carol, which is not there"),
    ],
)
def test_unknown_faces_are_an_error_naming_them_and_the_faces_there(three_people, text, kwargs, message):
    with pytest.raises(ValueError) as raised:
        select_faces(three_people, FaceSelection.parse(text, **kwargs))
    assert message in str(raised.value), f"got {raised.value}"


@pytest.mark.parametrize(
    "text, ids, names",
    [("1, 03", {1, 3}, set()), ("²", set(), {"²"}), ("1²", set(), {"1²"}), ("٣", set(), {"٣"})],
    ids=["ascii-ids", "superscript", "digit-then-superscript", "arabic-indic"],
)
def test_only_ascii_digits_are_track_ids(text, ids, names):
    """str.isdigit() accepts "²", and int("²") then failed with a bare ValueError."""
    selection = FaceSelection.parse(text)
    assert (set(selection.track_ids), set(selection.names)) == (ids, names)


def test_a_superscript_digit_selects_no_id_with_a_clear_error():
    with pytest.raises(ValueError, match=r"faces names characters \['²'\], but no face in the tracks has a character name"):
        select_faces(span_tracks(5, [(0, 5)]), FaceSelection.parse("²"))


def test_names_need_tracks_with_names():
    with pytest.raises(ValueError, match=r"faces names characters \['alice'\], but no face in the tracks has a character name; connect the tracks of FUSE Analyze Faces"):
        select_faces(span_tracks(5, [(0, 5)]), FaceSelection.parse("alice"))


@pytest.mark.parametrize("text, kwargs", [("alice", {}), ("3", {}), ("all", {"face_id": 4}), ("all", {"largest_n": 1})])
def test_a_clip_without_faces_is_never_an_error(text, kwargs):
    empty = FaceTracks.empty(4, (32, 32), Fraction(25))
    assert len(select_faces(empty, FaceSelection.parse(text, **kwargs))) == 0, "no face is never an error, whatever the selection"


def test_face_mask_works_on_any_faces_such_as_crop_plan_sequences():
    ids, identities = [1, 1, 2, 3], ["alice", "alice", "", ""]  # track 1 in two sequences; 2 and 3 unnamed
    assert face_mask(FaceSelection.parse("alice, 3"), ids, identities, "the crop plan").tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match=r"must select faces in the crop plan \(1 \(alice\), 2, 3\), but got bob"):
        face_mask(FaceSelection.parse("bob"), ids, identities, "the crop plan")


def test_the_part_of_a_selection_present_in_a_window_of_a_long_video():
    selection = FaceSelection.parse("2, alice, 9")
    assert selection.present_in([1, 2], ["alice", "bob"]) == FaceSelection.parse("2, alice")
    assert selection.present_in([1], ["alice"]) == FaceSelection.parse("alice")
    assert selection.present_in([3], ["carol"]) is None, "none of its faces on screen: nothing to do, not every face"
    assert selection.present_in([], None) is None
    assert FaceSelection().present_in([5], None) == FaceSelection(), "every face stays every face"
    assert FaceSelection.parse(str(FaceSelection.parse("2, alice"))) == FaceSelection.parse("2, alice"), "a selection reads back as written"


def test_a_long_list_of_faces_is_cut_short_in_messages():
    assert describe_faces(range(1, 31), None).endswith("19, 20, ... (30 faces)")
    assert describe_faces([1, 1, 2], ["a", "a", ""]) == "1 (a), 2"


def test_a_selection_prints_as_it_reads():
    assert str(FaceSelection.parse("bob, 3, alice", largest_n=2)) == "3, alice, bob (largest 2)"
    assert str(FaceSelection()) == "all"
