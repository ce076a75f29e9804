"""Speaker segments route lipsync: each face synced only while it speaks, its own stem, manual ranges first."""

import numpy as np
import pytest
import torch
from torch import nn

from comfyui_fuse.lipsync.backends import LipsyncArchitecture, LipsyncModel
from comfyui_fuse.lipsync.pipeline import LipsyncSpec, face_sequence_audio, lipsync_crops, sequence_speaking_weights
from comfyui_fuse.speaker.active import ActiveSpeakers

FRAMES = 12


def two_faces(build):
    return build.clip(frame_count=FRAMES, boxes=((10, 40, 110, 140), (12, 42, 112, 142)), second_face=((190, 40, 290, 140), (192, 42, 292, 142)))


def speakers_for(clip, speaking, stems=(), stem_of_track=None) -> ActiveSpeakers:
    speaking = np.asarray(speaking, bool)
    present = clip.tracks.present
    return ActiveSpeakers(
        clip.tracks.track_id, present, speaking & present, np.where(speaking, 0.9, 0.1), speaking.any(axis=0)[None],
        FRAMES, clip.tracks.fps, "landmarks", "test", stem_of_track=stem_of_track, stem_scores=np.zeros((2, len(stems))), stems=stems,
    )


def turns():
    speaking = np.zeros((2, FRAMES), bool)
    speaking[0, 0:4] = True
    speaking[1, 7:12] = True
    return speaking


def row_weights(result, plan):
    return [[round(float(w), 2) for w in result.weights[start:stop]] for start, stop in zip(plan.row_offsets[:-1], plan.row_offsets[1:])]


def test_each_face_is_synced_only_while_it_speaks(build):
    clip = two_faces(build)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(1.0), build.constant_model(), LipsyncSpec(fade_frames=0), speakers=speakers_for(clip, turns()))
    assert row_weights(result, clip.plan) == [[1.0] * 4 + [0.0] * 8, [0.0] * 7 + [1.0] * 5]
    untouched = result.weights == 0
    assert torch.equal(result.crops[untouched], clip.crops[untouched]), "a face that does not speak keeps its own mouth, bit for bit"


def test_fades_happen_around_the_segments_so_all_of_the_speech_is_synced(build):
    clip = two_faces(build)
    result = lipsync_crops(clip.crops, clip.plan, build.audio(1.0), build.constant_model(), LipsyncSpec(fade_frames=2), speakers=speakers_for(clip, turns()))
    face_1, face_2 = row_weights(result, clip.plan)
    assert face_1 == [1.0, 1.0, 1.0, 1.0, 0.67, 0.33, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "the face appears at frame 0: no fade in there"
    assert face_2 == [0.0, 0.0, 0.0, 0.0, 0.0, 0.33, 0.67, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_manual_ranges_override_the_speakers(build):
    clip = two_faces(build)  # 25 fps: frame i at 40 i ms
    result = lipsync_crops(clip.crops, clip.plan, build.audio(1.0), build.constant_model(), LipsyncSpec(fade_frames=0, ranges='{"2": [[0, 120]]}'), speakers=speakers_for(clip, turns()))
    assert row_weights(result, clip.plan) == [[1.0] * 4 + [0.0] * 8, [1.0] * 3 + [0.0] * 9]


class MelLevel(nn.Module):
    """Paints each face with the mean of its mel chunk (mapped to 0..1): the audio that drove it shows."""

    def forward(self, mel, faces):
        level = torch.sigmoid(mel.mean(dim=(1, 2, 3)))[:, None, None, None]
        return level.expand(faces.shape[0], 3, faces.shape[2], faces.shape[3])


def mel_level_model() -> LipsyncModel:
    return LipsyncModel(LipsyncArchitecture("mel level", lambda sd: False, lambda sd: MelLevel(), 96, 16, "BGR", ""), MelLevel(), "mel level")


def test_a_face_given_a_stem_is_driven_by_its_stem(build):
    clip = two_faces(build)
    speaking = np.ones((2, FRAMES), bool)
    silent_stem = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}
    loud_mix = build.audio(1.0, amplitude=0.5)
    result = lipsync_crops(clip.crops, clip.plan, loud_mix, mel_level_model(), LipsyncSpec(fade_frames=0), speakers=speakers_for(clip, speaking, stems=(silent_stem,), stem_of_track=[-1, 0]))
    offsets = clip.plan.row_offsets
    centre = (slice(None), 80, 48, 0)  # the lower face, well inside the edit mask
    mix_level = result.crops[offsets[0] : offsets[1]][centre].mean()
    stem_level = result.crops[offsets[1] : offsets[2]][centre].mean()
    assert stem_level < mix_level - 0.1, f"face 2 must be driven by its silent stem ({stem_level:.3f}), not by the loud mix ({mix_level:.3f})"


def test_speakers_of_another_clip_are_refused(build):
    clip = two_faces(build)
    other = build.clip(frame_count=5)
    speakers = ActiveSpeakers([1], other.tracks.present, np.zeros((1, 5)), np.zeros((1, 5)), np.zeros((1, 5)), 5, other.tracks.fps, "landmarks", "x")
    with pytest.raises(ValueError, match="speakers must come from FUSE Active Speaker on the clip of the crop plan"):
        lipsync_crops(clip.crops, clip.plan, build.audio(1.0), build.constant_model(), speakers=speakers)
    one_face = ActiveSpeakers([1], clip.tracks.present[:1], np.zeros((1, FRAMES)), np.zeros((1, FRAMES)), np.zeros((1, FRAMES)), FRAMES, clip.tracks.fps, "landmarks", "x")
    with pytest.raises(ValueError, match=r"track ids \[2\] are missing"):
        lipsync_crops(clip.crops, clip.plan, build.audio(1.0), build.constant_model(), speakers=one_face)


def test_face_sequence_audio_is_the_faces_own_voice_only_while_it_speaks(build):
    clip = two_faces(build)
    mix = {"waveform": torch.ones(1, 1, 16000), "sample_rate": 16000}
    stem = {"waveform": torch.full((1, 1, FRAMES * 640), 0.5), "sample_rate": 16000}  # 12 frames at 25 fps
    speakers = speakers_for(clip, turns(), stems=(stem,), stem_of_track=[-1, 0])
    first, _, _ = face_sequence_audio(clip.plan, mix, 0, speakers=speakers, fade_frames=0)
    second, _, _ = face_sequence_audio(clip.plan, mix, 1, speakers=speakers, fade_frames=0)
    per_frame = lambda sliced: sliced["waveform"][0, 0].reshape(FRAMES, 640)[:, 320].tolist()  # noqa: E731
    assert per_frame(first) == [1.0] * 4 + [0.0] * 8, "face 1: the soundtrack while it speaks, silence after"
    assert per_frame(second) == [0.0] * 7 + [0.5] * 5, "face 2: its stem while it speaks"
    assert sequence_speaking_weights(clip.plan, speakers, 1, 0).tolist() == [0.0] * 7 + [1.0] * 5
    assert sequence_speaking_weights(clip.plan, None, 1, 0).tolist() == [1.0] * FRAMES
