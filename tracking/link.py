"""The offline pass: join tracklets of one face across gaps the online pass could not bridge.

FUSE sees the whole clip, so a face that is lost (a long occlusion, or it left the frame and came
back) can keep its id afterwards.

By place and time (within one shot only). Tracklet A may continue as a later tracklet B of the
same shot when B starts after A stops, their sizes agree within LINK_MAX_SIZE_RATIO and B starts
within a distance of where A stopped that grows with the gap (LINK_BASE_DISTANCE face sizes plus
LINK_DISTANCE_PER_SECOND per second, at most LINK_MAX_DISTANCE; over gaps up to LINK_JUMP_SECONDS
at least max_jump, the jump the online pass allows), measured from A's last position
(a face that re-enters where it left) or from A's motion continued over the gap (clamped to the
frame). The cost is that distance plus the log size ratio plus LINK_COST_PER_SECOND per second
of gap. A link is made only when it is unambiguous: every rival costs at least LINK_MARGIN more.
A's other candidates are rivals of B when they start before B ends (a candidate that starts after
B ends may simply follow B: A -> B -> C is one chain); B's other candidates are rivals of A when
they stop after A starts. When both tracklets carry face embeddings, the appearance must agree
too (cosine >= EMBEDDING_VETO).

Candidates are not compared pair by pair over the whole clip: tracklets are sorted by start, and
A only looks at tracklets starting within the link horizon after it stops (max_link_gap, else
LINK_HORIZON_SECONDS), in order, LINK_SCAN_CHUNK at a time, until it has LINK_MAX_CANDIDATES
possible successors. The work grows with the number of tracklets, not with its square.

By appearance (any shots). When detections carry embeddings, chains whose mean embeddings agree
(cosine >= EMBEDDING_MATCH) and that are never on screen at the same time are one face, wherever
and whenever it came back: the same person in shot 1 and shot 3 keeps one id. Without
embeddings nothing is joined across a cut (no guessing from position).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .boxes import xyxy_to_cxcywh
from .cuts import shot_of_frames
from .lifecycle import MOTION_HISTORY, Tracklet
from ..core.vectors import unit_rows
from ..core.types import FaceDetections

LINK_BASE_DISTANCE = 1.0  # face sizes
LINK_DISTANCE_PER_SECOND = 1.0  # face sizes added per second of gap
LINK_MAX_DISTANCE = 3.0  # face sizes, however long the gap
LINK_MAX_SIZE_RATIO = 1.5
LINK_COST_PER_SECOND = 0.2  # cost of each second of gap: the later of two look-alikes is less likely
LINK_MARGIN = 0.5  # cost units (about face sizes) between the best candidate and the runner-up
LINK_HORIZON_SECONDS = 10.0  # longest gap linked by place and time when max_link_gap is None
LINK_JUMP_SECONDS = 0.5  # over a gap this short a face may also have jumped max_jump face sizes
LINK_SCAN_CHUNK = 256  # candidates costed at once
LINK_MAX_CANDIDATES = 16  # possible successors after which a tracklet stops looking further
EMBEDDING_VETO = 0.3  # cosine similarity under which two tracklets are never one face
EMBEDDING_MATCH = 0.5  # cosine similarity of mean embeddings over which appearance alone links
APPEARANCE_MIN_ROWS = 3  # detections a chain needs for its mean embedding to be trusted
_SIMILARITY_CHUNK = 1024  # rows of the chain similarity matrix computed at once


def _fit_ends(tracklets: list[Tracklet], cxcywh: np.ndarray, head: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tracklet, at its first (head) or last frame: centre (n,2), velocity (n,2) px/frame and
    size (n,) sqrt(w*h) px, from a line through the MOTION_HISTORY hits next to that end."""
    centres, velocities, sizes = [], [], []
    for tracklet in tracklets:
        part = slice(0, MOTION_HISTORY) if head else slice(-MOTION_HISTORY, None)
        frames = tracklet.frames[part].astype(np.float64)
        boxes = cxcywh[tracklet.rows[part]]
        t = frames - (frames[0] if head else frames[-1])
        centre = boxes[:, :2]
        if len(t) >= 2 and np.ptp(t) > 0:
            slope = ((t - t.mean())[:, None] * (centre - centre.mean(axis=0))).sum(axis=0) / ((t - t.mean()) ** 2).sum()
            at_end = centre.mean(axis=0) - slope * t.mean()
        else:
            slope, at_end = np.zeros(2), centre.mean(axis=0)
        centres.append(at_end)
        velocities.append(slope)
        sizes.append(max(float(np.sqrt(np.prod(np.median(boxes[:, 2:], axis=0).clip(1e-6, None)))), 1.0))
    return np.array(centres).reshape(-1, 2), np.array(velocities).reshape(-1, 2), np.array(sizes)


