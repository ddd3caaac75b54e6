"""Bounded Dijkstras: the cost from every origin to each of many sites, where at most a limit.

The engine of the site suggestions and the 2SFCA travel costs. One search per site
on the **reversed** graph from the site's virtual node, bounded at the limit, so every
cost is the road distance from a home **to** the site (one-way streets respected),
exactly as :func:`~bereikbaar.nearest_library` measures it when that site is the only
library. :func:`bounded_costs` has three methods that give the same matrix bit for bit:
a compiled search per site that touches only the nodes within the limit (default),
scipy's bounded Dijkstra on a part of the network around each tile of sites, and
scipy's on the whole network (the reference). :class:`BoundedSearch` builds the
search graph once for many calls.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..exceptions import InputError
from ._compiled import kernel
from .network import FloatArray, IntArray, Network, Weight
from .search import EPS as _EPS
from .search import LibraryTerms, library_graph, library_terms
from .search import arc_cost as _arc_cost
from .search import leg_cost as _leg_cost
from .search import library_seeds as _library_seeds
from .snap import Snapped

__all__ = ["BoundedSearch", "bounded_costs"]

_DENSE_BUDGET = 20_000_000  # floats per batch of bounded Dijkstras on the whole network


def _gather(indptr: IntArray, data: IntArray, rows: IntArray) -> IntArray:
    """Concatenate ``data[indptr[r]:indptr[r+1]]`` for every ``r`` in ``rows``."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return np.asarray(data[np.arange(total) + offs], dtype=np.int64)


_LOCAL_BUDGET = 2_000_000  # floats per batch of local bounded Dijkstras
_TILE_M = 5000.0  # side (m) of the tiles of sites that share one part of the network


