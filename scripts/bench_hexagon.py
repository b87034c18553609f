"""Hexagon compile figures: context size, compile time, HTP offload and simulator parity.

For each model, precision (w8a8, w8a16) and SoC: the QNN context's size, the compile
time, the share of graph nodes on the HTP (compiled with CPU fallback disabled, so
anything short of 100 % is named), and the fidelity of the context run in the HTP
simulator against the float model on real face images.

Models: the real pretrained detector (MediaPipe BlazeFace short range) and embedder
(dlib's ResNet), fetched into bundles by ``edgeface models fetch``, and the project's own
architectures (``edgeface.models``: blazeface, mobilefacenet, mobilefacenet_int8) with
their initial weights, for offload only (untrained weights make parity figures
meaningless). Goal: 100 % of nodes on the HTP for the project's detector and embedder
at w8a8, embedding cosine vs float >= 0.99.

    python scripts/bench_hexagon.py [--socs SM8650,SM8750] [--calib-size 32] [--only pretrained,architectures]

Simulator timings mean nothing, so none are shown; compile times are this host's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pretrained_requests(out: Path, socs: list[str], precisions: list[str], calib_size: int) -> list:
    from edgeface.bundle import load_bundle
    from edgeface.converters.hexagon import bundle_requests
    from edgeface.pretrained import fetch_model

    requests = []
    for name in ("blazeface", "dlib-resnet"):
        bundle = load_bundle(fetch_model(name))
        for spec, request in bundle_requests(bundle, out / name, socs, precisions, calibration_size=calib_size):
            requests.append((f"{name} ({spec.role})", request))
    return requests


def architecture_requests(out: Path, socs: list[str], precisions: list[str], calib_size: int) -> list:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgeface.converters.hexagon import CompileRequest
    from edgeface.models import create_model

    requests = []
    for name in ("blazeface", "mobilefacenet", "mobilefacenet_int8"):
        path = out / "architectures" / f"{name}.keras"
        path.parent.mkdir(parents=True, exist_ok=True)
        create_model(name).save(path)
        requests.append((f"{name} (edgeface.models, untrained)",
                         CompileRequest(source=path, out=out / "architectures" / name, precisions=precisions,
                                        socs=socs, calibration_size=calib_size)))
    return requests


def rows_for(label: str, result, trained: bool) -> list[list[str]]:
    from edgeface.converters.job import role_summary

    rows = []
    for artifact in result.artifacts:
        c = artifact.context
        parity = role_summary(artifact.fidelity) if trained else "-"
        met = ""
        if c.precision == "w8a8":
            offload_ok = c.full_offload
            cosine_ok = artifact.fidelity.embedder is None or artifact.fidelity.embedder.cosine_worst >= 0.99
            met = "yes" if offload_ok and (cosine_ok or not trained) else "NO"
        rows.append([label, c.precision, f"{c.soc} v{c.htp_arch}", f"{c.binary_bytes / 1024:.0f}",
                     f"{c.compile_seconds:.2f}", f"{c.nodes_on_htp}/{c.nodes_total} "
                     f"({100 * c.nodes_on_htp / c.nodes_total:.0f} %)", parity, met])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socs", default="SM8650,SM8750", help="comma-separated SoC part numbers")
    parser.add_argument("--precisions", default="w8a8,w8a16")
    parser.add_argument("--calib-size", type=int, default=32, help="calibration samples per model")
    parser.add_argument("--only", default="pretrained,architectures",
                        help="which models: pretrained (BlazeFace, dlib ResNet), architectures (edgeface.models)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-hexagon")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from rich.console import Console
    from rich.table import Table

    from edgeface.converters.hexagon import compile_hexagon

    socs, precisions, only = args.socs.split(","), args.precisions.split(","), args.only.split(",")
    console = Console(width=200)
    started = time.perf_counter()
    jobs = []
    if "pretrained" in only:
        jobs += [(label, req, True) for label, req in pretrained_requests(args.out, socs, precisions, args.calib_size)]
    if "architectures" in only:
        jobs += [(label, req, False) for label, req in architecture_requests(args.out, socs, precisions,
                                                                             args.calib_size)]
    for label, request, trained in jobs:  # a table per model, printed as soon as it is measured
        with console.status(f"{label}") as status:
            result = compile_hexagon(request, progress=status.update)
        table = Table("model", "precision", "SoC", "context KiB", "compile s", "nodes on HTP",
                      "simulator vs float", "w8a8 goal met")
        for row in rows_for(label, result, trained):
            table.add_row(*row)
        console.print(table)
    console.print(f"goal (w8a8): 100 % of nodes on the HTP; embedding cosine vs float >= 0.99. "
                  f"Total {time.perf_counter() - started:.0f} s; reports under {args.out}")


if __name__ == "__main__":
    main()
