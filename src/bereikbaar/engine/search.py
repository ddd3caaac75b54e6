"""The search: one multi-source Dijkstra from the libraries, then every origin's cost.

How a distance is built (as CBS does for its Nabijheidsstatistiek), from points
snapped onto arcs (:mod:`bereikbaar.engine.snap`):

    origin snap leg + along its arc to an arc end + network distance
    + along the library's arc + library snap leg

The network part is **one** Dijkstra on the reversed graph from every library at
once (:func:`node_costs`: the compiled search of :mod:`bereikbaar.engine._kernels`,
or scipy's as the reference), so one-way streets are respected in the direction
home → library and no search runs per origin; :func:`origin_costs` then adds each
origin's own terms. :func:`solve` does both.

Costs are metres (``weight="length"``) or seconds (``weight="time"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..exceptions import InputError, NetworkError
from ._compiled import kernel
from .network import FloatArray, IntArray, Network, Weight
from .snap import Snapped

EPS: Final = 1e-9
"""Tolerance (m or s along an arc) under which a point counts as lying at an arc end."""

Engine = Literal["numba", "scipy"]
"""The node searches :func:`node_costs` runs: compiled (``numba``) or scipy's (the reference)."""
DEFAULT_ENGINE: Engine = "numba"


def arc_cost(network: Network, weight: Weight, snapped: Snapped) -> tuple[FloatArray, FloatArray]:
    """Cost along each point's arc: from the arc's tail to the point, and on to its head.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    snapped
        Points snapped onto the network's arcs.

    Returns
    -------
    to_point, from_point
        One cost per point (NaN where the point is not snapped); the arc's
        weight is shared in proportion to the offset along it.
    """
    ok = snapped.ok
    a = np.where(ok, snapped.arc, 0)
    w = network.weights(weight)[a]
    length = network.length_m[a]
    frac = np.divide(snapped.offset_m, length, out=np.zeros_like(length), where=length > 0)
    to_point = np.where(ok, frac * w, np.nan)
    from_point = np.where(ok, (1.0 - frac) * w, np.nan)
    return to_point, from_point


def leg_cost(network: Network, weight: Weight, snapped: Snapped) -> FloatArray:
    """Cost of each point's snap leg: metres, or seconds at the speed of the arc snapped onto.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    snapped
        Points snapped onto the network's arcs.

    Returns
    -------
    numpy.ndarray
        One cost per point (NaN where the point is not snapped).
    """
    if weight == "length":
        return snapped.snap_m
    a = np.where(snapped.ok, snapped.arc, 0)
    length = network.length_m[a]
    t = network.weights("time")[a]
    speed = np.divide(length, t, out=np.full_like(length, np.nan), where=t > 0)
    return np.where(snapped.ok, snapped.snap_m / speed, np.nan)


@dataclass(frozen=True)
class LibraryTerms:
    """The usable libraries of a :class:`~bereikbaar.engine.snap.Snapped` set and their arc terms.

    Attributes
    ----------
    lib_ok
        Index (into the snapped set) of each usable library ``j = 0..k-1``.
    arc
        Arc each usable library lies on.
    to_lib
        Cost from the arc's tail to the library along the arc.
    from_lib
        Cost from the library to the arc's head along the arc.
    leg
        Snap-leg cost of the library.
    """

    lib_ok: IntArray
    arc: IntArray
    to_lib: FloatArray
    from_lib: FloatArray
    leg: FloatArray

    def without(self, j: int) -> LibraryTerms:
        """The same terms with usable library ``j`` left out."""
        keep = np.arange(len(self.lib_ok)) != j
        return LibraryTerms(
            self.lib_ok[keep],
            self.arc[keep],
            self.to_lib[keep],
            self.from_lib[keep],
            self.leg[keep],
        )


