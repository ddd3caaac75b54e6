"""Deprecated import path, kept for one release: use bereikbaar.output.maps.

The map moved to :mod:`bereikbaar.output`: the map itself to :mod:`bereikbaar.output.maps`,
the cell raster to :mod:`bereikbaar.output.raster`, the safe/offline pages to
:mod:`bereikbaar.output.offline`, the catchments to :mod:`bereikbaar.output.catchments` and
the classes, colours and escaping to :mod:`bereikbaar.output.style`.

Every public name of :mod:`bereikbaar.output` is re-exported here, lazily, so that the list
of names is kept in one place.
"""

from __future__ import annotations

from typing import Any

from bereikbaar import output as _output

__all__ = list(_output.__all__)


def __getattr__(name: str) -> Any:
    """Each name on first use from :mod:`bereikbaar.output` (lazy there too: no folium or
    matplotlib is loaded by importing this module)."""
    if name in __all__:
        return getattr(_output, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
