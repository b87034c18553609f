"""Keras architectures for face models, in a registry: ``create_model(name, **kwargs)``.

TensorFlow is imported only when a model is created. Each architecture has an
int8-friendly variant (ReLU6 instead of PReLU: XNNPACK runs int8 PReLU outside its
delegate, which splits the graph; see DESIGN.md section 4).
"""

from __future__ import annotations

from typing import Any, Callable

from edgeface.errors import EdgefaceError

_REGISTRY: dict[str, tuple[str, str, str]] = {
    # name: (module, builder function, one-line description)
    "mobilefacenet": ("edgeface.models.mobilefacenet", "mobilefacenet",
                      "MobileFaceNet recognizer, 112x112 -> 128/512-d, PReLU (~1 M params)"),
    "mobilefacenet_int8": ("edgeface.models.mobilefacenet", "mobilefacenet_int8",
                           "MobileFaceNet with ReLU6, for int8 on XNNPACK and the Hexagon HTP"),
    "blazeface": ("edgeface.models.blazeface", "blazeface",
                  "BlazeFace-style SSD detector, 128x128, 896 anchors, box + keypoints"),
}


def list_models() -> dict[str, str]:
    return {name: entry[2] for name, entry in _REGISTRY.items()}


def architecture_kwargs(name: str, input_size: int, output_shapes: list[tuple[int, ...]]) -> dict[str, Any]:
    """The ``create_model`` arguments that rebuild a model of architecture ``name`` whose
    input is ``input_size`` square and whose outputs have ``output_shapes`` (no batch)."""
    if name not in _REGISTRY:
        raise EdgefaceError(f"unknown architecture {name!r}: choose one of {', '.join(_REGISTRY)}")
    if name.startswith("mobilefacenet"):
        return {"input_size": input_size, "embedding_size": int(output_shapes[0][-1])}
    coords = max(shape[-1] for shape in output_shapes)
    return {"input_size": input_size, "num_keypoints": (int(coords) - 4) // 2}


def create_model(name: str, **kwargs: Any):
    """Build the named Keras model (untrained)."""
    if name not in _REGISTRY:
        raise EdgefaceError(f"unknown architecture {name!r}: choose one of {', '.join(_REGISTRY)}")
    import importlib

    module, function, _ = _REGISTRY[name]
    builder: Callable = getattr(importlib.import_module(module), function)
    return builder(**kwargs)
