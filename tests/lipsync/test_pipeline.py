"""Lipsync on FUSE crops: shapes, the edit mask, pass-through rules, audio alignment, paste."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from comfyui_fuse.analysis.selection import FaceSelection
from comfyui_fuse.compositing.paste import paste_faces
from comfyui_fuse.lipsync.backends import LipsyncArchitecture, LipsyncModel
from comfyui_fuse.lipsync.mel import mel_chunks
from comfyui_fuse.lipsync.pipeline import LipsyncSpec, face_sequence_audio, lipsync_crops, timeline_mel
from comfyui_fuse.analysis.syncability import SyncRules


def test_output_shapes_and_the_input_is_untouched(build):
    clip = build.clip(frame_count=4)
    before = clip.crops.clone()
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), tracks=clip.tracks)
    assert result.crops.shape == clip.crops.shape and result.crops.dtype == torch.float32
    assert result.edit_mask.shape == clip.crops.shape[:3] and result.edit_mask.dtype == torch.float32
    assert torch.equal(clip.crops, before), "lipsync must not mutate its input crops"
    assert result.weights.tolist() == [1.0] * 4


@pytest.mark.parametrize("landmarks", [False, True], ids=["box", "landmarks"])
def test_edit_mask_is_zero_outside_the_lower_face_and_only_masked_pixels_change(build, landmarks):
    clip = build.clip(frame_count=3, landmarks=landmarks)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), tracks=clip.tracks)
    mask = result.edit_mask
    # the face box in the 96 px crop is x, y in [13.7, 82.3] (100 px face + 20 px padding each side)
    face_top, face_bottom, face_left, face_right = 96 * 20 / 140, 96 * 120 / 140, 96 * 20 / 140, 96 * 120 / 140
    nose_line = int(face_top + 0.45 * (face_bottom - face_top))
    assert (mask[:, :nose_line] == 0).all(), "nothing above the nose is edited"
    assert (mask[:, :, : int(face_left)] == 0).all() and (mask[:, :, int(face_right) + 1 :] == 0).all(), "nothing beside the face is edited"
    assert (mask.amax(dim=(1, 2)) == 1).all(), "the mouth is fully edited on every synced row"
    changed = (result.crops != clip.crops).any(dim=-1)
    assert not (changed & (mask == 0)).any(), "a crop pixel changed where the edit mask is 0"


def test_pixels_outside_the_edit_mask_are_unchanged_after_paste(build):
    clip = build.clip(frame_count=3)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), tracks=clip.tracks)
    pasted, alpha = paste_faces(clip.frames, result.crops, clip.plan, crop_mask=result.edit_mask, return_mask=True)
    changed = (pasted != clip.frames).any(dim=-1)
    assert changed.any(), "the mouth must change"
    assert not (changed & (alpha == 0)).any(), "a frame pixel outside the pasted edit mask changed"
    boxes = clip.tracks.xyxy[0]
    for frame, (x1, y1, x2, y2) in enumerate(boxes):
        upper = changed[frame, : int(y1 + 0.45 * (y2 - y1))]
        assert not upper.any(), f"frame {frame}: pixels above the nose changed"


def test_unselected_faces_and_small_faces_pass_through_bit_identical(build):
    clip = build.clip(frame_count=3, second_face=((200, 60, 250, 110), (200, 60, 250, 110)))  # face 2 is 50 px wide
    everyone = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), tracks=clip.tracks)
    assert everyone.weights.tolist() == [1, 1, 1, 0, 0, 0], "a 50 px face is too small for Wav2Lip"
    assert torch.equal(everyone.crops[3:], clip.crops[3:]) and (everyone.edit_mask[3:] == 0).all()
    only_two = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), LipsyncSpec(faces=FaceSelection.parse("2"), rules=SyncRules(min_face_px=32)), tracks=clip.tracks)
    assert only_two.weights.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(only_two.crops[:3], clip.crops[:3]), "track 1 was not selected"


def test_low_scores_pass_through_with_a_fade(build):
    clip = build.clip(frame_count=12)
    score = clip.tracks.score.copy()
    score[0, 6:] = 0.3
    tracks = type(clip.tracks)(clip.tracks.track_id, clip.tracks.xyxy, clip.tracks.state, score, clip.tracks.frame_count, clip.tracks.frame_size, clip.tracks.fps)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), LipsyncSpec(fade_frames=3), tracks=tracks)
    np.testing.assert_allclose(result.weights, [1, 1, 1, 0.75, 0.5, 0.25, 0, 0, 0, 0, 0, 0])
    assert torch.equal(result.crops[6:], clip.crops[6:]), "low-confidence frames pass through"
    peaks = result.edit_mask.amax(dim=(1, 2))
    np.testing.assert_allclose(peaks[:6].numpy(), [1, 1, 1, 0.75, 0.5, 0.25], atol=1e-6, err_msg="the edit mask fades out")


@pytest.mark.parametrize(
    "policy, offset_ms, expected",
    [
        ("pad_silence", 0, [1] * 10),
        ("trim", 0, [1] * 5 + [0] * 5),  # 0.2 s of audio at 25 fps: frames 0..4
        ("trim", 80, [0, 0] + [1] * 5 + [0] * 3),  # delayed by two frames
        ("trim", -120, [1, 1] + [0] * 8),  # its first 0.12 s skipped
    ],
)
def test_audio_policy_and_offset_decide_which_frames_have_speech(build, policy, offset_ms, expected):
    clip = build.clip(frame_count=10)
    result = lipsync_crops(
        clip.crops, clip.plan, build.audio(seconds=0.2), build.constant_model(), LipsyncSpec(audio_policy=policy, audio_offset_ms=offset_ms, fade_frames=0), tracks=clip.tracks
    )
    assert result.weights.tolist() == expected


@pytest.mark.parametrize(
    "ranges, expected",
    [
        ('{"1": [[-500, 120]]}', [1, 1, 1, 0, 0, 0]),  # starts before the video
        ('{"1": [[160, 90000]]}', [0, 0, 0, 0, 1, 1]),  # ends after it
        ('{"01": [[0, 40]]}', [1, 0, 0, 0, 0, 0]),  # "01" is track 1
    ],
)
def test_ranges_are_clipped_to_the_video(build, ranges, expected):
    clip = build.clip(frame_count=6)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), LipsyncSpec(ranges=ranges, fade_frames=0), tracks=clip.tracks)
    assert result.weights.tolist() == expected


def test_a_range_for_no_face_of_the_plan_is_an_error_not_sync_everywhere(build):
    clip = build.clip(frame_count=6)
    with pytest.raises(ValueError, match=r"ranges keys must name faces in the crop plan \(1\), but '7' matches none"):
        lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), LipsyncSpec(ranges='{"7": [[0, 40]]}', fade_frames=0), tracks=clip.tracks)


class RecordingNet(nn.Module):
    """Remembers the mel chunks it was given; returns the masked face's reference half."""

    def __init__(self):
        super().__init__()
        self.mels = []

    def forward(self, mel, faces):
        self.mels.append(mel.clone())
        return faces[:, 3:]


