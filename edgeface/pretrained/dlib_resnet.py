"""Rebuild a dlib ResNet (as read by :mod:`edgeface.pretrained.dlib_format`) as a Keras model.

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

Exact dlib semantics kept:

- ``con_``: output size ``1 + (n + 2*pad - k) // stride``; dlib's default padding is
  ``k//2`` for stride 1 and 0 otherwise (stored in the file and used as stored):
  ``padding="same"`` when that equals Keras' same padding, explicit ``ZeroPadding2D`` +
  ``valid`` otherwise. Filters go from dlib's (out, in, kh, kw) to Keras' HWIO.
- ``affine_`` (dlib's inference-time batch norm, ``y = gamma*x + beta`` per channel) is
  folded into the convolution before it (default: no extra op in TFLite, int8-friendly),
  or kept as a 1x1 ``DepthwiseConv2D`` with ``fold_affine=False``.
- ``add_prev_`` adds tensors of different shapes the dlib way: each is zero-padded at the
  end of every axis (bottom/right rows and columns, last channels) to the larger shape.
  In the face network the downsampling shortcuts have half the channels, and in the last
  two stages the strided 3x3 valid convolution gives 3x3 / 1x1 while the 2x2 average
  pool gives 4x4 / 2x2, so the block output is padded spatially.
- ``avg_pool_everything`` -> global average pooling; ``fc_`` -> ``Dense`` (dlib's flat
  (k, r, c) input order mapped to NHWC when the input is not 1x1).

The model takes ``(pixel - mean) / std`` in RGB, NHWC: see :func:`input_spec`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgeface.pretrained.dlib_format import DlibFormatError, DlibLayer, DlibNet


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


def _layers_of(net: DlibNet | Sequence[DlibLayer]) -> list[DlibLayer]:
    layers = list(net.layers if isinstance(net, DlibNet) else net)
    if not layers or not all(isinstance(x, DlibLayer) for x in layers):
        raise DlibFormatError("build_keras needs the layers read by edgeface.pretrained.dlib_format")
    return layers


def input_spec(net: DlibNet | Sequence[DlibLayer]) -> dict[str, Any]:
    """The manifest ``input`` entry equivalent to dlib's input layer: dlib feeds
    ``(pixel - avg) / 256`` per RGB channel (input_rgb_image[_sized]::to_tensor)."""
    first = _layers_of(net)[0]
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


def _conv_padding(keras, h, p: dict, name: str):
    """Keras padding argument (and an explicit ZeroPadding2D where needed) for dlib's
    ``padding_y``/``padding_x`` (symmetric, then a valid convolution)."""
    py, px = p["padding_y"], p["padding_x"]
    if py == 0 and px == 0:
        return h, "valid"
    if (p["stride_y"], p["stride_x"]) == (1, 1) and (2 * py, 2 * px) == (p["nr"] - 1, p["nc"] - 1):
        return h, "same"
    return keras.layers.ZeroPadding2D(((py, py), (px, px)), name=f"{name}_pad")(h), "valid"


def build_keras(net: DlibNet | Sequence[DlibLayer], *, fold_affine: bool = True, name: str = "dlib_resnet"):
    """A ``keras.Model`` computing the same output as dlib's network (without the loss
    layer): input ``(None, nr, nc, 3)`` float32, normalised as :func:`input_spec` says;
    output the last layer before the loss (128-d, not L2-normalised, for the face net)."""
    keras = _keras()
    AddPrev = _add_prev_class()
    layers = _layers_of(net)
    spec = input_spec(layers)
    body = layers[1:-1] if layers[-1].kind.startswith("loss") else layers[1:]

    inputs = keras.Input((spec["height"], spec["width"], 3), name="image")
    h = inputs
    block_tags: list[Any] = []  # tensors marked since the last add_prev
    previous = ""
    i = 0
    while i < len(body):
        layer = body[i]
        kind, p, a = layer.kind, layer.params, layer.arrays
        lname = f"l{i + 1:03d}_{kind}"
        if kind == "con":
            if int(h.shape[-1]) != p["in_channels"]:
                raise DlibFormatError(f"layer {i + 1}: con_ expects {p['in_channels']} channels, gets {h.shape[-1]}")
            kernel = a["filters"].astype(np.float64).transpose(2, 3, 1, 0)  # -> (kh, kw, in, out)
            bias = a["biases"].astype(np.float64)
            nxt = body[i + 1] if i + 1 < len(body) else None
            if fold_affine and nxt is not None and nxt.kind == "affine" and nxt.params["mode"] == "conv":
                gamma, beta = nxt.arrays["gamma"].astype(np.float64), nxt.arrays["beta"].astype(np.float64)
                if gamma.shape != bias.shape:
                    raise DlibFormatError(f"layer {i + 2}: affine_ has {gamma.size} channels, "
                                          f"the con_ before it {bias.size}")
                kernel = kernel * gamma
                bias = bias * gamma + beta
                i += 1
                lname += "_affine"
            h, padding = _conv_padding(keras, h, p, lname)
            conv = keras.layers.Conv2D(p["num_filters"], (p["nr"], p["nc"]), strides=(p["stride_y"], p["stride_x"]),
                                       padding=padding, name=lname)
            h = conv(h)
            conv.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        elif kind == "affine":
            if p["mode"] != "conv" or len(h.shape) != 4 or a["gamma"].size != int(h.shape[-1]):
                raise DlibFormatError(f"layer {i + 1}: only per-channel (conv mode) affine_ layers "
                                      f"on images are supported")
            dw = keras.layers.DepthwiseConv2D(1, use_bias=True, name=lname)
            h = dw(h)
            dw.set_weights([a["gamma"].reshape(1, 1, -1, 1).astype(np.float32), a["beta"].astype(np.float32)])
        elif kind == "relu":
            h = keras.layers.ReLU(name=lname)(h)
        elif kind in ("max_pool", "avg_pool"):
            if p["padding_y"] or p["padding_x"]:
                raise DlibFormatError(f"layer {i + 1}: padded {kind} is not supported")
            if p["nr"] == 0 and p["nc"] == 0:  # *_pool_everything
                gpool = keras.layers.GlobalMaxPooling2D if kind == "max_pool" else keras.layers.GlobalAveragePooling2D
                flat = i + 1 < len(body) and body[i + 1].kind == "fc"  # fc_ flattens anyway
                h = gpool(keepdims=not flat, name=lname)(h)
            else:
                if p["nr"] == 0 or p["nc"] == 0:
                    raise DlibFormatError(f"layer {i + 1}: {kind} over a whole axis is not supported")
                pool = keras.layers.MaxPooling2D if kind == "max_pool" else keras.layers.AveragePooling2D
                h = pool((p["nr"], p["nc"]), strides=(p["stride_y"], p["stride_x"]), padding="valid", name=lname)(h)
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
            h = AddPrev(name=lname)([h, other])
            block_tags = []
        elif kind == "fc":
            weights = a["weights"]
            if len(h.shape) == 4:
                nr, nc, k = (int(x) for x in h.shape[1:])
                if nr * nc * k != p["num_inputs"]:
                    raise DlibFormatError(f"layer {i + 1}: fc_ expects {p['num_inputs']} inputs, gets {nr}x{nc}x{k}")
                # dlib flattens (k, r, c); Keras flattens NHWC (r, c, k)
                weights = weights.reshape(k, nr, nc, -1).transpose(1, 2, 0, 3).reshape(nr * nc * k, -1)
                h = keras.layers.Flatten(name=f"{lname}_flatten")(h)
            elif int(h.shape[-1]) != p["num_inputs"]:
                raise DlibFormatError(f"layer {i + 1}: fc_ expects {p['num_inputs']} inputs, gets {h.shape[-1]}")
            dense = keras.layers.Dense(p["num_outputs"], use_bias=p["bias"], name=lname)
            h = dense(h)
            dense.set_weights([weights] + ([a["biases"]] if p["bias"] else []))
        else:
            raise DlibFormatError(f"layer {i + 1}: {kind!r} layers are not supported by the Keras converter")
        previous = kind
        i += 1
    if block_tags:
        raise DlibFormatError("the network ends inside a residual block (tag/skip layers without add_prev_)")
    return keras.Model(inputs, h, name=name)


def load_dlib_face_recognition(path) -> tuple[Any, dict[str, Any]]:
    """``(keras_model, input_spec)`` for dlib's face recognition ``.dat`` file."""
    from edgeface.pretrained.dlib_format import read_dlib_net

    net = read_dlib_net(path)
    return build_keras(net, name="dlib_face_recognition_resnet_v1"), input_spec(net)
