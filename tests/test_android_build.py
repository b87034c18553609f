"""native/android's CMake entry (what the Gradle module's NDK build runs) built here with
clang for arm64 Linux, the NDK's compiler and ABI, since this machine has no NDK: both
libraries come out as arm64 code, and every `native` method the Java API declares has its
JNI export (a missing one is an UnsatisfiedLinkError in the app, not a build error)."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.native_support import ROOT, build_android_tree, build_trees

pytestmark = pytest.mark.slow
JAVA_SOURCES = ROOT / "native" / "java" / "src" / "main" / "java" / "dev" / "edgeface"
EM_AARCH64 = 183


def jni_symbols_the_java_api_needs() -> set[str]:
    """Java_dev_edgeface_<Class>_<method> of each native method (no overloads, so no
    signature suffix)."""
    symbols = set()
    for source in JAVA_SOURCES.glob("*.java"):
        for method in re.findall(r"\bnative\s+[\w\[\]]+\s+(\w+)\s*\(", source.read_text()):
            symbols.add(f"Java_dev_edgeface_{source.stem}_{method}")
    return symbols


def exported(library: Path, nm: str = "nm") -> set[str]:
    listed = subprocess.run([nm, "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in listed.stdout.splitlines() if line.strip()}


def elf_machine(library: Path) -> int:
    return int.from_bytes(library.read_bytes()[18:20], "little")


def test_the_android_entry_builds_both_libraries_as_arm64_code():
    tree = build_android_tree()
    for library in (tree / "edgeface" / "src" / "core" / "libedgeface.so",
                    tree / "edgeface" / "src" / "jni" / "libedgeface_jni.so"):
        assert library.is_file(), f"{library} was not built"
        assert elf_machine(library) == EM_AARCH64, library


@pytest.mark.parametrize("tree", ["android-clang", "release"])
def test_every_native_method_of_the_java_api_has_its_jni_export(tree):
    if tree == "release":
        library, nm = build_trees()["release"] / "src" / "jni" / "libedgeface_jni.so", "nm"
    else:
        library, nm = build_android_tree() / "edgeface" / "src" / "jni" / "libedgeface_jni.so", "aarch64-linux-gnu-nm"
    needed = jni_symbols_the_java_api_needs()
    assert len(needed) >= 15, sorted(needed)
    missing = needed - exported(library, nm)
    assert not missing, f"{library} lacks {sorted(missing)}"