def recording_model() -> LipsyncModel:
    net = RecordingNet()
    architecture = LipsyncArchitecture("recording", lambda sd: False, lambda sd: net, 96, 16, "BGR", "")
    return LipsyncModel(architecture, net, "recording")


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)], ids=str)
def test_each_frame_gets_the_mel_chunk_of_its_exact_time(build, fps):
    clip = build.clip(frame_count=9, fps=fps)
    audio = build.audio(seconds=0.3, sample_rate=44100, channels=2)
    model = recording_model()
    lipsync_crops(clip.crops, clip.plan, audio, model, LipsyncSpec(batch_size=4, audio_offset_ms=40), tracks=clip.tracks)
    given = torch.cat(model.net.mels)[:, 0].numpy()
    assert given.shape == (9, 80, 16) and len(model.net.mels) == 3, "9 rows in batches of 4"
    from comfyui_fuse.lipsync.audio import audio_to_mono

    mel = timeline_mel(audio_to_mono(audio, 16000), clip.plan, 40)
    np.testing.assert_array_equal(given, mel_chunks(mel, np.arange(9), fps))
    assert (given[0][:, :2] == -4).all(), "mel frames 0 and 1 (windows ending at 25 and 37.5 ms) are before the audio starts at 40 ms"
    last_voiced = int(np.flatnonzero((mel > -4).any(axis=0)).max())
    assert 80 * 0.34 - 2 <= last_voiced <= 80 * 0.34 + 2, f"the audio ends at 0.34 s of video time (mel frame 27), got {last_voiced}"


def test_a_random_wav2lip_runs_on_fuse_crops(build, wav2lip_checkpoint):
    from comfyui_fuse.lipsync.backends import load_lipsync_model

    clip = build.clip(frame_count=3, face_size=128, landmarks=True)
    model = load_lipsync_model(str(wav2lip_checkpoint[0]))
    steps = []
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), model, LipsyncSpec(batch_size=2), tracks=clip.tracks, on_progress=steps.append)
    assert result.crops.shape == (3, 128, 128, 3) and result.edit_mask.shape == (3, 128, 128)
    assert torch.isfinite(result.crops).all() and result.crops.min() >= 0 and result.crops.max() <= 1
    assert (result.crops != clip.crops).any(), "the model's face is blended in"
    assert steps == [2, 1], f"progress per batch, got {steps}"


def test_no_tracks_assumes_a_centred_face(build):
    clip = build.clip(frame_count=2)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model())
    assert result.weights.tolist() == [1, 1]
    rows, cols = torch.nonzero(result.edit_mask[0] > 0, as_tuple=True)
    assert rows.min() > 96 * 0.45 and abs(float(cols.float().mean()) - 47.5) < 2, "the edit sits in the lower centre of the crop"


