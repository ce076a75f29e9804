"""Per-frame measures of one face in an original and a processed frame (uint8 RGB, source pixels).

- face_region: the square around a face box that the checks look at (the box grown by `margin`
  times its larger side on every side), clipped to the frame.
- warping_error: temporal flicker. Optical flow from frame t back to t-1 is computed on the
  ORIGINAL (OpenCV's Farneback, grey levels); frame t-1 warped along it should reproduce frame t
  wherever the motion explains the change. The mean absolute difference (0..255, all channels)
  between frame t and warped t-1 inside the face box is the warping error; the processed video's
  error minus the original's is the flicker the processing added (a face that changes from frame
  to frame in ways the original's motion does not explain).
- outside_change: what changed outside every face region (a paste that leaks).
- seam_contrast: how much sharper the edge of the pasted area is than its surroundings, compared
  with the same places in the original.
- box_jitter: frame-to-frame jerk of a track's box (second difference of its centre, over its size).
"""

from __future__ import annotations

import numpy as np

# Farneback settings: a 3-level pyramid, 15-pixel windows, 3 iterations (OpenCV's usual example).
FLOW_PARAMETERS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
CHANGE_LEVEL = 8.0  # grey levels (blurred |processed - original|) above which a pixel counts as pasted
BAND = 2  # pixels: half the width of the boundary band, and of the bands beside it


def face_region(xyxy, margin: float, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) ints: the square centred on the box, side = larger side x (1 + 2 margin),
    clipped to the (H, W) frame (may be empty when the box is outside it)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    half = max(x2 - x1, y2 - y1) * (0.5 + margin)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = frame_size
    x0, y0 = int(np.clip(np.floor(centre_x - half), 0, width)), int(np.clip(np.floor(centre_y - half), 0, height))
    x1, y1 = int(np.clip(np.ceil(centre_x + half), 0, width)), int(np.clip(np.ceil(centre_y + half), 0, height))
    return x0, y0, x1, y1


def _box_in(region: tuple[int, int, int, int], xyxy) -> tuple[int, int, int, int]:
    """The face box in the region's own pixels, clipped to it."""
    x0, y0, x1, y1 = region
    bx0, by0, bx1, by1 = (float(v) for v in xyxy)
    return (
        int(np.clip(np.floor(bx0) - x0, 0, x1 - x0)), int(np.clip(np.floor(by0) - y0, 0, y1 - y0)),
        int(np.clip(np.ceil(bx1) - x0, 0, x1 - x0)), int(np.clip(np.ceil(by1) - y0, 0, y1 - y0)),
    )


