"""Syncability rules (the service's defaults), sync_quality, and segments with their summaries."""

import numpy as np
import pytest

from comfyui_fuse.analysis.syncability import SyncRules, judge_syncability, sync_segments

NAN = float("nan")


@pytest.mark.parametrize(
    "width, confidence, yaw, syncable, reason",
    [
        (128, 0.9, 0.0, True, None),
        (128, 0.9, 45.0, True, None),  # exactly at the limit passes
        (128, 0.9, 45.01, False, "profile_view"),
        (128, 0.9, -50.0, False, "profile_view"),  # either side
        (128, 0.9, NAN, True, None),  # unknown pose passes
        (64, 0.9, 0.0, True, None),
        (63.9, 0.9, 0.0, False, "face_too_small"),
        (128, 0.5, 0.0, True, None),
        (128, 0.49, 0.0, False, "low_detection_quality"),
        (30, 0.2, 80.0, False, "profile_view"),  # every rule fails: the first one names it
        (30, 0.2, 10.0, False, "face_too_small"),
    ],
)
def test_rules_and_their_boundaries(width, confidence, yaw, syncable, reason):
    result = judge_syncability(np.array([width]), np.array([confidence]), np.array([[0.0, yaw, 0.0]]))
    assert bool(result.syncable[0]) is syncable, f"width {width}, confidence {confidence}, yaw {yaw}: syncable should be {syncable}"
    assert result.skip_reason[0] == reason
    if syncable:
        assert 0 < result.sync_quality[0] <= 1
    else:
        assert result.sync_quality[0] == 0, "a skipped face has sync_quality 0"


@pytest.mark.parametrize(
    "width, confidence, pose, expected",
    [
        (128, 1.0, (0, 0, 0), 1.0),  # frontal, twice the size limit, certain
        (128, 1.0, (0, 45, 0), 0.5),  # at the yaw limit
        (64, 1.0, (0, 0, 0), np.sqrt(0.5)),  # at the size limit
        (256, 0.8, (0, 0, 0), 0.8),  # confidence scales it
        (128, 1.0, (45, 0, 0), 0.75),  # pitch counts half as much as yaw
        (128, 1.0, (NAN, NAN, NAN), 1.0),  # unknown pose costs nothing
    ],
)
def test_sync_quality_values(width, confidence, pose, expected):
    result = judge_syncability(np.array([width]), np.array([confidence]), np.array([pose], np.float64))
    assert result.sync_quality[0] == pytest.approx(expected, abs=1e-6)


def test_custom_rules_move_the_limits():
    rules = SyncRules(max_yaw_deg=30, min_face_px=100, min_confidence=0.8)
    result = judge_syncability(np.array([120, 90, 120, 120]), np.array([0.9, 0.9, 0.7, 0.9]), np.array([[0, 20, 0], [0, 0, 0], [0, 0, 0], [0, 35, 0]], np.float64), rules)
    assert result.skip_reason.tolist() == [None, "face_too_small", "low_detection_quality", "profile_view"]


@pytest.mark.parametrize("field, value", [("max_yaw_deg", -1), ("min_face_px", float("nan")), ("min_confidence", 1.5), ("min_face_px", True)])
def test_rules_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a number"):
        SyncRules(**{field: value})


def test_mismatched_rows_are_an_error():
    with pytest.raises(ValueError, match="must describe the same faces"):
        judge_syncability(np.ones(2), np.ones(3), np.zeros((2, 3)))


TIMES = [0, 333, 667, 1000]
END = 1333


def segments_of(states, times=TIMES, end=END):
    """states: per sample None (absent), "synced" or a skip reason."""
    count = len(states)
    present = np.array([s is not None for s in states])
    syncable = np.array([s == "synced" for s in states])
    reason = np.array([None if s in (None, "synced") else s for s in states], object)
    quality = np.where(syncable, 0.8, 0.0)
    bbox = np.tile([10.0, 20.0, 100.0, 120.0], (count, 1)) + np.arange(count)[:, None]
    pose = np.tile([1.0, 2.0, 3.0], (count, 1))
    return sync_segments(np.array(times, np.float64), end, present, syncable, reason, quality, bbox, pose)


@pytest.mark.parametrize(
    "states, expected_spans, expected_summary",
    [
        (["synced"] * 4, [(0, 1333, True, None)], {"total_ms": 1333, "synced_ms": 1333, "skipped_ms": 0}),
        (["synced", "synced", "profile_view", "synced"], [(0, 667, True, None), (667, 1000, False, "profile_view"), (1000, 1333, True, None)], {"total_ms": 1333, "synced_ms": 1000, "skipped_ms": 333}),
        (["synced", None, "synced", "synced"], [(0, 333, True, None), (667, 1333, True, None)], {"total_ms": 999, "synced_ms": 999, "skipped_ms": 0}),
        (["face_too_small", "low_detection_quality", "low_detection_quality", None], [(0, 333, False, "face_too_small"), (333, 1000, False, "low_detection_quality")], {"total_ms": 1000, "synced_ms": 0, "skipped_ms": 1000}),
        ([None] * 4, [], {"total_ms": 0, "synced_ms": 0, "skipped_ms": 0}),
        ([None, None, None, "synced"], [(1000, 1333, True, None)], {"total_ms": 333, "synced_ms": 333, "skipped_ms": 0}),
    ],
)
def test_segments_split_where_the_state_changes(states, expected_spans, expected_summary):
    segments, summary = segments_of(states)
    spans = [(s["start_ms"], s["end_ms"], s["synced"], s["skip_reason"]) for s in segments]
    assert spans == expected_spans, f"states {states} gave segments {spans}"
    assert summary == expected_summary


def test_segment_averages():
    segments, _ = segments_of(["synced", "synced", "profile_view", None])
    first, second = segments
    assert first["avg_quality"] == pytest.approx(0.8)
    assert first["avg_bbox"] == [10.5, 20.5, 100.5, 120.5], "the mean box of samples 0 and 1"
    assert first["avg_head_pose"] == [1.0, 2.0, 3.0]
    assert second["avg_quality"] is None, "a skipped segment has no quality"


def test_segment_pose_is_null_when_unknown_and_averages_the_known():
    present = np.ones(2, bool)
    pose = np.array([[np.nan, np.nan, np.nan], [4.0, 5.0, 6.0]])
    segments, _ = sync_segments(np.array([0.0, 100.0]), 200, present, present, np.full(2, None, object), np.ones(2), np.zeros((2, 4)), pose)
    assert segments[0]["avg_head_pose"] == [4.0, 5.0, 6.0]
    segments, _ = sync_segments(np.array([0.0]), 100, present[:1], present[:1], np.full(1, None, object), np.ones(1), np.zeros((1, 4)), pose[:1])
    assert segments[0]["avg_head_pose"] is None


def test_the_last_segment_ends_with_the_video_and_times_must_increase():
    segments, summary = segments_of(["synced"], times=[0], end=500)
    assert (segments[0]["start_ms"], segments[0]["end_ms"]) == (0, 500)
    with pytest.raises(ValueError, match="strictly increasing"):
        segments_of(["synced", "synced"], times=[100, 100])
