"""osmnx/networkx graphs → :class:`~bereikbaar.engine.network.Network` (``Network.from_osmnx``).

osmnx users hold their road network in several shapes, and each stores direction
differently:

- ``graph_from_*`` results, ``graph_from_gdfs`` of those, ``load_graphml`` of a saved
  directed graph (``MultiDiGraph``) and ``ox.convert.to_digraph`` (``DiGraph``): one
  edge per arc ``u → v``; a two-way road is two edges (the second with
  ``reversed=True``), a one-way road one.
- ``ox.convert.to_undirected`` (``MultiGraph``), its ``load_graphml``, and
  ``graph_from_gdfs`` of its GeoDataFrames (a ``MultiDiGraph`` again, but with one
  edge per road in arbitrary ``u``/``v`` order): one edge per road, whose ``from``
  and ``to`` attributes (written by ``to_undirected``) give the direction of travel
  of the arc it was made from and whose ``geometry`` runs ``from → to``; a
  ``oneway`` edge is an arc ``from → to`` only, any other edge an arc each way.

An edge's geometry may run either way in all of these. Every arc here gets its
geometry oriented so that it starts at the arc's tail (a vectorised comparison of
the geometry's end points with the node coordinates; an edge whose geometry starts
at neither node is an error that names it), and edges without geometry get the
straight line between their nodes, as osmnx does. Arc lengths are the geometry
lengths in RD New (osmnx's ``length`` is a great-circle length, 0.06-0.31 %
shorter on a Dutch city graph), so an osmnx graph gives the same numbers as the
package's own OSM loader.

Travel-mode tag rules (which roads a car may use, in which direction, at what
speed) live in :mod:`bereikbaar.sources.osm_tags`, above the engine; they come in
as the ``rules`` callable (:func:`bereikbaar.sources.osmnx_graph.network_from_osmnx`
passes them).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from ..exceptions import BereikbaarWarning, NetworkError
from ..schema import CRS_RD

if TYPE_CHECKING:
    import networkx as nx

    from .network import Network

__all__ = [
    "ENDPOINT_TOLERANCE_M",
    "MIN_CORE_SHARE",
    "EdgeRules",
    "TagGetter",
    "core_share",
    "network_from_graph",
]

TagGetter = Callable[[str], str | None]
"""An edge's tag lookup: key → value, or None when the edge has no such tag."""
EdgeRules = Callable[[TagGetter], tuple[int, float, bool] | None]
"""A travel mode's tag rules: None drops the edge, else ``(direction, speed_kmh, ferry)``
with direction +1 along the way's node order only, -1 against it only, 0 both ways
(:class:`bereikbaar.sources.osm_tags.WayRules`)."""

ENDPOINT_TOLERANCE_M: Final = 1.0
"""How far (m, RD New) an edge geometry's end points may lie from its nodes."""
MIN_CORE_SHARE: Final = 0.5
"""Below this share of its main network's nodes (the weakly connected part holding the
core) in the strongly connected core, a built network gets a warning: likely a direction
error. Measured (tests/test_osmnx.py and the closing note of issue 13): correct networks
of the five real extracts in the shared data hold 0.77-1.00 (the package's loader, car,
bike and walk; Delft car 0.77; osmnx's Delft car graph 0.88); Delft's undirected osmnx
graph with one-way read from u/v instead of from/to holds 0.18 (car), with its from/to
lost 0.0004. The share of *all* nodes is no test: clipped extracts have many separate
fragments (Delft car: 0.34 of all nodes in the core, correctly)."""

ACCEPTED: Final = (
    "a networkx MultiDiGraph (osmnx graph_from_*, graph_from_gdfs, load_graphml), "
    "MultiGraph (ox.convert.to_undirected) or DiGraph (ox.convert.to_digraph)"
)
# osmnx's `oneway` values that made it reverse a way's node order (graph._add_paths)
_OSMNX_REVERSED: Final = frozenset({"-1", "reverse", "T"})
_TRUE: Final = frozenset({"true", "yes", "1"})
_FALSE: Final = frozenset({"false", "no", "0"})
_MAX_VARIANTS: Final = 256


