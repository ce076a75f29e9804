"""One pass over the original and the processed video: every measure, per face and per segment,
and which segments fail the thresholds.

Memory: one chunk of frames of each video, the per-frame figures ((faces, frames) floats), and
the SyncNet crops of the segments still open (224x224 per 25 fps frame, a few seconds each).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.types import FaceTracks
from ..lipsync import syncnet as sn
from . import metrics
from .frames import paired_chunks
from .segments import CutDetector, Segment, parse_cut_list, plan_segments, tracks_cuts

log = logging.getLogger(__name__)

CHUNK_FRAMES = 16
FIGURES = ("identity", "flicker", "flicker_original", "jitter", "seam")


@dataclass(frozen=True)
class Thresholds:
    """What fails a segment. A check is off when its threshold is 0 (max_av_offset: -1).

    min_lse_c: LSE-C below this fails (judged only when audio is given). LatentSync keeps
        training clips whose SyncNet confidence is at least 3; real, in-sync talking heads score
        about 6 to 9 in the published tables, out-of-sync speech near 0 to 2.
    max_av_offset: |best audio-video offset| above this many 25 fps frames fails: 2 frames
        (80 ms) sits between the 45 ms (sound early) and 125 ms (sound late) at which viewers
        start to notice (ITU-R BT.1359).
    min_identity: the segment's median ArcFace cosine between the original and the processed
        face below this fails. The same frame before and after a faithful restoration stays well
        above 0.5; InsightFace matches different photos of one person from about 0.3-0.4, so a
        face below 0.5 against its own source frame has become someone else.
    max_flicker: the largest excess warping error in the segment (processed minus original,
        mean grey levels 0..255 inside the face) above this fails. Codec noise and restorer
        jitter stay near 1-2 levels; a 4-level jump of a whole face from one frame to the next
        is visible on skin.
    max_jitter: the 95th percentile of the crop jerk (metrics.box_jitter) above this fails: 0.05
        is a crop that shakes by about +-1.25 % of the face size from frame to frame.
    max_seam: the median seam contrast (metrics.seam_contrast) above this fails: 0.5 is about a
        hard paste edge of 15 grey levels on a textured face; a feathered paste stays below 0.1.
    """

    min_lse_c: float = 3.0
    max_av_offset: int = 2
    min_identity: float = 0.5
    max_flicker: float = 4.0
    max_jitter: float = 0.05
    max_seam: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_lse_c", "min_identity", "max_flicker", "max_jitter", "max_seam"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0 (0 turns the check off), but got {value!r}")
        if not isinstance(self.max_av_offset, (int, np.integer)) or self.max_av_offset < -1:
            raise ValueError(f"max_av_offset must be an int >= -1 (-1 turns the check off), but got {self.max_av_offset!r}")


@dataclass(frozen=True)
class QualityOptions:
    """segment_seconds: length of the segments faces are judged in (a run shorter stays whole);
    face_margin: the face region is the box grown by this fraction of its larger side on every
    side (flow, seams, the outside-change mask and the fallback use it; 1.0 covers crops that
    reach up to half the box beyond it, as the bundled restore workflow's margin 0.4, with the
    fallback's feather); shot_cuts: "" (the tracks' cuts, else detected), "none" or "12, 40"."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    segment_seconds: float = 3.0
    face_margin: float = 1.0
    shot_cuts: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.segment_seconds, (int, float)) or not self.segment_seconds > 0:
            raise ValueError(f"segment_seconds must be a positive number of seconds, but got {self.segment_seconds!r}")
        if not isinstance(self.face_margin, (int, float)) or not 0 <= self.face_margin <= 4:
            raise ValueError(f"face_margin must be in 0..4 (a fraction of the face size), but got {self.face_margin!r}")


