"""The gallery's journal, ``<gallery>.journal``: every enrolment and removal since the
base file was last written, appended and fsync'd before the call that made it returns, so
that a change costs one small write instead of a rewrite of the whole gallery.

    b"EFJOURNAL1\\n"                       magic
    32 ASCII hex digits, b"\\n"            the journal id
    records, one after another:
      uint32 little-endian L               length of the body
      body (L bytes)                       uint8 op, then by op:
        1 enroll                           uint16 n, name (n bytes UTF-8), uint32 rows,
                                           rows x dim float32 little-endian (unit rows)
        2 remove                           uint16 n, name (n bytes UTF-8)
        3 embedder                         the fingerprint as JSON (UTF-8, to the end of the body)
      32 bytes                             sha256 of the id (ASCII), the four length bytes and the body

A journal applies only to the base file whose header names its id (base_file.py), from its
first record. Compaction writes a new base with a new id, then a new empty journal with
that id: a reader that finds a journal of another id (a compaction killed between the two
renames, or a base rewritten whole by a version-2 writer that had read the journal) ignores
it, because the base already holds its records.

A last record cut short or failing its sha256, or zero bytes to the end of the file, is a
write that was killed before it returned: readers stop before it and the next writer
truncates it. A record longer than MAX_BODY, or a bad record with more (not all zero)
bytes after it, is corruption, and an error naming the journal. A damaged length that
points past the end of the file cannot be told from a killed write: such a journal loses
the records after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeface.errors import GalleryError
from edgeface.fsutil import atomic_write
from edgeface.gallery.fileio import DTYPE, FILE_MODE, FIX, readinto_exact
from edgeface.gallery.fingerprint import EmbedderFingerprint, check_embedder_json
from edgeface.gallery.names import check_name, decode_name, encode_name

MAGIC = b"EFJOURNAL1\n"
HEAD_BYTES = len(MAGIC) + 33
ENROLL, REMOVE, EMBEDDER = 1, 2, 3
MAX_BODY = 1 << 28  # one enrolment of at most 256 MiB of templates (131,072 rows of 512 floats)
_DIGEST = 32


@dataclass(frozen=True)
class Record:
    op: int
    name: str = ""
    rows: np.ndarray | None = None
    embedder: EmbedderFingerprint | None = None


@dataclass(frozen=True)
class Replay:
    """What ``read_records`` found: the records from ``start`` on, the offset just after
    the last whole one, and whether bytes of a killed write follow it."""

    records: list[Record]
    end: int
    torn: bool


def journal_path(gallery: Path) -> Path:
    return gallery.with_name(gallery.name + ".journal")


def create_journal(gallery: Path, journal_id: str) -> None:
    """Start an empty journal with ``journal_id`` (atomically replacing any other)."""
    head = MAGIC + journal_id.encode("ascii") + b"\n"
    atomic_write(journal_path(gallery), lambda handle: handle.write(head), mode=FILE_MODE)


def read_records(gallery: Path, journal_id: str, start: int, dim: int) -> Replay | None:
    """The records from byte ``start`` (0: the first) of the journal beside ``gallery``, or
    None when there is none or it is another id's (see above)."""
    path = journal_path(gallery)
    try:
        with open(path, "rb", buffering=0) as f:
            head = f.read(HEAD_BYTES)
            if head != MAGIC + journal_id.encode("ascii") + b"\n":
                if not head.startswith(MAGIC) and len(head) >= len(MAGIC):
                    raise _bad(path, 0, "it does not start with the journal magic bytes")
                return None
            start = max(start, HEAD_BYTES)
            size = os.fstat(f.fileno()).st_size
            data = bytearray(max(0, size - start))
            f.seek(start)
            data = data[: readinto_exact(f, memoryview(data))]
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {FIX}") from None
    return _parse(path, journal_id.encode("ascii"), memoryview(data), start, dim)


