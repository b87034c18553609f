"""Helper for test_gallery: enroll and save in a loop until killed.

Usage: python gallery_writer.py PATH DIM ROWS_PER_ENROLL

Prints the template count of the file it opened, then after every save the count that
save committed, one per line, flushed, so the test knows what reached the disk.
"""

import sys

import numpy as np

from edgeface.gallery import Gallery


def main() -> None:
    path, dim, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    gallery = Gallery.open(path, dim, use_faiss=False)
    rng = np.random.default_rng(len(gallery))
    print(len(gallery), flush=True)
    while True:
        gallery.enroll(f"person-{len(gallery.identities())}", rng.standard_normal((rows, dim)))
        gallery.save()
        print(len(gallery), flush=True)


if __name__ == "__main__":
    main()
