"""analyze_faces end to end on a clip with known people, poses and sizes; sampling; reference names."""

from fractions import Fraction

import jsonschema
import numpy as np
import pytest
import torch

from fuse_analysis_builders import project_face, span_tracks

from comfyui_fuse.analysis.report import report_schema
from comfyui_fuse.analysis.analyze import AnalysisSpec, analysis_frames, analyze_faces, parse_reference_names
from comfyui_fuse.core.types import FaceDetections

FRAMES = 30
FPS = Fraction(30000, 1001)
SIZE = (360, 640)
RED, BLUE, GREEN = (200, 40, 40), (40, 40, 200), (40, 200, 40)
# Alice (red) is seen twice on the left, Bob (blue) on the right turns to profile at frame 15,
# an unknown green face in the middle is too small to sync.
ALICE_BOX, BOB_BOX, SMALL_BOX = (40, 100, 200, 260), (420, 90, 580, 250), (300, 150, 350, 200)


class ColourEmbedder:
    """A stand-in recogniser: a face's embedding is its mean colour minus grey (red, blue and
    green faces are > 100 degrees apart)."""

    name = "test/colour"

    def embed(self, frame, xyxy, landmarks=None):
        vectors = []
        for x1, y1, x2, y2 in np.round(xyxy).astype(int):
            vectors.append(frame[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0) - 128.0)
        vectors = np.array(vectors, np.float64).reshape(-1, 3)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def textured(colour, shape, rng) -> np.ndarray:
    return np.clip(np.array(colour, np.float64) + rng.normal(0, 15, shape + (3,)), 0, 255).astype(np.uint8)


def frontal_landmarks(box, yaw=0.0) -> np.ndarray:
    x1, y1, x2, y2 = box
    return project_face((0, yaw, 0), centre_xy=((x1 + x2) / 2, (y1 + y2) / 2 + 0.05 * (y2 - y1)), eye_distance_px=0.4 * (x2 - x1), frame_size=SIZE)


@pytest.fixture(scope="module")
def clip():
    """(frames uint8 (30,360,640,3), tracks: alice 0..9 and 20..29, bob 0..29, small green 5..25)."""
    rng = np.random.default_rng(0)
    spans = [(0, 10), (0, FRAMES), (5, 26), (20, FRAMES)]
    boxes = [ALICE_BOX, BOB_BOX, SMALL_BOX, ALICE_BOX]
    colours = [RED, BLUE, GREEN, RED]
    frames = np.full((FRAMES,) + SIZE + (3,), 128, np.uint8)
    landmarks = np.full((len(spans), FRAMES, 5, 2), np.nan, np.float32)
    for index, ((start, stop), box, colour) in enumerate(zip(spans, boxes, colours)):
        x1, y1, x2, y2 = box
        for frame in range(start, stop):
            frames[frame, y1:y2, x1:x2] = textured(colour, (y2 - y1, x2 - x1), rng)
            yaw = 60.0 if colour == BLUE and frame >= 15 else 0.0
            landmarks[index, frame] = frontal_landmarks(box, yaw)
    tracks = span_tracks(FRAMES, spans, boxes=boxes, fps=FPS, frame_size=SIZE, landmarks=landmarks)
    return frames, tracks


def references():
    solid = lambda colour: np.full((64, 64, 3), colour, np.uint8)  # noqa: E731
    return [solid(RED), solid(RED), solid(BLUE)], ["alice", "alice", "bob"]


@pytest.fixture(scope="module")
def analysis(clip):
    frames, tracks = clip
    images, names = references()
    steps = []
    result = analyze_faces(
        torch.from_numpy(frames).float() / 255, tracks, AnalysisSpec(sample_fps=3), embedder=ColourEmbedder(), reference_images=images, reference_names=names,
        timing_ms={"decode_ms": 12.4}, on_progress=steps.append,
    )
    return result, steps


def face_result(report, character_id):
    entries = [f for f in report["faces"]["results"] + report["faces"]["unknown_faces"] if f["character_id"] == character_id]
    assert len(entries) == 1, f"expected one report entry for {character_id}, got {len(entries)}"
    return entries[0]


def spans(entry):
    return [(s["start_ms"], s["end_ms"], s["skip_reason"]) for s in entry["segments"]]


