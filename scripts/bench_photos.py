#!/usr/bin/env python3
"""How well the face detector finds the faces in the photos people take.

Issue goal: recall >= 0.95 with <= 1 false face per image, at every face size from 40 to
300 px wide; the selfie's latency is the baseline.

The photos are built here, deterministic from ``--seed`` (nothing is downloaded): real
faces pasted onto 1280x960 scenes. The faces are the first 100 crops of
``skimage.data.lfw_subset()`` (25x25 grey, tight to the face, made RGB) and the
astronaut's face from ``skimage.data.astronaut()`` (a colour crop with a margin around
her face); the scenes are face-free scikit-image pictures (coffee, chelsea the cat,
rocket, the Hubble deep field, ...) scaled to cover 1280x960. Each composite holds 3-8
faces, none overlapping, their widths drawn evenly from the size bands 40-80, 80-150 and
150-300 px. The ground truth of an LFW face is its pasted crop less LFW_MARGIN of its
side on every edge (the crops run from the brows to the chin); of the astronaut, her face
box ASTRONAUT_FACE (the blazeface box, rounded) scaled and moved with the paste. Two
single-face photos come with them: the astronaut as she is (512x512) and a selfie, the
astronaut enlarged so that her face is 40 % of a 1280x960 frame's height.

Matching: a detection and a true face may pair when their IoU >= MIN_IOU (0.3: a
detector's box and a pasted crop's box differ in how tight they are, not in where they
are); pairs are taken greedily, highest IoU first, each detection and each face at most
once. A face without a pair is missed; a detection without one is a false face.

Each bundle of ``--bundles`` runs ``FaceAnalyzer.detect()`` (its manifest's score
threshold and search, ``--threads`` interpreter threads) on every image; ``NAME:SEARCH``
runs it with the SDK's ``search`` option instead (edgeface.tiled_search: "whole" is one
pass, "auto" or "all" add a pyramid of tiles for small faces), ``NAME@native`` on the
native core (build it with scripts/native_build.py). ``--downscale area`` is a what-if:
the SDK's bilinear resize replaced, where it shrinks, by OpenCV's area averaging, to
measure what antialiasing would change. Latency: the median of
``--runs`` timed calls per case in ``--rounds`` rounds in which the bundles take turns
(``interleaved`` from bench_pretrained.py), the composites case cycling through the
composites. The script prints a table.

    .venv/bin/python scripts/bench_photos.py [--images 30] [--seed 0] [--bundles blazeface:whole default:whole default default@native ...] [--downscale area] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretrained import box_iou, bundle, interleaved, log, side  # noqa: E402

WIDTH, HEIGHT = 1280, 960
BANDS = ((40, 80), (80, 150), (150, 300))  # face width in pixels, lower bound inclusive
FACES_PER_IMAGE = (3, 8)
MIN_IOU = 0.3
GOAL_RECALL, GOAL_FALSE = 0.95, 1.0
LFW_FACES = 100  # lfw_subset(): the first 100 are faces, the other 100 are not
LFW_MARGIN = 0.08  # of the crop's side, on each edge: the crop is tight, the face a little smaller
# The astronaut's face in skimage.data.astronaut() (x1, y1, x2, y2): the blazeface
# bundle's box (179, 81, 272, 174) and blazeface-full's (172, 66, 278, 173), rounded to
# one box between them.
ASTRONAUT_FACE = (175, 75, 275, 175)
ASTRONAUT_MARGIN = 0.4  # of her face's side, around it, in the crop that is pasted
SELFIE_FACE_HEIGHT = 0.4  # of the selfie frame's height
BACKGROUNDS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
               "grass", "gravel", "brick", "coins", "moon")
DEFAULT_BUNDLES = ("blazeface:whole", "blazeface-full", "default:whole", "default", "default@native", "default:all")


@dataclass
class Photo:
    """An image, the boxes (x1, y1, x2, y2 pixels) of the faces in it, and where each
    face came from ("LFW" or "astronaut"), since grey tight crops and a colour face with
    its hair and shoulders are not equally hard."""

    name: str
    image: np.ndarray
    faces: list[tuple[float, float, float, float]]
    kinds: list[str] = field(default_factory=list)


# -- building the photos -------------------------------------------------------------------------

def rgb(image: np.ndarray) -> np.ndarray:
    """scikit-image data as HxWx3 uint8 (grey and float images included)."""
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def cover(image: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """``image`` scaled to cover width x height and centre-cropped: a scene without bars
    or stretching, so the detector sees what a camera would give it."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    big = resized(image, max(width, round(w * scale)), max(height, round(h * scale)))
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[y:y + height, x:x + width]


