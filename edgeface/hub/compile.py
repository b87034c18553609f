"""AI Hub compile jobs, and getting a model onto AI Hub in the runtime a job needs.

AI Hub compiles ONNX (and PyTorch) models for a target runtime; a model already in a
runtime's format (.tflite, .onnx, a QNN context binary .bin, a QNN .dlc) can be profiled
or run as it is. :func:`prepare_model` does whichever the runtime asks for.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgeface.hub import HubError, require_client
from edgeface.hub.devices import DeviceChoice, resolve_device
from edgeface.hub.jobs import Deadline, Progress, hub_errors, wait_for

# target runtime -> the file suffix of a model in it
RUNTIMES = {"tflite": ".tflite", "qnn_context_binary": ".bin", "qnn_dlc": ".dlc", "onnx": ".onnx"}
# file suffix -> the runtime that file already is (no compile needed)
NATIVE = {".tflite": "tflite", ".onnx": "onnx", ".bin": "qnn_context_binary", ".dlc": "qnn_dlc"}
# sources AI Hub compiles with a target runtime (the client refuses TFLite; a QNN context
# binary only goes into an ONNX wrapper, without options)
COMPILABLE = {".onnx", ".pt2"}


@dataclass
class CompileResult:
    job_id: str
    job_url: str
    model: str                       # the source file
    device: str                      # the device AI Hub compiled for
    device_os: str
    chipset: Optional[str]
    runtime: str
    options: str
    seconds: float                   # submit to finished, waiting included
    target_path: Optional[str] = None
    target_size: Optional[int] = None
    target_model_id: Optional[str] = None
    target_model: Any = field(default=None, repr=False)   # the qai_hub.Model, not serialised
    job: Any = field(default=None, repr=False)            # the qai_hub.CompileJob, not serialised

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("target_model", "job")}


def check_runtime(runtime: str) -> str:
    value = (runtime or "").strip().lower()
    if value not in RUNTIMES:
        raise HubError(f"--runtime {runtime}: choose one of {', '.join(RUNTIMES)}")
    return value


def compile_options(runtime: str, extra: str = "") -> str:
    """The client's options string for a compile job to ``runtime`` (plus ``extra`` flags)."""
    runtime = check_runtime(runtime)
    try:
        flags = shlex.split(extra or "")
    except ValueError as exc:
        raise HubError(f"--options {extra!r}: {exc}") from None
    if any(f.split("=", 1)[0] == "--target_runtime" for f in flags):
        raise HubError("--options must not set --target_runtime: use --runtime")
    return " ".join(["--target_runtime", runtime, *(shlex.quote(f) for f in flags)])


def model_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise HubError(f"{path}: no such model file")
    if path.suffix.lower() not in NATIVE and path.suffix.lower() not in COMPILABLE:
        raise HubError(f"{path}: AI Hub takes .onnx, .tflite, .pt2 (PyTorch export), .bin (QNN context "
                       f"binary) or .dlc files; convert other models first (edgeface convert MODEL --to onnx)")
    return path


def choose_runtime(path: Path, runtime: Optional[str]) -> tuple[str, bool]:
    """``(runtime, needs_compile)``: the asked runtime (default: the file's own format), and
    whether a compile job must make it."""
    suffix = path.suffix.lower()
    native = NATIVE.get(suffix)
    if runtime is None:
        if native is None:
            raise HubError(f"{path}: a {suffix} model must be compiled first: pass --runtime "
                           f"({', '.join(RUNTIMES)})")
        return native, False
    runtime = check_runtime(runtime)
    if runtime == native:
        return runtime, False
    if suffix not in COMPILABLE:
        raise HubError(f"{path}: AI Hub compiles ONNX and PyTorch models, not {suffix} files, so it cannot "
                       f"make a {runtime} model of it: give the ONNX source (edgeface convert MODEL --to onnx), "
                       f"or use --runtime {native}")
    return runtime, True


def check_device(client, choice: DeviceChoice) -> None:
    """Fail with the fix when no AI Hub device matches (before anything is uploaded)."""
    with hub_errors("looking up the device"):
        devices = client.get_devices(name=choice.name, attributes=list(choice.attributes))
    if not devices:
        if choice.name:
            what = repr(choice.name)
        elif choice.soc:
            what = f"SoC {choice.soc} ({choice.describe()})"
        else:
            what = choice.describe()
        if choice.profile:
            what += f" (device profile {choice.profile})"
        raise HubError(f"--device {choice.given}: no Qualcomm AI Hub device matches {what}: list them with "
                       f"`qai-hub list-devices` and give a name exactly as printed")


def device_info(job) -> tuple[str, str, Optional[str]]:
    """(name, os, chipset) of the device a job ran on."""
    device = getattr(job, "device", None)
    name = getattr(device, "name", "") or ""
    os_version = getattr(device, "os", "") or ""
    chipset = next((a.split(":", 1)[1] for a in getattr(device, "attributes", []) or []
                    if isinstance(a, str) and a.startswith("chipset:")), None)
    return name, os_version, chipset


