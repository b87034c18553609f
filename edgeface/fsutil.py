"""Atomic file writes: a reader sees the old file or the new one, never half of one.
Also the locks that serialise writers (of one file, or of the entries of one directory),
and an atomic exchange of two paths, which replaces a whole directory that way."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, mode: int = 0o666) -> None:
    """Write ``path`` through ``write(fileobj)`` to a temporary file, fsync, then rename.

    A process killed at any point leaves either the previous file or the complete new
    one, because ``os.replace`` is atomic within a directory on POSIX and Windows. The
    file gets ``mode`` less the umask, as ``open()`` would create it (0o600 for private data).
    A killed writer can leave its temporary file behind: see ``remove_stale_temp_files``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp, mode & ~current_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@lru_cache(maxsize=1)
def current_umask() -> int:
    """The process umask (read by setting and restoring it, once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically: the writer of every Markdown report."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, *, indent: int = 2,
               default: Callable[[Any], Any] | None = None) -> None:
    """Write ``data`` as JSON with a final newline, atomically: the one writer of every
    report and record. The document is serialised before the file is touched, so a value
    JSON cannot hold raises and leaves the previous file as it was."""
    atomic_write_bytes(path, (json.dumps(data, indent=indent, default=default) + "\n").encode())


def remove_stale_temp_files(path: str | Path) -> int:
    """Delete the temporary files that killed ``atomic_write(path, ...)`` calls left; return
    how many went.

    Call it only while holding ``writer_lock(path)`` in a program whose every writer of
    ``path`` holds that lock: then no live writer is filling one of these files. Only
    names ``atomic_write`` makes for exactly this path match (``.NAME.XXXXXXXX.tmp``). A
    file that cannot be deleted is left (on Windows, one still open by a writer).
    """
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + _TEMP_RANDOM + re.escape(_TEMP_SUFFIX))
    removed = 0
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return 0
    for name in names:
        if pattern.fullmatch(name):
            try:
                (path.parent / name).unlink(missing_ok=True)
            except OSError:
                continue
            removed += 1
    return removed


def lock_path(path: str | Path) -> Path:
    """The sidecar file ``writer_lock`` locks for ``path``: ``.NAME.lock`` next to it."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock for writing ``path``, blocking until it is free.

    The lock is ``fcntl.flock`` on the sidecar ``lock_path(path)`` (created 0600 and never
    deleted: deleting it would let two writers lock two different files). The kernel
    releases it when the holder exits, killed or not, so a crash never leaves it held.
    It is advisory: it serialises only writers that take it. Where there is no fcntl
    (Windows) this is a no-op: writes stay atomic, but concurrent writers are not serialised.
    On network filesystems it is as reliable as their flock emulation.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_flock(lock_path(path), os.O_RDWR | os.O_CREAT):
        yield


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def exchange_paths(a: str | Path, b: str | Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``),
    so that at every instant each name refers to one whole entry. False where the C
    library, kernel or filesystem cannot do it: the caller falls back to two renames."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


@lru_cache(maxsize=1)
def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc >= 2.28 (musl, macOS)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


@contextlib.contextmanager
def directory_lock(directory: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` itself (no lock file is left behind):
    cooperating processes that replace entries of it take turns. A no-op where ``flock``
    does not exist (Windows)."""
    with _exclusive_flock(Path(directory), os.O_RDONLY):
        yield


@contextlib.contextmanager
def _exclusive_flock(path: Path, flags: int) -> Iterator[None]:
    """``flock(LOCK_EX)`` on ``path`` opened with ``flags`` (created 0600), held until the
    block ends; the kernel also releases it when the holder dies. No-op without fcntl."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
