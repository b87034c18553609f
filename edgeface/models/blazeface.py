"""A BlazeFace-style single-shot face detector (Bazarevsky et al., 2019).

Output layout as MediaPipe's models: ``regressors`` (1, 896, 4 + 2 * keypoints) and
``classificators`` (1, 896, 1) as separate tensors (one quantisation scale each; a
concatenation of boxes and scores would share one).

- ``blazeface`` (128x128, front camera / short range): 2 anchors per cell on the 16x16
  stride-8 map and 6 on the 8x8 stride-16 map, 896 in all.
- ``blazeface_256`` (256x256, back camera / full range): one more stride-2 stage, so the
  same 16x16 + 8x8 maps sit at strides 16 and 32 (MediaPipe's back-camera anchors).

The matching manifest entries (anchors, five keypoints, box_scale = input size) are the
``edgeface-ssd-128`` / ``edgeface-ssd-256`` presets of the model cards
(``edgeface.cards.presets``: ``anchor_config(input_size)``, ``TRAINED_PRESETS``).
Everything is ReLU, depthwise/pointwise conv, max-pool and add: all of it runs inside
XNNPACK and the Hexagon HTP in int8.
"""

from __future__ import annotations

# (output channels, stride) of each BlazeBlock after the stem
BLOCKS_16 = ((24, 1), (28, 1), (32, 2), (36, 1), (42, 1), (48, 2), (56, 1), (64, 1), (72, 1),
             (80, 1), (88, 1))
BLOCKS_8 = ((96, 2), (96, 1), (96, 1), (96, 1), (96, 1))
# blazeface_256: an extra stride-2 stage in front (256 -> 128 after the stem -> 64)
BLOCKS_PRE_256 = ((24, 1), (24, 2))


def blazeface(input_size: int = 128, num_keypoints: int = 6, name: str = "blazeface", batch_norm: bool = True,
              batch_size: int | None = None, keras=None):
    """``keras``: the Keras module to build with (default Keras 3, or ``tf_keras``).
    ``input_size`` 256 (or more) adds the back-camera stage (strides 16 and 32).
    ``batch_norm``: BatchNorm after the stem and each block's point-wise conv (training from
    scratch converges several times faster; TFLite folds it into the convolutions, so the
    deployed graph is the same as without). ``batch_size=1`` fixes the batch: Keras' Reshape
    of a dynamic batch becomes SHAPE/STRIDED_SLICE/PACK ops that XNNPACK leaves on the CPU
    (the graph splits in 9 parts); with a fixed batch the whole detector is one partition."""
    import numpy as np

    if keras is None:
        import keras
    layers = keras.layers

    def channel_pad(x, out, label):
        """Zero channels appended as a frozen identity 1x1 convolution: unlike a Lambda
        around tf.pad it saves and loads without custom code and every delegate runs it."""
        kernel = np.eye(x.shape[-1], out, dtype=np.float32)[None, None]
        return layers.Conv2D(out, 1, use_bias=False, trainable=False, name=f"{label}_pad",
                             kernel_initializer=keras.initializers.Constant(kernel))(x)

    def blaze_block(x, out, stride, label):
        y = layers.DepthwiseConv2D(3, stride, padding="same", name=f"{label}_dw")(x)
        y = layers.Conv2D(out, 1, use_bias=not batch_norm, name=f"{label}_pw")(y)
        if batch_norm:
            y = layers.BatchNormalization(name=f"{label}_bn")(y)
        skip = layers.MaxPooling2D(2, name=f"{label}_pool")(x) if stride == 2 else x
        if out != x.shape[-1]:
            skip = channel_pad(skip, out, label)
        return layers.ReLU(name=f"{label}_relu")(layers.Add(name=f"{label}_add")([y, skip]))

    coords = 4 + 2 * num_keypoints
    inputs = keras.Input((input_size, input_size, 3), batch_size=batch_size, name="image")
    x = layers.Conv2D(24, 5, 2, padding="same", use_bias=not batch_norm, name="stem")(inputs)
    if batch_norm:
        x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    if input_size >= 256:
        for i, (out, stride) in enumerate(BLOCKS_PRE_256):
            x = blaze_block(x, out, stride, f"b32_{i}")
    for i, (out, stride) in enumerate(BLOCKS_16):
        x = blaze_block(x, out, stride, f"b16_{i}")
    f16 = x
    for i, (out, stride) in enumerate(BLOCKS_8):
        x = blaze_block(x, out, stride, f"b8_{i}")

    def head(feature, anchors, width, label):
        y = layers.Conv2D(anchors * width, 1, name=label)(feature)
        # static rows (with batch_size=1 the whole reshape is static in TFLite)
        rows = int(feature.shape[1]) * int(feature.shape[2]) * anchors
        return layers.Reshape((rows, width), name=f"{label}_flat")(y)

    regressors = layers.Concatenate(axis=1, name="regressors")(
        [head(f16, 2, coords, "reg_16x16"), head(x, 6, coords, "reg_8x8")])
    classificators = layers.Concatenate(axis=1, name="classificators")(
        [head(f16, 2, 1, "cls_16x16"), head(x, 6, 1, "cls_8x8")])
    return keras.Model(inputs, [regressors, classificators], name=name)


def blazeface_256(input_size: int = 256, num_keypoints: int = 5, name: str = "blazeface_256", **kwargs):
    """The back-camera / full-range variant: 256x256 in, anchors ``edgeface.cards.presets.BACK_ANCHORS``."""
    return blazeface(input_size=input_size, num_keypoints=num_keypoints, name=name, **kwargs)
