"""Where latency comes from: measuring or estimating a model or bundle on a backend
(host, adb, hub, estimate) for a set of device profiles. Shared by ``edgeface bench`` and
the pipeline's bench stage.

Each backend is one options dataclass (what only it needs: the phone's serial, the AI Hub
runtime, ...) with the same two methods: ``profiles(names)``, the profiles whose budgets
apply to it, and ``measure(target, profiles, settings)``. ``BenchSettings`` holds what
every backend shares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional, Protocol


@dataclass(frozen=True)
class BenchSettings:
    """What every backend shares: thread counts, timed and warm-up runs, and the gallery
    size the 1:N search stage of a bundle is timed on."""

    threads: tuple[int, ...] = (1,)
    runs: int = 50
    warmup: int = 5
    gallery_size: int = 10_000


class BenchBackend(Protocol):
    name: ClassVar[str]
    # whether ``measure`` times a bundle's host stages (align, 1:N search) itself
    includes_host_stages: ClassVar[bool]

    def profiles(self, names: list[str]) -> list:
        """The device profiles whose budgets apply, from the --profile names (see docs/bench.md)."""

    def measure(self, target, profiles: list, settings: BenchSettings) -> list:
        """BenchResults of every model of ``target``, each tagged with its role and profile."""


def _wants_all(names: list[str]) -> bool:
    return any(n.lower() == "all" for n in names)


def _every_model_on_every_profile(target, profiles, measure_file) -> list:
    """``measure_file(path, profile)`` -> results, for each profile and model of ``target``."""
    results = []
    with target.files() as files:
        for profile in profiles:
            for entry, path in files:
                results += [relabel(r, target, entry.role, profile.id) for r in measure_file(path, profile)]
    return results


@dataclass(frozen=True)
class HostBench:
    """This machine, through the SDK's runtime layer; ``isolate``: each model in a fresh
    process (its peak RSS is then its own)."""

    name: ClassVar[str] = "host"
    includes_host_stages: ClassVar[bool] = True
    isolate: bool = True

    def profiles(self, names: list[str]) -> list:
        from edgeface.bench.profiles import load_profile
        from edgeface.bench.target import BenchError

        if _wants_all(names) or len(names) > 1:
            raise BenchError("--on host measures this machine: give at most one --profile (host, or the device "
                             "this machine is, e.g. an edge board); for phones use --on estimate, adb or hub")
        return [load_profile(names[0] if names else "host")]

    def measure(self, target, profiles: list, settings: BenchSettings) -> list:
        from edgeface.bench.host import bench_host

        return bench_host(target, threads=settings.threads, runs=settings.runs, warmup=settings.warmup,
                          isolate=self.isolate, gallery_size=settings.gallery_size, profile_id=profiles[0].id)


@dataclass(frozen=True)
class AdbBench:
    """The phone connected over adb: TFLite's ``benchmark_model`` on each model
    (``binary``), and with ``sdk_binary`` the whole SDK per stage (edgeface_bench built for
    Android, with ``litert_lib``, over ``images`` and a gallery; edgeface/bench/sdk_adb.py)."""

    name: ClassVar[str] = "adb"
    includes_host_stages: ClassVar[bool] = False
    binary: Optional[Path] = None
    delegate: str = "cpu"
    serial: Optional[str] = None
    qnn_libs: Optional[Path] = None
    extra_args: tuple[str, ...] = ()
    sdk_binary: Optional[Path] = None
    litert_lib: Optional[Path] = None
    images: tuple[Path, ...] = ()
    gallery: Optional[Path] = None

    def profiles(self, names: list[str]) -> list:
        from edgeface.bench.profiles import load_profile
        from edgeface.bench.target import BenchError

        if _wants_all(names) or len(names) > 1:
            raise BenchError("--on adb measures the one connected phone: give at most one --profile (its profile)")
        return [load_profile(names[0])] if names else []

    def measure(self, target, profiles: list, settings: BenchSettings) -> list:
        from edgeface.bench.adb import bench_adb

        profile = profiles[0].id if profiles else None
        wants_sdk = self.sdk_binary is not None or self.litert_lib is not None or self.images or self.gallery
        if wants_sdk:
            from edgeface.bench.sdk_adb import sdk_files

            sdk_files(self.sdk_binary, self.litert_lib, self.images, self.gallery)  # before anything is pushed
        results = []
        if self.binary is not None or not wants_sdk:
            results += bench_adb(target, self.binary, delegate=self.delegate, threads=settings.threads,
                                 runs=settings.runs, warmup=settings.warmup, serial=self.serial,
                                 qnn_libs=self.qnn_libs, extra_args=self.extra_args, profile=profile)
        if wants_sdk:
            from edgeface.bench.sdk_adb import bench_sdk_adb

            results += bench_sdk_adb(target, self.sdk_binary, self.litert_lib, self.images, self.gallery,
                                     threads=settings.threads, runs=settings.runs, warmup=settings.warmup,
                                     gallery_size=settings.gallery_size, serial=self.serial, profile=profile)
        return results


@dataclass(frozen=True)
class HubBench:
    """A profile job on Qualcomm AI Hub's real device of each profile; ``runtime`` and
    ``compute_unit`` None: AI Hub's defaults."""

    name: ClassVar[str] = "hub"
    includes_host_stages: ClassVar[bool] = False
    runtime: Optional[str] = None
    compute_unit: Optional[str] = None

    def profiles(self, names: list[str]) -> list:
        from edgeface.bench.profiles import list_profiles, load_profile
        from edgeface.bench.target import BenchError

        if not names:
            raise BenchError("--on hub needs --profile: the device profile(s) to run on (edgeface profiles list), "
                             "or --profile all for every profile with an AI Hub device")
        if _wants_all(names):
            return [p for p in list_profiles(include_host=False) if p.hub_device]
        profiles = [load_profile(n) for n in names]
        for p in profiles:
            if not p.hub_device:
                raise BenchError(f"--profile {p.id}: {p.name} has no Qualcomm AI Hub device; "
                                 f"use --on estimate for it, or a profile that has one")
        return profiles

    def measure(self, target, profiles: list, settings: BenchSettings) -> list:
        from edgeface.hub.profile import profile_on_hub  # without qai-hub: a one-line error when it runs

        options = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return _every_model_on_every_profile(
            target, profiles, lambda path, profile: [profile_on_hub(path, profile.hub_device, profile=profile.id,
                                                                    **options)])