def test_empty_plan_returns_empty_batches(build):
    clip = build.clip(frame_count=2)
    empty = type(clip.plan)((), clip.plan.frame_size, clip.plan.frame_count, clip.plan.fps, clip.plan.fingerprint)
    crops = torch.zeros((0, 96, 96, 3))
    steps = []
    result = lipsync_crops(crops, empty, build.audio(), build.constant_model(), on_progress=steps.append)
    assert result.crops.shape == (0, 96, 96, 3) and result.edit_mask.shape == (0, 96, 96) and steps == []


def test_interrupt_stops_the_loop(build):
    clip = build.clip(frame_count=3)

    class Interrupted(Exception):
        pass

    def interrupt():
        raise Interrupted

    with pytest.raises(Interrupted):
        lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), check_interrupt=interrupt)


@pytest.mark.parametrize(
    "change, error, fragment",
    [
        (dict(crops=torch.zeros(2, 96, 96, 3)), ValueError, "crops must have 3 rows"),
        (dict(crops=torch.zeros(3, 64, 64, 3)), ValueError, "crops must be 96x96"),
        (dict(crops=np.zeros((3, 96, 96, 3))), TypeError, "crops must be an IMAGE torch.Tensor"),
        (dict(audio=None), ValueError, "audio must be an AUDIO input"),
        (dict(audio={"waveform": torch.zeros(1, 1, 0), "sample_rate": 16000}), ValueError, "zero-length"),
        (dict(audio={"waveform": torch.zeros(1, 1, 10), "sample_rate": 0}), ValueError, "sample_rate must be a positive int"),
        (dict(audio_policy="loop_video"), ValueError, "FUSE Fit Video To Audio"),
        (dict(batch_size=0), ValueError, "batch_size must be an int >= 1"),
        (dict(ranges="{oops"), ValueError, "ranges must be JSON"),
        (dict(fade_frames=-1), ValueError, "fade_frames must be an int >= 0"),
        (dict(faces=FaceSelection.parse("7", input_name="track_ids")), ValueError, "track_ids must select faces in the crop plan (1), but got 7, which is not there"),
        (dict(faces=FaceSelection.parse("alice", input_name="track_ids")), ValueError, "but no face in the crop plan has a character name"),
    ],
    ids=["rows", "size", "numpy", "no-audio", "zero-length", "rate-0", "policy", "batch", "ranges", "fade", "unknown-id", "name-without-identity"],
)
def test_bad_inputs_get_clear_errors(build, change, error, fragment):
    clip = build.clip(frame_count=3)
    arguments = dict(crops=clip.crops, plan=clip.plan, audio=build.audio(), model=build.constant_model())
    settings = {key: change.pop(key) for key in list(change) if key not in arguments}
    arguments.update(change)
    with pytest.raises(error) as raised:
        lipsync_crops(**arguments, spec=LipsyncSpec(**settings))
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    "settings, error, fragment",
    [
        (dict(faces="2"), TypeError, "faces must be a FaceSelection, but got str"),
        (dict(rules={"min_face_px": 32}), TypeError, "rules must be a SyncRules, but got dict"),
        (dict(audio_offset_ms=float("nan")), ValueError, "audio_offset_ms must be a finite number of milliseconds"),
        (dict(ranges='{"1": [[0]]}'), ValueError, "ranges"),
    ],
)
def test_bad_settings_are_named_when_the_spec_is_made(settings, error, fragment):
    with pytest.raises(error) as raised:
        LipsyncSpec(**settings)
    assert fragment in str(raised.value)


def test_lipsync_crops_takes_a_spec(build):
    clip = build.clip(frame_count=3)
    with pytest.raises(TypeError, match="spec must be a LipsyncSpec, but got dict"):
        lipsync_crops(clip.crops, clip.plan, build.audio(), build.constant_model(), {"fade_frames": 0})


def test_face_sequence_audio_gives_the_slice_rows_and_a_plan(build):
    clip = build.clip(frame_count=5, second_face=((200, 60, 280, 140), (200, 60, 280, 140)))
    audio = build.audio(seconds=1.0, sample_rate=48000, channels=2)
    sliced, rows, plan = face_sequence_audio(clip.plan, audio, 1, crops=clip.crops)
    assert sliced["sample_rate"] == 48000 and sliced["waveform"].shape == (1, 2, 9600), "5 frames at 25 fps = 0.2 s"
    assert torch.equal(sliced["waveform"], audio["waveform"][:, :, :9600])
    assert torch.equal(rows, clip.crops[5:]) and len(plan) == 1 and plan.sequences[0].track_id == 2
    pasted = paste_faces(clip.frames, rows, plan)
    assert pasted.shape == clip.frames.shape, "the one-sequence plan pastes the sequence's rows"


@pytest.mark.parametrize("index", [-1, 2, True])
def test_face_sequence_audio_rejects_a_bad_index(build, index):
    clip = build.clip(frame_count=2)
    with pytest.raises(ValueError, match="sequence_index must be in 0..0"):
        face_sequence_audio(clip.plan, build.audio(), index)
