"""Synthetic video clips of real faces with exact ground truth.

The faces are real photographs that ship inside installed packages, so the demo, the tests and
the benchmarks need no download. A face is pasted at a known box in every frame over a textured
background that holds no face; occluders ("hands") are drawn over it where asked.

The photos and their licences (docs/demo_faces.md):
- "astronaut": Eileen Collins, NASA portrait, public domain (a work of the US government);
  skimage.data.astronaut(), scikit-image's sample data.
- "hopper": Grace Hopper, US Navy portrait (1984), public domain (a work of the US government);
  matplotlib's sample data, grace_hopper.jpg (matplotlib comes with ultralytics).
- "lfw_0", "lfw_7": two 25x25 grey face crops from skimage.data.lfw_subset() (Labeled Faces in
  the Wild, news photos collected for research), for the tests only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

# The packages whose sample photos the faces come from: module -> pip name.
PHOTO_PACKAGES = {"skimage": "scikit-image", "matplotlib": "matplotlib"}

# Where the face is in skimage.data.astronaut() (OpenCV's Haar cascade finds it there: x, y, w, h
# = 177, 66, 95, 95). We cut a sprite with margin around it so the face has hair, chin and context.
_ASTRONAUT_SPRITE = (140, 20, 310, 210)  # x1, y1, x2, y2 in the photo
_ASTRONAUT_FACE = (177, 66, 272, 161)  # the face box in the photo
# The same for matplotlib's grace_hopper.jpg (512x600; the Haar cascade finds 155, 105, 222, 222).
_HOPPER_SPRITE = (68, 0, 464, 436)
_HOPPER_FACE = (155, 105, 377, 327)


@dataclass(frozen=True)
class FaceSprite:
    """A face photo (h,w,3) uint8 and the face box inside it (x1, y1, x2, y2), sprite pixels."""

    pixels: np.ndarray
    face_xyxy: tuple[float, float, float, float]
    name: str


def missing_photo_packages() -> list[str]:
    """The pip names of the PHOTO_PACKAGES that are not installed (rendering a scene needs them all)."""
    import importlib.util

    return [pip_name for module, pip_name in PHOTO_PACKAGES.items() if importlib.util.find_spec(module) is None]


def _sprite(photo: np.ndarray, sprite_xyxy, face_xyxy, name: str) -> FaceSprite:
    x1, y1, x2, y2 = sprite_xyxy
    face = (face_xyxy[0] - x1, face_xyxy[1] - y1, face_xyxy[2] - x1, face_xyxy[3] - y1)
    return FaceSprite(np.ascontiguousarray(photo[y1:y2, x1:x2]), face, name)


def hopper_photo() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data, (600,512,3) uint8 RGB."""
    import cv2
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if photo is None:
        raise FileNotFoundError(f"matplotlib's sample photo {path} could not be read; reinstall matplotlib")
    return photo[..., ::-1].copy()  # BGR -> RGB


