"""One ONNX model -> one QNN context binary for one Snapdragon SoC, offline.

onnxruntime's QNN provider compiles the graph for the HTP of the SoC named by its
``soc_model`` and ``htp_arch`` (from ``device_profiles/socs.yaml``) and, with
``ep.context_enable``, writes the result as an EPContext ONNX model plus the QNN context
binary. The first compile runs with CPU fallback disabled: it succeeds only when every
node runs on the HTP. When it fails, a second compile with fallback allowed shows which
nodes the HTP cannot take, so the report (or the error) names them.

Two files come out per SoC:
  <stem>_<SOC>.onnx  the EPContext model with the binary embedded: one self-contained file
                     that onnxruntime (and the SDK) loads with the QNN provider;
  <stem>_<SOC>.bin   the bare QNN context binary, for apps that use the QNN API directly.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeface.errors import ConversionError
from edgeface.fsutil import atomic_write_bytes
from edgeface.socs import Soc

FALLBACK_DISABLED = "fallback to CPU EP has been explicitly disabled"
# The HTP's build configuration string that QNN stores inside every context binary.
_RECORDED_TARGET = re.compile(rb"soc_type=([A-Za-z0-9_]+);arch=(\d+)")


@dataclass
class HtpContext:
    """A compiled context for one SoC, and what the compiler did with the graph."""

    soc: str                  # part number, SM8650
    htp_arch: int             # what was asked for
    soc_model: int
    precision: str            # w8a8, w8a16 or fp16
    onnx_path: Path           # EPContext model, binary embedded
    binary_path: Path         # the bare QNN context binary
    onnx_bytes: int
    binary_bytes: int
    recorded_soc: str | None  # read back from the binary
    recorded_arch: int | None
    qnn_sdk: str              # the QAIRT version that compiled it
    nodes_total: int          # nodes in the graph given to the compiler
    nodes_on_htp: int
    fallback_ops: list[str] = field(default_factory=list)  # "Mod (node 'mod_1')" per CPU node
    compile_seconds: float = 0.0

    @property
    def full_offload(self) -> bool:
        return not self.fallback_ops

    def to_dict(self) -> dict:
        return {"soc": self.soc, "htp_arch": self.htp_arch, "soc_model": self.soc_model,
                "precision": self.precision, "onnx": self.onnx_path.name, "onnx_bytes": self.onnx_bytes,
                "binary": self.binary_path.name, "binary_bytes": self.binary_bytes,
                "recorded_soc": self.recorded_soc, "recorded_arch": self.recorded_arch, "qnn_sdk": self.qnn_sdk,
                "nodes_total": self.nodes_total, "nodes_on_htp": self.nodes_on_htp,
                "full_offload": self.full_offload, "fallback_ops": self.fallback_ops,
                "compile_seconds": round(self.compile_seconds, 3)}


def compile_context(model: str | Path, soc: Soc, out_dir: str | Path, stem: str, precision: str,
                    allow_fallback: bool = False) -> HtpContext:
    """Compile ``model`` (a QDQ ONNX model, or a float one for ``precision="fp16"``) for
    ``soc``. Without ``allow_fallback``, a graph that does not run whole on the HTP raises
    ``ConversionError`` naming the nodes that would fall back to the CPU."""
    import onnx

    model, out_dir = Path(model), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provider_options = {"soc_model": str(soc.soc_model), "htp_arch": str(soc.htp_arch)}
    if precision == "fp16":
        provider_options["enable_htp_fp16_precision"] = "1"
    nodes_total = len(onnx.load(str(model), load_external_data=False).graph.node)
    with tempfile.TemporaryDirectory(prefix=".qnn-", dir=out_dir) as tmp:
        start = time.perf_counter()
        ctx_path, error = _compile(model, Path(tmp) / "strict", provider_options, fallback=False)
        seconds = time.perf_counter() - start
        if error is not None and FALLBACK_DISABLED not in error:
            raise ConversionError(f"{model.name}: the QNN compiler failed for {soc.part} "
                                  f"(Hexagon v{soc.htp_arch}): {error}")
        fallback_ops: list[str] = []
        if error is not None:
            ctx_path, error = _compile(model, Path(tmp) / "fallback", provider_options, fallback=True)
            if error is not None:
                raise ConversionError(f"{model.name}: the QNN compiler failed for {soc.part}: {error}")
            fallback_ops = [_describe(n) for n in onnx.load(str(ctx_path)).graph.node if n.op_type != "EPContext"]
            if not allow_fallback:
                raise ConversionError(
                    f"{model.name}: {len(fallback_ops)} of {nodes_total} nodes cannot run on the HTP of "
                    f"{soc.part} (Hexagon v{soc.htp_arch}) and would fall back to the CPU: "
                    f"{', '.join(fallback_ops)}; replace those ops in the model, or pass --allow-fallback")
        return _finish(ctx_path, soc, out_dir, stem, precision, nodes_total, fallback_ops, seconds)


def _compile(model: Path, where: Path, provider_options: dict, fallback: bool) -> tuple[Path, str | None]:
    """Run the compiler; returns the EPContext model's path and the error line, if any."""
    import onnxruntime as ort

    from edgeface.runtime.qnn import add_htp

    where.mkdir()
    ctx_path = where / "model_ctx.onnx"
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the provider logs every unsupported node as an error
    options.add_session_config_entry("ep.context_enable", "1")
    options.add_session_config_entry("ep.context_file_path", str(ctx_path))
    options.add_session_config_entry("ep.context_embed_mode", "0")
    options.add_session_config_entry("session.disable_cpu_ep_fallback", "0" if fallback else "1")
    add_htp(options, **provider_options)
    try:
        ort.InferenceSession(str(model), sess_options=options)
    except Exception as exc:
        return ctx_path, " ".join(str(exc).split())[:400]
    return ctx_path, None


