"""Snapping onto edges and one multi-source Dijkstra: the nearest library for every origin.

How the distance is built (as CBS does for its Nabijheidsstatistiek):

* every origin and every library is projected perpendicular onto the nearest
  road (an *arc* of the :class:`~bereikbaar.network.Network`), not onto the
  nearest node; the projection distance is the *snap leg*;
* distance = origin snap leg + offset along its arc to an arc end + network
  distance + offset along the library's arc + library snap leg;
* the network part is **one** Dijkstra (``scipy.sparse.csgraph``) on the
  reversed graph from a virtual node per library, so one-way streets are
  respected in the direction home → library and no search runs per origin.

Everything is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from .exceptions import BereikbaarWarning, InputError, NetworkError
from .network import FloatArray, IntArray, Network, Weight
from .schema import (
    CRS_RD,
    DISTANCE_M,
    FULL_SERVICE,
    LIBRARY_ID,
    REACHABLE,
    SNAP_M,
    TIME_S,
)
from .settings import Settings

log = logging.getLogger(__name__)

_EPS = 1e-9
DEFAULT_MAX_SNAP_M: float = Settings().max_snap_m


@dataclass(frozen=True)
class Snapped:
    """Points projected onto the network's arcs.

    Attributes
    ----------
    arc
        Index of the arc each point lies on (-1 where it could not be snapped).
    offset_m
        Distance (m, along the arc) from the arc's tail ``u`` to the projected point.
    snap_m
        Straight-line distance (m) from the point to its projection (the snap leg).
    """

    arc: IntArray
    offset_m: FloatArray
    snap_m: FloatArray

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Mask of points that were snapped."""
        return np.asarray(self.arc >= 0)


def _points_xy(points: Any, what: str) -> FloatArray:
    """Coordinates (n, 2) in RD New from a GeoDataFrame/GeoSeries/array of points."""
    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geo.crs is None:
            msg = f"{what} have no CRS; set it (RD New is EPSG:28992)"
            raise InputError(msg)
        if geo.crs != CRS_RD:
            geo = geo.to_crs(CRS_RD)
        arr = np.asarray(geo.array, dtype=object)
        empty = shapely.is_missing(arr) | shapely.is_empty(arr)
        poly = shapely.get_type_id(arr) != 0
        pts = arr.copy()
        if poly.any():
            pts[poly & ~empty] = shapely.centroid(arr[poly & ~empty])
        xy = np.full((len(arr), 2), np.nan)
        good = ~empty
        if good.any():
            xy[good] = shapely.get_coordinates(pts[good])
        return xy
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        msg = f"{what} must be a GeoDataFrame, GeoSeries or an (n, 2) array of RD x/y"
        raise InputError(msg)
    return xy


