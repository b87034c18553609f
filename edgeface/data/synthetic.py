"""A procedural face generator: a pipeline smoke-test set with exact labels.

Faces are drawn with OpenCV polygons from per-identity parameters (face shape, skin tone,
eyes, brows, nose, mouth, ears, hair, glasses, beard, marks, clothes), posed in a simple
3-D model (yaw, pitch, roll), then lit, blurred, noised, occluded and pasted onto varied
backgrounds (scikit-image photographs without people, smooth noise, gradients, clutter).
Everything is deterministic in (seed, index): sample ``i`` of a set is generated on access.

This is **not a substitute for real data**: a model trained on it learns drawn faces. It
exists so that every part of the training, export and evaluation pipeline can run, and be
tested for learning (loss falls, AP / verification accuracy beat chance), without
downloading a dataset.

Label conventions (see docs/data.md):

- Coordinates are continuous pixels: pixel (i, j) covers x in [i, i+1), y in [j, j+1),
  so its centre is (i + 0.5, j + 0.5) -- the convention of ``edgeface.preprocess``.
- The box is the exact extent of the drawn face skin: the face oval and jaw from the top
  of the forehead (the hairline, when there is hair) to the chin, and ear to ear. Hair,
  hats of hair, neck and clothes lie outside it; glasses and beards inside.
- Keypoints are the drawn eye centres, the nose tip and the mouth corners after every
  transform, in ``KEYPOINT_NAMES`` order (the subject's right eye first: on the image's
  left in a frontal face). They are given even where an occluder hides them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from edgeface.cards.presets import ARCFACE_TEMPLATE
from edgeface.data.types import KEYPOINT_NAMES, DetectionSample, IdentitySample, Pair

try:
    import cv2
except ImportError as _exc:  # pragma: no cover - opencv is part of the toolchain extra
    cv2 = None
    _CV2_ERROR = _exc

# The ArcFace / InsightFace 112x112 alignment template (the model cards'), KEYPOINT_NAMES order.
ARCFACE_112 = np.array([ARCFACE_TEMPLATE[name] for name in KEYPOINT_NAMES], np.float64)

HAIR_STYLES = ("bald", "buzz", "short", "fringe", "long", "bun", "afro")
GLASSES = ("none", "round", "rect", "sunglasses")
BEARDS = ("none", "moustache", "goatee", "full", "stubble")
NOSES = ("nostrils", "line", "triangle")

# Seeds of the independent random streams, so a detection set, a recognition set and
# the identities never share numbers.
_STREAM_IDENTITY, _STREAM_DETECTION, _STREAM_RECOGNITION, _STREAM_PAIRS = 11, 12, 13, 14
PAIR_IDENTITY_OFFSET = 1_000_000

_SHIFT = 4  # fixed-point bits of OpenCV drawing coordinates (1/16 pixel)
_ONE = float(1 << _SHIFT)
_DEPTH = 0.6  # face surface depth, in face half-widths
_JAW_DEPTH = 0.7  # depth of the jaw ellipsoid: the chin stands out

_SKIN = np.array([[255, 226, 200], [242, 198, 170], [226, 174, 140], [200, 140, 100],
                  [165, 108, 74], [122, 78, 52], [86, 55, 38]], np.float64)
_HAIR = np.array([[22, 18, 16], [55, 38, 28], [100, 68, 40], [140, 100, 60], [205, 170, 105],
                  [150, 68, 34], [150, 150, 150], [228, 226, 220]], np.float64)
_HAIR_P = np.array([0.27, 0.2, 0.15, 0.08, 0.1, 0.06, 0.08, 0.06])
_IRIS = np.array([[60, 38, 22], [100, 66, 34], [70, 110, 160], [80, 120, 70], [120, 100, 60],
                  [110, 120, 130]], np.float64)


def _need_cv2() -> None:
    if cv2 is None:
        from edgeface.data.types import DatasetError
        raise DatasetError(f"the synthetic face generator needs OpenCV ({_CV2_ERROR}): "
                           f"pip install opencv-python-headless (or edgeface[fast])")


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFF for k in key]))


def _mix(a, b, t):
    return np.asarray(a, np.float64) * (1 - t) + np.asarray(b, np.float64) * t


def _color(c) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(v))) for v in c)


# ----------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class IdentityParams:
    """What makes one synthetic person: geometry in face half-widths (x right, y down,
    origin the centre of the face oval), colours in RGB 0..255."""

    index: int
    aspect: float            # face oval half-height / half-width
    jaw_width: float         # half-width of the jaw ellipse
    jaw_length: float        # jaw ellipse half-height, in oval half-heights
    skin: tuple              # RGB
    ear_size: float
    eye_dx: float            # half the distance between eye centres
    eye_y: float             # eye line, in oval half-heights (negative: above the centre)
    eye_rx: float
    eye_open: float          # eye height / width
    eye_tilt: float          # degrees, outer corner up when positive
    iris: tuple
    brow_gap: float
    brow_thickness: float
    brow_arch: float
    brow_tilt: float
    nose_y: float            # nose tip below the eye line, in units of 2 * eye_dx
    nose_width: float
    nose_length: float       # protrusion of the tip (depth)
    nose_style: int
    mouth_y: float           # mouth line below the eye line, in units of 2 * eye_dx
    mouth_half_width: float  # in units of eye_dx
    lip_thickness: float
    lips: tuple
    smile: float
    hair_style: int
    hair: tuple
    hairline: float          # hairline height, in oval half-heights (about -0.55..-0.8)
    glasses: int
    glasses_color: tuple
    beard: int
    mark: tuple | None       # (x, y, radius) of a mole / birthmark, or None
    blush: float
    clothes: tuple

    @property
    def hair_style_name(self) -> str:
        return HAIR_STYLES[self.hair_style]


def random_identity(rng: np.random.Generator, index: int = -1) -> IdentityParams:
    """Draw one identity's parameters from ``rng``."""
    u = rng.uniform
    t = u(0, len(_SKIN) - 1)
    i = min(int(t), len(_SKIN) - 2)
    skin = _mix(_SKIN[i], _SKIN[i + 1], t - i) + rng.normal(0, 6, 3) + [u(-8, 8), 0, u(-10, 6)]
    hair = _HAIR[rng.choice(len(_HAIR), p=_HAIR_P)] + rng.normal(0, 8, 3)
    if u() < 0.05:  # dyed
        hair = rng.uniform(30, 230, 3)
    iris = _IRIS[rng.integers(len(_IRIS))] + rng.normal(0, 10, 3)
    lips = _mix(skin, [190, 70, 80], u(0.25, 0.55)) * u(0.75, 0.95)
    if u() < 0.1:  # lipstick
        lips = [u(150, 220), u(20, 60), u(40, 90)]
    glasses = int(rng.choice(4, p=[0.68, 0.12, 0.12, 0.08]))
    glasses_color = [(20, 20, 20), (90, 60, 30), (200, 170, 60), (190, 190, 200)][rng.integers(4)]
    if u() < 0.2:
        glasses_color = tuple(rng.uniform(0, 255, 3))
    beard = int(rng.choice(5, p=[0.62, 0.1, 0.08, 0.12, 0.08]))
    mark = None
    if u() < 0.35:
        side = rng.choice([-1, 1])
        mark = (float(side * u(0.25, 0.7)), float(u(-0.6, 0.6)), float(u(0.03, 0.07)))
    # nose and mouth between the eye line and the chin, so every face has room for them
    aspect, eye_y, eye_dx = u(1.15, 1.45), u(-0.22, -0.04), u(0.37, 0.46)
    below = aspect * (1 - eye_y)  # eye line to chin
    return IdentityParams(
        index=int(index), aspect=aspect, jaw_width=u(0.62, 0.98), jaw_length=u(0.68, 0.82),
        skin=tuple(np.clip(skin, 20, 255)), ear_size=u(0.14, 0.22),
        eye_dx=eye_dx, eye_y=eye_y, eye_rx=u(0.12, 0.18), eye_open=u(0.4, 0.62),
        eye_tilt=u(-8, 10), iris=tuple(np.clip(iris, 0, 255)),
        brow_gap=u(0.12, 0.24), brow_thickness=u(0.03, 0.08), brow_arch=u(-0.02, 0.07),
        brow_tilt=u(-10, 12), nose_y=u(0.3, 0.37) * below / (2 * eye_dx), nose_width=u(0.12, 0.24),
        nose_length=u(0.25, 0.45), nose_style=int(rng.integers(len(NOSES))),
        mouth_y=u(0.55, 0.63) * below / (2 * eye_dx), mouth_half_width=u(0.7, 0.95),
        lip_thickness=u(0.04, 0.08),
        lips=tuple(np.clip(lips, 0, 255)), smile=u(-0.03, 0.06),
        hair_style=int(rng.choice(len(HAIR_STYLES), p=[0.08, 0.12, 0.26, 0.16, 0.22, 0.06, 0.1])),
        hair=tuple(np.clip(hair, 0, 255)), hairline=u(-0.82, -0.55),
        glasses=glasses, glasses_color=tuple(float(c) for c in glasses_color), beard=beard,
        mark=mark, blush=u(0.0, 0.25), clothes=tuple(rng.uniform(10, 245, 3)),
    )


