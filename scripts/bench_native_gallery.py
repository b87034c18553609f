#!/usr/bin/env python3
"""The native core's gallery (what the Java API and phone apps use) against the Python
SDK's edgeface.Gallery, in one run: enrol N identities one template at a time, save, open
and search, over the same random unit templates, on this machine's release build.

    .venv/bin/python scripts/bench_native_gallery.py [--sizes 1000,10000,100000] [--dim 128]

Both enrol in memory and then save the whole gallery (the SDK a version-3 base, the
native core version 2; the native side's file is opened by Python to check it).
Prints a table of milliseconds and native/Python ratios, with the load average.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeface.gallery import Gallery

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "native" / "build" / "release" / "src" / "core" / "libedgeface.so"
QUERIES = 20


def native_library() -> ctypes.CDLL:
    if not LIBRARY.is_file():
        sys.exit(f"{LIBRARY} is not built: python3 scripts/native_build.py")
    lib = ctypes.CDLL(str(LIBRARY))
    handle, p, size = ctypes.c_void_p, ctypes.POINTER, ctypes.c_size_t
    for name, restype, argtypes in (
            ("edgeface_gallery_create", ctypes.c_int32, [ctypes.c_int32, p(handle)]),
            ("edgeface_gallery_open", ctypes.c_int32, [ctypes.c_char_p, ctypes.c_int32, p(handle)]),
            ("edgeface_gallery_close", None, [handle]),
            ("edgeface_gallery_enroll", ctypes.c_int32, [handle, ctypes.c_char_p, p(ctypes.c_float), size, size,
                                                         p(size)]),
            ("edgeface_gallery_save", ctypes.c_int32, [handle, ctypes.c_char_p]),
            ("edgeface_gallery_search", ctypes.c_int32, [handle, p(ctypes.c_float), size, ctypes.c_float,
                                                         ctypes.c_void_p, size, p(size)])):
        getattr(lib, name).restype, getattr(lib, name).argtypes = restype, argtypes
    return lib


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def native_row(lib, rows: np.ndarray, queries: np.ndarray, path: Path) -> dict[str, float]:
    pointer = ctypes.POINTER(ctypes.c_float)
    gallery = ctypes.c_void_p()
    assert lib.edgeface_gallery_create(rows.shape[1], ctypes.byref(gallery)) == 0
    names = [f"person {i}".encode() for i in range(len(rows))]

    def enroll():
        for name, row in zip(names, rows):
            assert lib.edgeface_gallery_enroll(gallery, name, row.ctypes.data_as(pointer), row.size, 1, None) == 0

    result = {"enroll": timed(enroll), "save": timed(lambda: lib.edgeface_gallery_save(gallery, str(path).encode()))}
    lib.edgeface_gallery_close(gallery)
    opened = ctypes.c_void_p()
    result["open"] = timed(lambda: lib.edgeface_gallery_open(str(path).encode(), rows.shape[1], ctypes.byref(opened)))
    matches = (ctypes.c_byte * (16 * 5))()
    count = ctypes.c_size_t()

    def search():
        for q in queries:
            lib.edgeface_gallery_search(opened, q.ctypes.data_as(pointer), q.size, -1.0, matches, 5, ctypes.byref(count))

    result["search"] = timed(search) / len(queries)
    lib.edgeface_gallery_close(opened)
    return result


def python_row(rows: np.ndarray, queries: np.ndarray, path: Path) -> dict[str, float]:
    gallery = Gallery(rows.shape[1])  # in memory, as the native side enrols before its save

    def enroll():
        for i, row in enumerate(rows):
            gallery.enroll(f"person {i}", row)

    result = {"enroll": timed(enroll), "save": timed(lambda: gallery.save(path))}
    opened = []
    result["open"] = timed(lambda: opened.append(Gallery.open(path, rows.shape[1])))
    result["search"] = timed(lambda: [opened[0].search(q, top_k=5) for q in queries]) / len(queries)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    lib = native_library()
    rng = np.random.default_rng(17)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; dim {args.dim}; "
          f"search = one query, top 5, mean of {QUERIES}")
    print("| identities | step | native ms | Python ms | native / Python |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        rows = rng.standard_normal((size, args.dim)).astype(np.float32)
        queries = rng.standard_normal((QUERIES, args.dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        with tempfile.TemporaryDirectory() as tmp:
            native = native_row(lib, rows, queries, Path(tmp) / "native.efg")
            python = python_row(rows, queries, Path(tmp) / "python.efg")
            assert len(Gallery.open(Path(tmp) / "native.efg", args.dim)) == size  # the SDK reads the native file
        for step in ("enroll", "save", "open", "search"):
            print(f"| {size} | {step} | {native[step]:.2f} | {python[step]:.2f} | {native[step] / python[step]:.2f} |")


if __name__ == "__main__":
    main()
