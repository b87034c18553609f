"""Package attributes imported on first use, so that importing a package stays light."""

from __future__ import annotations

from typing import Any, Callable


def lazy_attributes(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` (a module path) when ``name``
    is first asked for."""

    def __getattr__(name: str) -> Any:
        if name in table:
            import importlib

            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
