"""Writes native/tests/core/data/galleries/: gallery files of the Python SDK's formats and
what its Gallery shows of them, for the C++ gallery reader's parity tests
(native/tests/core/gallery_test.cc, gallery_v3_test.cc).

- ``v2.efg``: version 2 (what Gallery.save wrote before version 3, and what the native
  core writes), 44 identities of 8-d templates with one to three templates each, names
  with quotes, backslashes, accents and a character outside the Basic Multilingual Plane
  (the sha256 covers their JSON escapes);
- ``v2_embedder.efg``: the same gallery recording the embedder that made it (a bundle name
  with quotes and accents, so that its JSON escapes are covered as the names' are): the
  same search answers, and what the native writer must reproduce byte for byte;
- ``v1.efg``: a version-1 file (its sha256 covers the templates only), written here as
  the SDK's older releases wrote it;
- ``search.json``: queries and, per query, Gallery.search's top 5 (no threshold) and
  top 3 at threshold 0.3 on ``v2.efg``, as [name, similarity] pairs.

Version 3 (``EFGALLERY3`` and its journal ``NAME.journal``), written by the SDK's Gallery:

- ``v3.efg``: the gallery of ``v2_embedder.efg`` saved as a base, its journal empty;
- ``v3_journal.efg``: a base of four identities and a journal of every operation:
  enrolments into a base identity and into new ones, removals of a base identity and of
  one the journal enrolled, a removed name enrolled again (a new identity at the end), and
  the embedder the gallery adopted, recorded before the enrolment after it;
- ``v3_torn.efg``: the same, its journal ending in half a record (a killed write),
  ``v3_torn_sha.efg``: its last record whole but failing its sha256, and
  ``v3_zero_tail.efg``: 4 KiB of zeros after its last record (a crash that left the new
  size without the data): all left out;
- ``v3_stale.efg``: a compacted base beside the journal of the base before it (a
  compaction killed between its two renames), which must be ignored;
- ``v3_bad_record.efg``, ``v3_unknown_remove.efg``, ``v3_second_embedder.efg``,
  ``v3_bad_magic.efg``, ``v3_huge_length.efg``: ``v3_journal.efg`` with a damaged record
  before others, a removal of a name it does not hold, an embedder record of another
  model, a journal that is not one, a record length no record has: all refused;
- ``expected.json``: per readable version-3 file, Gallery.open's identities(),
  templates() of each and embedder.

Journal ids come from a counter, not os.urandom, so that the files regenerate the same.
tests/test_native_goldens.py regenerates them and compares with the committed ones.
Run from anywhere: ``python scripts/make_native_galleries.py [OUT_DIR]``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import edgeface.gallery.gallery as gallery_module
from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.gallery import MAGIC_V1, MAGIC_V2, EmbedderFingerprint, Gallery
from edgeface.gallery import journal
from edgeface.gallery.legacy_file import content_digest

DATA = Path(__file__).resolve().parent.parent / "native" / "tests" / "core" / "data" / "galleries"
SEED = 19  # the gallery issue's number: any fixed seed will do
DIM = 8
EMBEDDER = EmbedderFingerprint('bündle "fp32"', hashlib.sha256(b"embedder.tflite").hexdigest(), DIM)
OTHER_EMBEDDER = EmbedderFingerprint("other", hashlib.sha256(b"other.tflite").hexdigest(), DIM)
NAMES = ["alice", "bob", 'quote "q" and back\\slash', "Zoë Ångström", "smile \U0001F642 face"] + \
        [f"person {i:02d}" for i in range(39)]
READABLE_V3 = ("v3.efg", "v3_journal.efg", "v3_torn.efg", "v3_torn_sha.efg", "v3_zero_tail.efg", "v3_stale.efg")
REFUSED_V3 = ("v3_bad_record.efg", "v3_unknown_remove.efg", "v3_second_embedder.efg", "v3_bad_magic.efg",
              "v3_huge_length.efg")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def v2_file(gallery: Gallery, embedder: EmbedderFingerprint | None = None) -> bytes:
    """``gallery`` as a version-2 file, laid out as Gallery.save wrote it before version 3."""
    names = [name for name, _ in gallery.identities()]
    rows = np.concatenate([gallery.templates(name) for name in names]).astype("<f4").tobytes()
    fields = {"dim": DIM, "count": len(gallery), "names": names, "counts": [n for _, n in gallery.identities()]}
    if embedder is not None:
        fields["embedder"] = embedder.to_json()
    digest = content_digest(fields)
    digest.update(rows)
    header = json.dumps({**fields, "sha256": digest.hexdigest()}).encode("ascii")
    head = MAGIC_V2 + len(header).to_bytes(8, "little") + header
    return head + b"\0" * (-len(head) % 64) + rows


def v1_file(rng: np.random.Generator) -> bytes:
    payload = unit(rng.standard_normal((3, DIM))).astype("<f4").tobytes()
    header = json.dumps({"dim": DIM, "count": 3, "names": ["old alice", "old bob"], "counts": [2, 1],
                         "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    head = MAGIC_V1 + len(header).to_bytes(8, "little") + header
    return head + b"\0" * (-len(head) % 64) + payload


def search_cases(gallery: Gallery, queries: np.ndarray) -> list[dict]:

    def pairs(matches):
        return [[m.identity, m.similarity] for m in matches]

    return [{"query": q.tolist(), "top5": pairs(gallery.search(q, top_k=5)[0]),
             "top3_at_0.3": pairs(gallery.search(q, top_k=3, threshold=0.3)[0])} for q in queries]


def journal_gallery(path: Path, rng: np.random.Generator) -> None:
    """A base of four identities, then a journal of every operation (see the docstring)."""

    def rows(n: int) -> np.ndarray:
        return rng.standard_normal((n, DIM))

    gallery = Gallery(DIM, path)
    for name, n in (("ann", 2), ("ben", 1), ("cat", 3), ("dan", 1)):
        gallery.enroll(name, rows(n))
    gallery.compact()
    gallery.enroll("ben", rows(2))
    gallery.enroll("eve", rows(1))
    gallery.remove("cat")
    gallery.enroll("fay", rows(2))
    gallery.remove("fay")
    gallery.enroll("cat", rows(1))
    gallery.bind(EMBEDDER)  # adopted: recorded with the next change
    gallery.enroll("eve", rows(1))
    gallery.enroll("Zoë \U0001F642", rows(1))


def stale_gallery(path: Path, rng: np.random.Generator) -> None:
    """A base compacted from a journal, beside that journal again: applied, it would
    enroll every template a second time."""
    gallery = Gallery(DIM, path)
    gallery.enroll("gil", rng.standard_normal((2, DIM)))
    gallery.enroll("hal", rng.standard_normal((1, DIM)))
    old = journal.journal_path(path).read_bytes()
    gallery.compact()
    atomic_write_bytes(journal.journal_path(path), old)


def damaged(journal_bytes: bytes, jid: str) -> dict[str, bytes]:
    """The refused journals, made from ``v3_journal.efg``'s (of id ``jid``)."""
    first_name = journal.HEAD_BYTES + 4 + 3  # a byte the first record's sha256 covers
    bad_record = bytearray(journal_bytes)
    bad_record[first_name] ^= 0x01
    huge_length = bytearray(journal_bytes)
    huge_length[journal.HEAD_BYTES + 3] = 0xFF  # the first record's length, now over 4 GB
    return {
        "v3_huge_length.efg": bytes(huge_length),
        "v3_bad_record.efg": bytes(bad_record),
        "v3_unknown_remove.efg": journal_bytes + journal.remove_record(jid, "nobody"),
        "v3_second_embedder.efg": journal_bytes + journal.embedder_record(jid, OTHER_EMBEDDER),
        "v3_bad_magic.efg": b"EFJOURNAL9\n" + journal_bytes[len(journal.MAGIC) :],
    }


