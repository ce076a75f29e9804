"""Identity: which character each track is, and one id per person across gaps.

Characters come from reference headshots: 1 to MAX_REFERENCES face embeddings per name, averaged
and L2-normalised into one identity each. A track is given a character by voting over its frames
that carry an embedding: each frame votes for its most similar character when the cosine
similarity reaches the threshold (0.5, the service's default), else for "nobody". A character
must gather at least as many votes as "nobody"; the one with the most votes wins (ties: the
higher mean similarity). Two tracks present at the same time never get the same character: the
stronger claim (more votes, then higher mean similarity) keeps it and the other votes again
without it (it may take another character, or none).

Tracks nobody claims are unknown faces. Those whose mean embeddings agree (cosine >= threshold)
are one person seen at different times (a person leaving and coming back, a cut) and are grouped
greedily, most similar first, never grouping tracks present at the same time. With merging on,
the tracks of one character or one unknown group become one track (absent between its parts).
Output tracks are ordered by first frame, then left edge, then top edge, with ids from 1, and
unknown faces are named face_1, face_2, ... in that order.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.checks import check_number
from ..core.types import ABSENT, FaceTracks
from ..core.vectors import unit_rows
from .selection import ALL_FACES, TRACK_ID

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5  # cosine similarity (the service's default)
MAX_REFERENCES = 15  # reference faces per character
UNKNOWN_PREFIX = "face_"
_UNKNOWN_NAME = re.compile(r"face_\d+")


def check_character_name(name) -> str:
    """A character name as the report and face selections use it; ValueError when it cannot be one."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"character names must be non-empty strings, but got {name!r}")
    name = name.strip()
    if "," in name or ";" in name:
        raise ValueError(f"character names must not contain ',' or ';' (they separate names in selections), but got {name!r}")
    if name.lower() in ALL_FACES or TRACK_ID.fullmatch(name):
        raise ValueError(f"character names must not be a number or 'all' (those select track ids), but got {name!r}")
    if _UNKNOWN_NAME.fullmatch(name):
        raise ValueError(f"character names must not look like {UNKNOWN_PREFIX}<n> (reserved for unknown faces), but got {name!r}")
    return name


@dataclass(frozen=True, eq=False)
class Characters:
    """Named identities: names (c,) in first-reference order, embedding (c,D) float32 unit rows,
    reference_count (c,) the number of reference faces averaged into each."""

    names: tuple[str, ...]
    embedding: np.ndarray
    reference_count: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)


def characters_from_embeddings(names: Sequence[str], embeddings: np.ndarray) -> Characters:
    """Average reference embeddings per name into one identity each.

    names: (m,) the character of each reference face; embeddings (m,D) float, one per face.
    A name may appear 1 to MAX_REFERENCES times.
    """
    embeddings = np.asarray(embeddings, np.float64)
    names = [check_character_name(name) for name in names]
    if embeddings.ndim != 2 or len(embeddings) != len(names) or not len(names):
        raise ValueError(f"embeddings must be a 2D array with one row per reference name ({len(names)}), but got shape {embeddings.shape}")
    order = list(dict.fromkeys(names))
    means, counts = [], []
    for name in order:
        rows = [i for i, n in enumerate(names) if n == name]
        if len(rows) > MAX_REFERENCES:
            raise ValueError(f"each character must have 1 to {MAX_REFERENCES} reference faces, but {name!r} has {len(rows)}; keep the best {MAX_REFERENCES}")
        means.append(unit_rows(unit_rows(embeddings[rows]).mean(axis=0, keepdims=True))[0])
        counts.append(len(rows))
    return Characters(tuple(order), np.stack(means).astype(np.float32), tuple(counts))


@dataclass(frozen=True, eq=False)
class IdentityResult:
    """tracks: the input tracks with identity set (merged when asked); output_of_input (k_in,)
    int64: the output track each input track went into; similarity (k_out,) float32: mean cosine
    of a character's frames to its reference (NaN for unknown faces)."""

    tracks: FaceTracks
    output_of_input: np.ndarray
    similarity: np.ndarray


def _best_claim(frame_embeddings: np.ndarray, characters: Characters, threshold: float, excluded: set[int]) -> tuple[int, float, float] | None:
    """One track's winning (character, votes, mean similarity of its votes), the excluded
    characters left out of the vote; None when no character gets at least as many votes as nobody."""
    similarity = unit_rows(frame_embeddings) @ characters.embedding.T.astype(np.float64)  # (m, c)
    similarity[:, sorted(excluded)] = -np.inf
    best = similarity.argmax(axis=1)
    best_similarity = similarity[np.arange(len(best)), best]
    voted = best_similarity >= threshold
    nobody = int((~voted).sum())
    claims = []
    for character in np.unique(best[voted]):
        mine = voted & (best == character)
        votes = int(mine.sum())
        if votes >= nobody:
            claims.append((int(character), float(votes), float(best_similarity[mine].mean())))
    return min(claims, key=lambda claim: (-claim[1], -claim[2], claim[0])) if claims else None


