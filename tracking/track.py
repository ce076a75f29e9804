"""track_faces: FaceDetections of a whole clip -> FaceTracks, the stages in order.

0. shots: the cuts found while detecting, changed by the spec's cut list (cuts.py);
1. online pass (lifecycle.py), shot by shot: per-frame global assignment, tentative ->
   confirmed after min_hits, gaps of up to max_gap missed frames bridged by constant-velocity
   prediction, jumps of up to max_jump face sizes taken when unambiguous and confirmed;
2. offline linking (link.py): tracklets of one face joined across longer gaps of one shot when
   unambiguous, and across shots by appearance when detections carry embeddings;
3. gap rescue (rescue.py): detections no tracklet took, lying on the curve through a gap that
   gap filling would fill, given back to the track (a face that turned while missed every
   other frame, which the online pass lost);
4. gap filling (interpolate.py): state INTERPOLATED where the face was there but not detected,
   never across a cut or a motion break (motion.py); a detection that jumps out and straight
   back (a false positive the track took) is dropped first and its frame filled like a miss, and
   so is a box next to a jump that nothing vouches for (motion.doubtful_edges: the face seen
   across the jump on its frame, a low score, another appearance, off its side's line, not
   confirmed by its side): that frame stays absent;
5. smoothing (smooth.py): zero-phase, centre and size apart, segments split at cuts and motion
   breaks, landmarks follow their box;
6. ids 1..k by first frame, then left edge, then top edge. Same input, same output.

Tracks are built row by row (only the frames where a face is present), so time and memory grow
with the number of detections, not with tracks x frames.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from .boxes import xyxy_to_cxcywh
from .cuts import resolve_cuts
from .interpolate import fill_track, fillable_gaps
from .lifecycle import Tracklet, follow_tracks
from .link import link_tracklets
from .motion import doubtful_edges, motion_breaks, motion_outliers
from .rescue import rescue_rows
from .smooth import follow_boxes, smooth_track
from .spec import TrackSpec
from ..core.vectors import unit_rows
from ..core.types import FaceDetections, FaceTracks

log = logging.getLogger(__name__)

# One track's rows: frames (p,), xyxy (p,4), state (p,), score (p,), landmarks (p,5,2) or None.
TrackRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]


def _spec_from(spec: TrackSpec | None, settings: dict) -> TrackSpec:
    if spec is not None and settings:
        raise TypeError(f"track_faces takes a TrackSpec or settings as keywords, not both, but got both (settings {sorted(settings)})")
    if spec is None:
        try:
            return TrackSpec(**settings)
        except TypeError as error:
            if "unexpected keyword" not in str(error):
                raise
            names = ", ".join(TrackSpec.__dataclass_fields__)
            raise TypeError(f"track_faces settings must be among {names}, but got {sorted(settings)}") from None
    if not isinstance(spec, TrackSpec):
        raise TypeError(f"spec must be a TrackSpec, but got {type(spec).__name__}")
    return spec


def _warn_short_shots(cuts: np.ndarray, sampled: np.ndarray, min_hits: int) -> None:
    edges = np.concatenate([[0], cuts, [len(sampled)]])
    counts = np.add.reduceat(sampled.astype(np.int64), edges[:-1]) if len(sampled) else np.zeros(0, np.int64)
    short = int((counts < min_hits).sum())
    if short:
        log.warning("%d of %d shots have fewer than min_hits (%d) sampled frames; their faces count after as many hits as the shot has", short, len(counts), min_hits)


class _Boxes:
    """The clip's detections as the offline stages look them up: cxcywh (n,4), the sampled
    frames, unit embeddings (n,D) or None, and every box of a frame."""

    def __init__(self, detections: FaceDetections) -> None:
        self.cxcywh = xyxy_to_cxcywh(detections.xyxy)
        self.sampled = detections.is_sampled  # (frame_count,) bool, built once for every track
        self.embedding = None if detections.embedding is None else unit_rows(detections.embedding, np.float32)
        self._order = np.argsort(detections.frame, kind="stable")
        self._starts = np.searchsorted(detections.frame[self._order], np.arange(detections.frame_count + 1))

    def boxes_at(self, frame: int) -> np.ndarray:
        """(k,4) cxcywh of every detection of `frame`."""
        return self.cxcywh[self.rows_between(frame, frame + 1)]

    def rows_between(self, start: int, stop: int) -> np.ndarray:
        """The rows of every detection of frames start..stop-1."""
        return self._order[self._starts[start] : self._starts[stop]]


def _in_order(rows: np.ndarray, detections: FaceDetections, clip: _Boxes) -> tuple[np.ndarray, np.ndarray]:
    """rows in frame order without the motion outliers, and their motion breaks."""
    rows = rows[np.argsort(detections.frame[rows], kind="stable")]
    rows = rows[~motion_outliers(detections.frame[rows], clip.cxcywh[rows])]
    return rows, motion_breaks(detections.frame[rows], clip.cxcywh[rows])


def _face_rows(chain: list[int], tracklets: list[Tracklet], detections: FaceDetections, clip: _Boxes, spec: TrackSpec, cuts: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The detection rows of one face in frame order and their motion breaks: its tracklets'
    rows, outliers dropped, free detections in its gaps given back (marked taken in `free`),
    doubtful jump edges dropped."""
    rows, breaks = _in_order(np.concatenate([tracklets[index].rows for index in chain]), detections, clip)
    if not len(rows):
        return rows, breaks
    gaps = fillable_gaps(detections.frame[rows], detections.xyxy[rows], clip.sampled, detections.frame_size, spec.max_gap, cuts, breaks)
    rescued = rescue_rows(rows, detections.frame, clip.cxcywh, detections.score, gaps, breaks, clip.rows_between, free)
    if len(rescued):
        rows, breaks = _in_order(np.concatenate([rows, rescued]), detections, clip)
    if breaks.any():
        embedding = None if clip.embedding is None else clip.embedding[rows]
        doubtful = doubtful_edges(detections.frame[rows], clip.cxcywh[rows], detections.score[rows], breaks, clip.boxes_at, embedding)
        if doubtful.any():
            rows = rows[~doubtful]
            breaks = motion_breaks(detections.frame[rows], clip.cxcywh[rows])
    return rows, breaks


