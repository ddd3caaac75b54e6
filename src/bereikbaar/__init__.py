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

import lazy_loader

from ._version import __version__ as __version__

# The public API is imported lazily (lazy_loader, SPEC 1): ``import bereikbaar`` stays cheap for
# the CLI, notebooks and Dask workers, and each stage's heavy dependencies (folium, scipy,
# numba, dask, ...) load on first use. The names and their homes are listed once, in
# ``__init__.pyi``, which type checkers read too.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)

logging.getLogger(__name__).addHandler(logging.NullHandler())