def snap_to_arcs(
    network: Network,
    xy: FloatArray,
    *,
    core_only: bool = True,
    max_snap_m: float = np.inf,
    method: Literal["grid", "kdtree", "strtree"] = "grid",
    workers: int | None = None,
) -> Snapped:
    """Project points perpendicular onto the nearest arc of the network.

    Each physical road is considered once (a two-way road's twin arcs share it);
    with ``core_only`` only roads of :meth:`Network.snappable_nodes` count: the
    strongly connected core of the main network (so an origin never lands on a
    one-way trap or a stray fragment), plus separate road networks of at least
    ``min_island_nodes`` nodes (islands without a ferry, which reach only the
    libraries on the island itself).

    Parameters
    ----------
    network
        The road network (RD New).
    xy
        Point coordinates, shape ``(n, 2)``, RD New metres; NaN rows stay unsnapped.
    core_only
        Snap only onto arcs whose both ends lie in the strongly connected core.
    max_snap_m
        Points farther than this (m) from every eligible arc stay unsnapped.
    method
        ``"grid"`` (default): a uniform grid over short pieces of the arcs'
        straight segments, searched ring by ring around each point with exact
        point-to-segment distances and an exact stopping rule (compiled, on all
        cores); ``"kdtree"``: a k-d tree over the same pieces (NumPy + scipy);
        ``"strtree"``: shapely's ``STRtree.query_nearest`` on the arc geometries
        (the reference). All three give the same nearest distance; when two arcs
        are at exactly the same distance either may be chosen.
    workers
        Threads for the ``"grid"`` method (default: one per core); the answer
        does not depend on it.

    Returns
    -------
    Snapped
        Arc, offset along it (m) and snap leg (m) per point.
    """
    n = len(xy)
    arc = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    snap = np.full(n, np.nan)
    cand = _eligible_arcs(network, core_only)
    if len(cand) == 0:
        msg = "the network has no arcs to snap onto (empty network or no connected core)"
        raise NetworkError(msg)
    valid = np.isfinite(xy).all(axis=1)
    if not valid.any():
        return Snapped(arc, offset, snap)
    if method in ("grid", "kdtree"):
        index = _segment_index(network, core_only, cand, method)
        if index is not None:
            rows = np.flatnonzero(valid)
            pts = np.ascontiguousarray(xy[valid], dtype=float)
            if isinstance(index, _GridIndex):
                a, off, dist = index.nearest(pts, max_snap_m, workers=workers)
            else:
                a, off, dist = index.nearest(pts, max_snap_m)
            got = a >= 0
            rows, a = rows[got], a[got]
            arc[rows] = a
            offset[rows] = np.clip(off[got], 0.0, 1.0) * network.length_m[a]
            snap[rows] = dist[got]
            return Snapped(arc, offset, snap)
    elif method != "strtree":
        msg = f"method must be 'grid', 'kdtree' or 'strtree', got {method!r}"
        raise InputError(msg)
    geoms = network.arc_geometry()[cand]
    pts = shapely.points(xy[valid])
    tree = shapely.STRtree(geoms)
    kwargs: dict[str, Any] = {"return_distance": True, "all_matches": False}
    if np.isfinite(max_snap_m):
        kwargs["max_distance"] = max_snap_m
    (inp, hit), dist = _query_nearest(tree, pts, kwargs)
    rows = np.flatnonzero(valid)[inp]
    a = cand[hit]
    frac = shapely.line_locate_point(geoms[hit], pts[inp], normalized=True)
    frac = np.nan_to_num(frac, nan=0.0)  # zero-length arcs
    arc[rows] = a
    offset[rows] = np.clip(frac, 0.0, 1.0) * network.length_m[a]
    snap[rows] = dist
    return Snapped(arc, offset, snap)


def _eligible_arcs(network: Network, core_only: bool) -> IntArray:
    """Indices of the arcs points may be snapped onto (one of each twin pair; cached)."""
    store = network._snap_store
    key = ("eligible", core_only)
    if key not in store:
        store[key] = _compute_eligible_arcs(network, core_only)
    out = store[key]
    assert isinstance(out, np.ndarray)
    return out


def _compute_eligible_arcs(network: Network, core_only: bool) -> IntArray:
    rev = network.reverse_arc()
    ids = np.arange(network.n_arcs)
    eligible = (rev < 0) | (ids < rev)
    if core_only:
        ok = network.snappable_nodes()
        eligible &= ok[network.u] & ok[network.v]
    return np.flatnonzero(eligible)


_PIECE_M = 100.0  # longest piece of a segment indexed in the k-d tree (m)
_K_FIRST = 8  # candidate pieces per point in the first k-d tree query
_CHUNK = 200_000  # points per vectorised batch (bounds the temporary arrays)
_LEAFSIZE = 16
_CELL_M = 1000.0  # points are queried in the order of a grid of this size (cache locality)


