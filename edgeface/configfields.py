"""Configs as dataclasses whose fields carry their own documentation and ranges.

One validator style for every YAML or JSON config of the toolkit (the pipeline's, the
training runs', the device profiles', the live feeds'): a config is a tree of dataclasses
whose fields are declared with ``doc(default, help, lo=..., hi=...)``; ``build`` turns a
parsed mapping into that tree, naming the dotted field (``recognizer.epochs``) in every
error, and ``render`` writes the documented YAML of its defaults. Each config passes its own
``EdgefaceError`` subclass, so its errors keep their class and their ``source:`` prefix;
its parser is ``build`` plus the checks that involve more than one field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from edgeface.errors import EdgefaceError, show, show_name

MISSING = dataclasses.MISSING  # doc()'s default for a field every document must give


@dataclass(frozen=True)
class Range:
    """The values a numeric field (or each item of a list of numbers) may take: from ``lo``
    (excluded when ``lo_open``) to ``hi``."""

    lo: float
    hi: float
    lo_open: bool = False

    def contains(self, value: float) -> bool:
        return (self.lo < value if self.lo_open else self.lo <= value) and value <= self.hi

    def describe(self) -> str:
        lower = ("positive" if self.lo == 0 else f"more than {_number(self.lo)}") if self.lo_open \
            else f"at least {_number(self.lo)}"
        return f"{lower} and at most {_number(self.hi)}"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def doc(default: Any, text: str, lo: Optional[float] = None, hi: Optional[float] = None,
        lo_open: bool = False) -> Any:
    """A dataclass field with its help text (rendered as a YAML comment) and, for a number,
    its range. ``MISSING``: a field without a default (the document must give it)."""
    metadata = {"doc": text}
    if lo is not None:
        metadata["range"] = Range(lo, hi, lo_open)
    return _field(default, metadata)


def _field(default: Any, metadata: Any) -> Any:
    """A dataclass field; a list or dict default copied for each instance."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, text: str) -> Any:
    """A nested config (a dataclass whose fields all have defaults) with its help text."""
    return field(default_factory=cls, metadata={"doc": text})


def derived(cls: type, name: str, module: str, omit: tuple[str, ...], **defaults: Any) -> type:
    """A dataclass ``module.name`` with the documented fields of ``cls`` except ``omit``, and
    ``defaults`` in place of theirs: a config that embeds another one with defaults of its
    own (the pipeline's training sections), its fields still written once."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name not in omit]
    unknown = set(defaults) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    specs = [(f.name, hints[f.name], _field(defaults.get(f.name, _default_of(f)), f.metadata)) for f in fields]
    return dataclasses.make_dataclass(name, specs, namespace={"__module__": module})


def _default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


# ------------------------------------------------------------------- rendering

def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def render(obj: Any, indent: int = 0) -> list[str]:
    """The fields of the dataclass ``obj`` as YAML lines, each with its help and range as a
    comment (a nested config as a commented block)."""
    pad, lines = " " * indent, []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        help_text = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(value):
            lines += [f"{pad}# {help_text}", f"{pad}{f.name}:", *render(value, indent + 2)]
        else:
            limits = f.metadata.get("range")
            bounds = f" ({limits.describe()})" if limits is not None else ""
            lines.append(f"{pad}{f.name}: {_yaml_value(value)}  # {help_text}{bounds}")
    return lines


# ------------------------------------------------------------------ validation

@dataclass(frozen=True)
class Checker:
    """How one config's errors read: ``error(f"{source}: {field}: {problem}")``, with
    ``hint`` after the fields listed in an unknown-field error (where they are documented).
    A config whose messages read otherwise overrides a method."""

    error: type[EdgefaceError]
    source: str
    hint: str = ""

    def fail(self, where: str, problem: str) -> EdgefaceError:
        return self.error(f"{self.source}: {where}: {problem}")

    def unknown(self, where: str, known: list[str]) -> EdgefaceError:
        return self.fail(where, f"unknown field: use one of {', '.join(known)}{self.hint}")

    def missing(self, where: str) -> EdgefaceError:
        return self.fail(where, "is required but missing")

    def out_of_range(self, where: str, limits: Range, value: Any) -> EdgefaceError:
        return self.fail(where, f"must be {limits.describe()}, got {show(value)}")


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('an ').removeprefix('a ')}s"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _is_number(value: Any) -> bool:
    """An int, or a finite float (an int is never NaN; a huge one would overflow isfinite)."""
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _is_a(value: Any, tp: Any) -> bool:
    """``value`` as the YAML/JSON form of a field of type ``tp`` (a bool is no number)."""
    if tp is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if tp is float:
        return _is_number(value)
    if tp is Path:
        return isinstance(value, str)
    if typing.get_origin(tp) is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, tp)


def check_value(value: Any, tp: Any, where: str, checker: Checker, limits: Optional[Range] = None) -> Any:
    """``value`` checked against the field type ``tp`` (and, for numbers, ``limits``)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else check_value(value, args[0], where, checker, limits)
    if origin in (list, tuple):  # list[Item] or tuple[Item, ...]; an item may be a nested config
        if not isinstance(value, list):
            raise checker.fail(where, f"expected {_type_name(tp)}, got {show(value)}")
        item = typing.get_args(tp)[0]
        return origin(build(item, v, checker, f"{where}[{i}].") if dataclasses.is_dataclass(item)
                      else check_value(v, item, f"{where}[{i}]", checker, limits) for i, v in enumerate(value))
    if tp is Path and isinstance(value, str) and "\0" in value:
        raise checker.fail(where, "a path cannot contain a NUL character")
    if not _is_a(value, tp):
        wanted = "a finite number" if tp is float else _type_name(tp)
        raise checker.fail(where, f"expected {wanted}, got {show(value)}")
    if limits is not None and not limits.contains(value):
        raise checker.out_of_range(where, limits, value)
    if tp is float:
        return _as_float(value, where, checker)
    return Path(value) if tp is Path else value


def _as_float(value: Any, where: str, checker: Checker) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond a float's range (a range check, if any, refused it already)
        raise checker.fail(where, f"expected a finite number, got {show(value)}") from None


def build(cls: type, data: Any, checker: Checker, prefix: str = "") -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``data``: every key a documented
    field, every value of its field's type and range, every field without a default given."""
    if not isinstance(data, dict):
        raise checker.fail(prefix.rstrip(".") or "the file", f"expected a mapping of fields, got {show(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if "doc" in f.metadata}  # undocumented: set by code
    values = {}
    for key, value in data.items():
        where = f"{prefix}{show_name(key)}"
        if key not in known:
            raise checker.unknown(where, list(known))
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            values[key] = build(tp, value if value is not None else {}, checker, f"{where}.")
        else:
            values[key] = check_value(value, tp, where, checker, known[key].metadata.get("range"))
    for name, f in known.items():
        if name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise checker.missing(f"{prefix}{name}")
    return cls(**values)