@dataclass
class QualityResult:
    """segments: every face's segments; figures[name]: (faces, frames) float64, NaN where not
    measured; segment_figures: one dict of figures per segment; failures: per segment the list
    of failed checks ({"check", "value", "threshold"}); cuts: the shot cuts used and where they
    came from; lip_sync / identity: {"available": bool, "reason"/"model": str}; outside: the
    change outside the faces."""

    tracks: FaceTracks
    segments: list[Segment]
    figures: dict[str, np.ndarray]
    segment_figures: list[dict]
    failures: list[list[dict]]
    cuts: np.ndarray
    cuts_source: str
    lip_sync: dict
    identity: dict
    outside: dict
    options: QualityOptions

    @property
    def failed(self) -> list[bool]:
        return [bool(f) for f in self.failures]


def resolve_cuts(options: QualityOptions, tracks: FaceTracks, original, check_interrupt=None) -> tuple[np.ndarray, str]:
    """(cuts, source): the user's list, the tracks' cuts, or cuts detected in the original frames."""
    given = parse_cut_list(options.shot_cuts, tracks.frame_count)
    if given is not None:
        return given, "user"
    carried = tracks_cuts(tracks)
    if carried is not None:
        return carried, "tracks"
    detector = CutDetector()
    for start, frames in original.chunks(CHUNK_FRAMES * 4):
        if check_interrupt is not None:
            check_interrupt()
        detector.feed(frames, start)
    return np.array(detector.cuts, np.int64), "detected"


class _LipSync:
    """Collects each segment's SyncNet crops as its frames pass and scores it when it is complete."""

    def __init__(self, net, audio_16k: np.ndarray, segments: list[Segment], tracks: FaceTracks, check_interrupt) -> None:
        self.net, self.audio, self.tracks, self.check_interrupt = net, audio_16k, tracks, check_interrupt
        self.plans = []  # per segment: (source frame of each 25 fps slot, crop boxes (n,3), first slot)
        self.by_frame: dict[int, list[tuple[int, int]]] = {}
        for number, segment in enumerate(segments):
            frames = sn.frames_at_25fps(len(segment), tracks.fps, segment.start)
            if len(frames) < sn.MIN_TRACK_FRAMES:  # too short to crop as the reference does (and at most one stack): no score
                frames = frames[:0]
            boxes = sn.crop_boxes(tracks.xyxy[segment.track_index, frames]) if len(frames) else np.zeros((0, 3))
            self.plans.append((frames, boxes, sn.first_slot_at_25fps(segment.start, tracks.fps)))
            for position, frame in enumerate(frames.tolist()):
                self.by_frame.setdefault(frame, []).append((number, position))
        self.crops: dict[int, np.ndarray] = {}
        self.results: dict[int, sn.LSE] = {}

    def feed(self, frame_index: int, processed_rgb: np.ndarray) -> None:
        for number, position in self.by_frame.get(frame_index, ()):
            frames, boxes, _ = self.plans[number]
            if number not in self.crops:
                self.crops[number] = np.empty((len(frames), sn.FACE_SIZE, sn.FACE_SIZE, 3), np.uint8)
            self.crops[number][position] = sn.face_crop(processed_rgb, boxes[position])
            if position == len(frames) - 1:
                self._score(number)

    def _score(self, number: int) -> None:
        crops = self.crops.pop(number)
        _, _, first_slot = self.plans[number]
        audio = self.audio[first_slot * sn.SAMPLES_PER_FRAME : (first_slot + len(crops)) * sn.SAMPLES_PER_FRAME]
        video, sound = sn.syncnet_embeddings(self.net, crops, audio, check_interrupt=self.check_interrupt)
        self.results[number] = sn.lse(sn.av_offset_distances(video, sound))


class _OutsideChange:
    """The change outside the faces (and their margins), summed over frame pairs."""

    def __init__(self) -> None:
        self.max_abs_diff = 0
        self.changed_pixels = 0
        self.frames_changed = 0
        self.sum = 0.0
        self.pixels = 0

    def add(self, before: np.ndarray, after: np.ndarray, faces_mask: np.ndarray) -> None:
        largest, mean, changed = metrics.outside_change(before, after, faces_mask)
        pixels = int(np.count_nonzero(~faces_mask))
        self.max_abs_diff = max(self.max_abs_diff, largest)
        self.changed_pixels += changed
        self.frames_changed += int(changed > 0)
        self.sum += mean * pixels
        self.pixels += pixels

    def summary(self) -> dict:
        return {
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.sum / self.pixels if self.pixels else 0.0,
            "changed_pixels": self.changed_pixels,
            "frames_changed": self.frames_changed,
        }


