"""The rule for identity names, shared by enrolment and by every file reader."""

from __future__ import annotations

import unicodedata
from typing import Any

from edgeface.errors import GalleryError
from edgeface.safetext import is_control

MAX_NAME_CHARS = 256


def check_name(name: Any) -> None:
    """Refuse names that are blank, absurdly long, or not plain printable text: control
    characters would act on the terminal that shows them, bidi overrides make a name display
    as another, and lone surrogates (bytes undecodable in the shell's locale) cannot be saved."""
    if not isinstance(name, str) or not name.strip():
        raise GalleryError(f"identity name must be a non-blank string, got {name!r:.80}")
    if len(name) > MAX_NAME_CHARS:
        raise GalleryError(
            f"identity name {name[:40]!r}... has {len(name)} characters: use at most {MAX_NAME_CHARS}"
        )
    bad = sorted({char for char in name if is_control(char)})
    if any(unicodedata.category(char) == "Cs" for char in bad):
        raise GalleryError(
            f"identity name {name!r} holds bytes that are not valid text in this locale: "
            "pass the name as UTF-8 (e.g. set LANG=C.UTF-8)"
        )
    if bad:
        raise GalleryError(
            f"identity name {name!r} holds control characters ({', '.join(ascii(c) for c in bad)}): "
            "use printable text"
        )


def encode_name(name: str) -> bytes:
    """A name's bytes in the files: UTF-8, with any lone surrogate a name read from an old
    file holds passed through (such a name can be kept, never newly enrolled)."""
    return name.encode("utf-8", "surrogatepass")


def decode_name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")
