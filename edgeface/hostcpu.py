"""This machine's CPU (and memory) as edgeface reports it (``edgeface doctor``, the ``host`` device
profile): model name, usable cores, top clock and the SIMD features XNNPACK picks its
kernels by. One helper for Linux (``/proc/cpuinfo``, cpufreq), macOS (``sysctl``) and
anything else (the ``platform`` module), so no caller parses ``/proc`` itself."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass

# The features worth naming, in the spelling of Linux's /proc/cpuinfo (x86 flags, arm64
# Features); macOS's names are mapped onto these.
FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8",
            "asimd", "asimddp", "i8mm", "sve", "sve2", "bf16", "fphp")
_MAC_ARM_FEATURES = {"hw.optional.neon": "asimd", "hw.optional.arm.FEAT_DotProd": "asimddp",
                     "hw.optional.arm.FEAT_I8MM": "i8mm", "hw.optional.arm.FEAT_BF16": "bf16",
                     "hw.optional.arm.FEAT_FP16": "fphp"}
_MAC_X86_FEATURES = {"SSE4.2": "sse4_2", "AVX1.0": "avx", "AVX2": "avx2", "FMA": "fma", "AVX512F": "avx512f"}
ASSUMED_GHZ = 2.0


@dataclass(frozen=True)
class HostCpu:
    model: str
    cores: int            # usable by this process (its affinity mask where the OS has one)
    max_ghz: float
    features: tuple[str, ...]  # a subset of FEATURES, in its order
    sources: dict          # what each field was read from


@functools.cache
def host_cpu() -> HostCpu:
    if sys.platform.startswith("linux"):
        return _linux()
    if sys.platform == "darwin":
        return _macos(_sysctl)
    return _generic("platform module (no feature list on this OS)")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def ram_gb() -> float | None:
    """Physical memory in GiB: /proc/meminfo, else sysconf (macOS and other Unixes), else None."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _linux(cpuinfo: str | None = None, max_khz: str | None = None) -> HostCpu:
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    model, mhz, flags = "", 0.0, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Model", "Hardware") and value and not model:
            model = value
        elif key == "cpu MHz" and not mhz:
            try:
                mhz = float(value)
            except ValueError:
                pass
        elif key in ("flags", "Features"):
            flags.update(value.split())
    clock = "/proc/cpuinfo (cpu MHz)"
    khz = (_read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") if max_khz is None else max_khz).strip()
    if khz.isdigit():
        mhz, clock = int(khz) / 1000, "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    return _made(model, mhz, flags, {"model": "/proc/cpuinfo (model name)", "clock": clock,
                                     "features": "/proc/cpuinfo (flags)"})


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _macos(sysctl) -> HostCpu:
    model = sysctl("machdep.cpu.brand_string")
    hz = sysctl("hw.cpufrequency_max")  # Intel Macs only: Apple silicon does not publish it
    flags = {ours for name, ours in _MAC_ARM_FEATURES.items() if sysctl(name) == "1"}
    words = set(sysctl("machdep.cpu.features").split()) | set(sysctl("machdep.cpu.leaf7_features").split())
    flags |= {ours for name, ours in _MAC_X86_FEATURES.items() if name in words}
    return _made(model, int(hz) / 1e6 if hz.isdigit() else 0.0, flags,
                 {"model": "sysctl machdep.cpu.brand_string", "clock": "sysctl hw.cpufrequency_max",
                  "features": "sysctl hw.optional.* / machdep.cpu.features"})


def _generic(source: str) -> HostCpu:
    return _made("", 0.0, set(), {"model": "platform.processor()", "clock": source, "features": source})


def _made(model: str, mhz: float, flags: set, sources: dict) -> HostCpu:
    if not mhz:
        mhz, sources = ASSUMED_GHZ * 1000, {**sources, "clock": f"unknown ({ASSUMED_GHZ} GHz assumed)"}
    return HostCpu(model=model or platform.processor() or platform.machine(), cores=usable_cores(),
                   max_ghz=round(mhz / 1000, 2), features=tuple(f for f in FEATURES if f in flags), sources=sources)
