"""Test helpers that take gallery files apart and build the ones edgeface no longer
writes (versions 1 and 2), byte by byte from their documented layouts."""

import hashlib
import json

import numpy as np

from edgeface.gallery import MAGIC_V1, MAGIC_V2, MAGIC_V3


def header_span(raw):
    """Start and end of the JSON header of a gallery file of any version."""
    n = int.from_bytes(raw[11:19], "little")
    return 19, 19 + n


def header_of(raw):
    start, end = header_span(raw)
    return json.loads(raw[start:end])


def data_start(raw):
    return -(-header_span(raw)[1] // 64) * 64


def with_header(raw, header):
    """``raw`` with its header replaced (as given, sha256 included), re-padded before the same data."""
    text = json.dumps(header).encode()
    head = raw[:11] + len(text).to_bytes(8, "little") + text
    return head + b"\0" * (-len(head) % 64) + raw[data_start(raw) :]


def v3_sha256(fields):
    """What a version-3 header's sha256 covers: magic and canonical JSON of the other fields."""
    covered = {k: v for k, v in fields.items() if k != "sha256"}
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(MAGIC_V3 + len(canonical).to_bytes(8, "little") + canonical).hexdigest()


def v3_tables(raw):
    """(counts, name ends, names bytes, offset of the tables) of a version-3 file."""
    header = header_of(raw)
    start = data_start(raw) + header["count"] * header["dim"] * 4
    start += -start % 64
    n = header["identities"]
    counts = np.frombuffer(raw, "<i8", n, start)
    ends = np.frombuffer(raw, "<i8", n, start + 8 * n)
    return counts, ends, raw[start + 16 * n :], start


def v2_sha256(fields, payload):
    """What a version-2 header's sha256 covers: magic, canonical JSON of the other fields, templates."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(MAGIC_V2 + len(canonical).to_bytes(8, "little") + canonical + payload).hexdigest()


def legacy_file(names, counts, rows, embedder=None, version=2):
    """The bytes of a version-1 or -2 gallery file holding ``rows`` (grouped by identity)."""
    payload = np.ascontiguousarray(rows, "<f4").tobytes()
    fields = {"dim": int(np.shape(rows)[1]), "count": int(sum(counts)), "names": list(names),
              "counts": [int(c) for c in counts]}
    if embedder is not None:
        fields["embedder"] = embedder.to_json()
    digest = v2_sha256(fields, payload) if version == 2 else hashlib.sha256(payload).hexdigest()
    header = json.dumps({**fields, "sha256": digest}).encode()
    head = (MAGIC_V2 if version == 2 else MAGIC_V1) + len(header).to_bytes(8, "little") + header
    return head + b"\0" * (-len(head) % 64) + payload