def _describe(node) -> str:
    return f"{node.op_type} (node {node.name!r})" if node.name else node.op_type


def _finish(ctx_path: Path, soc: Soc, out_dir: Path, stem: str, precision: str, nodes_total: int,
            fallback_ops: list[str], seconds: float) -> HtpContext:
    """Embed the binary into the EPContext model, write both files, read the target back."""
    import onnx
    from onnx import helper

    ctx = onnx.load(str(ctx_path))
    binaries: dict[str, bytes] = {}
    sdk = ""
    for node in ctx.graph.node:
        if node.op_type != "EPContext":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        sdk = attrs.get("ep_sdk_version", b"").decode()
        name = attrs["ep_cache_context"].decode()
        binaries.setdefault(name, (ctx_path.parent / name).read_bytes())
        for attr in node.attribute:  # embed mode 1: the binary travels inside the node
            if attr.name == "embed_mode":
                attr.i = 1
            elif attr.name == "ep_cache_context":
                attr.s = binaries[name]
    if len(binaries) != 1:
        raise ConversionError(f"{ctx_path}: expected one QNN context binary, the compiler wrote {len(binaries)}")
    (binary,) = binaries.values()
    onnx_path, binary_path = out_dir / f"{stem}_{soc.part}.onnx", out_dir / f"{stem}_{soc.part}.bin"
    atomic_write_bytes(binary_path, binary)
    onnx_data = ctx.SerializeToString()
    atomic_write_bytes(onnx_path, onnx_data)
    recorded = _RECORDED_TARGET.search(binary)
    recorded_soc, recorded_arch = (recorded.group(1).decode(), int(recorded.group(2))) if recorded else (None, None)
    if recorded_arch is not None and recorded_arch != soc.htp_arch:
        raise ConversionError(f"{binary_path}: the compiler built for Hexagon v{recorded_arch}, not the "
                              f"v{soc.htp_arch} of {soc.part}")
    return HtpContext(soc=soc.part, htp_arch=soc.htp_arch, soc_model=soc.soc_model, precision=precision,
                      onnx_path=onnx_path, binary_path=binary_path, onnx_bytes=len(onnx_data),
                      binary_bytes=len(binary), recorded_soc=recorded_soc, recorded_arch=recorded_arch,
                      qnn_sdk=sdk, nodes_total=nodes_total, nodes_on_htp=nodes_total - len(fallback_ops),
                      fallback_ops=fallback_ops, compile_seconds=seconds)