# ----------------------------------------------------------------------------- pose


@dataclass(frozen=True)
class Pose:
    """Where and how a face is drawn. ``cx, cy``: centre of the face oval in pixels;
    ``scale``: face half-width in pixels (the box is about 2.2-2.6 x scale wide, ears
    included); angles in degrees (positive yaw turns the face towards the image's right,
    positive pitch looks down, positive roll turns clockwise on screen); expression
    ``smile`` (-1..1) and ``mouth_open`` (0..1), and ``blink``."""

    cx: float
    cy: float
    scale: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    smile: float = 0.0
    mouth_open: float = 0.0
    blink: bool = False


@lru_cache(maxsize=8)
def _circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


def _ellipse(cx, cy, a, b, n=24, angle=0.0) -> np.ndarray:
    c, s = _circle(n)
    out = np.empty((n, 2))
    if angle:
        ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        out[:, 0] = (a * ca) * c - (b * sa) * s + cx
        out[:, 1] = (a * sa) * c + (b * ca) * s + cy
    else:
        out[:, 0] = a * c + cx
        out[:, 1] = b * s + cy
    return out


class _Face:
    """The 2-D geometry of one posed face, before the image transform: polygons in face
    half-widths, projected from a simple 3-D face (an ellipsoid of depth ``_DEPTH`` with
    a protruding nose and ears behind the face plane)."""

    def __init__(self, p: IdentityParams, pose: Pose):
        self.p = p
        H = p.aspect
        self.H = H
        yaw, pitch = math.radians(pose.yaw), math.radians(pose.pitch)
        cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
        # rows: x' = x cy + z sy ; z1 = -x sy + z cy ; y' = y cp + z1 sp
        self._r = ((cy, 0.0, sy), (-sy * sp, cp, cy * sp))
        self.pose = pose
        self._skin: list[np.ndarray] | None = None
        self._cap: np.ndarray | None = None

    def z(self, pts: np.ndarray) -> np.ndarray:
        """Depth of the face surface: the front of the face ellipsoid (1, H, _DEPTH) or of
        the jaw ellipsoid (narrower, deeper: the chin stands out), whichever is nearer."""
        p = self.p
        x, y = pts[:, 0], pts[:, 1] * (1.0 / self.H)
        face = _DEPTH * np.sqrt(np.maximum(1.0 - x * x - y * y, 0.0))
        jx = x * (1.0 / p.jaw_width)
        jy = (y - (1 - p.jaw_length)) * (1.0 / p.jaw_length)
        jaw = _JAW_DEPTH * np.sqrt(np.maximum(1.0 - jx * jx - jy * jy, 0.0))
        return np.maximum(face, jaw)

    def outline(self, cx: float, cy: float, cz: float, a: float, b: float, d: float, n: int = 48) -> np.ndarray:
        """The projected outline of the ellipsoid centred (cx, cy, cz) with semi-axes
        (a, b, d): the image of a sphere under a linear map is the ellipse of its SVD."""
        (r00, r01, r02), (r10, r11, r12) = self._r
        # L = P diag(a, b, d); the outline is centre + sqrt(L L^T) (cos t, sin t)
        l00, l01, l02 = r00 * a, r01 * b, r02 * d
        l10, l11, l12 = r10 * a, r11 * b, r12 * d
        ca = l00 * l00 + l01 * l01 + l02 * l02
        cb = l00 * l10 + l01 * l11 + l02 * l12
        cc = l10 * l10 + l11 * l11 + l12 * l12
        half, mid = (ca - cc) / 2, (ca + cc) / 2
        root = math.sqrt(half * half + cb * cb)
        s1, s2 = math.sqrt(max(mid + root, 0.0)), math.sqrt(max(mid - root, 0.0))
        th = 0.5 * math.atan2(2 * cb, ca - cc)
        ct, st = math.cos(th), math.sin(th)
        c, s = _circle(n)
        u, v = c * s1, s * s2
        out = np.empty((n, 2))
        out[:, 0] = (r00 * cx + r01 * cy + r02 * cz) + ct * u - st * v
        out[:, 1] = (r10 * cx + r11 * cy + r12 * cz) + st * u + ct * v
        return out

    def proj(self, pts: np.ndarray, z: np.ndarray | float | None = None, dz: float = 0.0) -> np.ndarray:
        """(k, 2) canonical points -> (k, 2) projected; z from the face surface unless given."""
        if z is None:
            z = self.z(pts)
        if dz:
            z = z + dz
        (r00, _, r02), (r10, r11, r12) = self._r
        x, y = pts[:, 0], pts[:, 1]
        out = np.empty_like(pts, dtype=np.float64)
        out[:, 0] = x * r00 + z * r02
        out[:, 1] = x * r10 + y * r11 + z * r12
        return out

    # geometry, canonical coordinates
    def eye_centres(self) -> np.ndarray:
        p = self.p
        ey = p.eye_y * self.H
        return np.array([[-p.eye_dx, ey], [p.eye_dx, ey]])

    def keypoints_canonical(self) -> np.ndarray:
        """(5, 2) canonical points and their z."""
        p, (re, le) = self.p, self.eye_centres()
        ey = re[1]
        span = 2 * p.eye_dx
        nose = [0.0, ey + p.nose_y * span]
        my = ey + p.mouth_y * span - (p.smile + 0.06 * self.pose.smile) * 0.5
        mw = p.mouth_half_width * p.eye_dx * (1 + 0.08 * self.pose.smile)
        return np.array([re, le, nose, [-mw, my], [mw, my]])

    def keypoints(self) -> np.ndarray:
        kc = self.keypoints_canonical()
        z = self.z(kc)
        z[2] += self.p.nose_length
        return self.proj(kc, z)

    def hair_cap(self) -> np.ndarray:
        """Projected outline of the hair's ellipsoid, a little larger than the head's."""
        if self._cap is None:
            self._cap = self.outline(0, -0.06 * self.H, 0, 1.06, 1.1 * self.H, _DEPTH * 1.1, 48)
        return self._cap.copy()

    def skin_polygons(self) -> list[np.ndarray]:
        """Projected outlines of the face oval, jaw and both ears (the box is their extent)."""
        if self._skin is None:
            self._skin = self._skin_polygons()
        return list(self._skin)

    def _skin_polygons(self) -> list[np.ndarray]:
        p, H = self.p, self.H
        oval = self.outline(0, 0, 0, 1.0, H, _DEPTH, 48)
        jaw = self.outline(0, H * (1 - p.jaw_length), 0, p.jaw_width, H * p.jaw_length, _JAW_DEPTH, 32)
        ey = (p.eye_y + 0.12) * H
        ears = [self.proj(_ellipse(s * 1.0, ey, p.ear_size, p.ear_size * 1.7, 16), -0.3)
                for s in (-1, 1)]
        return [oval, jaw] + ears


