"""Validate edgeface's latency estimator against the published real-device measurements.

Two predictors, each beside a naive baseline computed in the same run (see
docs/profiles.md, "How good are the estimates"):

- transfer: leave one model out; predict its latency on every device from its latency on
  one reference device (Galaxy S24 by default). Baseline: scale by the device's median
  latency ratio to the reference (same runtime and precision).
- graph: predict a model's latency from its file alone (per-op MACs and bytes, op types,
  precision), on every published model whose graph edgeface can obtain offline. Baseline:
  MACs only (the device's median ms per GMAC).

    python scripts/validate_estimator.py                   # both tables (Markdown)
    python scripts/validate_estimator.py --reference "Samsung Galaxy S25" --json out.json
    python scripts/validate_estimator.py extract           # rebuild device_profiles/reference_graphs.json

``extract`` needs the toolchain (TensorFlow): it builds the Keras-applications
architectures that match published models (random weights: latency does not depend on
them), converts them to TFLite fp32 and int8, takes the MediaPipe models out of the
mediapipe 0.10.21 wheel (pip download, no other network), measures each on this host's CPU
with LiteRT, and stores the per-op cost summaries.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgeface.cards.pretrained import SHORT_RANGE_SOURCE  # noqa: E402  (after the path set-up)

OUT = ROOT / "device_profiles" / "reference_graphs.json"

# Published model component -> how edgeface obtains an equivalent graph offline.
# match: "exact" (the same file), "same architecture" (the same network and input size,
# built here with random weights; small differences noted), "same network, other input".
KERAS = [
    # (published component, keras.applications name, input size, note)
    ("mobilenet_v2/MobileNet-v2", "MobileNetV2", 224, "Keras MobileNetV2 1.0 (torchvision's has the same layers)"),
    ("mobilenet_v3_large/MobileNet-v3-Large", "MobileNetV3Large", 224, "Keras MobileNetV3Large (+ a Rescaling layer)"),
    ("mobilenet_v3_small/MobileNet-v3-Small", "MobileNetV3Small", 224, "Keras MobileNetV3Small (+ a Rescaling layer)"),
    ("resnet50/ResNet50", "ResNet50", 224, "Keras ResNet50 v1 (stride in the 1x1, torchvision's v1.5 in the 3x3)"),
    ("resnet101/ResNet101", "ResNet101", 224, "Keras ResNet101 v1"),
    ("efficientnet_b0/EfficientNet-B0", "EfficientNetB0", 224, "Keras EfficientNetB0 (+ normalisation layers)"),
    ("efficientnet_b4/EfficientNet-B4", "EfficientNetB4", 380, "Keras EfficientNetB4"),
    ("efficientnet_v2_s/EfficientNet-V2-s", "EfficientNetV2S", 384, "Keras EfficientNetV2S"),
    ("densenet121/DenseNet-121", "DenseNet121", 224, "Keras DenseNet121"),
    ("inception_v3/Inception-v3", "InceptionV3", 299, "Keras InceptionV3"),
    ("convnext_tiny/ConvNext-Tiny", "ConvNeXtTiny", 224, "Keras ConvNeXtTiny"),
]
# Int8 (w8a8) versions are built for the networks published in w8a8 too.
KERAS_INT8 = {"MobileNetV2", "MobileNetV3Large", "ResNet50", "ResNet101", "InceptionV3", "ConvNeXtTiny"}
MEDIAPIPE_WHEEL = SHORT_RANGE_SOURCE  # the pinned mediapipe wheel the pretrained BlazeFace comes from
MEDIAPIPE = [
    # (published component or None, member of the wheel, match)
    ("mediapipe_selfie/MediaPipe-Selfie-Segmentation",
     "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", "exact (AI Hub ports this file)"),
    ("mediapipe_face/face_landmark_detector", "mediapipe/modules/face_landmark/face_landmark.tflite",
     "same network (MediaPipe face mesh, 192x192)"),
    (None, "mediapipe/modules/face_detection/face_detection_short_range.tflite",
     "not comparable: AI Hub publishes BlazeFace back (256x256); the wheel holds the short-range 128x128"),
    (None, "mediapipe/modules/palm_detection/palm_detection_full.tflite",
     "not comparable: AI Hub's palm detector takes 256x256, this one 192x192"),
    (None, "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
     "not comparable: AI Hub's hand landmark model takes 256x256, this one 224x224"),
]


# ----------------------------------------------------------------------------- extract

def _host_latency(data: bytes, runs: int = 5, max_s: float = 20.0) -> float | None:
    """Median single-thread LiteRT latency on this host (None when too slow to measure)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        dtype = detail["dtype"]
        value = np.random.default_rng(0).random(detail["shape"]) * (255 if dtype != np.float32 else 1)
        interpreter.set_tensor(detail["index"], value.astype(dtype))
    start = time.perf_counter()
    interpreter.invoke()   # warm-up
    first = time.perf_counter() - start
    if first * runs > max_s:
        return round(first * 1000, 3)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 3)


def _keras_tflite(name: str, size: int, int8: bool) -> bytes:
    import keras
    import numpy as np
    import tensorflow as tf

    builder = getattr(keras.applications, name)
    kwargs = {"weights": None, "input_shape": (size, size, 3)}
    if name.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = True
    model = builder(**kwargs)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(2):
                yield [rng.random((1, size, size, 3), dtype=np.float32) * 255]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    data = converter.convert()
    keras.backend.clear_session()
    return data


