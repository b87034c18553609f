"""Time the native vision library's per-frame work around the model, beside the Python
SDK's preprocessing of the same frame, as a table.

    python scripts/bench_native_vision.py [--runs 2000]

Builds native/build/bench (Release) with CMake and Ninja, runs its edgeface_vision_bench
(a 640x480 frame into BlazeFace's 128x128 input from RGB and from NV21 turned 90 degrees,
decode + weighted NMS + map back of one face, one 112x112 chip), and prints the load: on a
shared machine every figure moves with it. The native figures are the median thread CPU
time of many calls; the Python one the median wall time (CPU time would leave out numpy's
threads, which it does not use for this).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgeface.bundle import InputSpec
from edgeface.preprocess import Preprocessor

ROOT = Path(__file__).resolve().parent.parent


def build() -> Path:
    """The release tree's vision bench (scripts/native_build.py builds it with the rest)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from native_build import build as build_trees

    return build_trees(sys.executable)["release"] / "tests" / "vision" / "edgeface_vision_bench"


def python_preprocess_us(runs: int) -> float:
    """The SDK's Preprocessor (OpenCV's resize when installed) on a 640x480 RGB frame."""
    spec = InputSpec(height=128, width=128, layout="NHWC", dtype="float32", channel_order="RGB",
                     mean=(127.5,) * 3, std=(127.5,) * 3, resize="letterbox", pad="center")
    frame = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    pre = Preprocessor(spec)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pre(frame)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="timed calls per step (default 2000)")
    args = parser.parse_args()
    table = subprocess.run([str(build()), str(args.runs)], check=True, capture_output=True, text=True).stdout
    print(table, end="")
    print(f"| {'Python SDK: Preprocessor, 640x480 RGB -> 128x128 (wall)':<56} | "
          f"{python_preprocess_us(args.runs):12.1f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; budget (issue 16): "
          f"RGB <= 50 us, NV21 with rotation <= 100 us of overhead per detect")


if __name__ == "__main__":
    main()
