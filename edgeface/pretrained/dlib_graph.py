"""dlib's network (the layers :mod:`edgeface.pretrained.dlib_format` reads) as a short list
of framework-neutral ops, so that one walk of dlib's layers decides what the network
computes and each framework's builder only interprets the list: Keras
(:mod:`edgeface.pretrained.dlib_resnet`, for the TensorFlow toolchain) and TFLite written
directly (:mod:`edgeface.pretrained.dlib_tflite`, for a base install without TensorFlow).

Made for dlib's face recognition network (``dlib_face_recognition_resnet_model_v1.dat``,
``anet_type`` in dlib/examples/dnn_face_recognition_ex.cpp)::

    loss_metric<fc_no_bias<128, avg_pool_everything<
        alevel0<alevel1<alevel2<alevel3<alevel4<
        max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>

    block<N,stride>  = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, X>>>>>
    ares<N>          = relu<add_prev1<block<N,1, tag1<X>>>>
    ares_down<N>     = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2, tag1<X>>>>>>>

and any other network made of these layers in these two residual forms. The file records
neither tag ids nor which markers are tags and which are skips, so the two forms are
recognised from the order of the layers (bottom-up): ``T ... add_prev`` adds the block
output to the tagged input; ``T ... T T ... add_prev``: the first marker tags the block
input, the second tags the block output, the third is the skip back to the block input
(the shortcut branch follows it).

Exact dlib semantics kept (each op's ``attrs`` say it explicitly, for every builder):

- ``con_`` -> ``conv``: output size ``1 + (n + 2*pad - k) // stride`` with dlib's
  symmetric zero padding as stored in the file (``pad`` = (rows, columns)); filters go
  from dlib's (out, in, kh, kw) to HWIO. ``affine_`` (dlib's inference-time batch norm,
  ``y = gamma*x + beta`` per channel) right after it is folded into its weights (default;
  no extra op, int8-friendly), else kept as an ``affine`` op; a ``relu_`` right after
  becomes the conv's fused activation.
- ``add_prev_`` -> ``add``: each input is zero-padded at the end of every axis
  (bottom/right rows and columns, last channels) to the larger shape. In the face network
  the downsampling shortcuts have half the channels, and in the last two stages the
  strided 3x3 valid convolution gives 3x3 / 1x1 while the 2x2 average pool gives 4x4 /
  2x2, so the block output is padded spatially.
- ``max_pool``/``avg_pool`` -> ``pool`` (valid windows); ``*_pool_everything`` ->
  ``global_pool`` (flattened when an ``fc_`` follows); ``fc_`` -> ``dense`` whose weights
  are already in NHWC flatten order (dlib flattens (k, r, c)).

The network takes ``(pixel - mean) / std`` in RGB, NHWC: see :func:`input_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edgeface.pretrained.dlib_format import DlibFormatError, DlibLayer, DlibNet


@dataclass(frozen=True)
class Op:
    """One op: ``inputs`` index the graph's values (0 is the image, ``k`` the output of
    ``ops[k - 1]``); ``shape`` is its output's shape without the batch axis.

    ``attrs`` by ``kind``: ``conv``: ``kernel`` (kh, kw, in, out), ``bias`` (out,) float32,
    ``stride`` and ``pad`` (rows, columns), ``relu``; ``affine``: ``gamma``, ``beta``;
    ``relu``: none; ``pool``: ``mode`` ("max"/"avg"), ``size``, ``stride``;
    ``global_pool``: ``mode``, ``flatten``; ``add``: none (two inputs, each zero-padded at
    the end of every axis to ``shape``); ``dense``: ``weights`` (in, out) in NHWC flatten
    order, ``bias`` (out,) or None (a 3-d input is flattened first)."""

    kind: str
    name: str
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibGraph:
    """The whole network without its loss: ``input_shape`` (h, w, 3); the output is the
    last op's."""

    input_shape: tuple[int, int, int]
    ops: list[Op]


def layers_of(net: DlibNet | Sequence[DlibLayer]) -> list[DlibLayer]:
    layers = list(net.layers if isinstance(net, DlibNet) else net)
    if not layers or not all(isinstance(x, DlibLayer) for x in layers):
        raise DlibFormatError("rebuilding a dlib network needs the layers read by edgeface.pretrained.dlib_format")
    return layers


