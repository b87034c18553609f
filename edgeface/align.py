"""Face alignment: a least-squares similarity transform from detected keypoints to the
embedder's template, and the warp that cuts the face chip.

Keypoints are matched to template points by name (the detector's ``keypoint_names``
and the embedder's ``alignment.template``), so a 6-point BlazeFace detector and a
5-point SCRFD detector both align to the same ArcFace template. Names are from the
subject's point of view: ``right_eye`` is the eye on the image's left.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.bundle import AlignmentSpec
from edgeface.cards.presets import ARCFACE_TEMPLATE  # noqa: F401  (its public name here since 0.1)
from edgeface.errors import ManifestError

try:  # an optional speed-up, never required
    import cv2 as _cv2
except ImportError:  # pragma: no cover - depends on the environment
    _cv2 = None



def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of rotation, uniform scale and translation (no reflection) that maps
    ``src`` (N, 2) points closest to ``dst`` (N, 2) in least squares (Umeyama, 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s ** 2).sum() / len(src)
    if var <= 1e-12:
        raise ValueError("keypoints are all at one place: cannot align")
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - matrix[:, :2] @ mu_s
    return matrix


def warp_affine_numpy(image: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear warp of HxWx3 uint8 by the 2x3 forward ``matrix``; outside is black."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = np.floor(src_x).astype(np.intp), np.floor(src_y).astype(np.intp)
    fx, fy = (src_x - x0)[..., None], (src_y - y0)[..., None]
    h, w = image.shape[:2]

    def tap(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        values = image[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(np.float32)
        return values * inside[..., None]

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def warp_affine_pillow(image: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same warp by Pillow (a dependency already): about 4x faster than
    warp_affine_numpy on a 112x112 chip, within one grey level of it away from the image's
    edges (at the edges Pillow samples outside pixels its own way)."""
    from PIL import Image

    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2].copy()
    # Pillow puts pixel centres at +0.5 on both sides: shift so that they meet integer centres
    inverse[:, 2] += 0.5 - 0.5 * inverse[:, 0] - 0.5 * inverse[:, 1]
    picture = Image.fromarray(np.ascontiguousarray(image))
    warped = picture.transform((width, height), Image.Transform.AFFINE, data=tuple(inverse.ravel()),
                               resample=Image.Resampling.BILINEAR, fillcolor=(0,) * len(picture.getbands()))
    return np.asarray(warped)


def warp_affine(image: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV's warp where it is installed, else Pillow's. warp_affine_numpy stays the
    reference: the native core's warp and its goldens are held to it."""
    if _cv2 is not None:
        return _cv2.warpAffine(image, matrix, (width, height), flags=_cv2.INTER_LINEAR,
                               borderMode=_cv2.BORDER_CONSTANT, borderValue=0)
    return warp_affine_pillow(image, matrix, width, height)


class Aligner:
    """Cuts embedder-ready chips from an image given each face's detected keypoints."""

    def __init__(self, spec: AlignmentSpec, keypoint_names: Sequence[str]):
        template = dict(spec.template)
        corners = ("mouth_left", "mouth_right")
        if "mouth_center" not in template and all(c in template for c in corners):
            # Detectors such as BlazeFace give the mouth centre, not its corners.
            template["mouth_center"] = tuple(np.mean([template[c] for c in corners], axis=0))
        self.indices = [i for i, n in enumerate(keypoint_names) if n in template]
        if len(self.indices) < 2:
            raise ManifestError(
                f"the detector's keypoints ({', '.join(keypoint_names) or 'none named'}) share fewer "
                f"than 2 names with the embedder's alignment template ({', '.join(spec.template)}): "
                f"name them in models.detector.keypoint_names")
        self.template = np.array([template[keypoint_names[i]] for i in self.indices], np.float64)
        self.names = tuple(keypoint_names)
        self.width, self.height = spec.width, spec.height

    def matrix(self, keypoints: np.ndarray) -> np.ndarray:
        return similarity_transform(np.asarray(keypoints)[self.indices], self.template)

    def chips(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """(N, P, 2) keypoints in image pixels -> (N, height, width, 3) uint8 chips."""
        out = np.zeros((len(keypoints), self.height, self.width, 3), np.uint8)
        for i, points in enumerate(keypoints):
            try:
                out[i] = warp_affine(image, self.matrix(points), self.width, self.height)
            except (ValueError, np.linalg.LinAlgError):
                pass  # degenerate keypoints: a black chip, which embeds far from any face
        return out


def landmark_aligner(spec: AlignmentSpec, point_groups: dict[str, tuple[int, ...]]) -> "Aligner | None":
    """An aligner from a landmark model's group centres onto ``spec.landmark_template``
    (None when the spec has no landmark template or the model lacks one of its groups)."""
    names = tuple(spec.landmark_template)
    if not names or any(name not in point_groups for name in names):
        return None
    return Aligner(AlignmentSpec(width=spec.width, height=spec.height, template=dict(spec.landmark_template)), names)
