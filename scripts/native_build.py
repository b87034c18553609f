"""Builds edgeface's native runtime (native/) for the test suite: CMake trees inside the
clone, cached between runs, linked against the libLiteRt.so of the venv's ai_edge_litert:

    native/build/release   optimised, what the bindings load
    native/build/asan      AddressSanitizer + UndefinedBehaviorSanitizer, for the C++ tests
    native/build/aarch64   cross-compiled for arm64 Linux against the aarch64 wheel's
                           libLiteRt.so (native/build/aarch64-litert), its tests run under
                           qemu (native/cmake/run-aarch64.sh)
    native/build/android-clang
                           native/android's CMake entry (what Gradle's NDK build runs)
                           built with clang for arm64 Linux: the NDK's compiler and ABI,
                           where this machine has no NDK

scripts/dev.py calls ``prepare`` before the test suite; tests/test_native.py calls
``build`` (incremental) and runs each tree's ctest. The compilers and libraries come from
Debian packages: as root they are installed with apt-get, otherwise ``NativeUnavailable``
names the packages to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"
TREES = {
    "release": ["-DCMAKE_BUILD_TYPE=Release"],
    "asan": ["-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DEDGEFACE_SANITIZE=ON"],
}
# Debian package -> how to tell it is installed
PACKAGES = {
    "cmake": lambda: shutil.which("cmake"),
    "ninja-build": lambda: shutil.which("ninja"),
    "g++": lambda: shutil.which("g++"),
    "nlohmann-json3-dev": lambda: glob.glob("/usr/share/cmake/nlohmann_json/*Config.cmake")
    or glob.glob("/usr/lib/*/cmake/nlohmann_json/*Config.cmake"),
    "libgtest-dev": lambda: glob.glob("/usr/lib/*/cmake/GTest/GTestConfig.cmake"),
    "openjdk-17-jdk-headless": lambda: shutil.which("javac"),  # the Java binding (native/java)
}


# The arm64 tree's cross toolchain and emulator (Debian packages), as PACKAGES
CROSS_PACKAGES = {
    "g++-aarch64-linux-gnu": lambda: shutil.which("aarch64-linux-gnu-g++"),
    "qemu-user": lambda: shutil.which("qemu-aarch64"),
}


# The android-clang tree's compiler (the NDK's is clang too)
CLANG_PACKAGES = {"clang": lambda: shutil.which("clang++")}


class NativeUnavailable(Exception):
    """The native build cannot run here (packages missing and no way to install them)."""


def missing_packages(packages: dict = PACKAGES) -> list[str]:
    return [name for name, installed in packages.items() if not installed()]


def ensure_packages(packages: dict = PACKAGES) -> None:
    """Install the missing build packages with apt-get when root; else NativeUnavailable."""
    missing = missing_packages(packages)
    if not missing:
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NativeUnavailable(f"the native build needs the Debian packages {' '.join(missing)}: "
                                f"sudo apt-get install {' '.join(missing)}")
    print(f"installing {' '.join(missing)} for the native build ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def litert_library(python: str | Path = sys.executable) -> Path:
    """libLiteRt.so inside ``python``'s ai_edge_litert package (found without importing it)."""
    found = subprocess.run([str(python), "-c", "import importlib.util as u; "
                            "print(u.find_spec('ai_edge_litert').submodule_search_locations[0])"],
                           capture_output=True, text=True)
    library = Path(found.stdout.strip() or ".") / "libLiteRt.so"
    if found.returncode or not library.is_file():
        raise NativeUnavailable(f"{python} has no ai_edge_litert with libLiteRt.so: run python3 scripts/dev.py setup")
    return library


def java_home() -> Path:
    """The JDK that ``javac`` on the PATH belongs to (CMake's FindJNI does not look there)."""
    javac = shutil.which("javac")
    return Path(os.path.realpath(javac)).parent.parent if javac else Path("/usr/lib/jvm/default-java")


def jobs() -> str:
    """Parallel compile jobs: EDGEFACE_NATIVE_JOBS, else every core in CI and one elsewhere
    (a shared development machine)."""
    return os.environ.get("EDGEFACE_NATIVE_JOBS") or str(os.cpu_count() if os.environ.get("CI") == "true" else 1)


def build(python: str | Path = sys.executable) -> dict[str, Path]:
    """Configure and build both trees (incrementally); returns {tree name: build folder}.
    A failing step raises subprocess.CalledProcessError with its output."""
    ensure_packages()
    library = litert_library(python)
    trees = {}
    for name, options in TREES.items():
        tree = NATIVE / "build" / name
        _run(["cmake", "-S", str(NATIVE), "-B", str(tree), "-G", "Ninja", f"-DEDGEFACE_LITERT_LIBRARY={library}",
              f"-DJAVA_HOME={java_home()}", *options])
        _run(["cmake", "--build", str(tree), "-j", jobs()])
        trees[name] = tree
    return trees