def _unit_mean_embeddings(tracklets: list[Tracklet], embedding: np.ndarray | None) -> np.ndarray | None:
    """(n,D) unit mean embedding of each tracklet (zeros where it has none), or None."""
    if embedding is None:
        return None
    means = np.stack([embedding[t.rows].astype(np.float64).mean(axis=0) for t in tracklets])
    norm = np.linalg.norm(means, axis=1, keepdims=True)
    return np.where(norm > 0, means / np.where(norm > 0, norm, 1), 0.0)


def link_costs(
    stop_centre: np.ndarray, stop_velocity: np.ndarray, stop_size: np.ndarray,
    start_centre: np.ndarray, start_velocity: np.ndarray, start_size: np.ndarray,
    gap: np.ndarray, fps: float, frame_size: tuple[int, int], similarity: np.ndarray | None, max_jump: float = 0.0,
) -> np.ndarray:
    """Cost of "the face that stopped continues as the one that starts `gap` frames later", inf
    where it may not, for n pairs: centres and velocities (n,2) px, sizes (n,) px, gap (n,) frames,
    similarity (n,) cosine of their embeddings or None, max_jump face sizes. Returns (n,) float64."""
    height, width = frame_size
    upper = np.array([width, height], np.float64)
    gap = np.asarray(gap, np.float64)
    size = np.sqrt(stop_size * start_size)
    log_ratio = np.abs(np.log(start_size / stop_size))
    forward = np.clip(stop_centre + stop_velocity * gap[:, None], 0, upper)
    backward = np.clip(start_centre - start_velocity * gap[:, None], 0, upper)
    distance = np.minimum.reduce([
        np.linalg.norm(start_centre - stop_centre, axis=1),
        np.linalg.norm(start_centre - forward, axis=1),
        np.linalg.norm(backward - stop_centre, axis=1),
    ]) / size
    limit = np.minimum(LINK_BASE_DISTANCE + LINK_DISTANCE_PER_SECOND * gap / fps, LINK_MAX_DISTANCE)
    limit = np.where(gap <= LINK_JUMP_SECONDS * fps, np.maximum(limit, max_jump), limit)
    cost = distance + log_ratio + LINK_COST_PER_SECOND * gap / fps
    allowed = (distance <= limit) & (log_ratio <= np.log(LINK_MAX_SIZE_RATIO))
    if similarity is not None:
        allowed &= similarity >= EMBEDDING_VETO
        cost = cost + 2.0 * (1.0 - similarity)
    return np.where(allowed, cost, np.inf)


