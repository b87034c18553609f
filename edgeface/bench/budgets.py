"""Budget validation: does a measured (or estimated) pipeline fit a device profile's
latency budget for each use case?

The use cases and the stages each one adds up are defined once, in
:data:`edgeface.bench.profiles.USE_CASES`:

| use case | stages added up |
|---|---|
| ``face_unlock`` | detector + align + embedder |
| ``ar_camera`` | detector (every frame) |
| ``gallery_identify`` | detector + align + embedder + search (1:N) |

``detector`` and ``embedder`` are a bundle's models, measured by the chosen backend
(host, adb, hub, estimate) on the profile's device; ``align`` and ``search`` are not
models: they are measured on this host by ``edgeface bench`` (the align warp for one
face, the 1:N search over a gallery of ``--gallery-size`` templates) and added as they
are. A stage's latency is :attr:`BenchResult.latency_ms` (the median, else the average).

A **bundle** is checked against every use case its profile budgets (or those given with
``--use-case``); a use case whose models the bundle lacks (a detector-only bundle and
``face_unlock``) is reported "n/a", or is an error when asked for by name. A **lone model
file** has no role, so it is checked only against the use cases named with
``--use-case``, and then alone: its latency against the whole budget (a necessary
condition, not a pipeline figure).

Results are grouped per profile, device, backend, compute unit and thread count; a
check passes when the group's summed latency is at or under the budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from edgeface.bench.result import BenchResult
from edgeface.bench.sdk_report import SDK_ROLE
from edgeface.bench.target import BenchError

MODEL_STAGES = ("detector", "embedder")
HOST_STAGES = ("align", "search")   # measured on this host, added to every device's pipeline


def use_cases() -> dict[str, tuple[str, ...]]:
    """Use case -> the stages its budget covers (from edgeface.bench.profiles)."""
    from edgeface.bench.profiles import USE_CASES

    return {name: tuple(case.stages) for name, case in USE_CASES.items()}


@dataclass
class BudgetCheck:
    profile: str
    device: str
    use_case: str
    budget_ms: float
    latency_ms: Optional[float]         # the summed stages; None when n/a
    stages: dict[str, Optional[float]]  # stage -> ms, in the use case's order
    backend: str
    runtime: str
    compute_unit: str
    threads: Optional[int]
    status: str                         # "pass", "fail" or "n/a"
    low_ms: Optional[float] = None      # an estimate's range, summed the same way
    high_ms: Optional[float] = None
    note: str = ""
    models: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def role_of(result: BenchResult) -> str:
    return str(result.extra.get("role", "model"))


def validate_use_cases(use_case_names: Optional[Sequence[str]], is_bundle: bool = True,
                       roles: Optional[Iterable[str]] = None) -> dict[str, tuple[str, ...]]:
    """Check ``--use-case`` names before anything is measured; returns every use case's stages."""
    known = use_cases()
    if use_case_names:
        unknown = [u for u in use_case_names if u not in known]
        if unknown:
            raise BenchError(f"--use-case {unknown[0]}: unknown use case; use one of {', '.join(known)}")
    if use_case_names and is_bundle and roles is not None:
        have = set(roles)
        for name in use_case_names:
            missing = [s for s in known[name] if s in MODEL_STAGES and s not in have]
            if missing:
                raise BenchError(f"--use-case {name} needs the bundle's {' and '.join(missing)}, and the "
                                 f"bundle has only: {', '.join(sorted(have)) or 'no models'}: pick another "
                                 f"use case, or bench a bundle that has it")
    return known


def check_budgets(results: Sequence[BenchResult], profiles: Mapping[str, Any],
                  use_case_names: Optional[Sequence[str]] = None, is_bundle: bool = True,
                  roles: Optional[Iterable[str]] = None) -> list[BudgetCheck]:
    """One check per (group of results, use case). ``profiles`` maps profile id to an object
    with ``.id``, ``.name`` and ``.budgets`` (``edgeface.bench.profiles.Profile``); results whose
    profile is not in it (or None) are not checked. ``use_case_names`` None: every use case
    the profile budgets (bundles only); given: exactly those. ``roles``: the models the
    bundle has, for the error when a named use case needs one it lacks."""
    known = validate_use_cases(use_case_names, is_bundle, roles)
    if not is_bundle and not use_case_names:
        return []   # a lone model has no use case unless told

    shared = {}
    for r in results:
        if role_of(r) in HOST_STAGES and r.latency_ms is not None:
            shared.setdefault(role_of(r), r)
    groups: dict[tuple, list[BenchResult]] = {}
    for r in results:
        # the whole SDK's frame (role "sdk") sits beside the budgets (edgeface/bench/sdk_report.py), not in them
        if role_of(r) in HOST_STAGES or role_of(r) == SDK_ROLE or r.profile is None or r.profile not in profiles:
            continue
        key = (r.profile, r.device, r.backend, r.compute_unit, r.threads)
        groups.setdefault(key, []).append(r)

    checks = []
    for (profile_id, device, backend, unit, threads), members in groups.items():
        profile = profiles[profile_id]
        budgets = dict(profile.budgets)
        names = list(use_case_names) if use_case_names else [u for u in known if u in budgets]
        for name in names:
            if name not in budgets:
                checks.append(BudgetCheck(profile_id, device, name, float("nan"), None, {}, backend,
                                          _runtimes(members), unit, threads, "n/a",
                                          note=f"profile {profile_id} has no {name} budget"))
                continue
            for combo in _combinations(members, known[name], is_bundle):
                checks.append(_check(profile_id, device, name, float(budgets[name]), known[name], combo,
                                     shared, backend, unit, threads, is_bundle))
    return checks


