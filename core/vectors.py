"""Unit vectors: embeddings compared by cosine similarity."""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(m,D) rows scaled to length 1, as `dtype`; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