class _FrameFigures:
    """check_quality's per-frame figures (FIGURES but jitter, [faces, frames], NaN where not
    measured) and the outside change, filled one frame pair at a time in frame order."""

    def __init__(self, tracks: FaceTracks, cuts: np.ndarray, margin: float, embedder, collector: "_LipSync | None") -> None:
        self.tracks, self.margin, self.embedder, self.collector = tracks, margin, embedder, collector
        self.cut_set = set(cuts.tolist())
        self.figures = {name: np.full((len(tracks), tracks.frame_count), np.nan) for name in FIGURES}
        self.outside = _OutsideChange()
        self.previous: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, t: int, before: np.ndarray, after: np.ndarray) -> None:
        tracks, figures, margin = self.tracks, self.figures, self.margin
        present = tracks.present
        faces = np.flatnonzero(present[:, t])
        boxes = tracks.xyxy[faces, t]
        self.outside.add(before, after, metrics.regions_mask(boxes, margin, tracks.frame_size))
        if self.embedder is not None and len(faces):
            landmarks = None if tracks.landmarks is None else tracks.landmarks[faces, t]
            vectors_before = self.embedder.embed(before, boxes, landmarks)
            vectors_after = self.embedder.embed(after, boxes, landmarks)
            for row, face in enumerate(faces):
                figures["identity"][face, t] = metrics.cosine_similarity(vectors_before[row], vectors_after[row])
        for face in faces:
            xyxy = tracks.xyxy[face, t]
            figures["seam"][face, t] = metrics.seam_contrast(before, after, xyxy, margin)
            if self.previous is not None and t not in self.cut_set and present[face, t - 1]:
                proc_error, orig_error = metrics.warping_errors(self.previous[0], before, self.previous[1], after, xyxy, margin)
                figures["flicker"][face, t] = proc_error - orig_error
                figures["flicker_original"][face, t] = orig_error
        if self.collector is not None:
            self.collector.feed(t, after)
        self.previous = (before, after)


def _add_jitter(figures: dict[str, np.ndarray], tracks: FaceTracks) -> None:
    """Box jitter of every face, run by run."""
    for face in range(len(tracks)):
        for run_start, run_stop in tracks.runs(face):
            figures["jitter"][face, run_start:run_stop] = metrics.box_jitter(tracks.xyxy[face, run_start:run_stop])


