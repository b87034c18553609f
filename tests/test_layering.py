"""The dependency rule of docs/architecture.md: SDK modules import no toolchain package.

An app that runs bundles installs numpy and LiteRT, not TensorFlow; so no SDK module may
import a toolchain package or library, not even lazily inside a function (a lazy import
still breaks the app the day that code path runs). Checked twice:

- statically: every import statement of every SDK module (module level and inside
  functions), read with ``ast``;
- dynamically: a fresh interpreter imports every SDK module (and runs ``edgeface --help``)
  and must not have loaded a toolchain library.

The sets are written out here, so that moving a module across the line is a visible change.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeface"

# The SDK: every module at the package root (edgeface/*.py) plus these packages.
SDK_PACKAGES = ("edgeface.cards", "edgeface.decoders", "edgeface.runtime", "edgeface.video", "edgeface.feeds",
                "edgeface.gallery")
# The toolchain (train, quantize, convert, benchmark; may use TensorFlow & co.) and the CLI.
TOOLCHAIN_PACKAGES = ("edgeface.models", "edgeface.train", "edgeface.data", "edgeface.eval",
                      "edgeface.pretrained", "edgeface.bench", "edgeface.hub", "edgeface.pipeline",
                      "edgeface.converters", "edgeface.quantization", "edgeface.device_profiles")
CLI_PACKAGES = ("edgeface.cli",)

# Third-party packages an SDK module may import: the base dependencies (pyproject.toml)...
SDK_LIBRARIES = {"numpy", "ai_edge_litert", "flatbuffers", "PIL", "yaml", "cryptography"}
# ... and the optional backends, each imported only where its feature is used.
OPTIONAL_BACKENDS = {
    "onnxruntime": "ONNX bundles (onnx extra)",
    "onnxruntime_qnn": "the Qualcomm HTP backend (qnn extra)",
    "cv2": "faster resize and warp (fast extra)",
    "faiss": "FAISS gallery search (fast extra)",
    "av": "video files and streams (video extra)",
    "ray": "live feeds on a Ray cluster (scale extra)",
    "pymilvus": "galleries in Milvus (milvus extra)",
    "milvus_lite": "Milvus Lite, the embedded Milvus (milvus extra)",
    "skimage": "the photo faces of the synthetic feed source",
}
# Libraries of the toolchain and of the CLI: never loaded by an SDK module.
TOOLCHAIN_LIBRARIES = ("tensorflow", "keras", "tf_keras", "tensorflow_model_optimization", "tf2onnx",
                       "onnx", "onnx2tf", "onnxslim", "onnxsim", "onnx_graphsurgeon", "torch", "qai_hub",
                       "matplotlib", "scipy", "psutil", "typer", "rich")

# SDK -> toolchain imports still to be removed, as (module, target): none left since the
# presets moved to the model cards (issue 15, section 2); any break fails this test.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()

# the light-import check that `import edgeface` and `edgeface --help` have always had
HEAVY = ("tensorflow", "onnx", "qai_hub", "keras", "torch", "onnxruntime")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sdk_modules() -> dict[str, Path]:
    modules = {module_name(path): path for path in PACKAGE.glob("*.py")}
    for package in SDK_PACKAGES:
        folder = ROOT / Path(*package.split("."))
        modules.update({module_name(path): path for path in folder.rglob("*.py")})
    return dict(sorted(modules.items()))


def package_of(path: Path) -> str:
    """The package a module's relative imports start from."""
    return module_name(path if path.name == "__init__.py" else path.parent)


