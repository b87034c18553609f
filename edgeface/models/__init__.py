"""Keras architectures for face models, in a registry: ``create_model(name, **kwargs)``.

TensorFlow is imported only when a model is created. Each architecture has an
int8-friendly variant (ReLU6 instead of PReLU: XNNPACK runs int8 PReLU outside its
delegate, which splits the graph; see "Facts about the dependencies" in
docs/architecture.md).
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
    "blazeface_256": ("edgeface.models.blazeface", "blazeface_256",
                      "BlazeFace back-camera / full-range SSD detector, 256x256, 896 anchors (strides 16, 32)"),
    "edgeface_xs": ("edgeface.models.edgeface_xs", "edgeface_xs",
                    "EdgeFace-style hybrid recognizer (depthwise conv + attention + low-rank linear), "
                    "112x112 -> 512-d, ~1.8 M params"),
    "edgeface_xs_int8": ("edgeface.models.edgeface_xs", "edgeface_xs_int8",
                         "EdgeFace-XS with BatchNorm, ReLU6 and sigmoid-gated attention, for int8 on XNNPACK "
                         "and the Hexagon HTP"),
}

# What each architecture is: "detector" or "embedder", and its default input size.
KINDS: dict[str, tuple[str, int]] = {
    "mobilefacenet": ("embedder", 112), "mobilefacenet_int8": ("embedder", 112),
    "edgeface_xs": ("embedder", 112), "edgeface_xs_int8": ("embedder", 112),
    "blazeface": ("detector", 128), "blazeface_256": ("detector", 256),
}


def model_kind(name: str) -> str:
    """"detector" or "embedder"."""
    _check(name)
    return KINDS[name][0]


def default_input_size(name: str) -> int:
    _check(name)
    return KINDS[name][1]


def _check(name: str) -> None:
    if name not in _REGISTRY:
        raise EdgefaceError(f"unknown architecture {name!r}: choose one of {', '.join(_REGISTRY)}")


def list_models() -> dict[str, str]:
    return {name: entry[2] for name, entry in _REGISTRY.items()}


def architecture_kwargs(name: str, input_size: int, output_shapes: list[tuple[int, ...]]) -> dict[str, Any]:
    """The ``create_model`` arguments that rebuild a model of architecture ``name`` whose
    input is ``input_size`` square and whose outputs have ``output_shapes`` (no batch)."""
    _check(name)
    if KINDS[name][0] == "embedder":
        return {"input_size": input_size, "embedding_size": int(output_shapes[0][-1])}
    coords = max(shape[-1] for shape in output_shapes)
    return {"input_size": input_size, "num_keypoints": (int(coords) - 4) // 2}


def create_model(name: str, **kwargs: Any):
    """Build the named Keras model (untrained)."""
    _check(name)
    import importlib

    module, function, _ = _REGISTRY[name]
    builder: Callable = getattr(importlib.import_module(module), function)
    return builder(**kwargs)
