"""One benchmark result, the same shape whichever backend produced it.

The timing fields follow TFLite's ``benchmark_model`` (init, first inference, warm-up
average, inference average; milliseconds here, microseconds there) so that a host run, a
phone run over adb, an AI Hub profile and an estimate can sit in one table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

BACKENDS = ("host", "adb", "hub", "estimate")


@dataclass
class BenchResult:
    model: str                                   # the file or bundle benchmarked
    backend: str                                 # one of BACKENDS
    device: str                                  # "Samsung Galaxy S24", "host (AMD EPYC 7B13, 2 cores)"
    runtime: str                                 # litert, onnxruntime, tflite, qnn_context_binary, ...
    compute_unit: str = "cpu"                    # cpu, gpu, npu (HTP), nnapi
    precision: str = "fp32"                      # fp32, fp16, int8, w8a8, w8a16
    profile: Optional[str] = None                # device profile id, when one was used
    threads: Optional[int] = None
    runs: int = 0
    init_ms: Optional[float] = None
    first_inference_ms: Optional[float] = None
    warmup_avg_ms: Optional[float] = None
    inference_avg_ms: Optional[float] = None
    median_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    min_ms: Optional[float] = None
    max_ms: Optional[float] = None
    std_ms: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    layers: Optional[dict[str, int]] = None      # layer count per compute unit: {"npu": 120, "cpu": 2}
    estimate_low_ms: Optional[float] = None      # an estimate's range (backend "estimate")
    estimate_high_ms: Optional[float] = None
    source: str = ""                             # how the figure was obtained, in words
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_ms(self) -> Optional[float]:
        """The figure budgets are checked against: the median, else the average."""
        return self.median_ms if self.median_ms is not None else self.inference_avg_ms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchResult":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown benchmark result fields: {', '.join(unknown)}")
        if data.get("backend") not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {data.get('backend')!r}")
        return cls(**data)


def save_results(path: Path, results: list[BenchResult]) -> None:
    """Write results as one JSON document (atomically)."""
    from edgeface.fsutil import write_json

    write_json(path, {"results": [r.to_dict() for r in results]})


def load_results(path: Path) -> list[BenchResult]:
    return [BenchResult.from_dict(row) for row in json.loads(Path(path).read_text())["results"]]