def imports_of(source: str, package: str) -> set[str]:
    """Every module an import statement anywhere in ``source`` names (``from a import b``
    gives ``a`` and ``a.b``: b may be a submodule); relative imports resolved from ``package``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x (level 1) starts at package, from .. at its parent
                parts = package.split(".")
                anchor = parts[:len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def layering_breaks(module: str, imported: set[str]) -> list[str]:
    """The imports of an SDK module that break the rule, as ``module -> import`` lines."""
    breaks = []
    for name in sorted(imported):
        top = name.split(".")[0]
        first_party = top == "edgeface"
        if first_party and within(name, TOOLCHAIN_PACKAGES + CLI_PACKAGES):
            if not any(module == m and within(name, (target,)) for m, target in KNOWN_EXCEPTIONS):
                breaks.append(f"{module} -> {name} (toolchain/CLI package)")
        elif not first_party and top not in sys.stdlib_module_names and top != "__future__" \
                and top not in SDK_LIBRARIES and top not in OPTIONAL_BACKENDS:
            breaks.append(f"{module} -> {name} (not an SDK dependency or optional backend)")
    return breaks


def test_every_subpackage_is_on_one_side():
    packages = {module_name(p.parent) for p in PACKAGE.glob("*/__init__.py")}
    packages |= {"edgeface.converters", "edgeface.quantization", "edgeface.device_profiles"}
    sides = (SDK_PACKAGES, TOOLCHAIN_PACKAGES, CLI_PACKAGES)
    unplaced = sorted(p for p in packages if sum(p in side for side in sides) != 1)
    assert not unplaced, f"put each package in exactly one of the sets above: {unplaced}"


def test_toolchain_libraries_are_not_sdk_dependencies():
    assert not set(TOOLCHAIN_LIBRARIES) & (SDK_LIBRARIES | set(OPTIONAL_BACKENDS))


def test_the_checker_sees_lazy_relative_and_submodule_imports():
    source = ("import numpy\n"
              "def train():\n    import tensorflow as tf\n"
              "class A:\n    def f(self):\n        from edgeface import train\n"
              "from ..models import blazeface\n")
    imported = imports_of(source, "edgeface.decoders")
    assert {"tensorflow", "edgeface.train", "edgeface.models.blazeface"} <= imported
    breaks = layering_breaks("edgeface.decoders.ssd", imported)
    assert breaks == ["edgeface.decoders.ssd -> edgeface.models (toolchain/CLI package)",
                      "edgeface.decoders.ssd -> edgeface.models.blazeface (toolchain/CLI package)",
                      "edgeface.decoders.ssd -> edgeface.train (toolchain/CLI package)",
                      "edgeface.decoders.ssd -> tensorflow (not an SDK dependency or optional backend)"]
    # the presets' former exception is a break again
    assert layering_breaks("edgeface.decoders.presets", {"edgeface.models.blazeface"}) == [
        "edgeface.decoders.presets -> edgeface.models.blazeface (toolchain/CLI package)"]


def test_sdk_modules_import_no_toolchain_package():
    modules = sdk_modules()
    assert {"edgeface.analyzer", "edgeface.bundle", "edgeface.decoders.ssd", "edgeface.runtime.litert",
            "edgeface.video.tracker"} <= set(modules)
    assert not any(within(m, TOOLCHAIN_PACKAGES + CLI_PACKAGES) for m in modules)
    breaks = [line for module, path in modules.items()
              for line in layering_breaks(module, imports_of(path.read_text(encoding="utf-8"), package_of(path)))]
    assert breaks == [], "SDK modules must not import the toolchain (docs/architecture.md):\n" + "\n".join(breaks)


def test_known_exceptions_still_exist():
    """An exception that was fixed is taken off the list, so that it cannot come back."""
    modules = sdk_modules()
    for module, target in KNOWN_EXCEPTIONS:
        imported = imports_of(modules[module].read_text(encoding="utf-8"), package_of(modules[module]))
        assert any(within(name, (target,)) for name in imported), f"{module} no longer imports {target}"


def loaded_after(code: str, names) -> list[str]:
    """Which of ``names`` a fresh interpreter has in sys.modules after running ``code``."""
    check = f"{code}\nimport sys\nprint([m for m in {tuple(names)!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import edgeface",
    "import edgeface; edgeface.FaceAnalyzer",
    "import sys; sys.argv = ['edgeface', '--help']\nfrom edgeface.cli import main\ntry:\n    main()\n"
    "except SystemExit:\n    pass",
])
def test_import_stays_light(code):
    assert loaded_after(code, HEAVY) == []


def test_importing_every_sdk_module_loads_no_toolchain():
    reached_through_exceptions = {".".join(target.split(".")[:2]) for _, target in KNOWN_EXCEPTIONS}
    toolchain = [p for p in TOOLCHAIN_PACKAGES + CLI_PACKAGES if p not in reached_through_exceptions]
    code = f"import importlib\nfor name in {list(sdk_modules())!r}:\n    importlib.import_module(name)"
    assert loaded_after(code, TOOLCHAIN_LIBRARIES + tuple(toolchain)) == []