def _mobilefacenet_tflite() -> bytes:
    import tensorflow as tf

    from edgeface.models.mobilefacenet import mobilefacenet

    model = mobilefacenet(embedding_size=512, activation="prelu")
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _cache() -> Path:
    from edgeface.pretrained.fetch import cache_dir

    folder = cache_dir() / "reference_graphs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cached(name: str, build) -> bytes:
    """The graph's .tflite from the cache, built (and cached) when missing: re-extracting
    features after a change to edgeface.bench.graph then takes seconds, not a conversion."""
    path = _cache() / f"{name}.tflite"
    if not path.is_file():
        path.write_bytes(build())
    return path.read_bytes()


def _record(name, published, match, data, source, measure_host=True) -> dict:
    import hashlib

    from edgeface.bench.graph import read_tflite

    graph = read_tflite(data, name)
    macs = graph.macs
    row = {"name": name, "published": published, "match": match, "source": source,
           "format": "tflite", "precision": graph.precision,
           "published_precision": graph.published_precision,
           "features": graph.features(), "macs": macs, "ops": len(graph.ops),
           "op_types": sorted({op.type for op in graph.ops})}
    timing = _cache() / f"{name}.host.json"
    digest = hashlib.sha256(data).hexdigest()
    if timing.is_file() and json.loads(timing.read_text()).get("sha256") == digest:
        row["host_cpu_ms_1thread"] = json.loads(timing.read_text())["ms"]
    elif measure_host and macs < 6e9:
        row["host_cpu_ms_1thread"] = _host_latency(data)
        timing.write_text(json.dumps({"sha256": digest, "ms": row["host_cpu_ms_1thread"]}))
    print(f"  {name}: {graph.precision}, {macs / 1e6:.0f} MMAC, {len(graph.ops)} ops, "
          f"host {row.get('host_cpu_ms_1thread')} ms", flush=True)
    return row


def extract(args) -> None:
    from edgeface.bench.profiles import host_profile
    from edgeface.pretrained.fetch import distribution_path

    rows = []
    wheel = distribution_path(MEDIAPIPE_WHEEL)
    with zipfile.ZipFile(wheel) as archive:
        for published, member, match in MEDIAPIPE:
            rows.append(_record(Path(member).stem, published, match, archive.read(member),
                                f"{MEDIAPIPE_WHEEL.distribution}: {member}"))
    rows.append(_record("mobilefacenet_prelu_512", "mobile_facenet/MobileFaceNet",
                        "same architecture (edgeface.models.mobilefacenet, PReLU, 112x112, 512-d)",
                        _cached("mobilefacenet_prelu_512", _mobilefacenet_tflite),
                        "edgeface.models.mobilefacenet, random weights"))
    for published, name, size, note in KERAS:
        if args.only and name not in args.only:
            continue
        for int8 in ([False, True] if name in KERAS_INT8 else [False]):
            label = f"{name}_{'int8' if int8 else 'fp32'}"
            data = _cached(label, lambda: _keras_tflite(name, size, int8))
            rows.append(_record(label, published, f"same architecture ({note})", data,
                                f"keras.applications.{name}(weights=None, {size}x{size}), "
                                f"TFLite {'full-int8 (random calibration)' if int8 else 'fp32'}"))
    host = host_profile()
    doc = {"schema": 1,
           "about": "Graphs of published models that edgeface can obtain offline, their per-op cost "
                    "summaries, and their single-thread LiteRT latency on the host that extracted them. "
                    "Generated by scripts/validate_estimator.py extract; do not edit by hand.",
           "host": {"cpu": host.chipset, "ghz": host.cpu_clusters[0].ghz, "features": list(host.cpu_features),
                    "runtime": "ai-edge-litert (XNNPACK), 1 thread"},
           "graphs": rows}
    text = json.dumps(doc, indent=1)
    from edgeface.fsutil import atomic_write_bytes

    atomic_write_bytes(args.out, text.encode())
    print(f"wrote {args.out}: {len(rows)} graphs")


# ----------------------------------------------------------------------------- validate

def validate(args) -> None:
    from edgeface.bench import estimate as est
    from edgeface.bench.validation import validation_markdown

    transfer = est.validate_transfer(reference=args.reference)
    graph = est.validate_graph()
    if args.json:
        Path(args.json).write_text(json.dumps({"transfer": transfer, "graph": graph}, indent=1))
    print(validation_markdown(transfer, graph, full=args.full), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    ex = sub.add_parser("extract", help="rebuild device_profiles/reference_graphs.json (needs TensorFlow)")
    ex.add_argument("--out", type=Path, default=OUT)
    ex.add_argument("--only", nargs="*", help="only these keras.applications names")
    parser.add_argument("--reference", default="Samsung Galaxy S24", help="reference device (AI Hub name)")
    parser.add_argument("--json", help="also write the figures as JSON here")
    parser.add_argument("--full", action="store_true", help="also the transfer table per runtime and precision")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args)
    else:
        validate(args)


if __name__ == "__main__":
    main()
