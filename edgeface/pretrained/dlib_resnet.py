"""Rebuild a dlib ResNet (as read by :mod:`edgeface.pretrained.dlib_format`) as a Keras model,
for the TensorFlow toolchain (int8 quantisation, and checking the direct TFLite writer).

What the network computes, with dlib's exact semantics (folded affine, dlib's padding,
add_prev's zero padding at the end of each axis, fc flatten order, global average pool),
is decided once by :func:`edgeface.pretrained.dlib_graph.dlib_graph`; this module only
turns those ops into Keras layers (an explicit ``ZeroPadding2D`` + ``valid`` where dlib's
padding is not Keras' "same"; ``add`` -> the ``AddPrev`` layer below).

The model takes ``(pixel - mean) / std`` in RGB, NHWC: see :func:`input_spec`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgeface.pretrained.dlib_format import DlibLayer, DlibNet
from edgeface.pretrained.dlib_graph import Op, dlib_graph, input_spec, is_same_padding


def _keras():
    try:
        import keras
    except ImportError:  # pragma: no cover - depends on the environment
        from edgeface.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "rebuilding dlib's network needs Keras: pip install tensorflow-cpu") from None
    return keras


_ADD_PREV_CLASS = None


def _add_prev_class():
    """``AddPrev``: dlib's ``add_prev_`` (defined lazily so importing this module does not
    import Keras)."""
    global _ADD_PREV_CLASS
    if _ADD_PREV_CLASS is not None:
        return _ADD_PREV_CLASS
    keras = _keras()

    @keras.saving.register_keras_serializable(package="edgeface")
    class AddPrev(keras.layers.Layer):
        """Sum of two NHWC tensors, each zero-padded at the end of every axis to the larger
        shape (dlib's ``tt::add`` for tensors of different sizes)."""

        def call(self, inputs):
            a, b = inputs
            target = [max(int(x), int(y)) for x, y in zip(a.shape[1:], b.shape[1:])]

            def pad(t):
                extra = [target[i] - int(t.shape[i + 1]) for i in range(len(target))]
                if not any(extra):
                    return t
                return keras.ops.pad(t, [[0, 0]] + [[0, e] for e in extra])

            return pad(a) + pad(b)

        def compute_output_shape(self, input_shape):
            a, b = input_shape
            return (a[0],) + tuple(max(x, y) for x, y in zip(a[1:], b[1:]))

    _ADD_PREV_CLASS = AddPrev
    return AddPrev


def keras_custom_objects() -> dict[str, Any]:
    """What ``keras.saving.load_model`` needs to reload a saved rebuild in a fresh process
    (calling this also registers the classes)."""
    return {"AddPrev": _add_prev_class()}


def _conv(keras, op: Op, h):
    if is_same_padding(op):
        padding = "same"
    else:
        padding = "valid"
        if any(op.attrs["pad"]):
            (py, px) = op.attrs["pad"]
            h = keras.layers.ZeroPadding2D(((py, py), (px, px)), name=f"{op.name}_pad")(h)
    kernel = op.attrs["kernel"]
    conv = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=op.attrs["stride"], padding=padding,
                               activation="relu" if op.attrs["relu"] else None, name=op.name)
    out = conv(h)
    conv.set_weights([kernel, op.attrs["bias"]])
    return out


def _affine(keras, op: Op, h):
    dw = keras.layers.DepthwiseConv2D(1, use_bias=True, name=op.name)
    out = dw(h)
    dw.set_weights([op.attrs["gamma"].reshape(1, 1, -1, 1).astype(np.float32), op.attrs["beta"].astype(np.float32)])
    return out


def _pool(keras, op: Op, h):
    pool = keras.layers.MaxPooling2D if op.attrs["mode"] == "max" else keras.layers.AveragePooling2D
    return pool(op.attrs["size"], strides=op.attrs["stride"], padding="valid", name=op.name)(h)


def _global_pool(keras, op: Op, h):
    pool = keras.layers.GlobalMaxPooling2D if op.attrs["mode"] == "max" else keras.layers.GlobalAveragePooling2D
    return pool(keepdims=not op.attrs["flatten"], name=op.name)(h)


def _dense(keras, op: Op, h):
    if len(h.shape) == 4:
        h = keras.layers.Flatten(name=f"{op.name}_flatten")(h)
    bias = op.attrs["bias"]
    dense = keras.layers.Dense(op.shape[-1], use_bias=bias is not None, name=op.name)
    out = dense(h)
    dense.set_weights([op.attrs["weights"]] + ([bias] if bias is not None else []))
    return out


_KERAS = {
    "conv": _conv,
    "affine": _affine,
    "relu": lambda keras, op, h: keras.layers.ReLU(name=op.name)(h),
    "pool": _pool,
    "global_pool": _global_pool,
    "add": lambda keras, op, a, b: _add_prev_class()(name=op.name)([a, b]),
    "dense": _dense,
}


def build_keras(net: DlibNet | Sequence[DlibLayer], *, fold_affine: bool = True, name: str = "dlib_resnet"):
    """A ``keras.Model`` computing the same output as dlib's network (without the loss
    layer): input ``(None, nr, nc, 3)`` float32, normalised as :func:`input_spec` says;
    output the last layer before the loss (128-d, not L2-normalised, for the face net).
    The ops come from :func:`edgeface.pretrained.dlib_graph.dlib_graph`."""
    keras = _keras()
    graph = dlib_graph(net, fold_affine=fold_affine)
    inputs = keras.Input(graph.input_shape, name="image")
    values = [inputs]
    for op in graph.ops:
        values.append(_KERAS[op.kind](keras, op, *(values[k] for k in op.inputs)))
    return keras.Model(inputs, values[-1], name=name)


def load_dlib_face_recognition(path) -> tuple[Any, dict[str, Any]]:
    """``(keras_model, input_spec)`` for dlib's face recognition ``.dat`` file."""
    from edgeface.pretrained.dlib_format import read_dlib_net

    net = read_dlib_net(path)
    return build_keras(net, name="dlib_face_recognition_resnet_v1"), input_spec(net)
