"""The offline pass: join tracklets of one face across gaps the online pass could not bridge.

FUSE sees the whole clip, so a face that is lost (a long occlusion, or it left the frame and came
back) can keep its id afterwards. Tracklet A may continue as a later tracklet B when B starts
after A stops, their sizes agree within LINK_MAX_SIZE_RATIO and B starts within a distance of
where A stopped that grows with the gap (LINK_BASE_DISTANCE face sizes plus
LINK_DISTANCE_PER_SECOND per second, at most LINK_MAX_DISTANCE), measured from A's last position
(a face that re-enters where it left) or from A's motion continued over the gap (clamped to the
frame). The cost is that distance plus the log size ratio plus LINK_COST_PER_SECOND per second
of gap.

A link is made only when it is unambiguous: every rival costs at least LINK_MARGIN more. A's
other candidates are rivals of B when they start before B ends (a candidate that starts after B
ends may simply follow B: A -> B -> C is one chain); B's other candidates are rivals of A when
they stop after A starts.

When both tracklets carry face embeddings, the appearance must agree too (cosine >=
EMBEDDING_VETO), and a close appearance (cosine >= EMBEDDING_MATCH) is enough on its own,
wherever the face came back.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .boxes import xyxy_to_cxcywh
from .lifecycle import MOTION_HISTORY, Tracklet
from ..core.types import FaceDetections

LINK_BASE_DISTANCE = 1.0  # face sizes
LINK_DISTANCE_PER_SECOND = 1.0  # face sizes added per second of gap
LINK_MAX_DISTANCE = 3.0  # face sizes, however long the gap
LINK_MAX_SIZE_RATIO = 1.5
LINK_COST_PER_SECOND = 0.2  # cost of each second of gap: the later of two look-alikes is less likely
LINK_MARGIN = 0.5  # cost units (about face sizes) between the best candidate and the runner-up
EMBEDDING_VETO = 0.3  # cosine similarity under which two tracklets are never one face
EMBEDDING_MATCH = 0.6  # cosine similarity over which appearance alone links


@dataclass(frozen=True)
class _End:
    """Where a tracklet starts or stops: centre (2,), velocity (2,) px/frame, size sqrt(w*h) px."""

    centre: np.ndarray
    velocity: np.ndarray
    size: float


def _fit_end(frames: np.ndarray, cxcywh: np.ndarray, at: int) -> _End:
    """A line through the centres of the MOTION_HISTORY hits next to frame `at` (the first or last)."""
    t = frames.astype(np.float64) - at
    centre = cxcywh[:, :2]
    if len(t) >= 2 and np.ptp(t) > 0:
        slope = ((t - t.mean())[:, None] * (centre - centre.mean(axis=0))).sum(axis=0) / ((t - t.mean()) ** 2).sum()
        at_end = centre.mean(axis=0) - slope * t.mean()
    else:
        slope = np.zeros(2)
        at_end = centre.mean(axis=0)
    size = float(np.sqrt(np.prod(np.median(cxcywh[:, 2:], axis=0).clip(1e-6, None))))
    return _End(at_end, slope, max(size, 1.0))


def _ends(tracklet: Tracklet, cxcywh: np.ndarray) -> tuple[_End, _End]:
    head = slice(0, MOTION_HISTORY)
    tail = slice(-MOTION_HISTORY, None)
    start = _fit_end(tracklet.frames[head], cxcywh[tracklet.rows[head]], tracklet.start)
    stop = _fit_end(tracklet.frames[tail], cxcywh[tracklet.rows[tail]], tracklet.stop)
    return start, stop


def _mean_embedding(tracklet: Tracklet, embedding: np.ndarray | None) -> np.ndarray | None:
    if embedding is None:
        return None
    mean = embedding[tracklet.rows].astype(np.float64).mean(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else None


def _link_cost(stop: _End, start: _End, gap: int, fps: float, frame_size: tuple[int, int], similarity: float | None) -> float | None:
    """Cost of "the face that stopped continues as the one that starts `gap` frames later", or None."""
    height, width = frame_size
    upper = np.array([width, height], np.float64)
    size = float(np.sqrt(stop.size * start.size))
    log_ratio = abs(np.log(start.size / stop.size))
    forward = np.clip(stop.centre + stop.velocity * gap, 0, upper)
    backward = np.clip(start.centre - start.velocity * gap, 0, upper)
    distance = min(np.linalg.norm(start.centre - stop.centre), np.linalg.norm(start.centre - forward), np.linalg.norm(backward - stop.centre)) / size
    limit = min(LINK_BASE_DISTANCE + LINK_DISTANCE_PER_SECOND * gap / fps, LINK_MAX_DISTANCE)
    geometry_fits = distance <= limit and log_ratio <= np.log(LINK_MAX_SIZE_RATIO)
    elapsed = LINK_COST_PER_SECOND * gap / fps
    if similarity is None:
        return distance + log_ratio + elapsed if geometry_fits else None
    if similarity < EMBEDDING_VETO or not (geometry_fits or similarity >= EMBEDDING_MATCH):
        return None
    return min(distance, limit) + log_ratio + elapsed + 2.0 * (1.0 - similarity)


def link_tracklets(tracklets: list[Tracklet], detections: FaceDetections, *, fps: Fraction, max_link_gap: int | None = None) -> list[list[int]]:
    """Group the tracklets that are one face: chains of indices into `tracklets`, each in time order.

    A tracklet nobody links stays a chain of its own. max_link_gap (frames between A's last and B's
    first detection) bounds the gaps tried; None tries every gap. Same input, same chains.
    """
    if not tracklets:
        return []
    cxcywh = xyxy_to_cxcywh(detections.xyxy)
    ends = [_ends(tracklet, cxcywh) for tracklet in tracklets]
    embeddings = [_mean_embedding(tracklet, detections.embedding) for tracklet in tracklets]
    count = len(tracklets)
    starts = np.array([t.start for t in tracklets])
    stops = np.array([t.stop for t in tracklets])
    cost = np.full((count, count), np.inf)  # cost[a, b]: a stops, then b starts
    for a, earlier in enumerate(tracklets):
        for b, later in enumerate(tracklets):
            gap = later.start - earlier.stop
            if gap < 1 or (max_link_gap is not None and gap > max_link_gap):
                continue
            similarity = None
            if embeddings[a] is not None and embeddings[b] is not None:
                similarity = float(embeddings[a] @ embeddings[b])
            value = _link_cost(ends[a][1], ends[b][0], gap, float(fps), detections.frame_size, similarity)
            if value is not None:
                cost[a, b] = value
    passing = []
    for a in range(count):
        for b in np.flatnonzero(np.isfinite(cost[a])):
            # Rivals are the candidates that could take the same place in the chain: B's rivals
            # are A's other candidates that start before B ends (one starting after B ends may
            # follow B instead), A's rivals are B's other candidates that stop after A starts.
            successors = np.isfinite(cost[a]) & (starts <= stops[b])
            predecessors = np.isfinite(cost[:, b]) & (stops >= starts[a])
            successors[b] = predecessors[a] = False
            runner_up = min(cost[a, successors].min(initial=np.inf), cost[predecessors, b].min(initial=np.inf))
            if runner_up - cost[a, b] >= LINK_MARGIN:
                passing.append((a, int(b)))
    # Several clear links from one tracklet (or into one) point along one chain: keep the nearest
    # in time, the others are reached through it.
    successor: dict[int, int] = {}
    for a, b in sorted(passing, key=lambda pair: (pair[0], starts[pair[1]], pair[1])):
        successor.setdefault(a, b)
    predecessor: dict[int, int] = {}
    for a, b in sorted(successor.items(), key=lambda pair: (pair[1], -stops[pair[0]], pair[0])):
        predecessor.setdefault(b, a)
    successor = {a: b for b, a in predecessor.items()}
    has_predecessor = set(successor.values())
    chains = []
    for first in range(count):
        if first in has_predecessor:
            continue
        chain = [first]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        chains.append(chain)
    return chains
