"""analyze_faces: who each face is, where it looks, whether lipsync may touch it, how good it looks.

The stages, each timed for the report:
1. references: reference headshots -> one identity per character (identity.py);
2. tracking: only when given detections instead of tracks (track.py, default settings);
3. per analysed frame (sample_fps of them per second, or every frame) and face present: head
   pose (pose.py: from 3D landmarks when a landmarker is given, else from the track's five
   landmarks), a face embedding (when an embedder is given) and the image quality (quality.py);
4. identity: characters by voting, unknown faces grouped, tracks merged (identity.py);
5. syncability per face and frame (syncability.py);
6. the report (analysis_report.py), with the time of each stage above.

Models come in as objects, so this module needs none of models/:
- embedder: .name and .embed(frame (H,W,3) uint8 RGB, xyxy (n,4), landmarks (n,5,2) or None)
  -> (n,D) unit vectors (models.face_embedders);
- landmarker: .name and .landmarks_3d(frame, xyxy (n,4)) -> (n,68,3) (models.face_landmarks);
- reference_detector: .detect_batch(frames (B,H,W,3) uint8, score_threshold) -> per frame
  (xyxy (n,4), score (n,), landmarks (n,5,2) or None) (models.face_detectors).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .report import FaceSamples, build_detection_report
from .identity import DEFAULT_THRESHOLD, Characters, assign_identities, characters_from_embeddings
from .pose import head_pose_from_landmarks, head_pose_from_landmarks_3d
from .quality import face_quality
from .syncability import SyncRules, judge_syncability
from ..tracking.track import track_faces
from ..core.checks import check_number
from ..core.images import check_video_frames, frame_to_uint8
from ..core.types import FaceDetections, FaceTracks, check_fps
from ..media.stream import ForwardFrames

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_FPS = 3.0  # the service's default frame sampling
REFERENCE_SCORE_THRESHOLD = 0.3  # a headshot holds a face; accept a less certain detection of it


@dataclass(frozen=True)
class AnalysisSpec:
    """How faces are analysed: the settings of analyze_faces (FUSE Analyze Faces and
    `comfyui-fuse detect` build one), validated when made.

    sample_fps: frames analysed per second (0 = every frame). similarity_threshold: cosine
    similarity for a character vote and for grouping unknown faces. merge_identities: one track
    per person. rules: syncability limits (SyncRules). quality_target_side: the face side (px)
    that scores full resolution.
    """

    sample_fps: float = DEFAULT_SAMPLE_FPS
    similarity_threshold: float = DEFAULT_THRESHOLD
    merge_identities: bool = True
    rules: SyncRules = SyncRules()
    quality_target_side: float = 256.0

    def __post_init__(self) -> None:
        check_number("sample_fps", self.sample_fps, 0, note=" (0 = every frame)")
        check_number("similarity_threshold", self.similarity_threshold, -1.0, 1.0, note=" (a cosine similarity)")
        if not isinstance(self.merge_identities, (bool, np.bool_)):
            raise TypeError(f"merge_identities must be a bool, but got {type(self.merge_identities).__name__}")
        if not isinstance(self.rules, SyncRules):
            raise TypeError(f"rules must be a SyncRules, but got {type(self.rules).__name__}")
        check_number("quality_target_side", self.quality_target_side, 1, note=" px")


@dataclass(frozen=True, eq=False)
class FaceAnalysis:
    """tracks: FaceTracks with identity set (merged per person when asked); characters: the
    reference identities or None; report: the JSON-ready detection report."""

    tracks: FaceTracks
    characters: Characters | None
    report: dict


class StageTimer:
    """Milliseconds spent per stage: `with timer("pose_ms"): ...` adds up over calls."""

    def __init__(self, measured: dict | None = None) -> None:
        self.ms: dict[str, float] = {name: float(value) for name, value in (measured or {}).items()}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000.0


def analysis_frames(frame_count: int, fps: Fraction, sample_fps: float) -> np.ndarray:
    """(s,) int64 frames to analyse: the frame shown at each multiple of 1 / sample_fps seconds;
    every frame when sample_fps is 0 or at least the clip's fps."""
    check_number("sample_fps", sample_fps, 0, note=" (0 = every frame)")
    if sample_fps == 0 or Fraction(sample_fps) >= fps:
        return np.arange(frame_count, dtype=np.int64)
    step = Fraction(sample_fps).limit_denominator(1000) or Fraction(sample_fps)  # below 1/2000 fps the limit rounds to 0
    frames = []
    k = 0
    while True:
        frame = int(k * fps / step)  # floor: the frame on screen at time k / sample_fps
        if frame >= frame_count:
            break
        frames.append(frame)
        k += 1
    return np.unique(np.asarray(frames, np.int64))


