"""Identity from synthetic embeddings: voting, crossing people, leaving and returning, unknown faces."""

import numpy as np
import pytest

from fuse_analysis_builders import span_tracks

from comfyui_fuse.analysis.identity import (
    MAX_REFERENCES,
    assign_identities,
    characters_from_embeddings,
)
from comfyui_fuse.core.types import ABSENT

DIM = 32
PEOPLE = ("alice", "bob", "carol", "dave")


def person_vectors(seed: int = 0) -> dict[str, np.ndarray]:
    """A random unit vector per person (in 32 dimensions two are nearly orthogonal)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(PEOPLE), DIM))
    return {name: v / np.linalg.norm(v) for name, v in zip(PEOPLE, vectors)}


VECTORS = person_vectors()


def noisy(name: str, count: int, noise: float, rng) -> np.ndarray:
    """count embeddings of a person: their vector plus Gaussian noise (cosine ~ 1/sqrt(1 + noise^2 * DIM))."""
    return VECTORS[name] + rng.normal(0, noise, size=(count, DIM))


def frame_embeddings(tracks, who: list, noise: float = 0.1, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One embedding per present frame of each track. who[i]: a name, or a per-frame list of names."""
    rng = np.random.default_rng(seed)
    index, vectors = [], []
    for track in range(len(tracks)):
        frames = np.flatnonzero(tracks.present[track])
        names = who[track] if isinstance(who[track], list) else [who[track]] * len(frames)
        for name in names:
            vectors.append(noisy(name, 1, noise, rng)[0])
            index.append(track)
    return np.array(index, np.int64), np.array(vectors)


def references(*names: str, per_name: int = 3, seed: int = 2):
    rng = np.random.default_rng(seed)
    listed = [name for name in names for _ in range(per_name)]
    return characters_from_embeddings(listed, np.concatenate([noisy(name, per_name, 0.1, rng) for name in names]))


def identities(result) -> list[str]:
    return result.tracks.identity.tolist()


def test_references_are_averaged_and_normalised():
    characters = characters_from_embeddings(["alice", "bob", "alice"], np.array([[2.0, 0, 0], [0, 0, 5.0], [0, 4.0, 0]]))
    assert characters.names == ("alice", "bob")
    assert characters.reference_count == (2, 1)
    np.testing.assert_allclose(characters.embedding, [[1 / np.sqrt(2), 1 / np.sqrt(2), 0], [0, 0, 1]], atol=1e-6, err_msg="each reference counts alike, whatever its length")


@pytest.mark.parametrize(
    "names, message",
    [
        (["face_1"], "reserved for unknown faces"),
        (["7"], "must not be a number"),
        (["all"], "must not be a number or 'all'"),
        (["alice,bob"], "must not contain ','"),
        ([" "], "non-empty strings"),
        (["alice"] * (MAX_REFERENCES + 1), f"1 to {MAX_REFERENCES} reference faces"),
    ],
)
def test_reference_names_and_counts_are_checked(names, message):
    with pytest.raises(ValueError, match=message):
        characters_from_embeddings(names, np.ones((len(names), 4)))


def test_two_people_crossing_keep_their_names():
    """While they cross, each track's embeddings are the other person's for a few frames (occlusion)."""
    tracks = span_tracks(30, [(0, 30), (0, 30)])
    confused = list(range(12, 17))
    alice = ["bob" if f in confused else "alice" for f in range(30)]
    bob = ["alice" if f in confused else "bob" for f in range(30)]
    index, vectors = frame_embeddings(tracks, [alice, bob])
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert identities(result) == ["alice", "bob"], "the majority of frames must decide, not the crossing"
    assert (result.similarity > 0.8).all()


def test_a_person_leaving_and_returning_is_merged_into_one_track():
    tracks = span_tracks(40, [(0, 10), (5, 40), (25, 40)], boxes=[(50, 100, 150, 200), (500, 100, 600, 200), (60, 100, 160, 200)])
    index, vectors = frame_embeddings(tracks, ["alice", "bob", "alice"])
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert len(result.tracks) == 2, f"alice's two visits must become one track, got {identities(result)}"
    assert identities(result) == ["alice", "bob"]
    assert result.output_of_input.tolist() == [0, 1, 0]
    alice = result.tracks.present[0]
    assert alice[:10].all() and not alice[10:25].any() and alice[25:].all(), "the merged track is absent while she is away"
    np.testing.assert_array_equal(result.tracks.xyxy[0, 30], [60, 100, 160, 200])


def test_an_unknown_third_person_becomes_face_1_and_keeps_it_when_returning():
    tracks = span_tracks(40, [(0, 40), (0, 15), (20, 40)], boxes=[(50, 100, 150, 200), (500, 100, 600, 200), (520, 90, 620, 190)])
    index, vectors = frame_embeddings(tracks, ["alice", "carol", "carol"])
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert identities(result) == ["alice", "face_1"], f"carol has no reference: one unknown face over both visits, got {identities(result)}"
    assert result.output_of_input.tolist() == [0, 1, 1]
    assert np.isnan(result.similarity[1])


