"""Device profiles: one YAML file per real device in ``device_profiles/``, plus this host.

A profile says what a device is (SoC part number, Qualcomm AI Hub device name and
attributes, CPU clusters, RAM, GPU), which compute units edgeface can use on it, which
published-measurement device calibrates its estimates, and the latency budget of each
use case. Numbers that ``socs.yaml`` already holds (Hexagon arch, ``soc_model``) are taken
from there through the SoC's part number, never repeated. Every figure names its source.

    from edgeface.bench.profiles import list_profiles, load_profile

    s24 = load_profile("galaxy-s24")
    s24.budgets            # {"face_unlock": 100.0, "ar_camera": 33.3, "gallery_identify": 1000.0}
    s24.htp_arch, s24.soc_model     # 75, 57 (from socs.yaml)
    load_profile("host")   # this machine, generated at run time

The schema is described in ``docs/profiles.md``.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgeface.configfields import MISSING, Checker, build, doc
from edgeface.errors import EdgefaceError, clip, show, show_name
from edgeface.socs import Soc, UnknownSocError, find_soc

SCHEMA_VERSION = 1
KINDS = ("phone", "board", "laptop", "host")
COMPUTE_UNITS = ("cpu", "gpu", "npu")


@dataclass(frozen=True)
class UseCase:
    name: str
    description: str
    stages: tuple[str, ...]     # what the budget covers, in order


# The use cases every profile budgets. The stages say which models a bench run adds up:
# "detector" and "embedder" are bundle roles, "align" the warp, "search" the 1:N query.
USE_CASES: dict[str, UseCase] = {
    "face_unlock": UseCase("face_unlock", "Face unlock: one attempt, detect + align + embed (+ 1:1 match)",
                           ("detector", "align", "embedder")),
    "ar_camera": UseCase("ar_camera", "AR camera at 30 fps: the detector runs on every frame",
                         ("detector",)),
    "gallery_identify": UseCase("gallery_identify",
                                "Gallery identify: one photo, detect + align + embed + 1:N search",
                                ("detector", "align", "embedder", "search")),
}

# The default budgets (milliseconds) and why; a profile may override any of them.
DEFAULT_BUDGETS_MS = {"face_unlock": 100.0, "ar_camera": 33.3, "gallery_identify": 1000.0}
BUDGETS_SOURCE = ("docs/profiles.md#budgets: face_unlock 100 ms and gallery_identify 1000 ms are the "
                  "0.1 s (feels instantaneous) and 1 s (keeps the user's flow) response-time limits "
                  "(J. Nielsen, Usability Engineering, 1993; "
                  "https://www.nngroup.com/articles/response-times-3-important-limits/); "
                  "ar_camera 33.3 ms = 1000 ms / 30 frames")


class ProfileError(EdgefaceError):
    """A device profile file does not follow the schema."""


class UnknownProfileError(EdgefaceError):
    """A profile name that is not in device_profiles/."""


@dataclass(frozen=True)
class CpuCluster:
    core: str = doc(MISSING, "Cortex-X4, Oryon, Kryo 670 Prime (Cortex-A78), AMD EPYC ...")
    count: int = doc(MISSING, "Cores in the cluster.", lo=1, hi=1024)
    ghz: float = doc(MISSING, "Maximum clock in GHz.", lo=0.1, hi=10)

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.core, "count": self.count, "ghz": self.ghz}


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    kind: str                               # phone, board, laptop, host
    chipset: str                            # marketing name: "Snapdragon 8 Gen 3 for Galaxy", "Google Tensor G3"
    soc: Optional[Soc]                      # from socs.yaml (Qualcomm parts); None for others
    hub_device: Optional[str]               # exact AI Hub device name, None when AI Hub has none
    hub_attributes: tuple[str, ...]         # AI Hub device attributes ("chipset:...", "os:android", ...)
    calibration_device: Optional[str]       # the published-measurement device estimates scale from
    compute_units: tuple[str, ...]          # which of cpu / gpu / npu edgeface uses here
    cpu_clusters: tuple[CpuCluster, ...]
    cpu_features: tuple[str, ...]           # dotprod, i8mm, avx2, avx512_vnni ... (what int8 speed needs)
    gpu: Optional[str]
    ram_gb: Optional[float]                 # None: not published for this (reference) device
    budgets: dict[str, float]               # use case -> milliseconds
    sources: dict[str, str]                 # field -> where the figure comes from
    notes: str = ""
    path: Optional[str] = field(default=None, compare=False)   # the YAML file, None for "host"

    @property
    def htp_arch(self) -> Optional[int]:
        return self.soc.htp_arch if self.soc else None

    @property
    def hexagon(self) -> Optional[str]:
        return self.soc.hexagon if self.soc else None

    @property
    def soc_model(self) -> Optional[int]:
        return self.soc.soc_model if self.soc else None

    @property
    def cpu_cores(self) -> int:
        return sum(c.count for c in self.cpu_clusters)

    @property
    def big_cluster(self) -> CpuCluster:
        """The fastest cluster (the one a 1-thread inference lands on)."""
        return max(self.cpu_clusters, key=lambda c: c.ghz)

    def budget(self, use_case: str) -> float:
        try:
            return self.budgets[use_case]
        except KeyError:
            raise UnknownProfileError(f"profile {self.id}: no budget for use case {use_case!r} "
                                      f"(known: {', '.join(self.budgets)})") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "kind": self.kind, "chipset": self.chipset,
            "soc": self.soc.part if self.soc else None,
            "hexagon": self.hexagon, "htp_arch": self.htp_arch, "soc_model": self.soc_model,
            "hub_device": self.hub_device, "hub_attributes": list(self.hub_attributes),
            "calibration_device": self.calibration_device, "compute_units": list(self.compute_units),
            "cpu_clusters": [c.to_dict() for c in self.cpu_clusters], "cpu_features": list(self.cpu_features),
            "gpu": self.gpu, "ram_gb": self.ram_gb, "budgets_ms": dict(self.budgets),
            "sources": dict(self.sources), "notes": self.notes, "path": self.path,
        }


# ----------------------------------------------------------------------------- parsing

# Fields whose figures must name a source (the rest are identifiers or policy).
_SOURCED = ("chipset", "cpu_clusters", "ram_gb", "gpu", "hub_device", "budgets_ms")


@dataclass(frozen=True)
class ProfileDocument:
    """A profile YAML file as written (docs/profiles.md): the fields without a default are
    required (``soc``, ``hub_device`` and ``ram_gb`` may be null); ``parse_profile`` turns it
    into a ``Profile``, with the SoC's facts from socs.yaml."""

    schema: int = doc(MISSING, f"The schema version: {SCHEMA_VERSION}.")
    id: str = doc(MISSING, "Lower-case, no spaces; the file's name (galaxy-s24).")
    name: str = doc(MISSING, "The device's name.")
    kind: str = doc(MISSING, f"{', '.join(KINDS)}.")
    chipset: str = doc(MISSING, "Marketing name of the chipset.")
    soc: Optional[str] = doc(MISSING, "Part number in socs.yaml (SM8650); null for a non-Qualcomm SoC.")
    hub_device: Optional[str] = doc(MISSING, "Exact Qualcomm AI Hub device name; null when AI Hub has none.")
    compute_units: list[str] = doc(MISSING, f"Which of {', '.join(COMPUTE_UNITS)} edgeface uses here.")
    cpu_clusters: tuple[CpuCluster, ...] = doc(MISSING, "The CPU clusters ({core, count, ghz} each).")
    ram_gb: Optional[float] = doc(MISSING, "RAM in GB; null when not published.", lo=0.001, hi=100_000)
    budgets_ms: dict[str, Any] = doc(MISSING, "Latency budget in milliseconds of every use case.")
    sources: dict[str, Any] = doc(MISSING, "Where each figure comes from (a spec sheet URL or a published file).")
    hub_attributes: Optional[list[str]] = doc(None, "AI Hub device attributes like 'os:android'.")
    calibration_device: Optional[str] = doc(None, "The published-measurement device estimates scale from.")
    cpu_features: Optional[list[str]] = doc(None, "dotprod, i8mm, avx2 ... (what int8 speed needs).")
    gpu: Optional[str] = doc(None, "The GPU's name.")
    notes: Optional[str] = doc(None, "Anything a reader of the estimates should know.")


