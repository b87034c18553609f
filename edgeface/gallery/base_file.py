"""The gallery's base file, version 3: everything up to the last compaction, laid out so
that opening it maps it into memory instead of reading it (a 1M x 512 gallery is 2 GB).

    b"EFGALLERY3\\n"                      magic
    uint64 little-endian                  length of the JSON header in bytes
    JSON header (ASCII)                   see below
    zero padding                          up to a 64-byte boundary
    float32 little-endian (count, dim)    templates, grouped by identity in identity order
    zero padding                          up to a 64-byte boundary
    int64 little-endian (identities)      template count of each identity (all > 0)
    int64 little-endian (identities)      end offset of each identity's name in the names
    names                                 the names, UTF-8, one after another

Header fields, all required but ``embedder``: ``dim``, ``count`` (templates),
``identities``, ``journal`` (32 hex digits: the id of the journal whose records apply on
top of this file, see journal.py), ``chunk_rows`` (rows per template chunk),
``templates_sha256`` (the sha256 of each chunk of ``chunk_rows`` rows, the last one
shorter), ``tables_sha256`` (over the two int64 tables and the names), ``embedder`` (the
fingerprint of the model that made the templates, as in version 2) and ``sha256``: over the
magic and the canonical JSON (sorted keys, no spaces) of every other field.

Opening checks the header, the layout against the file size, the tables (their sha256,
counts adding up, names in bounds) and maps the file; the templates' chunk hashes are
checked on a background thread (``TemplateCheck``), so that a 2 GB file opens in
milliseconds and a corrupt one is still refused: every gallery operation after the check
failed raises, and ``Gallery.verify()`` waits for it.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.errors import GalleryError
from edgeface.gallery.fileio import (
    DTYPE, FILE_MODE, FIX, LEN_BYTES, MAGIC_V3, aligned, invalid, is_count, parse_json_header, row_step, stamp_of,
)
from edgeface.gallery.fingerprint import EmbedderFingerprint, check_embedder_json, is_hex64
from edgeface.gallery.names import encode_name
from edgeface.fsutil import atomic_write

_FIELDS = {"dim", "count", "identities", "journal", "chunk_rows", "templates_sha256", "tables_sha256", "sha256"}
_INT64 = np.dtype("<i8")


@dataclass
class BaseFile:
    """A mapped, checked version-3 file. ``templates`` is a read-only view of the map."""

    path: Path
    dim: int
    templates: np.ndarray  # (count, dim) float32
    counts: np.ndarray  # (identities,) int64
    name_ends: np.ndarray  # (identities,) int64
    names: memoryview  # the names section
    embedder: EmbedderFingerprint | None
    journal: str
    stamp: str
    check: TemplateCheck

    def name(self, identity: int) -> str:
        start = int(self.name_ends[identity - 1]) if identity else 0
        raw = bytes(self.names[start : int(self.name_ends[identity])])
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise invalid(self.path, f"identity {identity}'s name is not UTF-8") from None


def new_journal_id() -> str:
    return os.urandom(16).hex()


def is_journal_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def write_base(path: Path, *, dim: int, names: list[str], counts: np.ndarray,
               rows: Callable[[int, int], np.ndarray], embedder: EmbedderFingerprint | None,
               journal: str) -> str:
    """Write a version-3 file atomically (mode 0600): identity ``i`` is ``names[i]`` with
    ``counts[i]`` rows, ``rows(start, stop)`` gives the templates in file order. Returns
    the file's stamp. One pass over the rows: the header's length does not depend on the
    digests it holds, so the data is written first and the header last."""
    counts = np.asarray(counts, _INT64)
    count = int(counts.sum())
    blob = b"".join(encode_name(n) for n in names)
    name_ends = np.cumsum([len(encode_name(n)) for n in names], dtype=np.int64).astype(_INT64)
    tables = counts.tobytes() + name_ends.tobytes() + blob
    chunk_rows = row_step(dim)
    chunks = -(-count // chunk_rows)
    fields: dict[str, Any] = {
        "dim": dim, "count": count, "identities": len(names), "journal": journal, "chunk_rows": chunk_rows,
        "templates_sha256": ["0" * 64] * chunks, "tables_sha256": hashlib.sha256(tables).hexdigest(),
    }
    if embedder is not None:
        fields["embedder"] = embedder.to_json()
    data_start = aligned(len(MAGIC_V3) + LEN_BYTES + len(_header_bytes(fields)))
    tables_start = aligned(data_start + count * dim * DTYPE.itemsize)
    head_holder: list[bytes] = []

    def write(handle: Any) -> None:
        handle.seek(data_start)
        for chunk, start in enumerate(range(0, count, chunk_rows)):
            block = np.ascontiguousarray(rows(start, min(count, start + chunk_rows)), DTYPE)
            data = memoryview(block.reshape(-1).view(np.uint8))
            fields["templates_sha256"][chunk] = hashlib.sha256(data).hexdigest()
            handle.write(data)
        handle.write(b"\0" * (tables_start - handle.tell()))
        handle.write(tables)
        header = _header_bytes(fields)
        head = MAGIC_V3 + len(header).to_bytes(LEN_BYTES, "little") + header
        handle.seek(0)
        handle.write(head + b"\0" * (data_start - len(head)))
        head_holder.append(head)

    atomic_write(path, write, mode=FILE_MODE)
    return stamp_of(head_holder[0])


def _header_bytes(fields: dict) -> bytes:
    """The header with its sha256: the same length whatever the digests it holds."""
    return json.dumps({**fields, "sha256": _header_digest(fields)}).encode("ascii")


def _header_digest(fields: dict) -> str:
    covered = {k: v for k, v in fields.items() if k != "sha256"}
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(MAGIC_V3 + len(canonical).to_bytes(LEN_BYTES, "little") + canonical).hexdigest()


def read_base(f: Any, size: int, lead: bytes, raw: bytes, path: Path) -> BaseFile:
    """Map and check the version-3 file open (unbuffered) as ``f``, whose head ``read_head``
    read; start the background check of its templates."""

    def bad(reason: str) -> GalleryError:
        return invalid(path, reason)

    header = _parse_header(raw, bad)
    dim, count, identities = header["dim"], header["count"], header["identities"]
    data_start = aligned(len(lead) + len(raw))
    tables_start = aligned(data_start + count * dim * DTYPE.itemsize)
    names_start = tables_start + 2 * identities * _INT64.itemsize
    if size < names_start:
        raise bad(f"{size} bytes, fewer than the header's {count} templates and {identities} identities need")
    try:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except (OSError, ValueError) as exc:
        raise GalleryError(f"cannot map {path}: {exc}: {FIX}") from None
    whole = memoryview(mapped)
    if any(whole[len(lead) + len(raw) : data_start]) or any(whole[data_start + count * dim * 4 : tables_start]):
        raise bad("non-zero padding")
    if hashlib.sha256(whole[tables_start:]).hexdigest() != header["tables_sha256"]:
        raise bad("identity tables do not match their sha256; the file is corrupt or was edited")
    counts = np.frombuffer(whole, _INT64, identities, tables_start)
    name_ends = np.frombuffer(whole, _INT64, identities, tables_start + identities * _INT64.itemsize)
    names = whole[names_start:]
    _check_tables(counts, name_ends, len(names), count, bad)
    templates = np.frombuffer(whole, DTYPE, count * dim, data_start).reshape(count, dim)
    check = TemplateCheck(path, os.dup(f.fileno()), data_start, count, header["chunk_rows"], dim,
                          header["templates_sha256"])
    embedder = check_embedder_json(header["embedder"], dim, bad) if "embedder" in header else None
    return BaseFile(path, dim, templates, counts, name_ends, names, embedder, header["journal"],
                    stamp_of(lead + raw), check)


def _parse_header(raw: bytes, bad: Any) -> dict:
    header = parse_json_header(raw, bad)
    if set(header) - {"embedder"} != _FIELDS:
        raise bad(f"header fields must be exactly {', '.join(sorted(_FIELDS))} and optionally embedder")
    if header["sha256"] != _header_digest(header):
        raise bad("header does not match its sha256; the file is corrupt or was edited")
    dim, count, identities, rows = (header[k] for k in ("dim", "count", "identities", "chunk_rows"))
    if not (is_count(dim) and dim > 0 and is_count(count) and is_count(identities) and is_count(rows) and rows > 0):
        raise bad("dim, count, identities or chunk_rows invalid")
    hashes = header["templates_sha256"]
    if not (isinstance(hashes, list) and len(hashes) == -(-count // rows) and all(map(is_hex64, hashes))):
        raise bad("templates_sha256 must hold one sha256 per chunk of chunk_rows templates")
    if not (is_hex64(header["tables_sha256"]) and is_journal_id(header["journal"])):
        raise bad("tables_sha256 or journal invalid")
    return header


def _check_tables(counts: np.ndarray, name_ends: np.ndarray, names_len: int, count: int, bad: Any) -> None:
    if len(counts) and (counts.min() < 1 or int(counts.sum()) != count):
        raise bad("identity template counts must be positive and add up to count")
    if len(name_ends) and (name_ends[0] < 1 or (np.diff(name_ends) < 1).any() or name_ends[-1] != names_len):
        raise bad("identity name offsets must rise and end at the end of the file")
    if not len(name_ends) and names_len:
        raise bad("bytes after the identity tables")


class TemplateCheck:
    """Hashes a base file's template chunks in the background; ``raise_if_failed`` is
    cheap and raises once a chunk did not match, ``wait`` blocks until all are checked.
    One daemon thread serves every check of the process (starting a thread per open cost
    more than the rest of opening). It reads the file with pread rather than through the
    map: a file truncated in place by another program then fails its check instead of
    killing the process with SIGBUS."""

    _queue: queue.SimpleQueue | None = None
    _queue_lock = threading.Lock()

    def __init__(self, path: Path, fd: int, start: int, count: int, chunk_rows: int, dim: int, digests: list[str]):
        self._path, self._fd, self._start, self._digests = path, fd, start, digests
        self._size = count * dim * DTYPE.itemsize
        self._rows, self._chunk = chunk_rows, chunk_rows * dim * DTYPE.itemsize
        self._error: str | None = None
        self._done = threading.Event()
        self._worker_queue().put(self)

    @classmethod
    def _worker_queue(cls) -> queue.SimpleQueue:
        with cls._queue_lock:
            if cls._queue is None:
                cls._queue = queue.SimpleQueue()
                threading.Thread(target=cls._serve, args=(cls._queue,), name="edgeface-gallery-check",
                                 daemon=True).start()
        return cls._queue

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        while True:
            check = jobs.get()
            try:
                check._run()
            finally:
                check._done.set()

    def _run(self) -> None:
        try:
            for i, expected in enumerate(self._digests):
                want = min(self._chunk, self._size - i * self._chunk)
                chunk = os.pread(self._fd, want, self._start + i * self._chunk)
                if len(chunk) != want or hashlib.sha256(chunk).hexdigest() != expected:
                    last = min((i + 1) * self._chunk, self._size) // (self._chunk // self._rows) - 1
                    self._error = (f"templates {i * self._rows} to {last} do not match their "
                                   "sha256; the file is corrupt or was edited")
                    return
        except OSError as exc:
            self._error = f"cannot read its templates ({exc.strerror or exc})"
        finally:
            os.close(self._fd)

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise invalid(self._path, self._error)

    def wait(self) -> None:
        self._done.wait()
        self.raise_if_failed()
