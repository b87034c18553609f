"""Synthetic test videos with ground truth: real faces moving along known paths.

The faces are real photographs shipped with scikit-image, which the default bundle
(BlazeFace + dlib ResNet) both detects and tells apart: the astronaut's face
(``skimage.data.astronaut()``) and LFW face 20 (``skimage.data.lfw_subset()``, a 25x25
grayscale crop upscaled). At the default 160-pixel sprite size BlazeFace scores them
0.8 to 0.9 on a 640x480 frame; dlib's cosine between the two is about 0.81, under the
bundle's 0.905 threshold, and each stays above 0.93 with itself elsewhere in a frame.

The sprites, the background and the pasting are those of the synthetic feeds
(edgeface.feeds.synthetic). Each face is a square sprite pasted onto the background, its
centre following a path ``t_ms -> (cx, cy)`` (or ``None`` while it is out of view).
Ground truth is the sprite's box per frame; the detector's box is smaller (0.65 to 0.9
of the sprite side) and off its centre by up to about 15 pixels, so compare centres, not
boxes.

    video = crossing_video()                 # two faces passing each other
    video.frames[i], video.timestamps_ms[i], video.boxes[i]["astronaut"]
    write_mp4(video, tmp_path / "crossing.mp4")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgeface.feeds import synthetic

WIDTH, HEIGHT = 640, 480
FACE_SIZE = 160
FPS = 25.0
IDENTITIES = ("astronaut", "lfw20")

Path2D = Callable[[float], Optional[tuple[float, float]]]
Box = tuple[float, float, float, float]


def face_sprite(identity: str, size: int = FACE_SIZE) -> np.ndarray:
    """A size x size uint8 RGB face photo (read-only, cached): the synthetic feeds' sprite."""
    return synthetic.face_sprite("photo", identity, size)


def background(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The synthetic feeds' faceless backdrop (read-only, cached)."""
    return synthetic.background(width, height)


@dataclass
class SyntheticVideo:
    frames: list[np.ndarray]
    timestamps_ms: list[float]
    boxes: list[dict[str, Box]]  # per frame: identity -> pasted sprite box (x0, y0, x1, y1)
    fps: float = FPS
    face_size: int = FACE_SIZE
    identities: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.frames)

    def centres(self, identity: str) -> np.ndarray:
        """(T, 2) sprite centres of ``identity`` (NaN where it is out of view)."""
        out = np.full((len(self), 2), np.nan)
        for i, boxes in enumerate(self.boxes):
            if identity in boxes:
                x0, y0, x1, y1 = boxes[identity]
                out[i] = (x0 + x1) / 2, (y0 + y1) / 2
        return out


def linear_path(start: tuple[float, float], end: tuple[float, float], t0_ms: float, t1_ms: float,
                visible: tuple[float, float] | None = None) -> Path2D:
    """From ``start`` at ``t0_ms`` to ``end`` at ``t1_ms`` at constant speed (held at the
    ends); ``visible=(from_ms, to_ms)`` hides the face outside that window."""
    (sx, sy), (ex, ey) = start, end

    def at(t: float):
        if visible is not None and not visible[0] <= t <= visible[1]:
            return None
        u = min(max((t - t0_ms) / (t1_ms - t0_ms), 0.0), 1.0)
        return sx + u * (ex - sx), sy + u * (ey - sy)

    return at


def render(paths: dict[str, Path2D], timestamps_ms: Sequence[float], size: int = FACE_SIZE,
           fps: float = FPS) -> SyntheticVideo:
    """Paste each identity's sprite at its path's position at every timestamp; later
    entries in ``paths`` are drawn over earlier ones (they occlude them when crossing)."""
    frames, boxes = [], []
    base = background()
    for t in timestamps_ms:
        frame = base.copy()
        frame_boxes = {}
        for identity, path in paths.items():
            centre = path(t)
            if centre is None:
                continue
            x0, y0 = int(round(centre[0] - size / 2)), int(round(centre[1] - size / 2))
            synthetic.paste(frame, face_sprite(identity, size), x0, y0)
            frame_boxes[identity] = (float(x0), float(y0), float(x0 + size), float(y0 + size))
        frames.append(frame)
        boxes.append(frame_boxes)
    return SyntheticVideo(frames, [float(t) for t in timestamps_ms], boxes, fps, size, tuple(paths))


