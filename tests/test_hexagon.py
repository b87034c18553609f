"""Offline QNN compile for Snapdragon HTPs, checked in the HTP simulator (extra ``qnn``).

Tests that need onnxruntime-qnn are marked ``qnn`` and skipped where it is not
installed; the dev set-up (and CI) installs it.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.errors import ConversionError, ManifestError, ModelLoadError
from edgeface.socs import UnknownSocError, find_soc

try:
    import onnxruntime_qnn  # noqa: F401

    HAVE_QNN = True
except ImportError:
    HAVE_QNN = False

qnn = pytest.mark.skipif(not HAVE_QNN, reason="needs the qnn extra (onnxruntime-qnn)")

ISSUE_SOCS = {"SM8450": 69, "SM8550": 73, "SM8650": 75, "SM8750": 79, "SM8850": 81, "SM7750": 73,
              "QCS6490": 68, "QCS8550": 73}


def test_soc_table_has_the_socs_users_target():
    for part, arch in ISSUE_SOCS.items():
        soc = find_soc(part)
        assert (soc.part, soc.htp_arch) == (part, arch)
    assert find_soc("snapdragon-8gen3").part == "SM8650"  # AI Hub's chipset id works too
    assert find_soc("sm8650").soc_model == 57


def test_unknown_soc_names_the_table():
    with pytest.raises(UnknownSocError, match="SM7675.*socs.yaml"):
        find_soc("SM7675")


# ---------------------------------------------------------------- tiny graphs

def _tiny_onnx(path: Path, extra_op: str | None = None) -> Path:
    """Conv -> ReLU -> depthwise conv -> ReLU -> 1x1 conv -> global pool -> Gemm: (1, 16),
    NCHW 3x32x32; ``extra_op`` appends a node the HTP may not take."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(0, 0.3, (8, 3, 3, 3)), "w2": rng.normal(0, 0.3, (8, 1, 3, 3)),
               "w3": rng.normal(0, 0.3, (16, 8, 1, 1)), "fc": rng.normal(0, 0.3, (16, 16)),
               "fcb": rng.normal(0, 0.1, (16,)), "two": np.array(2.0)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["c3"]),
             helper.make_node("GlobalAveragePool", ["c3"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y" if extra_op is None else "g"], transB=1)]
    if extra_op == "Mod":
        nodes.append(helper.make_node("Mod", ["g", "two"], ["y"], fmod=1))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def _samples(n=8):
    return np.random.default_rng(1).uniform(-1, 1, (n, 3, 32, 32)).astype(np.float32)


def _cosine(a, b):
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@qnn
@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_tiny_model_compiles_for_two_htp_archs_fully_offloaded(tmp_path, precision):
    from edgeface.converters.qnn import compile_context
    from edgeface.quantization.qdq import quantize_for_htp, static_model
    from edgeface.runtime import open_backend
    from edgeface.runtime.model import run_float

    static = static_model(_tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "static.onnx")
    qdq = quantize_for_htp(static, tmp_path / "qdq.onnx", _samples(16), precision)
    reference = open_backend("onnx", static.read_bytes(), "float")
    for part in ("SM8650", "SM8750"):  # Hexagon v75 and v79
        soc = find_soc(part)
        ctx = compile_context(qdq, soc, tmp_path / "out", "tiny", precision)
        assert ctx.full_offload and ctx.nodes_on_htp == ctx.nodes_total > 0
        assert (ctx.recorded_soc, ctx.recorded_arch) == (part, soc.htp_arch)  # read back from the binary
        assert ctx.binary_path.stat().st_size == ctx.binary_bytes > 0
        assert ctx.onnx_path.name == f"tiny_{part}.onnx"
        htp = open_backend("onnx", ctx.onnx_path.read_bytes(), str(ctx.onnx_path), accelerator="qnn-htp")
        for x in _samples(4):
            (want,), (got,) = run_float(reference, x[None]), run_float(htp, x[None])
            assert _cosine(want, got) > 0.99


@qnn
def test_the_context_binary_is_embedded_in_the_epcontext_model(tmp_path):
    import onnx

    from edgeface.converters.qnn import compile_context

    model = _tiny_onnx(tmp_path / "tiny.onnx")
    v75 = compile_context(model, find_soc("SM8650"), tmp_path, "t", "fp16")
    (node,) = onnx.load(str(v75.onnx_path)).graph.node
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert node.op_type == "EPContext" and attrs["embed_mode"] == 1
    assert attrs["ep_cache_context"] == v75.binary_path.read_bytes()


@qnn
def test_an_op_the_htp_cannot_take_is_named(tmp_path):
    from edgeface.converters.qnn import compile_context
    from edgeface.quantization.qdq import static_model

    model = static_model(_tiny_onnx(tmp_path / "mod.onnx", extra_op="Mod"), tmp_path / "static.onnx")
    with pytest.raises(ConversionError, match=r"cannot run on the HTP of SM8650.*Mod.*--allow-fallback"):
        compile_context(model, find_soc("SM8650"), tmp_path / "out", "mod", "fp16")
    ctx = compile_context(model, find_soc("SM8650"), tmp_path / "out", "mod", "fp16", allow_fallback=True)
    assert not ctx.full_offload and [op.split()[0] for op in ctx.fallback_ops] == ["Mod"]
    assert ctx.nodes_on_htp == ctx.nodes_total - 1


@qnn
def test_compile_job_reports_and_bundles_each_soc(tmp_path):
    from edgeface.converters.hexagon import CompileRequest, compile_hexagon

    request = CompileRequest(source=_tiny_onnx(tmp_path / "tiny.onnx"), out=tmp_path / "job", role="embedder",
                             precisions=["w8a8", "fp16"], socs=["SM8650", "QCS6490"], calibration_size=8,
                             max_cosine_drop=0.05)
    result = compile_hexagon(request)
    built = sorted((a.context.precision, a.context.soc) for a in result.artifacts)
    assert built == [("fp16", "SM8650"), ("w8a8", "QCS6490"), ("w8a8", "SM8650")]
    assert result.skipped and "QCS6490" in result.skipped[0]  # no fp16 on v68
    report = json.loads(result.report_json.read_text())
    assert {c["soc"] for c in report["contexts"]} == {"SM8650", "QCS6490"}
    assert all(c["full_offload"] and c["fidelity"]["embedder"]["cosine_worst"] > 0.95 for c in report["contexts"])
    assert "Not built: fp16 QCS6490" in result.report_md.read_text()
    w8a8 = json.loads((tmp_path / "job" / "bundle_w8a8" / "manifest.json").read_text())
    targets = w8a8["models"]["embedder"]["targets"]
    assert set(targets) == {"SM8650", "QCS6490"} and targets["QCS6490"]["htp_arch"] == 68


@qnn
def test_first_passing_stops_at_the_first_precision_that_passes_per_soc(tmp_path):
    from edgeface.converters.hexagon import CompileRequest, compile_hexagon

    request = CompileRequest(source=_tiny_onnx(tmp_path / "tiny.onnx"), out=tmp_path / "job", role="embedder",
                             precisions=["w8a8", "w8a16"], socs=["SM8650"], calibration_size=8,
                             max_cosine_drop=0.05, first_passing=True)
    result = compile_hexagon(request)
    assert [(a.context.precision, a.context.soc) for a in result.artifacts] == [("w8a8", "SM8650")]
    assert result.skipped == ["w8a16 SM8650: not tried, w8a8 passed first"]


# ---------------------------------------------------------------- a real face model, end to end

@qnn
@pytest.mark.slow
def test_real_blazeface_runs_on_the_htp_simulator_like_the_float_model(cache, tmp_path):
    from skimage import data

    from edgeface import FaceAnalyzer
    from edgeface.converters.hexagon import compile_bundle
    from edgeface.pretrained import fetch_model

    source = fetch_model("blazeface")
    bundle, (result,) = compile_bundle(source, tmp_path / "c", ["SM8650", "SM8750"], ["w8a8", "fp16"],
                                       calibration_size=16)
    by_key = {(a.context.precision, a.context.soc): a for a in result.artifacts}
    for (precision, soc), artifact in by_key.items():
        assert artifact.context.full_offload, (precision, soc)
        det = artifact.fidelity.detector
        assert det.missed == 0 and det.mean_iou > 0.8, (precision, soc, det)
    fp16 = by_key[("fp16", "SM8650")].fidelity.detector
    assert fp16.extra == 0 and fp16.min_iou > 0.95
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["models"]["detector"]["targets"]) == {"SM8650", "SM8750"}

    astronaut = data.astronaut()
    (cpu,) = FaceAnalyzer.create_from_bundle(source).detect(astronaut)
    (htp,) = FaceAnalyzer.create_from_bundle(bundle, soc="SM8650").detect(astronaut)
    box = lambda b: [b.x1, b.y1, b.x2, b.y2]  # noqa: E731
    assert np.allclose(box(cpu.bbox), box(htp.bbox), atol=3.0)


# ---------------------------------------------------------------- the bundle side (no qnn needed)

def _with_target(bundle_dir: Path, **target) -> Path:
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    entry = {"file": "qnn/SM8650/d.onnx", "sha256": "0" * 64, "format": "onnx", "accelerator": "qnn-htp",
             "precision": "w8a8", "htp_arch": 75, "soc_model": 57, **target}
    manifest["models"]["detector"]["targets"] = {"SM8650": entry}
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    return bundle_dir


def test_a_target_with_an_unknown_accelerator_is_refused(bundle_copy):
    from edgeface.bundle import load_bundle

    with pytest.raises(ManifestError, match="targets.SM8650.accelerator"):
        load_bundle(_with_target(bundle_copy(), accelerator="gpu"))


def test_asking_for_a_soc_the_bundle_was_not_built_for_says_how_to_build_it(fixture_bundle):
    from edgeface import FaceAnalyzer

    with pytest.raises(ModelLoadError, match="no build for SM8750.*edgeface compile.*--soc SM8750"):
        FaceAnalyzer.create_from_bundle(fixture_bundle(), soc="SM8750")


def test_on_macos_the_missing_qnn_library_says_where_to_compile_instead(monkeypatch):
    import edgeface.runtime.qnn as qnn_runtime
    from edgeface.errors import BackendUnavailableError

    monkeypatch.setattr(qnn_runtime.sys, "platform", "darwin")
    monkeypatch.setitem(sys.modules, "onnxruntime_qnn", None)  # as on a Mac: the extra cannot bring it
    qnn_runtime.qnn_devices.cache_clear()
    try:
        with pytest.raises(BackendUnavailableError, match="no macOS build: compile on Linux or Windows"):
            qnn_runtime.qnn_devices()
    finally:
        qnn_runtime.qnn_devices.cache_clear()
