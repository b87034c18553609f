"""The architecture registry: every model builds, has the documented outputs, and its
parameters and MACs (counted from the graph by edgeface.models.complexity) fall in the
expected ranges. The figures are printed (pytest -s) for the issue's table."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgeface.cards import all_cards  # noqa: E402
from edgeface.models import create_model, default_input_size, list_models, model_kind  # noqa: E402
from edgeface.models.complexity import complexity  # noqa: E402

KINDS = all_cards()  # each architecture's kind is on its model card

# name: (kwargs, params range, MACs range, output shapes without batch)
EXPECTED = {
    "mobilefacenet": ({"embedding_size": 128}, (0.9e6, 1.1e6), (200e6, 240e6), [(128,)]),
    "mobilefacenet_int8": ({"embedding_size": 128}, (0.9e6, 1.1e6), (200e6, 240e6), [(128,)]),
    "edgeface_xs": ({"embedding_size": 512}, (1.6e6, 2.0e6), (50e6, 160e6), [(512,)]),
    "edgeface_xs_int8": ({"embedding_size": 512}, (1.5e6, 2.0e6), (50e6, 160e6), [(512,)]),
    "blazeface": ({"num_keypoints": 5}, (0.1e6, 0.2e6), (30e6, 60e6), [(896, 14), (896, 1)]),
    "blazeface_256": ({}, (0.1e6, 0.2e6), (60e6, 120e6), [(896, 14), (896, 1)]),
}


def test_registry_lists_every_architecture():
    assert set(list_models()) == set(EXPECTED) == set(KINDS)
    assert model_kind("blazeface_256") == "detector" and default_input_size("blazeface_256") == 256
    assert model_kind("edgeface_xs") == "embedder" and default_input_size("edgeface_xs") == 112


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_params_and_macs(name):
    kwargs, params, macs, outputs = EXPECTED[name]
    model = create_model(name, **kwargs)
    c = complexity(model)
    print(f"\n{name}: {c.params / 1e6:.3f} M params, {c.macs / 1e6:.1f} M MACs")
    assert [tuple(o.shape[1:]) for o in model.outputs] == outputs
    assert params[0] <= c.params <= params[1], f"{name}: {c.params} params"
    assert macs[0] <= c.macs <= macs[1], f"{name}: {c.macs} MACs"


def test_mac_counter_by_hand():
    import keras

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)  # 8*8*4 * 3*3*3 = 6912
    x = keras.layers.DepthwiseConv2D(3, 2, padding="same")(x)  # 4*4*4 * 9 = 576
    t = keras.layers.Reshape((16, 4))(x)
    a = keras.layers.MultiHeadAttention(2, 3)(t, t)  # q,k,v: 3 * 16*4*6; out 16*6*4; QK^T and AV 2 * 16*16*6
    y = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling1D()(a))  # 4 * 5
    c = complexity(keras.Model(inp, y))
    assert c.macs == 6912 + 576 + 3 * 16 * 4 * 6 + 16 * 6 * 4 + 2 * 16 * 16 * 6 + 20


def test_blazeface_anchor_configs_match_the_model():
    from edgeface.decoders.ssd import ssd_anchors
    from edgeface.cards.presets import TRAINED_PRESETS, anchor_config

    for size, name in ((128, "blazeface"), (256, "blazeface_256")):
        a = anchor_config(size)
        anchors = ssd_anchors(size, size, a["strides"], a["min_scale"], a["max_scale"], fixed_anchor_size=True)
        model = create_model(name, num_keypoints=5)
        assert model.outputs[1].shape[1] == len(anchors) == 896
    assert TRAINED_PRESETS["edgeface-ssd-256"]["decoder"]["box_scale"] == [256.0] * 4


def test_models_have_no_dynamic_reshapes():
    """Static reshape targets only (a -1 leaves a SHAPE op in TFLite even with a fixed batch)."""
    for name in EXPECTED:
        model = create_model(name, **EXPECTED[name][0])
        for layer in model.layers:
            if type(layer).__name__ == "Reshape":
                assert -1 not in layer.target_shape, f"{name}: {layer.name} {layer.target_shape}"


@pytest.mark.slow
def test_edgeface_xs_int8_stays_inside_xnnpack(tmp_path):
    """A quick int8 conversion: the int8-friendly variant has no op XNNPACK leaves out (one
    partition, no float island), unlike softmax attention and LayerNorm."""
    pytest.importorskip("ai_edge_litert")
    import tensorflow as tf

    from edgeface.quantization.coverage import delegate_coverage

    model = create_model("edgeface_xs_int8", input_size=64, embedding_size=64)
    rng = np.random.default_rng(0)

    def data():
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    report = delegate_coverage(converter.convert(), where="edgeface_xs_int8")
    print("\n" + report.summary())
    assert not report.undelegated, report.summary()


@pytest.mark.slow
def test_exported_blazeface_is_one_xnnpack_partition():
    """With the batch fixed to 1 (as the export builds it) the head reshapes are static and
    XNNPACK takes the whole detector; a dynamic batch splits it at the four reshapes."""
    pytest.importorskip("ai_edge_litert")
    import tensorflow as tf

    from edgeface.quantization.coverage import delegate_coverage

    fixed = delegate_coverage(tf.lite.TFLiteConverter.from_keras_model(
        create_model("blazeface", num_keypoints=5, batch_size=1)).convert())
    assert fixed.fully_delegated, fixed.summary()
    dynamic = delegate_coverage(tf.lite.TFLiteConverter.from_keras_model(
        create_model("blazeface", num_keypoints=5)).convert())
    assert not dynamic.fully_delegated
