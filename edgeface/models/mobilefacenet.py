"""MobileFaceNet (Chen et al., 2018): inverted residual bottlenecks and a global
depthwise ("GDConv") head instead of global average pooling, so the embedding keeps the
spatial layout of the face. About 1 M parameters at 112x112 with a 128-d embedding."""

from __future__ import annotations

# (expansion, output channels, repeats, first stride)
BOTTLENECKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def mobilefacenet(embedding_size: int = 128, input_size: int = 112, activation: str = "prelu",
                  name: str = "mobilefacenet", keras=None):
    """``keras``: the Keras module to build with (default Keras 3; pass ``tf_keras`` for
    quantization-aware training, which tensorflow-model-optimization supports only there)."""
    if keras is None:
        import keras
    layers = keras.layers

    def act(x, label):
        if activation == "prelu":
            return layers.PReLU(shared_axes=[1, 2], name=f"{label}_prelu")(x)
        return layers.ReLU(max_value=6.0, name=f"{label}_relu6")(x)

    def conv_bn(x, filters, kernel, stride, label, depthwise=False, linear=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{label}_dw")(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{label}_conv")(x)
        x = layers.BatchNormalization(epsilon=1e-5, name=f"{label}_bn")(x)
        return x if linear else act(x, label)

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = conv_bn(inputs, 64, 3, 2, "stem")
    x = conv_bn(x, 64, 3, 1, "stem_dw", depthwise=True)
    channels = 64
    for block, (expansion, out, repeats, stride) in enumerate(BOTTLENECKS):
        for i in range(repeats):
            label = f"b{block}_{i}"
            y = conv_bn(x, channels * expansion, 1, 1, f"{label}_expand")
            y = conv_bn(y, 0, 3, stride if i == 0 else 1, f"{label}_dw", depthwise=True)
            y = conv_bn(y, out, 1, 1, f"{label}_project", linear=True)
            x = layers.Add(name=f"{label}_add")([x, y]) if i > 0 and out == channels else y
            channels = out
    x = conv_bn(x, 512, 1, 1, "head_expand")
    size = x.shape[1]
    x = layers.DepthwiseConv2D(size, padding="valid", use_bias=False, name="gdconv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name="gdconv_bn")(x)
    x = layers.Conv2D(embedding_size, 1, use_bias=False, name="embedding_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name="embedding_bn")(x)
    # a static reshape: Flatten adds SHAPE/STRIDED_SLICE/PACK ops that XNNPACK leaves on the CPU
    outputs = layers.Reshape((embedding_size,), name="embedding")(x)
    return keras.Model(inputs, outputs, name=name)


def mobilefacenet_int8(**kwargs):
    return mobilefacenet(activation="relu6", name="mobilefacenet_int8", **kwargs)
