"""bereikbaar: road distance to the nearest full-service public library, per Dutch gemeente.

The public API, in pipeline order::

    import bereikbaar as bb

    gemeenten = bb.load_gemeenten("gemeenten.gpkg")
    cells = bb.load_cbs_grid("vierkant_100m.gpkg")
    libraries = bb.load_libraries("bibliotheken.csv")
    network = bb.load_network("provincie.osm.pbf", mode="car")
    cells = cells.join(bb.nearest_library(network, cells, libraries))
    summary = bb.aggregate_gemeenten(cells, gemeenten, libraries, rule=bb.FlagRule())
    bb.make_map(cells, summary, libraries).save("kaart.html")

Everything metric is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from .accessibility import nearest_library, snap_to_arcs
from .aggregate import aggregate_gemeenten, weighted_quantile
from .exceptions import (
    BereikbaarError,
    BereikbaarWarning,
    ConfigError,
    DownloadError,
    GeocodeError,
    InputError,
    NetworkError,
    OutputError,
)
from .maps import make_map, write_map
from .network import Network
from .pipeline import RunResult, run
from .report import write_tables
from .settings import FlagRule, Settings
from .sources.cbs_grid import load_cbs_grid
from .sources.gemeenten import load_gemeenten
from .sources.libraries import load_libraries
from .sources.osm import load_network

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BereikbaarError",
    "BereikbaarWarning",
    "ConfigError",
    "DownloadError",
    "FlagRule",
    "GeocodeError",
    "InputError",
    "Network",
    "NetworkError",
    "OutputError",
    "RunResult",
    "Settings",
    "__version__",
    "aggregate_gemeenten",
    "load_cbs_grid",
    "load_gemeenten",
    "load_libraries",
    "load_network",
    "make_map",
    "nearest_library",
    "run",
    "snap_to_arcs",
    "weighted_quantile",
    "write_map",
    "write_tables",
]
