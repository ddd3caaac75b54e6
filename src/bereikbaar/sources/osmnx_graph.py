"""Road network from an osmnx graph the user already has, under the OSM loader's tag rules.

:func:`network_from_osmnx` applies a travel mode's rules from :mod:`.osm_tags` (the
one table the PBF/XML loader and Overpass use) to an osmnx graph in any of the shapes
:meth:`bereikbaar.engine.network.Network.from_osmnx` takes. The rules read OSM tags
that osmnx keeps only when asked; build the graph with those tags::

    from bereikbaar.sources.osm_tags import WAY_TAGS
    ox.settings.useful_tags_way = [*ox.settings.useful_tags_way, *WAY_TAGS]

For the same network as :func:`bereikbaar.sources.osm.load_network` on the same file,
simplify with ``ox.simplify_graph(G, edge_attrs_differ=WAY_TAGS)`` (or not at all):
osmnx's default simplification merges ways with different tags into one edge, and a
merged edge is kept only where every part is usable (see
:mod:`bereikbaar.engine.osmnx_graph`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.network import Network
from ..exceptions import NetworkError
from ..schema import MODES
from ..settings import Settings
from .osm_tags import rules_for

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["network_from_osmnx"]


def network_from_osmnx(
    graph: nx.MultiDiGraph | nx.MultiGraph | nx.DiGraph,
    mode: str = "car",
    *,
    settings: Settings | None = None,
) -> Network:
    """The road network of ``mode`` in an osmnx graph, under the OSM loader's tag rules.

    Parameters
    ----------
    graph
        An osmnx graph: ``graph_from_*``, ``ox.convert.to_undirected`` /
        ``to_digraph``, ``graph_from_gdfs`` or ``load_graphml``; projected or lon/lat.
    mode
        ``"car"``, ``"bike"`` or ``"walk"``: which edges are kept, in which direction
        and at what speed (``time_s``), as :func:`bereikbaar.sources.osm.load_network`.
    settings
        Speeds (``car_speeds_kmh``, ``bike_speed_kmh``, ``walk_speed_kmh``,
        ``ferry_speed_kmh``); default ``Settings()``.

    Returns
    -------
    Network
        RD New; ``length_m`` the geometry length in RD New, ``time_s`` at the rules'
        speeds.

    Raises
    ------
    NetworkError
        Unknown mode, or anything :meth:`Network.from_osmnx` refuses.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(crs="EPSG:28992")
    >>> g.add_node(1, x=0.0, y=0.0); g.add_node(2, x=100.0, y=0.0)
    >>> _ = g.add_edge(1, 2, highway="residential", oneway=False, reversed=False)
    >>> _ = g.add_edge(2, 1, highway="residential", oneway=False, reversed=True)
    >>> _ = g.add_edge(1, 2, highway="cycleway", oneway=False, reversed=False)
    >>> network_from_osmnx(g, "car", settings=Settings()).n_arcs  # the cycleway is not for cars
    2
    """
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}; got {mode!r}"
        raise NetworkError(msg)
    rules = rules_for(mode, settings if settings is not None else Settings())
    return Network.from_osmnx(graph, mode=mode, rules=rules)