def _group_unknown(indices: list[int], sums: np.ndarray, overlap: np.ndarray, threshold: float) -> list[list[int]]:
    """Greedy agglomeration of unknown tracks whose mean embeddings agree and never overlap.

    sums (k,D): each track's sum of unit embeddings (zero rows: no embedding, never grouped);
    overlap (k,k): tracks present at the same time. The most similar pair of groups is joined
    first, while its cosine similarity reaches the threshold. A joined group's similarities are
    updated in place (one row per join), so thousands of tracks stay fast.
    """
    groups = [[i] for i in indices]
    vectors = sums[indices].astype(np.float64)
    unit = unit_rows(vectors)
    known = np.linalg.norm(vectors, axis=1) > 0
    allowed = ~overlap[np.ix_(indices, indices)] & known[:, None] & known[None, :]
    np.fill_diagonal(allowed, False)
    cosine = np.where(allowed, unit @ unit.T, -np.inf)
    while len(groups) > 1:
        a, b = sorted(np.unravel_index(int(np.argmax(cosine)), cosine.shape))
        if cosine[a, b] < threshold:
            break
        groups[a] += groups[b]
        groups[b] = []
        vectors[a] += vectors[b]
        unit[a] = unit_rows(vectors[a : a + 1])[0]
        allowed[a] &= allowed[b]
        allowed[:, a] = allowed[a]
        allowed[b] = allowed[:, b] = False
        cosine[a] = np.where(allowed[a], unit @ unit[a], -np.inf)
        cosine[:, a] = cosine[a]
        cosine[b] = cosine[:, b] = -np.inf
    return [sorted(group) for group in groups if group]


