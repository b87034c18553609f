"""Does a face's image move as a flat picture's does? The texture test of passive liveness.

Two camera images of a plane (a print, a phone's screen) differ by one homography: warp
one by it and it matches the other pixel for pixel, whatever the plane's tilt. Two images
of a head that turned do not: the nose moves across the cheeks, one side of the face
hides behind it. ``texture_residual`` finds the homography that best maps one face image
onto the other (started from the landmarks, refined on the pixels themselves by
Gauss-Newton on their normalised correlation, which exposure and contrast do not change
and which, unlike a least-squares fit with a free gain, cannot be won by shrinking the
face onto a flat patch) and returns what it leaves.

Judging pixels rather than landmarks is the point: the landmark model has a 3-D face
prior, and reads a tilted photograph as a head turning, with parallax of its own making;
the pixels of a photograph have none. Frames are first reduced to ``FaceCrop``s: grey,
scaled so the eyes are ``EYE_PX`` apart, low-passed (sensor noise, focus differences and
a screen's moiré are finer than the face's features), so that the cost and memory per
frame do not depend on the camera's resolution.

Not covered: a specular glare sliding across a glossy print or screen adds residual that
no homography explains, as does a print bent while it moves (the evaluation set's glare
replays measure the first: docs/landmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeface.image import to_rgb

EYE_PX = 40.0  # crops are scaled so that the eye centres are this many pixels apart
BLUR = 0.06  # the low-pass's Gaussian sigma, over the eye distance
REGION = 0.85  # the region compared: the landmarks' convex hull, shrunk about its centre
MIN_CONTRAST = 2.0  # grey levels: a face region flatter than this has no texture to judge
MIN_SAMPLES = 200  # pixels of the region the fit must keep in view
ITERATIONS = 30
SAMPLES = 3000


@dataclass(frozen=True)
class FaceCrop:
    """One frame's face, ready for ``texture_residual``."""

    grey: np.ndarray  # (h, w) float32, low-passed, eyes EYE_PX apart
    points: np.ndarray  # (P, 2) float64 the face's landmarks in it
    anchors: np.ndarray  # (K, 2) float64 the rigid features among them: the fit starts from these


def face_crop(frame: np.ndarray, points: np.ndarray, anchors: np.ndarray, eye_distance: float) -> FaceCrop:
    """The face of ``frame`` (H, W, 3) uint8 around its landmarks ``points`` (P, 2+) pixels,
    ``anchors`` (K, 2+) the rigid ones, the eyes ``eye_distance`` pixels apart. A frame of
    another type or shape is an ``ImageError`` (``edgeface.image.to_rgb`` checks it)."""
    from PIL import Image, ImageFilter

    frame = to_rgb(frame, name="liveness frame")
    scale = EYE_PX / max(float(eye_distance), 1e-6)
    points, anchors = np.asarray(points, np.float64)[:, :2], np.asarray(anchors, np.float64)[:, :2]
    margin = 0.1 * np.ptp(points, axis=0)
    last = np.array([frame.shape[1] - 1, frame.shape[0] - 1])
    low = np.clip(np.floor(points.min(axis=0) - margin), 0, last - 1).astype(int)  # a face partly or wholly
    high = np.clip(np.ceil(points.max(axis=0) + margin), low + 1, last).astype(int)  # off the frame: what is in it
    size = high - low
    out = np.maximum(np.rint(size * scale), 8).astype(int)
    box = Image.fromarray(frame[low[1]:low[1] + size[1], low[0]:low[0] + size[0]]).convert("L")
    box = box.resize(tuple(out), Image.Resampling.BILINEAR, reducing_gap=2.0)
    grey = np.asarray(box.filter(ImageFilter.GaussianBlur(BLUR * EYE_PX)), np.float32)
    ratio = out / size
    return FaceCrop(grey, (points - low) * ratio, (anchors - low) * ratio)


