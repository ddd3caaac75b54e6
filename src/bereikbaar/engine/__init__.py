"""The engine: road networks as arrays, snapping onto arcs, one search from all libraries.

The numeric core of bereikbaar, below every stage: it knows arrays and
geometry (NumPy, scipy, numba, shapely), not files, tables or maps.

* :mod:`~bereikbaar.engine.network`: :class:`Network`, a directed road network
  for one mode (CSR adjacency, node coordinates, arc geometry; cached indexes;
  ``.npz`` save/load; osmnx in and out).
* :mod:`~bereikbaar.engine.coverage`: :func:`network_coverage`, the area a network
  covers (:class:`Coverage`); origins outside it are not snapped.
* :mod:`~bereikbaar.engine.osmnx_graph`: osmnx/networkx graphs in every shape
  osmnx gives → :class:`Network` (direction, geometry orientation, tag rules
  passed in).
* :mod:`~bereikbaar.engine.snap`: :func:`snap_to_arcs` projects points
  perpendicular onto the nearest eligible arc (:class:`Snapped`).
* :mod:`~bereikbaar.engine.search`: the library terms, the multi-source
  Dijkstra on the reversed graph (:func:`node_costs`) and every origin's cost
  (:func:`origin_costs`); :func:`solve` does both.
* :mod:`~bereikbaar.engine._kernels`: the compiled loops (numba, GIL released),
  imported only when they run.

The stage that turns tables into a nearest-library frame is
:func:`bereikbaar.accessibility.nearest_library`.
"""

from __future__ import annotations

from .coverage import Coverage, network_coverage
from .network import FloatArray, IntArray, Network, Weight, hilbert_index
from .search import (
    DEFAULT_ENGINE,
    EPS,
    Engine,
    LibraryTerms,
    NodeSearch,
    arc_cost,
    costs_from_search,
    leg_cost,
    library_graph,
    library_seeds,
    library_terms,
    node_costs,
    node_search,
    origin_costs,
    solve,
)
from .snap import Snapped, eligible_arcs, snap_to_arcs

__all__ = [
    "DEFAULT_ENGINE",
    "EPS",
    "Coverage",
    "Engine",
    "FloatArray",
    "IntArray",
    "LibraryTerms",
    "Network",
    "NodeSearch",
    "Snapped",
    "Weight",
    "arc_cost",
    "costs_from_search",
    "eligible_arcs",
    "hilbert_index",
    "leg_cost",
    "library_graph",
    "library_seeds",
    "library_terms",
    "network_coverage",
    "node_costs",
    "node_search",
    "origin_costs",
    "snap_to_arcs",
    "solve",
]