# ----------------------------------------------------------------------------- drawing


class _Canvas:
    """Draws projected face polygons onto an image through a 2x3 similarity ``M``."""

    def __init__(self, image: np.ndarray, M: np.ndarray):
        self.image = image
        self.M = M
        self.scale = math.hypot(M[0, 0], M[1, 0])
        self._A = M[:, :2].T * _ONE
        self._b = (M[:, 2] - 0.5) * _ONE

    def pts(self, poly: np.ndarray) -> np.ndarray:
        # continuous coordinates -> OpenCV pixel-centre coordinates, fixed point
        xy = poly @ self._A + self._b
        return np.rint(xy, out=xy).astype(np.int32)

    def fill(self, polys, color) -> None:
        # one call per polygon: fillPoly leaves the overlap of two polygons unfilled
        color = _color(color)
        for p in [polys] if isinstance(polys, np.ndarray) else polys:
            cv2.fillPoly(self.image, [self.pts(p)], color, cv2.LINE_AA, _SHIFT)

    def line(self, poly, color, width: float, closed: bool = False) -> None:
        t = max(1, int(round(width * self.scale)))
        cv2.polylines(self.image, [self.pts(poly)], closed, _color(color), t, cv2.LINE_AA, _SHIFT)


def _draw_face(canvas: _Canvas, face: _Face, body: bool) -> None:
    """Paint one face back to front: body and the hair behind, head, beard, hair, eyes,
    nose, mouth, glasses."""
    p = face.p
    skin, hair = np.asarray(p.skin), np.asarray(p.hair)
    style = HAIR_STYLES[p.hair_style]
    _draw_back(canvas, face, body, style, skin, hair)
    _draw_head(canvas, face, skin)
    _draw_beard(canvas, face, skin, hair)
    _draw_hair(canvas, face, style, skin, hair)
    _draw_eyes(canvas, face, style, skin, hair)
    _draw_nose(canvas, face, skin)
    _draw_mouth(canvas, face, hair)
    _draw_glasses(canvas, face)


def _draw_back(canvas: _Canvas, face: _Face, body: bool, style: str, skin: np.ndarray, hair: np.ndarray) -> None:
    p, H = face.p, face.H
    dark_skin = skin * 0.8
    # body: neck and shoulders, behind everything
    if body:
        neck = np.array([[-0.45, 0.4 * H], [0.45, 0.4 * H], [0.5, 2.0 * H], [-0.5, 2.0 * H]])
        shoulders = _ellipse(0, 2.75 * H, 2.3, 1.05 * H, 32)
        canvas.fill(face.proj(shoulders, -0.4), p.clothes)
        canvas.fill(face.proj(neck, -0.2), dark_skin)
    # hair behind the head
    if style == "long":
        back = np.array([[-1.12, -0.3 * H], [-1.3, 1.5 * H], [1.3, 1.5 * H], [1.12, -0.3 * H]])
        canvas.fill(face.proj(back, -0.4), hair * 0.85)
    elif style == "afro":
        canvas.fill(face.outline(0, -0.35 * H, -0.3, 1.55, 1.15 * H, 0.9, 32), hair)
    elif style == "bun":
        canvas.fill(face.proj(_ellipse(0, -1.2 * H, 0.45, 0.38, 20), -0.3), hair)


def _draw_head(canvas: _Canvas, face: _Face, skin: np.ndarray) -> None:
    p, H = face.p, face.H
    # ears, face oval and jaw
    sk = face.skin_polygons()
    canvas.fill(sk[2:], skin * 0.93)
    canvas.fill(sk[:2], skin)
    ey = (p.eye_y + 0.12) * H
    for s in (-1, 1):
        canvas.line(face.proj(_ellipse(s * 1.02, ey, p.ear_size * 0.5, p.ear_size, 10), -0.3),
                    skin * 0.75, 0.02, closed=True)
    # blush and marks
    if p.blush > 0.05:
        kc = face.keypoints_canonical()
        cheek = (kc[2, 1] + kc[0, 1]) / 2
        tone = _mix(skin, [230, 90, 90], p.blush * 0.5)
        for s in (-1, 1):
            canvas.fill(face.proj(_ellipse(s * 0.55, cheek + 0.1, 0.17, 0.11, 16)), tone)
    if p.mark is not None:
        mx, my, mr = p.mark
        canvas.fill(face.proj(_ellipse(mx, my * H, mr, mr, 12)), skin * 0.45)