def candidate_links(tracklets: list[Tracklet], detections: FaceDetections, *, fps: Fraction, horizon: int, cuts: np.ndarray, max_jump: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The possible links by place and time: (a (p,), b (p,), cost (p,)) with a stopping before b
    starts, in the same shot, at most `horizon` frames apart (see the module docstring)."""
    count = len(tracklets)
    cxcywh = xyxy_to_cxcywh(detections.xyxy)
    stop_centre, stop_velocity, stop_size = _fit_ends(tracklets, cxcywh, head=False)
    start_centre, start_velocity, start_size = _fit_ends(tracklets, cxcywh, head=True)
    embeddings = _unit_mean_embeddings(tracklets, detections.embedding)
    starts = np.array([t.start for t in tracklets])
    stops = np.array([t.stop for t in tracklets])
    start_shot, stop_shot = shot_of_frames(cuts, starts), shot_of_frames(cuts, stops)
    by_start = np.argsort(starts, kind="stable")
    sorted_starts = starts[by_start]
    found_a, found_b, found_cost = [], [], []
    for a in range(count):
        first = int(np.searchsorted(sorted_starts, stops[a] + 1))
        last = int(np.searchsorted(sorted_starts, stops[a] + horizon, side="right"))
        kept = 0
        for chunk in range(first, last, LINK_SCAN_CHUNK):
            b = by_start[chunk : min(chunk + LINK_SCAN_CHUNK, last)]
            b = b[start_shot[b] == stop_shot[a]]
            if not len(b):
                continue
            similarity = None if embeddings is None else embeddings[b] @ embeddings[a]
            cost = link_costs(
                np.broadcast_to(stop_centre[a], (len(b), 2)), np.broadcast_to(stop_velocity[a], (len(b), 2)), np.full(len(b), stop_size[a]),
                start_centre[b], start_velocity[b], start_size[b], starts[b] - stops[a], float(fps), detections.frame_size, similarity, max_jump,
            )
            ok = np.isfinite(cost)
            found_a.append(np.full(int(ok.sum()), a))
            found_b.append(b[ok])
            found_cost.append(cost[ok])
            kept += int(ok.sum())
            if kept >= LINK_MAX_CANDIDATES:
                break
    if not found_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(found_a).astype(np.int64), np.concatenate(found_b).astype(np.int64), np.concatenate(found_cost)


def _clear_links(a: np.ndarray, b: np.ndarray, cost: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> list[tuple[int, int]]:
    """The candidate links whose every rival costs at least LINK_MARGIN more.

    Rivals are the candidates that could take the same place in the chain: B's rivals are A's
    other candidates that start before B ends (one starting after B ends may follow B instead),
    A's rivals are B's other candidates that stop after A starts."""
    runner_up = np.full(len(a), np.inf)
    for keys, others, rival_of in ((a, b, lambda mine, theirs: starts[theirs] <= stops[mine]), (b, a, lambda mine, theirs: stops[theirs] >= starts[mine])):
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        for group in np.split(order, bounds):
            if len(group) < 2:
                continue
            mine = others[group]
            rivals = rival_of(mine[:, None], mine[None, :]) & ~np.eye(len(group), dtype=bool)
            best = np.where(rivals, cost[group][None, :], np.inf).min(axis=1)
            runner_up[group] = np.minimum(runner_up[group], best)
    keep = runner_up - cost >= LINK_MARGIN
    return list(zip(a[keep].tolist(), b[keep].tolist()))


def _chains_from_links(passing: list[tuple[int, int]], count: int, starts: np.ndarray, stops: np.ndarray) -> list[list[int]]:
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


def _overlap(first: list[tuple[int, int]], second: list[tuple[int, int]]) -> bool:
    """Do two sorted lists of inclusive frame intervals share a frame?"""
    i = j = 0
    while i < len(first) and j < len(second):
        if first[i][1] >= second[j][0] and second[j][1] >= first[i][0]:
            return True
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return False


def merge_by_appearance(chains: list[list[int]], tracklets: list[Tracklet], embedding: np.ndarray | None) -> list[list[int]]:
    """Join chains of one face by their mean embeddings (see the module docstring), strongest first.

    A pair is joined when the mean embeddings of everything joined so far on each side still
    agree (cosine >= EMBEDDING_MATCH) and the two are never present at the same time."""
    if embedding is None or len(chains) < 2:
        return chains
    unit = unit_rows(embedding)
    rows = [np.concatenate([tracklets[i].rows for i in chain]) for chain in chains]
    sums = np.stack([unit[r].sum(axis=0) for r in rows])
    eligible = np.flatnonzero(np.array([len(r) for r in rows]) >= APPEARANCE_MIN_ROWS)
    means = sums[eligible] / np.linalg.norm(sums[eligible], axis=1, keepdims=True).clip(1e-12)
    pairs = []
    for start in range(0, len(eligible), _SIMILARITY_CHUNK):
        block = means[start : start + _SIMILARITY_CHUNK] @ means.T
        i, j = np.nonzero(block >= EMBEDDING_MATCH)
        i = i + start
        keep = i < j
        pairs += zip((-block[i[keep] - start, j[keep]]).tolist(), eligible[i[keep]].tolist(), eligible[j[keep]].tolist())
    parent = list(range(len(chains)))
    intervals = [sorted((tracklets[t].start, tracklets[t].stop) for t in chain) for chain in chains]

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for _, first, second in sorted(pairs):
        a, b = find(first), find(second)
        if a == b:
            continue
        cosine = float(sums[a] @ sums[b]) / max(float(np.linalg.norm(sums[a]) * np.linalg.norm(sums[b])), 1e-12)
        if cosine < EMBEDDING_MATCH or _overlap(intervals[a], intervals[b]):
            continue
        parent[b] = a
        sums[a] += sums[b]
        intervals[a] = sorted(intervals[a] + intervals[b])
    groups: dict[int, list[int]] = {}
    for index, chain in enumerate(chains):
        groups.setdefault(find(index), []).extend(chain)
    return [sorted(group, key=lambda t: tracklets[t].start) for group in groups.values()]


def link_tracklets(
    tracklets: list[Tracklet],
    detections: FaceDetections,
    *,
    fps: Fraction,
    max_link_gap: int | None = None,
    cuts: np.ndarray | None = None,
    max_jump: float = 0.0,
) -> list[list[int]]:
    """Group the tracklets that are one face: chains of indices into `tracklets`, each in time order.

    A tracklet nobody links stays a chain of its own. max_link_gap (frames between A's last and B's
    first detection) bounds the gaps linked by place and time; None: LINK_HORIZON_SECONDS. cuts:
    shot boundaries (no link by place crosses one). max_jump: face sizes a face may jump over a
    short gap. Same input, same chains.
    """
    if not tracklets:
        return []
    cuts = np.zeros(0, np.int64) if cuts is None else np.asarray(cuts, np.int64)
    horizon = int(max_link_gap) if max_link_gap is not None else max(1, int(np.ceil(LINK_HORIZON_SECONDS * float(fps))))
    starts = np.array([t.start for t in tracklets])
    stops = np.array([t.stop for t in tracklets])
    a, b, cost = candidate_links(tracklets, detections, fps=fps, horizon=horizon, cuts=cuts, max_jump=max_jump)
    chains = _chains_from_links(_clear_links(a, b, cost, starts, stops), len(tracklets), starts, stops)
    chains = merge_by_appearance(chains, tracklets, detections.embedding)
    return sorted(chains, key=lambda chain: chain[0])