class _SegmentIndex:
    """Straight segments of the eligible arcs, cut into pieces of at most ``_PIECE_M``.

    A k-d tree over the piece midpoints yields candidate segments per point; the
    exact point-to-segment distance (GEOS's formula) picks the nearest one. A point
    is proven done when its k-th nearest midpoint lies at least ``best + h`` away
    (``h``: the longest half piece): every other piece, hence every other segment
    point, is then no nearer than ``best``. Unproven points are queried again with
    a larger k (at worst all pieces).
    """

    def __init__(self, network: Network, cand: IntArray) -> None:
        geoms = network.arc_geometry()[cand]
        coords, gidx = shapely.get_coordinates(geoms, return_index=True)
        same = gidx[1:] == gidx[:-1]
        start = np.flatnonzero(same)  # segment k runs from coords[start[k]] to coords[start[k]+1]
        self.ax = coords[start, 0].copy()
        self.ay = coords[start, 1].copy()
        self.bx = coords[start + 1, 0].copy()
        self.by = coords[start + 1, 1].copy()
        seg_geom = gidx[start]
        dx, dy = self.bx - self.ax, self.by - self.ay
        seg_len = np.sqrt(dx * dx + dy * dy)
        self.seg_len = seg_len
        self.seg_arc = cand[seg_geom]
        # length along the arc before each segment, and each arc's geometry length
        total = np.bincount(seg_geom, weights=seg_len, minlength=len(cand))
        cum = np.cumsum(seg_len) - seg_len
        first = np.searchsorted(seg_geom, seg_geom, side="left")
        self.seg_before = cum - cum[first]
        self.seg_total = total[seg_geom]
        pieces = np.maximum(np.ceil(seg_len / _PIECE_M), 1).astype(np.int64)
        self.piece_seg = np.repeat(np.arange(len(start)), pieces)
        first_piece = np.cumsum(pieces) - pieces
        i = np.arange(len(self.piece_seg)) - first_piece[self.piece_seg]
        t = (i + 0.5) / pieces[self.piece_seg]
        mid = np.column_stack(
            [
                self.ax[self.piece_seg] + dx[self.piece_seg] * t,
                self.ay[self.piece_seg] + dy[self.piece_seg] * t,
            ]
        )
        self.half = float((seg_len / pieces).max(initial=0.0)) / 2.0
        self.n_pieces = len(self.piece_seg)
        self._build(mid)

    def _build(self, mid: FloatArray) -> None:
        self.tree = (
            cKDTree(mid, leafsize=_LEAFSIZE, balanced_tree=False, compact_nodes=False)
            if self.n_pieces
            else None
        )

    def _locate(self, s: IntArray, r: FloatArray) -> FloatArray:
        """Fraction along the arc geometry of the projection factor ``r`` on segment ``s``."""
        t = np.clip(r, 0.0, 1.0)
        along = self.seg_before[s] + t * self.seg_len[s]
        total = self.seg_total[s]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(total > 0, along / total, 0.0))

    def nearest(self, xy: FloatArray, max_snap_m: float) -> tuple[IntArray, FloatArray, FloatArray]:
        """Nearest arc, fraction along its geometry and distance (m) per point (-1 if none)."""
        n = len(xy)
        arc = np.full(n, -1, dtype=np.int64)
        frac = np.full(n, np.nan)
        dist = np.full(n, np.nan)
        if self.tree is None:
            return arc, frac, dist
        cell = np.floor(xy / _CELL_M)
        todo = np.lexsort((cell[:, 1], cell[:, 0]))
        k = min(_K_FIRST, self.n_pieces)
        while len(todo):
            left: list[IntArray] = []
            for lo in range(0, len(todo), _CHUNK):
                rows = todo[lo : lo + _CHUNK]
                done = self._batch(xy[rows], k, max_snap_m, rows, arc, frac, dist)
                left.append(rows[~done])
            todo = np.concatenate(left)
            if len(todo):
                log.debug("snapping: %d points need more than %d candidate pieces", len(todo), k)
            k = min(4 * k, self.n_pieces)
        return arc, frac, dist

    def _batch(
        self,
        p: FloatArray,
        k: int,
        max_snap_m: float,
        rows: IntArray,
        arc: IntArray,
        frac: FloatArray,
        dist: FloatArray,
    ) -> npt.NDArray[np.bool_]:
        """Snap one batch with ``k`` candidates; write proven rows; return the proven mask."""
        assert self.tree is not None
        workers = -1 if len(p) >= _PARALLEL_MIN_POINTS else 1  # threads cost ~ms to start
        dd, ii = self.tree.query(p, k=k, workers=workers)
        dd = np.asarray(dd, dtype=float).reshape(len(p), -1)
        ii = np.asarray(ii).reshape(len(p), -1)
        seg = self.piece_seg[ii]  # k <= n_pieces, so every index exists
        d, r = _point_segment(
            p[:, :1], p[:, 1:], self.ax[seg], self.ay[seg], self.bx[seg], self.by[seg]
        )
        best = d.min(axis=1)
        # among equally near candidates take the lowest segment (GEOS takes the first)
        pick = np.where(d == best[:, None], seg, np.iinfo(np.int64).max).min(axis=1)
        bound = dd[:, -1] - self.half
        slack = 1e-9 * (1.0 + np.abs(p).max(axis=1))
        proven = (bound - slack >= best) | (bound - slack > max_snap_m)
        if k >= self.n_pieces:
            proven[:] = True
        ok = proven & (best <= max_snap_m)
        s = pick[ok]
        rr = r[ok, :][np.arange(ok.sum()), np.argmax((seg[ok] == s[:, None]), axis=1)]
        f = self._locate(s, rr)
        out = rows[ok]
        arc[out] = self.seg_arc[s]
        frac[out] = f
        dist[out] = best[ok]
        return np.asarray(proven)


