"""Helper for test_gallery: enroll in a loop until killed, compacting now and then.

Usage: python gallery_writer.py PATH DIM ROWS_PER_ENROLL [COMPACT_EVERY]

Prints the template count of the gallery it opened, then after every enrolment the count
it acknowledged, one per line, flushed, so the test knows what reached the disk. Every
COMPACT_EVERY enrolments (default 3) it compacts the gallery.
"""

import sys

import numpy as np

from edgeface.gallery import Gallery


def main() -> None:
    path, dim, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    compact_every = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    gallery = Gallery.open(path, dim, use_faiss=False)
    rng = np.random.default_rng(len(gallery))
    print(len(gallery), flush=True)
    for step in range(1, 10**9):
        gallery.enroll(f"person-{len(gallery.identities())}", rng.standard_normal((rows, dim)))
        print(len(gallery), flush=True)
        if step % compact_every == 0:
            gallery.compact()


if __name__ == "__main__":
    main()
