"""edgeface.tflite_writer: each op in a tiny graph, run by LiteRT, against numpy (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.tflite_writer import TFLiteGraph, TFLiteWriterError

RNG = np.random.default_rng(7)


def _run(g: TFLiteGraph, outputs: list[int], *inputs: np.ndarray) -> list[np.ndarray]:
    from edgeface.runtime import open_backend

    backend = open_backend("tflite", g.finish(outputs), "tiny.tflite")
    return backend.run(list(inputs))


def _conv_ref(x, kernel, bias, stride, pad):
    x = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    kh, kw = kernel.shape[:2]
    oh, ow = 1 + (x.shape[1] - kh) // stride[0], 1 + (x.shape[2] - kw) // stride[1]
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, i, j] = np.tensordot(patch, kernel, axes=3) + bias
    return out


def _pool_ref(x, size, stride, reduce):
    oh, ow = 1 + (x.shape[1] - size[0]) // stride[0], 1 + (x.shape[2] - size[1]) // stride[1]
    return np.stack([np.stack([reduce(x[:, i * stride[0]:i * stride[0] + size[0],
                                        j * stride[1]:j * stride[1] + size[1]], axis=(1, 2))
                               for j in range(ow)], axis=1) for i in range(oh)], axis=1)


@pytest.mark.parametrize("fp16", [False, True])
def test_every_op_matches_numpy(fp16):
    x = RNG.normal(size=(1, 7, 8, 3)).astype(np.float32)
    k_same, b_same = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32), RNG.normal(size=4).astype(np.float32)
    k_strided, b_strided = RNG.normal(size=(3, 3, 4, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32)
    gamma, beta = RNG.normal(size=5).astype(np.float32), RNG.normal(size=5).astype(np.float32)
    fc_w, fc_b = RNG.normal(size=(20, 6)).astype(np.float32), RNG.normal(size=6).astype(np.float32)
    weights = [k_same, b_same, k_strided, b_strided, gamma, beta, fc_w, fc_b]
    if fp16:  # the file holds float16: numpy gets the same rounded weights
        k_same, b_same, k_strided, b_strided, gamma, beta, fc_w, fc_b = (
            w.astype(np.float16).astype(np.float32) for w in weights)

    g = TFLiteGraph(fp16_weights=fp16)
    inp = g.input("x", x.shape)
    same = g.conv2d(inp, weights[0], weights[1], "same", same=True, relu=True)            # (1, 7, 8, 4)
    padded = g.pad(same, [(0, 0), (1, 1), (0, 1), (0, 0)], "pad")                          # (1, 9, 9, 4)
    strided = g.conv2d(padded, weights[2], weights[3], "strided", stride=(2, 2))           # (1, 4, 4, 5)
    affine = g.add(g.mul(strided, g.weight("gamma", weights[4]), "mul"), g.weight("beta", weights[5]), "affine")
    relu = g.relu(affine, "relu")
    maxp = g.pool2d(relu, "max", (2, 2), (1, 1), "maxp")                                    # (1, 3, 3, 5)
    avgp = g.pool2d(relu, "avg", (2, 2), (2, 2), "avgp")                                    # (1, 2, 2, 5)
    mean = g.reduce(maxp, "mean", [1, 2], "mean", keep_dims=True)                            # (1, 1, 1, 5)
    rmax = g.reduce(maxp, "max", [1, 2], "rmax", keep_dims=False)                            # (1, 5)
    flat = g.reshape(avgp, (1, 20), "flat")
    dense = g.fully_connected(flat, weights[6], weights[7], "dense")
    nobias = g.fully_connected(rmax, weights[6][:5], None, "nobias")
    scale = np.float16([1.5, -2.25, 0.5, 4, -1])  # exact in float16
    half = g.mul(rmax, g.dequantize(g.constant("half", scale), "dequantized"), "scaled")
    outs = _run(g, [same, strided, mean, rmax, dense, nobias, half], x)

    want_same = np.maximum(_conv_ref(x, k_same, b_same, (1, 1), (1, 1)), 0)
    want_padded = np.pad(want_same, ((0, 0), (1, 1), (0, 1), (0, 0)))
    want_strided = _conv_ref(want_padded, k_strided, b_strided, (2, 2), (0, 0))
    want_relu = np.maximum(want_strided * gamma + beta, 0)
    want_max = _pool_ref(want_relu, (2, 2), (1, 1), np.max)
    want_avg = _pool_ref(want_relu, (2, 2), (2, 2), np.mean)
    wants = [want_same, want_strided, want_max.mean(axis=(1, 2), keepdims=True), want_max.max(axis=(1, 2)),
             want_avg.reshape(1, 20) @ fc_w + fc_b, want_max.max(axis=(1, 2)) @ fc_w[:5],
             want_max.max(axis=(1, 2)) * scale.astype(np.float32)]
    assert [o.shape for o in outs] == [w.shape for w in wants]
    for got, want in zip(outs, wants):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_fp16_weights_halve_the_file_and_dequantize():
    from ai_edge_litert import schema_py_generated as schema

    kernel = RNG.normal(size=(3, 3, 8, 64)).astype(np.float32)
    sizes, ops = {}, {}
    for fp16 in (False, True):
        g = TFLiteGraph(fp16_weights=fp16)
        out = g.conv2d(g.input("x", (1, 8, 8, 8)), kernel, np.zeros(64, np.float32), "c", same=True)
        data = g.finish([out])
        sizes[fp16] = len(data)
        model = schema.ModelT.InitFromPackedBuf(data, 0)
        ops[fp16] = sorted(model.operatorCodes[o.opcodeIndex].builtinCode for o in model.subgraphs[0].operators)
        assert schema.Model.ModelBufferHasIdentifier(data, 0)
    assert ops[False] == [schema.BuiltinOperator.CONV_2D]
    assert ops[True] == sorted([schema.BuiltinOperator.CONV_2D] + [schema.BuiltinOperator.DEQUANTIZE] * 2)
    assert 0.45 < sizes[True] / sizes[False] < 0.55


def test_constant_buffers_are_16_byte_aligned():
    from ai_edge_litert import schema_py_generated as schema

    g = TFLiteGraph()
    x = g.input("x", (1, 3))
    for n in (1, 3, 5):  # 4, 12 and 20 bytes between them: an unaligned writer misplaces the next
        g.constant(f"odd{n}", np.arange(n, dtype=np.int32))
        x = g.add(x, g.constant(f"c{n}", np.full(3, n, np.float32)), f"a{n}")
    data = g.finish([x])
    model = schema.Model.GetRootAs(data, 0)
    for i in range(1, model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, (i, start)
    (got,) = _run(g, [x], np.zeros((1, 3), np.float32))
    np.testing.assert_allclose(got, [[9, 9, 9]])


def test_inconsistent_graphs_are_refused_with_the_op_named():
    g = TFLiteGraph()
    x = g.input("x", (1, 4, 4, 3))
    with pytest.raises(TFLiteWriterError, match="bad_conv"):
        g.conv2d(x, np.zeros((3, 3, 2, 4), np.float32), np.zeros(4, np.float32), "bad_conv")
    with pytest.raises(TFLiteWriterError, match="bad_add"):
        g.add(x, g.constant("c", np.zeros(2, np.float32)), "bad_add")
    with pytest.raises(TFLiteWriterError, match="bad_reshape"):
        g.reshape(x, (1, 5), "bad_reshape")
    with pytest.raises(TFLiteWriterError, match="float32, float16 or int32"):
        g.constant("wide", np.zeros(2, np.float64))