def _draw_beard(canvas: _Canvas, face: _Face, skin: np.ndarray, hair: np.ndarray) -> None:
    """A full or stubble beard, under the mouth and moustache."""
    p, H = face.p, face.H
    mouth_y = face.keypoints_canonical()[3, 1]
    beard_color = hair * 0.9
    if p.beard == 3 or p.beard == 4:
        c, s = _circle(32)
        jaw_pts = np.stack([p.jaw_width * c, H * (1 - p.jaw_length) + H * p.jaw_length * s], 1)
        lower = jaw_pts[jaw_pts[:, 1] > mouth_y - 0.25]
        lower = lower[np.argsort(np.arctan2(lower[:, 1] - mouth_y, lower[:, 0]))]
        inner = _ellipse(0, mouth_y + 0.02, p.mouth_half_width * p.eye_dx + 0.1, 0.16, 16)
        inner = inner[inner[:, 1] >= mouth_y - 0.05][::-1]
        poly = np.concatenate([lower, inner])
        color = beard_color if p.beard == 3 else _mix(skin, hair, 0.35)
        canvas.fill(face.proj(poly), color)


def _draw_hair(canvas: _Canvas, face: _Face, style: str, skin: np.ndarray, hair: np.ndarray) -> None:
    p, H = face.p, face.H
    # hair on the head
    if style != "bald":
        cap = face.hair_cap()
        top = p.hairline * H if style != "buzz" else (p.hairline - 0.1) * H
        # the hairline on the face surface, curving down to the temples
        hx = np.linspace(-1.1, 1.1, 23)
        hl = face.proj(np.stack([hx, top + 0.35 * H * hx ** 2], 1), None, 0.01)
        order = np.argsort(hl[:, 0])
        cap[:, 1] = np.minimum(cap[:, 1], np.interp(cap[:, 0], hl[order, 0], hl[order, 1]))
        color = hair if style != "buzz" else _mix(skin, hair, 0.6)
        canvas.fill(cap, color)
        if style == "fringe":
            n = 9
            xs = np.linspace(-0.85, 0.85, n)
            ys = np.full(n, top + 0.3 * H)
            ys[1::2] -= 0.12 * H
            fr = np.concatenate([np.stack([xs, ys], 1), [[0.85, top - 0.2], [-0.85, top - 0.2]]])
            canvas.fill(face.proj(fr, None, 0.02), hair * 0.95)


def _draw_eyes(canvas: _Canvas, face: _Face, style: str, skin: np.ndarray, hair: np.ndarray) -> None:
    """Brows, then eyes (open, or a closed lid line when the pose blinks)."""
    p, pose = face.p, face.pose
    # brows
    brow_color = hair * 0.8 if style not in ("bald",) else skin * 0.5
    eyes = face.eye_centres()
    for side, (ex, eyc) in zip((-1, 1), eyes):
        bx = np.linspace(-1.2, 1.2, 7) * p.eye_rx
        by = -p.brow_arch * (1 - (bx / (1.2 * p.eye_rx)) ** 2) + side * np.tan(np.radians(-p.brow_tilt)) * bx * 0.3
        pts = np.stack([ex + bx, eyc - p.brow_gap - p.eye_rx * p.eye_open * 0.5 + by], 1)
        canvas.line(face.proj(pts, None, 0.02), brow_color, p.brow_thickness)
    # eyes
    open_ = 0.08 if pose.blink else p.eye_open
    for side, (ex, eyc) in zip((-1, 1), eyes):
        tilt = -side * p.eye_tilt
        sclera = _ellipse(ex, eyc, p.eye_rx, p.eye_rx * open_, 20, tilt)
        if pose.blink:
            canvas.line(face.proj(sclera), skin * 0.4, 0.02, closed=True)
            continue
        canvas.fill(face.proj(sclera), (238, 236, 230))
        r = p.eye_rx * min(open_, 0.55) * 0.95
        canvas.fill(face.proj(_ellipse(ex, eyc, r, r, 16)), p.iris)
        canvas.fill(face.proj(_ellipse(ex, eyc, r * 0.45, r * 0.45, 12)), (15, 12, 12))
        upper_lid = np.concatenate([sclera[:1], sclera[:9:-1]])  # outer corner, over the top
        canvas.line(face.proj(upper_lid), (35, 25, 25), 0.03)


def _draw_nose(canvas: _Canvas, face: _Face, skin: np.ndarray) -> None:
    p = face.p
    kc = face.keypoints_canonical()
    eyes = face.eye_centres()
    # nose
    nose_tip = kc[2]
    ztip = face.z(kc[2:3])[0] + p.nose_length
    nw = p.nose_width
    nose_color = skin * 0.6
    if p.nose_style == 0:  # nostrils and a side shadow
        for s in (-1, 1):
            canvas.fill(face.proj(_ellipse(s * nw * 0.55, nose_tip[1] + 0.03, nw * 0.28, nw * 0.16, 10),
                                  ztip * 0.5), nose_color)
        side = np.array([[-nw * 0.45, eyes[0, 1] + 0.1], [-nw * 0.6, nose_tip[1] - 0.05]])
        canvas.line(face.proj(side, np.array([ztip * 0.6, ztip * 0.75])), skin * 0.78, 0.025)
    elif p.nose_style == 1:  # bridge line and base
        pts = np.array([[0.0, eyes[0, 1] + 0.08], [nw * 0.25, nose_tip[1] - 0.06], [0.0, nose_tip[1]]])
        canvas.line(face.proj(pts, np.array([ztip * 0.55, ztip * 0.9, ztip])), nose_color, 0.025)
        base = np.array([[-nw, nose_tip[1] + 0.02], [0.0, nose_tip[1] + 0.06], [nw, nose_tip[1] + 0.02]])
        canvas.line(face.proj(base, ztip * 0.6), nose_color, 0.025)
    else:  # a shaded triangle
        tri = np.array([[0.0, eyes[0, 1] + 0.12], [nw, nose_tip[1] + 0.03], [-nw, nose_tip[1] + 0.03]])
        canvas.fill(face.proj(tri, np.array([ztip * 0.55, ztip * 0.6, ztip * 0.6])), skin * 0.88)
        canvas.line(face.proj(tri[1:], ztip * 0.6), nose_color, 0.025)