def parse_reference_names(text: str, image_count: int) -> list[str]:
    """The character of each reference image: "alice, alice, bob" (one name per image, commas or
    new lines between) or one name for every image."""
    if not isinstance(text, str):
        raise TypeError(f"reference_names must be a string such as \"alice, alice, bob\", but got {type(text).__name__}")
    names = [name.strip() for name in re.split(r"[,\n;]", text) if name.strip()]
    if len(names) == 1:
        return names * image_count
    if len(names) != image_count:
        raise ValueError(f"reference_names must give one name per reference image ({image_count}) or one name for all, but got {len(names)}: {names}")
    return names


def characters_from_images(images: Sequence[np.ndarray], names: Sequence[str], embedder, detector=None) -> Characters:
    """Reference headshots -> one identity per character.

    images: (H,W,3) uint8 RGB arrays (any sizes); names: the character of each. The largest face
    the detector finds in a headshot is used; without a detector, or when it finds none, the
    whole image is taken as the face (a tight headshot).
    """
    if len(images) != len(names):
        raise ValueError(f"reference images and names must pair up, but got {len(images)} images and {len(names)} names")
    embeddings = []
    for image, name in zip(images, names):
        image = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
        height, width = image.shape[:2]
        xyxy, landmarks = np.array([[0.0, 0.0, width, height]]), None
        if detector is not None:
            boxes, _, points = detector.detect_batch(image[None], score_threshold=REFERENCE_SCORE_THRESHOLD)[0]
            if len(boxes):
                largest = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
                xyxy = boxes[largest : largest + 1]
                landmarks = None if points is None else points[largest : largest + 1]
            else:
                log.warning("no face found in a reference image of %r (%dx%d); using the whole image as the face", name, width, height)
        embeddings.append(embedder.embed(image, xyxy, landmarks)[0])
    return characters_from_embeddings(list(names), np.stack(embeddings))


def _as_tracks(tracks: FaceTracks | FaceDetections, fps, timer: StageTimer) -> FaceTracks:
    """The tracks to analyse: FaceTracks as given, FaceDetections tracked with default settings."""
    if isinstance(tracks, FaceDetections):
        if fps is None:
            raise ValueError("fps must be given when faces (FUSE_FACES) are analysed instead of tracks; tracks carry their own fps")
        with timer("tracking_ms"):
            tracks = track_faces(tracks, fps=fps)
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be a FaceTracks (FUSE_TRACKS) or FaceDetections (FUSE_FACES), but got {type(tracks).__name__}")
    return tracks


@dataclass(frozen=True, eq=False)
class _Measurements:
    """One row per analysed face and frame: frame (n,) int64, track (n,) int64 index into the
    tracks, pose (n,3) float64 degrees, embedding (n,D) float32 (D = 0 without an embedder),
    quality (n,) FaceQuality."""

    frame: np.ndarray
    track: np.ndarray
    pose: np.ndarray
    embedding: np.ndarray
    quality: tuple


def _measure_frame(image: np.ndarray, tracks: FaceTracks, faces: np.ndarray, frame: int, embedder, landmarker, quality_target_side: float, timer: StageTimer):
    """(pose (m,3), embedding (m,D) or None, qualities) of the faces (m,) present in one frame (H,W,3) uint8."""
    xyxy = tracks.xyxy[faces, frame]
    landmarks = None if tracks.landmarks is None else tracks.landmarks[faces, frame]
    with timer("pose_ms"):
        if landmarker is not None:
            pose = head_pose_from_landmarks_3d(landmarker.landmarks_3d(image, xyxy))
        elif landmarks is not None:
            pose = head_pose_from_landmarks(landmarks, tracks.frame_size)
        else:
            pose = np.full((len(faces), 3), np.nan, np.float32)
    embedding = None
    if embedder is not None:
        with timer("embedding_ms"):
            embedding = np.asarray(embedder.embed(image, xyxy, landmarks), np.float32)
    with timer("quality_ms"):
        qualities = [face_quality(image, xyxy[i], None if landmarks is None else landmarks[i], float(pose[i, 1]), quality_target_side) for i in range(len(faces))]
    return pose, embedding, qualities


def _measure_faces(frames_bhwc, tracks: FaceTracks, sampled: np.ndarray, embedder, landmarker, quality_target_side: float, timer: StageTimer, on_progress, check_interrupt) -> _Measurements:
    """Pose, embedding and quality of every face present in the sampled frames."""
    rows_frame, rows_track, poses, embeddings, qualities = [], [], [], [], []
    covered = 0
    for frame in sampled.tolist():
        if check_interrupt is not None:
            check_interrupt()
        faces = np.flatnonzero(tracks.present[:, frame])
        if len(faces):
            pose, embedding, quality = _measure_frame(frame_to_uint8(frames_bhwc[frame]), tracks, faces, frame, embedder, landmarker, quality_target_side, timer)
            rows_frame.append(np.full(len(faces), frame, np.int64))
            rows_track.append(faces)
            poses.append(pose)
            qualities.extend(quality)
            if embedding is not None:
                embeddings.append(embedding)
        if on_progress is not None:
            on_progress(frame + 1 - covered)
        covered = frame + 1
    if on_progress is not None and covered < tracks.frame_count:
        on_progress(tracks.frame_count - covered)
    frame_of_row = np.concatenate(rows_frame) if rows_frame else np.zeros(0, np.int64)
    return _Measurements(
        frame=frame_of_row,
        track=np.concatenate(rows_track) if rows_track else np.zeros(0, np.int64),
        pose=np.concatenate(poses).astype(np.float64) if poses else np.zeros((0, 3)),
        embedding=np.concatenate(embeddings) if embeddings else np.zeros((len(frame_of_row), 0), np.float32),
        quality=tuple(qualities),
    )


