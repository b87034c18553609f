"""Faces re-rendered from one photograph at a known head pose and expression, and the
same photograph moved as a flat print: the test material for head pose, blinks and
smiles, and the live/attack material of the liveness evaluation (issue 20).

``FaceModel.fit`` takes a photograph and its dense landmarks (x, y in pixels, z the
model's relative depth on the same scale) and textures the mesh (a Delaunay
triangulation of the points) from the photograph. ``render`` turns the mesh in 3-D by a
yaw, pitch and roll about its centre (signs as ``edgeface.face_signals.head_pose``:
yaw > 0 towards the image's right, pitch > 0 chin up, roll > 0 clockwise), optionally
moves named point groups (closing the eyes, widening the mouth), projects it
orthographically and draws it back to front (hidden triangles culled) over the
photograph, whose own face is first blurred so that no second face shows. What this cannot render: the sides of the head the photograph does not show
(turns beyond about 30 degrees smear the cheeks), hair, ears and the teeth behind an
opened mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeface.landmarks import Landmarks


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """The 3x3 rotation (camera axes: x right, y down, z away) of a head turned by these
    degrees, signed as ``edgeface.face_signals.head_pose`` reads them."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class FaceModel:
    image: np.ndarray  # (H, W, 3) uint8 the texture comes from
    points: np.ndarray  # (P, 3) the face's landmarks in it
    triangles: np.ndarray  # (T, 3) point indices
    groups: dict[str, tuple[int, ...]]

    @classmethod
    def fit(cls, image: np.ndarray, landmarks: Landmarks, face: int = 0) -> "FaceModel":
        from scipy.spatial import Delaunay

        points = np.asarray(landmarks.points[face], np.float64)
        return cls(np.asarray(image), points, Delaunay(points[:, :2]).simplices, dict(landmarks.groups))

    def posed(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
              moves: dict[str, tuple[float, float, float]] | None = None) -> np.ndarray:
        """(P, 3) the points after ``moves`` (group name -> x, y, z shift in pixels, in the
        face's own upright frame) and the turn, about the points' centre."""
        points = self.points.copy()
        for name, shift in (moves or {}).items():
            points[list(self.groups[name])] += shift
        centre = self.points.mean(axis=0)
        return (points - centre) @ rotation(yaw, pitch, roll).T + centre

    def render(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
               moves: dict[str, tuple[float, float, float]] | None = None) -> np.ndarray:
        """The photograph with its face re-drawn at this pose and expression."""
        target = self.posed(yaw, pitch, roll, moves)
        canvas = _without_face(self.image, self.points[:, :2], self.triangles)
        visible = _facing(self.points[:, :2], target[:, :2], self.triangles)
        order = visible[np.argsort(-target[self.triangles[visible], 2].mean(axis=1))]  # far first
        ids = _rasterise(target[:, :2], self.triangles[order], canvas.shape[:2])
        ys, xs = np.nonzero(ids >= 0)
        tri = order[ids[ys, xs]]
        source = _source_of(xs, ys, target[:, :2], self.points[:, :2], self.triangles[tri])
        canvas[ys, xs] = _sample(self.image, source[:, 0], source[:, 1])
        return canvas


def _facing(before: np.ndarray, after: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Indices of the triangles whose winding the turn kept (the others face away)."""
    def winding(points):
        a, b, c = (points[triangles[:, k]] for k in range(3))
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return np.flatnonzero(np.sign(winding(before)) == np.sign(winding(after)))


def _rasterise(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) the index (into ``triangles``) of the last triangle drawn on each pixel, -1
    where none is."""
    from PIL import Image, ImageDraw

    ids = Image.new("I", (shape[1], shape[0]), -1)
    draw = ImageDraw.Draw(ids)
    for i, triangle in enumerate(triangles):
        draw.polygon([tuple(p) for p in points[triangle]], fill=i)
    return np.asarray(ids)


def _source_of(xs: np.ndarray, ys: np.ndarray, target: np.ndarray, source: np.ndarray,
               triangles: np.ndarray) -> np.ndarray:
    """Each pixel's position in the photograph: the same barycentric coordinates in its
    triangle's source corners as in its target corners."""
    a, b, c = (target[triangles[:, k]] for k in range(3))
    v0, v1, v2 = b - a, c - a, np.stack([xs, ys], axis=1) - a
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    u = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / det
    v = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / det
    sa, sb, sc = (source[triangles[:, k]] for k in range(3))
    return sa + u[:, None] * (sb - sa) + v[:, None] * (sc - sa)


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at (xs, ys), clamped to its edges."""
    h, w = image.shape[:2]
    xs, ys = np.clip(xs, 0, w - 1.001), np.clip(ys, 0, h - 1.001)
    x0, y0 = xs.astype(np.intp), ys.astype(np.intp)
    fx, fy = (xs - x0)[:, None], (ys - y0)[:, None]
    pixels = image.astype(np.float32)
    top = pixels[y0, x0] * (1 - fx) + pixels[y0, x0 + 1] * fx
    bottom = pixels[y0 + 1, x0] * (1 - fx) + pixels[y0 + 1, x0 + 1] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def _without_face(image: np.ndarray, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """A copy of ``image`` whose face (grown by 2 %) is blurred past recognition, so
    that a turned face does not show the original's features beside it, while the skin
    and hair colours around stay."""
    from PIL import Image, ImageFilter

    centre = points.mean(axis=0)
    inside = _rasterise((points - centre) * 1.02 + centre, triangles, image.shape[:2]) >= 0
    radius = max(4.0, 0.15 * float(np.ptp(points[:, 0])))
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=radius)))
    out = image.copy()
    out[inside] = blurred[inside]
    return out