def _draw_mouth(canvas: _Canvas, face: _Face, hair: np.ndarray) -> None:
    """Lips (parted when the pose opens the mouth), then a moustache or goatee."""
    p, H, pose = face.p, face.H, face.pose
    kc = face.keypoints_canonical()
    mouth_y = kc[3, 1]
    beard_color = hair * 0.9
    # mouth
    mw = kc[4, 0]  # the left mouth corner's x: half the mouth's width
    lip = p.lip_thickness
    open_h = 0.12 * pose.mouth_open
    xs = np.linspace(-1, 1, 9)
    curve = (1 - xs ** 2)
    upper = np.stack([xs * mw, mouth_y - curve * lip * 1.4 + 0.02 * np.abs(np.sin(xs * np.pi * 1.5)) * curve], 1)
    midline = np.stack([xs * mw, mouth_y + curve * (0.015 - p.smile * 0.3) ], 1)
    lower_line = np.stack([xs * mw, mouth_y + curve * (lip * 1.6 + open_h)], 1)
    if pose.mouth_open > 0.05:
        opening = np.stack([xs * mw * 0.92, mouth_y + curve * open_h + curve * 0.01], 1)
        canvas.fill(face.proj(np.concatenate([midline, opening[::-1]])), (60, 20, 25))
        canvas.fill(face.proj(np.concatenate([opening, lower_line[::-1]])), p.lips)
    else:
        canvas.fill(face.proj(np.concatenate([midline, lower_line[::-1]])), p.lips)
    canvas.fill(face.proj(np.concatenate([upper, midline[::-1]])), np.asarray(p.lips) * 0.9)
    canvas.line(face.proj(midline), np.asarray(p.lips) * 0.55, 0.015)
    # moustache / goatee
    if p.beard in (1, 3):
        must = np.stack([xs * (mw + 0.05), mouth_y - lip * 1.5 - 0.02 - 0.1 * curve], 1)
        must2 = np.stack([xs * (mw + 0.05), mouth_y - lip * 1.5 + 0.02 * (1 - curve)], 1)
        canvas.fill(face.proj(np.concatenate([must, must2[::-1]])), beard_color)
    if p.beard == 2:  # between the lower lip and the chin
        lip_low = mouth_y + lip * 1.6 + open_h
        chin = H * 0.97
        if chin - lip_low > 0.06:
            gy, gr = (lip_low + chin) / 2, (chin - lip_low) / 2
            canvas.fill(face.proj(_ellipse(0, gy, 0.16, gr, 14)), beard_color)


def _draw_glasses(canvas: _Canvas, face: _Face) -> None:
    p = face.p
    eyes = face.eye_centres()
    # glasses
    if p.glasses:
        gc = p.glasses_color
        r = p.eye_rx * 1.55
        lenses = []
        for ex, eyc in eyes:
            if p.glasses == 2:
                lens = np.array([[ex - r, eyc - r * 0.7], [ex + r, eyc - r * 0.7],
                                 [ex + r, eyc + r * 0.7], [ex - r, eyc + r * 0.7]])
            else:
                lens = _ellipse(ex, eyc, r, r * 0.8, 24)
            lenses.append(face.proj(lens, None, 0.06))
        if p.glasses == 3:
            canvas.fill(lenses, (25, 25, 30))
        for lens in lenses:
            canvas.line(lens, gc, 0.03, closed=True)
        bridge = np.array([[eyes[0, 0] + r, eyes[0, 1]], [eyes[1, 0] - r, eyes[1, 1]]])
        canvas.line(face.proj(bridge, None, 0.1), gc, 0.03)
        for s, (ex, eyc) in zip((-1, 1), eyes):
            temple = np.array([[ex + s * r, eyc], [s * 0.95, eyc + 0.05]])
            canvas.line(face.proj(temple, np.array([face.z(temple[:1])[0] + 0.06, 0.0])), gc, 0.025)


def _similarity(pose: Pose) -> np.ndarray:
    a = math.radians(pose.roll)
    c, s = math.cos(a) * pose.scale, math.sin(a) * pose.scale
    return np.array([[c, -s, pose.cx], [s, c, pose.cy]])


