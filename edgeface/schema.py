"""Reading untrusted JSON-like dicts field by field, with errors that name the field.

Used by the bundle manifest and the decoders, so that any malformed value becomes a
``ManifestError`` such as ``manifest.json: models.detector.input.mean: expected a list
of 3 numbers, got 'abc'`` instead of a ``KeyError`` deep inside the runtime.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from edgeface.errors import ManifestError
from edgeface.errors import show as _show

_MISSING = object()


class Fields:
    """A view of one dict in the manifest; ``where`` is its dotted path for messages."""

    def __init__(self, data: Any, where: str, source: str = "manifest.json"):
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: {where}: expected an object, got {_show(data)}")
        self.data = data
        self.where = where
        self.source = source

    def fail(self, key: str, what: str) -> ManifestError:
        return ManifestError(f"{self.source}: {self.where}.{key}: {what}")

    def _get(self, key: str, default: Any) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.fail(key, "is required but missing")
            return default
        return value

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def sub(self, key: str) -> "Fields":
        return Fields(self._get(key, _MISSING), f"{self.where}.{key}", self.source)

    def string(self, key: str, default: Any = _MISSING, choices: Sequence[str] | None = None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_show(value)}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def number(self, key: str, default: Any = _MISSING, lo: float | None = None,
               hi: float | None = None, above: float | None = None, below: float | None = None) -> float:
        """A finite number in [lo, hi], and strictly between ``above`` and ``below``."""
        value = self._get(key, default)
        number = _finite_float(value)
        if number is None:
            raise self.fail(key, f"expected a finite number, got {_show(value)}")
        _check_range(self, key, value, lo, hi)
        if above is not None and not value > above:
            raise self.fail(key, f"must be > {above}, got {_show(value)}")
        if below is not None and not value < below:
            raise self.fail(key, f"must be < {below}, got {_show(value)}")
        return number

    def integer(self, key: str, default: Any = _MISSING, lo: int | None = None,
                hi: int | None = None) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {_show(value)}")
        _check_range(self, key, value, lo, hi)
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_show(value)}")
        return value

    def numbers(self, key: str, length: int | None = None, default: Any = _MISSING,
                lo: float | None = None, min_length: int = 1, hi: float | None = None) -> list[float]:
        value = self._get(key, default)
        ok = isinstance(value, list) and all(
            isinstance(v, (int, float)) and _finite_float(v) is not None for v in value)
        want = f"a list of {length} numbers" if length else "a list of numbers"
        if not ok or (length is not None and len(value) != length) or len(value) < min_length:
            raise self.fail(key, f"expected {want}, got {_show(value)}")
        if lo is not None and any(v < lo for v in value):
            raise self.fail(key, f"every value must be >= {lo}, got {_show(value)}")
        if hi is not None and any(v > hi for v in value):
            raise self.fail(key, f"every value must be <= {hi}, got {_show(value)}")
        return [float(v) for v in value]

    def integers(self, key: str, default: Any = _MISSING, lo: int | None = None) -> list[int]:
        value = self._get(key, default)
        if not (isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise self.fail(key, f"expected a non-empty list of integers, got {_show(value)}")
        if lo is not None and any(v < lo for v in value):
            raise self.fail(key, f"every value must be >= {lo}, got {_show(value)}")
        return list(value)

    def strings(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._get(key, default)
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self.fail(key, f"expected a list of strings, got {_show(value)}")
        return list(value)


def _finite_float(value: Any) -> float | None:
    """``value`` as a finite float; None for a bool, a non-number, NaN, an infinity or an
    integer beyond a float's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _check_range(fields: Fields, key: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise fields.fail(key, f"must be >= {lo}, got {_show(value)}")
    if hi is not None and value > hi:
        raise fields.fail(key, f"must be <= {hi}, got {_show(value)}")