def test_unknown_people_are_told_apart_and_numbered_by_first_appearance():
    tracks = span_tracks(30, [(10, 30), (0, 20)])
    index, vectors = frame_embeddings(tracks, ["carol", "dave"])
    result = assign_identities(tracks, index, vectors, None)
    assert identities(result) == ["face_1", "face_2"]
    assert result.tracks.present[0, 0], "face_1 is the face seen first (dave, input track 2)"
    assert result.output_of_input.tolist() == [1, 0]


def test_tracks_present_at_the_same_time_are_never_merged():
    tracks = span_tracks(20, [(0, 20), (5, 15)])
    index, vectors = frame_embeddings(tracks, ["carol", "carol"])  # look-alikes, or a mirror
    result = assign_identities(tracks, index, vectors, None)
    assert identities(result) == ["face_1", "face_2"]


def test_two_tracks_at_the_same_time_cannot_both_be_one_character():
    tracks = span_tracks(20, [(0, 20), (0, 20)])
    index, vectors = frame_embeddings(tracks, ["alice", "alice"], noise=0.0)
    vectors[index == 1] = 0.8 * VECTORS["alice"] + 0.6 * VECTORS["carol"]  # a weaker claim on alice
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert identities(result) == ["alice", "face_1"], "the stronger claim keeps alice, the other is unknown"


def test_the_weaker_claim_falls_back_to_its_next_qualifying_character():
    tracks = span_tracks(20, [(0, 20), (0, 20)])
    index, vectors = frame_embeddings(tracks, ["alice", "alice"], noise=0.0)
    vectors[index == 1] = 0.75 * VECTORS["alice"] + 0.66 * VECTORS["bob"]
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert identities(result) == ["alice", "bob"]


def test_a_track_needs_more_votes_than_nobody():
    tracks = span_tracks(10, [(0, 10)])
    who = [["alice"] * 4 + ["carol"] * 6]  # carol has no reference: 6 votes for nobody
    index, vectors = frame_embeddings(tracks, who)
    assert identities(assign_identities(tracks, index, vectors, references("alice"))) == ["face_1"]
    who = [["alice"] * 5 + ["carol"] * 5]
    index, vectors = frame_embeddings(tracks, who)
    assert identities(assign_identities(tracks, index, vectors, references("alice"))) == ["alice"], "a tie goes to the character"


def test_the_threshold_decides_a_match():
    tracks = span_tracks(10, [(0, 10)])
    index = np.zeros(10, np.int64)
    vectors = np.tile(0.6 * VECTORS["alice"] + 0.8 * VECTORS["carol"], (10, 1))  # cosine 0.6 to alice
    characters = references("alice")
    assert identities(assign_identities(tracks, index, vectors, characters, threshold=0.5)) == ["alice"]
    assert identities(assign_identities(tracks, index, vectors, characters, threshold=0.7)) == ["face_1"]


def test_without_merging_each_track_keeps_its_own_id():
    tracks = span_tracks(40, [(0, 10), (25, 40), (0, 40)])
    index, vectors = frame_embeddings(tracks, ["alice", "alice", "carol"])
    result = assign_identities(tracks, index, vectors, references("alice"), merge=False)
    assert identities(result) == ["alice", "face_1", "alice"]
    assert result.tracks.track_id.tolist() == [1, 2, 3]


def test_tracks_without_embeddings_are_unknown_faces_of_their_own():
    tracks = span_tracks(20, [(0, 5), (10, 20)])
    result = assign_identities(tracks, np.zeros(0, np.int64), np.zeros((0, 0)), None)
    assert identities(result) == ["face_1", "face_2"], "without embeddings nothing says two tracks are one person"
    assert (result.tracks.state[1, :10] == ABSENT).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"track_index": np.array([5]), "embedding": np.ones((1, DIM))}, r"track_index must hold indices in \[0, 1\)"),
        ({"track_index": np.array([0]), "embedding": np.ones((2, DIM))}, "one row per track_index entry"),
        ({"track_index": np.array([0]), "embedding": np.ones((1, 8))}, "must have the references' dimension 32"),
        ({"track_index": np.array([0]), "embedding": np.ones((1, DIM)), "threshold": 2.0}, r"threshold must be a number in \[-1.0, 1.0\] \(a cosine similarity\)"),
    ],
)
def test_bad_inputs_are_named(kwargs, message):
    tracks = span_tracks(5, [(0, 5)])
    with pytest.raises(ValueError, match=message):
        assign_identities(tracks, characters=references("alice"), **kwargs)


def test_a_name_applies_across_shots_and_the_cuts_are_kept():
    # shot 1 (frames 0-19): alice and bob; shot 2 (20-29): a close-up of alice; shot 3 (30-49): both again
    plain = span_tracks(50, [(0, 20), (0, 20), (20, 30), (30, 50), (30, 50)])
    tracks = type(plain)(plain.track_id, plain.xyxy, plain.state, plain.score, 50, plain.frame_size, cuts=[20, 30])
    index, vectors = frame_embeddings(tracks, ["alice", "bob", "alice", "alice", "bob"])
    result = assign_identities(tracks, index, vectors, references("alice", "bob"))
    assert identities(result) == ["alice", "bob"], f"one track per person over three shots, got {identities(result)}"
    assert result.tracks.cuts.tolist() == [20, 30], "the merged tracks must keep the shot boundaries"
    assert result.tracks.runs(0) == [(0, 20), (20, 30), (30, 50)], "alice's track spans three shots but its runs stop at every cut"
