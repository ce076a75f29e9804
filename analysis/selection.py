"""Face selection: which faces a node works on, read and applied the same way by every node.

A selection names faces by track id ("1, 3"), by character name ("alice, bob": the identities
FUSE Analyze Faces gives its tracks), or both ("2, alice"); "all", "-1" or "" alone select every
face. Commas or semicolons separate the entries; case and spaces around them do not matter for
"all". largest_n > 0 then keeps the n selected tracks with the largest faces (median box side,
ties to the lower id). Nodes read the selection from their text input (`faces`; FUSE Lipsync's
`track_ids`) and from face_id, the integer input of the first release (-1 = every face).

An id or name that no face of the clip has is an error naming it and the faces that are there,
so a typo or an id from another clip never silently processes nothing. A clip without any face
is never an error, whatever the selection: there is nothing to choose from.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.checks import check_number
from ..core.types import FaceTracks

log = logging.getLogger(__name__)

ALL_FACES = ("", "-1", "all")  # selection texts meaning every face
TRACK_ID = re.compile(r"-?[0-9]+")  # a track id in a selection; ASCII digits only (str.isdigit() accepts "²", which int() refuses)


@dataclass(frozen=True)
class FaceSelection:
    """Every face (no track_ids and no names), or the tracks with these ids or character names;
    then, when largest_n > 0, only the largest_n largest of those. input_name is the node input
    the selection came from, for messages."""

    track_ids: frozenset = frozenset()
    names: frozenset = frozenset()
    largest_n: int = 0
    input_name: str = field(default="faces", compare=False)

    def __post_init__(self) -> None:
        ids, names = frozenset(self.track_ids), frozenset(self.names)
        for track_id in ids:
            check_number(f"{self.input_name} track ids", track_id, 1, integer=True)
        for name in names:
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                raise ValueError(f"{self.input_name} names must be non-empty strings without surrounding spaces, but got {name!r}")
        check_number("largest_n", self.largest_n, 0, integer=True, note=" (0 = keep every selected track)")
        object.__setattr__(self, "track_ids", ids)
        object.__setattr__(self, "names", names)

    @property
    def everything(self) -> bool:
        """No id or name given: every face (before largest_n)."""
        return not self.track_ids and not self.names

    def present_in(self, track_ids: Sequence[int], identities: Sequence[str] | None) -> "FaceSelection | None":
        """The part of this selection among these faces (ids (k,), identities (k,) or None), for a
        part of a clip such as one window of a long video, which holds only the faces on screen
        in it: self when it selects every face, None when none of its faces is here."""
        if self.everything:
            return self
        ids = self.track_ids & {int(t) for t in track_ids}
        names = self.names & {str(name) for name in (identities if identities is not None else ()) if name}
        if not ids and not names:
            return None
        return FaceSelection(frozenset(ids), frozenset(names), self.largest_n, self.input_name)

    def __str__(self) -> str:
        chosen = ", ".join([str(i) for i in sorted(self.track_ids)] + sorted(self.names)) or "all"
        return chosen + (f" (largest {self.largest_n})" if self.largest_n else "")

    @classmethod
    def parse(cls, text: str = "all", *, face_id: int = -1, largest_n: int = 0, input_name: str = "faces") -> "FaceSelection":
        """The selection a node's inputs give: `text` ("all" / "-1" / "" alone: every face;
        "1, 3, alice": ids and names) and face_id (-1, or one track id: the first release's input,
        which must stay -1 when text selects faces)."""
        if not isinstance(text, str):
            raise TypeError(f"{input_name} must be a string such as \"all\", \"1, 3\" or \"alice, bob\", but got {type(text).__name__}")
        if isinstance(face_id, bool) or not isinstance(face_id, (int, np.integer)) or (face_id < 1 and face_id != -1):
            raise ValueError(f"face_id must be -1 (every face) or a track id >= 1, but got {face_id!r}")
        ids, names = set(), set()
        if text.strip().lower() not in ALL_FACES:
            for token in (t.strip() for t in text.replace(";", ",").split(",")):
                if TRACK_ID.fullmatch(token):
                    if int(token) < 1:
                        raise ValueError(f"{input_name} must hold track ids >= 1, character names, or be \"all\" / \"-1\" alone, but got {token!r} in {text!r}")
                    ids.add(int(token))
                elif token:
                    names.add(token)
        if face_id != -1:
            if ids or names:
                raise ValueError(f"face_id must be -1 when {input_name} selects faces, but got face_id {face_id} and {input_name} {text!r}; list every face in {input_name}, e.g. \"{face_id}, {text.strip()}\"")
            return cls(frozenset({int(face_id)}), frozenset(), largest_n, "face_id")
        return cls(frozenset(ids), frozenset(names), largest_n, input_name)


def describe_faces(track_ids: Sequence[int], identities: Sequence[str] | None, most: int = 20) -> str:
    """"1 (alice), 2 (face_1)" or "1, 2": faces by id and identity, each once, the first `most`
    of them, for messages."""
    if identities is None:
        identities = [""] * len(track_ids)
    pairs = list(dict.fromkeys((int(t), str(name)) for t, name in zip(track_ids, identities)))
    text = ", ".join(f"{t} ({name})" if name else str(t) for t, name in pairs[:most]) or "none"
    return text + (f", ... ({len(pairs)} faces)" if len(pairs) > most else "")


def check_names_usable(selection: FaceSelection, has_identities: bool, within: str) -> None:
    """ValueError when the selection names characters but the faces `within` carry no names."""
    if selection.names and not has_identities:
        raise ValueError(
            f"{selection.input_name} names characters {sorted(selection.names)}, but no face in {within} has a character name; "
            "connect the tracks of FUSE Analyze Faces (it names them), or select by track id"
        )


def face_mask(selection: FaceSelection, track_ids: Sequence[int], identities: Sequence[str] | None, within: str) -> np.ndarray:
    """(k,) bool: the faces (ids (k,), identities (k,) or None) the selection's ids and names pick
    (largest_n is not applied: see select_faces). ValueError naming the ids and names that match
    no face; none when there are no faces at all. within: where the faces are, for messages."""
    track_ids = np.asarray(track_ids, np.int64).reshape(-1)
    if selection.everything:
        return np.ones(len(track_ids), bool)
    if not len(track_ids):
        log.info("%s %s selects nothing: there are no faces in %s", selection.input_name, selection, within)
        return np.zeros(0, bool)
    known_names = set() if identities is None else {str(name) for name in identities if name}
    check_names_usable(selection, bool(known_names), within)
    mask = np.isin(track_ids, sorted(selection.track_ids))
    if selection.names:
        mask |= np.isin(np.asarray(identities, dtype=str), sorted(selection.names))
    missing = sorted(map(str, selection.track_ids - set(track_ids.tolist()))) + sorted(selection.names - known_names)
    if missing:
        raise ValueError(
            f"{selection.input_name} must select faces in {within} ({describe_faces(track_ids, identities)}), but got {', '.join(missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not there; pick from those (FUSE Preview Tracks draws the ids, FUSE Analyze Faces names the characters)"
        )
    return mask


def _median_side(tracks: FaceTracks, index: int) -> float:
    boxes = tracks.xyxy[index][tracks.present[index]]
    if not len(boxes):
        return 0.0
    return float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))


def select_faces(tracks: FaceTracks, selection: FaceSelection) -> FaceTracks:
    """The tracks the selection picks (face_mask), then its largest_n tracks with the largest
    median face side (max of box width and height over the frames where the face is present;
    ties go to the lower track id). Order and ids are kept."""
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be a FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    mask = face_mask(selection, tracks.track_id, tracks.identity, "the tracks")
    chosen = np.flatnonzero(mask)
    if selection.largest_n and len(chosen) > selection.largest_n:
        chosen = chosen[np.argsort(tracks.track_id[chosen], kind="stable")]
        sides = np.array([_median_side(tracks, index) for index in chosen])
        keep = np.argsort(-sides, kind="stable")[: selection.largest_n]  # stable: ties go to the lower id
        mask = np.zeros(len(tracks), bool)
        mask[chosen[keep]] = True
    return tracks.select(mask)
