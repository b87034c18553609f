#!/usr/bin/env python3
"""Conversion benchmark: MobileFaceNet-sized embedders and a BlazeFace-sized detector,
through ``edgeface convert`` at every precision, in one run.

Per model and precision: conversion time, file size (and its ratio to fp32), LiteRT
latency at 1 and 2 threads (median of --runs invokes, ratio to fp32) and fidelity to
the Keras source on real face images. Goals for the int8 embedder: file <= 30 % of fp32,
latency <= 0.6x fp32, embedding cosine to fp32 >= 0.995 mean and >= 0.98 worst.

The models are the project's architectures (edgeface.models) with random weights whose
BatchNorm statistics are re-estimated on real face crops (skimage's LFW subset), so
activations have realistic ranges; a trained model replaces them once the training
issue lands.

    .venv/bin/python scripts/bench_convert.py [--runs 200] [--out runs/bench_convert]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PRECISIONS = ["fp32", "fp16", "dynamic", "int8", "int16x8"]


def recalibrated(name: str, **kwargs):
    """The named architecture with BatchNorm statistics estimated on real face images."""
    from edgeface.models import create_model
    from edgeface.quantization.calibration import face_chips

    model = create_model(name, **kwargs)
    size = model.input_shape[1]
    chips = face_chips((size, size)).astype(np.float32) / 127.5 - 1.0
    for _ in range(30):  # BatchNorm momentum 0.99: enough steps to forget the initial 0/1
        model(chips, training=True)
    return model


def latency_ms(path: Path, threads: int, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    detail = it.get_input_details()[0]
    it.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(20):
        it.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench_model(label: str, keras_model, role: str, family: str | None, out: Path, runs: int) -> list[dict]:
    from edgeface.converters.job import ConvertRequest, convert, role_summary

    out.mkdir(parents=True, exist_ok=True)
    source = out / f"{label}.keras"
    keras_model.save(source)
    result = convert(ConvertRequest(source=source, out=out / label, precisions=PRECISIONS, role=role,
                                    family=family))
    rows = []
    for artifact in result.artifacts:
        fid = artifact.fidelity
        row = {"model": label, "precision": artifact.precision, "convert_s": artifact.seconds,
               "size_kib": artifact.size_bytes / 1024, "lat1_ms": latency_ms(artifact.path, 1, runs),
               "lat2_ms": latency_ms(artifact.path, 2, runs), "coverage": artifact.coverage.summary()}
        if fid.embedder is not None:
            row["fidelity"] = f"cos mean {fid.embedder.cosine_mean:.4f} worst {fid.embedder.cosine_worst:.4f}"
        elif fid.detector is not None:
            row["fidelity"] = role_summary(fid)
        rows.append(row)
    base = next(r for r in rows if r["precision"] == "fp32")
    for r in rows:
        r["size_ratio"] = r["size_kib"] / base["size_kib"]
        r["lat1_ratio"] = r["lat1_ms"] / base["lat1_ms"]
        r["lat2_ratio"] = r["lat2_ms"] / base["lat2_ms"]
    return rows


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':22} {'prec':8} {'conv s':>6} {'KiB':>8} {'x fp32':>6} {'1T ms':>7} {'x fp32':>6} "
            f"{'2T ms':>7} {'x fp32':>6}  fidelity to source | XNNPACK")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:22} {r['precision']:8} {r['convert_s']:6.1f} {r['size_kib']:8.1f} "
              f"{r['size_ratio']:6.2f} {r['lat1_ms']:7.3f} {r['lat1_ratio']:6.2f} {r['lat2_ms']:7.3f} "
              f"{r['lat2_ratio']:6.2f}  {r.get('fidelity', '-')} | {r['coverage']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_convert"))
    args = parser.parse_args()
    rows = []
    for label, name, role, family in [("mobilefacenet", "mobilefacenet", "embedder", None),
                                      ("mobilefacenet_int8", "mobilefacenet_int8", "embedder", None),
                                      ("blazeface", "blazeface", "detector", "blazeface-short")]:
        print(f"converting {label} ...", file=sys.stderr, flush=True)
        rows += bench_model(label, recalibrated(name), role, family, args.out, args.runs)
    print_table(rows)
    for label in ("mobilefacenet", "mobilefacenet_int8"):
        int8 = next(r for r in rows if r["model"] == label and r["precision"] == "int8")
        print(f"{label} int8 goals: size {int8['size_ratio']:.2f} (<= 0.30), "
              f"latency 1T {int8['lat1_ratio']:.2f} / 2T {int8['lat2_ratio']:.2f} (<= 0.60), {int8['fidelity']} "
              f"(>= 0.995 / 0.98)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
