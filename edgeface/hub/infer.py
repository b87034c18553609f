"""AI Hub inference jobs, checked against the local model by the fidelity code.

The same inputs (real face crops from scikit-image by default, or a ``.npy`` batch) run
through the local source model here (LiteRT or onnxruntime) and through the model on a
real device on AI Hub (as it is, or compiled to another runtime first). The device's
outputs are paired with the local ones (:func:`~edgeface.quantization.fidelity.match_outputs`:
by name, else by shape, transposes allowed) and compared per output
(:func:`~edgeface.quantization.fidelity.compare_outputs`) into a ``FidelityReport``, whose
``gate`` gives the failures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgeface.hub import HubError
from edgeface.hub.compile import check_device, device_info, download_target, model_file, prepare_model
from edgeface.hub.devices import resolve_device
from edgeface.hub.jobs import Deadline, Progress, hub_errors, wait_for

LOCAL_FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


@dataclass
class InferResult:
    model: str
    device: str
    device_os: str
    chipset: Optional[str]
    runtime: str
    job_id: str
    job_url: str
    samples: int
    inputs: str                       # where the inputs came from
    report: Any                       # edgeface.quantization.fidelity.FidelityReport
    failures: list[str] = field(default_factory=list)
    compile: Optional[dict] = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "device": self.device, "device_os": self.device_os,
                "chipset": self.chipset, "runtime": self.runtime, "job_id": self.job_id,
                "job_url": self.job_url, "samples": self.samples, "inputs": self.inputs,
                "passed": self.passed, "failures": list(self.failures), "compile": self.compile,
                "seconds": self.seconds, "fidelity": self.report.to_dict()}


def _input_batch(inputs, samples: int, height: int, width: int, seed: int) -> tuple[np.ndarray, str]:
    """(N, H, W, 3) float32 normalised inputs, and where they came from."""
    if inputs is not None:
        if isinstance(inputs, (str, Path)):
            where = str(inputs)
            try:
                batch = np.load(inputs, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise HubError(f"--inputs {inputs}: cannot read it as a .npy array ({exc})") from None
        else:
            where, batch = "given array", inputs
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1:] != (height, width, 3):
            raise HubError(f"--inputs {where}: expected an (N, {height}, {width}, 3) NHWC batch of normalised "
                           f"inputs, got shape {batch.shape}")
        if not np.isfinite(batch).all():
            raise HubError(f"--inputs {where}: has NaN or inf values")
        return np.ascontiguousarray(batch[:samples], np.float32), where
    try:
        from edgeface.cards.presets import SIGNED_UNIT
        from edgeface.quantization.calibration import face_chips

        chips = face_chips((height, width))[:samples]
        batch = (chips.astype(np.float32) - np.float32(SIGNED_UNIT["mean"])) / np.float32(SIGNED_UNIT["std"])
        return np.ascontiguousarray(batch), "real face crops (scikit-image astronaut + LFW), (x - 127.5) / 127.5"
    except ImportError:  # scikit-image is in the toolchain extra
        rng = np.random.default_rng(seed)
        batch = rng.uniform(-1.0, 1.0, (samples, height, width, 3)).astype(np.float32)
        return batch, f"uniform noise in [-1, 1], seed {seed} (install scikit-image for real faces)"


def _local_reference(path: Path, inputs, samples: int, seed: int, layout: str):
    from edgeface.quantization.fidelity import run_model
    from edgeface.runtime import open_backend

    fmt = LOCAL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise HubError(f"{path}: inference results are compared with the model run here, so give the .tflite or "
                       f".onnx model (with --runtime to have AI Hub compile it)")
    data = path.read_bytes()
    backend = open_backend(fmt, data, str(path))
    if len(backend.inputs) != 1:
        raise HubError(f"{path}: the model has {len(backend.inputs)} inputs; edgeface hub infer feeds one-input "
                       f"models")
    info = backend.inputs[0]
    shape = tuple(info.shape)
    if len(shape) != 4:
        raise HubError(f"{path}: the model's input is {shape}, not an image batch (N, H, W, 3) or (N, 3, H, W)")
    if layout == "auto":
        layout = "NCHW" if shape[1] == 3 and shape[-1] != 3 else "NHWC"
    height, width = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    if height <= 0 or width <= 0:
        raise HubError(f"{path}: the model's input size {shape} is dynamic; give inputs with --inputs")
    batch, where = _input_batch(inputs, samples, height, width, seed)
    ref, ref_specs = run_model(fmt, data, batch, str(path), layout=layout)
    return backend, info, layout, batch, where, ref, ref_specs


def _hub_inputs(batch: np.ndarray, info, layout: str, target_specs: dict) -> tuple[str, list[np.ndarray]]:
    """The dataset AI Hub takes: one array per sample, batch 1, in the model's layout and dtype."""
    from edgeface.runtime.model import quantize

    x = np.moveaxis(batch, -1, 1) if layout == "NCHW" else batch
    samples = [np.ascontiguousarray(quantize(s[None], info)) for s in x]
    name = info.name
    if target_specs:  # a compiled model: its own input name (and maybe another layout)
        if len(target_specs) != 1:
            raise HubError(f"the compiled model has {len(target_specs)} inputs; expected one")
        name, spec = next(iter(target_specs.items()))
        shape, dtype = (spec if isinstance(spec[0], tuple) else (spec, "float32"))
        shape = tuple(int(d) for d in shape)
        if np.dtype(dtype) != samples[0].dtype:
            raise HubError(f"the compiled model takes {dtype} input {name!r}, the local model "
                           f"{samples[0].dtype}: compare a model with the same input type")
        if shape != samples[0].shape:
            nhwc = np.moveaxis(samples[0], 1, -1).shape if layout == "NCHW" else None
            nchw = np.moveaxis(samples[0], -1, 1).shape if layout == "NHWC" else None
            if shape == nhwc:
                samples = [np.ascontiguousarray(np.moveaxis(s, 1, -1)) for s in samples]
            elif shape == nchw:
                samples = [np.ascontiguousarray(np.moveaxis(s, -1, 1)) for s in samples]
            else:
                raise HubError(f"the compiled model's input {name!r} is {shape}, the local model's "
                               f"{samples[0].shape}: they cannot take the same data")
    return name, samples