def _build_track(chain: list[int], tracklets: list[Tracklet], detections: FaceDetections, clip: _Boxes, spec: TrackSpec, cuts: np.ndarray, free: np.ndarray) -> TrackRows | None:
    """The rows of one face (_face_rows), gaps filled, boxes smoothed; None when no detection of
    it is kept."""
    rows, breaks = _face_rows(chain, tracklets, detections, clip, spec, cuts, free)
    if not len(rows):
        return None
    frames = detections.frame[rows]
    landmarks = None if detections.landmarks is None else detections.landmarks[rows]
    frames, xyxy, state, score, track_landmarks = fill_track(
        frames, detections.xyxy[rows], detections.score[rows], landmarks,
        sampled=clip.sampled, frame_size=detections.frame_size, max_gap=spec.max_gap, cuts=cuts, breaks=breaks,
    )
    if spec.smooth_boxes:
        split_before = np.concatenate([cuts, detections.frame[rows][1:][breaks]])
        smoothed = smooth_track(frames, xyxy, state, float(spec.smooth_window), split_before)
        if track_landmarks is not None:
            track_landmarks = follow_boxes(track_landmarks, xyxy, smoothed)
        xyxy = smoothed
    return frames, xyxy, state, score, track_landmarks


def _assemble(tracks: list[TrackRows], detections: FaceDetections, spec: TrackSpec, cuts: np.ndarray | None) -> FaceTracks:
    """FaceTracks from the tracks' rows, ids 1..k by first frame, then left edge, then top edge."""
    if not tracks:
        return FaceTracks.empty(detections.frame_count, detections.frame_size, spec.fps, detections.fingerprint, cuts=cuts)
    tracks = sorted(tracks, key=lambda t: (int(t[0][0]), float(t[1][0, 0]), float(t[1][0, 1])))
    lengths = [len(t[0]) for t in tracks]
    return FaceTracks.from_rows(
        track_id=np.arange(1, len(tracks) + 1),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        frame=np.concatenate([t[0] for t in tracks]),
        xyxy=np.concatenate([t[1] for t in tracks]).astype(np.float32),
        state=np.concatenate([t[2] for t in tracks]),
        score=np.concatenate([t[3] for t in tracks]),
        landmarks=None if detections.landmarks is None else np.concatenate([t[4] for t in tracks]).astype(np.float32),
        frame_count=detections.frame_count,
        frame_size=detections.frame_size,
        fps=spec.fps,
        fingerprint=detections.fingerprint,
        cuts=cuts,
    )


def track_faces(
    detections: FaceDetections,
    spec: TrackSpec | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    **settings,
) -> FaceTracks:
    """Follow the faces of a clip: one track per face, ids from 1, confirmed tracks only.

    detections: every face of the clip (xyxy source pixels; sampled_frames when the detector ran
    on a stride; cuts when shots were looked for). spec: a TrackSpec, or its fields as keywords
    (track_faces(detections, fps=29.97, min_hits=2)); neither gives the defaults.
    on_progress receives frame_count steps in total; check_interrupt is called once per frame.

    Returns FaceTracks whose cuts are the shot boundaries used (None when the detections did not
    look for shots and the spec gives no cut list): xyxy float32 rows, state DETECTED /
    INTERPOLATED, score the detection score (decayed on interpolated frames), landmarks when
    detections carry them.
    """
    if not isinstance(detections, FaceDetections):
        raise TypeError(f"detections must be a FaceDetections (socket FUSE_FACES), but got {type(detections).__name__}")
    spec = _spec_from(spec, settings)
    known = resolve_cuts(detections.cuts, spec.cuts, detections.frame_count)  # None: shots not looked for
    cuts = np.zeros(0, np.int64) if known is None else known
    if len(detections) == 0:
        if on_progress is not None:
            on_progress(detections.frame_count)
        return FaceTracks.empty(detections.frame_count, detections.frame_size, spec.fps, detections.fingerprint, cuts=known)
    clip = _Boxes(detections)
    _warn_short_shots(cuts, clip.sampled, spec.min_hits)
    tracklets = follow_tracks(
        detections,
        iou_threshold=float(spec.iou_threshold),
        distance_threshold=float(spec.distance_threshold),
        max_gap=int(spec.max_gap),
        min_hits=int(spec.min_hits),
        max_jump=float(spec.max_jump),
        cuts=cuts,
        on_progress=on_progress,
        check_interrupt=check_interrupt,
    )
    if spec.link_gaps:
        chains = link_tracklets(tracklets, detections, fps=spec.fps, max_link_gap=spec.max_link_gap, cuts=cuts, max_jump=float(spec.max_jump))
    else:
        chains = [[index] for index in range(len(tracklets))]
    free = np.ones(len(detections), bool)
    for tracklet in tracklets:
        free[tracklet.rows] = False
    tracks = [_build_track(chain, tracklets, detections, clip, spec, cuts, free) for chain in chains]
    tracks = [track for track in tracks if track is not None and len(track[0]) >= spec.min_track_length]
    return _assemble(tracks, detections, spec, known)