def check_quality(
    original,
    processed,
    tracks: FaceTracks,
    *,
    options: QualityOptions = QualityOptions(),
    audio_16k: np.ndarray | None = None,
    syncnet=None,
    lip_sync_note: str = "",
    embedder=None,
    identity_note: str = "",
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> QualityResult:
    """Measure every face of `processed` against `original` (quality.frames sources).

    audio_16k: (S,) mono float at 16 kHz starting at frame 0, or None; syncnet: a loaded SyncNet
    or None. Lip sync is measured when both are given, else its figures are absent and
    lip_sync_note says why; likewise identity with `embedder` (an ArcFace FaceEmbedder) and
    identity_note. on_progress(n) after every n frame pairs.
    """
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be FUSE_TRACKS (FaceTracks), but got {type(tracks).__name__}")
    if (tracks.frame_count, tracks.frame_size) != (original.frame_count, original.frame_size):
        raise ValueError(
            f"tracks must describe the original video ({original.frame_count} frames of {original.frame_size[1]}x{original.frame_size[0]}), "
            f"but they describe {tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}; track the video you check"
        )
    cuts, cuts_source = resolve_cuts(options, tracks, original, check_interrupt)
    segment_frames = max(1, round(options.segment_seconds * float(tracks.fps)))
    segments = plan_segments(tracks, cuts, segment_frames)
    lip_sync_on = syncnet is not None and audio_16k is not None
    lip_sync = {"available": lip_sync_on, "reason": "" if lip_sync_on else (lip_sync_note or "no audio or no SyncNet model")}
    identity = {"available": embedder is not None, "reason": "" if embedder is not None else (identity_note or "no ArcFace model")}
    collector = _LipSync(syncnet, np.asarray(audio_16k, np.float32).reshape(-1), segments, tracks, check_interrupt) if lip_sync_on else None

    measure = _FrameFigures(tracks, cuts, options.face_margin, embedder, collector)
    for start, before, after in paired_chunks(original, processed, CHUNK_FRAMES):
        if check_interrupt is not None:
            check_interrupt()
        for offset in range(len(before)):
            measure.add(start + offset, before[offset], after[offset])
        if on_progress is not None:
            on_progress(len(before))
    figures = measure.figures
    _add_jitter(figures, tracks)

    unscored = sn.LSE(float("nan"), float("nan"), 0, 0)
    segment_figures = [_segment_figures(segment, figures, None if collector is None else collector.results.get(number, unscored)) for number, segment in enumerate(segments)]
    failures = [judge(values, options.thresholds, lip_sync_on) for values in segment_figures]
    return QualityResult(tracks, segments, figures, segment_figures, failures, cuts, cuts_source, lip_sync, identity, measure.outside.summary(), options)


def _nan_stat(values: np.ndarray, statistic) -> float | None:
    values = values[np.isfinite(values)]
    return float(statistic(values)) if len(values) else None


def _segment_figures(segment: Segment, figures: dict[str, np.ndarray], lse: sn.LSE | None) -> dict:
    """The figures a segment is judged by (None where nothing was measured)."""
    def row(name):
        return figures[name][segment.track_index, segment.start : segment.stop]

    values = {
        "identity_min": _nan_stat(row("identity"), np.min),
        "identity_median": _nan_stat(row("identity"), np.median),
        "flicker": _nan_stat(row("flicker"), np.max),
        "flicker_original": _nan_stat(row("flicker_original"), np.mean),
        "jitter": _nan_stat(row("jitter"), lambda v: np.percentile(v, 95)),
        "seam": _nan_stat(row("seam"), np.median),
    }
    if lse is not None:
        values.update({
            "lse_d": None if lse.stacks == 0 else lse.min_distance,
            "lse_c": None if lse.stacks == 0 else lse.confidence,
            "av_offset": None if lse.stacks == 0 else lse.offset,
            "sync_stacks": lse.stacks,
        })
    return values


def judge(values: dict, thresholds: Thresholds, lip_sync_on: bool) -> list[dict]:
    """The failed checks of one segment's figures: [{"check", "value", "threshold"}]; a figure
    that was not measured (None) never fails."""
    rules = [
        ("identity", values.get("identity_median"), thresholds.min_identity, lambda v, t: v < t, thresholds.min_identity > 0),
        ("flicker", values.get("flicker"), thresholds.max_flicker, lambda v, t: v > t, thresholds.max_flicker > 0),
        ("jitter", values.get("jitter"), thresholds.max_jitter, lambda v, t: v > t, thresholds.max_jitter > 0),
        ("seam", values.get("seam"), thresholds.max_seam, lambda v, t: v > t, thresholds.max_seam > 0),
    ]
    if lip_sync_on:
        rules += [
            ("lse_c", values.get("lse_c"), thresholds.min_lse_c, lambda v, t: v < t, thresholds.min_lse_c > 0),
            ("av_offset", values.get("av_offset"), thresholds.max_av_offset, lambda v, t: abs(v) > t, thresholds.max_av_offset >= 0),
        ]
    return [{"check": name, "value": value, "threshold": threshold} for name, value, threshold, fails, enabled in rules if enabled and value is not None and fails(value, threshold)]
