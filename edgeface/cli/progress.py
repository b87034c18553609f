"""Progress on stderr during a command's long waits (a download, an AI Hub job, a video).

A user who sees nothing for minutes cannot tell slow work from a hung command. The
progress goes to stderr, so that stdout keeps only the command's result, and is silent
with --json (a script reads the result, not the commentary).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from edgeface.cli.common import console, shown

LOG_EVERY_S = 10.0  # not a terminal (a pipe, a CI log): a line this often, not one per update


def progress_lines(quiet: bool) -> Callable[[str], None]:
    """A ``progress`` callback for events worth a line each (a job submitted, a stage
    done): each message one line on stderr; nothing when ``quiet``."""
    if quiet:
        return lambda message: None
    err = console(stderr=True)
    return lambda message: err.print(shown(message), highlight=False)


class Meter:
    """A message that changes often (frames so far, bytes so far): on a terminal one line
    on stderr rewritten in place (a Rich status, gone at the end); elsewhere a line at most
    every ``LOG_EVERY_S`` seconds, so that a log shows the command alive without a line per
    frame. Nothing when ``quiet``. Use as a context manager."""

    def __init__(self, quiet: bool):
        self._err = None if quiet else console(stderr=True)
        self._status = None
        self._last_line: Optional[float] = None

    def __enter__(self) -> "Meter":
        if self._err is not None and self._err.is_terminal:
            self._status = self._err.status("")
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, message: str) -> None:
        if self._status is not None:
            self._status.update(shown(message))
        elif self._err is not None:
            now = time.monotonic()
            if self._last_line is None or now - self._last_line >= LOG_EVERY_S:
                self._last_line = now
                self._err.print(shown(message), highlight=False)
