"""The report writers are atomic: a write that fails part-way (here the disk runs out of
room, as RLIMIT_FSIZE makes it) leaves the previous report whole, never half of the new one."""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("resource")  # POSIX only: the file-size limit simulates a full disk

WRITE_TWICE = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path

    import numpy as np

    from edgeface.eval.evaluate import VerificationResult, write_verification_report

    def result(note):
        return VerificationResult(
            bundle="b", soc=None, scores=np.array([0.9, 0.1]), same=np.array([True, False]),
            folds=np.array([0, 1]), accuracy={"accuracy": 1.0, "std": 0.0, "folds": 2},
            tar=[{"far": 0.5, "tar": 1.0, "threshold": 0.5, "reliable": True}],
            calibration={"far": 0.5, "threshold": 0.5, "tar": 1.0}, mode="chips", failures=0,
            seconds=0.0, note=note)

    out = Path(sys.argv[1])
    write_verification_report(result("old"), out)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        write_verification_report(result("x" * 100_000), out)
    except OSError as exc:
        print("failed:", exc.strerror)
""")


def test_a_report_write_that_fails_part_way_leaves_the_previous_report(tmp_path):
    proc = subprocess.run([sys.executable, "-c", WRITE_TWICE, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("failed:")  # the second write did hit the limit
    assert json.loads((tmp_path / "verification.json").read_text())["note"] == "old"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
