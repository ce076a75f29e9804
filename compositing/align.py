"""Landmark alignment: crops that put every face on the FFHQ five-point template.

Face restorers (GFPGAN, CodeFormer, RestoreFormer) were trained on FFHQ-aligned 512x512 faces:
eyes, nose tip and mouth corners at fixed places. plan_aligned_crops builds one similarity
transform (rotation, uniform scale, translation) per frame from the track's landmarks to that
template, so the crop and the paste share the same matrix (warp.crop_faces and paste.paste_faces
take any affine). Landmarks are smoothed over time first (a local linear fit, which follows
steady motion without lag), so the crop does not shake with detector jitter.

Coordinates: landmarks are source pixels in the box convention (pixel edges, see geometry.py);
affines and the template use pixel centres (OpenCV's warpAffine convention).
"""

from __future__ import annotations

import logging

import numpy as np

from ..core.checks import check_number
from ..core.types import FaceTracks
from .geometry import CropSpec, check_fingerprint, plan_crops, track_runs
from .plan import CropPlan, FaceSequence

log = logging.getLogger(__name__)

# FFHQ alignment of a 512x512 face, pixel centres: left eye, right eye, nose tip, left and right
# mouth corner (image left / right). The template GFPGAN and CodeFormer were trained with.
FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935], [201.26117, 371.41043], [313.08905, 371.15118]],
    np.float64,
)
# Where the five points sit, on average, in a detector's face box (fractions of its width and
# height). Used only for a run whose landmarks are all missing, to crop it like its neighbours.
MEAN_LANDMARKS_IN_BOX = np.array([[0.31, 0.40], [0.69, 0.40], [0.50, 0.58], [0.35, 0.78], [0.65, 0.78]], np.float64)


def template_points(face_size: int) -> np.ndarray:
    """(5,2) float64: the FFHQ template scaled to a face_size x face_size crop (pixel centres)."""
    scale = face_size / 512.0
    return (FFHQ_TEMPLATE_512 + 0.5) * scale - 0.5  # scale about the crop's corner edge, not pixel 0's centre