def backward_flow(previous_rgb: np.ndarray, current_rgb: np.ndarray) -> np.ndarray:
    """(h,w,2) float32 flow from current to previous: current(y, x) ~ previous(y + fy, x + fx)."""
    import cv2

    previous = cv2.cvtColor(previous_rgb, cv2.COLOR_RGB2GRAY)
    current = cv2.cvtColor(current_rgb, cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(current, previous, None, **FLOW_PARAMETERS)


def warp_back(previous_rgb: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """previous warped onto the current frame along `flow` -> (float32 (h,w,3) image, (h,w) bool
    valid: the flow points inside the image)."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    warped = cv2.remap(previous_rgb.astype(np.float32), map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return warped, valid


def warping_errors(original_previous, original_current, processed_previous, processed_current, xyxy, margin: float = 0.5) -> tuple[float, float]:
    """(processed error, original error): mean |frame t - warped frame t-1| inside the face box,
    flow from the original frames (computed on the face region, which holds the face's motion).
    NaN when the box has no valid pixel."""
    region = face_region(xyxy, margin, original_current.shape[:2])
    x0, y0, x1, y1 = region
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float("nan"), float("nan")

    def cut(frame):
        return np.ascontiguousarray(frame[y0:y1, x0:x1])

    flow = backward_flow(cut(original_previous), cut(original_current))
    bx0, by0, bx1, by1 = _box_in(region, xyxy)
    errors = []
    for previous, current in ((processed_previous, processed_current), (original_previous, original_current)):
        warped, valid = warp_back(cut(previous), flow)
        difference = np.abs(cut(current).astype(np.float32) - warped).mean(axis=2)[by0:by1, bx0:bx1]
        inside = valid[by0:by1, bx0:bx1]
        errors.append(float(difference[inside].mean()) if inside.any() else float("nan"))
    return errors[0], errors[1]


def regions_mask(boxes_xyxy, margin: float, frame_size: tuple[int, int]) -> np.ndarray:
    """(H,W) bool: inside any face region of the given boxes."""
    mask = np.zeros(frame_size, bool)
    for xyxy in boxes_xyxy:
        x0, y0, x1, y1 = face_region(xyxy, margin, frame_size)
        mask[y0:y1, x0:x1] = True
    return mask


def outside_change(original: np.ndarray, processed: np.ndarray, faces_mask: np.ndarray) -> tuple[int, float, int]:
    """(max |difference|, mean |difference| (0..255), pixels changed) outside faces_mask."""
    outside = ~faces_mask
    if not outside.any():
        return 0, 0.0, 0
    difference = np.abs(original.astype(np.int16) - processed.astype(np.int16)).max(axis=2)[outside]
    return int(difference.max()), float(difference.mean()), int(np.count_nonzero(difference))


def _gradient_energy(grey: np.ndarray) -> np.ndarray:
    """Squared gradient magnitude (Sobel / 8: grey levels per pixel, squared) of a float image."""
    import cv2

    return (cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) ** 2) / 64.0


def _grey(rgb: np.ndarray) -> np.ndarray:
    return (np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def seam_contrast(original: np.ndarray, processed: np.ndarray, xyxy, margin: float = 0.5) -> float:
    """How visible the edge of the pasted area is.

    The change D = processed - original (grey levels) is what the processing and the paste did.
    The pasted area is where D (blurred, any channel) exceeds CHANGE_LEVEL, taken as the parts
    connected to the face box; a band of 2 BAND pixels follows its edge, with bands beside it
    further inside and outside. The figure is

        mean over the edge band of |grad D|^2
        / (mean over the inside band of |grad D|^2 + median over both side bands of |grad processed|^2 + 1)

    the gradient energy of the change across the paste boundary against the change's own detail
    inside the face and the image's ordinary detail around (the +1, one grey level squared, keeps
    flat areas finite). On the tests' clip (a real face on texture), a paste feathered over a
    quarter of the face scores below 0.1; a hard-edged change of 10 grey levels about 0.2, of 20
    about 0.8, of 40 about 3. 0 when nothing was pasted (changes under CHANGE_LEVEL are not seen)
    or the pasted area has no edge inside the face region.
    """
    import cv2

    region = face_region(xyxy, margin, original.shape[:2])
    x0, y0, x1, y1 = region
    if x1 - x0 < 8 * BAND or y1 - y0 < 8 * BAND:
        return 0.0
    before = original[y0:y1, x0:x1].astype(np.float32)
    after = processed[y0:y1, x0:x1].astype(np.float32)
    change = cv2.GaussianBlur(np.abs(before - after).max(axis=2), (5, 5), 0)
    count, labels = cv2.connectedComponents((change > CHANGE_LEVEL).astype(np.uint8))
    bx0, by0, bx1, by1 = _box_in(region, xyxy)
    touching = np.unique(labels[by0:by1, bx0:bx1])
    touching = touching[touching > 0]
    if not len(touching):
        return 0.0
    pasted = np.isin(labels, touching).astype(np.uint8)
    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    far = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * BAND + 1, 6 * BAND + 1))
    grown, shrunk = cv2.dilate(pasted, near) > 0, cv2.erode(pasted, near) > 0
    edge = grown & ~shrunk
    inside = shrunk & ~(cv2.erode(pasted, far) > 0)
    outside = (cv2.dilate(pasted, far) > 0) & ~grown
    if not (edge.any() and inside.any() and outside.any()):
        return 0.0
    change_energy = _gradient_energy(_grey(after) - _grey(before))
    image_energy = _gradient_energy(_grey(after))
    detail = float(np.median(image_energy[inside | outside]))
    return float(change_energy[edge].mean() / (change_energy[inside].mean() + detail + 1.0))


def box_jitter(xyxy: np.ndarray) -> np.ndarray:
    """(T,4) boxes of consecutive frames -> (T,) float: |c(t+1) - 2 c(t) + c(t-1)| / box size at t,
    the centre's jerk as a fraction of the face size (NaN at both ends). A steady crop is 0; a
    crop that shakes by 2 % of the face every frame is about 0.04-0.08."""
    xyxy = np.asarray(xyxy, np.float64)
    out = np.full(len(xyxy), np.nan)
    if len(xyxy) < 3:
        return out
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    size = np.maximum(np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]), 1.0)
    jerk = centre[2:] - 2 * centre[1:-1] + centre[:-2]
    out[1:-1] = np.hypot(jerk[:, 0], jerk[:, 1]) / size[1:-1]
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors (ArcFace embeddings are unit vectors already); NaN for a zero vector."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else float("nan")