def _report_settings(spec: AnalysisSpec, embedder, landmarker, tracks: FaceTracks) -> dict:
    if landmarker is not None:
        pose_source = f"landmarks_3d {landmarker.name}"
    else:
        pose_source = "landmarks_5" if tracks.landmarks is not None else None
    return {
        "similarity_threshold": float(spec.similarity_threshold),
        "max_yaw_deg": float(spec.rules.max_yaw_deg),
        "min_face_px": float(spec.rules.min_face_px),
        "min_confidence": float(spec.rules.min_confidence),
        "merge_identities": bool(spec.merge_identities),
        "embedder": None if embedder is None else str(embedder.name),
        "head_pose_source": pose_source,
    }


def analyze_faces(
    frames_bhwc,
    tracks: FaceTracks | FaceDetections,
    spec: AnalysisSpec = AnalysisSpec(),
    *,
    fps=None,
    embedder=None,
    landmarker=None,
    reference_images: Sequence[np.ndarray] = (),
    reference_names: Sequence[str] = (),
    reference_detector=None,
    timing_ms: dict | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> FaceAnalysis:
    """Analyse every face of a clip and write the detection report.

    frames_bhwc: IMAGE float32 [N,H,W,3] 0..1 or uint8 (N,H,W,3) RGB, the clip the faces are of,
    or a media.stream.ForwardFrames of its file (frames are visited in increasing order, so a
    video of any length is analysed holding one chunk of frames).
    tracks: FaceTracks, or FaceDetections (then tracked here with default settings at `fps`, which
    must be given). embedder / landmarker / reference_detector: models (see the module
    docstring) or None. reference_images (any sizes, uint8 RGB) with reference_names (one per
    image, 1..15 per character) need an embedder. spec: the settings (AnalysisSpec). timing_ms: stages the
    caller measured before (e.g. {"decode_ms": 812}), added to the report's timing.
    on_progress(n): clip frames covered since the last call (adds up to N); check_interrupt()
    once per analysed frame. The inputs are never changed.
    """
    if not isinstance(spec, AnalysisSpec):
        raise TypeError(f"spec must be an AnalysisSpec, but got {type(spec).__name__}")
    timer = StageTimer(timing_ms)
    tracks = _as_tracks(tracks, fps, timer)
    if isinstance(frames_bhwc, ForwardFrames):  # a video file read front to back (the command line's detect)
        if frames_bhwc.shape[:3] != (tracks.frame_count, *tracks.frame_size):
            raise ValueError(f"the video must be the one the faces were found in ({tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}), but got {frames_bhwc.shape[0]} frames of {frames_bhwc.shape[2]}x{frames_bhwc.shape[1]}")
    else:
        check_video_frames("images", frames_bhwc, tracks.frame_count, tracks.frame_size, source="the faces were found in", fix="connect the same images to the detector and to this node", uint8=True)
    if len(reference_images) and embedder is None:
        raise ValueError("reference images need a face embedder to compare faces with; choose one (e.g. insightface/buffalo_l/w600k_r50.onnx) or remove the references")
    characters = None
    if len(reference_images):
        with timer("references_ms"):
            characters = characters_from_images(reference_images, reference_names, embedder, reference_detector)

    sampled = analysis_frames(tracks.frame_count, check_fps(tracks.fps), spec.sample_fps)
    rows = _measure_faces(frames_bhwc, tracks, sampled, embedder, landmarker, spec.quality_target_side, timer, on_progress, check_interrupt)
    with timer("identity_ms"):
        identity = assign_identities(tracks, rows.track, rows.embedding, characters, threshold=spec.similarity_threshold, merge=spec.merge_identities)
    xyxy = tracks.xyxy[rows.track, rows.frame]
    confidence = tracks.score[rows.track, rows.frame]
    with timer("syncability_ms"):
        syncability = judge_syncability(xyxy[:, 2] - xyxy[:, 0], confidence, rows.pose, spec.rules)
    samples = FaceSamples(rows.frame, identity.output_of_input[rows.track], xyxy, confidence, rows.pose, syncability, rows.quality)
    every_frame = len(sampled) == tracks.frame_count
    report = build_detection_report(
        samples, identity.tracks, identity.similarity, characters, sampled,
        sample_fps=float(tracks.fps) if every_frame else float(spec.sample_fps),
        settings=_report_settings(spec, embedder, landmarker, tracks), timing_ms=timer.ms,
    )
    return FaceAnalysis(identity.tracks, characters, report)
