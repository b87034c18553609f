"""``edgeface bench --on adb``: run TFLite's ``benchmark_model`` on an Android phone.

The user supplies the ``benchmark_model`` binary built for Android (TensorFlow's
``//tensorflow/lite/tools/benchmark:benchmark_model`` with ``--config=android_arm64``, or
a prebuilt nightly). edgeface pushes it and the model(s) to ``/data/local/tmp/edgeface``
with ``adb``, runs it once per model and thread count with the delegate's flags, and
parses the text it prints into :class:`BenchResult` (microseconds there, milliseconds here):

    Inference timings in us: Init: 27034, First inference: 5328, Warmup (avg): 1870.53, Inference (avg): 1731.46
    Memory footprint delta from the start of the tool (MB): init=4.19922 overall=11.5742
    Overall peak memory footprint (MB) via periodic monitoring: 19.1055
    count=50 first=1759 curr=1702 min=1688 max=1905 avg=1731.46 std=41

Delegates map to ``benchmark_model``'s own flags:

| ``--delegate`` | flags | compute unit |
|---|---|---|
| cpu | (XNNPACK, its default) | cpu |
| gpu | ``--use_gpu=true`` | gpu |
| nnapi | ``--use_nnapi=true`` | nnapi |
| qnn | ``--external_delegate_path=.../libQnnTFLiteDelegate.so --external_delegate_options=backend_type:htp;...`` | npu |

For qnn the Qualcomm AI Engine Direct (QNN / QAIRT) libraries for the phone come from
``--qnn-libs DIR`` (``libQnnTFLiteDelegate.so``, ``libQnnHtp.so``, ``libQnnHtpV*Stub.so``,
``libQnnHtpV*Skel.so``, ``libQnnSystem.so``), pushed beside the binary, with
``LD_LIBRARY_PATH`` and ``ADSP_LIBRARY_PATH`` pointing there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional, Sequence

from edgeface.bench.result import BenchResult
from edgeface.bench.target import BenchError, Target

REMOTE_DIR = "/data/local/tmp/edgeface"
QNN_DELEGATE_LIB = "libQnnTFLiteDelegate.so"
DELEGATES = ("cpu", "gpu", "nnapi", "qnn")
COMPUTE_UNITS = {"cpu": "cpu", "gpu": "gpu", "nnapi": "nnapi", "qnn": "npu"}
PLATFORM_TOOLS = "https://developer.android.com/tools/releases/platform-tools"


def delegate_flags(delegate: str, remote_dir: str = REMOTE_DIR) -> list[str]:
    """``benchmark_model`` flags that select a delegate."""
    if delegate == "cpu":
        return []
    if delegate == "gpu":
        return ["--use_gpu=true"]
    if delegate == "nnapi":
        return ["--use_nnapi=true"]
    if delegate == "qnn":
        options = f"backend_type:htp;library_path:{remote_dir}/libQnnHtp.so;skel_library_dir:{remote_dir}"
        return [f"--external_delegate_path={remote_dir}/{QNN_DELEGATE_LIB}",
                f"--external_delegate_options={options}"]
    raise BenchError(f"--delegate {delegate}: unknown delegate; use one of {', '.join(DELEGATES)}")


# --------------------------------------------------------------------------- parsing

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TIMINGS = re.compile(rf"Inference timings in us: Init: ({_NUMBER}), First inference: ({_NUMBER}), "
                      rf"Warmup \(avg\): ({_NUMBER}|nan|-nan), Inference \(avg\): ({_NUMBER})")
_STAT_LINE = re.compile(r"\bcount=\d+\b")
_PAIR = re.compile(rf"\b(\w+)=({_NUMBER})")
_DELTA = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                    rf"init=({_NUMBER}) overall=({_NUMBER})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\) node"
                        r"(?:, yielding (\d+) partitions)?")
_THREADS = re.compile(r"Num threads: \[(\d+)\]")
_SIZE = re.compile(rf"The input model file size \(MB\): ({_NUMBER})")


def parse_benchmark_output(text: str) -> dict[str, Any]:
    """The figures ``benchmark_model`` prints (any version since TF 2.4, with or without
    logcat-style prefixes), as a flat dict; microseconds as printed. Raises ``ValueError``
    when the "Inference timings" line is missing."""
    lines = text.replace("\r", "").splitlines()
    out: dict[str, Any] = {}
    stats: list[dict[str, float]] = []
    for line in lines:
        if (m := _TIMINGS.search(line)) is not None:
            init, first, warm, avg = m.groups()
            out.update(init_us=float(init), first_inference_us=float(first),
                       warmup_avg_us=None if "nan" in warm else float(warm), inference_avg_us=float(avg))
            out["stats_before_timings"] = list(stats)
        elif _STAT_LINE.search(line):
            pairs = {k: float(v) for k, v in _PAIR.findall(line)}
            if "(all same)" in line or ("min" not in pairs and "curr" in pairs):
                pairs.setdefault("min", pairs["curr"])
                pairs.setdefault("max", pairs["curr"])
                pairs.setdefault("avg", pairs["curr"])
                pairs.setdefault("std", 0.0)
            stats.append(pairs)
        elif (m := _DELTA.search(line)) is not None:
            out["memory_init_delta_mb"], out["memory_overall_delta_mb"] = float(m.group(1)), float(m.group(2))
        elif (m := _PEAK.search(line)) is not None:
            out["peak_memory_mb"] = float(m.group(1))
        elif (m := _REPLACING.search(line)) is not None:
            out.update(delegated_nodes=int(m.group(1)), total_nodes=int(m.group(2)), delegate_name=m.group(3))
            if m.group(4):
                out["partitions"] = int(m.group(4))
        elif (m := _THREADS.search(line)) is not None:
            out["num_threads"] = int(m.group(1))
        elif (m := _SIZE.search(line)) is not None:
            out["model_size_mb"] = float(m.group(1))
    if "inference_avg_us" not in out:
        raise ValueError("no 'Inference timings in us' line in benchmark_model's output")
    before = out.pop("stats_before_timings")
    # benchmark_model prints the warm-up statistics, then the timed runs', then the summary.
    out["run_stats"] = before[-1] if before else {}
    out["warmup_stats"] = before[-2] if len(before) >= 2 else {}
    return out


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else value / 1000.0


def result_from_output(text: str, *, model: str, device: str, delegate: str, threads: int,
                       precision: str, profile: Optional[str], role: str, extra: dict[str, Any]) -> BenchResult:
    parsed = parse_benchmark_output(text)
    stats = parsed["run_stats"]
    unit = COMPUTE_UNITS[delegate]
    layers = None
    if "delegated_nodes" in parsed:
        on_delegate = parsed["delegated_nodes"]
        rest = parsed["total_nodes"] - on_delegate
        delegate_unit = "cpu" if "XNNPack" in parsed.get("delegate_name", "") else unit
        layers = {delegate_unit: on_delegate}
        if rest:
            layers["cpu"] = layers.get("cpu", 0) + rest
    percentiles = {k: _ms(v) for k, v in stats.items() if re.fullmatch(r"p\d+", k)}
    info = {**extra, "role": role, "delegate": delegate, "benchmark_model": {
        k: v for k, v in parsed.items() if k not in ("run_stats", "warmup_stats")},
        "percentiles_ms": percentiles}
    for key in ("memory_init_delta_mb", "memory_overall_delta_mb"):
        if key in parsed:
            info[key] = parsed[key]
    return BenchResult(
        model=model, backend="adb", device=device, runtime="tflite", compute_unit=unit, precision=precision,
        profile=profile, threads=threads, runs=int(stats.get("count", 0)),
        init_ms=_ms(parsed["init_us"]), first_inference_ms=_ms(parsed["first_inference_us"]),
        warmup_avg_ms=_ms(parsed["warmup_avg_us"]), inference_avg_ms=_ms(parsed["inference_avg_us"]),
        median_ms=_ms(stats.get("median")), p90_ms=_ms(stats.get("p90")), p99_ms=_ms(stats.get("p99")),
        min_ms=_ms(stats.get("min")), max_ms=_ms(stats.get("max")), std_ms=_ms(stats.get("std")),
        peak_memory_mb=parsed.get("peak_memory_mb"), layers=layers,
        source=f"TFLite benchmark_model on {device} over adb, --delegate {delegate}, {threads} thread(s)",
        extra=info)


# --------------------------------------------------------------------------- adb


class Adb:
    """A thin wrapper over the ``adb`` executable; every failure becomes a one-line
    ``BenchError`` that says what to do."""

    def __init__(self, serial: Optional[str] = None, executable: Optional[str] = None, timeout: float = 600.0):
        found = executable or os.environ.get("ADB") or shutil.which("adb")
        if not found:
            raise BenchError(f"adb is not on PATH: install Android SDK platform-tools ({PLATFORM_TOOLS}) and "
                             f"put adb on PATH, or set $ADB to its path")
        self.executable = found
        self.serial = serial
        self.timeout = timeout

    def _argv(self, *args: str) -> list[str]:
        return [self.executable, *(["-s", self.serial] if self.serial else []), *args]

    def run(self, *args: str, check: bool = True, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(self._argv(*args), capture_output=True, text=True, errors="replace",
                                  timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"adb {args[0]} took longer than {timeout or self.timeout:.0f} s: check the phone "
                             f"(adb devices), or lower --runs") from None
        except OSError as exc:
            raise BenchError(f"cannot run adb ({self.executable}): {exc}: reinstall Android SDK "
                             f"platform-tools ({PLATFORM_TOOLS})") from None
        if check and proc.returncode != 0:
            raise _adb_error(args, proc.stdout + proc.stderr, self.serial)
        return proc

    def check_device(self) -> None:
        proc = self.run("get-state", check=False, timeout=30)
        state = proc.stdout.strip()
        if proc.returncode != 0 or state != "device":
            raise _adb_error(("get-state",), proc.stdout + proc.stderr or state, self.serial)

    def getprop(self, name: str) -> str:
        return self.run("shell", f"getprop {name}", check=False, timeout=30).stdout.strip()

    def shell(self, command: str) -> subprocess.CompletedProcess:
        return self.run("shell", command, check=False)

    def push(self, local: Path, remote: str) -> None:
        self.run("push", str(local), remote)


def _adb_error(args: Sequence[str], output: str, serial: Optional[str]) -> BenchError:
    text = output.strip()
    low = text.lower()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
    if "no devices" in low or "no emulators" in low:
        return BenchError("no Android device is connected: plug the phone in with USB debugging on (Settings > "
                          "Developer options), check it is listed by 'adb devices', then rerun")
    if "more than one" in low:
        return BenchError("several Android devices are connected: pick one with --serial SERIAL "
                          "(the first column of 'adb devices')")
    if "not found" in low and serial and "device" in low:
        return BenchError(f"no device with serial {serial!r}: check --serial against 'adb devices'")
    if "unauthorized" in low:
        return BenchError("the phone has not authorised this computer: unlock it and accept the "
                          "'Allow USB debugging?' prompt, then rerun")
    if "offline" in low:
        return BenchError("the phone is offline to adb: reconnect the cable (or run 'adb reconnect'), then rerun")
    if "no space left" in low:
        return BenchError(f"the phone has no space left for {REMOTE_DIR}: free some storage, then rerun")
    return BenchError(f"adb {' '.join(args[:1])} failed ({first}): check the phone with 'adb devices'")


# --------------------------------------------------------------------------- the backend


def bench_adb(target: Target, binary: Optional[Path], delegate: str = "cpu", threads: Sequence[int] = (1,),
              runs: int = 50, warmup: int = 5, serial: Optional[str] = None, qnn_libs: Optional[Path] = None,
              extra_args: Sequence[str] = (), profile: Optional[str] = None, adb: Optional[Adb] = None,
              remote_dir: str = REMOTE_DIR) -> list[BenchResult]:
    """Run ``benchmark_model`` on the connected phone for every model of ``target`` and
    every thread count; results carry ``profile`` (whose budgets apply), None if not given."""
    if delegate not in DELEGATES:
        raise BenchError(f"--delegate {delegate}: unknown delegate; use one of {', '.join(DELEGATES)}")
    if binary is None:
        raise BenchError("--on adb needs --benchmark-binary PATH: TFLite's benchmark_model built for Android "
                         "(bazel build -c opt --config=android_arm64 "
                         "//tensorflow/lite/tools/benchmark:benchmark_model, or a prebuilt "
                         "android_aarch64_benchmark_model), and/or --sdk-binary PATH for the whole SDK per stage "
                         "(edgeface_bench built for Android arm64, docs/bench.md)")
    binary = Path(binary)
    if not binary.is_file():
        raise BenchError(f"--benchmark-binary {binary}: no such file: give the path of TFLite's benchmark_model "
                         f"built for Android arm64")
    require_tflite(target, "benchmark_model runs", " or use --on hub")
    libs = _qnn_libs(qnn_libs) if delegate == "qnn" else []
    if qnn_libs is not None and delegate != "qnn":
        raise BenchError("--qnn-libs is only used with --delegate qnn")
    if any(n < 1 for n in threads) or runs < 1 or warmup < 0:
        raise BenchError("--threads must be >= 1, --runs >= 1 and --warmup >= 0")

    adb = adb or Adb(serial)
    device, info = phone_info(adb, serial)

    adb.run("shell", f"mkdir -p {shlex.quote(remote_dir)}")
    remote_binary = f"{remote_dir}/benchmark_model"
    adb.push(binary, remote_binary)
    adb.run("shell", f"chmod 755 {shlex.quote(remote_binary)}")
    for lib in libs:
        adb.push(lib, f"{remote_dir}/{lib.name}")

    results = []
    with target.files() as files:
        for entry, path in files:
            remote_name = f"{entry.role}_{entry.name}" if target.is_bundle else entry.name
            remote_model = f"{remote_dir}/{remote_name}"
            adb.push(path, remote_model)
            for n in threads:
                argv = [remote_binary, f"--graph={remote_model}", f"--num_threads={n}", f"--num_runs={runs}",
                        f"--warmup_runs={warmup}", "--min_secs=0", "--warmup_min_secs=0",
                        "--report_peak_memory_footprint=true",
                        *delegate_flags(delegate, remote_dir), *extra_args]
                env = f"LD_LIBRARY_PATH={shlex.quote(remote_dir)} ADSP_LIBRARY_PATH={shlex.quote(remote_dir)} " \
                    if delegate == "qnn" else ""
                command = f"cd {shlex.quote(remote_dir)} && {env}" + " ".join(shlex.quote(a) for a in argv)
                proc = adb.shell(command)
                output = proc.stdout + proc.stderr
                _raise_for_run(output, proc.returncode, delegate, device, entry.where)
                model = f"{target.label}#{entry.role}" if target.is_bundle else target.label
                try:
                    results.append(result_from_output(
                        output, model=model, device=device, delegate=delegate, threads=n,
                        precision=entry.precision, profile=profile, role=entry.role,
                        extra={**info, "command": command}))
                except ValueError:
                    raise BenchError(f"benchmark_model printed no timings for {entry.where} on {device} "
                                     f"({first_error(output)}): rerun by hand with adb shell {command}") from None
    return results


def require_tflite(target: Target, runner: str, alternative: str = "") -> None:
    """BenchError naming the first model of ``target`` that is not .tflite, which ``runner``
    ("benchmark_model runs") cannot take."""
    for entry in target.models:
        if entry.format != "tflite":
            raise BenchError(f"{entry.where}: {runner} .tflite models and this one is {entry.format}: convert it "
                             f"(edgeface convert ... --to tflite){alternative}")


def phone_info(adb: Adb, serial: Optional[str]) -> tuple[str, dict[str, Any]]:
    """The connected phone checked, its name ("samsung SM-S921B") and what a result records
    of it (Android version, SoC, serial)."""
    adb.check_device()
    info = {"android": adb.getprop("ro.build.version.release"), "soc": adb.getprop("ro.soc.model")
            or adb.getprop("ro.board.platform"), "serial": serial}
    return device_name(adb), info


def device_name(adb: Adb) -> str:
    maker = adb.getprop("ro.product.manufacturer")
    model = adb.getprop("ro.product.model")
    name = " ".join(part for part in (maker, model) if part)
    return name or (adb.serial or "Android device")


def _qnn_libs(folder: Optional[Path]) -> list[Path]:
    hint = ("the Android libraries of Qualcomm AI Engine Direct (QAIRT): libQnnTFLiteDelegate.so, libQnnHtp.so, "
            "libQnnSystem.so and libQnnHtpV<arch>Stub.so from lib/aarch64-android, libQnnHtpV<arch>Skel.so "
            "from lib/hexagon-v<arch>/unsigned, copied into one folder")
    if folder is None:
        raise BenchError(f"--delegate qnn needs --qnn-libs DIR: {hint}")
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"--qnn-libs {folder}: no such folder: give {hint}")
    libs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".so")
    if not any(p.name == QNN_DELEGATE_LIB for p in libs):
        raise BenchError(f"--qnn-libs {folder}: no {QNN_DELEGATE_LIB} in it: give {hint}")
    return libs


_DELEGATE_FAILURES = ("failed to apply", "failed to load delegate", "failed to create", "delegate failed",
                      "could not create", "unable to create", "failed to initialize")


def first_error(output: str) -> str:
    for line in output.splitlines():
        if "ERROR" in line or "error" in line.lower() or "failed" in line.lower():
            return line.strip()[:200]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _raise_for_run(output: str, returncode: int, delegate: str, device: str, where: str) -> None:
    low = output.lower()
    if "inference timings in us" in low and returncode == 0 and "benchmarking failed" not in low:
        return
    error = first_error(output)
    if ("not found" in low or "no such file" in low) and "benchmark_model" in low and "graph" not in error.lower():
        raise BenchError(f"benchmark_model is not on {device} ({error}): the push failed or the folder was "
                         f"cleared; rerun, and check --benchmark-binary")
    if "exec format error" in low or "not executable" in low or "e_machine" in low or "syntax error" in low:
        raise BenchError(f"benchmark_model does not run on {device} ({error}): --benchmark-binary must be "
                         f"built for Android arm64 (--config=android_arm64)")
    if "permission denied" in low:
        raise BenchError(f"benchmark_model may not run on {device} ({error}): the phone refuses to execute "
                         f"files there; check that {REMOTE_DIR} is on /data/local/tmp")
    if delegate != "cpu" and any(word in low for word in _DELEGATE_FAILURES):
        fix = {"gpu": "the model has ops the GPU delegate cannot run: try --delegate cpu, or see which ops "
                      "with --benchmark-arg=--enable_op_profiling=true",
               "nnapi": "the phone's NNAPI driver refused the model: try --delegate gpu or cpu (NNAPI is "
                        "deprecated from Android 15)",
               "qnn": "check that --qnn-libs holds the QNN libraries for this phone's Hexagon version "
                      "(libQnnHtpV<arch>Stub/Skel) and that the model is quantized for the HTP"}[delegate]
        raise BenchError(f"the {delegate} delegate failed on {device} for {where} ({error}): {fix}")
    if "inference timings in us" not in low or "benchmarking failed" in low or returncode != 0:
        raise BenchError(f"benchmark_model failed on {device} for {where} ({error}): check the model runs "
                         f"with --delegate cpu, and that --benchmark-binary matches the model's TFLite version")
