"""Writes native/tests/core/data/galleries/: gallery files written by the Python SDK and
what its Gallery.search answers on them, for the C++ gallery reader's parity tests
(native/tests/core/gallery_test.cc).

- ``v2.efg``: the current format (edgeface.Gallery.save), 44 identities of 8-d templates
  with one to three templates each, names with quotes, backslashes, accents and a
  character outside the Basic Multilingual Plane (the sha256 covers their JSON escapes);
- ``v2_embedder.efg``: the same gallery recording the embedder that made it (a bundle name
  with quotes and accents, so that its JSON escapes are covered as the names' are): the
  same search answers, and what the native writer must reproduce byte for byte;
- ``v1.efg``: a version-1 file (its sha256 covers the templates only), written here as
  the SDK's older releases wrote it;
- ``search.json``: queries and, per query, Gallery.search's top 5 (no threshold) and
  top 3 at threshold 0.3 on ``v2.efg``, as [name, similarity] pairs.

tests/test_native_goldens.py regenerates them and compares with the committed ones.
Run from anywhere: ``python scripts/make_native_galleries.py [OUT_DIR]``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.gallery import MAGIC_V1, EmbedderFingerprint, Gallery

DATA = Path(__file__).resolve().parent.parent / "native" / "tests" / "core" / "data" / "galleries"
SEED = 19  # the gallery issue's number: any fixed seed will do
DIM = 8
EMBEDDER = EmbedderFingerprint('bündle "fp32"', hashlib.sha256(b"embedder.tflite").hexdigest(), DIM)
NAMES = ["alice", "bob", 'quote "q" and back\\slash', "Zoë Ångström", "smile \U0001F642 face"] + \
        [f"person {i:02d}" for i in range(39)]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def v2_gallery(rng: np.random.Generator) -> tuple[bytes, Gallery, dict[str, np.ndarray]]:
    """The file's bytes, the gallery, and each name's templates."""
    templates = {name: unit(rng.standard_normal((1 + i % 3, DIM))) for i, name in enumerate(NAMES)}
    with tempfile.TemporaryDirectory(prefix="native-galleries-") as tmp:
        gallery = Gallery(DIM, Path(tmp) / "v2.efg")
        for name, rows in templates.items():
            gallery.enroll(name, rows)
        gallery.save()
        return (Path(tmp) / "v2.efg").read_bytes(), gallery, templates


def with_embedder(templates: dict[str, np.ndarray]) -> bytes:
    """The file of the same gallery enrolled by ``EMBEDDER``."""
    with tempfile.TemporaryDirectory(prefix="native-galleries-") as tmp:
        gallery = Gallery(DIM, Path(tmp) / "v2_embedder.efg", embedder=EMBEDDER)
        for name, rows in templates.items():
            gallery.enroll(name, rows)
        gallery.save()
        return gallery.path.read_bytes()


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


def make(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    v2, gallery, templates = v2_gallery(rng)
    atomic_write_bytes(out / "v2.efg", v2)
    atomic_write_bytes(out / "v2_embedder.efg", with_embedder(templates))
    atomic_write_bytes(out / "v1.efg", v1_file(rng))
    queries = np.concatenate([unit(rng.standard_normal((5, DIM))), templates["bob"]])  # and one exact template
    write_json(out / "search.json", search_cases(gallery, queries), indent=1)


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
