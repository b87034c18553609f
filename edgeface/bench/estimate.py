"""Latency estimates for every device profile, and how good they are.

Two predictors, both resting on the real-device measurements Qualcomm publishes in the
``qai-hub-models`` wheel (``device_profiles/calibration.json``, written by
``scripts/import_qai_hub_models.py``):

- **transfer** (:func:`estimate_from_measurement`): a model measured once on one device (an
  AI Hub profile, a phone over adb) -> its latency on every other device. The device's
  latency ratio to the reference is read off the published models that look most like this
  one on the reference device (latency, peak memory, layer count): a robust (least absolute
  deviations) local-linear kernel fit of their log ratios, not one ratio per device, because
  small models (dispatch-bound) and large ones (compute- or bandwidth-bound) scale
  differently between SoCs (:func:`_transfer_ratio`).
- **graph** (:func:`estimate`): a model file alone -> its latency. Its per-op cost (MACs of
  dense and depthwise convolutions, bytes moved, op count, precision, ops the NPU leaves to
  the CPU; :mod:`edgeface.bench.graph`) goes through a cost model whose coefficients are
  fitted, per device / runtime / precision, on the published models whose graphs edgeface
  can obtain offline (``device_profiles/reference_graphs.json``). Ops the NPU does not take
  are priced on the CPU model and add a delegate hand-over per graph split. The CPU estimate
  uses the same per-op cost with per-core SIMD widths and an efficiency measured on the host.

Every estimate is a :class:`~edgeface.bench.result.BenchResult` with backend ``estimate``:
``median_ms`` the point estimate, ``estimate_low_ms``/``estimate_high_ms`` the range (the
10th-90th percentile of the predictor's own leave-one-out errors), and ``source`` what it
rests on. :func:`validate_transfer` and :func:`validate_graph` compute the error tables
(``scripts/validate_estimator.py`` prints them).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from edgeface.errors import EdgefaceError

DEFAULT_REFERENCE = "Samsung Galaxy S24"
# Runtimes whose published figures are one graph on the NPU (transfer and graph fits).
NPU_RUNTIMES = ("tflite", "qnn_dlc", "qnn_context_binary", "onnx")
TRANSFER_RUNTIMES = ("tflite", "qnn_dlc", "qnn_context_binary")
PRECISIONS = ("float", "w8a8", "w8a16")
# Transfer predictor (see _transfer_ratio): kernel width (in standard deviations of the log
# features), the weight of a neighbour measured with another runtime, the ridge penalty on
# the local slopes (per unit of total weight), the floor of the |residual| in the robust
# (least absolute deviation) reweighting, and its number of reweighting steps. Global
# constants, round values chosen by leave-one-model-out on the published data; the error
# moves by < 1 point of p90 over 0.8-1.4 x the bandwidth, 0.1-0.5 x the runtime weight.
_BANDWIDTH = 1.0
_OTHER_RUNTIME_WEIGHT = 0.3
_SLOPE_RIDGE = 0.01
_LAD_FLOOR = 0.05
_LAD_STEPS = 10
# A graph split hands tensors between the NPU and the CPU: assumed cost per hand-over
# (not measured here: no published figure isolates it).
HANDOVER_MS = 0.1


class EstimateError(EdgefaceError):
    """An estimate that cannot be made (unknown device, no calibration for it)."""


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Measurement:
    ms: float
    mem_mb: Optional[float]
    layers: int
    primary: Optional[str]        # npu / gpu / cpu: where most layers ran


class Calibration:
    """The published measurements, indexed by (runtime, precision) -> device -> model."""

    def __init__(self, doc: dict[str, Any]):
        if doc.get("schema") != 1:
            raise EstimateError("device_profiles/calibration.json: unknown schema: regenerate it with "
                                "python scripts/import_qai_hub_models.py")
        self.source: dict[str, Any] = doc["source"]
        self.devices: dict[str, dict[str, Any]] = {d["name"]: d for d in doc["devices"]}
        # devices whose published figures are copied from another device (reference_chipset)
        self.copies = {n for n, d in self.devices.items() if d.get("reference_chipset")}
        self.models: list[str] = doc["models"]
        names = [d["name"] for d in doc["devices"]]
        self.series: dict[tuple[str, str], dict[str, dict[str, Measurement]]] = {}
        col = {c: i for i, c in enumerate(doc["columns"])}
        for row in doc["rows"]:
            key = (row[col["runtime"]], row[col["precision"]])
            layers = sum(int(row[col[c]] or 0) for c in ("npu_layers", "gpu_layers", "cpu_layers"))
            measurement = Measurement(float(row[col["ms"]]), row[col["mem_max_mb"]], layers, row[col["primary"]])
            self.series.setdefault(key, {}).setdefault(names[row[col["device"]]], {})[
                self.models[row[col["model"]]]] = measurement

    def measured(self, runtime: str, precision: str, device: str) -> dict[str, Measurement]:
        return self.series.get((runtime, precision), {}).get(device, {})

    def device_for_chipset(self, chipset: str) -> Optional[str]:
        """The measured (not copied) device with this AI Hub chipset, if any."""
        for name, info in self.devices.items():
            if info.get("chipset") == chipset and name not in self.copies and self._has_data(name):
                return name
        return None

    def _has_data(self, device: str) -> bool:
        return any(device in by_device for by_device in self.series.values())

    def describe(self) -> str:
        return f"{self.source['package']} {self.source['version']} perf.yaml"


def _read_data_file(name: str) -> dict[str, Any]:
    from importlib import resources

    try:
        text = resources.files("edgeface.device_profiles").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EstimateError(f"device_profiles/{name} is missing: regenerate it "
                            f"({'python scripts/import_qai_hub_models.py' if name == 'calibration.json' else 'python scripts/validate_estimator.py extract'})") from None
    return json.loads(text)


@functools.cache
def load_calibration() -> Calibration:
    return Calibration(_read_data_file("calibration.json"))


@functools.cache
def load_reference_graphs() -> dict[str, Any]:
    return _read_data_file("reference_graphs.json")


# ----------------------------------------------------------------------------- small maths

def _quantiles(log_errors: Sequence[float], low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    import numpy as np

    if len(log_errors) < 3:
        return -math.log(2), math.log(2)          # no evidence: a factor of two either way
    q = np.quantile(np.asarray(log_errors), [low, high])
    return float(min(q[0], 0.0)), float(max(q[1], 0.0))


def _nnls(A, b, iterations: int = 200):
    """Non-negative least squares (Lawson-Hanson active set), numpy only."""
    import numpy as np

    n = A.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(iterations):
        w = A.T @ (b - A @ x)
        candidates = (~passive) & (w > 1e-12)
        if not candidates.any():
            break
        passive[np.argmax(np.where(candidates, w, -np.inf))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(A[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            mask = passive & (z <= 0)
            alpha = np.min(x[mask] / (x[mask] - z[mask] + 1e-300))
            x = x + alpha * (z - x)
            passive &= x > 1e-12
    return x


def error_stats(relative_errors: Iterable[float]) -> Optional[dict[str, float]]:
    """Median and 90th percentile of |relative error|, in percent."""
    import numpy as np

    values = np.abs(np.asarray(list(relative_errors), dtype=float))
    if values.size == 0:
        return None
    return {"median": round(float(np.median(values)) * 100, 1),
            "p90": round(float(np.quantile(values, 0.9)) * 100, 1), "n": int(values.size)}


# ----------------------------------------------------------------------------- transfer

@dataclass(frozen=True)
class _Pair:
    model: str
    runtime: str
    ref: Measurement
    dev: Measurement


def _pairs(cal: Calibration, reference: str, device: str, precision: str,
           runtimes: Sequence[str] = TRANSFER_RUNTIMES) -> list[_Pair]:
    """Models measured on both devices (same runtime and precision) and placed on the NPU
    on the reference device."""
    out = []
    for runtime in runtimes:
        ref = cal.measured(runtime, precision, reference)
        for model, dev in cal.measured(runtime, precision, device).items():
            r = ref.get(model)
            if r is not None and r.primary == "npu":
                out.append(_Pair(model, runtime, r, dev))
    return out


def _features(m: Measurement, use_memory: bool, use_layers: bool) -> list[float]:
    out = [math.log(m.ms)]
    if use_memory:
        out.append(math.log(max(m.mem_mb or 1.0, 1.0)))
    if use_layers:
        out.append(math.log(max(m.layers, 1)))
    return out


def _usable(train: Sequence[_Pair]) -> list[_Pair]:
    """The training pairs the transfer predictor learns from: those the target device also ran
    on its NPU (a published run that fell back to the GPU or CPU there says nothing about NPU
    scaling). Uses only the training models' own published figures."""
    npu = [p for p in train if p.dev.primary == "npu"]
    return npu if len(npu) >= 5 else list(train)