_GRID_CELL_M = 100.0  # grid cell of the compiled snapping (m), at least a piece long
_GRID_MAX_CELLS_PER_PIECE = 4  # coarser cells where the network's extent is sparse
_THREAD_MIN_POINTS = 20_000  # fewer points run in one thread (threads cost ~ms)


class _GridIndex(_SegmentIndex):
    """The pieces of :class:`_SegmentIndex` in a uniform grid, searched by a compiled kernel.

    Pieces are bucketed by midpoint into square cells (row-major) and stored sorted
    by cell, each with its segment's end points, so the kernel reads them
    sequentially. :func:`bereikbaar._kernels.snap_grid` scans rings of cells
    around each point until no unscanned piece can be nearer (exact), with the
    GIL released: the points are split over the cores.
    """

    def __init__(self, network: Network, cand: IntArray) -> None:
        from ._kernels import bucket_pieces, segments_of

        geoms = network.arc_geometry()[cand]
        coords, gidx = shapely.get_coordinates(geoms, return_index=True)
        start, seg_geom, self.seg_len, self.seg_before, self.seg_total, pieces = segments_of(
            coords, gidx.astype(np.int64), len(cand), _PIECE_M
        )
        self.seg_arc = cand[seg_geom]
        self.n_pieces = int(pieces.sum())
        self.tree = None
        if not self.n_pieces:
            self.half = 0.0
            return
        self.half = float((self.seg_len / pieces).max()) / 2.0
        lo = coords.min(axis=0)
        extent = np.maximum(coords.max(axis=0) - lo, 1.0)
        sparse_cell = float(
            np.sqrt(extent[0] * extent[1] / (_GRID_MAX_CELLS_PER_PIECE * self.n_pieces))
        )
        self.cell_m = max(_GRID_CELL_M, 2.0 * self.half, sparse_cell)
        self.x0, self.y0 = float(lo[0]), float(lo[1])
        self.nx = int(extent[0] // self.cell_m) + 1
        self.ny = int(extent[1] // self.cell_m) + 1
        self.cell_start, self.pax, self.pay, self.pbx, self.pby, self.pseg = bucket_pieces(
            coords, start, pieces, self.x0, self.y0, self.cell_m, self.nx, self.ny
        )

    def nearest(
        self, xy: FloatArray, max_snap_m: float, workers: int | None = None
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Nearest arc, fraction along its geometry and distance (m) per point (-1 if none)."""
        from ._kernels import snap_grid

        n = len(xy)
        arc = np.full(n, -1, dtype=np.int64)
        frac = np.full(n, np.nan)
        dist = np.full(n, np.nan)
        if not self.n_pieces or n == 0:
            return arc, frac, dist
        cell = np.floor(xy / _CELL_M)
        order = np.lexsort((cell[:, 1], cell[:, 0]))  # nearby points together (cache locality)
        px = np.ascontiguousarray(xy[order, 0])
        py = np.ascontiguousarray(xy[order, 1])

        def run(ab: tuple[int, int]) -> tuple[IntArray, FloatArray]:
            a, b = ab
            q, d = snap_grid(
                px[a:b],
                py[a:b],
                self.x0,
                self.y0,
                self.cell_m,
                self.nx,
                self.ny,
                self.cell_start,
                self.pax,
                self.pay,
                self.pbx,
                self.pby,
                self.pseg,
                self.half,
                float(max_snap_m),
            )
            return np.asarray(q), np.asarray(d)

        if workers is None:
            workers = min(os.cpu_count() or 1, 8)
        workers = max(1, workers) if n >= _THREAD_MIN_POINTS else 1
        bounds = np.linspace(0, n, 4 * workers + 1 if workers > 1 else 2).astype(np.int64)
        chunks = list(itertools.pairwise(bounds.tolist()))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(run, chunks))
        else:
            parts = [run(c) for c in chunks]
        q = np.concatenate([p[0] for p in parts])
        d = np.concatenate([p[1] for p in parts])
        got = q >= 0
        qg = q[got]
        s = self.pseg[qg]
        _, r = _point_segment(
            px[got], py[got], self.pax[qg], self.pay[qg], self.pbx[qg], self.pby[qg]
        )
        rows = order[got]
        arc[rows] = self.seg_arc[s]
        frac[rows] = self._locate(s, r)
        dist[rows] = d[got]
        return arc, frac, dist


def _point_segment(
    px: FloatArray, py: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Distance from points to segments A-B and the projection factor (GEOS's formula)."""
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * ex + (py - ay) * ey) / len2
        s = ((ay - py) * ex - (ax - px) * ey) / len2
        perp = np.abs(s) * np.sqrt(len2)
    da = np.sqrt((px - ax) ** 2 + (py - ay) ** 2)
    db = np.sqrt((px - bx) ** 2 + (py - by) ** 2)
    degenerate = len2 == 0
    d = np.where(degenerate | (r <= 0.0), da, np.where(r >= 1.0, db, perp))
    r = np.where(degenerate, 0.0, r)
    return d, r


def _segment_index(
    network: Network, core_only: bool, cand: IntArray, method: str = "grid"
) -> _SegmentIndex | None:
    """The cached segment index of the eligible arcs, or None for non-line geometries."""
    store = network._snap_store
    key = (method, core_only, 50)
    if key not in store:
        types = shapely.get_type_id(network.arc_geometry()[cand])
        kind = _GridIndex if method == "grid" else _SegmentIndex
        store[key] = kind(network, cand) if np.all(types == 1) else None
    out = store[key]
    assert out is None or isinstance(out, _SegmentIndex)
    return out


_PARALLEL_MIN_POINTS = 20_000


def _query_nearest(
    tree: shapely.STRtree, pts: npt.NDArray[np.object_], kwargs: dict[str, Any]
) -> tuple[tuple[IntArray, IntArray], FloatArray]:
    """``tree.query_nearest`` on chunks of points in threads (GEOS releases the GIL).

    Each point's answer does not depend on the others, so the result equals one
    call on all points.
    """
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or len(pts) < _PARALLEL_MIN_POINTS:
        out: tuple[tuple[IntArray, IntArray], FloatArray] = tree.query_nearest(pts, **kwargs)
        return out
    bounds = np.linspace(0, len(pts), workers + 1).astype(np.int64)
    chunks = list(itertools.pairwise(bounds.tolist()))
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda ab: tree.query_nearest(pts[ab[0] : ab[1]], **kwargs), chunks))
    inp = np.concatenate([p[0][0] + a for p, (a, _) in zip(parts, chunks, strict=True)])
    hit = np.concatenate([p[0][1] for p in parts])
    dist = np.concatenate([p[1] for p in parts])
    return (inp, hit), dist


