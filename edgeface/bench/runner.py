"""Where latency comes from: measuring or estimating a model or bundle on a backend
(host, adb, hub, estimate) for a set of device profiles. Shared by ``edgeface bench`` and
the pipeline's bench stage."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional


def select_profiles(on: str, names: list[str]):
    """The profiles whose budgets apply, by backend (see docs/bench.md)."""
    from edgeface.bench.profiles import list_profiles, load_profile
    from edgeface.bench.target import BenchError

    wants_all = any(n.lower() == "all" for n in names)
    if on == "host":
        if wants_all or len(names) > 1:
            raise BenchError("--on host measures this machine: give at most one --profile (host, or the device "
                             "this machine is, e.g. an edge board); for phones use --on estimate, adb or hub")
        return [load_profile(names[0] if names else "host")]
    if on == "adb":
        if wants_all or len(names) > 1:
            raise BenchError("--on adb measures the one connected phone: give at most one --profile (its profile)")
        return [load_profile(names[0])] if names else []
    if on == "hub":
        if not names:
            raise BenchError("--on hub needs --profile: the device profile(s) to run on (edgeface profiles list), "
                             "or --profile all for every profile with an AI Hub device")
        if wants_all:
            return [p for p in list_profiles(include_host=False) if p.hub_device]
        profiles = [load_profile(n) for n in names]
        for p in profiles:
            if not p.hub_device:
                raise BenchError(f"--profile {p.id}: {p.name} has no Qualcomm AI Hub device; "
                                 f"use --on estimate for it, or a profile that has one")
        return profiles
    if not names or wants_all:
        return list_profiles()
    return [load_profile(n) for n in names]


def relabel(result, target, role: str, profile_id: Optional[str]):
    model = f"{target.label}#{role}" if target.is_bundle else target.label
    return dataclasses.replace(result, model=model, profile=result.profile or profile_id,
                               extra={**(result.extra or {}), "role": role})


def measure_target(on: str, target, profiles, threads: list[int], runs: int, warmup: int, isolate: bool,
                   gallery_size: int, adb_options: dict[str, Any], hub_options: dict[str, Any],
                   host_stages: bool = True):
    """BenchResults of every model of ``target`` on backend ``on`` (host, adb, hub or
    estimate), each tagged with its role and profile; with ``host_stages`` a bundle adds
    the stages its use cases add up that run on the host (align, 1:N search)."""
    if on == "host":
        from edgeface.bench.host import bench_host

        return bench_host(target, threads=threads, runs=runs, warmup=warmup, isolate=isolate,
                          gallery_size=gallery_size, profile_id=profiles[0].id)
    results = []
    if on == "adb":
        from edgeface.bench.adb import bench_adb

        results = bench_adb(target, threads=threads, runs=runs, warmup=warmup,
                            profile=profiles[0].id if profiles else None, **adb_options)
    elif on == "hub":
        from edgeface.hub.profile import profile_on_hub  # without qai-hub: a one-line error when it runs

        with target.files() as files:
            for profile in profiles:
                for entry, path in files:
                    result = profile_on_hub(path, profile.hub_device, profile=profile.id,
                                            **{k: v for k, v in hub_options.items() if v is not None})
                    results.append(relabel(result, target, entry.role, profile.id))
    elif on == "estimate":
        from edgeface.bench.estimate import estimate

        with target.files() as files:
            for profile in profiles:
                for entry, path in files:
                    results += [relabel(r, target, entry.role, profile.id) for r in estimate(path, profile)]
    if target.is_bundle and host_stages:
        from edgeface.bench.host import host_stages as measure_stages

        results += measure_stages(target, runs=runs, warmup=warmup, gallery_size=gallery_size)
    return results
