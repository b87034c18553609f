"""dlib's network written directly as a TFLite model, without TensorFlow: the ops of
:func:`edgeface.pretrained.dlib_graph.dlib_graph` turned into builtin TFLite ops by
:class:`edgeface.tflite_writer.TFLiteGraph`, so that a base install (LiteRT, no toolchain)
can make dlib's face recognition bundle in float32 or with float16 weights.

conv -> [PAD] + CONV_2D (fused ReLU; SAME where dlib's padding is exactly that);
affine -> MUL + ADD; relu -> RELU; pool -> MAX_POOL_2D / AVERAGE_POOL_2D; global_pool
-> MEAN / REDUCE_MAX over the image axes; add -> PAD (zeros at the end of each axis) of
the smaller input(s) + ADD; dense -> [RESHAPE] + FULLY_CONNECTED. Input ``image`` (1, h,
w, 3) float32, normalised as :func:`edgeface.pretrained.dlib_graph.input_spec` says; the
output keeps the last op's name (``l130_fc`` for the face net), as the Keras rebuild does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.pretrained.dlib_format import DlibLayer, DlibNet
from edgeface.pretrained.dlib_graph import Op, dlib_graph, is_same_padding

WEIGHTS = ("float32", "float16")


def _conv(g, op: Op, h: int) -> int:
    same = is_same_padding(op)
    (py, px) = op.attrs["pad"]
    if not same and (py or px):
        h = g.pad(h, [(0, 0), (py, py), (px, px), (0, 0)], f"{op.name}_pad")
    return g.conv2d(h, op.attrs["kernel"], op.attrs["bias"], op.name, stride=op.attrs["stride"], same=same,
                    relu=op.attrs["relu"])


def _affine(g, op: Op, h: int) -> int:
    scaled = g.mul(h, g.weight(f"{op.name}_gamma", op.attrs["gamma"]), f"{op.name}_mul")
    return g.add(scaled, g.weight(f"{op.name}_beta", op.attrs["beta"]), op.name)


def _global_pool(g, op: Op, h: int) -> int:
    mode = "max" if op.attrs["mode"] == "max" else "mean"
    return g.reduce(h, mode, [1, 2], op.name, keep_dims=not op.attrs["flatten"])


def _add(g, op: Op, a: int, b: int) -> int:
    def padded(t: int, which: str) -> int:
        extra = [want - have for want, have in zip(op.shape, g.shape(t)[1:])]
        return g.pad(t, [(0, 0)] + [(0, e) for e in extra], f"{op.name}_pad_{which}") if any(extra) else t

    return g.add(padded(a, "a"), padded(b, "b"), op.name)


def _dense(g, op: Op, h: int) -> int:
    if len(g.shape(h)) != 2:
        h = g.reshape(h, (g.shape(h)[0], int(np.prod(g.shape(h)[1:]))), f"{op.name}_flatten")
    return g.fully_connected(h, op.attrs["weights"], op.attrs["bias"], op.name)


_TFLITE = {
    "conv": _conv,
    "affine": _affine,
    "relu": lambda g, op, h: g.relu(h, op.name),
    "pool": lambda g, op, h: g.pool2d(h, op.attrs["mode"], op.attrs["size"], op.attrs["stride"], op.name),
    "global_pool": _global_pool,
    "add": _add,
    "dense": _dense,
}


def build_tflite(net: DlibNet | Sequence[DlibLayer], *, weights: str = "float32", fold_affine: bool = True) -> bytes:
    """The .tflite bytes of dlib's network (without its loss layer), batch 1, float32
    input and output; ``weights="float16"`` stores every weight as float16 behind a
    DEQUANTIZE (about half the size; computed in float32, as TFLiteConverter's fp16
    models are)."""
    from edgeface.errors import EdgefaceError
    from edgeface.tflite_writer import TFLiteGraph, TFLiteWriterError

    if weights not in WEIGHTS:
        raise EdgefaceError(f"weights={weights!r}: choose {' or '.join(WEIGHTS)}")
    graph = dlib_graph(net, fold_affine=fold_affine)
    g = TFLiteGraph(fp16_weights=weights == "float16")
    values = [g.input("image", (1, *graph.input_shape))]
    for op in graph.ops:
        values.append(_TFLITE[op.kind](g, op, *(values[k] for k in op.inputs)))
        if g.shape(values[-1])[1:] != op.shape:  # the writer's shape inference against the walk's
            raise TFLiteWriterError(f"{op.name}: the TFLite op gives {g.shape(values[-1])[1:]}, dlib {op.shape}")
    return g.finish([values[-1]], description=f"dlib ResNet written by edgeface.pretrained.dlib_tflite ({weights} "
                                                 f"weights)")