def input_spec(net: DlibNet | Sequence[DlibLayer]) -> dict[str, Any]:
    """The manifest ``input`` entry equivalent to dlib's input layer: dlib feeds
    ``(pixel - avg) / 256`` per RGB channel (input_rgb_image[_sized]::to_tensor)."""
    first = layers_of(net)[0]
    if not first.kind.startswith("input_rgb_image"):
        raise DlibFormatError(f"the first layer is {first.kind!r}, not dlib's RGB input layer")
    p = first.params
    if "nr" not in p:
        raise DlibFormatError("dlib's input_rgb_image takes any size: this network has no fixed input size")
    return {
        "height": int(p["nr"]),
        "width": int(p["nc"]),
        "layout": "NHWC",
        "dtype": "float32",
        "channel_order": "RGB",
        "mean": [float(p["avg_red"]), float(p["avg_green"]), float(p["avg_blue"])],
        "std": [256.0, 256.0, 256.0],
        "resize": "stretch",
        "pad": "center",
    }


def is_same_padding(op: Op) -> bool:
    """Whether a conv's explicit padding is what frameworks call "same" (stride 1, an odd
    kernel padded by k//2 on each side), so no separate pad op is needed."""
    kh, kw = op.attrs["kernel"].shape[:2]
    return op.attrs["stride"] == (1, 1) and (2 * op.attrs["pad"][0], 2 * op.attrs["pad"][1]) == (kh - 1, kw - 1)


class _Walk:
    """The state of one walk: the ops so far and the values' shapes."""

    def __init__(self, input_shape: tuple[int, int, int]):
        self.ops: list[Op] = []
        self.shapes: list[tuple[int, ...]] = [input_shape]

    def emit(self, kind: str, name: str, inputs: tuple[int, ...], shape: tuple[int, ...], **attrs) -> int:
        if min(shape) < 1:
            raise DlibFormatError(f"{name}: the output would be empty ({shape}): the input is too small")
        self.ops.append(Op(kind, name, inputs, tuple(int(s) for s in shape), attrs))
        self.shapes.append(self.ops[-1].shape)
        return len(self.shapes) - 1


def _conv(w: _Walk, h: int, body: list[DlibLayer], i: int, fold_affine: bool) -> tuple[int, int]:
    """The ``con_`` at ``body[i]`` with a following ``affine_`` folded in and a ``relu_``
    fused; returns (value, index of the last layer used)."""
    layer = body[i]
    p, a = layer.params, layer.arrays
    name = f"l{i + 1:03d}_con"
    rows, cols, channels = w.shapes[h]
    if channels != p["in_channels"]:
        raise DlibFormatError(f"layer {i + 1}: con_ expects {p['in_channels']} channels, gets {channels}")
    kernel = a["filters"].astype(np.float64).transpose(2, 3, 1, 0)  # -> (kh, kw, in, out)
    bias = a["biases"].astype(np.float64)
    nxt = body[i + 1] if i + 1 < len(body) else None
    if fold_affine and nxt is not None and nxt.kind == "affine" and nxt.params["mode"] == "conv":
        gamma, beta = nxt.arrays["gamma"].astype(np.float64), nxt.arrays["beta"].astype(np.float64)
        if gamma.shape != bias.shape:
            raise DlibFormatError(f"layer {i + 2}: affine_ has {gamma.size} channels, the con_ before it {bias.size}")
        kernel, bias = kernel * gamma, bias * gamma + beta
        i += 1
        name += "_affine"
    relu = i + 1 < len(body) and body[i + 1].kind == "relu"
    if relu:
        i += 1
        name += "_relu"
    stride, pad = (p["stride_y"], p["stride_x"]), (p["padding_y"], p["padding_x"])
    shape = (1 + (rows + 2 * pad[0] - p["nr"]) // stride[0], 1 + (cols + 2 * pad[1] - p["nc"]) // stride[1],
             p["num_filters"])
    value = w.emit("conv", name, (h,), shape, kernel=kernel.astype(np.float32), bias=bias.astype(np.float32),
                   stride=stride, pad=pad, relu=relu)
    return value, i


