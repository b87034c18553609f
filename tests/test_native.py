"""The native runtime (native/): its C++ test suites pass in the release and the
ASan/UBSan trees, the LiteRT functions it declares are exported by the libLiteRt.so it
links, and its inference gives the Python Interpreter's outputs bit for bit (the build:
tests/native_support.py)."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.native_support import ROOT, build_trees, native_build, unavailable

LITERT_API = ROOT / "native" / "src" / "core" / "litert_api.h"
EDGEFACE_H = ROOT / "native" / "include" / "edgeface.h"
FIXTURE = ROOT / "tests" / "fixtures" / "bundles" / "blob_blazeface"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trees() -> dict[str, Path]:
    return build_trees()


def declared_functions(header: str, prefix: str = "LiteRt") -> list[str]:
    """The functions named ``prefix...`` that a header declares (a name after a return
    type, followed by its parameter list)."""
    return re.findall(rf"^\s*(?:[\w*]+\s+)+\**({prefix}\w+)\(", header, re.MULTILINE)


def exported_functions(library: Path) -> set[str]:
    if not shutil.which("nm"):
        unavailable("nm (binutils) is not installed")
    listed = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[-1].split("@")[0] for line in listed.splitlines() if line.strip()}


def test_a_missing_native_build_skips_here_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no packages"):
        unavailable("no packages")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must build the native runtime: no packages"):
        unavailable("no packages")


def test_the_declaration_parser_finds_declarations_and_only_those():
    header = "typedef int LiteRtStatus;\nLiteRtStatus LiteRtRun(int a);\nvoid LiteRtDestroy(void* p);\n" \
             "const char* LiteRtName(int i);\n  // LiteRtComment(x)\n"
    assert declared_functions(header) == ["LiteRtRun", "LiteRtDestroy", "LiteRtName"]


def test_every_declared_litert_function_is_exported_by_the_linked_library():
    declared = declared_functions(LITERT_API.read_text())
    assert len(declared) >= 20, declared
    assert sorted(set(declared) - exported_functions(native_build.litert_library())) == []


def test_libedgeface_exports_exactly_the_functions_of_edgeface_h(trees):
    declared = set(declared_functions(EDGEFACE_H.read_text(), prefix="edgeface_"))
    assert len(declared) >= 10, declared
    exported = exported_functions(trees["release"] / "src" / "core" / "libedgeface.so")
    assert {name for name in exported if name.startswith("edgeface_")} == declared


@pytest.mark.parametrize("tree", sorted(native_build.TREES))
def test_the_cpp_test_suite_passes(trees, tree):
    ran = subprocess.run(["ctest", "--output-on-failure", "--timeout", "300"], cwd=trees[tree], capture_output=True,
                         text=True)
    assert ran.returncode == 0, f"ctest in native/build/{tree} failed:\n{ran.stdout[-20000:]}\n{ran.stderr[-5000:]}"
    assert re.search(r"100% tests passed, 0 tests failed out of [1-9]", ran.stdout), ran.stdout[-2000:]


def run_model(tool: list[str], model: Path, out: Path, image: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of ``edgeface_run_model`` (``tool``: its command line) on one input, by name."""
    (out / "input.bin").write_bytes(image.tobytes())
    ran = subprocess.run([*tool, str(model), str(out), str(out / "input.bin")], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    names = dict(line.split(" ", 1) for line in ran.stdout.splitlines())
    return {name: np.frombuffer((out / f"{index}.bin").read_bytes(), np.float32) for index, name in names.items()}


def python_outputs(model: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A seeded input of the model and the Python Interpreter's outputs for it, by name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    (spec,) = interpreter.get_input_details()
    image = np.random.default_rng(7).uniform(-1, 1, spec["shape"]).astype(np.float32)
    interpreter.set_tensor(spec["index"], image)
    interpreter.invoke()
    return image, {o["name"]: interpreter.get_tensor(o["index"]).reshape(-1) for o in interpreter.get_output_details()}


@pytest.mark.parametrize("model", ["detector.tflite", "embedder.tflite"])  # the embedder's batch is dynamic
def test_cpp_inference_gives_the_python_interpreters_outputs_bit_for_bit(trees, tmp_path, model):
    image, python = python_outputs(FIXTURE / model)
    native = run_model([str(trees["release"] / "tests" / "core" / "edgeface_run_model")], FIXTURE / model, tmp_path,
                       image)
    assert sorted(native) == sorted(python)
    for name, values in native.items():
        assert values.tobytes() == python[name].tobytes(), name


def test_without_root_a_missing_package_is_named_in_one_line(monkeypatch):
    monkeypatch.setitem(native_build.PACKAGES, "libgtest-dev", lambda: [])
    monkeypatch.setattr(native_build.os, "geteuid", lambda: 1000)
    with pytest.raises(native_build.NativeUnavailable, match=r"sudo apt-get install libgtest-dev$"):
        native_build.ensure_packages()


def test_as_root_missing_packages_are_installed_with_apt_get(monkeypatch):
    monkeypatch.setitem(native_build.PACKAGES, "libgtest-dev", lambda: [])
    monkeypatch.setattr(native_build.os, "geteuid", lambda: 0)
    monkeypatch.setattr(native_build.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls = []
    monkeypatch.setattr(native_build.subprocess, "run", lambda command, **kw: calls.append((command, kw["env"])))
    native_build.ensure_packages()
    assert calls[-1][0][:2] == ["apt-get", "install"] and calls[-1][0][-1] == "libgtest-dev"
    assert all(env["DEBIAN_FRONTEND"] == "noninteractive" for _, env in calls)
