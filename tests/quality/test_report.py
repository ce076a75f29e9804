"""The report follows its schema, says why figures are missing, and the plot marks what failed."""

from __future__ import annotations

import copy
import json

import jsonschema
import numpy as np
import pytest

from comfyui_fuse.quality.check import QualityOptions, check_quality
from comfyui_fuse.quality.frames import ImageFrames
from comfyui_fuse.core.canvas import LABEL_WIDTH as LEFT
from comfyui_fuse.quality.plot import FAIL, RIGHT, WIDTH, plot_quality
from comfyui_fuse.quality.report import build_report, report_schema, summary_lines
from fuse_quality_builders import brighten_faces, make_clip


@pytest.fixture(scope="module")
def result():
    clip = make_clip(frame_count=40)
    processed = brighten_faces(clip.frames, clip.tracks, [22], 25)
    return check_quality(ImageFrames(clip.frames), ImageFrames(processed), clip.tracks, options=QualityOptions(segment_seconds=0.4, shot_cuts="none"),
                         lip_sync_note="no audio connected", identity_note="no ArcFace model")


def test_the_report_follows_the_schema_and_is_json(result):
    report = build_report(result, fallback={"applied": True, "fade_frames": 4})
    jsonschema.validate(report, report_schema())
    assert json.loads(json.dumps(report)) == report
    (face,) = report["faces"]
    assert [s["start"] for s in face["segments"] if s["failed"]] == [20] and face["failed_segments"] == 1
    assert [s["fallback"] for s in face["segments"]] == [False, False, True, False]
    assert report["fallback"] == {"enabled": True, "applied": True, "fade_frames": 4, "segments_replaced": 1}
    assert face["segments"][2]["start_ms"] == 800 and face["segments"][2]["failed"][0]["check"] == "flicker"


def test_missing_models_leave_their_figures_out_and_say_why(result):
    report = build_report(result)
    assert report["lip_sync"] == {"available": False, "reason": "no audio connected"}
    assert report["identity"] == {"available": False, "reason": "no ArcFace model"}
    figures = report["faces"][0]["segments"][0]["figures"]
    assert not {"identity_min", "identity_median", "lse_c", "lse_d", "av_offset"} & set(figures)
    assert "identity" not in report["faces"][0]["per_frame"]
    assert report["fallback"]["enabled"] is False


def test_per_frame_figures_cover_the_face_with_nulls_where_not_measured(result):
    per_frame = build_report(result)["faces"][0]["per_frame"]
    assert per_frame["first_frame"] == 0 and len(per_frame["flicker"]) == 40
    assert per_frame["flicker"][0] is None and per_frame["flicker"][22] > 5


@pytest.mark.parametrize(
    "break_it",
    [
        lambda r: r.pop("faces"),
        lambda r: r["faces"][0]["segments"][0]["failed"].append({"check": "beauty", "value": 1, "threshold": 0}),
        lambda r: r["settings"]["thresholds"].update(max_av_offset=-5),
        lambda r: r["shots"].update(source="guess"),
        lambda r: r["faces"][0]["segments"][0]["figures"].update(lse_c="high"),
    ],
    ids=["no-faces", "unknown-check", "bad-threshold", "bad-cut-source", "string-figure"],
)
def test_the_schema_catches_broken_reports(result, break_it):
    report = build_report(result)
    broken = copy.deepcopy(report)
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report_schema())
    jsonschema.validate(report, report_schema())


def test_summary_lines_name_the_failing_frames(result):
    lines = summary_lines(build_report(result))
    assert lines[0] == "face 1: 1 of 4 segments failed: frames 20-29 (flicker)"
    assert "outside the faces: unchanged" in lines and "lip sync: not measured (no audio connected)" in lines


def test_the_plot_shades_the_failing_segment_and_nothing_else(result):
    picture = plot_quality(result)
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[1] == WIDTH
    red = (picture == np.array(FAIL, np.uint8)).all(axis=2)
    columns = np.flatnonzero(red.any(axis=0))
    span = WIDTH - LEFT - RIGHT
    assert LEFT + 20 / 40 * span - 2 <= columns.min() and columns.max() <= LEFT + 30 / 40 * span + 2, f"red spans columns {columns.min()}-{columns.max()}"