def _umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    R = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / s.var(0).sum()
    M = np.empty((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = mu_d - scale * R @ mu_s
    return M


def draw_face(image: np.ndarray, params: IdentityParams, pose: Pose, body: bool = True,
              M: np.ndarray | None = None,
              light: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face into ``image`` (HxWx3 uint8, in place); return its box (4,) and
    keypoints (5, 2) in continuous pixel coordinates. ``M`` (2x3, from projected face
    coordinates to pixels) overrides the placement taken from ``pose`` (cx, cy, scale,
    roll); ``light`` = (angle in radians, strength 0..1) shades the head."""
    _need_cv2()
    face = _Face(params, pose)
    M = _similarity(pose) if M is None else M
    canvas = _Canvas(image, M)
    _draw_face(canvas, face, body)
    if light is not None:
        _shade(canvas, face, *light)
    sk = np.concatenate(face.skin_polygons())
    xy = sk @ M[:, :2].T + M[:, 2]
    box = np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])
    kps = face.keypoints() @ M[:, :2].T + M[:, 2]
    return box.astype(np.float32), kps.astype(np.float32)


def face_extent(params: IdentityParams, pose: Pose, M: np.ndarray | None = None) -> np.ndarray:
    """The box ``draw_face`` would return, without drawing."""
    face = _Face(params, pose)
    M = _similarity(pose) if M is None else M
    xy = np.concatenate(face.skin_polygons()) @ M[:, :2].T + M[:, 2]
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()], np.float32)


# ----------------------------------------------------------------------------- backgrounds

_PHOTO_NAMES = ("brick", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel",
                "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket",
                "text", "cell", "checkerboard")
_photos_cache: list[np.ndarray] | None = None


def _photos() -> list[np.ndarray]:
    """scikit-image's bundled sample images without people in them (astronaut and camera
    are left out: they hold unlabelled faces), at most 512 pixels a side; [] when
    scikit-image is not installed."""
    global _photos_cache
    if _photos_cache is None:
        found = []
        try:
            import skimage.data as data
        except ImportError:  # pragma: no cover
            data = None
        for name in _PHOTO_NAMES if data is not None else ():
            try:
                img = np.asarray(getattr(data, name)())
            except Exception:  # noqa: BLE001 - a missing optional image is no error
                continue
            if img.dtype != np.uint8:
                img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, 2)
            img = np.ascontiguousarray(img[:, :, :3])
            side = max(img.shape[:2])
            if side > 512:
                f = 512 / side
                img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)),
                                 interpolation=cv2.INTER_AREA)
            found.append(img)
        _photos_cache = found
    return _photos_cache


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One random background: a photo crop, smooth noise, a gradient, flat colour, or
    clutter (shapes, some of them skin-coloured ellipses without a face)."""
    _need_cv2()
    kind = rng.choice(5, p=[0.4, 0.15, 0.15, 0.2, 0.1])
    photos = _photos() if kind == 0 else []
    if kind == 0 and photos:
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        f = rng.uniform(0.25, 1.0)
        ch, cw = max(8, int(h * f)), max(8, int(w * f))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out = cv2.resize(img[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_LINEAR)
        if rng.uniform() < 0.5:
            out = out[:, ::-1]
        if rng.uniform() < 0.5:  # tint (grey photos become coloured)
            out = np.clip(out * rng.uniform(0.6, 1.2, 3), 0, 255).astype(np.uint8)
        out = np.ascontiguousarray(out)
    elif kind == 1:
        k = int(rng.integers(2, 12))
        low = rng.uniform(0, 255, (k, k, 3)).astype(np.float32)
        out = np.clip(cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    elif kind == 2:
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        t = (np.cos(a) * xx / width + np.sin(a) * yy / height)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        out = (c0 + (c1 - c0) * t[:, :, None]).astype(np.uint8)
    else:
        out = np.empty((height, width, 3), np.uint8)
        out[:] = rng.integers(0, 256, 3).astype(np.uint8)
    if kind == 3 or (kind == 0 and rng.uniform() < 0.3):
        _clutter(out, rng, int(rng.integers(3, 15)))
    return out


def _clutter(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    h, w = img.shape[:2]
    s = max(h, w)
    for _ in range(n):
        kind = rng.integers(4)
        color = _color(rng.uniform(0, 255, 3))
        if kind == 3:  # skin-coloured blob: a hard negative
            color = _color(_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 10, 3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.03, 0.25) * s
        if kind == 0:
            cv2.rectangle(img, (int(cx - r), int(cy - r * rng.uniform(0.3, 1.5))),
                          (int(cx + r), int(cy + r)), color, -1 if rng.uniform() < 0.7 else 2)
        elif kind == 1:
            cv2.line(img, (int(cx), int(cy)), (int(rng.uniform(0, w)), int(rng.uniform(0, h))), color,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            cv2.ellipse(img, (int(cx), int(cy)), (int(r), int(r * rng.uniform(0.5, 1.5))),
                        float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)


# ----------------------------------------------------------------------------- effects


def _occlude(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Cover part of a face: a bar, a blob, a hand-ish skin-coloured ellipse, a mask."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    kind = rng.integers(4)
    if kind == 3:  # a face mask over the lower half
        pts = np.array([[x1 + 0.1 * w, y1 + 0.55 * h], [x2 - 0.1 * w, y1 + 0.55 * h],
                        [x2 - 0.2 * w, y2 - 0.02 * h], [x1 + 0.2 * w, y2 - 0.02 * h]])
        color = _color(rng.choice([[230, 230, 235], [90, 150, 210], [30, 30, 35]]) + rng.normal(0, 8, 3))
        cv2.fillPoly(img, [np.round((pts - 0.5) * _ONE).astype(np.int32)], color, cv2.LINE_AA, _SHIFT)
        return
    cx, cy = x1 + rng.uniform(0, 1) * w, y1 + rng.uniform(0, 1) * h
    rx, ry = rng.uniform(0.15, 0.45) * w, rng.uniform(0.1, 0.35) * h
    color = _color(rng.uniform(0, 255, 3))
    if kind == 2:
        color = _color(_SKIN[rng.integers(len(_SKIN))])
    if kind == 0:
        a = rng.uniform(0, np.pi)
        d = np.array([np.cos(a), np.sin(a)]) * max(w, h)
        p0, p1 = np.array([cx, cy]) - d * 0.4, np.array([cx, cy]) + d * 0.4
        cv2.line(img, tuple(np.round(p0 * _ONE).astype(int)), tuple(np.round(p1 * _ONE).astype(int)),
                 color, max(1, int(ry * 0.6)), cv2.LINE_AA, _SHIFT)
    else:
        cv2.ellipse(img, (int(cx), int(cy)), (max(1, int(rx)), max(1, int(ry))),
                    float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)


def _shade(canvas: _Canvas, face: _Face, angle: float, strength: float) -> None:
    """Directional light on one head: a linear brightness ramp across the head (skin and
    hair), ``strength`` the relative change from the head's centre to its edge."""
    img = canvas.image
    h, w = img.shape[:2]
    polys = face.skin_polygons()
    if face.p.hair_style != 0:
        polys.append(face.hair_cap())
    pts = [canvas.pts(p) for p in polys]
    allp = np.concatenate(pts) / _ONE
    x0, y0 = np.floor(allp.min(0)).astype(int) - 1
    x1, y1 = np.ceil(allp.max(0)).astype(int) + 2
    a0, b0, a1, b1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if a1 - a0 < 2 or b1 - b0 < 2:
        return
    mask = np.zeros((b1 - b0, a1 - a0), np.uint8)
    off = np.array([a0, b0]) * int(_ONE)
    for p in pts:
        cv2.fillPoly(mask, [p - off], 255, cv2.LINE_AA, _SHIFT)
    half = max(x1 - x0, y1 - y0) / 2
    xs = (np.arange(a0, a1, dtype=np.float32) - (x0 + x1) / 2) / half
    ys = (np.arange(b0, b1, dtype=np.float32) - (y0 + y1) / 2) / half
    ramp = strength * (math.cos(angle) * xs[None, :] + math.sin(angle) * ys[:, None])
    factor = 1 + ramp * (mask.astype(np.float32) / 255)
    roi = img[b0:b1, a0:a1]
    roi[:] = np.clip(roi * factor[:, :, None], 0, 255).astype(np.uint8)


def _finish(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Global lighting, colour cast, blur, noise and JPEG artefacts."""
    f = img.astype(np.float32)
    gain = rng.uniform(1 - 0.35 * strength, 1 + 0.25 * strength)
    cast = 1 + rng.normal(0, 0.05 * strength, 3)
    f = f * (gain * cast).astype(np.float32) + np.float32(rng.uniform(-20, 20) * strength)
    if rng.uniform() < 0.3:  # contrast
        c = rng.uniform(0.6, 1.3)
        f = (f - 128) * c + 128
    if rng.uniform() < 0.35 * strength:  # blur (focus or motion)
        if rng.uniform() < 0.7:
            sigma = rng.uniform(0.4, 1.6) * max(1.0, img.shape[0] / 128)
            f = cv2.GaussianBlur(f, (0, 0), sigma)
        else:
            k = int(rng.integers(3, 8))
            kern = np.zeros((k, k), np.float32)
            kern[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            kern = cv2.warpAffine(kern, rot, (k, k))
            kern /= max(kern.sum(), 1e-6)
            f = cv2.filter2D(f, -1, kern)
    if rng.uniform() < 0.6:
        noise = rng.standard_normal(f.shape, dtype=np.float32)
        noise *= np.float32(rng.uniform(1, 8) * strength)
        f += noise
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.uniform() < 0.2 * strength:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return out


def _light(rng: np.random.Generator, p: float) -> tuple[float, float] | None:
    angle, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.5)
    return (angle, strength) if rng.uniform() < p else None


def _random_pose(rng: np.random.Generator, cx: float, cy: float, scale: float, strong: bool) -> Pose:
    u = rng.uniform
    if strong:
        return Pose(cx, cy, scale, yaw=float(np.clip(rng.normal(0, 18), -40, 40)) if u() < 0.85 else u(-40, 40),
                    pitch=float(np.clip(rng.normal(0, 8), -20, 20)), roll=float(np.clip(rng.normal(0, 10), -35, 35)),
                    smile=u(-1, 1), mouth_open=u(0, 1) if u() < 0.2 else 0.0, blink=u() < 0.05)
    return Pose(cx, cy, scale, yaw=float(np.clip(rng.normal(0, 8), -20, 20)),
                pitch=float(np.clip(rng.normal(0, 5), -12, 12)), roll=0.0,
                smile=u(-1, 1), mouth_open=u(0, 1) if u() < 0.15 else 0.0, blink=u() < 0.03)


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two face boxes, grown by a margin for hair, overlap by more than a fifth
    of the smaller one."""
    def grow(x):
        w, h = x[2] - x[0], x[3] - x[1]
        return np.array([x[0] - 0.15 * w, x[1] - 0.3 * h, x[2] + 0.15 * w, x[3] + 0.05 * h])
    a, b = grow(a), grow(b)
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return False
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih > 0.2 * smaller


def _below(face: np.ndarray, other: np.ndarray) -> bool:
    """Whether the neck and shoulders under ``face`` would reach into box ``other``."""
    w, h = face[2] - face[0], face[3] - face[1]
    body = (face[0] - 0.6 * w, face[1] + 0.6 * h, face[2] + 0.6 * w, face[3] + 2.5 * h)
    return (min(body[2], other[2]) > max(body[0], other[0])
            and min(body[3], other[3]) > max(body[1], other[1]))


# ----------------------------------------------------------------------------- datasets


class SyntheticDetectionSet:
    """``n`` lazily generated detection images of ``size`` x ``size``; sample ``i`` is a
    pure function of (seed, i)."""

    def __init__(self, gen: "SyntheticFaces", n: int, size: int, max_faces: int,
                 min_face: float, max_face: float, empty_fraction: float):
        self.gen, self.n, self.size, self.max_faces = gen, int(n), int(size), int(max_faces)
        self.min_face, self.max_face, self.empty_fraction = min_face, max_face, empty_fraction

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> DetectionSample:
        index = _check_index(index, self.n)
        return self.gen.detection_sample(index, self.size, self.max_faces, self.min_face,
                                         self.max_face, self.empty_fraction)

    def __repr__(self) -> str:
        return f"SyntheticDetectionSet(n={self.n}, size={self.size}, seed={self.gen.seed})"


class SyntheticRecognitionSet:
    """``num_identities`` x ``per_identity`` aligned face crops; label = identity."""

    def __init__(self, gen: "SyntheticFaces", num_identities: int, per_identity: int, size: int,
                 identity_offset: int = 0):
        self.gen, self.size = gen, int(size)
        self.num_identities, self.per_identity = int(num_identities), int(per_identity)
        self.identity_offset = int(identity_offset)
        self.identity_names = [f"synthetic_{identity_offset + k:07d}" for k in range(self.num_identities)]

    def __len__(self) -> int:
        return self.num_identities * self.per_identity

    def __getitem__(self, index: int) -> IdentitySample:
        index = _check_index(index, len(self))
        label = index // self.per_identity
        image = self.gen.face_crop(self.identity_offset + label, (_STREAM_RECOGNITION, index), self.size)
        return IdentitySample(image, label, f"synthetic:{self.gen.seed}:{index}")

    def __repr__(self) -> str:
        return (f"SyntheticRecognitionSet(num_identities={self.num_identities}, "
                f"per_identity={self.per_identity}, size={self.size}, seed={self.gen.seed})")


class SyntheticPair(Pair):
    """A pair whose crops are rendered on access (nothing is kept in memory)."""

    def __init__(self, gen: "SyntheticFaces", ids: tuple[int, int], keys: tuple, size: int,
                 same: bool, fold: int, source: str):
        self._gen, self._ids, self._keys, self._size = gen, ids, keys, size
        self.same, self.fold, self.source = same, fold, source

    @property
    def a(self) -> np.ndarray:  # type: ignore[override]
        return self._gen.face_crop(self._ids[0], self._keys[0], self._size)

    @property
    def b(self) -> np.ndarray:  # type: ignore[override]
        return self._gen.face_crop(self._ids[1], self._keys[1], self._size)

    def __repr__(self) -> str:
        return f"SyntheticPair(ids={self._ids}, same={self.same}, fold={self.fold})"


def _check_index(index, n: int) -> int:
    index = int(index)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise IndexError(f"index {index} out of range for a set of {n}")
    return index


class SyntheticFaces:
    """The synthetic face generator. Deterministic in ``seed``: the same seed gives the
    same identities and the same images, bit for bit, on every run (same numpy and
    OpenCV versions)."""

    def __init__(self, seed: int = 0):
        _need_cv2()
        self.seed = int(seed)
        self._identities: dict[int, IdentityParams] = {}

    # identities
    def identity(self, k: int) -> IdentityParams:
        """The parameters of identity ``k`` (any non-negative integer)."""
        k = int(k)
        params = self._identities.get(k)
        if params is None:
            params = random_identity(_rng(self.seed, _STREAM_IDENTITY, k), k)
            if len(self._identities) >= 65536:  # a bounded cache: recognition sets reuse them
                self._identities.clear()
            self._identities[k] = params
        return params

    # rendering
    def render(self, params: IdentityParams, pose: Pose, size: int | tuple[int, int] = 128,
               bg: np.ndarray | Sequence[int] | None = None, body: bool = True,
               M: np.ndarray | None = None) -> DetectionSample:
        """One face on a background, no effects: ``bg`` an HxWx3 image, an RGB colour, or
        None (mid grey). ``size`` is an int (square) or (height, width)."""
        h, w = (size, size) if isinstance(size, (int, np.integer)) else size
        if isinstance(bg, np.ndarray) and bg.ndim == 3:
            image = np.ascontiguousarray(bg, np.uint8).copy()
        else:
            image = np.empty((h, w, 3), np.uint8)
            image[:] = np.asarray((128, 128, 128) if bg is None else bg, np.uint8)
        box, kps = draw_face(image, params, pose, body=body, M=M)
        return DetectionSample(image, box[None], kps[None], "synthetic:render")

    def detection_sample(self, index: int, size: int = 128, max_faces: int = 3,
                         min_face: float = 0.06, max_face: float = 0.75,
                         empty_fraction: float = 0.1) -> DetectionSample:
        """Image ``index`` of a detection set: 0..max_faces faces with box widths drawn
        log-uniformly between ``min_face`` and ``max_face`` of the image side."""
        rng = _rng(self.seed, _STREAM_DETECTION, index)
        img = background(rng, size, size)
        n = 0 if (rng.uniform() < empty_fraction or max_faces == 0) else int(
            rng.choice(np.arange(1, max_faces + 1), p=_face_count_p(max_faces)))
        # plan the faces first, then draw the large (near) ones before the small ones, so
        # no labelled face is hidden behind another face's hair or body
        plan: list[tuple[IdentityParams, Pose, np.ndarray]] = []
        lo = max(min_face * size, 6.0)
        for f in range(n):
            hi = max_face * size / (1 + 0.5 * f)
            params = self.identity(int(rng.integers(0, 2 ** 40)))
            for _ in range(8):  # find a place that overlaps the others little
                width = math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo * 1.01))))
                pose = _random_pose(rng, 0.0, 0.0, width / 2.3, strong=True)
                ext = face_extent(params, pose)
                if ext[2] - ext[0] >= size or ext[3] - ext[1] >= size:
                    continue
                cx = rng.uniform(-ext[0], size - ext[2])
                cy = rng.uniform(-ext[1], size - ext[3])
                ext = ext + np.array([cx, cy, cx, cy], np.float32)
                if any(_overlap(ext, other[2]) for other in plan):
                    continue
                plan.append((params, replace(pose, cx=cx, cy=cy), ext))
                break
        plan.sort(key=lambda t: -(t[2][2] - t[2][0]))
        boxes, kpss = [], []
        for params, pose, ext in plan:
            body = rng.uniform() < 0.7 and not any(_below(ext, b) for b in boxes)
            box, kps = draw_face(img, params, pose, body=body, light=_light(rng, 0.6))
            if rng.uniform() < 0.15:
                _occlude(img, box, rng)
            boxes.append(box)
            kpss.append(kps)
        img = _finish(img, rng)
        boxes_a = np.array(boxes, np.float32).reshape(-1, 4)
        boxes_a[:, [0, 2]] = np.clip(boxes_a[:, [0, 2]], 0, size)
        boxes_a[:, [1, 3]] = np.clip(boxes_a[:, [1, 3]], 0, size)
        return DetectionSample(img, boxes_a, np.array(kpss, np.float32).reshape(-1, 5, 2),
                               f"synthetic:{self.seed}:{index}")

    def face_crop(self, identity: int, key, size: int = 112, jitter: float = 1.0) -> np.ndarray:
        """An aligned-ish crop of ``identity``: keypoints near the ArcFace template (scaled
        to ``size``) up to a small random similarity (``jitter`` 1 = about 3 degrees,
        4 % scale, 2 % shift); ``key`` (an int or a tuple of ints) picks the variation."""
        return self.crop_sample(identity, key, size, jitter).image

    def crop_sample(self, identity: int, key, size: int = 112, jitter: float = 1.0) -> DetectionSample:
        """``face_crop`` with its label: the face's box and keypoints in the crop."""
        key = key if isinstance(key, tuple) else (key,)
        rng = _rng(self.seed, *key)
        params = self.identity(identity)
        if rng.uniform() < 0.08 and params.glasses in (1, 2):  # glasses off now and then
            params = replace(params, glasses=0)
        pose = _random_pose(rng, 0.0, 0.0, 1.0, strong=False)
        face = _Face(params, pose)
        M = _umeyama(face.keypoints(), ARCFACE_112 * (size / 112.0))
        a = math.radians(rng.normal(0, 3) * jitter)
        sc = 1 + rng.normal(0, 0.04) * jitter
        J = np.array([[math.cos(a) * sc, -math.sin(a) * sc], [math.sin(a) * sc, math.cos(a) * sc]])
        c = np.array([size / 2, size / 2])
        t = c - J @ c + rng.normal(0, 0.02 * size, 2) * jitter
        M = np.concatenate([J @ M[:, :2], (J @ M[:, 2] + t)[:, None]], 1)
        img = background(rng, size, size)
        box, kps = draw_face(img, params, pose, body=True, M=M, light=_light(rng, 0.5))
        if rng.uniform() < 0.08:
            _occlude(img, box, rng)
        return DetectionSample(_finish(img, rng, strength=0.6), box[None], kps[None],
                               f"synthetic:{self.seed}:identity:{identity}:{':'.join(map(str, key))}")

    # sets
    def detection_set(self, n: int, size: int = 128, max_faces: int = 3, min_face: float = 0.06,
                      max_face: float = 0.75, empty_fraction: float = 0.1) -> SyntheticDetectionSet:
        """A lazy detection set of ``n`` square images."""
        return SyntheticDetectionSet(self, n, size, max_faces, min_face, max_face, empty_fraction)

    def recognition_set(self, num_identities: int, per_identity: int, size: int = 112,
                        identity_offset: int = 0) -> SyntheticRecognitionSet:
        """A lazy recognition set: identities ``identity_offset ..`` + num_identities - 1,
        labelled 0..num_identities-1, ``per_identity`` crops each."""
        return SyntheticRecognitionSet(self, num_identities, per_identity, size, identity_offset)

    def pairs(self, num_identities: int = 100, pairs_per_fold: int = 60, size: int = 112,
              identity_offset: int = PAIR_IDENTITY_OFFSET, folds: int = 10) -> list[Pair]:
        """LFW-style verification pairs on held-out identities (``identity_offset`` and up,
        disjoint from recognition sets that start at 0 and hold fewer than a million).
        Identity ``k`` belongs to fold ``k % folds`` only (folds share no person, as in
        LFW); each fold has ``pairs_per_fold // 2`` same-person pairs, then as many
        different-person pairs. Crops are rendered on access."""
        if num_identities < 2 * folds:
            raise ValueError(f"pairs() needs at least {2 * folds} identities (2 per fold), got {num_identities}")
        out: list[Pair] = []
        half = pairs_per_fold // 2
        for fold in range(folds):
            ids = np.arange(fold, num_identities, folds) + identity_offset
            for p in range(2 * half):
                rng = _rng(self.seed, _STREAM_PAIRS, fold, p)
                same = p < half
                if same:
                    i = int(rng.choice(ids))
                    pair_ids = (i, i)
                else:
                    i, j = rng.choice(ids, 2, replace=False)
                    pair_ids = (int(i), int(j))
                keys = ((_STREAM_PAIRS, fold, p, 0), (_STREAM_PAIRS, fold, p, 1))
                out.append(SyntheticPair(self, pair_ids, keys, size, same, fold,
                                         f"synthetic:{self.seed}:pair:{fold}:{p}"))
        return out


def _face_count_p(max_faces: int) -> np.ndarray:
    p = 1.0 / np.arange(1, max_faces + 1) ** 1.2
    return p / p.sum()