def _arc_cost(network: Network, weight: Weight, snapped: Snapped) -> tuple[FloatArray, FloatArray]:
    """Cost from the arc tail to the point and from the point to the arc head."""
    ok = snapped.ok
    a = np.where(ok, snapped.arc, 0)
    w = network.weights(weight)[a]
    length = network.length_m[a]
    frac = np.divide(snapped.offset_m, length, out=np.zeros_like(length), where=length > 0)
    to_point = np.where(ok, frac * w, np.nan)
    from_point = np.where(ok, (1.0 - frac) * w, np.nan)
    return to_point, from_point


def _leg_cost(network: Network, weight: Weight, snapped: Snapped) -> FloatArray:
    """Snap-leg cost: metres, or seconds at the speed of the arc snapped onto."""
    if weight == "length":
        return snapped.snap_m
    a = np.where(snapped.ok, snapped.arc, 0)
    length = network.length_m[a]
    t = network.weights("time")[a]
    speed = np.divide(length, t, out=np.full_like(length, np.nan), where=t > 0)
    return np.where(snapped.ok, snapped.snap_m / speed, np.nan)


@dataclass(frozen=True)
class LibraryTerms:
    """The usable libraries of a :class:`Snapped` set and their arc terms (internal).

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
    """Arc terms of the snapped libraries that can be used (internal helper)."""
    lib_ok = np.flatnonzero(libs.ok)
    la = libs.arc[lib_ok]
    to_lib, from_lib = _arc_cost(network, weight, libs)
    leg = _leg_cost(network, weight, libs)[lib_ok]
    return LibraryTerms(lib_ok, la, to_lib[lib_ok], from_lib[lib_ok], leg)


def _library_seeds(
    network: Network, libs: Snapped, terms: LibraryTerms
) -> tuple[IntArray, IntArray, FloatArray]:
    """Where the search from each usable library ``j`` starts, and at what cost.

    From the tail ``u`` of the library's arc along it (``leg + to_lib``), always;
    from the head ``v`` (``leg + from_lib``) where the road is two-way or the
    library sits at the head.
    """
    la = terms.arc
    rev = network.reverse_arc()
    at_head = libs.offset_m[terms.lib_ok] >= network.length_m[la] - _EPS
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
    """The reversed graph with one virtual node ``n + j`` per usable library (internal helper).

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
    rows, cols, data = _library_seeds(network, libs, t)
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
    """Cost from each origin to its cheapest library, given the node costs (internal helper).

    ``node_cost``/``node_lib`` (length ``n_nodes``) are the cost from every node to
    its cheapest library and that library's index ``j`` into ``terms``; libraries
    on the origin's own arc are reached directly along it.
    """
    u, v = network.u, network.v
    rev = network.reverse_arc()
    la = terms.arc
    k = len(la)
    ok = origins.ok
    oa = np.where(ok, origins.arc, 0)
    to_pt, from_pt = _arc_cost(network, weight, origins)
    oleg = _leg_cost(network, weight, origins)
    fwd_cost = from_pt + node_cost[v[oa]]
    fwd_lib = node_lib[v[oa]]
    can_back = (rev[oa] >= 0) | (origins.offset_m <= _EPS)
    back_cost = np.where(can_back, to_pt + node_cost[u[oa]], np.inf)
    back_lib = node_lib[u[oa]]
    use_back = back_cost < fwd_cost
    cost = np.where(use_back, back_cost, fwd_cost)
    lib = np.where(use_back, back_lib, fwd_lib)

    # library on the same arc as the origin: direct travel along the arc
    # pairs (origin, library) on one arc, by origin then library (as an inner merge)
    ok_o = np.flatnonzero(ok)
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
        forward = s_l >= s_o - _EPS
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


