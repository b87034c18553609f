"""Helper for test_gallery_hardening: enroll COUNT identities into one gallery while
another process does the same.

Usage: python gallery_enroller.py api PATH PREFIX COUNT GO_FILE
       python gallery_enroller.py cli PATH PREFIX COUNT GO_FILE BUNDLE IMAGE

api opens the gallery once, then enrolls one identity at a time, so each enrolment has to
take in what the other process wrote since. cli runs the ``edgeface enroll`` command
in-process once per identity (open, enroll). Both print "ready", wait until GO_FILE
exists (so that the two processes start together), and exit 1 if any enrolment fails.
"""

import sys
import time
from pathlib import Path

import numpy as np


def wait_for(go: Path) -> None:
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)


def enroll_through_api(path: str, prefix: str, count: int, go: Path) -> None:
    from edgeface.gallery import Gallery

    gallery = Gallery.open(path, 16)
    rng = np.random.default_rng(abs(hash(prefix)) % 2**32)
    wait_for(go)
    for i in range(count):
        gallery.enroll(f"{prefix}{i}", rng.standard_normal((2, 16)))


def enroll_through_cli(path: str, prefix: str, count: int, go: Path, bundle: str, image: str) -> None:
    from typer.testing import CliRunner

    from edgeface.cli.app import app

    runner = CliRunner()
    wait_for(go)
    for i in range(count):
        result = runner.invoke(app, ["enroll", f"{prefix}{i}", image, "--gallery", path, "--bundle", bundle])
        if result.exit_code != 0:
            sys.exit(f"enroll {prefix}{i} failed: {result.output}")


def main() -> None:
    mode, path, prefix, count, go, *rest = sys.argv[1:]
    enroll = {"api": enroll_through_api, "cli": enroll_through_cli}[mode]
    enroll(path, prefix, int(count), Path(go), *rest)


if __name__ == "__main__":
    main()
