"""Characters that act on a terminal or reorder text instead of showing a glyph, and how
to show them anyway. Names and paths can come from untrusted files; printed raw, an ESC
starts a terminal escape sequence and a bidi override makes ``alice`` display as another name."""

from __future__ import annotations

import unicodedata

# Bidi embeddings, overrides, isolates and marks: they reorder the text around them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# C0/C1 controls (ESC, newline, ...), lone surrogates (undecodable bytes), line/paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def is_control(char: str) -> bool:
    """True for a character that steers a terminal or the layout of text around it."""
    return char in BIDI_CONTROLS or unicodedata.category(char) in _CONTROL_CATEGORIES


def visible_controls(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\\x1b``, ``\\u202e``)."""
    if text.isprintable():  # no control character: the common case, and cheap
        return text
    return "".join(ascii(char)[1:-1] if is_control(char) else char for char in text)
