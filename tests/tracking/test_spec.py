"""TrackSpec: track_faces' settings in one frozen, validated object."""

from fractions import Fraction

import pytest

from comfyui_fuse.tracking.spec import TrackSpec
from comfyui_fuse.tracking.track import track_faces


def test_defaults_and_fps_snapping():
    spec = TrackSpec(fps=29.97)
    assert spec.fps == Fraction(30000, 1001)
    assert (spec.min_hits, spec.max_gap, spec.max_jump, spec.cuts) == (3, 15, 2.5, "")
    with pytest.raises(AttributeError):
        spec.min_hits = 1


@pytest.mark.parametrize(
    "settings, error, words",
    [
        ({"max_jump": -1}, ValueError, r"max_jump must be a number in \[0.0, 10.0\]"),
        ({"link_gaps": 1}, TypeError, "link_gaps must be a bool"),
        ({"cuts": "12;"}, ValueError, "cuts must be frame numbers"),
        ({"min_hits": 1.5}, TypeError, "min_hits must be an int"),
    ],
)
def test_bad_settings_are_named_when_the_spec_is_made(settings, error, words):
    with pytest.raises(error, match=words):
        TrackSpec(**settings)


def test_track_faces_takes_a_spec_or_keywords_not_both(builders):
    detections = builders.detections([builders.moving_box(8, 100, 100, 80)])
    assert len(track_faces(detections, TrackSpec(min_hits=2))) == len(track_faces(detections, min_hits=2)) == 1
    with pytest.raises(TypeError, match="not both"):
        track_faces(detections, TrackSpec(), min_hits=2)
    with pytest.raises(TypeError, match="settings must be among fps, iou_threshold"):
        track_faces(detections, min_hit=2)
    with pytest.raises(TypeError, match="spec must be a TrackSpec"):
        track_faces(detections, {"min_hits": 2})