def library_terms(network: Network, weight: Weight, libs: Snapped) -> LibraryTerms:
    """Arc terms of the snapped libraries that can be used.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    libs
        The libraries, snapped; the unsnapped ones are left out.

    Returns
    -------
    LibraryTerms
        One entry per usable library ``j``.
    """
    lib_ok = np.flatnonzero(libs.ok)
    la = libs.arc[lib_ok]
    to_lib, from_lib = arc_cost(network, weight, libs)
    leg = leg_cost(network, weight, libs)[lib_ok]
    return LibraryTerms(lib_ok, la, to_lib[lib_ok], from_lib[lib_ok], leg)


def library_seeds(
    network: Network, libs: Snapped, terms: LibraryTerms
) -> tuple[IntArray, IntArray, FloatArray]:
    """Where the search from each usable library ``j`` starts, and at what cost.

    From the tail ``u`` of the library's arc along it (``leg + to_lib``), always;
    from the head ``v`` (``leg + from_lib``) where the road is two-way or the
    library sits at the head.

    Parameters
    ----------
    network
        The road network.
    libs
        The libraries, snapped.
    terms
        Their :func:`library_terms`.

    Returns
    -------
    label, node, cost
        One entry per seed: the library ``j`` it belongs to, the node it starts
        from and the cost there.
    """
    la = terms.arc
    rev = network.reverse_arc()
    at_head = libs.offset_m[terms.lib_ok] >= network.length_m[la] - EPS
    back = (rev[la] >= 0) | at_head
    j = np.arange(len(la), dtype=np.int64)
    return (
        np.concatenate([j, j[back]]),
        np.concatenate([network.u[la], network.v[la][back]]).astype(np.int64),
        np.concatenate([terms.leg + terms.to_lib, (terms.leg + terms.from_lib)[back]]),
    )


def library_graph(
    network: Network, weight: Weight, libs: Snapped, terms: LibraryTerms | None = None
) -> tuple[sp.csr_array, IntArray]:
    """The reversed graph with one virtual node ``n + j`` per usable library.

    The reference formulation of the search (what :func:`node_costs` runs with
    ``engine="scipy"``): a Dijkstra from the virtual nodes gives the cost from
    every node to its nearest library.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    libs
        The libraries, snapped.
    terms
        Their :func:`library_terms` (computed when not given).

    Returns
    -------
    graph
        CSR of size ``n_nodes + k``; a Dijkstra from the virtual nodes gives the
        cost from every node to the libraries (home → library direction).
    virt
        The virtual node of each usable library.
    """
    n = network.n_nodes
    t = terms if terms is not None else library_terms(network, weight, libs)
    k = len(t.lib_ok)
    # virtual node n+j for library j; reversed graph: library → arc ends
    rows, cols, data = library_seeds(network, libs, t)
    virt = n + np.arange(k)
    # the reversed road graph (cached on the network) plus one row per library
    base = network.csr(weight, reverse=True, copy=False)
    size = n + k
    # min over duplicates (a library on a zero-length arc may add two identical entries)
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, data = rows[keep], cols[keep], data[keep]
    virt_ptr = np.cumsum(np.bincount(rows, minlength=k))
    indptr = np.concatenate([base.indptr.astype(np.int64), base.indptr[-1] + virt_ptr])
    graph = sp.csr_array(
        (
            np.concatenate([base.data, data]),
            np.concatenate([base.indices, cols.astype(np.int32)]).astype(np.int32),
            indptr.astype(np.int32),
        ),
        shape=(size, size),
    )
    return graph, virt


