"""Writes native/tests/vision/data/: what the Python SDK computes on deterministic inputs,
for the C++ vision library's parity tests (native/tests/vision/test_goldens.cpp).

Synthetic images, raw model outputs drawn with a fixed seed and the presets' anchors go
through the SDK's own functions (preprocessing, the SSD and SCRFD decoders, NMS, the map
back to image pixels, alignment, L2 normalisation). ``goldens.json`` holds each case's
settings and an index of its arrays; ``goldens.bin`` the arrays, raw little-endian.

The SDK's numpy paths are the reference: with OpenCV installed the SDK resizes and warps
through it instead, in fixed point, within one grey level of numpy. NV21 frames have no
SDK function; their RGB reference is BT.601 full range computed here in float64.

tests/test_native_goldens.py regenerates them and checks they equal the committed ones,
so a change in the SDK's math that the C++ does not follow fails. Run from anywhere:
``python scripts/make_native_goldens.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import edgeface.align as align_module
import edgeface.preprocess as preprocess_module
from edgeface.align import Aligner, similarity_transform, warp_affine_numpy
from edgeface.bundle import AlignmentSpec, InputSpec
from edgeface.cards.presets import ARCFACE_TEMPLATE, BLAZEFACE_KEYPOINTS, FIVE_KEYPOINTS, PRESETS
from edgeface.decoders import OutputInfo
from edgeface.decoders.nms import suppress
from edgeface.decoders.scrfd import ScrfdDecoder
from edgeface.decoders.ssd import SsdDecoder
from edgeface.embed import l2_normalize
from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.preprocess import Preprocessor, placement_for
from edgeface.results import Detections
from edgeface.schema import Fields
from edgeface.tiled_search import Tile, _moved, _uncut, tile_levels

DATA = Path(__file__).resolve().parent.parent / "native" / "tests" / "vision" / "data"
SEED = 16  # the number: any fixed seed will do


class Goldens:
    """Arrays packed into one blob, indexed by name, with each case's settings beside them."""

    def __init__(self) -> None:
        self.index: dict[str, dict[str, Any]] = {}
        self.blob = bytearray()
        self.cases: dict[str, list[dict[str, Any]]] = {}

    def array(self, name: str, values: np.ndarray) -> str:
        values = np.ascontiguousarray(values)
        if values.dtype not in (np.uint8, np.float32, np.float64):
            raise ValueError(f"{name}: unsupported dtype {values.dtype}")
        self.index[name] = {"dtype": str(values.dtype), "shape": list(values.shape), "offset": len(self.blob)}
        self.blob += values.astype(values.dtype.newbyteorder("<")).tobytes()
        return name

    def case(self, kind: str, **settings: Any) -> None:
        self.cases.setdefault(kind, []).append(settings)

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "goldens.bin", bytes(self.blob))
        write_json(out / "goldens.json", {"seed": SEED, "arrays": self.index, "cases": self.cases})


@contextmanager
def numpy_paths() -> Iterator[None]:
    """The SDK's numpy resize and warp, whether or not OpenCV is installed."""
    saved = preprocess_module._cv2, align_module._cv2
    preprocess_module._cv2 = align_module._cv2 = None
    try:
        yield
    finally:
        preprocess_module._cv2, align_module._cv2 = saved


def synthetic_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour ramps plus noise: edges and flat parts, every channel different."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    ramps = np.stack([xs / width * 255, ys / height * 255, (xs + ys) / (width + height) * 255], axis=2)
    return np.clip(ramps + rng.normal(0, 20, ramps.shape), 0, 255).astype(np.uint8)


def input_spec(height: int, width: int, **fields: Any) -> InputSpec:
    settings = {"layout": "NHWC", "dtype": "float32", "channel_order": "RGB", "mean": [127.5] * 3,
                "std": [127.5] * 3, "resize": "letterbox", "pad": "center"} | fields
    return InputSpec(height=height, width=width, **settings)


def spec_settings(spec: InputSpec) -> dict[str, Any]:
    return {"height": spec.height, "width": spec.width, "layout": spec.layout, "channel_order": spec.channel_order,
            "mean": list(spec.mean), "std": list(spec.std), "resize": spec.resize, "pad": spec.pad}


def placement_settings(place: Any) -> dict[str, float]:
    return {"scale_x": float(np.float32(place.scale_x)), "scale_y": float(np.float32(place.scale_y)),
            "offset_x": place.offset_x, "offset_y": place.offset_y}


