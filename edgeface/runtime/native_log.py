"""Keep LiteRT's native INFO lines off the console.

LiteRT's C++ logger prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to file
descriptor 2 the first time an interpreter allocates its tensors; no environment variable or
interpreter option turns it off (TF_CPP_MIN_LOG_LEVEL does not reach that logger). So the
block that builds an interpreter runs with descriptor 2 sent to a temporary file, and what
was written there goes back to stderr afterwards without its "INFO: " lines: warnings and
errors stay visible.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Iterator

_INFO = b"INFO: "
_REDIRECTING = threading.Lock()  # descriptor 2 is the process's: one redirection at a time


@contextlib.contextmanager
def without_native_info() -> Iterator[None]:
    """Run the block with native INFO lines on stderr dropped and every other line kept."""
    with _REDIRECTING, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            _write_all(b"".join(line for line in captured if not line.startswith(_INFO)))


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(2, view):]
