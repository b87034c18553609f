#!/usr/bin/env python3
"""Three attacks from the hardening issue, measured on this tree (docs/security.md):

    python scripts/bench_hardening.py [--writers 2] [--enrolments 20] [--rewrites 40]

1. concurrent enrolments: W processes each open and enrol N times into one gallery of
   3,000 identities; how many of the W x N enrolments are in the gallery afterwards;
2. a zip bundle whose 254 KB ``manifest.json`` inflates to 256 MiB: the peak memory
   (VmHWM, Linux) of a fresh process that tries to load it;
3. readers loading a bundle while a writer replaces it R times: how many loads failed.

Prints a table; the tests assert the same properties, this shows the figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "bundles" / "blob_blazeface"
SEEDED = 3000
ENROLLER = """
import sys, numpy as np
from edgeface.gallery import Gallery
path, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(writer)
for i in range(count):
    gallery = Gallery.open(path, dim=128)
    gallery.enroll(f"writer{writer}-{i}", rng.normal(size=128))
"""
LOADER = """
import sys
from edgeface.bundle import load_bundle
from edgeface.errors import EdgefaceError
try:
    load_bundle(sys.argv[1])
    print("loaded", end="; ")
except EdgefaceError as exc:
    print("refused", end="; ")
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")), "kB")
"""


def concurrent_enrolments(folder: Path, writers: int, count: int) -> str:
    from edgeface.gallery import Gallery

    path = folder / "people.efg"
    seed = Gallery(128)
    rng = np.random.default_rng(0)
    for i in range(SEEDED):
        seed.enroll(f"seed{i}", rng.normal(size=128))
    seed.save(path)
    procs = [subprocess.Popen([sys.executable, "-c", ENROLLER, str(path), str(w), str(count)])
             for w in range(writers)]
    for proc in procs:
        proc.wait()
    kept = len(Gallery.open(path).identities()) - SEEDED
    return f"{kept} of {writers * count} kept"


def zip_bomb_peak(folder: Path) -> str:
    bomb = folder / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b" " * (256 << 20))
    out = subprocess.run([sys.executable, "-c", LOADER, str(bomb)], capture_output=True, text=True, check=True)
    return f"{bomb.stat().st_size // 1024} KB zip: {out.stdout.strip()}"


def loads_during_rewrites(folder: Path, rewrites: int, readers: int = 3) -> str:
    from edgeface.bundle import load_bundle, write_bundle

    source = load_bundle(FIXTURE)
    manifest, files = source.manifest, source.files()
    target = folder / "live"
    write_bundle(target, manifest, files)
    done = threading.Event()
    failed, loads = [0] * readers, [0] * readers

    def read(i: int) -> None:
        while not done.is_set():
            try:
                bundle = load_bundle(target)
                bundle.files()
            except Exception:  # noqa: BLE001 - counting every kind of failure is the point
                failed[i] += 1
            loads[i] += 1

    threads = [threading.Thread(target=read, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for _ in range(rewrites):
        write_bundle(target, manifest, files)
    done.set()
    for thread in threads:
        thread.join()
    return f"{sum(failed)} of {sum(loads)} failed ({readers} readers, {rewrites} rewrites)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--enrolments", type=int, default=20)
    parser.add_argument("--rewrites", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [("concurrent enrolments", concurrent_enrolments(folder, args.writers, args.enrolments)),
                ("zip bomb, peak memory of the loading process", zip_bomb_peak(folder)),
                ("loads while the bundle is replaced", loads_during_rewrites(folder, args.rewrites))]
    width = max(len(name) for name, _ in rows)
    print(f"{'attack':<{width}}  result")
    for name, result in rows:
        print(f"{name:<{width}}  {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
