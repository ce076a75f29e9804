"""Offline linking: tracklets joined across gaps only when unambiguous."""

from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.tracking.lifecycle import Tracklet
from comfyui_fuse.tracking import link as link_module
from comfyui_fuse.tracking.link import link_tracklets
from comfyui_fuse.core.types import FaceDetections


def pieces(*spans, frame_count=200, embeddings=None):
    """FaceDetections and Tracklets from spans (start, stop, cx, cy, size): a still face per span."""
    frames, boxes, tracklets, vectors = [], [], [], []
    for index, (start, stop, cx, cy, size) in enumerate(spans):
        rows = np.arange(len(frames), len(frames) + stop - start)
        for frame in range(start, stop):
            frames.append(frame)
            boxes.append([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
            if embeddings is not None:
                vectors.append(embeddings[index])
        tracklets.append(Tracklet(rows=rows, frames=np.arange(start, stop)))
    order = np.argsort(frames, kind="stable")
    inverse = np.argsort(order)
    detections = FaceDetections(
        frame=np.array(frames)[order],
        xyxy=np.array(boxes, np.float32)[order],
        score=np.full(len(frames), 0.9, np.float32),
        frame_count=frame_count,
        frame_size=(720, 1280),
        embedding=None if embeddings is None else np.array(vectors, np.float32)[order],
    )
    return detections, [Tracklet(rows=inverse[t.rows], frames=t.frames) for t in tracklets]


def test_one_face_after_a_gap_is_linked():
    detections, tracklets = pieces((0, 40, 500, 300, 100), (70, 120, 520, 310, 100))
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0, 1]]


@pytest.mark.parametrize(
    "second, why",
    [
        ((70, 120, 900, 300, 100), "too far for the time away"),
        ((70, 120, 500, 300, 200), "twice the size"),
        ((30, 120, 520, 300, 100), "overlaps in time: two faces"),
    ],
)
def test_implausible_continuations_are_not_linked(second, why):
    detections, tracklets = pieces((0, 40, 500, 300, 100), second)
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0], [1]], why


def test_two_candidates_alike_are_ambiguous():
    # two faces stop near each other, one comes back between them: no link for either
    detections, tracklets = pieces((0, 40, 500, 300, 100), (0, 40, 560, 300, 100), (70, 120, 530, 300, 100))
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0], [1], [2]]


def test_a_clear_winner_among_candidates_is_linked():
    detections, tracklets = pieces((0, 40, 500, 300, 100), (0, 40, 900, 300, 100), (70, 120, 520, 300, 100))
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0, 2], [1]]


def test_chains_follow_time_and_a_later_lookalike_is_no_rival():
    # A, then B, then C all at one place: A -> B -> C, even though C alone would fit A as well
    detections, tracklets = pieces((0, 30, 500, 300, 100), (50, 80, 505, 300, 100), (100, 130, 500, 305, 100))
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0, 1, 2]]


def test_max_link_gap_bounds_the_gap():
    detections, tracklets = pieces((0, 40, 500, 300, 100), (70, 120, 520, 310, 100))
    # the first stops at frame 39, the second starts at 70: a gap of 31
    assert link_tracklets(tracklets, detections, fps=Fraction(25), max_link_gap=30) == [[0], [1]]
    assert link_tracklets(tracklets, detections, fps=Fraction(25), max_link_gap=31) == [[0, 1]]


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ([1, 0, 0], [0.99, 0.1, 0], [[0, 1]]),  # far apart, but the same face
        ([1, 0, 0], [0, 1, 0], [[0], [1]]),  # different faces
    ],
)
def test_embeddings_decide_when_present(first, second, expected):
    detections, tracklets = pieces((0, 40, 100, 300, 100), (70, 120, 1100, 300, 100), embeddings=[np.array(first), np.array(second)])
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == expected


def test_nothing_to_link():
    assert link_tracklets([], FaceDetections.empty(5, (10, 10)), fps=Fraction(25)) == []


def test_no_link_by_place_across_a_cut_but_by_appearance():
    detections, tracklets = pieces((0, 40, 500, 300, 100), (45, 120, 505, 300, 100))
    assert link_tracklets(tracklets, detections, fps=Fraction(25), cuts=np.array([42])) == [[0], [1]], "a face where another stood before the cut is someone else"
    same = [np.array([1.0, 0, 0]), np.array([0.95, 0.2, 0])]
    detections, tracklets = pieces((0, 40, 100, 300, 100), (45, 120, 1100, 300, 200), embeddings=same)
    assert link_tracklets(tracklets, detections, fps=Fraction(25), cuts=np.array([42])) == [[0, 1]], "one face by its embedding, whatever the shot"


def test_a_short_gap_allows_a_jump_of_max_jump():
    detections, tracklets = pieces((0, 40, 500, 300, 100), (42, 120, 700, 300, 100))  # 2 face sizes over 2 frames
    assert link_tracklets(tracklets, detections, fps=Fraction(25)) == [[0], [1]]
    assert link_tracklets(tracklets, detections, fps=Fraction(25), max_jump=2.5) == [[0, 1]]


def noise_tracklets(frames: int, per_frame: int, seed: int = 0):
    """One-frame tracklets of per_frame random boxes in every frame: what min_hits=1 makes of noisy detections."""
    rng = np.random.default_rng(seed)
    spans = [(f, f + 1, rng.uniform(100, 1180), rng.uniform(100, 620), rng.uniform(30, 120)) for f in range(frames) for _ in range(per_frame)]
    return pieces(*spans, frame_count=frames)


def test_linking_does_not_compare_every_pair(monkeypatch):
    compared = []
    original = link_module.link_costs

    def counting(*args, **kwargs):
        compared.append(len(args[6]))  # gap: one entry per pair costed
        return original(*args, **kwargs)

    monkeypatch.setattr(link_module, "link_costs", counting)
    counts = {}
    for frames in (600, 2400):
        compared.clear()
        detections, tracklets = noise_tracklets(frames, 2)
        link_tracklets(tracklets, detections, fps=Fraction(25))
        counts[frames] = sum(compared)
    pairs = 4800 * 4799 // 2
    assert counts[2400] < pairs / 4, f"{counts[2400]} of {pairs} pairs costed: linking compares (almost) every pair"
    growth = counts[2400] / counts[600]
    assert growth < 6, f"4x the tracklets cost {growth:.1f}x the pair comparisons: linking grows faster than linearly (every pair: 16x)"
