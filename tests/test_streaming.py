"""streaming: whole video files in windows — exact round trip, no seams, resume, clear refusals."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse import streaming
from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.masks import sequence_fades
from comfyui_fuse.compositing.paste import PasteSpec
from comfyui_fuse.core.images import image_to_uint8
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks
from comfyui_fuse.media import stream
from fuse_video_files import patterned_video

FPS = Fraction(30000, 1001)
SIZE = (96, 160)  # (H, W)


def moving_tracks(frame_count=40, gap=(15, 19)):
    """Two faces: one crossing the frame, one that leaves for frames gap[0]..gap[1]-1."""
    t = np.arange(frame_count, dtype=np.float32)[:, None]
    first = np.concatenate([10 + t, 20 + 0 * t, 50 + t, 60 + 0 * t], axis=1)
    second = np.tile(np.array([[100, 30, 140, 70]], np.float32), (frame_count, 1))
    state = np.full((2, frame_count), DETECTED, np.uint8)
    state[1, gap[0] : gap[1]] = ABSENT
    return FaceTracks(track_id=np.array([1, 2]), xyxy=np.stack([first, second]), state=state, score=state.astype(np.float32), frame_count=frame_count, frame_size=SIZE, fps=FPS)


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "source.mp4"
    frames = patterned_video(path, 40, size=SIZE, audio_seconds=40 / float(FPS))
    return path, frames


def decode(path):
    return np.concatenate([chunk for _, chunk in stream.iter_frames(path)])


def darken(crops, plan, **_):
    return crops * 0.5


def face_area(tracks, pad=24):
    """(N,H,W) bool: pixels within `pad` of a face box (where a paste may reach)."""
    area = np.zeros((tracks.frame_count, *tracks.frame_size), bool)
    for k in range(len(tracks)):
        for f in np.flatnonzero(tracks.present[k]):
            x0, y0, x1, y1 = tracks.xyxy[k, f]
            area[f, max(int(y0) - pad, 0) : int(y1) + pad, max(int(x0) - pad, 0) : int(x1) + pad] = True
    return area


def lossless(window_frames, overlap_frames=0):
    """Small crops, lossless output: what these tests compare bit for bit."""
    return streaming.StreamSpec(crop=CropSpec(face_size=64, face_padding=4), window_frames=window_frames, overlap_frames=overlap_frames, codec="h264_lossless")


def test_unprocessed_round_trip_is_bit_exact_and_keeps_fps_and_audio(video, tmp_path):
    source, frames = video
    report = streaming.process_video(source, moving_tracks(), tmp_path / "out.mp4", spec=lossless(16))
    np.testing.assert_array_equal(decode(tmp_path / "out.mp4"), frames)
    info = stream.probe_video(tmp_path / "out.mp4")
    assert info.fps == FPS and info.has_audio and info.frame_count == 40
    assert report["windows"] == 3 and report["crops"] == 40 + 36


def test_processing_changes_only_the_faces(video, tmp_path):
    source, frames = video
    tracks = moving_tracks()
    streaming.process_video(source, tracks, tmp_path / "out.mp4", process_crops=darken, spec=lossless(16))
    out = decode(tmp_path / "out.mp4")
    outside = ~face_area(tracks)
    np.testing.assert_array_equal(out[outside], frames[outside], err_msg="pixels away from the faces must be bit-identical")
    assert (out[~outside] != frames[~outside]).mean() > 0.2, "the faces must have changed"


@pytest.mark.parametrize("window_frames", [1, 7, 16])
def test_windows_give_the_one_batch_result_for_a_per_frame_processor(video, tmp_path, window_frames):
    source, _ = video
    tracks = moving_tracks()
    streaming.process_video(source, tracks, tmp_path / "one.mp4", process_crops=darken, spec=lossless(1000))
    streaming.process_video(source, tracks, tmp_path / "win.mp4", process_crops=darken, spec=lossless(window_frames))
    np.testing.assert_array_equal(decode(tmp_path / "win.mp4"), decode(tmp_path / "one.mp4"))


def test_fades_are_those_of_the_whole_video_not_of_a_window():
    tracks = moving_tracks()
    plan = plan_crops(tracks, np.zeros((40, 1, 1, 3), np.uint8), CropSpec(face_size=32))
    whole = sequence_fades(plan, 3)
    for start, stop in [(0, 16), (12, 28), (25, 40)]:
        window, rows = plan.window(start, stop, np.zeros((stop - start, 1, 1, 3), np.uint8))
        np.testing.assert_allclose(streaming.row_fades(window, tracks, start, 3).numpy(), whole[rows], err_msg=f"window {start}..{stop}")


def window_brightness(crops, plan, *, frame_offset=0, **_):
    """A processor whose result depends on the window (as a video model's does)."""
    return (crops + 0.2 * ((frame_offset // 12) % 2)).clamp(0, 1)


def effect_jumps(processed, source, box):
    """Per frame step: how much the processing's effect on the region changed from the frame before."""
    x0, y0, x1, y1 = box
    effect = (processed[:, y0:y1, x0:x1].astype(np.float32) - source[:, y0:y1, x0:x1]).mean(axis=(1, 2, 3))
    return np.abs(np.diff(effect))


def test_overlap_cross_fades_the_window_boundary(video, tmp_path):
    source, frames = video
    tracks = moving_tracks()
    face = (104, 34, 136, 66)  # inside the still face (track 2)
    streaming.process_video(source, tracks, tmp_path / "hard.mp4", process_crops=window_brightness, spec=lossless(12))
    streaming.process_video(source, tracks, tmp_path / "soft.mp4", process_crops=window_brightness, spec=lossless(16, 4))
    hard = effect_jumps(decode(tmp_path / "hard.mp4"), frames, face)[20:28].max()  # the boundary at frame 24, away from the gap
    soft = effect_jumps(decode(tmp_path / "soft.mp4"), frames, face)[20:28].max()
    assert hard > 20, f"without overlap the window boundary must show a jump, got {hard:.1f}"
    assert soft < hard / 3, f"with overlap the jump must be spread over the overlap ({soft:.1f} vs {hard:.1f})"


class FailOnce:
    def __init__(self, fail_at_window):
        self.fail_at = fail_at_window
        self.offsets = []

    def __call__(self, crops, plan, *, frame_offset=0, **_):
        self.offsets.append(frame_offset)
        if len(self.offsets) == self.fail_at + 1:
            self.fail_at = -1
            raise RuntimeError("killed")
        return darken(crops, plan)


def test_an_interrupted_job_leaves_no_output_and_resumes_after_the_last_finished_window(video, tmp_path, caplog):
    source, _ = video
    tracks = moving_tracks()
    out = tmp_path / "out.mp4"
    processor = FailOnce(fail_at_window=2)
    with pytest.raises(RuntimeError, match="killed"):
        streaming.process_video(source, tracks, out, process_crops=processor, spec=lossless(10, 2))
    assert not out.exists(), "nothing may appear under the final name"
    assert (tmp_path / ".out.mp4.fuse-job").is_dir()
    processor.offsets.clear()
    with caplog.at_level("INFO"):
        report = streaming.process_video(source, tracks, out, process_crops=processor, spec=lossless(10, 2))
    assert report["resumed_windows"] == 2 and "2 of 5 windows were already done" in caplog.text
    assert processor.offsets == [16, 24, 32], f"only the unfinished windows may run again, got offsets {processor.offsets}"
    streaming.process_video(source, tracks, tmp_path / "straight.mp4", process_crops=darken, spec=lossless(10, 2))
    np.testing.assert_array_equal(decode(out), decode(tmp_path / "straight.mp4"))
    assert not (tmp_path / ".out.mp4.fuse-job").exists(), "the job folder goes once the output is complete"


def test_changed_settings_start_the_job_afresh(video, tmp_path):
    source, _ = video
    tracks = moving_tracks()
    with pytest.raises(RuntimeError):
        streaming.process_video(source, tracks, tmp_path / "out.mp4", process_crops=FailOnce(2), spec=lossless(10))
    report = streaming.process_video(source, tracks, tmp_path / "out.mp4", process_crops=darken, job_key={"strength": 2}, spec=lossless(10))
    assert report["resumed_windows"] == 0


def test_a_full_disk_leaves_no_partial_file(video, tmp_path, monkeypatch):
    source, _ = video

    def no_space(self, frames):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stream.SegmentWriter, "write", no_space)
    with pytest.raises(OSError, match="No space"):
        streaming.process_video(source, moving_tracks(), tmp_path / "out.mp4", spec=lossless(10))
    left = [p.name for p in tmp_path.rglob("*") if "partial" in p.name or p.name == "out.mp4"]
    assert left == [], f"no partial or final file may be left, got {left}"


def test_refusals_name_the_input(video, tmp_path):
    source, _ = video
    with pytest.raises(ValueError, match="must not be the source video"):
        streaming.process_video(source, moving_tracks(), source)
    with pytest.raises(ValueError, match="tracks must come from this video"):
        streaming.process_video(source, moving_tracks(frame_count=39), tmp_path / "o.mp4")
    with pytest.raises(ValueError, match="color_match is not available"):
        streaming.process_video(source, moving_tracks(), tmp_path / "o.mp4", streaming.StreamSpec(paste=PasteSpec(color_match="lab_mean_std")))
    with pytest.raises(TypeError, match="spec must be a StreamSpec"):
        streaming.process_video(source, moving_tracks(), tmp_path / "o.mp4", {"window_frames": 16})
    with pytest.raises(ValueError, match="must keep the crop batch's shape"):
        streaming.process_video(source, moving_tracks(), tmp_path / "o.mp4", process_crops=lambda crops, plan, **_: crops[:-1])


def test_the_stream_spec_checks_its_settings_when_made():
    with pytest.raises(ValueError, match="overlap_frames must be an int in 0..window_frames-1"):
        streaming.StreamSpec(window_frames=8, overlap_frames=8)
    with pytest.raises(ValueError, match="window_frames must be a positive int"):
        streaming.StreamSpec(window_frames=0)
    with pytest.raises(TypeError, match="crop must be a CropSpec"):
        streaming.StreamSpec(crop={"face_size": 64})
    key = streaming.StreamSpec(crop=CropSpec(face_size=64)).key()
    assert key["crop"]["face_size"] == 64 and key["paste"]["fade_frames"] == 3 and key["window_frames"] == 81


@pytest.mark.parametrize("count, window, overlap, expected", [
    (10, 4, 0, [(0, 4), (4, 8), (8, 10)]),
    (10, 4, 1, [(0, 4), (3, 7), (6, 10)]),
    (3, 81, 8, [(0, 3)]),
    (9, 9, 2, [(0, 9)]),
])
def test_plan_windows(count, window, overlap, expected):
    assert streaming.plan_windows(count, window, overlap) == expected


@pytest.mark.parametrize("window, overlap, message", [(0, 0, "window_frames must be"), (4, 4, "overlap_frames must be"), (4, -1, "overlap_frames must be")])
def test_plan_windows_refuses_bad_sizes(window, overlap, message):
    with pytest.raises(ValueError, match=message):
        streaming.plan_windows(10, window, overlap)


def test_tracking_on_a_downscaled_decode_maps_boxes_back_to_source_pixels(tmp_path):
    from comfyui_fuse.media import synthetic
    from comfyui_fuse.media.video import write_video
    from comfyui_fuse.models.face_detectors import HAAR_OPTION, detect_faces, load_face_detector

    scene = synthetic.demo_scene(12)
    frames = synthetic.render(scene)
    write_video(tmp_path / "demo.mp4", frames, scene.fps, crf=0)
    detector = load_face_detector(HAAR_OPTION, None)
    result = streaming.track_video(tmp_path / "demo.mp4", detector, detect_size=320)
    assert result.info.frame_count == 12 and result.tracks.frame_size == (360, 640) and result.tracks.fps == scene.fps
    full = detect_faces(detector, decode(tmp_path / "demo.mp4"))
    assert len(result.detections) >= len(full) - 2
    for frame in range(0, 12, 4):
        for box in full.in_frame(frame).xyxy:
            ours = result.detections.in_frame(frame).xyxy
            centre = (box[:2] + box[2:]) / 2
            nearest = np.abs((ours[:, :2] + ours[:, 2:]) / 2 - centre).sum(axis=1).min()
            assert nearest < 0.1 * (box[2] - box[0]), f"frame {frame}: a box found at full size has no counterpart within 10 %"


def test_a_video_with_a_cut_is_tracked_shot_by_shot_and_windows_keep_the_cut(tmp_path):
    from comfyui_fuse.media import synthetic
    from comfyui_fuse.media.video import write_video
    from comfyui_fuse.models.face_detectors import HAAR_OPTION, load_face_detector

    box = synthetic.linear_path(12, (110, 40, 200, 130), (118, 44, 208, 134))
    frames = np.concatenate([synthetic.render(synthetic.Scene(12, (240, 320), [box], [0], seed=0)), synthetic.render(synthetic.Scene(12, (240, 320), [box], [1], seed=7))])
    write_video(tmp_path / "cut.mp4", frames, FPS, crf=0)
    detector = load_face_detector(HAAR_OPTION, None)
    result = streaming.track_video(tmp_path / "cut.mp4", detector, chunk_frames=5)
    assert result.detections.cuts.tolist() == [12] and result.tracks.cuts.tolist() == [12], "the cut is found across decode chunks"
    assert len(result.tracks) == 2, "a different person where the last one stood gets a new id"
    assert streaming.track_video(tmp_path / "cut.mp4", detector, detect_cuts=False).tracks.cuts is None, "not looked for"
    assert streaming.track_video(tmp_path / "cut.mp4", detector, track_options={"cuts": "-12, +6"}).tracks.cuts.tolist() == [6]
    window = streaming.tracks_window(result.tracks, 8, 20)
    assert window.cuts.tolist() == [4] and window.frame_count == 12
    plan = plan_crops(result.tracks, np.zeros((24, 1, 1, 3), np.uint8), CropSpec(face_size=32))
    part, _ = plan.window(8, 20, np.zeros((12, 1, 1, 3), np.uint8))
    assert part.cuts.tolist() == [4]
    fades = streaming.row_fades(part, result.tracks, 8, 3).numpy()
    assert fades.min() == 1.0, "no fade at a cut, in a window as in the whole video"


def test_float_chunks_hold_the_same_bytes_at_any_resolution():
    sizes = {(360, 640): None, (720, 1280): None, (1080, 1920): None, (2160, 3840): None}
    for size in sizes:
        sizes[size] = streaming.float_chunk(size)
    assert sizes[(360, 640)] == streaming.PASTE_CHUNK, "small frames are pasted a full decode chunk at a time"
    assert sizes[(720, 1280)] > sizes[(1080, 1920)] >= sizes[(2160, 3840)] == 1
    for (height, width), frames in sizes.items():
        assert frames == 1 or frames * height * width * 3 * 4 <= streaming.FLOAT_CHUNK_BYTES, f"{frames} float frames of {height}x{width} exceed the budget"


@pytest.mark.parametrize("windows", [[(0, 10), (8, 18), (18, 40)], [(0, 40)], [(0, 7), (7, 14), (14, 21), (20, 39)], [(5, 6), (30, 40)]])
def test_the_window_reader_hands_out_exactly_the_decoded_frames(video, windows):
    path, _ = video
    decoded = decode(path)
    reader = streaming.WindowReader(str(path), stream.probe_video(path), lambda: None)
    for start, stop in windows:
        window = reader.window(start, stop)
        assert window.shape == (stop - start, *decoded.shape[1:]) and window.dtype == np.uint8
        assert np.array_equal(window, decoded[start:stop]), f"window {start}..{stop} differs from the decoded frames"
    assert all(first >= windows[-1][0] for first, _ in reader.held), "frames before the last window's start are let go"


@pytest.mark.parametrize("paste_options", [{}, {"paste_mode": "replace"}, {"seam": "poisson"}, {"blend_mode": "ellipse", "blend_amount": 0.3}, {"blend_amount": 0.0}, {"blend_amount": 0.0, "seam": "poisson"}])
def test_cutting_and_pasting_face_regions_gives_the_bits_of_whole_float_frames(paste_options):
    """cut_crops and paste_chunk convert only the face regions of uint8 frames to float; the
    crops and the pasted frames must be those of converting the whole frames (the IMAGE path),
    bit for bit, also for a face partly outside the frame."""
    from comfyui_fuse.compositing.paste import PasteSpec, paste_faces
    from comfyui_fuse.compositing.warp import crop_faces
    from comfyui_fuse.core.fingerprint import fingerprint_frames
    from comfyui_fuse.media.video import frames_to_image

    tracks = moving_tracks(frame_count=8)
    xyxy = tracks.xyxy.copy()
    xyxy[1] -= np.array([90, 20, 90, 20], np.float32)  # the second face hangs over the left and top edges
    tracks = FaceTracks(track_id=tracks.track_id, xyxy=xyxy, state=tracks.state, score=tracks.score, frame_count=8, frame_size=SIZE, fps=FPS)
    frames = np.random.default_rng(0).integers(0, 256, (8, *SIZE, 3), dtype=np.uint8)
    plan = plan_crops(tracks, fingerprint_frames(frames), CropSpec(face_size=48, face_padding=4))
    image = frames_to_image(frames)
    crops = streaming.cut_crops(frames, plan, None)
    torch.testing.assert_close(crops, crop_faces(image, plan), rtol=0, atol=0)
    processed = crops.flip(-1)  # a change the paste must carry, colours swapped
    weights = torch.linspace(0.2, 1.0, plan.total_rows)
    spec = PasteSpec(**paste_options, fade_frames=0)
    rows = np.arange(plan.total_rows)
    measure = {}
    canvas = torch.zeros((10, *SIZE, 3))  # reused from chunk to chunk: it must come back all zeros
    pasted = streaming.paste_chunk(frames, processed, None, plan, rows, weights, spec, None, measure=measure, canvas=canvas)
    assert not canvas.any()
    mask = weights[:, None, None].expand(plan.total_rows, *plan.crop_size)
    expected = image_to_uint8(paste_faces(image, processed, plan, spec, crop_mask=mask))
    np.testing.assert_array_equal(pasted, expected)
    assert measure["max_abs_diff_outside_faces"] == 0 and measure["max_abs_diff_inside_faces"] > 50