@dataclass
class Source:
    """A face to paste: the pixels, and where in them the face is, as fractions of the side."""

    pixels: np.ndarray
    face: tuple[float, float, float, float]
    kind: str


def face_sources() -> list[Source]:
    """The LFW faces (tight crops, less LFW_MARGIN) and the astronaut's face (with a margin)."""
    from skimage import data

    m = LFW_MARGIN
    sources = [Source(rgb(crop), (m, m, 1 - m, 1 - m), "LFW") for crop in data.lfw_subset()[:LFW_FACES]]
    x1, y1, x2, y2 = ASTRONAUT_FACE
    pad = ASTRONAUT_MARGIN * (x2 - x1)
    cx1, cy1, cx2, cy2 = (round(v) for v in (x1 - pad, y1 - pad, x2 + pad, y2 + pad))
    w, h = cx2 - cx1, cy2 - cy1
    sources.append(Source(data.astronaut()[cy1:cy2, cx1:cx2],
                          ((x1 - cx1) / w, (y1 - cy1) / h, (x2 - cx1) / w, (y2 - cy1) / h), "astronaut"))
    return sources


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def composite(rng: np.random.Generator, sources: list[Source], scene: np.ndarray, name: str) -> Photo:
    """A scene with 3-8 faces pasted where no pasted crop overlaps another; face widths
    are drawn band by band, so every band gets about a third of the faces. A face that
    finds no free place in 200 tries is left out (the big ones, on crowded images)."""
    image = scene.copy()
    count = int(rng.integers(FACES_PER_IMAGE[0], FACES_PER_IMAGE[1] + 1))
    pasted, faces, kinds = [], [], []
    for _ in range(count):
        # every fifth face, on average, the astronaut's colour face; the others from LFW
        source = sources[-1] if rng.random() < 0.2 else sources[int(rng.integers(len(sources) - 1))]
        low, high = BANDS[int(rng.integers(len(BANDS)))]
        face_width = rng.uniform(low, high)
        fx1, fy1, fx2, fy2 = source.face
        width = round(face_width / (fx2 - fx1))
        height = round(width * source.pixels.shape[0] / source.pixels.shape[1])
        for _ in range(200):
            x, y = int(rng.integers(0, WIDTH - width + 1)), int(rng.integers(0, HEIGHT - height + 1))
            box = (x, y, x + width, y + height)
            if not any(overlaps(box, other) for other in pasted):
                break
        else:
            continue
        pixels = resized(source.pixels, width, height)
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]  # the crop's margins are symmetric enough to keep the box
        image[y:y + height, x:x + width] = pixels
        pasted.append(box)
        faces.append((x + fx1 * width, y + fy1 * height, x + fx2 * width, y + fy2 * height))
        kinds.append(source.kind)
    return Photo(name, image, faces, kinds)


def composites(count: int, seed: int) -> list[Photo]:
    """``count`` composites, the same for the same seed, scenes taken in turn."""
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = face_sources()
    scenes = [cover(rgb(getattr(data, name)())) for name in BACKGROUNDS]
    return [composite(rng, sources, scenes[i % len(scenes)], f"composite {i} ({BACKGROUNDS[i % len(scenes)]})")
            for i in range(count)]