def shown(path: Path) -> dict:
    """What the SDK's Gallery shows of the file at ``path``."""
    gallery = Gallery.open(path)
    gallery.verify()
    return {"identities": [[name, n] for name, n in gallery.identities()],
            "templates": {name: gallery.templates(name).tolist() for name, _ in gallery.identities()},
            "embedder": gallery.embedder.to_json() if gallery.embedder else None}


def version3(out: Path, same_as_v2: Gallery, rng: np.random.Generator) -> None:
    """The version-3 files (``same_as_v2``: the in-memory gallery of ``v2_embedder.efg``)."""
    with tempfile.TemporaryDirectory(prefix="native-galleries-") as tmp:
        made = Path(tmp)
        same_as_v2.save(made / "v3.efg")
        journal_gallery(made / "v3_journal.efg", rng)
        stale_gallery(made / "v3_stale.efg", rng)
        base = (made / "v3_journal.efg").read_bytes()
        log = journal.journal_path(made / "v3_journal.efg").read_bytes()
        jid = log[len(journal.MAGIC) : journal.HEAD_BYTES - 1].decode("ascii")
        variants = {"v3_torn.efg": log + journal.enroll_record(jid, "gus", unit(rng.standard_normal((2, DIM))))[:40],
                    "v3_torn_sha.efg": log[:-1] + bytes([log[-1] ^ 0xFF]),
                    "v3_zero_tail.efg": log + bytes(4096), **damaged(log, jid)}
        for name, variant in variants.items():
            atomic_write_bytes(made / name, base)
            atomic_write_bytes(journal.journal_path(made / name), variant)
        for name in (*READABLE_V3, *REFUSED_V3):
            for member in (made / name, journal.journal_path(made / name)):
                atomic_write_bytes(out / member.name, member.read_bytes())
    write_json(out / "expected.json", {name: shown(out / name) for name in READABLE_V3}, indent=1)


def make(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    ids = itertools.count(1)
    gallery_module.new_journal_id = lambda: f"{next(ids):032x}"
    templates = {name: unit(rng.standard_normal((1 + i % 3, DIM))) for i, name in enumerate(NAMES)}
    gallery = Gallery(DIM)  # in memory: enrolling scales the rows as the SDK stores them
    for name, rows in templates.items():
        gallery.enroll(name, rows)
    atomic_write_bytes(out / "v2.efg", v2_file(gallery))
    atomic_write_bytes(out / "v2_embedder.efg", v2_file(gallery, EMBEDDER))
    atomic_write_bytes(out / "v1.efg", v1_file(rng))
    queries = np.concatenate([unit(rng.standard_normal((5, DIM))), templates["bob"]])  # and one exact template
    write_json(out / "search.json", search_cases(gallery, queries), indent=1)
    gallery.bind(EMBEDDER)
    version3(out, gallery, np.random.default_rng(SEED + 1))


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
