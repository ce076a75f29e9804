"""Head pose (pitch, yaw, roll in degrees) from face landmarks.

Two sources, both fitted to one generic face (GENERIC_FACE_3D_MM):
- five 2D landmarks (left eye, right eye, nose tip, left and right mouth corner; image left
  first, as FaceDetections / FaceTracks hold them): a perspective-n-point solve (OpenCV's SQPnP,
  refined by Levenberg-Marquardt) through a pinhole camera whose focal length is the frame's
  larger side and whose principal point is the frame centre (a normal lens, ~53 degrees across;
  the true focal length is unknown and moves the pose little at face distances).
- InsightFace's 68 3D landmarks (1k3d68.onnx: image x, y and a depth z in the same pixel units,
  68-point iBUG order): the same five points are read off them (eye centres = the means of the
  eye contours 36-41 and 42-47, nose tip 30, mouth corners 48 and 54) and the generic face is
  fitted to them by a 3D similarity (rotation, uniform scale, shift; least squares, Umeyama). The
  sign of the network's depth axis is not documented, so the fit is made with z and with -z and
  the closer one kept: a mirrored face fits no rotation of the real one.

Angles: R = Rz(roll) @ Ry(yaw) @ Rx(pitch) maps the generic face into camera coordinates
(x right, y down, z away from the camera); the face looks along -z at pose (0, 0, 0). Positive
pitch looks down, positive yaw turns the face towards the image's left side, positive roll turns
it clockwise on screen. head pose arrays are [pitch, yaw, roll], InsightFace's Face.pose order
and the one of the service report (its profile example has the yaw, 52.4, second).
"""

from __future__ import annotations

import numpy as np

# The generic face, millimetres, camera axes at pose 0 (x right, y down, z away from the camera),
# origin at the nose tip. x and y are the ArcFace 112 px five-point template (a frontal face)
# scaled to a 63 mm distance between the eye centres (the adult mean); z is the depth behind the
# nose tip: eye centres 30 mm, mouth corners 25 mm (anthropometric means, rounded).
GENERIC_FACE_3D_MM = np.array(
    [
        [-31.5, -36.0, 30.0],  # left eye centre (image left: the person's right eye)
        [31.5, -36.0, 30.0],  # right eye centre
        [0.0, 0.0, 0.0],  # nose tip
        [-26.0, 37.0, 25.0],  # left mouth corner
        [26.0, 37.0, 25.0],  # right mouth corner
    ],
    np.float64,
)
# The five points in the 68-point iBUG layout InsightFace's 1k3d68 predicts.
LEFT_EYE_68 = slice(36, 42)
RIGHT_EYE_68 = slice(42, 48)
NOSE_TIP_68 = 30
LEFT_MOUTH_68 = 48
RIGHT_MOUTH_68 = 54


def angles_to_rotation(pose_deg: np.ndarray) -> np.ndarray:
    """(..., 3) [pitch, yaw, roll] degrees -> (..., 3, 3) rotations Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    pitch, yaw, roll = np.moveaxis(np.radians(np.asarray(pose_deg, np.float64)), -1, 0)
    cp, sp, cy, sy, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rotation = np.empty(pitch.shape + (3, 3))
    rotation[..., 0, 0] = cr * cy
    rotation[..., 0, 1] = cr * sy * sp - sr * cp
    rotation[..., 0, 2] = cr * sy * cp + sr * sp
    rotation[..., 1, 0] = sr * cy
    rotation[..., 1, 1] = sr * sy * sp + cr * cp
    rotation[..., 1, 2] = sr * sy * cp - cr * sp
    rotation[..., 2, 0] = -sy
    rotation[..., 2, 1] = cy * sp
    rotation[..., 2, 2] = cy * cp
    return rotation


def rotation_to_angles(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) [pitch, yaw, roll] degrees (inverse of angles_to_rotation, |yaw| <= 90)."""
    rotation = np.asarray(rotation, np.float64)
    cos_yaw = np.hypot(rotation[..., 0, 0], rotation[..., 1, 0])
    pitch = np.arctan2(rotation[..., 2, 1], rotation[..., 2, 2])
    yaw = np.arctan2(-rotation[..., 2, 0], cos_yaw)
    roll = np.arctan2(rotation[..., 1, 0], rotation[..., 0, 0])
    return np.degrees(np.stack([pitch, yaw, roll], axis=-1))