def _transfer_ratio(train: Sequence[_Pair], query: Measurement, runtime: str,
                    use_memory: bool = True, use_layers: bool = True) -> float:
    """The device/reference latency ratio for ``query`` (a measurement on the reference), read
    off the training models by a robust local-linear kernel regression:

    - features: log latency on the reference, and (when known) log peak memory and log layer
      count there, each in units of its standard deviation over ``train``;
    - weights: a Gaussian kernel of width ``_BANDWIDTH`` around the query, times
      ``_OTHER_RUNTIME_WEIGHT`` for models measured with another runtime;
    - fit: log(ratio) = a + b . (x - x_query) by weighted least absolute deviations
      (iteratively reweighted least squares, ``_LAD_STEPS`` steps, |residual| floored at
      ``_LAD_FLOOR``), the slopes b shrunk toward zero by a small ridge (``_SLOPE_RIDGE``);
    - answer: exp(a), the fitted ratio at the query.

    The local slope follows trends the neighbourhood shows (small models are dispatch-bound
    and scale differently from large ones) without the bias a local average has at the edges
    of the data; least absolute deviations keep a few odd published runs from pulling it.
    Everything is computed from ``train`` only: the caller leaves the predicted model out."""
    import numpy as np

    train = _usable(train)
    X = np.array([_features(p.ref, use_memory, use_layers) for p in train])
    y = np.log([p.dev.ms / p.ref.ms for p in train])
    Z = (X - np.array(_features(query, use_memory, use_layers))) / (X.std(axis=0) + 1e-6)
    prior = np.exp(-0.5 * (Z ** 2).sum(axis=1) / _BANDWIDTH ** 2)
    prior *= np.where([p.runtime == runtime for p in train], 1.0, _OTHER_RUNTIME_WEIGHT)
    if prior.sum() < 1e-9:
        prior = np.ones_like(prior)
    A = np.column_stack([np.ones(len(train)), Z])
    penalty = np.diag([0.0] + [math.sqrt(_SLOPE_RIDGE)] * Z.shape[1])
    zeros = np.zeros(A.shape[1])
    w = prior
    for _ in range(_LAD_STEPS):
        sw = np.sqrt(w / w.sum())
        beta = np.linalg.lstsq(np.vstack([A * sw[:, None], penalty]), np.concatenate([y * sw, zeros]),
                               rcond=None)[0]
        w = prior / np.maximum(np.abs(y - A @ beta), _LAD_FLOOR)
    return math.exp(float(beta[0]))