def _runtimes(members: Iterable[BenchResult]) -> str:
    return "+".join(dict.fromkeys(r.runtime for r in members))


def _combinations(members: list[BenchResult], stages: Sequence[str], is_bundle: bool) -> list[dict[str, BenchResult]]:
    """The model results one pipeline adds up. Several results for one role (an estimate for
    both tflite and qnn, say) pair up by runtime where every role has that runtime;
    otherwise the fastest of each role is taken (and the check says so)."""
    if not is_bundle:
        return [{"model": r} for r in members if role_of(r) == "model"]
    by_role: dict[str, list[BenchResult]] = {}
    for r in members:
        if role_of(r) in MODEL_STAGES and role_of(r) in stages:
            by_role.setdefault(role_of(r), []).append(r)
    if not by_role or all(len(v) == 1 for v in by_role.values()):
        return [{role: rs[0] for role, rs in by_role.items()}]
    common = set.intersection(*({r.runtime for r in rs} for rs in by_role.values()))
    if common:
        return [{role: next(r for r in rs if r.runtime == runtime) for role, rs in by_role.items()}
                for runtime in sorted(common)]
    return [{role: min(rs, key=lambda r: r.latency_ms if r.latency_ms is not None else float("inf"))
             for role, rs in by_role.items()}]


def _check(profile_id: str, device: str, name: str, budget: float, stages: Sequence[str],
           combo: dict[str, BenchResult], shared: dict[str, BenchResult], backend: str, unit: str,
           threads: Optional[int], is_bundle: bool) -> BudgetCheck:
    parts: dict[str, Optional[BenchResult]] = {}
    if is_bundle:
        for stage in stages:
            parts[stage] = combo.get(stage) if stage in MODEL_STAGES else shared.get(stage)
    else:
        parts["model"] = combo["model"]
    runtime = _runtimes(r for r in parts.values() if r is not None and r.backend == backend) or "-"
    models = [r.model for r in parts.values() if r is not None]
    missing = [s for s, r in parts.items() if r is None or r.latency_ms is None]
    stage_ms = {s: (r.latency_ms if r is not None else None) for s, r in parts.items()}
    if missing:
        why = ", ".join(missing)
        return BudgetCheck(profile_id, device, name, budget, None, stage_ms, backend, runtime, unit, threads,
                           "n/a", note=f"no figure for {why}", models=models)
    total = sum(stage_ms.values())
    lows = [_bound(r, "low") for r in parts.values()]
    highs = [_bound(r, "high") for r in parts.values()]
    has_range = any(r.estimate_low_ms is not None or r.estimate_high_ms is not None for r in parts.values())
    low = sum(lows) if has_range else None
    high = sum(highs) if has_range else None
    notes = []
    if not is_bundle:
        notes.append(f"this model alone against the whole {name} budget (stages: {' + '.join(stages)})")
    host_added = [s for s in parts if s in HOST_STAGES and backend != "host"]
    if host_added:
        notes.append(f"{' and '.join(host_added)} measured on this host")
    if low is not None and high is not None and low <= budget < high:
        notes.append(f"the estimate's range {low:.3g}-{high:.3g} ms straddles the budget")
    status = "pass" if total <= budget else "fail"
    return BudgetCheck(profile_id, device, name, budget, total, stage_ms, backend, runtime, unit, threads,
                       status, low, high, "; ".join(notes), models)


def _bound(r: BenchResult, which: str) -> float:
    value = r.estimate_low_ms if which == "low" else r.estimate_high_ms
    return value if value is not None else r.latency_ms


def any_failed(checks: Iterable[BudgetCheck]) -> bool:
    return any(c.failed for c in checks)
