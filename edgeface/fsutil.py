"""Atomic file writes (a reader sees the old file or the new one, never half of one), and
an advisory lock that serialises the writers of one file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix


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
    if fcntl is None:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


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