def network_from_graph(
    graph: Any,
    *,
    mode: str,
    rules: EdgeRules | None,
    min_core_share: float,
) -> Network:
    """The Network of an osmnx/networkx graph: :meth:`Network.from_osmnx` (see there).

    Parameters
    ----------
    graph
        A ``MultiDiGraph``, ``MultiGraph`` or ``DiGraph`` with node ``x``/``y``.
    mode
        Label stored on the Network.
    rules
        A travel mode's tag rules, or None to keep every edge as osmnx directed it.
    min_core_share
        Warn below this share of the main network's nodes in the core.

    Returns
    -------
    Network
    """
    import networkx as nx

    from .network import Network

    if not isinstance(graph, nx.Graph):
        msg = f"expected {ACCEPTED}; got a {type(graph).__name__}"
        raise NetworkError(msg)
    directed, multi = graph.is_directed(), graph.is_multigraph()
    if not directed and not multi:
        msg = (
            f"an undirected nx.Graph keeps one edge per node pair and no direction; "
            f"expected {ACCEPTED}"
        )
        raise NetworkError(msg)
    nodes = list(graph.nodes)
    if not nodes:
        msg = "the graph has no nodes"
        raise NetworkError(msg)
    index: dict[Hashable, int] = {n: i for i, n in enumerate(nodes)}
    xs, ys, transform = _node_coordinates(graph, nodes)

    # one record per road edge: tail and head (node index), key, attributes, undirected?
    tails: list[int] = []
    heads: list[int] = []
    keys: list[Any] = []
    datas: list[dict[str, Any]] = []
    undirected: list[bool] = []
    seen: set[tuple[int, int, Any]] = set()
    by_str: dict[str, int] | None = None
    edges: Iterable[tuple[Any, Any, Any, dict[str, Any]]]
    if multi:
        edges = graph.edges(keys=True, data=True)
    else:
        edges = ((a, b, 0, d) for a, b, d in graph.edges(data=True))
    for a, b, k, d in edges:
        ia, ib = index[a], index[b]
        has_from_to = "from" in d and "to" in d
        if not has_from_to:
            tails.append(ia)
            heads.append(ib)
            keys.append(k)
            datas.append(d)
            undirected.append(not directed)
            continue
        # made by ox.convert.to_undirected: one road, travelled from → to
        if by_str is None:
            by_str = {str(n): i for n, i in index.items()}
        fa, fb = _node_of(d["from"], index, by_str), _node_of(d["to"], index, by_str)
        if fa is None or fb is None or {fa, fb} != {ia, ib}:
            msg = (
                f"edge {(a, b, k)}: its 'from'/'to' ({d['from']!r}, {d['to']!r}) are not "
                "its two nodes (written by ox.convert.to_undirected; remove them if edited)"
            )
            raise NetworkError(msg)
        if (fa, fb, k) in seen:  # the same road twice (a directed copy of an undirected graph)
            continue
        seen.add((fa, fb, k))
        tails.append(fa)
        heads.append(fb)
        keys.append(k)
        datas.append(d)
        undirected.append(True)

    m = len(tails)
    u = np.asarray(tails, dtype=np.int64)
    v = np.asarray(heads, dtype=np.int64)
    geoms = _geometries(datas, nodes, u, v, keys, xs, ys, transform)
    # orient: a directed edge's geometry to its u → v; an undirected one's (u, v) to its
    # geometry when it has no from/to (then only the geometry knows the way's direction)
    flip = _runs_backwards(geoms, u, v, keys, nodes, xs, ys)
    free = np.asarray(undirected, dtype=bool) & np.array(
        ["from" not in d for d in datas], dtype=bool
    )
    swap = flip & free
    u[swap], v[swap] = v[swap].copy(), u[swap].copy()
    rev = flip & ~free
    geoms[rev] = shapely.reverse(geoms[rev])
    length = shapely.length(geoms).astype(float)

    # the arcs each edge gives: +1 u → v, -1 v → u, 0 both (None: dropped)
    time_per_m: list[float] | None = None
    ferry_list: list[bool]
    if rules is None:
        direction = [
            1 if not und or _one_way_edge(d.get("oneway")) else 0
            for d, und in zip(datas, undirected, strict=True)
        ]
        ferry_list = [_first(d.get("route")) == "ferry" for d in datas]
        dirs: list[int | None] = list(direction)
    else:
        dirs, time_per_m, ferry_list, two_way_rings = _apply_rules(rules, datas, undirected)
        if two_way_rings:
            warnings.warn(
                f"{two_way_rings} roundabout edges of the graph run both ways: osmnx built it "
                "bidirectional (a walking network, or bidirectional=True), which drops every "
                f"one-way tag, so one-way streets are two-way in this {mode} network; build "
                "the graph with network_type='drive' or 'all' instead",
                BereikbaarWarning,
                stacklevel=3,
            )
    keep_f = np.array([d is not None and d >= 0 for d in dirs], dtype=bool)
    keep_b = np.array([d is not None and d <= 0 for d in dirs], dtype=bool)
    idx = np.concatenate([np.flatnonzero(keep_f), np.flatnonzero(keep_b)])
    back = np.concatenate([np.zeros(int(keep_f.sum()), bool), np.ones(int(keep_b.sum()), bool)])
    order = np.lexsort((back, idx))  # arcs in edge order, forward before backward
    idx, back = idx[order], back[order]
    if len(idx) == 0:
        msg = f"no edge of the graph is usable for mode {mode!r}"
        raise NetworkError(msg)
    au = np.where(back, v[idx], u[idx])
    av = np.where(back, u[idx], v[idx])
    ag = geoms[idx].copy()
    ag[back] = shapely.reverse(ag[back])
    alen = length[idx]
    ferry = np.asarray(ferry_list, dtype=bool)[idx]
    time_s: npt.NDArray[np.float64] | None = None
    if time_per_m is not None:
        time_s = alen * np.asarray(time_per_m, dtype=float)[idx]
    else:
        times = [d.get("travel_time") for d in datas]
        if m and all(t is not None for t in times):
            time_s = np.asarray([float(_first(t)) for t in times], dtype=float)[idx]
    try:
        node_id: npt.NDArray[np.int64] | None = np.array(nodes, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        node_id = None
    net = Network(
        x=np.asarray(xs, dtype=float),
        y=np.asarray(ys, dtype=float),
        u=np.asarray(au, dtype=np.int64),
        v=np.asarray(av, dtype=np.int64),
        length_m=alen,
        time_s=time_s,
        geometry=np.asarray(ag, dtype=object),
        node_id=node_id,
        ferry=ferry,
        mode=mode,
    )
    share = core_share(net)
    if share < min_core_share:
        warnings.warn(
            f"only {share:.0%} of the main road network's nodes are in its strongly connected "
            f"core (expected at least {min_core_share:.0%}): the graph's one-way directions are "
            "probably wrong, e.g. an undirected graph whose 'from'/'to' attributes were lost",
            BereikbaarWarning,
            stacklevel=3,
        )
    return net


def core_share(network: Network) -> float:
    """Share of the main network's nodes in the strongly connected core.

    The main network is the weakly connected part holding the core; clipped or
    fragmented extracts have many small separate parts, which this share ignores,
    while wrong one-way directions break the main network's core apart.
    """
    if network.n_nodes == 0:
        return 1.0
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    core = network.core_nodes()
    n = network.n_nodes
    g = sp.csr_array((np.ones(network.n_arcs), (network.u, network.v)), shape=(n, n))
    _, labels = connected_components(g, directed=True, connection="weak")
    main = labels[np.argmax(core)]
    return float(core.sum() / np.count_nonzero(labels == main))


# ---------------------------------------------------------------------- helpers
def _node_coordinates(
    graph: nx.Graph, nodes: list[Hashable]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], Any]:
    import pyproj

    raw_x, raw_y, bad = [], [], []
    for n, d in graph.nodes(data=True):
        try:
            x, y = float(d["x"]), float(d["y"])
        except (KeyError, TypeError, ValueError):
            bad.append(n)
            x = y = float("nan")
        else:
            if not (np.isfinite(x) and np.isfinite(y)):
                bad.append(n)
        raw_x.append(x)
        raw_y.append(y)
    if bad:
        shown = ", ".join(repr(n) for n in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        msg = (
            f"{len(bad)} of {len(nodes)} graph nodes have no numeric 'x'/'y' coordinates "
            f"(node {shown}{more}); every node needs x and y in the graph's CRS "
            "(graph.graph['crs'], lon/lat when absent), as osmnx writes them"
        )
        raise NetworkError(msg)
    xs = np.asarray(raw_x, dtype=float)
    ys = np.asarray(raw_y, dtype=float)
    crs = graph.graph.get("crs", "EPSG:4326")
    try:
        source = pyproj.CRS(crs)
    except pyproj.exceptions.CRSError as err:
        msg = f"the graph's CRS (graph.graph['crs'] = {crs!r}) is not a CRS pyproj knows"
        raise NetworkError(msg) from err
    transform = None
    if source != pyproj.CRS(CRS_RD):
        tr = pyproj.Transformer.from_crs(source, CRS_RD, always_xy=True)

        def transform(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            return np.column_stack(tr.transform(c[:, 0], c[:, 1]))

        xy = transform(np.column_stack([xs, ys]))
        xs, ys = xy[:, 0].copy(), xy[:, 1].copy()
    return xs, ys, transform


def _node_of(value: Any, index: dict[Hashable, int], by_str: dict[str, int]) -> int | None:
    try:
        if value in index:
            return index[value]
    except TypeError:  # unhashable
        return None
    return by_str.get(str(value))


def _geometries(
    datas: list[dict[str, Any]],
    nodes: list[Hashable],
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    keys: list[Any],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    transform: Any,
) -> npt.NDArray[np.object_]:
    """Each edge's LineString in RD New; straight between its nodes where it has none."""
    m = len(datas)
    geoms = np.empty(m, dtype=object)
    have = np.zeros(m, dtype=bool)
    for k, d in enumerate(datas):
        g = d.get("geometry")
        if g is None:
            continue
        if isinstance(g, str):  # WKT (a GraphML read without osmnx)
            try:
                g = shapely.from_wkt(g)
            except shapely.errors.GEOSException:
                g = None
        if not isinstance(g, shapely.LineString) or g.is_empty:
            msg = (
                f"edge {(nodes[u[k]], nodes[v[k]], keys[k])}: its geometry must be a "
                f"LineString, got {type(g).__name__ if g is not None else 'unreadable text'}"
            )
            raise NetworkError(msg)
        geoms[k] = g
        have[k] = True
    if have.any() and transform is not None:
        geoms[have] = shapely.transform(geoms[have], transform)
    if (~have).any():
        miss = np.flatnonzero(~have)
        coords = np.stack(
            [
                np.column_stack([xs[u[miss]], ys[u[miss]]]),
                np.column_stack([xs[v[miss]], ys[v[miss]]]),
            ],
            axis=1,
        )
        geoms[miss] = shapely.linestrings(coords)
    return geoms


def _runs_backwards(
    geoms: npt.NDArray[np.object_],
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    keys: list[Any],
    nodes: list[Hashable],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Whether each geometry runs v → u (vectorised); an error where it fits neither way."""
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    last = shapely.get_coordinates(shapely.get_point(geoms, -1))
    pu = np.column_stack([xs[u], ys[u]])
    pv = np.column_stack([xs[v], ys[v]])

    def dist(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.hypot(p[:, 0] - q[:, 0], p[:, 1] - q[:, 1]))

    fwd = np.maximum(dist(first, pu), dist(last, pv))
    bwd = np.maximum(dist(first, pv), dist(last, pu))
    tol = ENDPOINT_TOLERANCE_M
    bad = (fwd > tol) & (bwd > tol)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        msg = (
            f"{int(bad.sum())} edge geometries do not join their nodes, e.g. edge "
            f"{(nodes[u[k]], nodes[v[k]], keys[k])}: its geometry ends lie {fwd[k]:,.1f} m "
            f"from u → v and {bwd[k]:,.1f} m from v → u (tolerance {tol:g} m); "
            "the edge's geometry or its nodes' x/y are wrong (a different CRS?)"
        )
        raise NetworkError(msg)
    return np.asarray(bwd < fwd)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _truth(value: Any) -> bool:
    """osmnx's ``reversed`` (bool, or its text after a plain GraphML read)."""
    if isinstance(value, list):
        return any(_truth(x) for x in value)
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value) if value is not None else False


def _one_way_edge(value: Any) -> bool:
    """Whether osmnx made the edge's way one-way (one edge, no twin), from its ``oneway``.

    osmnx writes a bool (text ``True``/``False`` after a plain GraphML read); with
    ``ox.settings.all_oneway`` it keeps the OSM tag's text and every edge is one-way.
    """
    if isinstance(value, list):  # merged by simplification: one-way if any part is
        return any(_one_way_edge(x) for x in value)
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return bool(value)


def _as_tag(key: str, value: Any) -> str | None:
    """An edge attribute as the OSM tag value the rules read."""
    if value is None:
        return None
    if key == "oneway":
        # osmnx replaces the tag by a bool: True = one-way along the edge's path
        # order (osmnx already reversed `oneway=-1` ways), False = no one-way tag
        # (or oneway=no); with ox.settings.all_oneway it keeps the tag's text
        if isinstance(value, bool | np.bool_):
            return "yes" if value else None
        text = str(value)
        if text.strip().lower() in _TRUE | {"true"}:
            return "yes"
        if text.strip().lower() in {"false"}:
            return None
        return text
    return str(value)


def _apply_rules(
    rules: EdgeRules, datas: list[dict[str, Any]], undirected: list[bool]
) -> tuple[list[int | None], list[float], list[bool], int]:
    """Direction (relative to each edge's u → v), seconds per metre and ferry flag per edge,
    and the number of roundabout edges the rules make one-way that osmnx made two-way (osmnx
    makes every roundabout one-way, unless the graph is bidirectional: no one-way at all).

    An edge merged from several ways by osmnx's simplification has list-valued tags;
    the rules are applied to every combination: the edge is kept only if every part
    is usable, in a direction every part allows, at the slowest part's speed.
    """
    dirs: list[int | None] = []
    pace: list[float] = []
    ferry: list[bool] = []
    two_way_rings = 0
    for d, und in zip(datas, undirected, strict=True):
        outcome = _rule_outcome(rules, d)
        if outcome is None:
            dirs.append(None)
            pace.append(0.0)
            ferry.append(False)
            continue
        way_dir, speed_kmh, is_ferry, path_reversed = outcome
        if way_dir and _first(d.get("junction")) == "roundabout":
            two_way_rings += not _one_way_edge(d.get("oneway"))
        rel: int | None
        if way_dir == 0:
            rel = 0
        elif path_reversed is None:
            rel = None  # parts drawn both ways under a one-way rule: no usable direction
        else:
            rel = -way_dir if path_reversed else way_dir
        if not und and rel is not None and not _one_way_edge(d.get("oneway")):
            # osmnx gave this way an edge each way: each edge keeps only itself
            rel = 1 if rel >= 0 else None
        dirs.append(rel)
        pace.append(3.6 / speed_kmh if speed_kmh > 0 else 0.0)
        ferry.append(is_ferry)
    return dirs, pace, ferry, two_way_rings


def _rule_outcome(
    rules: EdgeRules, d: dict[str, Any]
) -> tuple[int, float, bool, bool | None] | None:
    """The rules over an edge's tag combinations: (direction along the way, speed, ferry,
    whether the edge runs against its way's node order; None when its parts disagree)."""
    listed: dict[str, list[Any]] = {}

    def record(key: str) -> str | None:
        value = d.get(key)
        if isinstance(value, list):
            listed[key] = value
            value = value[0] if value else None
        return _as_tag(key, value)

    first = rules(record)
    names = list(listed)
    combos: Iterable[tuple[Any, ...]] = [()]
    if names:
        combos = itertools.islice(itertools.product(*(listed[k] for k in names)), _MAX_VARIANTS)
    results = []
    if not names:
        results.append(first)
    else:
        for combo in combos:
            chosen = dict(zip(names, combo, strict=True))

            def get(key: str, chosen: dict[str, Any] = chosen) -> str | None:
                value = chosen[key] if key in chosen else _first(d.get(key))
                return _as_tag(key, value)

            results.append(rules(get))
    if any(r is None for r in results):
        return None
    kept = [r for r in results if r is not None]
    way_dirs = {r[0] for r in kept} - {0}
    if len(way_dirs) > 1:
        return None  # one part one-way forward, another backward
    way_dir = way_dirs.pop() if way_dirs else 0
    speed = min(r[1] for r in kept)
    is_ferry = any(r[2] for r in kept)
    # osmnx reversed a way's nodes for oneway=-1 (the tag then reads "yes" here, unless
    # all_oneway kept its text, which the rules flip themselves), and `reversed` marks
    # the opposite edge of a two-way way
    rev = d.get("reversed")
    parts = rev if isinstance(rev, list) else [rev]
    flags = {_truth(p) for p in parts}
    oneway_text = _first(d.get("oneway"))
    if isinstance(oneway_text, str) and oneway_text in _OSMNX_REVERSED:
        flags = {not f for f in flags}
    path_reversed = flags.pop() if len(flags) == 1 else None
    return way_dir, speed, is_ferry, path_reversed