Engine = Literal["numba", "scipy"]
DEFAULT_ENGINE: Engine = "numba"


def node_costs(
    network: Network,
    weight: Weight,
    libs: Snapped,
    terms: LibraryTerms,
    *,
    engine: Engine = DEFAULT_ENGINE,
) -> tuple[FloatArray, IntArray]:
    """Cost from every node to its cheapest library and that library's ``j`` (internal helper).

    One multi-source Dijkstra on the reversed graph, seeded at both ends of each
    library's arc (``leg + to_lib`` at the tail; ``leg + from_lib`` at the head
    where the road is two-way). ``engine="numba"`` runs the compiled search of
    :mod:`bereikbaar._kernels` (GIL released) over the nodes in Hilbert order;
    ``engine="scipy"`` the reference: ``scipy.sparse.csgraph.dijkstra`` on
    :func:`library_graph`. Both return the same costs.
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
    from ._kernels import multi_source_dijkstra

    k = len(terms.arc)
    if max(n, k) >= 2**31 - 1:
        msg = f"the compiled engine handles fewer than 2**31 nodes; use engine='scipy' ({n:,})"
        raise NetworkError(msg)
    seed_label, seed_node, seed_cost = _library_seeds(network, libs, terms)
    graph, rank = network.search_csr(weight)  # nodes in Hilbert order (memory locality)
    dist, lab = multi_source_dijkstra(
        graph.indptr, graph.indices, graph.data, rank[seed_node], seed_cost, seed_label
    )
    return np.asarray(dist)[rank], np.asarray(lab)[rank].astype(np.int64)


def _solve(
    network: Network,
    weight: Weight,
    origins: Snapped,
    libs: Snapped,
    *,
    engine: Engine = DEFAULT_ENGINE,
) -> tuple[FloatArray, IntArray]:
    """Cost from every origin to its cheapest library and that library's index (-1 if none)."""
    terms, node_cost, node_lib = _node_search(network, weight, libs, engine=engine)
    if len(terms.lib_ok) == 0:
        return np.full(len(origins.arc), np.nan), np.full(len(origins.arc), -1, dtype=np.int64)
    return origin_costs(network, weight, origins, node_cost, node_lib, terms)


