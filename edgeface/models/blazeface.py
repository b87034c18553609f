"""A BlazeFace-style single-shot face detector (Bazarevsky et al., 2019).

Output layout as MediaPipe's short-range model: at 128x128, 2 anchors on the 16x16
stride-8 map and 6 on the 8x8 stride-16 map, 896 in all; ``regressors`` (1, 896,
4 + 2 * keypoints) and ``classificators`` (1, 896, 1) as separate tensors (one
quantisation scale each; a concatenation of boxes and scores would share one).
``SSD_ANCHORS`` is the matching manifest ``decoder.anchors`` entry.
"""

from __future__ import annotations

SSD_ANCHORS = {"strides": [8, 16, 16, 16], "min_scale": 0.1484375, "max_scale": 0.75,
               "anchor_offset_x": 0.5, "anchor_offset_y": 0.5, "aspect_ratios": [1.0],
               "fixed_anchor_size": True, "interpolated_scale_aspect_ratio": 1.0}

# (output channels, stride) of each BlazeBlock after the stem
BLOCKS_16 = ((24, 1), (28, 1), (32, 2), (36, 1), (42, 1), (48, 2), (56, 1), (64, 1), (72, 1),
             (80, 1), (88, 1))
BLOCKS_8 = ((96, 2), (96, 1), (96, 1), (96, 1), (96, 1))


def blazeface(input_size: int = 128, num_keypoints: int = 6, name: str = "blazeface", keras=None):
    """``keras``: the Keras module to build with (default Keras 3, or ``tf_keras``)."""
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
        y = layers.Conv2D(out, 1, name=f"{label}_pw")(y)
        skip = layers.MaxPooling2D(2, name=f"{label}_pool")(x) if stride == 2 else x
        if out != x.shape[-1]:
            skip = channel_pad(skip, out, label)
        return layers.ReLU(name=f"{label}_relu")(layers.Add(name=f"{label}_add")([y, skip]))

    coords = 4 + 2 * num_keypoints
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.ReLU(name="stem_relu")(layers.Conv2D(24, 5, 2, padding="same", name="stem")(inputs))
    for i, (out, stride) in enumerate(BLOCKS_16):
        x = blaze_block(x, out, stride, f"b16_{i}")
    f16 = x
    for i, (out, stride) in enumerate(BLOCKS_8):
        x = blaze_block(x, out, stride, f"b8_{i}")

    def head(feature, anchors, width, label):
        y = layers.Conv2D(anchors * width, 1, name=label)(feature)
        return layers.Reshape((-1, width), name=f"{label}_flat")(y)

    regressors = layers.Concatenate(axis=1, name="regressors")(
        [head(f16, 2, coords, "reg_16x16"), head(x, 6, coords, "reg_8x8")])
    classificators = layers.Concatenate(axis=1, name="classificators")(
        [head(f16, 2, 1, "cls_16x16"), head(x, 6, 1, "cls_8x8")])
    return keras.Model(inputs, [regressors, classificators], name=name)