def build_aarch64(python: str | Path = sys.executable) -> Path:
    """Configure and build the arm64 tree (incrementally); its tests run under qemu, in a
    private mount namespace that needs root."""
    if os.name != "posix" or os.geteuid() != 0:
        raise NativeUnavailable("the arm64 tests run under qemu with a bind-mounted /proc/cpuinfo, which needs root")
    ensure_packages(PACKAGES)
    ensure_packages(CROSS_PACKAGES)
    tree = NATIVE / "build" / "aarch64"
    _run(["cmake", "-S", str(NATIVE), "-B", str(tree), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
          f"-DCMAKE_TOOLCHAIN_FILE={NATIVE / 'cmake' / 'aarch64-linux-gnu.cmake'}",
          f"-DEDGEFACE_LITERT_LIBRARY={aarch64_litert(python)}"])
    _run(["cmake", "--build", str(tree), "-j", jobs()])
    return tree


def build_android_entry(python: str | Path = sys.executable) -> Path:
    """Configure and build native/android/src/main/cpp (incrementally) with clang for arm64
    Linux; returns the tree. nlohmann-json comes from the Debian package, copied into a
    folder of its own (the entry's EDGEFACE_JSON_INCLUDE_DIR, as a Gradle user may give);
    jni.h from the host JDK (the same on every Linux; FindJNI also wants a libjvm, which
    nothing links)."""
    ensure_packages(PACKAGES)
    ensure_packages(CROSS_PACKAGES)
    ensure_packages(CLANG_PACKAGES)
    json = NATIVE / "build" / "android-json"
    if not (json / "nlohmann" / "json.hpp").is_file():
        shutil.copytree("/usr/include/nlohmann", json / "nlohmann", dirs_exist_ok=True)
    jdk = java_home()
    tree = NATIVE / "build" / "android-clang"
    _run(["cmake", "-S", str(NATIVE / "android" / "src" / "main" / "cpp"), "-B", str(tree), "-G", "Ninja",
          f"-DCMAKE_TOOLCHAIN_FILE={NATIVE / 'cmake' / 'clang-aarch64-linux-gnu.cmake'}",
          f"-DEDGEFACE_JSON_INCLUDE_DIR={json}", f"-DEDGEFACE_LITERT_LIBRARY={aarch64_litert(python)}",
          f"-DJAVA_INCLUDE_PATH={jdk / 'include'}", f"-DJAVA_INCLUDE_PATH2={jdk / 'include' / 'linux'}",
          f"-DJAVA_JVM_LIBRARY={jdk / 'lib' / 'server' / 'libjvm.so'}"])
    _run(["cmake", "--build", str(tree), "-j", jobs()])
    return tree


def aarch64_litert(python: str | Path) -> Path:
    """libLiteRt.so of the aarch64 ai-edge-litert wheel of the venv's version, fetched with
    pip from the package index once (the wheel's tag says glibc 2.27, its library needs
    2.34, which Debian 12's cross libc has)."""
    version = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('ai-edge-litert'))"],
                             capture_output=True, text=True).stdout.strip()
    if not version:
        raise NativeUnavailable(f"{python} has no ai-edge-litert: run python3 scripts/dev.py setup")
    cache = NATIVE / "build" / "aarch64-litert" / version
    library = cache / "libLiteRt.so"
    if library.is_file():
        return library
    cache.mkdir(parents=True, exist_ok=True)
    _run([str(python), "-m", "pip", "download", "-q", f"ai-edge-litert=={version}", "--platform",
          "manylinux_2_27_aarch64", "--only-binary=:all:", "--no-deps", "-d", str(cache)])
    import zipfile

    (wheel,) = cache.glob("ai_edge_litert-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read("ai_edge_litert/libLiteRt.so")
    partial = library.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(library)
    wheel.unlink()
    return library


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def prepare(python: str | Path) -> None:
    """scripts/dev.py's step: build every tree, saying in one line why not when it cannot."""
    for what, step in (("native", build), ("arm64", build_aarch64), ("Android entry", build_android_entry)):
        try:
            step(python)
        except NativeUnavailable as exc:
            print(f"skipping the {what} build: {exc}", flush=True)
        except subprocess.CalledProcessError as exc:
            print(f"the {what} build failed ({' '.join(map(str, exc.cmd[:3]))} ...); tests/test_native*.py show why",
                  flush=True)


if __name__ == "__main__":
    prepare(sys.argv[1] if len(sys.argv) > 1 else sys.executable)
