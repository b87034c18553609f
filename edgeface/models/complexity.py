"""Parameters and multiply-accumulates of a Keras model, counted from its graph.

MACs count the layers that do the arithmetic: Conv2D (grouped too), DepthwiseConv2D,
Dense / EinsumDense, and MultiHeadAttention (its four projections plus the two attention
matmuls, QK^T and AV). Element-wise layers (norms, activations, adds, pooling) are not
counted, as in the papers' MAC/FLOP figures (FLOPs ~ 2 x MACs). Batch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod


@dataclass
class Complexity:
    params: int
    trainable_params: int
    macs: int
    by_layer: dict[str, int]

    @property
    def mmacs(self) -> float:
        return self.macs / 1e6

    def to_dict(self) -> dict:
        return {"params": self.params, "trainable_params": self.trainable_params, "macs": self.macs}


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(d) if d is not None else 1 for d in tensor.shape)


def _io(layer):
    """(input shapes, output shapes) of the layer's first call in the graph."""
    node = layer._inbound_nodes[0]
    inputs = [_shape(t) for t in node.input_tensors]
    outputs = [_shape(t) for t in node.output_tensors]
    return inputs, outputs


def layer_macs(layer) -> int:
    """MACs of one call of ``layer`` (0 for layers without multiplies worth counting)."""
    kind = type(layer).__name__
    if kind in ("Functional", "Model", "Sequential"):
        return sum(layer_macs(inner) for inner in layer.layers)
    if not getattr(layer, "_inbound_nodes", None):
        return 0
    inputs, outputs = _io(layer)
    out = outputs[0]
    if kind == "DepthwiseConv2D":
        kh, kw = layer.kernel_size
        return prod(out[1:]) * kh * kw
    if kind == "Conv2D":
        kh, kw = layer.kernel_size
        groups = getattr(layer, "groups", 1) or 1
        return prod(out[1:]) * kh * kw * inputs[0][-1] // groups
    if kind == "Dense":
        return prod(out[1:-1]) * inputs[0][-1] * out[-1]
    if kind == "EinsumDense":
        return _einsum_macs(layer, inputs[0])
    if kind == "MultiHeadAttention":
        query = inputs[0]
        value = inputs[1] if len(inputs) > 1 else inputs[0]
        heads, key_dim = layer.num_heads, layer.key_dim
        value_dim = layer.value_dim or key_dim
        n, m, c = prod(query[1:-1]), prod(value[1:-1]), query[-1]
        projections = n * c * heads * key_dim + m * value[-1] * heads * key_dim \
            + m * value[-1] * heads * value_dim + n * heads * value_dim * out[-1]
        return projections + n * m * heads * key_dim + n * m * heads * value_dim
    return 0


def _einsum_macs(layer, input_shape) -> int:
    # the usual "...c,c...->..." form: every input position meets every kernel weight once
    return prod(input_shape[1:-1]) * prod(int(d) for d in layer.kernel.shape)


def complexity(model) -> Complexity:
    by_layer = {}
    for layer in model.layers:
        macs = layer_macs(layer)
        if macs:
            by_layer[layer.name] = macs
    trainable = sum(prod(w.shape) for w in model.trainable_weights)
    return Complexity(params=int(model.count_params()), trainable_params=int(trainable),
                      macs=int(sum(by_layer.values())), by_layer=by_layer)