@dataclass(frozen=True)
class EstimateBench:
    """The latency estimator (published measurements and graph statistics) for each profile."""

    name: ClassVar[str] = "estimate"
    includes_host_stages: ClassVar[bool] = False

    def profiles(self, names: list[str]) -> list:
        from edgeface.bench.profiles import list_profiles, load_profile

        if not names or _wants_all(names):
            return list_profiles()
        return [load_profile(n) for n in names]

    def measure(self, target, profiles: list, settings: BenchSettings) -> list:
        from edgeface.bench.estimate import estimate

        return _every_model_on_every_profile(target, profiles, estimate)


def relabel(result, target, role: str, profile_id: Optional[str]):
    model = f"{target.label}#{role}" if target.is_bundle else target.label
    return dataclasses.replace(result, model=model, profile=result.profile or profile_id,
                               extra={**(result.extra or {}), "role": role})


def measure_target(backend: BenchBackend, target, profiles: list, settings: BenchSettings,
                   host_stages: bool = True) -> list:
    """BenchResults of every model of ``target`` on ``backend``, each tagged with its role
    and profile; with ``host_stages`` a bundle adds the stages its use cases add up that
    run on the host (align, 1:N search)."""
    results = backend.measure(target, profiles, settings)
    if target.is_bundle and host_stages and not backend.includes_host_stages:
        from edgeface.bench.host import host_stages as measure_stages

        results += measure_stages(target, runs=settings.runs, warmup=settings.warmup,
                                  gallery_size=settings.gallery_size)
    return results