def test_the_report_validates_against_the_schema(analysis):
    result, _ = analysis
    jsonschema.validate(result.report, report_schema())


def test_people_are_named_and_alices_visits_merged(analysis):
    result, _ = analysis
    assert result.tracks.identity.tolist() == ["alice", "bob", "face_1"]
    assert result.tracks.track_id.tolist() == [1, 2, 3]
    alice = result.tracks.present[0]
    assert alice[:10].all() and not alice[10:20].any() and alice[20:].all(), "alice's two tracks become one, absent while she is away"
    report = result.report
    assert report["characters_detected"] == ["alice", "bob", "face_1"]
    assert report["references"] == [{"character_id": "alice", "reference_images": 2, "detected": True}, {"character_id": "bob", "reference_images": 1, "detected": True}]
    assert (report["faces"]["total_detected"], report["faces"]["known"], report["faces"]["unknown"]) == (3, 2, 1)
    assert face_result(report, "alice")["similarity"] == pytest.approx(1.0, abs=0.02)


def test_frames_are_sampled_at_3_fps_with_exact_timestamps(analysis):
    report = analysis[0].report
    assert [(f["frame"], f["timestamp_ms"]) for f in report["frames"]] == [(0, 0), (9, 300), (19, 634), (29, 968)]
    assert (report["sample_fps"], report["video_duration_ms"], report["fps"], report["frame_count"]) == (3.0, 1001, "30000/1001", 30)
    assert (report["frame_width"], report["frame_height"]) == (640, 360)
    first = report["frames"][0]["faces"]
    assert [f["character_id"] for f in first] == ["alice", "bob"], "faces are listed by track id"
    assert first[0]["bbox"] == [40.0, 100.0, 160.0, 160.0], "boxes are [x, y, w, h]"
    assert first[0]["confidence"] == pytest.approx(0.9)


def test_pose_drives_syncability_and_segments(analysis):
    report = analysis[0].report
    bob_late = [f for f in report["frames"][2]["faces"] if f["character_id"] == "bob"][0]
    assert bob_late["head_pose"][1] == pytest.approx(60.0, abs=5.0), "bob's yaw comes from his landmarks"
    assert (bob_late["syncable"], bob_late["skip_reason"], bob_late["sync_quality"]) == (False, "profile_view", 0.0)
    bob = face_result(report, "bob")
    assert spans(bob) == [(0, 634, None), (634, 1001, "profile_view")]
    assert bob["summary"] == {"total_ms": 1001, "synced_ms": 634, "skipped_ms": 367}
    alice = face_result(report, "alice")
    assert spans(alice) == [(0, 634, None), (968, 1001, None)], "absent at the third sample: the segment ends"
    assert alice["summary"]["total_ms"] == 667
    small = face_result(report, "face_1")
    assert spans(small) == [(300, 968, "face_too_small")]
    assert small["similarity"] is None


def test_best_reference_is_an_analysed_frame_of_the_face(analysis):
    report = analysis[0].report
    best = face_result(report, "bob")["best_reference"]
    assert best["frame"] in (0, 9), "frontal frames beat profile ones (symmetry)"
    profile = [f for f in report["frames"][2]["faces"] if f["character_id"] == "bob"][0]
    assert 0 < profile["quality"] < best["quality"]["score"] <= 1


def test_timing_and_settings(analysis):
    result, steps = analysis
    timing = result.report["timing"]
    for stage in ("decode_ms", "references_ms", "pose_ms", "embedding_ms", "quality_ms", "identity_ms", "syncability_ms"):
        assert stage in timing, f"timing must report {stage}"
    assert timing["total_ms"] == sum(v for k, v in timing.items() if k != "total_ms")
    assert result.report["settings"]["embedder"] == "test/colour" and result.report["settings"]["head_pose_source"] == "landmarks_5"
    assert sum(steps) == FRAMES, f"progress must cover the clip's frames once, got {steps}"


def test_without_embedder_every_track_is_an_unknown_face(clip):
    frames, tracks = clip
    result = analyze_faces(frames, tracks, AnalysisSpec(sample_fps=0))
    assert result.tracks.identity.tolist() == ["face_1", "face_2", "face_3", "face_4"]
    report = result.report
    assert len(report["frames"]) == FRAMES and report["sample_fps"] == pytest.approx(float(FPS))
    assert report["settings"]["embedder"] is None and report["references"] == []
    jsonschema.validate(report, report_schema())