def _stack(outputs: dict) -> tuple[list[np.ndarray], list[tuple[str, tuple[int, ...]]]]:
    arrays, specs = [], []
    for name, values in outputs.items():
        values = values if isinstance(values, list) else [values]
        parts = [np.asarray(v) for v in values]
        if parts and parts[0].ndim and all(p.shape[0] == 1 for p in parts):
            stacked = np.concatenate(parts, axis=0)
        else:
            stacked = np.stack(parts)
        arrays.append(stacked)
        specs.append((str(name), (1, *stacked.shape[1:]) if stacked.ndim else ()))
    return arrays, specs


def infer_on_hub(model_path: str | Path, device_name: str, *, runtime: Optional[str] = None,
                 inputs=None, samples: int = 4, seed: int = 0, layout: str = "auto",
                 max_cosine_drop: Optional[float] = None, precision: Optional[str] = None,
                 api_token: Optional[str] = None, timeout: Optional[float] = None, options: str = "",
                 out: Optional[str | Path] = None, client=None, token_source: str = "--api-token",
                 progress: Progress = None) -> InferResult:
    """Run a model on a real device through AI Hub and compare its outputs with the local run.

    ``inputs``: a ``.npy`` path or an (N, H, W, 3) float32 array of normalised inputs
    (default: ``samples`` real face crops). ``max_cosine_drop``: the gate (see
    ``FidelityReport.gate``; non-finite and negatively correlated outputs always fail).
    The other arguments are those of :func:`edgeface.hub.profile.profile_on_hub`.
    """
    from edgeface.hub.config import connect
    from edgeface.quantization.fidelity import (FidelityReport, align_outputs, compare_outputs, match_outputs,
                                                scalar_outputs)
    from edgeface.runtime.model import dequantize

    if samples < 1:
        raise HubError(f"--samples {samples}: give at least 1")
    path = model_file(model_path)
    choice = resolve_device(device_name)
    deadline = Deadline(timeout)
    if client is None:  # first: no token or no network fails in seconds, before any local work
        client, _ = connect(api_token, token_source=token_source)
    backend, info, layout, batch, where, ref, ref_specs = _local_reference(path, inputs, samples, seed, layout)
    check_device(client, choice)
    model, runtime, compiled = prepare_model(client, path, choice, runtime, options, deadline, progress)
    target_specs: dict = {}
    if compiled is not None:
        with hub_errors(f"reading compile job {compiled.job_id}"):
            target_specs = compiled.job.get_target_shapes() or {}
        if out is not None:
            got = download_target(compiled.target_model, runtime, Path(out), f"downloading the {runtime} model")
            compiled.target_path, compiled.target_size = str(got), got.stat().st_size
    name, hub_samples = _hub_inputs(batch, info, layout, target_specs)
    start = time.monotonic()
    with hub_errors(f"running {path.name} on AI Hub"):
        job = client.submit_inference_job(model, device=choice.to_device(), inputs={name: hub_samples},
                                          profile=False, name=f"edgeface infer {path.stem}", retry=False)
        if isinstance(job, list):
            job = job[0]
    wait_for(job, deadline, "inference job", progress)
    with hub_errors(f"downloading the outputs of job {job.job_id}"):
        outputs = job.download_output_data()
    if not outputs:
        raise HubError(f"inference job {job.job_id} returned no outputs (see {job.url})")
    got, got_specs = _stack(outputs)
    matches = match_outputs(ref_specs, got_specs)
    for i, j, _ in matches:  # integer outputs of a quantised model: to float, by the local scale
        if np.issubdtype(got[j].dtype, np.integer) and backend.outputs[i].quantized:
            got[j] = dequantize(got[j], backend.outputs[i])
    aligned = align_outputs(got, matches)
    names = [n for n, _ in ref_specs]
    for k, (r, g) in enumerate(zip(ref, aligned)):
        if r.shape != g.shape:
            raise HubError(f"output {names[k]!r}: AI Hub returned {g.shape}, the local model {r.shape} for "
                           f"{len(batch)} samples")
    name_dev, os_version, chipset = device_info(job)
    size = compiled.target_size if compiled is not None and compiled.target_size else path.stat().st_size
    if precision is None:
        from edgeface.hub.profile import _precision

        precision = _precision(path)
    report = FidelityReport(
        file=str(path), precision=precision, size_bytes=int(size),
        outputs=compare_outputs(ref, aligned, names), scalars=scalar_outputs(ref, aligned, names),
        notes=[f"Qualcomm AI Hub inference job {job.job_id} on {name_dev or choice.describe()} ({runtime})",
               f"reference: {path.name} run here; inputs: {where}"])
    failures = report.gate(max_cosine_drop, None)
    return InferResult(model=str(path), device=name_dev or choice.describe(), device_os=os_version,
                       chipset=chipset, runtime=runtime, job_id=job.job_id, job_url=job.url,
                       samples=len(batch), inputs=where, report=report, failures=failures,
                       compile=compiled.to_dict() if compiled is not None else None,
                       seconds=round(time.monotonic() - start, 3))