def nearest_from_snapped(
    network: Network,
    origins: Snapped,
    libraries: Snapped,
    library_ids: npt.ArrayLike,
    *,
    weight: Weight = "length",
    with_time: bool = True,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """The result of :func:`nearest_library` for origins and libraries already snapped.

    Lets callers that measure many branch lists against the same origins (what-if
    scenarios) snap the origins once; the numbers are identical to
    :func:`nearest_library`'s.

    Parameters
    ----------
    network
        Road network (RD New).
    origins, libraries
        Output of :func:`snap_to_arcs` for the origins and the (full-service)
        libraries.
    library_ids
        ``library_id`` of each snapped library, same order.
    weight, with_time
        As in :func:`nearest_library`.
    index
        Index of the returned frame (default ``0..n-1``).

    Returns
    -------
    pandas.DataFrame
        ``library_id``, ``distance_m`` (m), ``snap_m`` (m), ``time_s`` (s, when
        computed) and ``reachable``, one row per origin.
    """
    time_needed = weight == "time" or (with_time and network.time_s is not None)
    weights: list[Weight] = ["length", "time"] if time_needed else ["length"]
    with ThreadPoolExecutor(len(weights)) as pool:
        searches = {w: pool.submit(_node_search, network, w, libraries) for w in weights}
        return _result_frame(network, origins, searches, library_ids, weight=weight, index=index)


_NodeSearch = tuple["LibraryTerms", FloatArray, IntArray]


def _node_search(
    network: Network, weight: Weight, libs: Snapped, *, engine: Engine = DEFAULT_ENGINE
) -> _NodeSearch:
    """Library terms and node costs for one weight (runs in a worker thread)."""
    terms = library_terms(network, weight, libs)
    if len(terms.lib_ok) == 0:
        n = network.n_nodes
        return terms, np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    cost, lib = node_costs(network, weight, libs, terms, engine=engine)
    return terms, cost, lib


def _result_frame(
    network: Network,
    origins: Snapped,
    searches: dict[Weight, Future[_NodeSearch]],
    library_ids: npt.ArrayLike,
    *,
    weight: Weight,
    index: pd.Index | None,
) -> pd.DataFrame:
    """The nearest-library frame from the node searches of one or two weights."""
    ids: Any = np.asarray(library_ids, dtype=object)
    costs: dict[Weight, tuple[FloatArray, IntArray]] = {}
    for w, fut in searches.items():
        terms, node_cost, node_lib = fut.result()
        if len(terms.lib_ok) == 0:
            m = len(origins.arc)
            costs[w] = np.full(m, np.nan), np.full(m, -1, dtype=np.int64)
        else:
            costs[w] = origin_costs(network, w, origins, node_cost, node_lib, terms)
    dist, lib_len = costs["length"]
    out: dict[str, Any] = {}
    time_needed = "time" in costs
    if time_needed:
        t, lib_time = costs["time"]
    chosen = lib_time if weight == "time" else lib_len
    out[LIBRARY_ID] = np.where(chosen >= 0, ids[np.maximum(chosen, 0)], None)
    out[DISTANCE_M] = dist
    out[SNAP_M] = origins.snap_m
    if time_needed:
        out[TIME_S] = t
    out[REACHABLE] = np.isfinite(dist)
    return pd.DataFrame(out, index=index)


def nearest_library(
    network: Network,
    origins: gpd.GeoDataFrame | gpd.GeoSeries | FloatArray,
    libraries: gpd.GeoDataFrame,
    *,
    weight: Weight = "length",
    full_service_only: bool = True,
    core_only: bool = True,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    with_time: bool = True,
) -> pd.DataFrame:
    """Road distance from every origin to its nearest (full-service) library.

    Origins and libraries are projected perpendicular onto the nearest road;
    the network part is one multi-source Dijkstra on the reversed graph, so
    one-way streets are respected from home to library.

    Parameters
    ----------
    network
        Road network for one mode (RD New).
    origins
        Points or polygons (centroids are used), e.g. CBS cells; or an
        ``(n, 2)`` array of RD New coordinates.
    libraries
        Branches with ``library_id`` and Point geometry; rows without geometry
        are skipped with a warning.
    weight
        Which library counts as nearest: by ``"length"`` (m, CBS-comparable) or
        by ``"time"`` (s).
    full_service_only
        Use only rows with ``full_service`` true (when the column exists).
    core_only
        Snap only onto the network's strongly connected core.
    max_snap_m
        Origins and libraries farther than this (m) from the road network are
        unreachable / unused (reported in a warning). Default: ``Settings().max_snap_m``
        (2.5 km), so nothing is ever snapped across a lake or the sea.
    with_time
        Also compute ``time_s`` when the network has travel times.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``origins``: ``library_id`` (nearest by ``weight``),
        ``distance_m`` (shortest road distance to the nearest library, snap legs
        included, m), ``snap_m`` (origin snap leg, m), ``time_s`` (shortest travel
        time to any library, s; only when the network has times) and
        ``reachable``. Unreachable origins have NaN distance, never a fake number.

    Warns
    -----
    BereikbaarWarning
        When origins are unreachable or libraries unusable (counted).
    """
    if LIBRARY_ID not in libraries.columns:
        msg = f"libraries have no '{LIBRARY_ID}' column"
        raise InputError(msg)
    libs = libraries
    if full_service_only and FULL_SERVICE in libs.columns:
        libs = libs[libs[FULL_SERVICE].fillna(False).astype(bool)]
    lib_xy = _points_xy(libs, "libraries")
    missing = ~np.isfinite(lib_xy).all(axis=1)
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} libraries have no location and are not used",
            BereikbaarWarning,
            stacklevel=2,
        )
    if len(libs) == 0 or missing.all():
        msg = "no (full-service) library with a location: nothing to measure the distance to"
        raise InputError(msg)
    o_xy = _points_xy(origins, "origins")
    l_snap = snap_to_arcs(network, lib_xy, core_only=core_only, max_snap_m=max_snap_m)
    unusable = (~l_snap.ok) & ~missing
    if unusable.any():
        warnings.warn(
            f"{int(unusable.sum())} libraries are more than {max_snap_m:g} m from the road "
            "network and are not used",
            BereikbaarWarning,
            stacklevel=2,
        )
    if not l_snap.ok.any():
        msg = "no library lies near the road network"
        raise NetworkError(msg)
    ids = libs[LIBRARY_ID].to_numpy()
    index = origins.index if isinstance(origins, gpd.GeoDataFrame | gpd.GeoSeries) else None
    # the searches from the libraries run in threads (GIL released) while the
    # origins are snapped: on two cores the snapping costs little extra time
    time_needed = weight == "time" or (with_time and network.time_s is not None)
    weights: list[Weight] = ["length", "time"] if time_needed else ["length"]
    with ThreadPoolExecutor(len(weights)) as pool:
        searches = {w: pool.submit(_node_search, network, w, l_snap) for w in weights}
        # leave the searches their cores: the snapping is the shorter of the two
        spare = max(1, (os.cpu_count() or 1) - len(weights))
        o_snap = snap_to_arcs(
            network, o_xy, core_only=core_only, max_snap_m=max_snap_m, workers=spare
        )
        result = _result_frame(network, o_snap, searches, ids, weight=weight, index=index)
    reachable = result[REACHABLE].to_numpy()
    n_bad = int((~reachable).sum())
    if n_bad:
        unsnapped = int((~o_snap.ok).sum())
        warnings.warn(
            f"{n_bad} of {len(result)} origins cannot reach a library "
            f"({unsnapped} farther than {max_snap_m:g} m from the road network or without "
            f"a location, {n_bad - unsnapped} with no route); their distance is NaN",
            BereikbaarWarning,
            stacklevel=2,
        )
    log.info(
        "nearest library for %d origins (%d unreachable) from %d libraries",
        len(result),
        n_bad,
        int(l_snap.ok.sum()),
    )
    return result
