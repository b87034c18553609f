"""Stage outputs cached by the hash of their inputs.

Each stage writes into ``RUN/stages/<name>.partial/`` and, when it finishes, the folder
is renamed to ``RUN/stages/<name>/`` with ``stage.json`` (its key and summary) inside. So:

- a finished stage whose key is unchanged is skipped on a rerun;
- an interrupted stage leaves only a ``.partial`` folder: the last finished outputs stay
  intact, and the rerun hands the partial folder back to the stage (``resume``) when it was
  started for the same key (training then continues from its last checkpoint), or wipes it;
- the key of a stage covers its config section, the keys of the stages it reads and the
  toolkit's version, so a change anywhere upstream recomputes exactly what depends on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgeface.fsutil import atomic_write_bytes, write_json

MARKER = "stage.json"
KEY_FILE = "key"


def stage_key(name: str, version: int, config: Any, inputs: dict[str, str]) -> str:
    """sha256 of everything a stage's outputs depend on."""
    from edgeface import __version__

    doc = {"stage": name, "version": version, "edgeface": __version__, "config": config, "inputs": inputs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class StageDir:
    """Where one stage's outputs live."""

    root: Path  # RUN/stages
    name: str

    @property
    def final(self) -> Path:
        return self.root / self.name

    @property
    def partial(self) -> Path:
        return self.root / f"{self.name}.partial"

    def finished(self) -> Optional[dict]:
        """The finished stage's record, or None."""
        try:
            return json.loads((self.final / MARKER).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_fresh(self, key: str) -> bool:
        record = self.finished()
        return record is not None and record.get("key") == key

    def force(self) -> None:
        """Make the stage run again (``--from``): forget an interrupted attempt, and stop the
        finished outputs counting as fresh, so that if this attempt fails the next run does
        not skip the stage the user asked to recompute. The outputs stay until the new ones
        replace them."""
        shutil.rmtree(self.partial, ignore_errors=True)
        record = self.finished()
        if record is not None:
            write_json(self.final / MARKER, {**record, "key": None, "forced": True}, default=str)

    def begin(self, key: str) -> tuple[Path, bool]:
        """The folder to work in, and whether it holds an interrupted attempt at ``key``."""
        partial = self.partial
        try:
            resume = (partial / KEY_FILE).read_text().strip() == key
        except OSError:
            resume = False
        if not resume:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            atomic_write_bytes(partial / KEY_FILE, (key + "\n").encode())
        return partial, resume

    def commit(self, key: str, record: dict) -> None:
        """Publish the partial folder as the stage's output (replacing an older one)."""
        partial = self.partial
        (partial / KEY_FILE).unlink(missing_ok=True)
        write_json(partial / MARKER, {**record, "key": key}, default=str)
        old = self.root / f"{self.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(partial, self.final)
        shutil.rmtree(old, ignore_errors=True)
