"""Byte-level helpers the gallery's file readers and writers share."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgeface.errors import GalleryError

FIX = "re-enroll, or restore from backup"
FILE_MODE = 0o600  # templates are biometric data
LEN_BYTES = 8
ALIGN = 64
DTYPE = np.dtype("<f4")
CHUNK_BYTES = 1 << 24  # rows are copied, hashed and written 16 MiB at a time


def invalid(path: Path, reason: str) -> GalleryError:
    return GalleryError(f"{path} is not a valid gallery file ({reason}): {FIX}")


def aligned(offset: int) -> int:
    return offset + (-offset % ALIGN)


def stamp_of(head: bytes) -> str:
    """Identify a gallery base file's content by its magic, length and header: the header's
    sha256 pins the rest, so two files with one head hold one gallery."""
    return hashlib.sha256(head).hexdigest()


def read_exact(f: Any, n: int) -> bytes:
    buf = bytearray(n)
    got = readinto_exact(f, memoryview(buf))
    return bytes(buf[:got])


def readinto_exact(f: Any, view: memoryview) -> int:
    """Fill ``view`` from an unbuffered file (raw reads may return short); return bytes read."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def row_step(dim: int) -> int:
    """How many rows of ``dim`` floats make one CHUNK_BYTES block."""
    return max(1, CHUNK_BYTES // (dim * DTYPE.itemsize))


MAGIC_V1 = b"EFGALLERY1\n"  # read only: its sha256 covers the templates, not the header
MAGIC_V2 = b"EFGALLERY2\n"  # read only since version 3: one flat file, rewritten whole per save
MAGIC_V3 = b"EFGALLERY3\n"  # the base file beside the journal (base_file.py)
MAGICS = (MAGIC_V1, MAGIC_V2, MAGIC_V3)


def read_head(f: Any, size: int, path: Path) -> tuple[bytes, bytes]:
    """Magic with length, and the raw JSON header, of the gallery file open (unbuffered) as ``f``."""
    lead = f.read(len(MAGIC_V3) + LEN_BYTES)
    if lead[: len(MAGIC_V3)] not in MAGICS:
        raise invalid(path, "it does not start with the gallery magic bytes")
    if len(lead) < len(MAGIC_V3) + LEN_BYTES:
        raise invalid(path, "truncated header")
    header_len = int.from_bytes(lead[len(MAGIC_V3) :], "little")
    if header_len > size - len(lead):
        raise invalid(path, "truncated header")
    return lead, read_exact(f, header_len)


def parse_json_header(raw: bytes, bad: Any) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    return header


def is_count(x: Any) -> bool:
    """A non-negative JSON integer (bool is not one)."""
    return type(x) is int and x >= 0