def _merge_group(tracks: FaceTracks, members: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """xyxy, state, score, landmarks of one output track made of non-overlapping input tracks."""
    xyxy = np.full((tracks.frame_count, 4), np.nan, np.float32)
    state = np.full(tracks.frame_count, ABSENT, np.uint8)
    score = np.zeros(tracks.frame_count, np.float32)
    landmarks = None if tracks.landmarks is None else np.full((tracks.frame_count, 5, 2), np.nan, np.float32)
    for member in members:
        present = tracks.present[member]
        xyxy[present] = tracks.xyxy[member][present]
        state[present] = tracks.state[member][present]
        score[present] = tracks.score[member][present]
        if landmarks is not None:
            landmarks[present] = tracks.landmarks[member][present]
    return xyxy, state, score, landmarks


def _check_votes(tracks: FaceTracks, track_index, embedding, characters: Characters | None, threshold) -> tuple[np.ndarray, np.ndarray]:
    """track_index (m,) int64 and embedding (m,D) float64, checked against the tracks and references."""
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be a FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    check_number("threshold", threshold, -1.0, 1.0, note=" (a cosine similarity)")
    track_index = np.asarray(track_index, np.int64).reshape(-1)
    embedding = np.asarray(embedding, np.float64)
    if embedding.ndim != 2 or len(embedding) != len(track_index):
        raise ValueError(f"embedding must be a 2D array with one row per track_index entry ({len(track_index)}), but got shape {embedding.shape}")
    if len(track_index) and (track_index.min() < 0 or track_index.max() >= len(tracks)):
        raise ValueError(f"track_index must hold indices in [0, {len(tracks)}), but got {track_index.min()}..{track_index.max()}")
    if characters is not None and len(track_index) and characters.embedding.shape[1] != embedding.shape[1]:
        raise ValueError(f"embedding must have the references' dimension {characters.embedding.shape[1]}, but got {embedding.shape[1]}; use one embedder for both")
    return track_index, embedding


def _claim_characters(embedding: np.ndarray, rows_of: list[np.ndarray], overlap: np.ndarray, characters: Characters, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per input track, the character index it gets (-1: none) and the mean similarity of its votes.

    The strongest claim is settled first; a track whose character went to a track present at the
    same time votes again without it."""
    count = len(rows_of)
    owner = np.full(count, -1, np.int64)
    owner_similarity = np.full(count, np.nan)
    claims = {track: _best_claim(embedding[rows_of[track]], characters, threshold, set()) for track in range(count) if len(rows_of[track])}
    while True:
        ranked = [(-claim[1], -claim[2], track, claim[0]) for track, claim in claims.items() if claim is not None]
        if not ranked:
            return owner, owner_similarity
        _, similarity, winner, character = min(ranked)
        owner[winner], owner_similarity[winner] = character, -similarity
        del claims[winner]
        for track in claims:
            if overlap[track, winner]:
                taken = set(owner[overlap[track] & (owner >= 0)].tolist())
                claims[track] = _best_claim(embedding[rows_of[track]], characters, threshold, taken)


def _output_groups(owner: np.ndarray, character_count: int, merge: bool, unknown_groups) -> list[list[int]]:
    """The input tracks of each output track: per character (one group, or one per track without
    merging), then the unknown faces as unknown_groups(indices) groups them."""
    groups: list[list[int]] = []
    for character in range(character_count):
        members = np.flatnonzero(owner == character).tolist()
        groups.extend([members] if merge and members else [[m] for m in members])
    groups.extend(unknown_groups(np.flatnonzero(owner < 0).tolist()))
    return groups


def _named_tracks(tracks: FaceTracks, groups: list[list[int]], names_of_groups: list[str]) -> tuple[FaceTracks, list[int]]:
    """The output tracks, one per group, ordered by first frame, then left and top edge, ids from
    1, unknown faces (name "") numbered face_1, face_2, ... in that order; and the group order."""
    merged = [_merge_group(tracks, members) for members in groups]

    def first_box(index: int) -> tuple[int, float, float]:
        state, xyxy = merged[index][1], merged[index][0]
        hits = np.flatnonzero(state != ABSENT)
        if not len(hits):
            return tracks.frame_count, 0.0, 0.0
        return int(hits[0]), float(xyxy[hits[0], 0]), float(xyxy[hits[0], 1])

    order = sorted(range(len(groups)), key=first_box)
    names, unknown_count = [], 0
    for group_index in order:
        if not names_of_groups[group_index]:
            unknown_count += 1
        names.append(names_of_groups[group_index] or f"{UNKNOWN_PREFIX}{unknown_count}")
    count = tracks.frame_count

    def stacked(part: int, empty_shape: tuple, dtype) -> np.ndarray:
        return np.stack([merged[i][part] for i in order]) if order else np.zeros(empty_shape, dtype)

    result = FaceTracks(
        track_id=np.arange(1, len(order) + 1),
        xyxy=stacked(0, (0, count, 4), np.float32),
        state=stacked(1, (0, count), np.uint8),
        score=stacked(2, (0, count), np.float32),
        frame_count=count,
        frame_size=tracks.frame_size,
        fps=tracks.fps,
        landmarks=None if tracks.landmarks is None else stacked(3, (0, count, 5, 2), np.float32),
        identity=np.array(names, dtype=str) if order else None,
        fingerprint=tracks.fingerprint,
        cuts=tracks.cuts,
    )
    return result, order


def assign_identities(
    tracks: FaceTracks,
    track_index: np.ndarray,
    embedding: np.ndarray,
    characters: Characters | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    merge: bool = True,
) -> IdentityResult:
    """Name every track: a character, or face_1, face_2, ... (see the module docstring).

    tracks: FaceTracks (k tracks). track_index (m,) int64 into tracks and embedding (m,D) float:
    the face embeddings sampled along the tracks (any frames, any order; a track may have none,
    then it is an unknown face of its own). characters: the reference identities, or None (every
    track unknown). threshold: cosine similarity for a vote and for grouping unknown faces.
    merge: make one track of each character and of each group of unknown tracks.
    """
    track_index, embedding = _check_votes(tracks, track_index, embedding, characters, threshold)
    count = len(tracks)
    present = tracks.present.astype(np.float32)  # float: a BLAS product, exact for these counts
    overlap = (present @ present.T) > 0
    rows_of = [np.flatnonzero(track_index == i) for i in range(count)]
    owner, owner_similarity = np.full(count, -1, np.int64), np.full(count, np.nan)
    if characters is not None and len(characters):
        owner, owner_similarity = _claim_characters(embedding, rows_of, overlap, characters, threshold)

    def unknown_groups(unknown: list[int]) -> list[list[int]]:
        if not merge:
            return [[i] for i in unknown]
        sums = np.zeros((count, embedding.shape[1]))
        np.add.at(sums, track_index, unit_rows(embedding))
        return _group_unknown(unknown, sums, overlap, threshold)

    groups = _output_groups(owner, 0 if characters is None else len(characters), merge, unknown_groups)
    names = [characters.names[owner[members[0]]] if owner[members[0]] >= 0 else "" for members in groups]
    result, order = _named_tracks(tracks, groups, names)
    output_of_input = np.zeros(count, np.int64)
    similarity = []
    for out, group_index in enumerate(order):
        members = groups[group_index]
        output_of_input[members] = out
        if owner[members[0]] >= 0:
            weights = np.array([len(rows_of[m]) for m in members], np.float64)
            similarity.append(float(np.average(owner_similarity[members], weights=weights)))
        else:
            similarity.append(np.nan)
    return IdentityResult(result, output_of_input, np.array(similarity, np.float32))