def _parse(path: Path, jid: bytes, data: memoryview, start: int, dim: int) -> Replay:
    records, pos = [], 0
    while pos < len(data):
        if _killed_write(data[pos:]):
            return Replay(records, start + pos, True)
        (length,) = struct.unpack_from("<I", data, pos)
        if length > MAX_BODY:  # a killed write leaves a prefix of its bytes, never a wrong length
            raise _bad(path, start + pos, f"a record claims {length} bytes, more than any record holds")
        end = pos + 4 + length + _DIGEST
        if end > len(data):
            return Replay(records, start + pos, True)
        if hashlib.sha256(jid + data[pos : pos + 4 + length]).digest() != data[end - _DIGEST : end]:
            if end == len(data):
                return Replay(records, start + pos, True)
            raise _bad(path, start + pos, "a record does not match its sha256 and more records follow")
        records.append(_decode(path, start + pos, data[pos + 4 : pos + 4 + length], dim))
        pos = end
    return Replay(records, start + pos, False)


def _killed_write(rest: memoryview) -> bool:
    """Whether ``rest`` is what a write killed before it returned can leave: fewer bytes
    than a length, or zeros (a crash can leave a file's new size with unwritten blocks)."""
    return len(rest) < 4 or not any(rest)


def _decode(path: Path, offset: int, body: memoryview, dim: int) -> Record:
    """One record's body, checked: a journal is as untrusted as any file."""
    try:
        op = body[0]
        if op == EMBEDDER:
            return Record(op, embedder=check_embedder_json(json.loads(bytes(body[1:])), dim,
                                                           lambda why: ValueError(why)))
        (n,) = struct.unpack_from("<H", body, 1)
        name = decode_name(bytes(body[3 : 3 + n]))
        check_name(name)
        if op == REMOVE and len(body) == 3 + n:
            return Record(op, name)
        if op == ENROLL:
            (count,) = struct.unpack_from("<I", body, 3 + n)
            rows = np.frombuffer(body, DTYPE, offset=7 + n).reshape(-1, dim)
            if count >= 1 and len(rows) == count and np.isfinite(rows).all():
                return Record(op, name, rows.copy())
    except (IndexError, struct.error, ValueError, UnicodeDecodeError, GalleryError) as exc:
        raise _bad(path, offset, f"an unreadable record: {exc}") from None
    raise _bad(path, offset, "an unreadable record")


def _bad(path: Path, offset: int, reason: str) -> GalleryError:
    return GalleryError(f"{path} is not a valid gallery journal (byte {offset}: {reason}): {FIX}")


def enroll_record(journal_id: str, name: str, rows: np.ndarray) -> bytes:
    raw = encode_name(name)
    body = struct.pack("<BH", ENROLL, len(raw)) + raw + struct.pack("<I", len(rows))
    body += np.ascontiguousarray(rows, DTYPE).tobytes()
    if len(body) > MAX_BODY:
        raise GalleryError(f"cannot enroll {len(rows)} templates at once: at most {MAX_BODY // rows[0].nbytes} per call")
    return _framed(journal_id, body)


def remove_record(journal_id: str, name: str) -> bytes:
    raw = encode_name(name)
    return _framed(journal_id, struct.pack("<BH", REMOVE, len(raw)) + raw)


def embedder_record(journal_id: str, embedder: EmbedderFingerprint) -> bytes:
    return _framed(journal_id, bytes([EMBEDDER]) + json.dumps(embedder.to_json()).encode("ascii"))


def _framed(journal_id: str, body: bytes) -> bytes:
    head = struct.pack("<I", len(body))
    return head + body + hashlib.sha256(journal_id.encode("ascii") + head + body).digest()


def append(gallery: Path, at: int, records: bytes) -> int:
    """Write ``records`` at byte ``at`` (cutting off the bytes of a killed write there),
    fsync, and return the new end. The caller holds the gallery's writer lock."""
    path = journal_path(gallery)
    try:
        with open(path, "r+b", buffering=0) as f:
            f.truncate(at)
            f.seek(at)
            view = memoryview(records)
            while view:
                view = view[f.write(view):]
            os.fsync(f.fileno())
    except OSError as exc:
        raise GalleryError(f"cannot write {path}: {exc.strerror or exc}") from None
    return at + len(records)