def _naive_ratio(train: Sequence[_Pair], runtime: str) -> float:
    import numpy as np

    same = [p.dev.ms / p.ref.ms for p in train if p.runtime == runtime] or [p.dev.ms / p.ref.ms for p in train]
    return float(np.median(same))


@functools.cache
def _transfer_residuals(reference: str, device: str, runtime: str, precision: str,
                        use_memory: bool, use_layers: bool) -> tuple[float, ...]:
    """Leave-one-model-out log errors of the transfer predictor for one series."""
    cal = load_calibration()
    pairs = _pairs(cal, reference, device, precision)
    out = []
    for q in (p for p in pairs if p.runtime == runtime):
        train = [p for p in pairs if p.model != q.model]
        if len(train) >= 5:
            out.append(math.log(_transfer_ratio(train, q.ref, runtime, use_memory, use_layers) * q.ref.ms / q.dev.ms))
    return tuple(out)


def transfer(ms: float, reference: str, device: str, runtime: str, precision: str,
             memory_mb: Optional[float] = None, layers: Optional[int] = None) -> tuple[float, float, float, int]:
    """(point, low, high, models it rests on): ``ms`` measured on ``reference`` -> ``device``
    (AI Hub device names), same runtime and precision."""
    cal = load_calibration()
    for name in (reference, device):
        if name not in cal.devices:
            raise EstimateError(f"no published measurements for device {name!r} in {cal.describe()}: "
                                f"use an AI Hub device name (edgeface profiles list shows them)")
    if reference == device:
        return ms, ms, ms, 0
    pairs = _pairs(cal, reference, device, precision)
    if len(pairs) < 5:
        raise EstimateError(f"too few models measured on both {reference!r} and {device!r} "
                            f"({precision}) in {cal.describe()} to transfer a measurement")
    use_memory, use_layers = memory_mb is not None, layers is not None
    query = Measurement(ms, memory_mb, layers or 0, "npu")
    point = ms * _transfer_ratio(pairs, query, runtime, use_memory, use_layers)
    low, high = _quantiles(_transfer_residuals(reference, device, runtime if any(
        p.runtime == runtime for p in pairs) else pairs[0].runtime, precision, use_memory, use_layers))
    # a predictor that was too high by e (log) means the truth is point / e^e
    return point, point * math.exp(-high), point * math.exp(-low), len(pairs)