def _suffix(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".onnx.zip"):
        return ".onnx.zip"
    return Path(filename).suffix


def download_target(target_model, runtime: str, out: Path, what: str) -> Path:
    """Download a compiled model to ``out`` (a file path, or an existing directory)."""
    from edgeface.fsutil import atomic_write_bytes

    with tempfile.TemporaryDirectory(prefix="edgeface-hub-") as tmp:
        with hub_errors(what):
            got = Path(target_model.download(tmp))
        if not got.is_file():
            raise HubError(f"{what}: AI Hub returned a directory model ({got.name}); not supported here")
        dest = out / got.name if out.is_dir() else out
        atomic_write_bytes(dest, got.read_bytes())
    return dest


def default_out(path: Path, runtime: str) -> Path:
    return Path.cwd() / f"{path.stem}_{runtime}{RUNTIMES[runtime]}"


def submit_compile(client, path: Path, choice: DeviceChoice, runtime: str, options: str,
                   deadline: Deadline, progress: Progress = None) -> CompileResult:
    """Compile ``path`` for ``runtime`` on the device, and wait for the job (``progress``:
    see :func:`~edgeface.hub.jobs.wait_for`)."""
    hub = require_client()
    opts = compile_options(runtime, options)
    start = time.monotonic()
    with hub_errors(f"compiling {path.name}"):
        job = client.submit_compile_job(model=str(path), device=choice.to_device(), options=opts,
                                        name=f"edgeface {path.stem} {runtime}", retry=False)
        if isinstance(job, list):  # several devices matched and single_compile made one each
            job = job[0]
    wait_for(job, deadline, "compile job", progress)
    with hub_errors(f"reading compile job {job.job_id}"):
        target = job.get_target_model()
    if target is None or not isinstance(target, hub.Model):
        raise HubError(f"compile job {job.job_id} finished without a compiled model (see {job.url})")
    name, os_version, chipset = device_info(job)
    return CompileResult(job_id=job.job_id, job_url=job.url, model=str(path), device=name,
                         device_os=os_version, chipset=chipset, runtime=runtime, options=opts,
                         seconds=round(time.monotonic() - start, 3), target_model_id=target.model_id,
                         target_model=target, job=job)


def prepare_model(client, path: Path, choice: DeviceChoice, runtime: Optional[str], options: str,
                  deadline: Deadline, progress: Progress = None) -> tuple[Any, str, Optional[CompileResult]]:
    """``(hub model, runtime, compile result or None)``: the model uploaded as it is when it is
    already in the runtime's format, else compiled to it."""
    runtime, needs_compile = choose_runtime(path, runtime)
    if needs_compile:
        result = submit_compile(client, path, choice, runtime, options, deadline, progress)
        return result.target_model, runtime, result
    if options:
        raise HubError(f"--options are compile options, and {path.name} is already a {runtime} model "
                       f"(nothing to compile): drop --options, or pick another --runtime")
    with hub_errors(f"uploading {path.name}"):
        model = client.upload_model(str(path), name=path.name)
    return model, runtime, None


def compile_on_hub(model_path: str | Path, device_name: str, runtime: str = "qnn_context_binary", *,
                   out: Optional[str | Path] = None, options: str = "", api_token: Optional[str] = None,
                   timeout: Optional[float] = None, download: bool = True, client=None,
                   token_source: str = "--api-token", progress: Progress = None) -> CompileResult:
    """Compile a model on AI Hub for ``runtime`` and a device, and download the result
    (to ``out``, default ``./<stem>_<runtime>.<ext>``). ``api_token`` (default: the
    environment or the client's configuration, :mod:`edgeface.hub.config`) is named
    ``token_source`` in messages. ``progress`` is told the job's URL as soon as it is
    submitted, and its states (:func:`~edgeface.hub.jobs.wait_for`)."""
    from edgeface.hub.config import connect

    path = model_file(model_path)
    runtime = check_runtime(runtime)
    if path.suffix.lower() not in COMPILABLE:
        native = NATIVE.get(path.suffix.lower())
        raise HubError(f"{path}: AI Hub compiles ONNX and PyTorch (.pt2) models, not {path.suffix} files: give "
                       f"the ONNX source (edgeface convert MODEL --to onnx)"
                       + (f", or profile it as it is (edgeface hub profile {path.name})" if native else ""))
    choice = resolve_device(device_name)
    deadline = Deadline(timeout)
    if client is None:
        client, _ = connect(api_token, token_source=token_source)
    check_device(client, choice)
    result = submit_compile(client, path, choice, runtime, options, deadline, progress)
    if download:
        dest = Path(out) if out is not None else default_out(path, runtime)
        got = download_target(result.target_model, runtime, dest, f"downloading the {runtime} model")
        result.target_path = str(got)
        result.target_size = got.stat().st_size
    return result