def preprocess_cases(g: Goldens, rng: np.random.Generator) -> None:
    """RGB images through Preprocessor: letterbox (centre, corner), stretch, NCHW + BGR,
    down- and upscaling, and frames stored turned (the sensor's orientation)."""
    cases = [  # name, image height, width, rotation, spec
        ("letterbox_center", 48, 64, 0, input_spec(32, 32)),
        ("stretch_nchw_bgr", 30, 50, 0, input_spec(16, 24, layout="NCHW", channel_order="BGR", resize="stretch",
                                                   mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])),
        ("upscale_corner", 10, 20, 0, input_spec(40, 48, pad="corner", mean=[0.0] * 3, std=[255.0] * 3)),
        ("rotated_90", 64, 48, 90, input_spec(32, 32)),
        ("rotated_270", 30, 50, 270, input_spec(24, 20, pad="corner")),
    ]
    for name, height, width, rotation, spec in cases:
        stored = synthetic_image(rng, height, width)
        upright = np.rot90(stored, -rotation // 90)  # np.rot90 turns anticlockwise
        batch, place = Preprocessor(spec)(np.ascontiguousarray(upright))
        g.case("preprocess", name=name, format="rgb", rotation=rotation, input=spec_settings(spec),
               image=g.array(f"{name}.image", stored), tensor=g.array(f"{name}.tensor", batch[0].copy()),
               placement=placement_settings(place))


def nv21_to_rgb(y_plane: np.ndarray, vu: np.ndarray) -> np.ndarray:
    """BT.601 full range (what Android's camera gives), rounded half up, in float64."""
    v = np.repeat(np.repeat(vu[:, 0::2].astype(np.float64) - 128, 2, 0), 2, 1)[:y_plane.shape[0], :y_plane.shape[1]]
    u = np.repeat(np.repeat(vu[:, 1::2].astype(np.float64) - 128, 2, 0), 2, 1)[:y_plane.shape[0], :y_plane.shape[1]]
    y = y_plane.astype(np.float64)
    rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], axis=2)
    return np.floor(np.clip(rgb, 0, 255) + 0.5).astype(np.uint8)


