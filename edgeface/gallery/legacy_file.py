"""Reading the gallery files edgeface wrote before the journal: versions 1 and 2, one flat
file rewritten whole per save. They are still opened (read whole and checked); the first
change to such a gallery writes it as a version-3 base with a journal (see gallery.py).

Version 2 (``EFGALLERY2``):

    b"EFGALLERY2\\n"                      magic
    uint64 little-endian                  length of the JSON header in bytes
    JSON header (UTF-8)                   {"dim", "count", "names", "counts", ["embedder",] "sha256"}
    zero padding                          up to a 64-byte boundary
    float32 little-endian (count, dim)    templates, grouped by identity in header order

``sha256`` covers the magic, the other header fields (canonical JSON, ``content_digest``)
and the templates. Version 1 (``EFGALLERY1``) has the same layout, but its sha256 covers
only the templates and it records no embedder. The native core still writes version 2 (a
phone's gallery is small), and reads all three.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edgeface.errors import GalleryError
from edgeface.gallery.fileio import (
    ALIGN, CHUNK_BYTES, DTYPE, FIX, LEN_BYTES, MAGIC_V1, MAGIC_V2, invalid, is_count, parse_json_header,
    read_exact, readinto_exact, stamp_of,
)
from edgeface.gallery.fingerprint import check_embedder_json, is_hex64

_HEADER_FIELDS = ("dim", "count", "names", "counts")  # what the sha256 covers besides the templates


def content_digest(header: dict) -> Any:
    """A sha256 over the magic and the canonical JSON of the header fields (all but sha256
    itself), to be fed the templates next: what a version-2 header's sha256 covers."""
    covered = {k: header[k] for k in (*_HEADER_FIELDS, "embedder") if k in header}
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(MAGIC_V2)
    digest.update(len(canonical).to_bytes(LEN_BYTES, "little"))
    digest.update(canonical.encode("ascii"))
    return digest


def read_legacy_file(f: Any, size: int, lead: bytes, raw: bytes, path: Path) -> tuple[dict, np.ndarray, str]:
    """The rest of a version 1 or 2 file whose head ``read_head`` read from ``f``: its
    checked header (``embedder`` as an EmbedderFingerprint or None), templates and stamp."""

    def bad(reason: str) -> GalleryError:
        return invalid(path, reason)

    version1 = lead.startswith(MAGIC_V1)
    header = _parse_header(raw, bad, strict=not version1)
    start = len(lead) + len(raw)
    data_start = start + (-start % ALIGN)
    expected = data_start + header["count"] * header["dim"] * DTYPE.itemsize
    try:
        if size != expected:
            raise bad(f"{size} bytes where the header implies {expected}; truncated or overwritten")
        if read_exact(f, data_start - start).strip(b"\0"):
            raise bad("non-zero padding after the header")
        matrix = np.empty((header["count"], header["dim"]), DTYPE)
        view = memoryview(matrix.reshape(-1).view(np.uint8))
        digest = hashlib.sha256() if version1 else content_digest(header)
        # Hash each chunk on a second thread while the next one is read (both release
        # the GIL), so that loading takes about as long as reading the file.
        with ThreadPoolExecutor(1) as hasher:
            for off in range(0, len(view), CHUNK_BYTES):
                chunk = view[off : off + CHUNK_BYTES]
                if readinto_exact(f, chunk) < len(chunk):
                    raise bad("truncated template data")
                hasher.submit(digest.update, chunk)
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {FIX}") from None
    if digest.hexdigest() != header["sha256"]:
        covered = "template data" if version1 else "header and template data"
        raise bad(f"{covered} do not match their sha256; the file is corrupt or was edited")
    if "embedder" in header:
        header["embedder"] = check_embedder_json(header["embedder"], header["dim"], bad)
    return header, matrix, stamp_of(lead + raw)


def _parse_header(raw: bytes, bad: Any, strict: bool) -> dict:
    """The checked header fields; ``strict`` (version 2) refuses fields the sha256 does not cover."""
    header = parse_json_header(raw, bad)
    if strict and set(header) - {"embedder"} != {*_HEADER_FIELDS, "sha256"}:
        raise bad(f"header fields must be exactly {', '.join(_HEADER_FIELDS)}, sha256 and optionally embedder")
    dim, count, names, counts, sha = (header.get(k) for k in ("dim", "count", "names", "counts", "sha256"))
    if not (is_count(dim) and dim > 0 and is_count(count)):
        raise bad("dim or count missing or invalid")
    if not (isinstance(names, list) and all(isinstance(n, str) and n.strip() for n in names)):
        raise bad("names must be a list of non-blank strings")
    if len(set(names)) != len(names):
        raise bad("duplicate identity names")
    if not (isinstance(counts, list) and len(counts) == len(names) and all(is_count(c) and c > 0 for c in counts)):
        raise bad("counts must give a positive template count per name")
    if sum(counts) != count:
        raise bad("counts do not add up to count")
    if not is_hex64(sha):
        raise bad("sha256 missing or invalid")
    if not strict:
        header.pop("embedder", None)  # version 1 has none: an unchecked one is not believed
    elif "embedder" in header:
        check_embedder_json(header["embedder"], dim, bad)
    return header