def regular_timestamps(n_frames: int, fps: float = FPS) -> list[float]:
    return [1000.0 * i / fps for i in range(n_frames)]


def single_face_video(n_frames: int = 40, identity: str = "astronaut", fps: float = FPS,
                      timestamps_ms: Sequence[float] | None = None) -> SyntheticVideo:
    """One face gliding left to right (and a little down) across the frame."""
    stamps = list(timestamps_ms) if timestamps_ms is not None else regular_timestamps(n_frames, fps)
    path = linear_path((140, 200), (500, 280), stamps[0], stamps[-1])
    return render({identity: path}, stamps, fps=fps)


def crossing_video(n_frames: int = 50, fps: float = FPS, gap: float = 110.0) -> SyntheticVideo:
    """The astronaut moves left to right while LFW face 20 moves right to left ``gap``
    pixels lower, drawn over her: they cross mid-video (frames 24-25 of 50). At the
    default gap the sprites overlap by up to 160x50 pixels (her chin is covered) and
    BlazeFace still finds both; at ``gap=90`` it sees one merged face for a few frames
    around the crossing."""
    stamps = regular_timestamps(n_frames, fps)
    t1, y = stamps[-1], 235.0
    return render({"astronaut": linear_path((110, y - gap / 2), (530, y - gap / 2), 0.0, t1),
                   "lfw20": linear_path((530, y + gap / 2), (110, y + gap / 2), 0.0, t1)}, stamps, fps=fps)


def leave_and_return_video(n_frames: int = 60, fps: float = FPS, gap: tuple[int, int] = (20, 35)) -> SyntheticVideo:
    """One face (the astronaut) that vanishes for frames ``gap[0]..gap[1]-1`` and comes
    back elsewhere: the tracker must lose it and the detector must find it again."""
    stamps = regular_timestamps(n_frames, fps)
    hidden_from, back_at = stamps[gap[0]], stamps[gap[1]]
    first = linear_path((150, 200), (300, 200), 0.0, hidden_from, visible=(0.0, hidden_from - 1e-6))
    second = linear_path((480, 260), (420, 260), back_at, stamps[-1], visible=(back_at, stamps[-1]))

    def at(t: float):
        return first(t) or second(t)

    return render({"astronaut": at}, stamps, fps=fps)


def entering_video(n_frames: int = 60, fps: float = FPS) -> SyntheticVideo:
    """The astronaut (a 150-pixel sprite) walks in from the left edge at 8 pixels a frame
    and across, as in the feed ``synthetic:faces=1,seed=1``: in view from frame 7, first
    found by the detector (every 5th frame while there is no track) at frame 20 with a
    third of her face still out of the frame, and in full view from frame 25."""
    stamps = regular_timestamps(n_frames, fps)
    start, step = (-125.0, 240.0), 8.0
    end = (start[0] + step * (n_frames - 1), start[1])
    return render({"astronaut": linear_path(start, end, 0.0, stamps[-1])}, stamps, size=150, fps=fps)


def enrollment_images(identity: str) -> list[np.ndarray]:
    """Two stills of ``identity`` (a larger sprite, two positions) for a gallery."""
    stills = []
    for cx, cy, size in ((220, 220, 200), (420, 260, 180)):
        frame = background().copy()
        synthetic.paste(frame, face_sprite(identity, size), cx - size // 2, cy - size // 2)
        stills.append(frame)
    return stills


def write_mp4(video: SyntheticVideo, path: str | Path) -> Path:
    """Encode ``video`` (with its timestamps) to ``path`` with PyAV: H.264 when this
    FFmpeg has it, else MPEG-4."""
    from edgeface.video.writer import VideoWriter

    with VideoWriter(path, fps=video.fps) as writer:
        for frame, t in zip(video.frames, video.timestamps_ms):
            writer.write(frame, t)
    return Path(path)


def enrolled_gallery(bundle, path, extra: dict | None = None):
    """A gallery file at ``path`` with the fixture faces (``IDENTITIES``) enrolled through
    ``bundle``, plus ``extra`` (name -> images)."""
    from edgeface import FaceAnalyzer

    analyzer = FaceAnalyzer.create_from_bundle(bundle, gallery=path)
    for identity in IDENTITIES:
        analyzer.enroll(identity, enrollment_images(identity))
    for identity, images in (extra or {}).items():
        analyzer.enroll(identity, images)
    analyzer.gallery.save()
    return path