def origin_costs(
    network: Network,
    weight: Weight,
    origins: Snapped,
    node_cost: FloatArray,
    node_lib: IntArray,
    terms: LibraryTerms,
) -> tuple[FloatArray, IntArray]:
    """Cost from each origin to its cheapest library, given the node costs.

    Libraries on the origin's own arc are reached directly along it.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    origins
        The origins, snapped.
    node_cost, node_lib
        Per node (length ``n_nodes``): the cost to its cheapest library and that
        library's index ``j`` into ``terms`` (from :func:`node_costs`).
    terms
        The usable libraries' :func:`library_terms`.

    Returns
    -------
    cost, library
        Per origin: the cost (NaN where unreachable) and the index of the library
        into the snapped set (``terms.lib_ok[j]``; -1 where unreachable).
    """
    u, v = network.u, network.v
    rev = network.reverse_arc()
    la = terms.arc
    k = len(la)
    ok = origins.ok
    oa = np.where(ok, origins.arc, 0)
    to_pt, from_pt = arc_cost(network, weight, origins)
    oleg = leg_cost(network, weight, origins)
    fwd_cost = from_pt + node_cost[v[oa]]
    fwd_lib = node_lib[v[oa]]
    can_back = (rev[oa] >= 0) | (origins.offset_m <= EPS)
    back_cost = np.where(can_back, to_pt + node_cost[u[oa]], np.inf)
    back_lib = node_lib[u[oa]]
    use_back = back_cost < fwd_cost
    cost = np.where(use_back, back_cost, fwd_cost)
    lib = np.where(use_back, back_lib, fwd_lib)

    # library on the same arc as the origin: direct travel along the arc
    # pairs (origin, library) on one arc, by origin then library (as an inner merge)
    ok_o = np.flatnonzero(ok)
    on_lib_arc = np.zeros(network.n_arcs, dtype=bool)
    on_lib_arc[la] = True
    ok_o = ok_o[on_lib_arc[origins.arc[ok_o]]]  # the few origins sharing an arc with one
    by_arc = np.argsort(la, kind="stable")
    la_sorted = la[by_arc]
    lo = np.searchsorted(la_sorted, origins.arc[ok_o], side="left")
    cnt = np.searchsorted(la_sorted, origins.arc[ok_o], side="right") - lo
    if k and cnt.any():
        o = np.repeat(ok_o, cnt)
        first = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        j = by_arc[first + np.arange(int(cnt.sum()))]
        s_o = to_pt[o]
        s_l = terms.to_lib[j]
        forward = s_l >= s_o - EPS
        twin = rev[oa[o]] >= 0
        along = np.where(forward, s_l - s_o, np.where(twin, s_o - s_l, np.inf))
        direct = along + terms.leg[j]
        for oi, ji, d in zip(o.tolist(), j.tolist(), direct.tolist(), strict=True):
            if d < cost[oi]:
                cost[oi] = d
                lib[oi] = ji
    cost = cost + oleg
    cost = np.where(ok & np.isfinite(cost), cost, np.nan)
    lib = np.where(np.isnan(cost), -1, lib)
    lib_index = np.where(lib >= 0, terms.lib_ok[np.maximum(lib, 0)], -1)
    return cost, lib_index


