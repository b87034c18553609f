"""Native libraries' INFO lines stay off the console: the CLI's stderr has no LiteRT
"INFO: Created TensorFlow Lite XNNPACK delegate" line, and other native lines still show."""

import os
import subprocess
import sys

from PIL import Image

from edgeface.runtime.native_log import without_native_info
from tests.conftest import blob_image


def test_detect_prints_no_native_info_line(tmp_path, fixture_bundle):
    image = tmp_path / "face.png"
    Image.fromarray(blob_image()).save(image)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", "from edgeface.cli import main; main()", "detect", str(image),
                             "--bundle", str(fixture_bundle()), "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "INFO:" not in result.stderr, result.stderr


def test_native_lines_other_than_info_stay_on_stderr(capfd):
    with without_native_info():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something real\n")
        print("python's own line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "INFO:" not in err
    assert "ERROR: something real\n" in err and "python's own line\n" in err
