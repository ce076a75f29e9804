"""Which crop rows get lipsync: chosen faces, their time ranges, syncability, and the fades.

A row is synced when its face is selected (the pack's face selection, analysis.selection:
"all" / "-1" / "" every face, "1, 3" track ids, "alice, bob" identities, mixed allowed), its frame
time falls inside one of the face's ranges, audio plays then (or silence is wanted), and the face
is syncable by the pack's rules (analysis.syncability.SyncRules: wide enough, detection score
high enough, |yaw| within the limit when head pose is known). Every other row passes through
unchanged. The edit weight ramps over fade_frames frames inside a synced run, so the mouth never
snaps between the original and the synced one.

Speakers (FUSE Active Speaker): a face is synced only while it speaks, its speaking segments
widened by fade_frames on both sides so the fade happens around the segment and the whole of the
speech is synced; a face with manual ranges follows its ranges instead (manual ranges override).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from ..analysis.selection import TRACK_ID, FaceSelection, describe_faces, face_mask
from ..analysis.syncability import SyncRules, judge_syncability
from ..compositing.plan import CropPlan
from .adapter import RowGeometry


def parse_ranges(text: str) -> dict[str, list[tuple[Fraction, Fraction]]]:
    """JSON {"<track id or identity>": [[start_ms, end_ms], ...]} -> exact millisecond ranges.

    "" -> {} (every selected face over the whole video). Ranges are half-open [start, end) and may
    start before the video or end after it; they are clipped by the frames that exist. Keys are
    read by range_key ("01" is track 1).
    """
    if not isinstance(text, str):
        raise TypeError(f"ranges must be a JSON string such as {{\"1\": [[0, 2000]]}}, but got {type(text).__name__}")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"ranges must be JSON such as {{\"1\": [[0, 2000], [5000, 8000]]}} (ms per track id), but got invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"ranges must be a JSON object mapping a track id to [[start_ms, end_ms], ...], but got {type(data).__name__}")
    parsed = {}
    for key, pairs in data.items():
        if not isinstance(pairs, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise ValueError(f"ranges[{key!r}] must be a list of [start_ms, end_ms] pairs, but got {pairs!r}")
        converted = []
        for start, end in pairs:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (start, end)):
                raise ValueError(f"ranges[{key!r}] must hold numbers of milliseconds, but got {[start, end]!r}")
            if end <= start:
                raise ValueError(f"ranges[{key!r}] must have end_ms > start_ms, but got {[start, end]!r}")
            converted.append((Fraction(start), Fraction(end)))
        parsed[range_key(key)] = converted
    return parsed


def range_key(key) -> str:
    """A ranges key as faces are matched by it: digits are a track id ("01" -> "1"), anything
    else is a character name."""
    key = str(key).strip()
    return str(int(key)) if TRACK_ID.fullmatch(key) else key


def check_range_keys(ranges: dict, track_ids, identities, within: str) -> None:
    """ValueError when a key of `ranges` (parse_ranges) is neither the id nor the character name
    of one of the faces (ids (k,), identities (k,) or None) `within`: the face it meant would
    otherwise be synced over the whole video. No faces at all accept any key (nothing to sync)."""
    if not len(track_ids):
        return
    known = {str(int(t)) for t in track_ids} | {str(name) for name in (identities if identities is not None else ()) if name}
    unknown = [key for key in ranges if key not in known]
    if unknown:
        raise ValueError(
            f"ranges keys must name faces in {within} ({describe_faces(track_ids, identities)}), but {', '.join(repr(k) for k in unknown)} "
            f"{'matches' if len(unknown) == 1 else 'match'} none; fix the keys (FUSE Preview Tracks draws the ids), or those faces are synced over the whole video"
        )


def selected_sequences(plan: CropPlan, faces: FaceSelection) -> np.ndarray:
    """(s,) bool: the sequences whose face the selection names (analysis.selection.face_mask:
    an id or name that no sequence of the plan has is an error; an empty plan is not)."""
    return face_mask(faces, [s.track_id for s in plan.sequences], [s.identity for s in plan.sequences], "the crop plan")


def selected_rows(plan: CropPlan, faces: FaceSelection, ranges: dict) -> np.ndarray:
    """(M,) bool: the row's face is selected (see selected_sequences) and its frame time is inside
    one of the face's ranges (parse_ranges).

    A face without an entry in `ranges` is synced over the whole video. A range key that matches
    no face of the plan is an error (check_range_keys).
    """
    check_range_keys(ranges, [s.track_id for s in plan.sequences], [s.identity for s in plan.sequences], "the crop plan")
    fps = plan.fps
    parts = []
    for sequence, chosen in zip(plan.sequences, selected_sequences(plan, faces)):
        if not chosen:
            parts.append(np.zeros(len(sequence), bool))
            continue
        face_ranges = _face_ranges(sequence, ranges)
        if face_ranges is None:
            parts.append(np.ones(len(sequence), bool))
            continue
        times_ms = [Fraction(1000 * int(frame)) / fps for frame in sequence.frames]
        parts.append(np.array([any(start <= t < end for start, end in face_ranges) for t in times_ms], bool))
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def _face_ranges(sequence, ranges: dict):
    return ranges.get(str(sequence.track_id), ranges.get(sequence.identity) if sequence.identity else None)


def check_speakers_match_plan(speakers, plan: CropPlan) -> None:
    """ValueError unless speakers were found on the clip and the tracks the crop plan was made from."""
    if speakers.frame_count != plan.frame_count or speakers.fps != plan.fps:
        raise ValueError(
            f"speakers must come from FUSE Active Speaker on the clip of the crop plan ({plan.frame_count} frames at {plan.fps} fps), "
            f"but got {speakers.frame_count} frames at {speakers.fps} fps"
        )
    missing = sorted({s.track_id for s in plan.sequences if speakers.index_of(s.track_id) is None})
    if missing:
        raise ValueError(f"speakers must cover every face of the crop plan, but track ids {missing} are missing; connect FUSE Active Speaker to the tracks the crop plan was made from")


def speaking_rows(plan: CropPlan, speakers, ranges: dict, pad_frames: int) -> np.ndarray:
    """(M,) bool: the row's face speaks in its frame (speakers.speaking, widened by pad_frames frames
    on both sides within its sequence); True throughout for faces with manual ranges, which
    selected_rows then applies (manual ranges override the speakers)."""
    check_speakers_match_plan(speakers, plan)
    parts = []
    for sequence in plan.sequences:
        if _face_ranges(sequence, ranges) is not None:
            parts.append(np.ones(len(sequence), bool))
            continue
        speaking = speakers.speaking[speakers.index_of(sequence.track_id)]
        if pad_frames > 0:
            widened = np.convolve(speaking.astype(np.int64), np.ones(2 * pad_frames + 1, np.int64), mode="same") > 0
        else:
            widened = speaking
        parts.append(widened[sequence.frames])
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def syncable_rows(geometry: RowGeometry, rules: SyncRules) -> np.ndarray:
    """(M,) bool: the rows analysis.syncability.judge_syncability accepts (face width in source
    pixels, detection score, yaw when known; unknown scores and poses pass)."""
    rows = len(geometry.face_width_src)
    head_pose = np.full((rows, 3), np.nan)
    if geometry.yaw_deg is not None:
        head_pose[:, 1] = geometry.yaw_deg
    return judge_syncability(geometry.face_width_src, geometry.score, head_pose, rules).syncable


def fade_weights(active: np.ndarray, row_offsets: np.ndarray, fade_frames: int) -> np.ndarray:
    """(M,) float32 edit weights: 0 on inactive rows, ramping up to 1 over fade_frames rows inside
    each active run. A run that starts or ends with its sequence is not faded there (the face
    itself appears or leaves)."""
    weights = np.zeros(len(active), np.float32)
    for start, stop in zip(row_offsets[:-1], row_offsets[1:]):
        run = np.asarray(active[start:stop], bool)
        if not run.any():
            continue
        distance = _distance_to_inactive(run)
        weights[start:stop] = np.where(run, np.clip(distance / (fade_frames + 1), 0.0, 1.0), 0.0)
    return weights


def _distance_to_inactive(run: np.ndarray) -> np.ndarray:
    """(n,) float64: rows to the nearest False of run (inf when there is none), in O(n)."""
    positions = np.arange(len(run), dtype=np.float64)
    marks = np.where(run, -np.inf, positions)
    before = positions - np.maximum.accumulate(marks)
    marks_reversed = np.where(run, -np.inf, -positions)[::-1]
    after = (-np.maximum.accumulate(marks_reversed))[::-1] - positions
    return np.minimum(before, after)