def validate_transfer(reference: str = DEFAULT_REFERENCE, runtimes: Sequence[str] = TRANSFER_RUNTIMES,
                      precisions: Sequence[str] = PRECISIONS, min_models: int = 8,
                      devices: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Leave-one-model-out: for every model measured on ``reference`` and another device,
    predict its latency there from the other models; beside the naive baseline (the
    device's median latency ratio to the reference, same runtime and precision)."""
    cal = load_calibration()
    if reference not in cal.devices:
        raise EstimateError(f"unknown reference device {reference!r}")
    rows, all_model, all_naive = [], [], []
    by_device: dict[str, tuple[list[float], list[float]]] = {}
    targets = devices or sorted(n for n in cal.devices if n != reference and n not in cal.copies)
    for precision in precisions:
        for device in targets:
            pairs = _pairs(cal, reference, device, precision)
            for runtime in runtimes:
                queries = [p for p in pairs if p.runtime == runtime]
                if len(queries) < min_models:
                    continue
                model_err, naive_err = [], []
                for q in queries:
                    train = [p for p in pairs if p.model != q.model]
                    model_err.append(_transfer_ratio(train, q.ref, runtime) * q.ref.ms / q.dev.ms - 1)
                    naive_err.append(_naive_ratio(train, runtime) * q.ref.ms / q.dev.ms - 1)
                rows.append({"device": device, "runtime": runtime, "precision": precision, "n": len(queries),
                             "model": error_stats(model_err), "naive": error_stats(naive_err)})
                by_device.setdefault(device, ([], []))
                by_device[device][0].extend(model_err)
                by_device[device][1].extend(naive_err)
                all_model += model_err
                all_naive += naive_err
    return {"reference": reference, "runtimes": list(runtimes), "precisions": list(precisions),
            "source": cal.source, "copies": sorted(cal.copies),
            "overall": {"n": len(all_model), "model": error_stats(all_model), "naive": error_stats(all_naive)},
            "by_device": [{"device": d, "htp_arch": cal.devices[d].get("htp_arch"), "n": len(m),
                           "model": error_stats(m), "naive": error_stats(n)} for d, (m, n) in by_device.items()],
            "rows": rows}


# ----------------------------------------------------------------------------- graph -> NPU

# The cost model: latency = sum of coefficient x feature (all coefficients >= 0), fitted per
# device / runtime / precision on the reference graphs, weighted for relative error.
# "mac_ops" (convolutions and fully-connected layers) prices the per-layer overhead: of the
# feature sets tried (all ops, MAC ops, + reductions, + weight bytes) it had the smallest
# leave-one-graph-out p90 error over the published devices.
GRAPH_FEATURES = ("one", "mac_ops", "gmac_dense", "gmac_depthwise", "mb_act")
_MIN_GRAPHS = 5


def _graph_vector(features: dict[str, float]) -> list[float]:
    return [1.0, features["mac_ops"], features["macs_dense"] / 1e9, features["macs_depthwise"] / 1e9,
            features["act_bytes"] / 1e6]


@dataclass(frozen=True)
class _GraphPoint:
    name: str
    published: str
    precision: str                # published precision: float, w8a8, w8a16
    vector: tuple[float, ...]
    macs: float


@functools.cache
def _graph_points() -> tuple[_GraphPoint, ...]:
    doc = load_reference_graphs()
    return tuple(_GraphPoint(g["name"], g["published"], g["published_precision"],
                             tuple(_graph_vector(g["features"])), float(g["macs"]))
                 for g in doc["graphs"] if g.get("published"))


def _graph_data(device: str, runtime: str, precision: str, exclude: Optional[str] = None):
    """(vectors, measured ms, points) of the reference graphs published on ``device``."""
    cal = load_calibration()
    measured = cal.measured(runtime, precision, device)
    rows = [(p, measured[p.published]) for p in _graph_points()
            if p.precision == precision and p.published in measured and p.published != exclude
            and measured[p.published].primary == "npu"]
    return rows


def _fit_graph(rows) -> Optional[Any]:
    import numpy as np

    if len(rows) < _MIN_GRAPHS:
        return None
    A = np.array([p.vector for p, _ in rows])
    y = np.array([m.ms for _, m in rows])
    scale = A.max(axis=0) + 1e-12
    coef = _nnls((A / scale) / y[:, None], np.ones(len(y))) / scale
    return coef


def _predict_graph(coef, vector) -> float:
    import numpy as np

    return float(max(np.dot(coef, vector), 1e-3))


@functools.cache
def _graph_model(device: str, runtime: str, precision: str, exclude: Optional[str] = None):
    return _fit_graph(_graph_data(device, runtime, precision, exclude))


@functools.cache
def _precision_ratio(device: str, runtime: str, precision: str, base: str) -> Optional[float]:
    """The device's median latency ratio precision/base over models published in both."""
    import numpy as np

    cal = load_calibration()
    a, b = cal.measured(runtime, precision, device), cal.measured(runtime, base, device)
    ratios = [a[m].ms / b[m].ms for m in a if m in b]
    return float(np.median(ratios)) if len(ratios) >= 5 else None


@functools.cache
def _graph_residuals(runtime: str, precision: str) -> tuple[float, ...]:
    """Leave-one-graph-out log errors of the graph model, pooled over measured devices."""
    cal = load_calibration()
    out = []
    for device in cal.devices:
        if device in cal.copies:
            continue
        for p, m in _graph_data(device, runtime, precision):
            coef = _graph_model(device, runtime, precision, p.published)
            if coef is not None:
                out.append(math.log(_predict_graph(coef, p.vector) / m.ms))
    return tuple(out)


@functools.cache
def _fastest_published(device: str, runtime: str, precision: str) -> Optional[float]:
    """The shortest published latency on the device (what dispatching any graph costs at least)."""
    measured = [m.ms for m in load_calibration().measured(runtime, precision, device).values()
                if m.primary == "npu"]
    return min(measured) if measured else None


def _graph_fit_for(device: str, runtime: str, precision: str):
    """(coef, runtime used, precision used, factor, note): the device's own fit for this
    runtime and precision, else another NPU runtime's, else another precision's times the
    device's median published ratio between the two precisions; None when it has none."""
    runtimes = [runtime] + [r for r in ("tflite", "qnn_dlc", "onnx") if r != runtime]
    for rt in runtimes:
        coef = _graph_model(device, rt, precision)
        if coef is not None:
            note = "" if rt == runtime else f"; {runtime} priced as {rt} (no {runtime} runs published on {device})"
            return coef, rt, precision, 1.0, note
    for rt in runtimes:
        for base in ("w8a8", "float", "w8a16"):
            if base == precision:
                continue
            ratio = _precision_ratio(device, rt, precision, base)
            coef = _graph_model(device, rt, base)
            if ratio is not None and coef is not None:
                note = (f"; {precision} = {base} x {ratio:.2f} (the device's median published {precision}/{base} "
                        f"ratio, {rt})")
                return coef, rt, base, ratio, note
    return None


def npu_from_graph(features: dict[str, float], device: str, runtime: str,
                   precision: str) -> tuple[float, float, float, str]:
    """(point, low, high, what it rests on) for the NPU part of a graph on ``device``."""
    vector = _graph_vector(features)
    fit = _graph_fit_for(device, runtime, precision)
    if fit is not None:
        coef, rt, prec, factor, note = fit
        point = _predict_graph(coef, vector) * factor
        low, high = _quantiles(_graph_residuals(rt, prec))
        n = len(_graph_data(device, rt, prec))
        floor = _fastest_published(device, rt, precision)
        if floor is not None and point < floor:
            # below every published run on this device: the graph is smaller than any reference
            point, note = floor, note + f"; raised to the fastest published {rt} {precision} run on {device}"
        return (point, point * math.exp(-high), point * math.exp(-low),
                f"cost model fitted on {n} reference graphs measured on {device} ({rt}, {prec}){note}")
    # no reference graphs on this device: price the graph on the reference device, then transfer
    ref_fit = _graph_fit_for(DEFAULT_REFERENCE, runtime, precision)
    if ref_fit is None:
        raise EstimateError(f"no graph calibration for {device} ({runtime}, {precision})")
    coef, rt, prec, factor, note = ref_fit
    at_ref = _predict_graph(coef, vector) * factor
    point, t_low, t_high, n = transfer(at_ref, DEFAULT_REFERENCE, device, rt, precision)
    low, high = _quantiles(_graph_residuals(rt, prec))
    return (point, t_low * math.exp(-high), t_high * math.exp(-low),
            f"cost model fitted on {len(_graph_data(DEFAULT_REFERENCE, rt, prec))} reference graphs measured on "
            f"{DEFAULT_REFERENCE} ({rt}, {prec}){note}, transferred to {device} through {n} published models")


# ----------------------------------------------------------------------------- graph -> CPU

# fp32 multiply-accumulates per cycle of one core's SIMD units (FMA pipes x lanes).
# Sources: Arm's Software Optimization Guides (Cortex-X1..X4: four 128-bit ASIMD pipes;
# Cortex-A78/A710/A715/A720: two; Cortex-A55/A510/A520: one 128-bit-equivalent), Qualcomm's
# Oryon disclosures (four 128-bit FP/SIMD pipes); x86: two 256-bit FMA ports (AVX2+FMA).
CORE_FP32_MACS_PER_CYCLE = (("Cortex-X", 16), ("Oryon", 16), ("Cortex-A78", 8), ("Cortex-A7", 8),
                            ("Cortex-A5", 4))
# Assumed int8-over-fp32 speed-up of XNNPACK's QS8 kernels by instruction set (not measured
# on a phone here; on this x86 host without VNNI, int8 measured no faster than fp32).
INT8_SPEEDUP = (("i8mm", 3.0), ("dotprod", 2.0), ("avx512_vnni", 2.0), ("avx_vnni", 2.0))


def core_fp32_macs(core: str, features: Sequence[str] = ()) -> int:
    for prefix, macs in CORE_FP32_MACS_PER_CYCLE:
        if prefix.lower() in core.lower():
            return macs
    if "avx512f" in features:
        return 32
    if "avx2" in features and "fma" in features:
        return 16
    return 8


def int8_speedup(features: Sequence[str]) -> float:
    for feature, speedup in INT8_SPEEDUP:
        if feature in features:
            return speedup
    return 1.0


CPU_FEATURES = ("ops", "gmac_dense", "gmac_depthwise", "mb_act")


def _cpu_vector(features: dict[str, float], macs_per_cycle: float, ghz: float) -> list[float]:
    """Features in units that make the coefficients portable across cores: op overhead and
    bytes in cycles (/GHz), MACs in cycles at the core's peak (/(MACs per cycle x GHz))."""
    return [features["ops"] / ghz, features["macs_dense"] / 1e9 / (macs_per_cycle * ghz) * 1e3,
            features["macs_depthwise"] / 1e9 / (macs_per_cycle * ghz) * 1e3,
            features["act_bytes"] / 1e6 / ghz]


@functools.cache
def _host_cpu_points() -> tuple[tuple[str, str, tuple[float, ...], float], ...]:
    """(name, precision class, CPU vector at the extracting host's peak, measured ms)."""
    doc = load_reference_graphs()
    host = doc.get("host") or {}
    if "cpu" not in host:
        return ()
    base = core_fp32_macs(host["cpu"], host["features"])
    out = []
    for g in doc["graphs"]:
        ms = g.get("host_cpu_ms_1thread")
        if not ms:
            continue
        int8 = g["precision"] in ("w8a8", "w8a16")
        peak = base * (int8_speedup(host["features"]) if int8 else 1.0)
        out.append((g["name"], "int8" if int8 else "float", tuple(_cpu_vector(g["features"], peak, host["ghz"])),
                    float(ms)))
    return tuple(out)


@functools.cache
def _cpu_model(kind: str, exclude: Optional[str] = None):
    import numpy as np

    rows = [(v, ms) for name, k, v, ms in _host_cpu_points() if name != exclude and
            (k == kind or kind == "all")]
    if len(rows) < 4:
        rows = [(v, ms) for name, k, v, ms in _host_cpu_points() if name != exclude]
    if len(rows) < 4:
        return None
    A = np.array([v for v, _ in rows])
    y = np.array([ms for _, ms in rows])
    scale = A.max(axis=0) + 1e-12
    return _nnls((A / scale) / y[:, None], np.ones(len(y))) / scale


@functools.cache
def _cpu_residuals() -> tuple[float, ...]:
    out = []
    for name, kind, vector, ms in _host_cpu_points():
        coef = _cpu_model(kind, name)
        if coef is not None:
            out.append(math.log(_predict_graph(coef, vector) / ms))
    return tuple(out)


def cpu_from_graph(features: dict[str, float], precision: str, core: str, ghz: float,
                   cpu_features: Sequence[str]) -> tuple[float, float, float, str]:
    """(point, low, high, what it rests on): one thread on ``core`` at ``ghz``."""
    int8 = precision in ("w8a8", "w8a16")
    peak = core_fp32_macs(core, cpu_features) * (int8_speedup(cpu_features) if int8 else 1.0)
    coef = _cpu_model("int8" if int8 else "float")
    if coef is None:
        raise EstimateError("device_profiles/reference_graphs.json has no host CPU measurements: "
                            "rerun python scripts/validate_estimator.py extract")
    point = _predict_graph(coef, _cpu_vector(features, peak, ghz))
    low, high = _quantiles(_cpu_residuals())
    host = load_reference_graphs()["host"]
    return (point, point * math.exp(-high), point * math.exp(-low),
            f"XNNPACK cost model fitted on {len(_host_cpu_points())} graphs measured on {host['cpu']} "
            f"(1 thread), scaled to {core} @ {ghz:g} GHz by its SIMD width "
            f"({peak:g} {'int8' if int8 else 'fp32'} MACs/cycle, assumed)")


# ----------------------------------------------------------------------------- estimate()

def _calibration_device(profile) -> Optional[str]:
    if profile.calibration_device:
        return profile.calibration_device
    if profile.soc is not None:
        return load_calibration().device_for_chipset(profile.soc.chipset)
    return None


def _result(label: str, profile, runtime: str, unit: str, precision: str, point: float, low: float,
            high: float, source: str, **extra: Any):
    from edgeface.bench.result import BenchResult

    if ":" in label and "role" not in extra:   # a bundle's model: "detector:file.tflite"
        extra["role"] = label.split(":", 1)[0]
    return BenchResult(model=label, backend="estimate", device=profile.name, runtime=runtime,
                       compute_unit=unit, precision=precision, profile=profile.id,
                       threads=1 if unit == "cpu" else None, median_ms=round(point, 4),
                       estimate_low_ms=round(low, 4), estimate_high_ms=round(high, 4),
                       layers=extra.pop("layers", None), source=source, extra=extra)


def estimate_graph(label: str, graph, profile, notes: Optional[list[str]] = None) -> list:
    """Estimates for one parsed graph (:class:`~edgeface.bench.graph.GraphCost`) on one profile:
    one result per compute unit the profile has and the estimator is calibrated for."""
    results = []
    precision = graph.published_precision
    summary = graph.summary()
    summary.pop("op_types", None)
    big = profile.big_cluster
    whole = graph.features()
    if "npu" in profile.compute_units and profile.soc is not None:
        device = _calibration_device(profile)
        runtime = "tflite" if graph.format == "tflite" else "onnx"
        if precision == "float" and not profile.soc.supports_fp16:
            _note(notes, f"{profile.id}: no NPU estimate for {label}: the {profile.soc.part} HTP "
                         f"({profile.hexagon}) has no fp16, so a float model does not run on it; "
                         f"quantize it (w8a8 or w8a16)")
        elif device is None:
            _note(notes, f"{profile.id}: no NPU estimate: no published measurements for its SoC")
        else:
            htp_ops = [op for op in graph.ops if op.htp]
            point, low, high, rests = npu_from_graph(graph.features(htp_ops), device, runtime, precision)
            offloaded = graph.offloaded
            cpu_part = (0.0, 0.0, 0.0)
            if offloaded:
                c = cpu_from_graph(graph.features(offloaded), graph.precision, big.core, big.ghz,
                                   profile.cpu_features)
                hand = graph.handovers * HANDOVER_MS
                cpu_part = (c[0] + hand, c[1] + hand, c[2] + hand)
                rests += (f"; {len(offloaded)} ops the NPU delegate does not take "
                          f"({', '.join(sorted({op.type for op in offloaded}))}) priced on the CPU, plus "
                          f"{graph.handovers} NPU<->CPU hand-overs at {HANDOVER_MS} ms (assumed)")
            cal = load_calibration()
            source = (f"estimate from the graph ({summary['ops']} ops, {graph.macs / 1e6:.0f} MMAC, "
                      f"{graph.precision}); {rests}; {cal.describe()}; range = 10th-90th percentile "
                      f"of leave-one-out errors")
            results.append(_result(label, profile, runtime, "npu", graph.precision, point + cpu_part[0],
                                   low + cpu_part[1], high + cpu_part[2], source,
                                   layers={"npu": len(htp_ops), "cpu": len(offloaded)},
                                   calibration_device=device, graph=summary))
    if "cpu" in profile.compute_units:
        point, low, high, rests = cpu_from_graph(whole, graph.precision, big.core, big.ghz, profile.cpu_features)
        runtime = "litert" if graph.format == "tflite" else "onnxruntime"
        results.append(_result(label, profile, runtime, "cpu", graph.precision, point, low, high,
                               f"estimate from the graph ({summary['ops']} ops, {graph.macs / 1e6:.0f} MMAC, "
                               f"{graph.precision}); {rests}", layers={"cpu": len(graph.ops)},
                               core=big.core, ghz=big.ghz, graph=summary))
    for unit in profile.compute_units:
        if unit == "gpu":
            _note(notes, f"{profile.id}: no GPU estimate: the published measurements hold too few GPU "
                         f"runs to calibrate one (use edgeface bench --on adb or --on hub)")
    return results


def _note(notes: Optional[list[str]], text: str) -> None:
    if notes is not None and text not in notes:
        notes.append(text)


def estimate(model_path: str | Path, profile, notes: Optional[list[str]] = None) -> list:
    """Latency estimates of a model file (.tflite, .onnx) or of each model of a bundle on one
    device profile (a :class:`~edgeface.bench.profiles.Profile` or its name): one
    :class:`~edgeface.bench.result.BenchResult` per model and compute unit (npu, cpu).
    Units that cannot be estimated are skipped; pass a list as ``notes`` to learn why."""
    from edgeface.bench.graph import read_model_or_bundle
    from edgeface.bench.profiles import load_profile

    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    results = []
    for label, graph in read_model_or_bundle(model_path):
        results += estimate_graph(label, graph, profile, notes)
    return results


def estimate_profiles(model_path: str | Path, profiles: Optional[Sequence] = None,
                      notes: Optional[list[str]] = None) -> list:
    """:func:`estimate` on every profile (default: all shipped ones and this host); the
    model is read once."""
    from edgeface.bench.graph import read_model_or_bundle
    from edgeface.bench.profiles import list_profiles, load_profile

    chosen = [load_profile(p) if isinstance(p, (str, Path)) else p for p in (profiles or list_profiles())]
    graphs = read_model_or_bundle(model_path)
    return [r for profile in chosen for label, graph in graphs for r in estimate_graph(label, graph, profile, notes)]


def estimate_from_measurement(ms: float, reference_device: str, profile, runtime: str, precision: str,
                              memory_mb: Optional[float] = None, layers: Optional[int] = None,
                              model: str = "") :
    """A latency measured on ``reference_device`` (an AI Hub device name) -> an NPU estimate on
    ``profile`` (same runtime and precision), by the transfer predictor."""
    from edgeface.bench.profiles import load_profile

    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    device = _calibration_device(profile)
    if device is None:
        raise EstimateError(f"{profile.id}: no published measurements for its SoC: no NPU estimate")
    published = {"float": "float", "fp32": "float", "fp16": "float"}.get(precision, precision)
    point, low, high, n = transfer(ms, reference_device, device, runtime, published, memory_mb, layers)
    cal = load_calibration()
    source = (f"transfer of {ms:g} ms measured on {reference_device}: the latency ratio to {device} of the "
              f"{n} published models that look most like this one ({cal.describe()}); range = 10th-90th "
              f"percentile of leave-one-model-out errors")
    return _result(model, profile, runtime, "npu", precision, point, low, high, source,
                   calibration_device=device, reference_device=reference_device, reference_ms=ms)


# ----------------------------------------------------------------------------- validate the graph path

def validate_graph(runtimes: Sequence[str] = ("tflite", "qnn_dlc", "onnx"),
                   precisions: Sequence[str] = ("float", "w8a8")) -> dict[str, Any]:
    """Leave-one-graph-out error of the graph predictor on every (measured) device, beside a
    MACs-only baseline (the device's median ms per GMAC over the other graphs)."""
    import numpy as np

    cal = load_calibration()
    rows, per_device = [], []
    names = sorted({p.name for p in _graph_points()})
    all_points = 0
    for runtime in runtimes:
        for precision in precisions:
            model_err, naive_err, affine_err, graphs = [], [], [], set()
            for device in sorted(cal.devices):
                if device in cal.copies:
                    continue
                data = _graph_data(device, runtime, precision)
                if len(data) < _MIN_GRAPHS + 1:
                    continue
                dev_model, dev_naive, dev_affine = [], [], []
                for p, m in data:
                    coef = _graph_model(device, runtime, precision, p.published)
                    if coef is None:
                        continue
                    others = [(q, n) for q, n in data if q.published != p.published]
                    per_gmac = float(np.median([n.ms / max(q.macs / 1e9, 1e-6) for q, n in others]))
                    A = np.array([[1.0, q.macs / 1e9] for q, _ in others])
                    y = np.array([n.ms for _, n in others])
                    affine = _nnls(A / y[:, None], np.ones(len(y)))
                    dev_model.append(_predict_graph(coef, p.vector) / m.ms - 1)
                    dev_naive.append(per_gmac * p.macs / 1e9 / m.ms - 1)
                    dev_affine.append(max(affine[0] + affine[1] * p.macs / 1e9, 1e-3) / m.ms - 1)
                    graphs.add(p.name)
                per_device.append({"device": device, "runtime": runtime, "precision": precision,
                                   "graphs": len(dev_model), "model": error_stats(dev_model),
                                   "naive": error_stats(dev_naive)})
                model_err += dev_model
                naive_err += dev_naive
                affine_err += dev_affine
            if model_err:
                all_points += len(model_err)
                rows.append({"runtime": runtime, "precision": precision, "graphs": len(graphs),
                             "points": len(model_err), "model": error_stats(model_err),
                             "naive": error_stats(naive_err), "affine": error_stats(affine_err),
                             "within_30": float(np.mean(np.abs(model_err) <= 0.30) * 100),
                             "affine_within_30": float(np.mean(np.abs(affine_err) <= 0.30) * 100)})
    host = []
    naive_host = []
    points = _host_cpu_points()
    for name, kind, vector, ms in points:
        coef = _cpu_model(kind, name)
        if coef is None:
            continue
        host.append(_predict_graph(coef, vector) / ms - 1)
    doc = load_reference_graphs()
    macs = {g["name"]: g["macs"] for g in doc["graphs"]}
    for name, kind, vector, ms in points:
        others = [ms2 / max(macs[n2] / 1e9, 1e-6) for n2, k2, v2, ms2 in points if n2 != name and k2 == kind]
        if others:
            naive_host.append(float(np.median(others)) * macs[name] / 1e9 / ms - 1)
    return {"source": cal.source, "graphs": len(names), "graph_names": names, "points": all_points,
            "rows": rows, "per_device": per_device,
            "not_comparable": [{"name": g["name"], "why": g["match"]} for g in doc["graphs"] if not g.get("published")],
            "host_cpu": {"n": len(host), "model": error_stats(host), "naive": error_stats(naive_host),
                         "host": doc["host"]} if host else None}


def clear_caches() -> None:
    """Forget the loaded calibration and every fit made from it (tests swap the data)."""
    for fn in (load_calibration, load_reference_graphs, _transfer_residuals, _graph_points, _graph_model,
               _precision_ratio, _graph_residuals, _host_cpu_points, _cpu_model, _cpu_residuals,
               _fastest_published):
        if hasattr(fn, "cache_clear"):   # a test may have replaced a loader with a plain function
            fn.cache_clear()
