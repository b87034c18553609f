"""The default bundle: MediaPipe's BlazeFace detector with dlib's ResNet embedder (its
card, ``default`` in ``edgeface.cards.pretrained``, names the two).

Each half is taken in int8 when its int8 variant passed edgeface's fidelity gate against
the float model (the manifest's ``source.quantization.gate_failures`` is empty), else
in float. The int8 variants are quantised by TensorFlow: on a base install (no toolchain)
both halves are taken in float (BlazeFace as MediaPipe ships it, dlib's ResNet written
directly as fp32 TFLite), unless an int8 bundle is already in the cache. It is what the
CLI uses when no ``--bundle`` is given.
"""

from __future__ import annotations

from pathlib import Path

from typing import Callable

from edgeface.bundle import load_bundle
from edgeface.cards import CombinedCard
from edgeface.errors import BackendUnavailableError


def _passed_gate(bundle_dir: Path) -> bool:
    quantization = (load_bundle(bundle_dir).manifest.extra.get("source") or {}).get("quantization") or {}
    return not quantization.get("gate_failures")


def _pick(float_name: str, int8_name: str, progress: Callable[[str], None]) -> Path:
    """The int8 bundle if it can be made here (or is cached) and its fidelity gate passed,
    else the float one."""
    from edgeface.pretrained import fetch_model

    try:
        int8 = fetch_model(int8_name)
    except BackendUnavailableError as exc:  # no toolchain: the float model, which needs none
        progress(f"taking {float_name}: {exc}")
        return fetch_model(float_name)
    return int8 if _passed_gate(int8) else fetch_model(float_name)


def fetch_default(card: CombinedCard, out_dir: str | Path | None = None,
                  progress: Callable[[str], None] = lambda message: None) -> Path:
    """The default bundle in ``out_dir`` (default ``<cache>/bundles/default``), its two
    halves fetched (or reused) first; left untouched when it already holds them."""
    from edgeface.bundle import check_replaceable
    from edgeface.pretrained.dlib_model import combined_bundle
    from edgeface.pretrained.fetch import bundle_target

    out = bundle_target(card, out_dir)
    check_replaceable(out)
    progress(f"fetching the detector ({' or '.join(card.detector)}) and the embedder "
             f"({' or '.join(card.embedder)})")
    detector = _pick(*card.detector, progress)
    embedder = _pick(*card.embedder, progress)
    if _is_current(out, detector, embedder):
        return out
    return combined_bundle(detector, embedder, out)


def _is_current(out: Path, detector_dir: Path, embedder_dir: Path) -> bool:
    """Whether ``out`` already holds, intact, the detector of ``detector_dir`` and the
    embedder of ``embedder_dir`` with their provenance."""
    from edgeface.pretrained.fetch import holds_intact

    sources = {"detector": load_bundle(detector_dir), "embedder": load_bundle(embedder_dir)}

    def same_halves(have) -> bool:
        return all(getattr(have.manifest, role) == getattr(source.manifest, role)
                   and (have.manifest.extra.get("source") or {}).get(role) == source.manifest.extra.get("source")
                   for role, source in sources.items())
    return holds_intact(out, same_halves)
