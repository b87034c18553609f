"""An EdgeFace-style hybrid face recognizer (George et al., 2023: EdgeNeXt backbone with
low-rank linear layers), about 1.8 M parameters at 112x112.

Four stages (28x28, 14x14, 7x7, 4x4) of depthwise-conv encoders (depthwise kxk conv,
norm, then a point-wise MLP whose two linear layers are low-rank: ``LoRaLin``, W = A B
with rank = ``rank_ratio`` x the smaller side). The two low-resolution stages end with a
light attention block; the embedding is global-average-pooled, normalised and projected
by a low-rank linear layer to ``embedding_size``.

- ``edgeface_xs``: LayerNorm, GELU and multi-head self-attention over the 49 / 16 tokens
  of stages 3 and 4 (cheap at that size).
- ``edgeface_xs_int8``: the same backbone made int8-friendly for XNNPACK and the Hexagon
  HTP: BatchNorm (folded into the convolutions), ReLU6, and a sigmoid-gated attention
  (global-context channel gate times a spatial gate; LOGISTIC and MUL run in int8
  inside the delegate) in place of softmax attention, whose SOFTMAX/BATCH_MATMUL fall out
  of the int8 delegate and split the graph.

All layers are Keras built-ins: the .keras file loads without custom objects.
"""

from __future__ import annotations

DIMS = (32, 64, 104, 192)
DEPTHS = (3, 3, 9, 3)  # EdgeNeXt-XS depths
KERNELS = (3, 5, 7, 9)
ATTENTION_STAGES = (2, 3)  # the stages that end with an attention block


def edgeface_xs(embedding_size: int = 512, input_size: int = 112, variant: str = "float",
                rank_ratio: float = 0.5, dims=DIMS, depths=DEPTHS, name: str = "edgeface_xs", keras=None):
    """``variant``: "float" (LayerNorm/GELU/softmax attention) or "int8" (BatchNorm/ReLU6/
    gated attention). ``keras``: the Keras module (default Keras 3; ``tf_keras`` for QAT)."""
    if keras is None:
        import keras
    layers = keras.layers
    int8 = variant == "int8"

    def norm(x, label):
        if int8:
            return layers.BatchNormalization(epsilon=1e-5, name=f"{label}_bn")(x)
        return layers.LayerNormalization(epsilon=1e-6, name=f"{label}_ln")(x)

    def act(x, label):
        if int8:
            return layers.ReLU(max_value=6.0, name=f"{label}_relu6")(x)
        return layers.Activation("gelu", name=f"{label}_gelu")(x)

    def loralin(x, out, label, bias=True):
        """Low-rank linear: in -> rank -> out, as two 1x1 convolutions (or Dense on
        vectors): rank_ratio * min(in, out) parameters per side."""
        rank = max(8, int(rank_ratio * min(x.shape[-1], out)))
        dense = layers.Conv2D if len(x.shape) == 4 else layers.Dense
        kw = {"kernel_size": 1} if dense is layers.Conv2D else {}
        x = dense(rank, use_bias=False, name=f"{label}_a", **kw)(x)
        return dense(out, use_bias=bias, name=f"{label}_b", **kw)(x)

    def conv_encoder(x, kernel, label):
        channels = x.shape[-1]
        y = layers.DepthwiseConv2D(kernel, padding="same", name=f"{label}_dw")(x)
        y = norm(y, label)
        y = loralin(y, 4 * channels, f"{label}_fc1")
        y = act(y, label)
        y = loralin(y, channels, f"{label}_fc2")
        return layers.Add(name=f"{label}_add")([x, y])

    def attention(x, label):
        channels = x.shape[-1]
        if int8:
            # global context -> channel gate; 1x1 conv -> spatial gate; both sigmoid
            y = norm(x, f"{label}_pre")
            ctx = layers.GlobalAveragePooling2D(keepdims=True, name=f"{label}_gap")(y)
            ctx = layers.Conv2D(max(8, channels // 4), 1, name=f"{label}_ctx1")(ctx)
            ctx = act(ctx, f"{label}_ctx")
            ctx = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{label}_ctx2")(ctx)
            spatial = layers.Conv2D(1, 1, activation="sigmoid", name=f"{label}_spatial")(y)
            v = layers.Conv2D(channels, 1, name=f"{label}_v")(y)
            y = layers.Multiply(name=f"{label}_gate")([v, ctx, spatial])
        else:
            h, w = x.shape[1], x.shape[2]
            y = norm(x, f"{label}_pre")
            tokens = layers.Reshape((h * w, channels), name=f"{label}_tokens")(y)
            heads = 4
            tokens = layers.MultiHeadAttention(heads, channels // heads, name=f"{label}_mha")(tokens, tokens)
            y = layers.Reshape((h, w, channels), name=f"{label}_grid")(tokens)
        x = layers.Add(name=f"{label}_add")([x, y])
        y = norm(x, f"{label}_mlp")
        y = loralin(y, 4 * channels, f"{label}_fc1")
        y = act(y, f"{label}_mlp")
        y = loralin(y, channels, f"{label}_fc2")
        return layers.Add(name=f"{label}_mlp_add")([x, y])

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Conv2D(dims[0], 4, 4, name="stem")(inputs)
    x = norm(x, "stem")
    for stage, (dim, depth) in enumerate(zip(dims, depths)):
        if stage > 0:
            x = norm(x, f"down{stage}")
            x = layers.Conv2D(dim, 2, 2, padding="same", name=f"down{stage}")(x)
        for i in range(depth):
            x = conv_encoder(x, KERNELS[stage], f"s{stage}_{i}")
        if stage in ATTENTION_STAGES:
            x = attention(x, f"s{stage}_attn")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if int8:
        x = layers.BatchNormalization(epsilon=1e-5, name="head_bn")(x)
    else:
        x = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    x = loralin(x, embedding_size, "head")
    outputs = layers.BatchNormalization(epsilon=1e-5, name="embedding")(x)
    return keras.Model(inputs, outputs, name=name)


def edgeface_xs_int8(name: str = "edgeface_xs_int8", **kwargs):
    return edgeface_xs(variant="int8", name=name, **kwargs)