def node_costs(
    network: Network,
    weight: Weight,
    libs: Snapped,
    terms: LibraryTerms,
    *,
    engine: Engine = DEFAULT_ENGINE,
) -> tuple[FloatArray, IntArray]:
    """Cost from every node to its cheapest library and that library's ``j``.

    One multi-source Dijkstra on the reversed graph, seeded at both ends of each
    library's arc (``leg + to_lib`` at the tail; ``leg + from_lib`` at the head
    where the road is two-way). ``engine="numba"`` runs the compiled search of
    :mod:`bereikbaar.engine._kernels` (GIL released) over the nodes in Hilbert order;
    ``engine="scipy"`` the reference: ``scipy.sparse.csgraph.dijkstra`` on
    :func:`library_graph`. Both return the same costs.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    libs
        The libraries, snapped.
    terms
        Their :func:`library_terms` (at least one usable library).
    engine
        ``"numba"`` (default) or ``"scipy"``.

    Returns
    -------
    cost, library
        Per node: the cost to its cheapest library (``inf`` where none is
        reachable) and that library's ``j`` (-1 where none).

    Raises
    ------
    InputError
        An unknown engine.
    NetworkError
        The compiled engine is asked for a network of 2**31 nodes or more.
    """
    n = network.n_nodes
    if engine == "scipy":
        graph, virt = library_graph(network, weight, libs, terms)
        dist, _, sources = dijkstra(
            graph, directed=True, indices=virt, min_only=True, return_predecessors=True
        )
        return dist[:n], np.where(sources[:n] >= n, sources[:n] - n, -1)
    if engine != "numba":
        msg = f"engine must be 'numba' or 'scipy', got {engine!r}"
        raise InputError(msg)
    # the install's compiled module, else numba's JIT kernel (numba imported only then)
    multi_source_dijkstra = kernel("multi_source_dijkstra")

    k = len(terms.arc)
    if max(n, k) >= 2**31 - 1:
        msg = f"the compiled engine handles fewer than 2**31 nodes; use engine='scipy' ({n:,})"
        raise NetworkError(msg)
    seed_label, seed_node, seed_cost = library_seeds(network, libs, terms)
    graph, rank = network.search_csr(weight)  # nodes in Hilbert order (memory locality)
    dist, lab = multi_source_dijkstra(
        graph.indptr, graph.indices, graph.data, rank[seed_node], seed_cost, seed_label
    )
    return np.asarray(dist)[rank], np.asarray(lab)[rank].astype(np.int64)


def solve(
    network: Network,
    weight: Weight,
    origins: Snapped,
    libs: Snapped,
    *,
    engine: Engine = DEFAULT_ENGINE,
) -> tuple[FloatArray, IntArray]:
    """Cost from every origin to its cheapest library, and that library.

    :func:`node_search` followed by :func:`costs_from_search`.

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    origins, libs
        The origins and the libraries, snapped.
    engine
        ``"numba"`` (default) or ``"scipy"``.

    Returns
    -------
    cost, library
        Per origin: the cost (NaN where unreachable) and the index of the library
        into ``libs`` (-1 where unreachable).
    """
    search = node_search(network, weight, libs, engine=engine)
    return costs_from_search(network, weight, origins, search)


NodeSearch = tuple[LibraryTerms, FloatArray, IntArray]
"""What :func:`node_search` returns: the library terms, and per node the cost and library ``j``."""


def node_search(
    network: Network, weight: Weight, libs: Snapped, *, engine: Engine = DEFAULT_ENGINE
) -> NodeSearch:
    """Library terms and node costs for one weight (thread-safe; runs in worker threads).

    Parameters
    ----------
    network, weight
        The road network, and the cost: ``"length"`` (m) or ``"time"`` (s).
    libs
        The libraries, snapped.
    engine
        ``"numba"`` (default) or ``"scipy"``.

    Returns
    -------
    NodeSearch
        ``(terms, cost, library)``: :func:`library_terms` and :func:`node_costs`'
        answer (``inf`` / -1 everywhere when no library is usable).
    """
    terms = library_terms(network, weight, libs)
    if len(terms.lib_ok) == 0:
        n = network.n_nodes
        return terms, np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    cost, lib = node_costs(network, weight, libs, terms, engine=engine)
    return terms, cost, lib


def costs_from_search(
    network: Network, weight: Weight, origins: Snapped, search: NodeSearch
) -> tuple[FloatArray, IntArray]:
    """Every origin's cost and library from a :func:`node_search` of the same weight.

    Parameters
    ----------
    network, weight
        The road network, and the cost of ``search``: ``"length"`` (m) or ``"time"`` (s).
    origins
        The origins, snapped.
    search
        The libraries' node search.

    Returns
    -------
    cost, library
        As :func:`origin_costs`; NaN / -1 for every origin when no library is usable.
    """
    terms, node_cost, node_lib = search
    if len(terms.lib_ok) == 0:
        m = len(origins.arc)
        return np.full(m, np.nan), np.full(m, -1, dtype=np.int64)
    return origin_costs(network, weight, origins, node_cost, node_lib, terms)
