#!/usr/bin/env python3
"""Runtime SDK benchmark: what ``detect()`` adds over the bare interpreter, and gallery speed.

For a 128x128 BlazeFace-layout detector (the fixture bundle's) on a 640x480 frame, with
1 interpreter thread, in one run: the median of N ``invoke()`` calls against the median
of N whole ``FaceAnalyzer.detect()`` calls (validate + resize + letterbox + normalise +
invoke + decode + NMS + map back), with OpenCV's resize and with the numpy fallback.
Goal: ``detect()`` adds at most 0.15 ms over ``invoke()``. Then the gallery table from
bench_gallery.py.

    .venv/bin/python scripts/bench_runtime.py [--runs 500] [--gallery-sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "tests" / "fixtures" / "bundles" / "blob_detector_only"


def median_ms(fn, runs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def frame() -> np.ndarray:
    """The astronaut photograph stretched to 640x480, a realistic frame."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((640, 480), Image.BILINEAR))


def one_face_frame() -> np.ndarray:
    """A 640x480 frame with one white square: 14 candidate anchors, one face."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[160:240, 160:240] = 255
    return image


def detector_rows(runs: int) -> list[dict]:
    from edgeface import FaceAnalyzer, preprocess

    analyzer = FaceAnalyzer.create_from_bundle(BUNDLE, num_threads=1, search="whole")
    model = analyzer.detector.model
    interpreter = model.backend._interpreter
    rows = []
    for label, image in (("astronaut", frame()), ("one square", one_face_frame())):
        batch, _ = analyzer.detector.preprocess(image)
        model.backend.run([model.quantize_input(batch)])  # leaves the input tensor set
        raw = analyzer.detector.decoder.decode(model.run(batch), analyzer.detector.spec.score_threshold)
        invoke = median_ms(interpreter.invoke, runs)
        timed = [("bare interpreter invoke()", invoke),
                 ("SDK detect(), OpenCV resize" if preprocess._cv2 else "SDK detect()",
                  median_ms(lambda: analyzer.detect(image), runs))]
        if preprocess._cv2 is not None:
            saved, preprocess._cv2 = preprocess._cv2, None
            try:
                timed.append(("SDK detect(), numpy resize", median_ms(lambda: analyzer.detect(image), runs)))
            finally:
                preprocess._cv2 = saved
        faces = len(analyzer.detect(image))
        for what, ms in timed:
            rows.append({"frame": f"{label} ({len(raw)} cand., {faces} faces)", "what": what,
                         "median_ms": ms, "overhead_ms": ms - invoke, "ratio": ms / invoke})
    print(f"detector: {BUNDLE.relative_to(ROOT)} (128x128, 896 anchors), 640x480 frames, "
          f"1 thread, median of {runs}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--gallery-sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()

    rows = detector_rows(args.runs)
    print(f"{'frame':34} {'':28} {'median ms':>10} {'over invoke ms':>15} {'x invoke':>9}")
    for r in rows:
        print(f"{r['frame']:34} {r['what']:28} {r['median_ms']:10.3f} {r['overhead_ms']:15.3f} "
              f"{r['ratio']:9.2f}")
    best = {}
    for r in rows[1:]:
        if r["what"] != "bare interpreter invoke()":
            best[r["frame"]] = min(best.get(r["frame"], 1e9), r["overhead_ms"])
    for label, overhead in best.items():
        print(f"goal: detect() adds <= 0.150 ms over invoke() on {label}: "
              f"{'met' if overhead <= 0.15 else 'NOT met'} ({overhead:.3f} ms)")
    print()

    if args.gallery_sizes:
        sys.path.insert(0, str(Path(__file__).parent))
        import bench_gallery

        sizes = [int(s) for s in args.gallery_sizes.split(",")]
        print(bench_gallery.format_table(bench_gallery.gallery_rows(sizes, args.dim, 20)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
