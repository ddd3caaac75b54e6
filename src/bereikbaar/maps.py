"""Deprecated import path, kept for one release: use bereikbaar.output.maps.

The map moved to :mod:`bereikbaar.output`: the map itself to :mod:`bereikbaar.output.maps`,
the cell raster to :mod:`bereikbaar.output.raster`, the safe/offline pages to
:mod:`bereikbaar.output.offline`, the catchments to :mod:`bereikbaar.output.catchments` and
the classes, colours and escaping to :mod:`bereikbaar.output.style`.

Every public name of :mod:`bereikbaar.output` is re-exported here, so that the list of
names is kept in one place.
"""

from __future__ import annotations

from bereikbaar.output import *  # noqa: F403
from bereikbaar.output import __all__ as __all__
