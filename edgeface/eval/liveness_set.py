"""The liveness evaluation set: live heads and flat attacks made from real photographs.

- **live**: the face mesh fitted on a photograph, textured from it and re-rendered turning
  (``edgeface.eval.render_face``): a yaw or pitch sweep, either way;
- **print**: the same photograph as a flat print moved and tilted in 3-D in front of a
  pinhole camera (a random focal length, 400 to 900 px: wide-angle phones to webcams);
- **replay**: the print's frames as a screen shows them: its gamma, and moiré (the
  camera's pixel grid beating against the screen's);
- **glare**: the replay with a lamp's reflection on the glossy screen, a soft highlight
  sliding across the face as the screen turns (a stress case beyond the issue's attacks:
  its pixels do not move as the plane does).

Every frame then goes through a camera: a little blur and sensor noise. Detection runs on
every frame, so its jitter is in the landmarks too. ``sequences`` makes them; ``score``
runs the passive check on one; the ISO/IEC 30107-3 rates are in ``error_rates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("live", "print", "replay", "glare")


@dataclass
class Sequence:
    kind: str  # one of KINDS
    source: str  # the photograph's name
    motion: str  # e.g. "yaw +30"
    frames: list[np.ndarray]


def tilted_print(image: np.ndarray, yaw: float, pitch: float, about: tuple[float, float], focal: float) -> np.ndarray:
    """``image`` as a flat print facing a pinhole camera of ``focal`` pixels, turned by yaw
    and pitch degrees about the image point ``about``."""
    from PIL import Image

    y, p = math.radians(yaw), math.radians(pitch)
    turn = (np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
            @ np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]]))
    camera = np.array([[focal, 0, about[0]], [0, focal, about[1]], [0, 0, 1]])
    on_plane = np.array([[1, 0, -about[0]], [0, 1, -about[1]], [0, 0, focal]], float)  # pixel -> 3-D point
    moved = turn @ on_plane
    moved[:, 2] += np.array([0.0, 0.0, focal]) - turn @ np.array([0.0, 0.0, focal])  # about its point on the axis
    inverse = np.linalg.inv(camera @ moved)
    inverse /= inverse[2, 2]
    return np.asarray(Image.fromarray(image).transform((image.shape[1], image.shape[0]), Image.Transform.PERSPECTIVE,
                                                      tuple(inverse.ravel()[:8]), Image.Resampling.BILINEAR))


def screen(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``frame`` as a phone or monitor shows it to a camera: gamma and moiré."""
    gamma = rng.uniform(0.6, 0.85)
    h, w = frame.shape[:2]
    angle, period = rng.uniform(0, math.pi), rng.uniform(2.5, 5.0)
    ys, xs = np.mgrid[0:h, 0:w]
    moire = 8.0 * np.sin(2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period)
    out = 255.0 * (frame / 255.0) ** gamma + moire[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def glare(frame: np.ndarray, centre: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """``frame`` with a reflection on the screen: a Gaussian highlight of ``strength`` grey
    levels and ``radius`` pixels at ``centre`` (x, y)."""
    ys, xs = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    spot = strength * np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2.0 * radius ** 2))
    return np.clip(frame + spot[..., None], 0, 255).astype(np.uint8)


def camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A little blur and sensor noise."""
    from PIL import Image, ImageFilter

    blurred = np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))))
    noisy = blurred + rng.normal(0, rng.uniform(1.5, 4.0), frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def sequences(photographs: dict[str, np.ndarray], analyzer, seed: int = 0, steps: int = 9,
              live_deg: float = 30.0, attack_deg: float = 35.0) -> list[Sequence]:
    """For each photograph whose face the analyzer's landmark model finds: four live
    sweeps (yaw and pitch, either way, to ``live_deg``), and four print, four replay and
    four glare sweeps (the plane turned to ``attack_deg``, some on both axes). The glare's
    draws come from a generator of their own, so the other kinds are those of a set
    without them."""
    from edgeface.eval.render_face import FaceModel

    rng, glare_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1000)
    out = []
    for name, image in photographs.items():
        landmarks = analyzer.landmarks_arrays(image)
        if len(landmarks) != 1:
            continue
        model = FaceModel.fit(image, landmarks)
        about = tuple(landmarks.centre("nose_tip")[0, :2])
        eyes = float(np.linalg.norm(landmarks.centre("right_eye")[0, :2] - landmarks.centre("left_eye")[0, :2]))
        ramp = np.linspace(0.0, 1.0, steps)
        for axis, sign in (("yaw", 1), ("yaw", -1), ("pitch", 1), ("pitch", -1)):
            frames = [camera(model.render(**{axis: sign * live_deg * t}), rng) for t in ramp]
            out.append(Sequence("live", name, f"{axis} {sign * live_deg:+.0f}", frames))
        for i in range(4):
            yaw, pitch = attack_deg * rng.choice([-1, 1]) * rng.uniform(0.6, 1), attack_deg * rng.uniform(-0.6, 0.6)
            if i % 2:
                yaw, pitch = pitch, yaw
            focal = rng.uniform(400, 900)
            flat = [tilted_print(image, yaw * t, pitch * t, about, focal) for t in ramp]
            motion = f"plane yaw {yaw:+.0f} pitch {pitch:+.0f}, focal {focal:.0f} px"
            out.append(Sequence("print", name, motion, [camera(f, rng) for f in flat]))
            out.append(Sequence("replay", name, motion, [camera(screen(f, rng), rng) for f in flat]))
            start, end = (np.array(about) + glare_rng.normal(0.0, eyes, 2) for _ in range(2))
            radius, strength = eyes * glare_rng.uniform(0.3, 0.8), glare_rng.uniform(40, 120)
            shone = [glare(screen(f, glare_rng), start + (end - start) * t, radius, strength) for f, t in zip(flat, ramp)]
            out.append(Sequence("glare", name, f"{motion}, highlight {strength:.0f} grey levels",
                                [camera(f, glare_rng) for f in shone]))
    return out


def score(sequence: Sequence, analyzer, check) -> tuple[str, float, float]:
    """(decision, residual, turn) of a fresh passive check (``check()`` makes
    one) on the sequence's frames, each through the whole SDK (detection included). The
    check follows one face as a video track would: on each frame the face nearest the one
    it was given last, and none when every face found is more than half a face's width
    away (the face was missed and something else was found)."""
    passive, last, reach = check(), None, 0.0
    for frame in sequence.frames:
        landmarks = analyzer.landmarks_arrays(frame)
        if not len(landmarks):
            continue
        centres = landmarks.points[:, :, :2].mean(axis=1)
        distances = np.zeros(len(centres)) if last is None else np.linalg.norm(centres - last, axis=1)
        face = int(np.argmin(distances))
        if last is not None and distances[face] > reach:
            continue
        last, reach = centres[face], 0.5 * float(np.ptp(landmarks.points[face, :, 0]))
        passive.add(frame, landmarks, face)
    result = passive.result()
    return result.decision, passive.residual(), result.turn_deg


def error_rates(results: list[tuple[str, str]]) -> dict[str, float]:
    """(kind, decision) pairs -> APCER per attack kind (attacks called live) and BPCER
    (live faces not called live), as fractions."""
    rates = {}
    for kind in KINDS:
        decisions = [d for k, d in results if k == kind]
        if not decisions:
            continue
        if kind == "live":
            rates["BPCER"] = sum(d != "live" for d in decisions) / len(decisions)
        else:
            rates[f"APCER {kind}"] = sum(d == "live" for d in decisions) / len(decisions)
    return rates
