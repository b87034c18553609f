"""Keras architectures for face models, built from their model cards: ``create_model(name, **kwargs)``.

Each architecture's facts (kind, input, preset, builder) are on its card in
``edgeface.cards``; this module builds what a card names. TensorFlow is imported only
when a model is created. Each architecture has an int8-friendly variant (ReLU6 instead of
PReLU: XNNPACK runs int8 PReLU outside its delegate, which splits the graph; see "Facts
about the dependencies" in docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from edgeface.cards import all_cards, get_card


def model_kind(name: str) -> str:
    """"detector" or "embedder"."""
    return get_card(name).kind


def default_input_size(name: str) -> int:
    return get_card(name).input_size


def list_models() -> dict[str, str]:
    return {name: card.description for name, card in all_cards().items()}


def architecture_kwargs(name: str, input_size: int, output_shapes: list[tuple[int, ...]]) -> dict[str, Any]:
    """The ``create_model`` arguments that rebuild a model of architecture ``name`` whose
    input is ``input_size`` square and whose outputs have ``output_shapes`` (no batch)."""
    if model_kind(name) == "embedder":
        return {"input_size": input_size, "embedding_size": int(output_shapes[0][-1])}
    coords = max(shape[-1] for shape in output_shapes)
    return {"input_size": input_size, "num_keypoints": (int(coords) - 4) // 2}


def create_model(name: str, **kwargs: Any):
    """Build the named Keras model (untrained) with its card's builder."""
    import importlib

    module, function = get_card(name).builder.split(":")
    return getattr(importlib.import_module(module), function)(**kwargs)