def similarity_transforms(source_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """Least-squares similarity transforms (rotation, uniform scale, translation; no reflection).

    source_points: (m,n,2) float, n >= 2 points per frame; target_points: (n,2) or (m,n,2).
    Returns (m,2,3) float64 affines A with A @ (x, y, 1) ~= target for each source point.
    Closed form: with points as complex numbers z, the best w = a z + b has
    a = sum(conj(zs - mean zs) (zt - mean zt)) / sum |zs - mean zs|^2 and b = mean zt - a mean zs.
    """
    source = np.asarray(source_points, np.float64)
    target = np.broadcast_to(np.asarray(target_points, np.float64), source.shape)
    zs = source[..., 0] + 1j * source[..., 1]
    zt = target[..., 0] + 1j * target[..., 1]
    ms, mt = zs.mean(axis=1, keepdims=True), zt.mean(axis=1, keepdims=True)
    spread = (np.abs(zs - ms) ** 2).sum(axis=1)
    if (spread < 1e-12).any():
        raise ValueError("source_points must be spread out (distinct landmarks), but some frame has all points at one place")
    a = (np.conj(zs - ms) * (zt - mt)).sum(axis=1) / spread
    b = mt[:, 0] - a * ms[:, 0]
    affine = np.empty((len(source), 2, 3), np.float64)
    affine[:, 0, 0], affine[:, 0, 1], affine[:, 0, 2] = a.real, -a.imag, b.real
    affine[:, 1, 0], affine[:, 1, 1], affine[:, 1, 2] = a.imag, a.real, b.imag
    return affine


def smooth_landmarks(landmarks: np.ndarray, window: int) -> np.ndarray:
    """Temporal smoothing of one run of landmarks by a local linear fit.

    landmarks: (m,P,2) float, consecutive frames; rows with NaN are missing and get filled.
    window: odd number of frames in each fit (1 = no smoothing, only filling). Every frame gets
    the value at its own time of a straight line fitted (triangular weights) to the frames within
    window // 2 of it, so steady motion passes without lag, also at the ends of the run; jitter
    is averaged out. Returns (m,P,2) float64; a run with no finite row raises ValueError.
    """
    values = np.asarray(landmarks, np.float64)
    known = np.isfinite(values).all(axis=(1, 2))
    if not known.any():
        raise ValueError("landmarks must hold at least one finite frame in the run, but all are NaN")
    half = max(int(window) // 2, 0)
    # widen the fit where fewer than two known frames are within reach (long gaps)
    while half < len(values) and _too_few_known(known, half):
        half += 1
    count = len(values)
    filled = np.where(known[:, None, None], values, 0.0)
    sums = np.zeros((3, count))  # S0 = sum w, S1 = sum w dt, S2 = sum w dt^2 per frame
    t0 = np.zeros_like(values)  # sum w y
    t1 = np.zeros_like(values)  # sum w dt y
    for offset in range(-half, half + 1):
        lo, hi = max(0, -offset), min(count, count - offset)  # frames t with t + offset inside the run
        if hi <= lo:
            continue
        w = (1.0 - abs(offset) / (half + 1)) * known[lo + offset : hi + offset]
        sums[0, lo:hi] += w
        sums[1, lo:hi] += w * offset
        sums[2, lo:hi] += w * offset * offset
        t0[lo:hi] += w[:, None, None] * filled[lo + offset : hi + offset]
        t1[lo:hi] += (w * offset)[:, None, None] * filled[lo + offset : hi + offset]
    s0, s1, s2 = (sums[i][:, None, None] for i in range(3))
    determinant = s0 * s2 - s1 * s1
    linear = determinant > 1e-9 * np.maximum(s0 * s2, 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        fitted = np.where(linear, (s2 * t0 - s1 * t1) / np.where(linear, determinant, 1.0), t0 / np.maximum(s0, 1e-12))
    return fitted


def _too_few_known(known: np.ndarray, half: int) -> bool:
    """Some frame has fewer than two known frames (or all there are) within half of it."""
    total = np.concatenate([[0], np.cumsum(known)])
    frames = np.arange(len(known))
    reach = total[np.minimum(frames + half + 1, len(known))] - total[np.maximum(frames - half, 0)]
    return bool((reach < min(2, int(known.sum()))).any())


def plan_aligned_crops(tracks: FaceTracks, fingerprint: np.ndarray, spec: CropSpec = CropSpec(align="ffhq_landmarks"), *, smooth_window: int = 7) -> CropPlan:
    """A CropPlan whose crops put each face on the FFHQ template (spec.crop_width square).

    tracks: FaceTracks with landmarks (k,N,5,2) (source pixels), selected already
    (analysis.selection.select_faces); fingerprint: fingerprint_frames(images) of the tracked
    video, (N,16,16,C) uint8. Per contiguous run of each track (spec.min_run_length frames or
    more), landmarks are smoothed over time (smooth_landmarks, smooth_window frames) and each
    frame gets the similarity transform that maps them best onto template_points(side).
    Frames of a run without landmarks are filled from the run's other frames; a run with none at
    all uses the average landmark layout inside its boxes (no rotation).
    Without landmarks (tracks.landmarks is None) this is geometry.plan_crops, the box crop of that
    side with the default padding. Sequences are ordered by track id, then start frame.
    """
    side = spec.crop_width
    check_number("face_size", side, 16, integer=True, note=" pixels (512 for face restorers)")
    check_number("smooth_window", smooth_window, 1, integer=True, note=" frame (1 = no smoothing)")
    if tracks.landmarks is None:
        log.info("the tracks carry no landmarks, so faces are cropped by their boxes without alignment")
        return plan_crops(tracks, fingerprint, CropSpec(face_size=side, min_run_length=spec.min_run_length))
    fingerprint = check_fingerprint(fingerprint, tracks)
    target = template_points(side)
    sequences = []
    for index, start, stop in track_runs(tracks, spec.min_run_length):
        identity = "" if tracks.identity is None else str(tracks.identity[index])
        landmarks = tracks.landmarks[index, start:stop].astype(np.float64)
        if not np.isfinite(landmarks).all(axis=(1, 2)).any():
            boxes = tracks.xyxy[index, start:stop].astype(np.float64)
            landmarks = boxes[:, None, :2] + MEAN_LANDMARKS_IN_BOX[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
        smoothed = smooth_landmarks(landmarks, smooth_window) - 0.5  # pixel edges -> pixel centres
        affine = similarity_transforms(smoothed, target)
        sequences.append(FaceSequence(int(tracks.track_id[index]), np.arange(start, stop), affine, (side, side), identity))
    return CropPlan(tuple(sequences), tracks.frame_size, tracks.frame_count, tracks.fps, fingerprint, tracks.cuts)