def single_face_photos() -> list[Photo]:
    """The astronaut as she is, and a selfie: her picture enlarged until her face is
    SELFIE_FACE_HEIGHT of a 1280x960 frame, cut around her face."""
    from skimage import data

    astronaut = data.astronaut()
    x1, y1, x2, y2 = ASTRONAUT_FACE
    scale = SELFIE_FACE_HEIGHT * HEIGHT / (y2 - y1)
    side_px = round(astronaut.shape[0] * scale)
    big = resized(astronaut, side_px, side_px)
    cx, cy = (x1 + x2) / 2 * scale, (y1 + y2) / 2 * scale
    left = int(np.clip(cx - WIDTH / 2, 0, side_px - WIDTH))
    top = int(np.clip(cy - HEIGHT / 2, 0, side_px - HEIGHT))
    face = (x1 * scale - left, y1 * scale - top, x2 * scale - left, y2 * scale - top)
    return [Photo("astronaut 512x512", astronaut, [ASTRONAUT_FACE]),
            Photo("selfie 1280x960", big[top:top + HEIGHT, left:left + WIDTH], [face])]


# -- matching ------------------------------------------------------------------------------------

def match(truth: list, detected: list, min_iou: float = MIN_IOU) -> tuple[list[bool], int]:
    """Greedy one-to-one matching, highest IoU first, of pairs with IoU >= ``min_iou``:
    for each true face whether it was found, and the number of false faces (detections
    left without a face)."""
    pairs = sorted(((box_iou(t, d), i, j) for i, t in enumerate(truth) for j, d in enumerate(detected)),
                   reverse=True)
    found, used = [False] * len(truth), set()
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if not found[i] and j not in used:
            found[i] = True
            used.add(j)
    return found, len(detected) - len(used)


def band_of(box) -> str | None:
    width = box[2] - box[0]
    for low, high in BANDS:
        if low <= width < high or (high == BANDS[-1][1] and width == high):
            return f"{low}-{high} px"
    return None


def accuracy(photos: list[Photo], detect) -> dict[str, dict]:
    """Per band, per kind of face and over all the photos: faces, found, recall; false
    faces per image over all (a false face belongs to no band)."""
    counts: dict[str, list[int]] = {}
    false = 0
    for photo in photos:
        found, extra = match(photo.faces, boxes(detect(photo.image)))
        false += extra
        for box, kind, hit in zip(photo.faces, photo.kinds or [None] * len(photo.faces), found):
            for key in (band_of(box), f"{kind} faces", "all"):
                counts.setdefault(key, [0, 0])
                counts[key][0] += 1
                counts[key][1] += hit
    return {key: {"faces": n, "found": hit, "recall": hit / n,
                  "false_per_image": false / len(photos) if key == "all" else None}
            for key, (n, hit) in counts.items()}


def boxes(detections) -> list[tuple[float, float, float, float]]:
    return [(d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2) for d in detections]


# -- measuring -----------------------------------------------------------------------------------

def cycling(detect, images: list[np.ndarray]):
    """A call with no arguments that detects on the next image each time: one timing case
    that covers every composite."""
    order = itertools.cycle(images)
    return lambda: detect(next(order))


def make_analyzer(spec: str, threads: int):
    """The analyzer ``NAME[:SEARCH][@RUNTIME]`` names (no search: the bundle's; no runtime: python)."""
    from edgeface import FaceAnalyzer

    name, _, runtime = spec.partition("@")
    name, _, search = name.partition(":")
    return FaceAnalyzer.create_from_bundle(bundle(name), num_threads=threads, search=search or None,
                                           runtime=runtime or "python")


def area_downscale() -> None:
    """The what-if of ``--downscale area``: the SDK's resize, where it shrinks both sides,
    becomes OpenCV's INTER_AREA (the native core keeps its bilinear resize)."""
    import cv2

    import edgeface.preprocess as preprocess

    bilinear = preprocess.resize_bilinear

    def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
        if width < image.shape[1] and height < image.shape[0]:
            return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return bilinear(image, width, height)

    preprocess.resize_bilinear = resize