class _Checker(Checker):
    """Errors in the profile files' words: ``x.yaml: field 'ram_gb' ... (see docs/profiles.md
    for the schema)``."""

    def fail(self, where: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.source}: field {show(where)} {problem} (see docs/profiles.md for the schema)")

    def unknown(self, where: str, known: list[str]) -> ProfileError:
        return self.fail(where, "is not part of the profile schema: remove it or fix its spelling")

    def missing(self, where: str) -> ProfileError:
        return self.fail(where, "is missing")


def _number_in(value: Any, lo: float, hi: float) -> bool:
    """A real number (not a bool, not NaN) from ``lo`` to ``hi``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi


def parse_profile(data: Any, where: str) -> Profile:
    """Validate one profile document (the YAML's contents); ``where`` names it in errors."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile is a YAML mapping, got {type(data).__name__}")
    checker = _Checker(ProfileError, where)
    document = build(ProfileDocument, data, checker)
    if document.schema != SCHEMA_VERSION:
        raise checker.fail("schema", f"must be {SCHEMA_VERSION}, got {show(document.schema)}")
    _check_text(document, checker)
    soc = _soc(document, checker)
    _check_compute_units(document, soc, checker)
    if not document.cpu_clusters:
        raise checker.fail("cpu_clusters", "must be a non-empty list of {core, count, ghz}")
    budgets = _budgets(document, checker)
    _check_sources(document, soc, checker)
    return Profile(
        id=document.id.strip(), name=document.name.strip(), kind=document.kind, chipset=document.chipset.strip(),
        soc=soc, hub_device=_stripped(document.hub_device),
        hub_attributes=tuple(_hub_attributes(document, soc, checker)),
        calibration_device=_stripped(document.calibration_device), compute_units=tuple(document.compute_units),
        cpu_clusters=document.cpu_clusters, cpu_features=tuple(document.cpu_features or ()),
        gpu=_stripped(document.gpu), ram_gb=document.ram_gb, budgets=budgets, sources=dict(document.sources),
        notes=(document.notes or "").strip(), path=where)


def _stripped(text: Optional[str]) -> Optional[str]:
    return None if text is None else text.strip()


def _check_text(document: ProfileDocument, checker: Checker) -> None:
    """Names are not blank; the id is lower-case without spaces; the kind is known."""
    for key in ("id", "name", "chipset", "hub_device", "calibration_device", "gpu"):
        value = getattr(document, key)
        if value is not None and not value.strip():
            raise checker.fail(key, "must be a non-empty string")
    pid = document.id.strip()
    if pid != pid.lower() or " " in pid:
        raise checker.fail("id", f"must be lower-case without spaces (like 'galaxy-s24'), got {show(pid)}")
    if document.kind not in KINDS:
        raise checker.fail("kind", f"must be one of {', '.join(KINDS)}, got {show(document.kind)}")


def _soc(document: ProfileDocument, checker: Checker) -> Optional[Soc]:
    """The SoC from socs.yaml by part number; None for a device without a Qualcomm SoC."""
    if document.soc is None:
        return None
    try:
        return find_soc(document.soc)
    except UnknownSocError as exc:
        raise checker.fail("soc", f"names no SoC in socs.yaml: {exc}") from None


def _check_compute_units(document: ProfileDocument, soc: Optional[Soc], checker: Checker) -> None:
    units = document.compute_units
    if not units or any(u not in COMPUTE_UNITS for u in units):
        raise checker.fail("compute_units", f"must be a non-empty list of {', '.join(COMPUTE_UNITS)}")
    if "npu" in units and soc is None:
        raise checker.fail("compute_units", "lists npu but soc is null: the NPU estimate needs a Qualcomm SoC")


def _budgets(document: ProfileDocument, checker: Checker) -> dict[str, float]:
    """Use case -> milliseconds, for every use case."""
    raw = document.budgets_ms
    missing = [u for u in USE_CASES if u not in raw]
    if missing:
        raise checker.fail("budgets_ms", f"lacks {', '.join(missing)} (every profile budgets {', '.join(USE_CASES)})")
    budgets = {}
    for use_case, ms in raw.items():
        if use_case not in USE_CASES:
            raise checker.fail(f"budgets_ms.{show_name(use_case)}", f"is not a use case ({', '.join(USE_CASES)})")
        if not (_number_in(ms, 0, 3_600_000) and ms > 0):
            raise checker.fail(f"budgets_ms.{use_case}", "must be a positive number of milliseconds (at most an hour)")
        budgets[use_case] = float(ms)
    return budgets


def _check_sources(document: ProfileDocument, soc: Optional[Soc], checker: Checker) -> None:
    """Every figure the profile gives names where it comes from."""
    sources = document.sources
    if not all(isinstance(v, str) and v.strip() for v in sources.values()):
        raise checker.fail("sources", "must map field names to a source (a spec sheet URL or a published file)")
    for key in _SOURCED:
        if getattr(document, key) is not None and key not in sources:
            raise checker.fail("sources", f"has no entry for {key!r}: every figure names where it comes from")
    if soc is not None and "soc" not in sources:
        raise checker.fail("sources", "has no entry for 'soc'")


def _hub_attributes(document: ProfileDocument, soc: Optional[Soc], checker: Checker) -> list[str]:
    """The profile's AI Hub attributes plus its SoC's own (from socs.yaml, never repeated)."""
    attributes = document.hub_attributes or []
    if not all(":" in a for a in attributes):
        raise checker.fail("hub_attributes", "must be a list of AI Hub attributes like 'os:android'")
    derived = {"hexagon", "soc-model", "htp-supports-fp16"}
    for attribute in attributes:
        if attribute.partition(":")[0] in derived:
            raise checker.fail("hub_attributes", f"lists {show(attribute)}: hexagon, soc-model and "
                                                 f"htp-supports-fp16 come from socs.yaml through 'soc'; remove it")
    if soc is None:
        return attributes
    if not any(a.startswith("chipset:") for a in attributes):
        attributes = [f"chipset:{soc.chipset}", *attributes]
    return [*attributes, f"hexagon:{soc.hexagon}", f"soc-model:{soc.soc_model}",
            f"htp-supports-fp16:{str(soc.supports_fp16).lower()}"]


def load_profile_file(path: str | Path) -> Profile:
    """A profile from any YAML file (a user's own device, say)."""
    from edgeface.safe_yaml import load_yaml_file

    try:
        data = load_yaml_file(path, ProfileError)
    except FileNotFoundError:
        raise UnknownProfileError(f"{clip(str(path))}: no such profile file") from None
    return parse_profile(data, str(path))


@functools.cache
def _shipped() -> tuple[Profile, ...]:
    from importlib import resources

    from edgeface.safe_yaml import parse_yaml

    profiles = []
    folder = resources.files("edgeface.device_profiles")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml") or entry.name in _DATA_FILES:
            continue
        where = f"device_profiles/{entry.name}"
        profile = parse_profile(parse_yaml(entry.read_text(encoding="utf-8"), ProfileError, where), where)
        if profile.id != entry.name.removesuffix(".yaml"):
            raise ProfileError(f"{where}: field 'id' is {profile.id!r} but the file is named "
                               f"{entry.name}: make them the same")
        profiles.append(profile)
    return tuple(profiles)


# YAML files in device_profiles/ that are data, not profiles.
_DATA_FILES = {"socs.yaml", "calibration.yaml"}


def list_profiles(include_host: bool = True) -> list[Profile]:
    """Every shipped device profile, then (by default) this host's."""
    profiles = list(_shipped())
    if include_host:
        profiles.append(host_profile())
    return profiles


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def load_profile(name: str | Path) -> Profile:
    """A profile by id ("galaxy-s24"), by name ("Samsung Galaxy S24"), by AI Hub device
    name, "host" for this machine, or a path to a profile YAML file."""
    text = str(name).strip()
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        return load_profile_file(text)
    if _norm(text) in ("host", "thishost", "local"):
        return host_profile()
    wanted = _norm(text)
    for profile in _shipped():
        if wanted in {_norm(profile.id), _norm(profile.name)}:
            return profile
    for profile in _shipped():
        if profile.hub_device and wanted == _norm(profile.hub_device):
            return profile
    known = ", ".join([p.id for p in _shipped()] + ["host"])
    raise UnknownProfileError(f"unknown device profile {show(text)}: use one of {known} "
                              f"(edgeface profiles list), or a path to a profile .yaml file")


# ----------------------------------------------------------------------------- this host


@functools.cache
def host_profile() -> Profile:
    """This machine as a profile (edgeface.hostcpu)."""
    from edgeface.hostcpu import host_cpu, ram_gb

    cpu = host_cpu()
    features = tuple("dotprod" if f == "asimddp" else f for f in cpu.features)
    return Profile(
        id="host", name=f"this host ({cpu.model}, {cpu.cores} cores)", kind="host", chipset=cpu.model, soc=None,
        hub_device=None, hub_attributes=(), calibration_device=None, compute_units=("cpu",),
        cpu_clusters=(CpuCluster(cpu.model, cpu.cores, cpu.max_ghz),), cpu_features=features, gpu=None,
        ram_gb=ram_gb(), budgets=dict(DEFAULT_BUDGETS_MS),
        sources={"chipset": cpu.sources["model"],
                 "cpu_clusters": f"usable cores (affinity mask); clock: {cpu.sources['clock']}",
                 "cpu_features": cpu.sources["features"], "ram_gb": "/proc/meminfo (MemTotal)",
                 "budgets_ms": BUDGETS_SOURCE},
        notes=f"generated at run time on {platform.node() or 'this machine'} "
              f"({platform.system()} {platform.machine()})")
