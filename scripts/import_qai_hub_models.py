"""Derive edgeface's device data from the published files in the ``qai-hub-models`` wheel.

Qualcomm's ``qai-hub-models`` wheel ships ``devices_and_chipsets.yaml`` (every chipset's
Hexagon arch and ``soc_model``, every AI Hub device's chipset) and one ``perf.yaml`` per
model (latency, peak memory and layer placement measured on real devices). This script
downloads the wheel with pip (the registry is the only network it touches), unpacks it
into a temporary folder and writes, into ``device_profiles/``:

- ``socs.yaml``: the SoC table that ``edgeface compile`` reads to build a QNN context
  binary for a named SoC;
- ``calibration.json``: the published measurements the latency estimator rests on (per
  model component x device x runtime x precision: inference time, peak memory, layer
  counts per compute unit) and every AI Hub device's chipset.

The source package and version are recorded in both outputs.

    python scripts/import_qai_hub_models.py                 # qai-hub-models 0.65.0
    python scripts/import_qai_hub_models.py --wheel FILE.whl
    python scripts/import_qai_hub_models.py --from-dir DIR  # an unpacked copy (tests use a small one)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "qai-hub-models"
DEFAULT_VERSION = "0.65.0"
CHIPSETS_FILE = "qai_hub_models/devices_and_chipsets.yaml"
PERF_GLOB = "qai_hub_models/models/*/perf.yaml"
CALIBRATION_SCHEMA = 1

# What the estimator uses: the runtimes that run one model graph on a device (not the LLM
# and speech pipelines, whose "inference time" means something else).
RUNTIMES = ("tflite", "qnn_dlc", "qnn_context_binary", "onnx", "precompiled_qnn_onnx")
COLUMNS = ("model", "component", "precision", "runtime", "device", "ms", "mem_min_mb", "mem_max_mb",
           "npu_layers", "gpu_layers", "cpu_layers", "primary")
_UNITS = {"NPU": "npu", "GPU": "gpu", "CPU": "cpu"}

# A chipset alias that is a Qualcomm part number: sm8650, sdm845, sc8380xp, qcs6490, sm8750-ac.
_PART = re.compile(r"(sm|sdm|sc|qcs|qcm|sa)(\d+[a-z]*)(-[a-z]+)?")


def download_wheel(version: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "--dest", str(into), f"{PACKAGE}=={version}"], check=True)
    (wheel,) = into.glob("qai_hub_models-*.whl")
    return wheel


def part_number(chipset: str, aliases: list[str]) -> str:
    """The SoC's part number (SM8650, QCS6490): from an alias, else from the chipset id."""
    for alias in aliases:
        match = _PART.fullmatch(alias)
        if match:
            return (match.group(1) + match.group(2)).upper()
    match = _PART.search(chipset.removeprefix("qualcomm-"))
    if match is None:
        raise ValueError(f"{chipset}: no part number in its id or aliases {aliases}")
    return (match.group(1) + match.group(2)).upper()


def soc_table(chipsets: dict) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for chipset, info in chipsets.items():
        aliases = list(info.get("aliases", []))
        part = part_number(chipset, aliases)
        if part in table:  # e.g. a "-proxy" entry naming a part already listed
            continue
        table[part] = {
            "chipset": chipset,
            "marketing_name": info["marketing_name"].replace("®", "").replace("™", ""),
            "htp_arch": int(info["htp_version"]),
            "soc_model": int(info["soc_model"]),
            "supports_fp16": bool(info.get("supports_fp16", False)),
            "aliases": sorted({a for a in aliases if a != chipset}),
        }
    return dict(sorted(table.items()))


def perf_rows(model: str, perf: dict) -> list[list]:
    """The measurements of one perf.yaml: one row per component x precision x device x runtime
    that passed (COLUMNS order; model and device as names, compacted later)."""
    rows = []
    for precision, by_precision in sorted((perf.get("precisions") or {}).items()):
        for component, by_component in sorted((by_precision.get("components") or {}).items()):
            metrics = by_component.get("performance_metrics") or {}
            for device, by_device in sorted(metrics.items()):
                for runtime, m in sorted((by_device or {}).items()):
                    if runtime not in RUNTIMES or not isinstance(m, dict):
                        continue
                    ms = m.get("inference_time_milliseconds")
                    if m.get("job_status", "Passed") != "Passed" or not isinstance(ms, (int, float)) or ms <= 0:
                        continue
                    memory = m.get("estimated_peak_memory_range_mb") or {}
                    layers = m.get("layer_counts") or {}
                    rows.append([model, component, precision, runtime, device, float(ms),
                                 memory.get("min"), memory.get("max"),
                                 int(layers.get("npu", 0)), int(layers.get("gpu", 0)), int(layers.get("cpu", 0)),
                                 _UNITS.get(str(m.get("primary_compute_unit", "")).upper())])
    return rows