def _pool(w: _Walk, h: int, body: list[DlibLayer], i: int) -> int:
    layer = body[i]
    p, mode = layer.params, layer.kind.split("_")[0]
    if p["padding_y"] or p["padding_x"]:
        raise DlibFormatError(f"layer {i + 1}: padded {layer.kind} is not supported")
    name = f"l{i + 1:03d}_{layer.kind}"
    rows, cols, channels = w.shapes[h]
    if p["nr"] == 0 and p["nc"] == 0:  # *_pool_everything
        flatten = i + 1 < len(body) and body[i + 1].kind == "fc"  # fc_ flattens anyway
        return w.emit("global_pool", name, (h,), (channels,) if flatten else (1, 1, channels),
                      mode=mode, flatten=flatten)
    if p["nr"] == 0 or p["nc"] == 0:
        raise DlibFormatError(f"layer {i + 1}: {layer.kind} over a whole axis is not supported")
    size, stride = (p["nr"], p["nc"]), (p["stride_y"], p["stride_x"])
    shape = (1 + (rows - size[0]) // stride[0], 1 + (cols - size[1]) // stride[1], channels)
    return w.emit("pool", name, (h,), shape, mode=mode, size=size, stride=stride)


def _dense(w: _Walk, h: int, layer: DlibLayer, i: int) -> int:
    p, weights = layer.params, layer.arrays["weights"]
    shape = w.shapes[h]
    if int(np.prod(shape)) != p["num_inputs"]:
        raise DlibFormatError(f"layer {i + 1}: fc_ expects {p['num_inputs']} inputs, gets {'x'.join(map(str, shape))}")
    if len(shape) == 3:  # dlib flattens (k, r, c); NHWC flattens (r, c, k)
        nr, nc, k = shape
        weights = weights.reshape(k, nr, nc, -1).transpose(1, 2, 0, 3).reshape(nr * nc * k, -1)
    return w.emit("dense", f"l{i + 1:03d}_fc", (h,), (p["num_outputs"],), weights=np.ascontiguousarray(weights),
                  bias=layer.arrays["biases"] if p["bias"] else None)


def dlib_graph(net: DlibNet | Sequence[DlibLayer], *, fold_affine: bool = True) -> DlibGraph:
    """Walk dlib's layers (bottom-up, the loss left out) into ops; a layer or residual
    layout this walk does not know raises :class:`DlibFormatError` naming the layer."""
    layers = layers_of(net)
    spec = input_spec(layers)
    body = layers[1:-1] if layers[-1].kind.startswith("loss") else layers[1:]
    w = _Walk((spec["height"], spec["width"], 3))
    h = 0
    block_tags: list[int | None] = []  # values marked since the last add_prev
    previous = ""
    i = 0
    while i < len(body):
        layer = body[i]
        kind = layer.kind
        if kind == "con":
            h, i = _conv(w, h, body, i, fold_affine)
        elif kind == "affine":
            gamma = layer.arrays["gamma"]
            if layer.params["mode"] != "conv" or len(w.shapes[h]) != 3 or gamma.size != w.shapes[h][-1]:
                raise DlibFormatError(f"layer {i + 1}: only per-channel (conv mode) affine_ layers "
                                      f"on images are supported")
            h = w.emit("affine", f"l{i + 1:03d}_affine", (h,), w.shapes[h], gamma=gamma, beta=layer.arrays["beta"])
        elif kind == "relu":
            h = w.emit("relu", f"l{i + 1:03d}_relu", (h,), w.shapes[h])
        elif kind in ("max_pool", "avg_pool"):
            h = _pool(w, h, body, i)
        elif kind == "tag_or_skip":
            if previous == "tag_or_skip" and len(block_tags) == 2:
                h = block_tags[0]  # skip back to the block input; block_tags[1] is the block output
                block_tags.append(None)
            elif previous == "tag_or_skip":
                raise DlibFormatError(f"layer {i + 1}: unexpected run of tag/skip layers")
            else:
                block_tags.append(h)
        elif kind == "add_prev":
            if len(block_tags) == 1:  # residual: add_prev1<block<tag1<X>>>
                other = block_tags[0]
            elif len(block_tags) == 3 and block_tags[2] is None:  # residual_down: add_prev2<...skip1<tag2<...
                other = block_tags[1]
            else:
                raise DlibFormatError(f"layer {i + 1}: add_prev_ in a layout this converter does not know "
                                      f"({len(block_tags)} tag/skip layers since the last add_prev_)")
            a, b = w.shapes[h], w.shapes[other]
            if len(a) != len(b):
                raise DlibFormatError(f"layer {i + 1}: add_prev_ of a {len(a)}-d and a {len(b)}-d tensor")
            h = w.emit("add", f"l{i + 1:03d}_add_prev", (h, other), tuple(max(x, y) for x, y in zip(a, b)))
            block_tags = []
        elif kind == "fc":
            h = _dense(w, h, layer, i)
        else:
            raise DlibFormatError(f"layer {i + 1}: {kind!r} layers are not supported by edgeface's dlib importer")
        previous = kind
        i += 1
    if block_tags:
        raise DlibFormatError("the network ends inside a residual block (tag/skip layers without add_prev_)")
    if not w.ops:
        raise DlibFormatError("the network has no layers between its input and its loss")
    return DlibGraph(w.shapes[0], w.ops)