def face_sprites() -> list[FaceSprite]:
    """Real faces of different people: the astronaut (Eileen Collins), Grace Hopper, two LFW faces.

    The demo scene shows the first two; their index in this list is the Scene's sprite_index.
    """
    import cv2
    from skimage import data

    sprites = [
        _sprite(data.astronaut(), _ASTRONAUT_SPRITE, _ASTRONAUT_FACE, "astronaut"),
        _sprite(hopper_photo(), _HOPPER_SPRITE, _HOPPER_FACE, "hopper"),
    ]
    lfw = data.lfw_subset()  # (200, 25, 25) float 0..1, grey, tightly cropped faces
    for index in (0, 7):
        grey = cv2.resize((lfw[index] * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        tinted = np.stack([grey * 1.0, grey * 0.86, grey * 0.74], axis=-1)
        sprites.append(FaceSprite(np.clip(tinted, 0, 255).astype(np.uint8), (8.0, 8.0, 92.0, 92.0), f"lfw_{index}"))
    return sprites


def textured_background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, faceless background (h,w,3) uint8: low-frequency colour noise plus a gradient."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 200, size=(max(height // 48, 2), max(width // 48, 2), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(smooth + ramp, 0, 255).astype(np.uint8)


@dataclass
class Scene:
    """What to render. boxes: one (N,4) face trajectory per face (NaN rows = not in frame);
    occluders: (frame_start, frame_stop, (N,4) boxes) rectangles drawn over everything."""

    frame_count: int
    frame_size: tuple[int, int]  # (H, W)
    boxes: list[np.ndarray]
    sprite_index: list[int]
    occluders: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    fps: Fraction = Fraction(25)
    seed: int = 0


def _paste_sprite(canvas: np.ndarray, sprite: FaceSprite, face_box: np.ndarray) -> None:
    """Scale the sprite so its face lands exactly on face_box and alpha-blend it into canvas."""
    import cv2

    fx1, fy1, fx2, fy2 = sprite.face_xyxy
    bx1, by1, bx2, by2 = face_box
    scale_x = (bx2 - bx1) / (fx2 - fx1)
    scale_y = (by2 - by1) / (fy2 - fy1)
    # sprite pixel -> canvas pixel
    affine = np.array([[scale_x, 0, bx1 - fx1 * scale_x], [0, scale_y, by1 - fy1 * scale_y]], np.float64)
    height, width = canvas.shape[:2]
    sh, sw = sprite.pixels.shape[:2]
    warped = cv2.warpAffine(sprite.pixels, affine, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    ellipse = ((xx - sw / 2) / (sw / 2)) ** 2 + ((yy - sh / 2) / (sh / 2)) ** 2
    alpha = np.clip((1.0 - ellipse) * 4.0, 0, 1).astype(np.float32)
    alpha = cv2.warpAffine(alpha, affine, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    canvas[:] = np.clip(canvas * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)


def render(scene: Scene, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Render frames [start, stop) of the scene (default: all): (n,H,W,3) uint8. Faces are drawn
    in list order (later on top)."""
    stop = scene.frame_count if stop is None else min(stop, scene.frame_count)
    sprites = face_sprites()
    height, width = scene.frame_size
    background = textured_background(height, width, scene.seed)
    frames = np.empty((max(stop - start, 0), height, width, 3), np.uint8)
    for index in range(start, stop):
        canvas = background.copy()
        for boxes, sprite_index in zip(scene.boxes, scene.sprite_index):
            if np.isfinite(boxes[index]).all():
                _paste_sprite(canvas, sprites[sprite_index % len(sprites)], boxes[index])
        for first, last, occluder_boxes in scene.occluders:  # not start/stop: those are the rendered range
            if first <= index < last:
                x1, y1, x2, y2 = np.round(occluder_boxes[index]).astype(int)
                canvas[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = (205, 160, 130)  # a skin-toned "hand"
        frames[index - start] = canvas
    return frames


def linear_path(frame_count: int, start_xyxy, stop_xyxy) -> np.ndarray:
    """(N,4) float32 boxes moving linearly from start_xyxy to stop_xyxy."""
    t = np.linspace(0.0, 1.0, frame_count, dtype=np.float64)[:, None]
    return ((1 - t) * np.asarray(start_xyxy, np.float64) + t * np.asarray(stop_xyxy, np.float64)).astype(np.float32)


def demo_scene(frame_count: int = 48, frame_size: tuple[int, int] = (360, 640)) -> Scene:
    """The bundled demo: two different people (the astronaut and Grace Hopper) drifting across a
    640x360 frame, the second briefly hidden by a hand."""
    height, width = frame_size
    face = min(height, width) * 0.33
    left = linear_path(frame_count, (0.08 * width, 0.25 * height, 0.08 * width + face, 0.25 * height + face), (0.22 * width, 0.30 * height, 0.22 * width + face * 1.1, 0.30 * height + face * 1.1))
    right = linear_path(frame_count, (0.70 * width, 0.20 * height, 0.70 * width + face * 0.9, 0.20 * height + face * 0.9), (0.58 * width, 0.22 * height, 0.58 * width + face * 0.9, 0.22 * height + face * 0.9))
    hand = right.copy()
    hand[:, 1] = right[:, 1] + 0.45 * (right[:, 3] - right[:, 1])
    hand[:, 0] -= 0.1 * face
    hand[:, 2] += 0.1 * face
    third = frame_count // 3
    return Scene(frame_count, frame_size, [left, right], [0, 1], occluders=[(third, third + 6, hand)], fps=Fraction(30000, 1001))