def calibration(published: dict, perf_files: dict[str, dict], source: dict) -> dict:
    """The estimator's calibration document: devices, then measurements as index rows."""
    rows = [row for model, perf in sorted(perf_files.items()) for row in perf_rows(model, perf)]
    chipsets = published["chipsets"]
    devices = {}
    for name, info in sorted(published["devices"].items()):
        chipset = info["chipset"]
        devices[name] = {"chipset": chipset,
                         "htp_arch": int(chipsets[chipset]["htp_version"]) if chipset in chipsets else None,
                         "form_factor": info.get("form_factor"),
                         "os": (info.get("os") or {}).get("ostype"),
                         "reference_chipset": info.get("reference_chipset")}
    for row in rows:   # a measured device that the device list lacks still gets an entry
        devices.setdefault(row[4], {"chipset": None, "htp_arch": None, "form_factor": None, "os": None,
                                    "reference_chipset": None})
    models = sorted({f"{r[0]}/{r[1]}" for r in rows})
    device_names = sorted(devices)
    model_index = {m: i for i, m in enumerate(models)}
    device_index = {d: i for i, d in enumerate(device_names)}
    compact = [[model_index[f"{r[0]}/{r[1]}"], r[2], r[3], device_index[r[4]], *r[5:]] for r in rows]
    return {
        "schema": CALIBRATION_SCHEMA,
        "source": {**source, "perf_files": len(perf_files), "measurements": len(rows)},
        "columns": ["model", "precision", "runtime", "device", *COLUMNS[5:]],
        "models": models,            # "model_id/component"
        "devices": [{"name": d, **devices[d]} for d in device_names],
        "rows": compact,
    }


def write_json(path: Path, data: dict) -> None:
    """One row per line: diffs stay readable, the file stays small."""
    rows = data["rows"]
    head = json.dumps({k: v for k, v in data.items() if k != "rows"}, indent=1, ensure_ascii=False)
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    text = head[:-2] + ',\n "rows": [\n' + body + "\n ]\n}\n"
    json.loads(text)  # never write a file the estimator cannot read
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_published(wheel: Path | None, folder: Path | None) -> tuple[dict, dict[str, dict]]:
    """devices_and_chipsets.yaml and every perf.yaml (model id -> contents), from a wheel or
    from an unpacked copy."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    perf: dict[str, dict] = {}
    if folder is not None:
        published = yaml.load((folder / CHIPSETS_FILE).read_text(), Loader=loader)
        for path in sorted(folder.glob(PERF_GLOB)):
            perf[path.parent.name] = yaml.load(path.read_text(), Loader=loader)
        return published, perf
    pattern = re.compile(r"qai_hub_models/models/([^/]+)/perf\.yaml")
    with zipfile.ZipFile(wheel) as archive:
        published = yaml.load(archive.read(CHIPSETS_FILE), Loader=loader)
        for name in sorted(archive.namelist()):
            match = pattern.fullmatch(name)
            if match:
                perf[match.group(1)] = yaml.load(archive.read(name), Loader=loader)
    return published, perf


def write_yaml(path: Path, header: str, data: dict) -> None:
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"{PACKAGE} version to download")
    parser.add_argument("--wheel", type=Path, help="use this wheel instead of downloading one")
    parser.add_argument("--from-dir", type=Path, help="use an unpacked copy of the wheel (its version "
                        "comes from --version)")
    parser.add_argument("--out", type=Path, default=ROOT / "device_profiles")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.from_dir is not None:
            version = args.version
            published, perf = read_published(None, args.from_dir)
        else:
            wheel = args.wheel or download_wheel(args.version, Path(tmp))
            version = wheel.name.split("-")[1]
            published, perf = read_published(wheel, None)

    args.out.mkdir(parents=True, exist_ok=True)
    source = {"package": PACKAGE, "version": version, "file": CHIPSETS_FILE}
    header = (f"# Generated by scripts/import_qai_hub_models.py from {PACKAGE} {version} "
              f"({CHIPSETS_FILE}). Do not edit by hand.\n")
    write_yaml(args.out / "socs.yaml", header, {"source": source, "socs": soc_table(published["chipsets"])})
    print(f"wrote {args.out / 'socs.yaml'} from {PACKAGE} {version}")
    cal = calibration(published, perf, {"package": PACKAGE, "version": version,
                                        "files": [CHIPSETS_FILE, PERF_GLOB],
                                        "generator": "scripts/import_qai_hub_models.py"})
    write_json(args.out / "calibration.json", cal)
    print(f"wrote {args.out / 'calibration.json'}: {cal['source']['measurements']} measurements of "
          f"{len(cal['models'])} model components on {len(cal['devices'])} devices")


if __name__ == "__main__":
    main()
