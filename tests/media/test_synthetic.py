"""The synthetic clips: the demo shows two different real people."""

import cv2
import numpy as np

from comfyui_fuse.media import synthetic

PATCH = 64


def face_patch(frame: np.ndarray, xyxy) -> np.ndarray:
    """The face at xyxy as a PATCH x PATCH grey float patch, zero mean and unit norm."""
    x1, y1, x2, y2 = np.round(xyxy).astype(int)
    grey = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY).astype(np.float64)
    patch = cv2.resize(grey, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    patch -= patch.mean()
    return patch / np.linalg.norm(patch)


def test_the_demo_faces_are_two_people_not_a_photo_and_its_mirror_image():
    scene = synthetic.demo_scene(frame_count=1)
    sprites = [synthetic.face_sprites()[index] for index in scene.sprite_index]
    assert len({sprite.name for sprite in sprites}) == 2, f"the demo must show two different photos, got {[s.name for s in sprites]}"
    first, second = (face_patch(sprite.pixels, sprite.face_xyxy) for sprite in sprites)
    mirrored = float((first * second[:, ::-1]).sum())
    straight = float((first * second).sum())
    assert mirrored < 0.8 and straight < 0.8, (  # a photo and its mirror image: 1.00; the astronaut and Grace Hopper: about 0.5
        f"the demo's faces correlate {mirrored:.2f} (one mirrored) and {straight:.2f}: one person's photo twice cannot show identity features"
    )


def test_each_face_sprite_is_its_own_photo():
    sprites = synthetic.face_sprites()
    assert [sprite.name for sprite in sprites] == ["astronaut", "hopper", "lfw_0", "lfw_7"], "indices are used by tests and scenes: keep the order"
    for sprite in sprites:
        x1, y1, x2, y2 = sprite.face_xyxy
        height, width = sprite.pixels.shape[:2]
        assert sprite.pixels.dtype == np.uint8 and sprite.pixels.shape[2] == 3
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, f"{sprite.name}: face box {sprite.face_xyxy} must lie in the {width}x{height} sprite"


def test_rendering_a_range_gives_the_same_frames_as_the_whole_clip():
    scene = synthetic.demo_scene(frame_count=30, frame_size=(90, 160))  # the hand covers frames 10..15
    whole = synthetic.render(scene)
    parts = np.concatenate([synthetic.render(scene, start, start + 7) for start in range(0, 30, 7)])
    assert np.array_equal(parts, whole), "frames rendered in ranges must equal the whole render (the occluder must not shift them)"