def camera_matrix(frame_size: tuple[int, int]) -> np.ndarray:
    """(3,3) pinhole intrinsics for a (H, W) frame: focal length max(H, W) px, principal point at the centre."""
    height, width = frame_size
    focal = float(max(height, width))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def head_pose_from_landmarks(landmarks: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Head pose of faces from their five 2D landmarks by a PnP solve against GENERIC_FACE_3D_MM.

    landmarks: (n,5,2) float source pixels (image-left eye, image-right eye, nose tip, left and
    right mouth corner); frame_size (H, W) of the source frame. Returns (n,3) float32 [pitch,
    yaw, roll] degrees; NaN rows where the landmarks hold NaN or the solve fails.
    """
    import cv2

    points = np.asarray(landmarks, np.float64)
    if points.ndim != 3 or points.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must be a 3D array with shape (_, 5, 2), but got shape {points.shape}")
    intrinsics = camera_matrix(frame_size)
    pose = np.full((len(points), 3), np.nan, np.float32)
    for index, face in enumerate(points):
        if not np.isfinite(face).all() or np.ptp(face, axis=0).min() <= 0:
            continue
        image_points = np.ascontiguousarray(face.reshape(5, 1, 2))
        solved, rvec, tvec = cv2.solvePnP(GENERIC_FACE_3D_MM, image_points, intrinsics, None, flags=cv2.SOLVEPNP_SQPNP)
        if not solved or tvec[2, 0] <= 0:
            continue
        rvec, tvec = cv2.solvePnPRefineLM(GENERIC_FACE_3D_MM, image_points, intrinsics, None, rvec, tvec)
        pose[index] = rotation_to_angles(cv2.Rodrigues(rvec)[0])
    return pose


def five_points_from_68(points_68: np.ndarray) -> np.ndarray:
    """(n,68,D) iBUG landmarks -> (n,5,D): eye centres, nose tip, mouth corners (image left first)."""
    points = np.asarray(points_68, np.float64)
    if points.ndim != 3 or points.shape[1] != 68:
        raise ValueError(f"points_68 must be a 3D array with shape (_, 68, _), but got shape {points.shape}")
    return np.stack(
        [points[:, LEFT_EYE_68].mean(axis=1), points[:, RIGHT_EYE_68].mean(axis=1), points[:, NOSE_TIP_68], points[:, LEFT_MOUTH_68], points[:, RIGHT_MOUTH_68]],
        axis=1,
    )


def _fit_rotation(model: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Umeyama: the rotation R (3,3) of the best similarity target ~ s R model + t, and its RMS residual."""
    model_centred = model - model.mean(axis=0)
    target_centred = target - target.mean(axis=0)
    u, singular, vt = np.linalg.svd(target_centred.T @ model_centred)
    sign = np.ones(3)
    sign[2] = np.sign(np.linalg.det(u @ vt)) or 1.0  # a proper rotation, never a reflection
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / (model_centred**2).sum())
    residual = target_centred - scale * model_centred @ rotation.T
    return rotation, float(np.sqrt((residual**2).sum(axis=1).mean()))


def head_pose_from_landmarks_3d(points_68: np.ndarray) -> np.ndarray:
    """Head pose of faces from InsightFace's 68 3D landmarks (1k3d68.onnx).

    points_68: (n,68,3) float, x and y source pixels, z depth in pixel units (either sign).
    Returns (n,3) float32 [pitch, yaw, roll] degrees; NaN rows where the points hold NaN.
    """
    five = five_points_from_68(points_68)
    if five.shape[2] != 3:
        raise ValueError(f"points_68 must be a 3D array with shape (_, 68, 3), but got shape {np.shape(points_68)}")
    pose = np.full((len(five), 3), np.nan, np.float32)
    for index, face in enumerate(five):
        if not np.isfinite(face).all() or np.ptp(face[:, :2], axis=0).min() <= 0:
            continue
        fits = [_fit_rotation(GENERIC_FACE_3D_MM, face * [1.0, 1.0, depth_sign]) for depth_sign in (1.0, -1.0)]
        rotation, _ = min(fits, key=lambda fit: fit[1])
        pose[index] = rotation_to_angles(rotation)
    return pose
