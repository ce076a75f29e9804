"""Stems assignment, the speaker report against its schema, and the timeline picture."""

import json
from fractions import Fraction

import jsonschema
import numpy as np
import pytest

from comfyui_fuse.speaker.active import ActiveSpeakers
from comfyui_fuse.speaker.report import build_speaker_report, speaker_report_schema
from comfyui_fuse.speaker.stems import assign_stems, stem_scores
from comfyui_fuse.speaker.timeline import FACE_COLOURS, LABEL_WIDTH, SPEECH, UNASSIGNED, timeline_image


@pytest.mark.parametrize("scores, min_score, expected", [
    ([[0.9, 0.1], [0.2, 0.8]], 0.4, [0, 1]),
    ([[0.6, 0.7], [0.1, 0.65]], 0.4, [0, 1]),  # greedy would give face 0 stem 1 and leave face 1 nothing
    ([[0.9, 0.2, 0.1]], 0.4, [0]),  # more stems than faces
    ([[0.9], [0.3], [0.1]], 0.4, [0, -1, -1]),  # more faces than stems
    ([[0.2, 0.1], [0.1, 0.3]], 0.4, [-1, -1]),  # no face is in sync with any stem
    (np.zeros((0, 2)), 0.4, []),
])
def test_assign_stems_maximises_the_total_score(scores, min_score, expected):
    assert assign_stems(np.array(scores, float), min_score).tolist() == expected


def test_stem_scores_average_over_the_stems_speech_while_the_face_is_present():
    confidence = np.array([[[0.9, 0.9, 0.1, np.nan], [0.1, 0.1, 0.8, 0.8]]])  # 1 face, 2 stems, 4 frames
    present = np.array([[True, True, True, False]])
    speech = np.array([[True, True, False, False], [False, False, True, True]])
    assert stem_scores(confidence, present, speech).round(3).tolist() == [[0.9, 0.8]]


def make_speakers(stems=False) -> ActiveSpeakers:
    """Two faces over 50 frames at 25 fps: face 1 speaks 5-20, face 2 (alice) 25-40 and is off screen
    from 45; speech 5-20, 25-40 and 42-48 (the last unassigned)."""
    present = np.ones((2, 50), bool)
    present[1, 45:] = False
    speaking = np.zeros((2, 50), bool)
    speaking[0, 5:20] = speaking[1, 25:40] = True
    speech = np.zeros((1, 50), bool)
    speech[0, 5:20] = speech[0, 25:40] = speech[0, 42:48] = True
    confidence = np.where(present, 0.3, np.nan).astype(np.float32)
    confidence[speaking] = 0.8
    extra = {}
    if stems:
        speech = np.concatenate([speech, speech])
        extra = dict(stem_of_track=[1, -1], stem_scores=[[0.1, 0.7], [0.2, 0.3]], stems=({}, {}))
    return ActiveSpeakers([1, 2], present, speaking, confidence, speech, 50, Fraction(25), "landmarks", "landmarks insightface/1k3d68.onnx",
                          identity=np.array(["", "alice"]), notes=("a note",), **extra)


def test_the_report_lists_segments_faces_and_unassigned_speech():
    report = build_speaker_report(make_speakers(), timing_ms={"signals_ms": 12.4})
    jsonschema.validate(report, speaker_report_schema())
    assert [(s["character_id"], s["start_ms"], s["end_ms"], s["confidence"]) for s in report["segments"]] == [("face_1", 200, 800, 0.8), ("alice", 1000, 1600, 0.8)]
    assert report["unassigned_speech"] == [{"audio": "audio", "start_ms": 1680, "end_ms": 1920}]
    assert report["faces"][1]["on_screen_ms"] == 1800 and report["faces"][1]["speaking_ms"] == 600
    assert report["timing"] == {"signals_ms": 12, "total_ms": 12} and report["notes"] == ["a note"]


def test_the_report_names_the_stems():
    report = build_speaker_report(make_speakers(stems=True))
    jsonschema.validate(report, speaker_report_schema())
    assert report["faces"][0]["stem"] == "stem_2" and report["faces"][1]["stem"] is None
    assert report["segments"][0]["stem"] == "stem_2" and report["settings"]["stems"] == 2
    assert {span["audio"] for span in report["unassigned_speech"]} == {"stem_1", "stem_2"}


@pytest.mark.parametrize("break_it", [
    lambda r: r["segments"][0].pop("confidence"),
    lambda r: r["segments"][0].update(stem="voice_1"),
    lambda r: r.update(method="guess"),
    lambda r: r["unassigned_speech"].append({"audio": "audio", "start_ms": -1, "end_ms": 5}),
])
def test_the_schema_catches_broken_reports(break_it):
    report = build_speaker_report(make_speakers())
    broken = json.loads(json.dumps(report))
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, speaker_report_schema())


def test_the_timeline_shows_who_speaks_when():
    image = timeline_image(make_speakers(), width=LABEL_WIDTH + 10 + 500)  # 10 px per frame
    assert image.dtype == np.uint8 and image.ndim == 3
    audio_row, face_1_row, face_2_row = (6 + 36 * row + 15 for row in range(3))
    def at(row, frame):
        return tuple(image[row, LABEL_WIDTH + frame * 10 + 5])
    assert at(audio_row, 10) == SPEECH and at(audio_row, 45) == UNASSIGNED and at(audio_row, 22) != SPEECH
    assert at(face_1_row + 8, 10) == FACE_COLOURS[0] and at(face_2_row + 8, 30) == FACE_COLOURS[1]
    assert at(face_2_row + 8, 10) != FACE_COLOURS[1], "alice is not speaking at frame 10"
    assert at(face_2_row + 8, 47) == (250, 250, 250), "alice is off screen at frame 47"


def test_the_timeline_of_no_faces_still_draws():
    speakers = ActiveSpeakers(np.zeros(0, np.int64), np.zeros((0, 10)), np.zeros((0, 10)), np.zeros((0, 10)), np.ones((1, 10), bool), 10, 25, "landmarks", "x")
    assert timeline_image(speakers).shape[0] > 0