def nv21_cases(g: Goldens, rng: np.random.Generator) -> None:
    """A camera frame (NV21, stored turned 90 degrees) through the reference conversion
    and Preprocessor: the C++ converts and turns it in its single pass."""
    height, width, rotation = 48, 64, 90
    # Y 48..207 and chroma 104..152: no channel clips, so the C++ (which blends Y, U, V and
    # converts once per output pixel) is within half a grey level of this reference.
    y_plane = (synthetic_image(rng, height, width)[:, :, 0] * 0.625 + 48).astype(np.uint8)
    vu = rng.integers(104, 153, (height // 2, width), dtype=np.uint8)
    rgb = nv21_to_rgb(y_plane, vu)
    spec = input_spec(32, 32)
    batch, place = Preprocessor(spec)(np.ascontiguousarray(np.rot90(rgb, -rotation // 90)))
    g.case("nv21", name="nv21_rotated_90", rotation=rotation, input=spec_settings(spec),
           y=g.array("nv21.y", y_plane), vu=g.array("nv21.vu", vu), rgb=g.array("nv21.rgb", rgb),
           tensor=g.array("nv21.tensor", batch[0].copy()), placement=placement_settings(place))


def with_outputs(decoder: dict[str, Any], outputs: Any) -> dict[str, Any]:
    return {**decoder, "outputs": outputs}


def detection_case(g: Goldens, name: str, preset: str, decoder: Any, raw: list[np.ndarray],
                   image_size: tuple[int, int], spec: InputSpec, settings: dict[str, Any]) -> None:
    """Decode, then both NMS methods, then the map back to an image of ``image_size``."""
    entry = PRESETS[preset]
    found = decoder.decode(raw, entry["score_threshold"])
    place = placement_for(spec, *image_size)
    arrays = {}
    for method in ("hard", "weighted"):
        kept = suppress(found, method, entry["nms_iou"], entry["max_faces"])
        boxes = place.to_original(kept.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        arrays[method] = {"boxes": g.array(f"{name}.{method}.boxes", kept.boxes),
                          "scores": g.array(f"{name}.{method}.scores", kept.scores),
                          "keypoints": g.array(f"{name}.{method}.keypoints", kept.keypoints),
                          "image_boxes": g.array(f"{name}.{method}.image_boxes", boxes),
                          "image_keypoints": g.array(f"{name}.{method}.image_keypoints",
                                                     place.to_original(kept.keypoints))}
    g.case("scrfd" if preset == "scrfd" else "ssd", name=name, preset=preset, decoder=settings,
           input=spec_settings(spec), image_height=image_size[0], image_width=image_size[1],
           score_threshold=entry["score_threshold"], nms_iou=entry["nms_iou"], max_faces=entry["max_faces"],
           raw=[g.array(f"{name}.raw{i}", r) for i, r in enumerate(raw)],
           decoded={"boxes": g.array(f"{name}.boxes", found.boxes), "scores": g.array(f"{name}.scores", found.scores),
                    "keypoints": g.array(f"{name}.keypoints", found.keypoints)},
           nms=arrays)


def ssd_cases(g: Goldens, rng: np.random.Generator) -> None:
    """Each SSD preset's anchors, and raw outputs with a few clusters of confident anchors
    decoded by the BlazeFace short-range and edgeface-ssd-256 presets."""
    for preset in ("blazeface-short", "blazeface-full", "edgeface-ssd-128", "edgeface-ssd-256"):
        entry = PRESETS[preset]
        size = entry["input"]["height"]
        settings = with_outputs(entry["decoder"], {"boxes": 0, "scores": 1})
        decoder = SsdDecoder.parse(Fields(settings, "decoder"), size, size)
        g.case("anchors", name=preset, size=size, decoder=settings, anchors=g.array(f"{preset}.anchors", decoder.anchors))
        if preset not in ("blazeface-short", "edgeface-ssd-256"):
            continue
        n, coords = len(decoder.anchors), decoder.num_coords
        decoder.bind([OutputInfo("boxes", (1, n, coords)), OutputInfo("scores", (1, n, 1))])
        scores = rng.normal(-6, 2, (1, n, 1)).astype(np.float32)
        for centre in rng.choice(n, 4, replace=False):  # a face: neighbouring anchors agree
            scores[0, centre:centre + 6, 0] = rng.normal(3, 1.5, len(scores[0, centre:centre + 6, 0]))
        boxes = rng.normal(0, 4, (1, n, coords)).astype(np.float32)
        boxes[0, :, 2:4] = rng.uniform(10, 40, (n, 2))
        spec = input_spec(size, size)
        detection_case(g, preset, preset, decoder, [boxes, scores], (480, 640), spec, settings)


def scrfd_case(g: Goldens, rng: np.random.Generator) -> None:
    """The SCRFD preset's decoder at 160x160 (three strides, two anchors a cell)."""
    size, entry = 160, PRESETS["scrfd"]
    strides = entry["decoder"]["strides"]
    refs = {kind: [f"{kind}{s}" for s in strides] for kind in ("scores", "boxes", "keypoints")}
    settings = with_outputs(entry["decoder"], refs)
    decoder = ScrfdDecoder.parse(Fields(settings, "decoder"), size, size)
    counts = [(size // s) ** 2 * 2 for s in strides]
    scores = [rng.uniform(0, 0.3, (n, 1)) for n in counts]
    boxes = [rng.uniform(0.5, 4, (n, 4)) for n in counts]
    for level in (0, 0, 1):  # a face: four neighbouring anchors agree on its box
        first = rng.integers(0, counts[level] - 4)
        scores[level][first:first + 4] = rng.uniform(0.55, 0.95, (4, 1))
        boxes[level][first:first + 4] = rng.uniform(2, 3, (4, 4))
    keypoints = [rng.normal(0, 2, (n, 10)) for n in counts]
    raw = [values.astype(np.float32)[None] for values in scores + boxes + keypoints]
    infos = [OutputInfo(f"{kind}{s}", (1, n, width)) for kind, width in (("scores", 1), ("boxes", 4), ("keypoints", 10))
             for s, n in zip(strides, counts)]
    decoder.bind(infos)
    spec = input_spec(size, size, std=[128.0] * 3, pad="corner")
    detection_case(g, "scrfd", "scrfd", decoder, raw, (240, 320), spec, settings)


def align_cases(g: Goldens, rng: np.random.Generator) -> None:
    """Similarity transforms of jittered faces to the ArcFace template (five points, and
    BlazeFace's six with the mouth centre), and one chip warped from a frame stored turned
    90 degrees, normalised as an embedder input."""
    template = AlignmentSpec(112, 112, dict(ARCFACE_TEMPLATE))
    height, width = 96, 80
    upright = synthetic_image(rng, height, width)
    for names in (FIVE_KEYPOINTS, BLAZEFACE_KEYPOINTS):
        aligner = Aligner(template, names)
        # A face 0.4 times the template's size (BlazeFace's mouth centre and ears, which the
        # template lacks, near the mouth: the ears are not matched), jittered.
        face = np.array([ARCFACE_TEMPLATE.get(n, (56.0, 92.3)) for n in names]) * 0.4 + (15, 20)
        points = (face + rng.normal(0, 1.5, face.shape)).astype(np.float32)
        matrix = aligner.matrix(points)
        name = f"align{len(names)}"
        case = {"name": name, "keypoint_names": list(names), "keypoints": g.array(f"{name}.keypoints", points),
                "matrix": g.array(f"{name}.matrix", matrix)}
        if names is FIVE_KEYPOINTS:
            chip = warp_affine_numpy(upright, matrix, 112, 112)
            spec = input_spec(112, 112, mean=[127.5] * 3, std=[128.0] * 3)
            case |= {"image": g.array(f"{name}.image", np.rot90(upright, 1)), "rotation": 90,
                     "input": spec_settings(spec), "tensor": g.array(f"{name}.tensor", Preprocessor(spec).normalize(chip))}
        g.case("align", template={k: list(v) for k, v in ARCFACE_TEMPLATE.items()}, **case)
    vectors = rng.normal(0, 1, (3, 128)).astype(np.float32)
    units = l2_normalize(vectors)
    g.case("embedding", name="l2", vectors=g.array("l2.vectors", vectors), units=g.array("l2.units", units),
           cosine=[float(units[0] @ units[1]), float(units[0] @ units[2])])


# (width, height, min_face): a landscape and a portrait photo, a large one, sides that are
# not multiples of the tile, an image too small for any tile
TILE_PLANS = ((1280, 960, 40), (960, 1280, 40), (4000, 3000, 40), (1001, 333, 8), (640, 480, 160), (100, 100, 40))


def tile_cases(g: Goldens, rng: np.random.Generator) -> None:
    """The tiled search's plan for images of several shapes (rows of level, x, y, width,
    height), and the faces a tile keeps (a
    face its inner border cuts is dropped) moved into image pixels."""
    for width, height, min_face in TILE_PLANS:
        rows = [(n, t.x, t.y, t.width, t.height) for n, level in enumerate(tile_levels(width, height, min_face))
                for t in level]
        name = f"plan{width}x{height}_{min_face}"
        g.case("tile_plan", width=width, height=height, min_face=min_face,
               tiles=g.array(name, np.array(rows, np.float64).reshape(-1, 5)))
    width, height = 1280, 960
    for tile in (Tile(320, 240, 320, 320), Tile(0, 0, 640, 640), Tile(640, 320, 640, 640)):
        starts = rng.uniform(-1, tile.width - 40, (24, 2))
        starts[:8] = [[0, 50], [1.99, 60], [2.0, 70], [2.01, 80], [50, 0], [60, 2.0], [70, 2.01], [80, 100]]
        sides = rng.uniform(20, 60, (24, 1))
        sides[:8] = 30
        boxes = np.concatenate([starts, starts + sides], axis=1).astype(np.float32)
        boxes[8:12, 2] = tile.width - rng.uniform(0, 4, 4)  # at and off the right border
        boxes[12:16, 3] = tile.height - rng.uniform(0, 4, 4)
        found = Detections(boxes, rng.uniform(0.5, 1, 24).astype(np.float32),
                           rng.uniform(0, tile.width, (24, 2, 2)).astype(np.float32), ("a", "b"))
        kept = _moved(found.take(_uncut(found, tile, width, height)), tile)
        name = f"tile{tile.x}_{tile.y}"
        g.case("tile_keep", name=name, tile=[tile.x, tile.y, tile.width, tile.height], width=width, height=height,
               boxes=g.array(f"{name}.boxes", found.boxes), scores=g.array(f"{name}.scores", found.scores),
               keypoints=g.array(f"{name}.keypoints", found.keypoints),
               kept_boxes=g.array(f"{name}.kept_boxes", kept.boxes),
               kept_scores=g.array(f"{name}.kept_scores", kept.scores),
               kept_keypoints=g.array(f"{name}.kept_keypoints", kept.keypoints))


def make(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    g = Goldens()
    with numpy_paths():
        preprocess_cases(g, rng)
        nv21_cases(g, rng)
        ssd_cases(g, rng)
        scrfd_case(g, rng)
        align_cases(g, rng)
        tile_cases(g, rng)
    g.write(out)


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