def texture_residual(first: FaceCrop, second: FaceCrop) -> float:
    """How far ``second`` warped onto ``first``'s face region by the homography that matches
    them best still differs from it: the RMS difference of the two, each standardised
    (zero mean, unit deviation, so exposure and contrast do not count), which is
    sqrt(2 (1 - correlation)). Near 0 for a plane, larger the more the face moved in
    depth. NaN when it cannot be judged (the region has no texture, or leaves the
    second crop)."""
    xs, ys = _region(first)
    reference = first.grey[ys, xs].astype(np.float64)
    if len(xs) < MIN_SAMPLES or float(np.std(reference)) < MIN_CONTRAST:
        return float("nan")
    to_first, first_norm = _normaliser(first.anchors)
    to_second, second_norm = _normaliser(second.anchors)
    h = fit_homography(first_norm, second_norm)
    x, y = (xs - to_first[0]) * to_first[2], (ys - to_first[1]) * to_first[2]
    error = np.zeros(0)
    for iteration in range(ITERATIONS + 1):
        u, v, depth = _mapped(h, x, y)
        value, gx, gy, seen = _sample(second.grey, u / to_second[2] + to_second[0], v / to_second[2] + to_second[1])
        target, warped = _standardised(reference[seen]), _standardised(value[seen])
        if seen.sum() < MIN_SAMPLES or target is None or warped is None:
            return float("nan")
        error = warped[0] - target[0]
        if iteration == ITERATIONS:
            break
        gx, gy = gx[seen] / to_second[2], gy[seen] / to_second[2]
        px, py, pu, pv, pd = x[seen], y[seen], u[seen], v[seen], depth[seen]
        along = gx * pu + gy * pv
        jacobian = np.stack([gx * px, gx * py, gx, gy * px, gy * py, gy, -along * px, -along * py], axis=1) / pd[:, None]
        jacobian = jacobian - jacobian.mean(axis=0)  # through the standardisation: the mean
        jacobian = (jacobian - np.outer(warped[0], warped[0] @ jacobian) / len(error)) / warped[1]  # and the deviation
        normal = jacobian.T @ jacobian
        step = np.linalg.solve(normal + 1e-6 * np.diag(np.diag(normal)) + 1e-12 * np.eye(8), -jacobian.T @ error)
        h = h + np.append(step, 0.0).reshape(3, 3)
        if np.abs(step).max() < 1e-6:
            break
    return float(np.sqrt(np.mean(error ** 2)))


def _standardised(values: np.ndarray) -> tuple[np.ndarray, float] | None:
    """``values`` at zero mean and unit deviation, and the deviation (None when flat)."""
    spread = float(np.std(values))
    if spread < 1e-6:
        return None
    return (values - values.mean()) / spread, spread


def fit_homography(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The 3x3 homography (last entry 1) that maps points ``first`` (K, 2) nearest to
    ``second`` (K, 2), K >= 4, by the direct linear transform (pass centred, scaled points:
    it is what keeps the fit well conditioned)."""
    x, y, u, v = first[:, 0], first[:, 1], second[:, 0], second[:, 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows = np.concatenate([np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], axis=1),
                           np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=1)])
    h = np.linalg.svd(rows)[2][-1].reshape(3, 3)
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h


def _normaliser(points: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
    """(centre x, centre y, scale) that moves ``points`` to their centroid at a mean
    distance of sqrt(2) (Hartley), and the points so moved."""
    centre = points.mean(axis=0)
    scale = np.sqrt(2) / max(float(np.linalg.norm(points - centre, axis=1).mean()), 1e-12)
    return (float(centre[0]), float(centre[1]), scale), (points - centre) * scale


def _mapped(h: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    depth = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    depth = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    return (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / depth, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / depth, depth


def _region(crop: FaceCrop) -> tuple[np.ndarray, np.ndarray]:
    """Pixel columns and rows (at most ``SAMPLES``, spread evenly) inside the landmarks'
    convex hull shrunk by ``REGION``: the face, without the background at its edge."""
    from PIL import Image, ImageDraw

    centre = crop.points.mean(axis=0)
    hull = _convex_hull((crop.points - centre) * REGION + centre)
    mask = Image.new("L", (crop.grey.shape[1], crop.grey.shape[0]), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in hull], fill=1)
    ys, xs = np.nonzero(np.asarray(mask))
    keep = np.linspace(0, len(xs) - 1, min(len(xs), SAMPLES)).astype(int) if len(xs) else np.zeros(0, int)
    return xs[keep], ys[keep]


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """The hull's corners in order (Andrew's monotone chain)."""
    ordered = sorted(map(tuple, points))

    def chain(sequence):
        out: list = []
        for p in sequence:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(chain(ordered) + chain(ordered[::-1]))


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Bilinear values of ``image`` at (xs, ys), their x and y gradients, and which points
    lie inside the image."""
    h, w = image.shape
    seen = (xs >= 0) & (ys >= 0) & (xs <= w - 1.001) & (ys <= h - 1.001)
    xs, ys = np.clip(xs, 0, w - 1.001), np.clip(ys, 0, h - 1.001)
    x0, y0 = xs.astype(np.intp), ys.astype(np.intp)
    fx, fy = xs - x0, ys - y0
    a, b = image[y0, x0].astype(np.float64), image[y0, x0 + 1].astype(np.float64)
    c, d = image[y0 + 1, x0].astype(np.float64), image[y0 + 1, x0 + 1].astype(np.float64)
    top, bottom = a + (b - a) * fx, c + (d - c) * fx
    return top + (bottom - top) * fy, (b - a) * (1 - fy) + (d - c) * fy, bottom - top, seen
