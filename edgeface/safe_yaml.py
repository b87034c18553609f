"""The one way edgeface reads YAML: safe tags only, and bounded work whatever the input.

A config, a device profile or ``socs.yaml`` is read through :func:`load_yaml_file` or
:func:`parse_yaml`, which add to PyYAML's ``SafeLoader``:

- a size limit on the file (``MAX_BYTES``), read from a regular file only (a FIFO or
  ``/dev/zero`` is refused, not waited on or read forever);
- a limit on the values the document expands to (``MAX_VALUES``), every alias counted
  at each use with everything under it. A "billion laughs" document (a few hundred bytes
  of nested aliases that expand to billions of items) is refused after composing, in
  time proportional to its size, before any value is built, shown or validated;
- a limit on nesting (``MAX_DEPTH``), whatever the process's recursion limit;
- one ``EdgefaceError`` line naming the file for everything that can go wrong: YAML
  syntax, nesting too deep, a value PyYAML cannot build (an integer of 5,000 digits, a
  date that does not exist), an alias to a collection that contains it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from edgeface.errors import EdgefaceError, clip

MAX_BYTES = 1 << 20      # 1 MiB: edgeface's configs and profiles are a few kilobytes
MAX_VALUES = 100_000     # scalars and collections after alias expansion
MAX_DEPTH = 100          # nested collections (Python's recursion limit is no bound: libraries raise it)


class _TooBig(Exception):
    """The document expands past ``MAX_VALUES``, or an alias refers to its own ancestor."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that measures the composed document before building any value."""

    def construct_document(self, node: yaml.Node) -> Any:
        _expanded_size(node)
        return super().construct_document(node)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(root: yaml.Node) -> int:
    """How many values ``root`` expands to, with every alias expanded. An alias is the same
    node object as its anchor, so each node is measured once (its size is remembered):
    the work is proportional to the document, not to its expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the nodes on the current path, to see a recursive alias

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _TooBig("an alias refers to a collection that contains it")
        if len(open_nodes) >= MAX_DEPTH:
            raise _TooBig(f"nested too deeply (more than {MAX_DEPTH} levels)")
        open_nodes.add(key)
        total = 1 + sum(size(child) for child in _children(node))
        open_nodes.discard(key)
        if total > MAX_VALUES:
            raise _TooBig(f"it expands to more than {MAX_VALUES:,} values (aliases count at every use): "
                          f"is this an alias bomb?")
        sizes[key] = total
        return total

    return size(root)


def _too_large(error: type[EdgefaceError], name: str, limit: int) -> EdgefaceError:
    return error(f"{name}: larger than {limit // 1024} KiB, more than such a file ever holds: is it the right file?")


def parse_yaml(text: str, error: type[EdgefaceError], name: str) -> Any:
    """The document in ``text``; any problem raises ``error`` naming ``name`` (the file)."""
    if len(text) > MAX_BYTES:
        raise _too_large(error, name, MAX_BYTES)
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except _TooBig as exc:
        raise error(f"{name}: refused: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise error(f"{name}: not valid YAML{where}: {clip(str(exc.problem or exc.context))}") from None
    except yaml.YAMLError as exc:
        raise error(f"{name}: not valid YAML: {clip(str(exc))}") from None
    except RecursionError:
        raise error(f"{name}: not valid YAML: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML matched but cannot build
        raise error(f"{name}: not valid YAML: a value cannot be read ({clip(str(exc), 100)})") from None


def _unreadable(error: type[EdgefaceError], name: str, exc: Exception) -> EdgefaceError:
    return error(f"{name}: cannot read it ({getattr(exc, 'strerror', None) or exc})")


def read_bounded(path: Path, error: type[EdgefaceError], name: str, limit: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, else ``error``.
    Opened without blocking, so a FIFO is refused instead of waited on. A missing file
    raises ``FileNotFoundError`` (callers know what to suggest)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _unreadable(error, name, exc) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{name}: not a regular file")
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise _unreadable(error, name, exc) from None
    if len(data) > limit:
        raise _too_large(error, name, limit)
    return data


def load_yaml_file(path: str | Path, error: type[EdgefaceError], name: str | None = None) -> Any:
    """The YAML document in the file ``path``, read within the limits above; problems
    raise ``error`` naming ``name`` (default: the path, shortened when a config gave a long one),
    a missing file ``FileNotFoundError``."""
    name = name or clip(str(path))
    data = read_bounded(Path(path), error, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    return parse_yaml(text, error, name)
