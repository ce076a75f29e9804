"""Stems to faces: one audio track per speaker, each given to the face whose mouth it moves.

The score of a face for a stem is the face's mean sync confidence against that stem over the
frames where the stem has speech and the face is on screen (0 when there are none). Stems and
faces are paired by the assignment with the highest total score (Hungarian, scipy's
linear_sum_assignment, any numbers of stems and faces); a pair scoring under min_score is
dropped: that stem's speaker is not among the faces (off screen, or not tracked).
"""

from __future__ import annotations

import numpy as np


def stem_scores(confidence: np.ndarray, present: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """(k, s) float64 mean confidence of each face against each stem (module docstring).

    confidence (k, s, N) in 0..1, NaN unknown; present (k, N) bool; speech (s, N) bool.
    """
    confidence = np.asarray(confidence, np.float64)
    faces, stems = confidence.shape[:2]
    scores = np.zeros((faces, stems))
    for face in range(faces):
        for stem in range(stems):
            frames = present[face] & speech[stem]
            if frames.any():
                scores[face, stem] = float(np.nan_to_num(confidence[face, stem, frames], nan=0.0).mean())
    return scores


def assign_stems(scores: np.ndarray, min_score: float) -> np.ndarray:
    """(k,) int64: the stem index given to each face, -1 for none (module docstring)."""
    from scipy.optimize import linear_sum_assignment

    scores = np.asarray(scores, np.float64)
    stem_of_face = np.full(scores.shape[0], -1, np.int64)
    if not scores.size:
        return stem_of_face
    faces, stems = linear_sum_assignment(scores, maximize=True)
    for face, stem in zip(faces, stems):
        if scores[face, stem] >= min_score:
            stem_of_face[face] = stem
    return stem_of_face
