"""``synthetic:...`` feeds: generated video of faces moving across the frame, for demos,
tests and benchmarks without a camera.

    synthetic:faces=2,seconds=20,fps=25,size=640x480,style=photo,seed=0

Face ``i`` crosses the frame left to right in its own horizontal lane, leaves for a
second, and comes back from the left, so a feed keeps producing ``track_started``,
``identity_matched`` and ``track_ended`` events. Without ``seconds`` it never ends.

Two styles of face:

- ``photo`` (default): real photographs that the default bundle (BlazeFace + dlib ResNet)
  detects and tells apart: the astronaut (``skimage.data.astronaut()``) and LFW faces 20
  and 18 (``skimage.data.lfw_subset()``, 25x25 greyscale, upscaled). Needs scikit-image.
  At most 3 faces.
- ``blob``: bright squares with a 4x4 block texture per identity, which the test fixture
  bundles (tests/fixtures/README.md) detect and embed apart. Any number of faces.

``face_still(style, name)`` is one face on the background, for enrolling a watch-list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np

from edgeface.errors import show

PHOTO_FACES = ("astronaut", "lfw20", "lfw18")
STYLES = ("photo", "blob")
_HIDDEN_S = 1.0  # off screen between two crossings


@dataclass(frozen=True)
class SyntheticSpec:
    faces: int = 2
    seconds: float | None = None  # None: endless
    fps: float = 25.0
    width: int = 640
    height: int = 480
    style: str = "photo"
    face: int | None = None  # sprite side in pixels; None: 150 (photo) or 80 (blob)
    seed: int = 0

    @classmethod
    def parse(cls, source: str) -> "SyntheticSpec":
        """``synthetic:key=value,...``; ``ValueError`` naming the bad key otherwise."""
        body = source.removeprefix("synthetic:")
        values: dict = {}
        for part in filter(None, (p.strip() for p in body.split(","))):
            key, sep, raw = part.partition("=")
            try:
                if not sep:
                    raise ValueError
                if key == "size":
                    w, h = raw.lower().split("x")
                    values["width"], values["height"] = int(w), int(h)
                elif key in ("faces", "face", "seed"):
                    values[key] = int(raw)
                elif key in ("seconds", "fps"):
                    values[key] = float(raw)
                elif key == "style":
                    values[key] = raw
                else:
                    raise KeyError(key)
            except KeyError:
                raise ValueError(f"{show(source)}: unknown key {show(key)}: use faces, seconds, fps, size, style, "
                                 f"face or seed (e.g. synthetic:faces=2,seconds=10)") from None
            except ValueError:
                raise ValueError(f"{show(source)}: cannot read {show(part)}: write key=value, e.g. faces=2, "
                                 f"seconds=10, size=640x480, style=photo") from None
        spec = cls(**values)
        spec._check(source)
        return spec

    def _check(self, source: str) -> None:
        problems = [
            (self.style not in STYLES, f"style must be one of {', '.join(STYLES)}"),
            (not 1 <= self.faces <= (len(PHOTO_FACES) if self.style == "photo" else 64),
             f"faces must be 1..{len(PHOTO_FACES)} for style=photo (1..64 for blob)"),
            (not 1 <= self.fps <= 240, "fps must be 1..240"),
            (self.seconds is not None and not 0 < self.seconds < math.inf, "seconds must be positive and finite"),
            (not (64 <= self.width <= 4096 and 64 <= self.height <= 4096), "size must be 64x64..4096x4096"),
            (self.face is not None and not 16 <= self.face <= min(self.width, self.height),
             "face must be >= 16 pixels and fit the frame"),
            (not 0 <= self.seed < 2**32, "seed must be 0..2**32-1"),
        ]
        for bad, what in problems:
            if bad:
                raise ValueError(f"{show(source)}: {what}")

    @property
    def names(self) -> tuple[str, ...]:
        """The identities shown, lane by lane from the top."""
        if self.style == "photo":
            return PHOTO_FACES[: self.faces]
        return tuple(f"blob{i + 1}" for i in range(self.faces))

    @property
    def sprite_size(self) -> int:
        """The face side: as asked, but no larger than its lane. The fixture bundles' blob
        detector regresses a fixed 120-pixel box, so blobs default to a size it fits."""
        face = self.face or (150 if self.style == "photo" else 80)
        return max(16, min(face, self.height // self.faces - 8))


def synthetic_frames(spec: SyntheticSpec) -> Iterator[tuple[float, np.ndarray]]:
    """``(timestamp_ms, HxWx3 uint8 RGB frame)``, ``spec.fps`` frames per second."""
    size = spec.sprite_size
    sprites = [face_sprite(spec.style, name, size) for name in spec.names]
    base = background(spec.width, spec.height)
    rng = np.random.default_rng(spec.seed)
    lane = spec.height / spec.faces
    travel = spec.width + size  # from just off the left edge to just off the right edge
    speeds = rng.uniform(travel / 6.0, travel / 3.0, spec.faces)  # pixels per second
    phases = rng.uniform(0.0, 1.0, spec.faces)
    total = math.inf if spec.seconds is None else round(spec.seconds * spec.fps)
    index = 0
    while index < total:
        t = index / spec.fps
        frame = base.copy()
        for i, sprite in enumerate(sprites):
            period = travel / speeds[i] + _HIDDEN_S
            along = ((t / period + phases[i]) % 1.0) * period * speeds[i]
            if along < travel:
                x0 = int(round(along - size))
                y0 = int(round((i + 0.5) * lane - size / 2))
                paste(frame, sprite, x0, y0)
        yield 1000.0 * t, frame
        index += 1


def face_still(style: str, name: str, width: int = 640, height: int = 480, size: int = 180) -> np.ndarray:
    """One face, centred, on the synthetic background: an image to enroll ``name`` from."""
    frame = background(width, height).copy()
    paste(frame, face_sprite(style, name, size), (width - size) // 2, (height - size) // 2)
    return frame


@lru_cache(maxsize=32)
def face_sprite(style: str, name: str, size: int) -> np.ndarray:
    """A size x size RGB face: a photo (``photo``) or a textured square (``blob``)."""
    if style == "blob":
        blocks = np.random.default_rng(int(name.removeprefix("blob"))).integers(205, 256, (4, 4, 3))
        cell = -(-size // 4)
        sprite = np.kron(blocks.astype(np.uint8), np.ones((cell, cell, 1), np.uint8))[:size, :size]
    else:
        from PIL import Image

        sprite = np.asarray(Image.fromarray(_photo(name)).resize((size, size), Image.BICUBIC))
    sprite.setflags(write=False)
    return sprite


def _photo(name: str) -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        from edgeface.errors import EdgefaceError

        raise EdgefaceError("synthetic feeds with style=photo take their faces from scikit-image: "
                            "pip install scikit-image, or use style=blob") from None
    if name == "astronaut":
        return np.ascontiguousarray(data.astronaut()[55:195, 165:305])  # forehead to chin
    grey = np.rint(data.lfw_subset()[int(name.removeprefix("lfw"))] * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


@lru_cache(maxsize=4)
def background(width: int, height: int) -> np.ndarray:
    """Smooth colour gradients: nothing a face detector fires on."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([70 + 60 * x / width + 10 * np.sin(y / 37.0),
                    90 + 40 * y / height + 10 * np.sin(x / 53.0),
                    120 - 30 * x / width + 20 * np.sin((x + y) / 71.0)], axis=2)
    image = np.clip(rgb, 0, 255).astype(np.uint8)
    image.setflags(write=False)
    return image


def paste(frame: np.ndarray, sprite: np.ndarray, x0: int, y0: int) -> None:
    """Copy ``sprite`` into ``frame`` with its top-left corner at (x0, y0), clipped."""
    h, w = sprite.shape[:2]
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + w, frame.shape[1]), min(y0 + h, frame.shape[0])
    if fx1 > fx0 and fy1 > fy0:
        frame[fy0:fy1, fx0:fx1] = sprite[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
