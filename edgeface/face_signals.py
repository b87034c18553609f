"""Signals read from dense landmarks: head pose, eye openness, mouth opening and smile.

Each is a function of ``edgeface.landmarks.Landmarks`` (its named point groups, so no
point index is written here) and gives one value per face:

- ``head_pose``: yaw, pitch and roll in degrees, from where six points of the face lie
  in the image (nose tip, chin, outer eye corners, mouth corners) against a generic face's
  six 3-D points: a scaled orthographic fit (the affine map least squares gives, its two
  rows made orthonormal: DeMenthon and Davis's POS). The image positions, not the
  model's depth output: on faces re-rendered at known turns the mesh's depth followed
  under half of a 20-degree yaw, its x and y about two thirds (``docs/landmarks.md``).
  Yaw > 0: the face turns towards the image's right (the subject's left); pitch > 0: the
  chin goes up; roll > 0: the head tilts clockwise in the image. Absolute angles carry
  the generic face's error (a few degrees, different per person); changes do not.
- ``eye_openness``: each eye's aspect ratio (Soukupova and Cech, 2016): the two lid gaps
  over twice the corner-to-corner width, from the ``*_eye_lids`` groups. About 0.25-0.35
  open, under about 0.15 closed; per person, so a blink is a drop against the same face's
  open value (``edgeface.liveness``).
- ``mouth_opening``: the inner lips' gap over the mouth's width.
- ``smile``: the mouth's width over the outer eye corners' distance; it grows with a
  smile, again against the same face's neutral value.
"""

from __future__ import annotations

import numpy as np

from edgeface.landmarks import Landmarks

# A generic face looking at the camera, in the camera's axes (x right, y down, z away from
# it), from the nose tip: the six-point average face commonly used for head pose from
# landmarks (units of about 0.2 mm; only its proportions matter), its depths times 1.45 to
# the face mesh's proportions (nose tip to outer eye corners 0.87 of half their distance
# on the astronaut, against 0.6): the fit then reads the mesh's own points turned by
# known angles (20 and 30 degrees of yaw, 15 of pitch, 20 of roll) back within 3 degrees
# on every axis (tests/test_face_signals.py).
_DEPTH = 1.45
GENERIC_FACE = {
    "nose_tip": (0.0, 0.0, 0.0),
    "chin": (0.0, 330.0, 65.0 * _DEPTH),
    "right_eye_outer": (-225.0, -170.0, 135.0 * _DEPTH),
    "left_eye_outer": (225.0, -170.0, 135.0 * _DEPTH),
    "mouth_right": (-150.0, 150.0, 125.0 * _DEPTH),
    "mouth_left": (150.0, 150.0, 125.0 * _DEPTH),
}


def _pose_points(landmarks: Landmarks) -> np.ndarray:
    """(N, 6, 3) the face's points matching GENERIC_FACE's, in its order."""
    lids_r, lids_l, corners = (landmarks.group(name) for name in ("right_eye_lids", "left_eye_lids", "mouth_corners"))
    return np.stack([landmarks.centre("nose_tip"), landmarks.centre("chin"), lids_r[:, 0], lids_l[:, 0],
                     corners[:, 0], corners[:, 1]], axis=1).astype(np.float64)


def head_pose(landmarks: Landmarks) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees (signs in the module's docstring)."""
    model = np.array(list(GENERIC_FACE.values()))
    model = model - model.mean(axis=0)
    out = np.zeros((len(landmarks), 3))
    for i, points in enumerate(_pose_points(landmarks)):
        image = points[:, :2] - points[:, :2].mean(axis=0)
        affine, *_ = np.linalg.lstsq(model, image, rcond=None)  # image ~ model @ affine: (3, 2)
        first = affine[:, 0] / max(np.linalg.norm(affine[:, 0]), 1e-12)
        second = affine[:, 1] - (affine[:, 1] @ first) * first
        second /= max(np.linalg.norm(second), 1e-12)
        out[i] = _angles(np.stack([first, second, np.cross(first, second)]))
    return out


def _angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of ``rotation`` = Rz(roll) Ry(yaw) Rx(pitch) in the
    camera's axes, signed as the module says."""
    yaw = np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0))
    pitch = np.arctan2(rotation[2, 1], rotation[2, 2])
    roll = np.arctan2(rotation[1, 0], rotation[0, 0])
    return float(np.degrees(-yaw)), float(np.degrees(-pitch)), float(np.degrees(roll))


def eye_openness(landmarks: Landmarks) -> np.ndarray:
    """(N, 2) the right and the left eye's aspect ratio (image x, y only)."""
    return np.stack([_aspect(landmarks.group("right_eye_lids")), _aspect(landmarks.group("left_eye_lids"))], axis=1)


def _aspect(lids: np.ndarray) -> np.ndarray:
    """Outer corner, two upper-lid points, inner corner, two lower-lid points -> ratio."""
    xy = lids[..., :2].astype(np.float64)
    gaps = np.linalg.norm(xy[:, 1] - xy[:, 5], axis=1) + np.linalg.norm(xy[:, 2] - xy[:, 4], axis=1)
    return gaps / (2 * np.maximum(np.linalg.norm(xy[:, 0] - xy[:, 3], axis=1), 1e-6))


def mouth_opening(landmarks: Landmarks) -> np.ndarray:
    """(N,) the inner lips' gap over the mouth's width."""
    lips, corners = landmarks.group("inner_lips")[..., :2], landmarks.group("mouth_corners")[..., :2]
    return np.linalg.norm(lips[:, 0] - lips[:, 1], axis=1) / _width(corners)


def smile(landmarks: Landmarks) -> np.ndarray:
    """(N,) the mouth's width over the distance between the outer eye corners."""
    corners = landmarks.group("mouth_corners")[..., :2]
    eyes = np.stack([landmarks.group("right_eye_lids")[:, 0, :2], landmarks.group("left_eye_lids")[:, 0, :2]], axis=1)
    return _width(corners) / _width(eyes)


def _width(pair: np.ndarray) -> np.ndarray:
    return np.maximum(np.linalg.norm(pair[:, 0].astype(np.float64) - pair[:, 1], axis=1), 1e-6)
