"""The fake ``adb`` the adb benchmark tests put first on PATH: a Python script whose start
(FAKE_ADB_PRELUDE: log argv to $FAKE_ADB_LOG, read $FAKE_ADB_MODE) they share, and the
fixture plumbing that installs it."""

import json
import os
import stat
import sys
from pathlib import Path

# The script's first lines, before each test file's own answers; a str.format template
# (literal braces doubled) taking python.
FAKE_ADB_PRELUDE = r'''#!{python}
import json, os, shutil, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
mode = os.environ.get("FAKE_ADB_MODE", "ok")

def answer_getprop(command):
    """`adb shell getprop NAME`: a Galaxy S24's answers, then exit."""
    if command.startswith("getprop "):
        props = {{"ro.product.model": "SM-S921B", "ro.product.manufacturer": "samsung",
                  "ro.build.version.release": "14", "ro.soc.model": "SM8650"}}
        print(props.get(command.split()[1], "")); sys.exit(0)
'''


class FakeAdb:
    """The installed fake: its script, the argv of every call so far, and its mode switch."""

    def __init__(self, script: Path, log: Path, monkeypatch):
        self.path, self._log, self._monkeypatch = script, log, monkeypatch

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self._log.read_text().splitlines()] if self._log.exists() else []

    def mode(self, name: str) -> None:
        """Switch what the fake does ($FAKE_ADB_MODE: each test file's script reads it)."""
        self._monkeypatch.setenv("FAKE_ADB_MODE", name)

    def shell_commands(self, marker: str) -> list[str]:
        """The commands of the `adb shell` calls whose command holds ``marker``."""
        return [c[-1] for c in self.calls() if "shell" in c and marker in c[-1]]


def put_fake_adb_on_path(tmp_path: Path, monkeypatch, body: str, **fields) -> FakeAdb:
    """Writes FAKE_ADB_PRELUDE + ``body`` (formatted with ``fields``) as ``adb`` in a folder
    first on PATH, points $FAKE_ADB_LOG at a fresh log and clears $ADB and the mode."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "adb"
    script.write_text((FAKE_ADB_PRELUDE + body).format(python=sys.executable, **fields))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = tmp_path / "adb.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.delenv("FAKE_ADB_MODE", raising=False)
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    return FakeAdb(script, log, monkeypatch)