@dataclass
class BoundedSearch:
    """Bounded Dijkstras from many sites, one search graph for all of them.

    By default (:meth:`costs` ``method="compiled"``) each site is searched by a
    compiled loop on the whole network that touches only the nodes within the
    limit. The local path (``method="local"``, scipy) works on parts: the search
    graph is :func:`library_graph` of all ``sites``, built once; the sites are
    grouped in square tiles (:data:`_TILE_M`); the Dijkstras of a tile run on the
    road nodes in the bounding box of its sites' arcs widened by a radius (the
    limit times the largest metres per unit of cost of any arc), plus the tile's
    virtual nodes. Such a part is exact when no arc leaving it can be
    reached within the limit: then every node outside costs more than the limit,
    and every node inside has the cost of the whole-network search (the same
    additions along the same shortest paths). That is checked after every
    Dijkstra; a site whose check fails is searched again with twice the radius,
    at worst on the whole network. Costs of the origins are then computed with
    the arithmetic of :func:`bounded_costs` (``method="full"``), so both give
    the same matrix, bit for bit.
    """

    network: Network
    weight: Weight
    sites: Snapped = field(repr=False)
    terms: LibraryTerms = field(repr=False)
    limit: float
    slot: IntArray = field(repr=False)
    scratch: list[tuple[FloatArray, IntArray]] = field(default_factory=list, repr=False)

    @classmethod
    def build(
        cls, network: Network, sites: Snapped, limit: float, *, weight: Weight = "length"
    ) -> BoundedSearch:
        """The search of ``sites`` (snapped onto ``network``), bounded at ``limit``."""
        terms = library_terms(network, weight, sites)
        slot = np.full(len(sites.arc), -1, dtype=np.int64)
        slot[terms.lib_ok] = np.arange(len(terms.lib_ok))
        return cls(network, weight, sites, terms, float(limit), slot)

    # what only the local (scipy) path needs, built on its first use
    @cached_property
    def _library_graph(self) -> tuple[sp.csr_array, IntArray]:
        return library_graph(self.network, self.weight, self.sites, self.terms)

    @property
    def graph(self) -> sp.csr_array:
        """The search graph: :func:`library_graph` of all sites."""
        return self._library_graph[0]

    @property
    def virt(self) -> IntArray:
        """The virtual node of each usable site in :attr:`graph`."""
        return self._library_graph[1]

    @cached_property
    def by_x(self) -> IntArray:
        """Nodes sorted by x."""
        return np.argsort(self.network.x, kind="stable")

    @cached_property
    def x_sorted(self) -> FloatArray:
        """x of the nodes in :attr:`by_x` order."""
        return np.asarray(self.network.x[self.by_x], dtype=np.float64)

    @cached_property
    def m_per_cost(self) -> float:
        """The most metres per unit of cost on any arc (how far ``limit`` can reach)."""
        net = self.network
        w = net.weights(self.weight)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(net.length_m > 0, net.length_m / w, 0.0)
        m_per_cost = float(ratio.max()) if len(ratio) else 1.0
        if not math.isfinite(m_per_cost):
            m_per_cost = math.inf
        return max(m_per_cost, 0.0)

    @cached_property
    def local(self) -> IntArray:
        """Scratch: each node's number in the current part (-1 outside it)."""
        return np.full(self.graph.shape[0], -1, dtype=np.int64)

    def costs(
        self, origins: Snapped, rows: IntArray, *, method: Literal["compiled", "local"] = "compiled"
    ) -> sp.csr_array:
        """``bounded_costs(network, origins, sites[rows], limit)``.

        Parameters
        ----------
        origins
            Snapped origins (homes).
        rows
            Which sites (rows of the ``sites`` the search was built for), in the
            order of the rows of the result.
        method
            ``"compiled"`` (default): one compiled bounded search per site on the
            whole network (:func:`bereikbaar._kernels.bounded_site_costs`), in two
            threads; ``"local"``: scipy's bounded Dijkstra on a part of the network
            around each tile of sites. Both equal :func:`bounded_costs`
            ``(method="full")`` bit for bit.

        Returns
        -------
        scipy.sparse.csr_array
            ``(len(rows), n_origins)`` costs ``<= limit``, as :func:`bounded_costs`.
        """
        if method == "compiled":
            return self._costs_compiled(origins, np.asarray(rows, dtype=np.int64))
        rows = np.asarray(rows, dtype=np.int64)
        n_rows, n_orig = len(rows), len(origins.arc)
        js = self.slot[rows]
        pos = np.flatnonzero(js >= 0)
        o_ok = np.flatnonzero(origins.ok)
        if len(pos) == 0 or len(o_ok) == 0:
            return sp.csr_array((n_rows, n_orig))
        net, t = self.network, self.terms
        oarc = np.where(origins.ok, origins.arc, 0)
        to_pt, from_pt = _arc_cost(net, self.weight, origins)
        oleg = _leg_cost(net, self.weight, origins)
        rev = net.reverse_arc()
        can_back = (rev[oarc] >= 0) | (origins.offset_m <= _EPS)
        twin = rev[oarc] >= 0
        ou, ov = net.u[oarc[o_ok]], net.v[oarc[o_ok]]
        # tiles by the tail of each site's arc
        tail = net.u[t.arc[js[pos]]]
        tx = np.floor(net.x[tail] / _TILE_M).astype(np.int64)
        ty = np.floor(net.y[tail] / _TILE_M).astype(np.int64)
        _keys, tile = np.unique(np.column_stack([tx, ty]), axis=0, return_inverse=True)
        tile = tile.ravel()
        out_r: list[IntArray] = []
        out_c: list[IntArray] = []
        out_v: list[FloatArray] = []
        for g in np.unique(tile).tolist():
            pending = pos[tile == g]
            radius = self.limit * self.m_per_cost * 1.01 + 1.0
            while len(pending):
                pending, radius = self._search_part(
                    pending,
                    radius,
                    js,
                    (o_ok, ou, ov, oarc, to_pt, from_pt, oleg, can_back, twin),
                    (out_r, out_c, out_v),
                )
        return _triplets_csr(out_r, out_c, out_v, (n_rows, n_orig))

    def _costs_compiled(self, origins: Snapped, rows: IntArray) -> sp.csr_array:
        """:meth:`costs` with the compiled bounded search (all cores, GIL released)."""
        # the compiled module of the install, else numba (imported on first use)
        bounded_site_costs = kernel("bounded_site_costs")

        n_rows, n_orig = len(rows), len(origins.arc)
        js = self.slot[rows]
        o_ok = np.flatnonzero(origins.ok)
        if not (js >= 0).any() or len(o_ok) == 0:
            return sp.csr_array((n_rows, n_orig))
        net, t = self.network, self.terms
        graph, rank = net.search_csr(self.weight)
        # seeds of each requested row, in row order (none for an unusable site)
        seed_j, seed_node, seed_cost = self._seeds
        per_j = np.bincount(seed_j, minlength=len(t.lib_ok))
        j_start = np.cumsum(per_j) - per_j
        cnt = np.where(js >= 0, per_j[np.maximum(js, 0)], 0)
        ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(cnt, out=ptr[1:])
        take = np.repeat(j_start[np.maximum(js, 0)] - ptr[:-1], cnt) + np.arange(ptr[-1])
        s_node, s_cost = rank[seed_node[take]], seed_cost[take]
        safe = np.maximum(js, 0)
        site_arc = np.where(js >= 0, t.arc[safe], -1)
        site_to_lib = t.to_lib[safe]
        site_leg = t.leg[safe]
        # the usable origins, renumbered 0..len(o_ok)-1, with their arc terms
        oarc = origins.arc[o_ok]
        to_pt, from_pt = _arc_cost(net, self.weight, origins)
        oleg = _leg_cost(net, self.weight, origins)
        rev = net.reverse_arc()
        can_back = (rev[oarc] >= 0) | (origins.offset_m[o_ok] <= _EPS)
        twin = rev[oarc] >= 0
        o_u, o_v = rank[net.u[oarc]], rank[net.v[oarc]]
        ends = np.concatenate([o_u, o_v])
        both = np.tile(np.arange(len(o_ok), dtype=np.int64), 2)
        node_orig = both[np.argsort(ends, kind="stable")]
        node_ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=net.n_nodes), out=node_ptr[1:])
        arc_order = np.argsort(oarc, kind="stable")
        lim = self.limit * (1.0 + 1e-12) + 1e-9
        args = (
            lim,
            self.limit,
            node_ptr,
            node_orig,
            oarc[arc_order],
            arc_order.astype(np.int64),
            oarc,
            o_u,
            o_v,
            to_pt[o_ok],
            from_pt[o_ok],
            oleg[o_ok],
            can_back,
            twin,
            _EPS,
        )

        workers = min(os.cpu_count() or 1, 2) if n_rows >= 64 else 1
        scratch = self._scratch(graph.shape[0], workers)

        def run(part: int, lo: int, hi: int) -> tuple[IntArray, IntArray, FloatArray]:
            r, c, v = bounded_site_costs(
                graph.indptr,
                graph.indices,
                graph.data,
                ptr[lo : hi + 1] - ptr[lo],
                s_node[ptr[lo] : ptr[hi]],
                s_cost[ptr[lo] : ptr[hi]],
                site_arc[lo:hi],
                site_to_lib[lo:hi],
                site_leg[lo:hi],
                *args,
                *scratch[part],
            )
            return r + lo, o_ok[c], v

        # contiguous halves of the rows (sites of one gemeente are near each other)
        bounds = np.linspace(0, n_rows, workers + 1).astype(np.int64).tolist()
        if workers == 1:
            parts = [run(0, 0, n_rows)]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(run, range(workers), bounds[:-1], bounds[1:]))
        return _triplets_csr(
            [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], (n_rows, n_orig)
        )

    def _scratch(self, n: int, workers: int) -> list[tuple[FloatArray, IntArray]]:
        """Per thread a distance array (all ``inf``) and a touched-node list, kept."""
        while len(self.scratch) < workers:
            self.scratch.append((np.full(n, np.inf), np.empty(max(n, 1), dtype=np.int64)))
        return self.scratch[:workers]

    @cached_property
    def _seeds(self) -> tuple[IntArray, IntArray, FloatArray]:
        """Seeds of every usable site, sorted by site: ``(j, node, cost)``."""
        j, node, cost = _library_seeds(self.network, self.sites, self.terms)
        order = np.argsort(j, kind="stable")
        return j[order], node[order], cost[order]

    def _part(self, js: IntArray, radius: float) -> IntArray:
        """Road nodes near the arcs of usable sites ``js``, then their virtual nodes."""
        net = self.network
        ends = np.concatenate([net.u[self.terms.arc[js]], net.v[self.terms.arc[js]]])
        if not math.isfinite(radius):
            nodes = np.arange(net.n_nodes, dtype=np.int64)
        else:
            ex, ey = net.x[ends], net.y[ends]
            lo = np.searchsorted(self.x_sorted, ex.min() - radius, side="left")
            hi = np.searchsorted(self.x_sorted, ex.max() + radius, side="right")
            near = self.by_x[lo:hi]
            yy = net.y[near]
            nodes = np.sort(near[(yy >= ey.min() - radius) & (yy <= ey.max() + radius)])
        return np.concatenate([nodes, self.virt[js]]).astype(np.int64)

    def _search_part(
        self,
        pending: IntArray,
        radius: float,
        js_all: IntArray,
        orig: tuple[Any, ...],
        out: tuple[list[IntArray], list[IntArray], list[FloatArray]],
    ) -> tuple[IntArray, float]:
        """Search ``pending`` (result rows) on one part; return the rows whose check failed."""
        o_ok, ou, ov, oarc, to_pt, from_pt, oleg, can_back, twin = orig
        net, t = self.network, self.terms
        js = js_all[pending]
        part = self._part(js, radius)
        whole = len(part) - len(js) == net.n_nodes
        local = self.local
        local[part] = np.arange(len(part))
        try:
            g = self.graph
            starts = g.indptr[part].astype(np.int64)
            counts = g.indptr[part + 1].astype(np.int64) - starts
            total = int(counts.sum())
            offs = np.repeat(starts - (np.cumsum(counts) - counts), counts)
            at = np.arange(total, dtype=np.int64) + offs
            row_of = np.repeat(np.arange(len(part), dtype=np.int64), counts)
            col = local[g.indices[at]]
            data = g.data[at]
            inside = col >= 0
            sub_ptr = np.zeros(len(part) + 1, dtype=np.int64)
            np.cumsum(np.bincount(row_of[inside], minlength=len(part)), out=sub_ptr[1:])
            sub = sp.csr_array(
                (data[inside], col[inside].astype(np.int32), sub_ptr.astype(np.int32)),
                shape=(len(part), len(part)),
            )
            b_row, b_cost = row_of[~inside], data[~inside]
            lu, lv = local[ou], local[ov]
            near = np.flatnonzero((lu >= 0) | (lv >= 0))
            lu, lv = lu[near], lv[near]
            src = local[self.virt[js]]
        finally:
            local[part] = -1
        o = o_ok[near]
        lim = self.limit * (1.0 + 1e-12) + 1e-9
        width = max(len(part), len(o), 1)
        batch = max(1, min(len(js), _LOCAL_BUDGET // width))
        failed: list[IntArray] = []
        for b0 in range(0, len(js), batch):
            sl = slice(b0, b0 + batch)
            d = np.atleast_2d(dijkstra(sub, directed=True, indices=src[sl], limit=lim))
            if not whole and len(b_row):
                bad = ((d[:, b_row] + b_cost) <= lim).any(axis=1)
            else:
                bad = np.zeros(len(d), dtype=bool)
            if bad.any():
                failed.append(pending[sl][bad])
            good = np.flatnonzero(~bad)
            if len(good) == 0 or len(o) == 0:
                continue
            d = d[good]
            j = js[sl][good]
            # as bounded_costs(method="full"), for every nearby origin at once
            cu = np.where(lu >= 0, d[:, np.maximum(lu, 0)], np.inf)
            cv = np.where(lv >= 0, d[:, np.maximum(lv, 0)], np.inf)
            cost = from_pt[o] + cv
            back = np.where(can_back[o], to_pt[o] + cu, np.inf)
            cost = np.where(back < cost, back, cost)
            on = oarc[o][None, :] == t.arc[j][:, None]
            if on.any():
                r_on, c_on = np.nonzero(on)
                s_o = to_pt[o][c_on]
                s_l = t.to_lib[j][r_on]
                forward = s_l >= s_o - _EPS
                along = np.where(forward, s_l - s_o, np.where(twin[o][c_on], s_o - s_l, np.inf))
                direct = along + t.leg[j][r_on]
                here = cost[r_on, c_on]
                cost[r_on, c_on] = np.where(direct < here, direct, here)
            cost = cost + oleg[o]
            keep = np.isfinite(cost) & (cost <= self.limit)
            r_k, c_k = np.nonzero(keep)
            out[0].append(pending[sl][good][r_k])
            out[1].append(o[c_k])
            out[2].append(cost[r_k, c_k])
        left = np.concatenate(failed) if failed else np.zeros(0, dtype=np.int64)
        return left, (math.inf if whole else radius * 2.0)


def bounded_costs(
    network: Network,
    origins: Snapped,
    sites: Snapped,
    limit: float,
    *,
    weight: Weight = "length",
    method: Literal["compiled", "local", "full"] = "compiled",
) -> sp.csr_array:
    """Cost from each origin to each site, where at most ``limit`` (sparse).

    One Dijkstra per site on the **reversed** graph, from the site's virtual
    node, bounded at ``limit`` (scipy ``limit=``): the cost from a home **to**
    the site, one-way streets respected, exactly as :func:`nearest_library`
    measures it when that site is the only library.

    With ``method="compiled"`` (default) each site's search is a compiled loop
    that touches only the nodes within ``limit`` and computes the origins' costs
    as it goes (two threads). With ``method="local"`` the sites are grouped in
    tiles and scipy's Dijkstra runs on the part of the network around each tile,
    which is checked to hold everything within ``limit`` (else the part grows).
    Both are identical, bit for bit, to ``method="full"`` (scipy's Dijkstra on
    the whole network per site, the reference), which costs time proportional to
    the whole network per site.

    Parameters
    ----------
    network
        Road network (RD New).
    origins
        Snapped origins (homes).
    sites
        Snapped sites (libraries or candidates); unsnapped sites reach nobody.
    limit
        Largest cost kept (m for ``length``, s for ``time``).
    weight
        ``"length"`` or ``"time"``.
    method
        ``"compiled"`` (default), ``"local"`` or ``"full"``: same result (see above).

    Returns
    -------
    scipy.sparse.csr_array
        ``(n_sites, n_origins)``; stored entries are costs ``<= limit`` (a stored
        0 is a cost of zero).
    """
    if method in ("compiled", "local"):
        search = BoundedSearch.build(network, sites, limit, weight=weight)
        return search.costs(origins, np.arange(len(sites.arc)), method=method)
    if method != "full":
        msg = f"method must be 'compiled', 'local' or 'full', got {method!r}"
        raise InputError(msg)
    n = network.n_nodes
    n_sites = len(sites.arc)
    n_orig = len(origins.arc)
    terms = library_terms(network, weight, sites)
    k = len(terms.lib_ok)
    if k == 0 or n_orig == 0:
        return sp.csr_array((n_sites, n_orig))
    graph, virt = library_graph(network, weight, sites, terms)
    # node → origins whose arc ends there
    o_ok = np.flatnonzero(origins.ok)
    oa = origins.arc[o_ok]
    ends = np.concatenate([network.u[oa], network.v[oa]])
    who = np.concatenate([o_ok, o_ok])
    order = np.argsort(ends, kind="stable")
    node_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=n), out=node_ptr[1:])
    node_orig = who[order]
    # arc → origins on it (same-arc direct travel)
    arc_sorted = np.argsort(oa, kind="stable")
    arc_keys = oa[arc_sorted]
    size = n + k
    batch = max(1, min(k, _DENSE_BUDGET // max(size, 1)))
    lim = limit * (1.0 + 1e-12) + 1e-9
    rows_out: list[IntArray] = []
    cols_out: list[IntArray] = []
    vals_out: list[FloatArray] = []
    u, v = network.u, network.v
    oarc = np.where(origins.ok, origins.arc, 0)
    to_pt, from_pt = _arc_cost(network, weight, origins)
    oleg = _leg_cost(network, weight, origins)
    rev = network.reverse_arc()
    can_back = (rev[oarc] >= 0) | (origins.offset_m <= _EPS)
    twin = rev[oarc] >= 0
    for b0 in range(0, k, batch):
        js = np.arange(b0, min(k, b0 + batch))
        d = dijkstra(graph, directed=True, indices=virt[js], limit=lim)
        d = np.atleast_2d(d)
        for r, j in enumerate(js.tolist()):
            node_cost = d[r, :n]
            reached = np.flatnonzero(np.isfinite(node_cost))
            cand = _gather(node_ptr, node_orig, reached)
            a = terms.arc[j]
            lo, hi = np.searchsorted(arc_keys, [a, a + 1])
            cand = np.unique(np.concatenate([cand, o_ok[arc_sorted[lo:hi]]]))
            if len(cand) == 0:
                continue
            # as origin_costs with this site as the only library (same arithmetic)
            ca = oarc[cand]
            cost = from_pt[cand] + node_cost[v[ca]]
            back = np.where(can_back[cand], to_pt[cand] + node_cost[u[ca]], np.inf)
            cost = np.where(back < cost, back, cost)
            on = ca == a
            if on.any():
                s_o = to_pt[cand][on]
                s_l = terms.to_lib[j]
                forward = s_l >= s_o - _EPS
                along = np.where(forward, s_l - s_o, np.where(twin[cand][on], s_o - s_l, np.inf))
                direct = along + terms.leg[j]
                cost[on] = np.where(direct < cost[on], direct, cost[on])
            cost = cost + oleg[cand]
            keep = np.isfinite(cost) & (cost <= limit)
            rows_out.append(np.full(int(keep.sum()), terms.lib_ok[j], dtype=np.int64))
            cols_out.append(cand[keep])
            vals_out.append(cost[keep])
    return _triplets_csr(rows_out, cols_out, vals_out, (n_sites, n_orig))


def _triplets_csr(
    rows: Sequence[IntArray],
    cols: Sequence[IntArray],
    vals: Sequence[FloatArray],
    shape: tuple[int, int],
) -> sp.csr_array:
    """CSR from parts of (row, col, value) triplets without duplicates.

    Built by hand so that explicit zero costs stay stored entries.
    """
    if not rows:
        return sp.csr_array(shape)
    rr, cc, vv = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    order = np.argsort(rr * np.int64(max(shape[1], 1)) + cc)  # one key: 2-3x a lexsort
    rr, cc, vv = rr[order], cc[order], vv[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rr, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((vv, cc, indptr), shape=shape)