def test_detections_are_tracked_first(clip):
    frames, tracks = clip
    present = np.argwhere(tracks.present)
    detections = FaceDetections(frame=present[:, 1], xyxy=tracks.xyxy[present[:, 0], present[:, 1]], score=np.full(len(present), 0.9), frame_count=FRAMES, frame_size=SIZE)
    order = np.argsort(detections.frame, kind="stable")
    detections = detections.select(order)
    result = analyze_faces(frames, detections, AnalysisSpec(sample_fps=3), fps=FPS, embedder=ColourEmbedder())
    assert "tracking_ms" in result.report["timing"]
    assert set(result.tracks.identity.tolist()) >= {"face_1", "face_2"}
    with pytest.raises(ValueError, match="fps must be given"):
        analyze_faces(frames, detections)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frames": np.zeros((5, 360, 640, 3), np.uint8)}, "images must be the video the faces were found in"),
        ({"frames": np.zeros((30, 100, 640, 3), np.uint8)}, "images must be the video the faces were found in"),
        ({"reference_images": [np.zeros((8, 8, 3), np.uint8)], "reference_names": ["alice"]}, "reference images need a face embedder"),
    ],
)
def test_bad_inputs_are_named(clip, kwargs, message):
    frames, tracks = clip
    frames = kwargs.pop("frames", frames)
    with pytest.raises(ValueError, match=message):
        analyze_faces(frames, tracks, **kwargs)


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"sample_fps": -1}, ValueError, "sample_fps must be a number >= 0"),
        ({"similarity_threshold": 1.5}, ValueError, r"similarity_threshold must be a number in \[-1.0, 1.0\]"),
        ({"merge_identities": 1}, TypeError, "merge_identities must be a bool, but got int"),
        ({"rules": {"min_face_px": 32}}, TypeError, "rules must be a SyncRules, but got dict"),
        ({"quality_target_side": 0}, ValueError, "quality_target_side must be a number >= 1"),
    ],
)
def test_bad_settings_are_named_when_the_spec_is_made(settings, error, message):
    with pytest.raises(error, match=message):
        AnalysisSpec(**settings)


def test_analyze_faces_takes_a_spec(clip):
    frames, tracks = clip
    with pytest.raises(TypeError, match="spec must be an AnalysisSpec, but got dict"):
        analyze_faces(frames, tracks, {"sample_fps": 0})


@pytest.mark.parametrize(
    "frame_count, fps, sample_fps, expected",
    [
        (30, Fraction(30), 3, [0, 10, 20]),
        (30, Fraction(30000, 1001), 3, [0, 9, 19, 29]),
        (10, Fraction(25), 0, list(range(10))),
        (10, Fraction(25), 25, list(range(10))),
        (10, Fraction(25), 100, list(range(10))),
        (100, Fraction(24), 2.5, [0, 9, 19, 28, 38, 48, 57, 67, 76, 86, 96]),
        (5, Fraction(25), 1, [0]),
        (5, Fraction(25), 1e-4, [0]),  # tiny rates analyse the first frame (1/1000 rounding made them 0)
        (5, Fraction(25), 5e-324, [0]),
    ],
)
def test_analysis_frames(frame_count, fps, sample_fps, expected):
    assert analysis_frames(frame_count, fps, sample_fps).tolist() == expected


@pytest.mark.parametrize(
    "text, count, expected",
    [
        ("alice, alice, bob", 3, ["alice", "alice", "bob"]),
        ("alice\nbob", 2, ["alice", "bob"]),
        ("alice", 3, ["alice", "alice", "alice"]),
    ],
)
def test_reference_names(text, count, expected):
    assert parse_reference_names(text, count) == expected


def test_reference_names_must_pair_up():
    with pytest.raises(ValueError, match="one name per reference image \\(3\\) or one name for all, but got 2"):
        parse_reference_names("alice, bob", 3)
    with pytest.raises(ValueError, match="but got 0"):
        parse_reference_names("", 2)
