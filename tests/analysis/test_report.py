"""The detection report from hand-made samples: layout, rounding, nulls, and a schema that catches mistakes."""

import copy
from fractions import Fraction

import jsonschema
import numpy as np
import pytest

from fuse_analysis_builders import span_tracks

from comfyui_fuse.analysis.report import FaceSamples, build_detection_report, report_schema, timestamp_ms, xyxy_to_bbox
from comfyui_fuse.analysis.identity import characters_from_embeddings
from comfyui_fuse.analysis.quality import FaceQuality
from comfyui_fuse.analysis.syncability import judge_syncability

FPS = Fraction(24000, 1001)


def named_tracks():
    """Track 1 (alice) over frames 0..9, track 2 (face_1) only over frames 3..4 (between the samples)."""
    tracks = span_tracks(10, [(0, 10), (3, 5)], fps=FPS)
    return type(tracks)(
        track_id=tracks.track_id, xyxy=tracks.xyxy, state=tracks.state, score=tracks.score, frame_count=10,
        frame_size=tracks.frame_size, fps=FPS, identity=np.array(["alice", "face_1"]),
    )


def samples_for(tracks, frames=(0, 6)):
    frames = np.array(frames, np.int64)
    xyxy = tracks.xyxy[0, frames].astype(np.float64)
    pose = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]])[: len(frames)]
    confidence = np.full(len(frames), 0.9)
    quality = tuple(FaceQuality(0.5, 0.5, 0.5, float("nan"), 1.0) for _ in frames)
    return FaceSamples(frames, np.zeros(len(frames), np.int64), xyxy, confidence, pose, judge_syncability(xyxy[:, 2] - xyxy[:, 0], confidence, pose), quality)


SETTINGS = {"similarity_threshold": 0.5, "max_yaw_deg": 45.0, "min_face_px": 64.0, "min_confidence": 0.5, "merge_identities": True, "embedder": "test", "head_pose_source": "landmarks_5"}


@pytest.fixture
def report():
    tracks = named_tracks()
    characters = characters_from_embeddings(["alice", "zoe"], np.eye(2))
    return build_detection_report(
        samples_for(tracks), tracks, np.array([0.93, np.nan]), characters, np.array([0, 6]),
        sample_fps=4.0, settings=SETTINGS, timing_ms={"pose_ms": 1.4, "quality_ms": 2.2, "total_ms": 999},
    )


def test_report_is_valid_and_holds_the_faces(report):
    jsonschema.validate(report, report_schema())
    assert [(f["frame"], f["timestamp_ms"]) for f in report["frames"]] == [(0, 0), (6, 250)]
    face = report["frames"][0]["faces"][0]
    assert face == {
        "character_id": "alice", "track_id": 1, "bbox": [50.0, 100.0, 100.0, 100.0], "confidence": 0.9, "head_pose": [1.0, 2.0, 3.0],
        "syncable": True, "sync_quality": pytest.approx(0.9 * (1 - 0.5 * (2 / 45) ** 2 - 0.25 * (1 / 45) ** 2) * np.sqrt(100 / 128), abs=1e-4),
        "skip_reason": None, "quality": pytest.approx(0.45 / 0.8, abs=1e-4),  # weighted mean without the unknown symmetry
    }
    assert report["frames"][1]["faces"][0]["head_pose"] is None, "an unknown pose is null, never NaN"
    assert report["video_duration_ms"] == 417


def test_a_face_never_sampled_has_no_segments_and_no_reference(report):
    unknown = report["faces"]["unknown_faces"][0]
    assert unknown["character_id"] == "face_1" and unknown["similarity"] is None
    assert unknown["segments"] == [] and unknown["summary"] == {"total_ms": 0, "synced_ms": 0, "skipped_ms": 0}
    assert unknown["best_reference"] is None
    assert report["characters_detected"] == ["alice"], "only faces that appear in the analysed frames"


def test_references_timing_and_similarity(report):
    assert report["references"] == [{"character_id": "alice", "reference_images": 1, "detected": True}, {"character_id": "zoe", "reference_images": 1, "detected": False}]
    assert report["timing"] == {"pose_ms": 1, "quality_ms": 2, "total_ms": 3}, "total_ms is recomputed as the sum of the rounded stages"
    alice = report["faces"]["results"][0]
    assert alice["similarity"] == 0.93
    assert alice["best_reference"]["frame"] == 0 and alice["best_reference"]["quality"]["symmetry"] is None


@pytest.mark.parametrize(
    "break_it, where",
    [
        (lambda r: r["frames"][0]["faces"][0].update(skip_reason="profile_view"), "a syncable face with a skip reason"),
        (lambda r: r["frames"][0]["faces"][0].update(syncable=False), "a skipped face without a reason"),
        (lambda r: r["frames"][0]["faces"][0].update(bbox=[1, 2, 3]), "a box of 3 numbers"),
        (lambda r: r["faces"]["results"][0]["segments"][0].update(skip_reason="tired"), "an unknown skip reason"),
        (lambda r: r.update(fps=29.97), "fps as a float"),
        (lambda r: r["timing"].update(decode=3), "a timing key without _ms"),
    ],
)
def test_the_schema_catches_broken_reports(report, break_it, where):
    broken = copy.deepcopy(report)
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report_schema())
    jsonschema.validate(report, report_schema())  # the original still passes: the test broke only the copy


@pytest.mark.parametrize("frame, fps, expected", [(0, Fraction(25), 0), (1, Fraction(30000, 1001), 33), (10, Fraction(30), 333), (2, Fraction(3), 667)])
def test_timestamps_round_to_the_nearest_millisecond(frame, fps, expected):
    assert timestamp_ms(frame, fps) == expected


def test_bbox_is_xywh():
    assert xyxy_to_bbox(np.array([10.04, 20.0, 110.0, 220.06])) == [10.0, 20.0, 100.0, 200.1]


def test_tracks_without_identities_are_refused():
    tracks = span_tracks(10, [(0, 10)], fps=FPS)
    with pytest.raises(ValueError, match="tracks must carry identities"):
        build_detection_report(samples_for(tracks), tracks, np.array([np.nan]), None, np.array([0, 6]), sample_fps=4.0, settings=SETTINGS, timing_ms={})