def measure(args: argparse.Namespace, photos: list[Photo], singles: list[Photo]) -> list[dict]:
    """Accuracy per bundle, then the latency cases with the bundles taking turns; one row
    per bundle and set (the bands, the kinds of face, all composites, each single-face photo)."""
    analyzers = {name: make_analyzer(name, args.threads) for name in args.bundles}
    sides = [side(name, {"composites": cycling(a.detect, [p.image for p in photos]),
                         **{p.name: partial(a.detect, p.image) for p in singles}})
             for name, a in analyzers.items()]
    timed = interleaved(sides, args.runs, args.rounds, args.warmup)
    rows = []
    for name, analyzer in analyzers.items():
        got = accuracy(photos, analyzer.detect)
        for low, high in BANDS:
            key = f"{low}-{high} px"
            rows.append({"bundle": name, "set": f"composites, faces {key}", **got.get(key, empty()), "ms": None})
        for kind in ("LFW", "astronaut"):
            rows.append({"bundle": name, "set": f"composites, {kind} faces", **got.get(f"{kind} faces", empty()),
                         "ms": None})
        rows.append({"bundle": name, "set": f"composites, all ({len(photos)} images)", **got["all"],
                     "ms": timed[name, "composites"]})
        for photo in singles:
            rows.append({"bundle": name, "set": photo.name, **accuracy([photo], analyzer.detect)["all"],
                         "ms": timed[name, photo.name]})
    return rows


def empty() -> dict:
    """A band no face of the run fell into (a very small --images): no recall to give."""
    return {"faces": 0, "found": 0, "recall": None, "false_per_image": None}


def met(row: dict) -> str:
    """The issue's goal on a row: recall, and false faces where the row counts them."""
    if not row["faces"]:
        return "-"
    ok = row["recall"] >= GOAL_RECALL and (row["false_per_image"] is None or row["false_per_image"] <= GOAL_FALSE)
    return "yes" if ok else "NO"


# -- report --------------------------------------------------------------------------------------

def print_table(rows: list[dict], args: argparse.Namespace, load: float) -> None:
    from rich.console import Console
    from rich.table import Table

    runs = next(r["ms"]["runs"] for r in rows if r["ms"])
    table = Table(title=f"face detection on photos: {args.images} composites (seed {args.seed}) + single faces; "
                        f"latency: median of {runs} calls in {args.rounds} interleaved rounds (p90), "
                        f"num_threads={args.threads}; {os.cpu_count()} cores, load average {load:.2f}")
    for column in ("bundle", "set", "faces", "found", "recall", "false/image", "goal met", "detect ms"):
        table.add_column(column, justify="left" if column in ("bundle", "set", "goal met") else "right")
    for r in rows:
        fpi = "-" if r["false_per_image"] is None else f"{r['false_per_image']:.2f}"
        ms = "-" if r["ms"] is None else f"{r['ms']['median_ms']:.2f} ({r['ms']['p90_ms']:.2f})"
        recall = "-" if not r["faces"] else f"{r['recall']:.3f}"
        table.add_row(r["bundle"], r["set"], str(r["faces"]), str(r["found"]), recall, fpi, met(r), ms)
    Console(width=200).print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=30, help="composites to build (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the composites (default 0)")
    parser.add_argument("--bundles", nargs="+", default=list(DEFAULT_BUNDLES),
                        help=f"pretrained bundles to run, each NAME[:SEARCH][@native] (SEARCH: the SDK's search "
                             f"option, whole, auto or all; default the bundle's) (default {' '.join(DEFAULT_BUNDLES)})")
    parser.add_argument("--downscale", choices=("bilinear", "area"), default="bilinear",
                        help="the Python SDK's resize where it shrinks: as it is (bilinear), or a what-if with "
                             "OpenCV's area averaging (default bilinear)")
    parser.add_argument("--runs", type=int, default=60, help="timed calls per bundle and case (default 60)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the bundles take turns this many times, each timing runs/rounds calls (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before each round (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="SDK interpreter threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.downscale == "area":
        area_downscale()
    load = os.getloadavg()[0]
    log(f"building {args.images} composites (seed {args.seed})")
    photos = composites(args.images, args.seed)
    singles = single_face_photos()
    log(f"{sum(len(p.faces) for p in photos)} faces; detecting with {', '.join(args.bundles)}")
    rows = measure(args, photos, singles)
    print_table(rows, args, load)
    print(f"match: greedy one-to-one, IoU >= {MIN_IOU}; goal: recall >= {GOAL_RECALL} and <= {GOAL_FALSE:g} "
          f"false face per image; machine: {os.cpu_count()} cores, 1-minute load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; Python SDK downscale: {args.downscale}")
    if args.json:
        args.json.write_text(json.dumps({"load_before": load, "rows": rows}, indent=1, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
