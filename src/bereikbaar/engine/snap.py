"""Snapping: points projected perpendicular onto the nearest arc of a network.

Every origin and every library is projected onto the nearest road (an *arc* of
the :class:`~bereikbaar.engine.network.Network`), not onto the nearest node, as
CBS does for its Nabijheidsstatistiek; the projection distance is the *snap
leg*. :func:`snap_to_arcs` finds the nearest arc with one of three indexes over
the eligible arcs (:func:`eligible_arcs`: one arc per physical road, on the
network's snappable part): a uniform grid searched by a compiled kernel
(default), a k-d tree over short pieces of the arcs (NumPy + scipy), or
shapely's STRtree (the reference). The indexes are built once per network and
kept on it (:meth:`Network.cached <bereikbaar.engine.network.Network.cached>`).

Everything is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely

from ..exceptions import InputError, NetworkError
from ..schema import located_rows
from ._compiled import kernel
from .network import FloatArray, IntArray, Network

log = logging.getLogger(__name__)


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
    cand = eligible_arcs(network, core_only)
    if len(cand) == 0:
        msg = "the network has no arcs to snap onto (empty network or no connected core)"
        raise NetworkError(msg)
    valid = located_rows(xy)
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


def eligible_arcs(network: Network, core_only: bool = True) -> IntArray:
    """Indices of the arcs points may be snapped onto (built once per network).

    One arc of each twin pair (a two-way road is one road to snap onto), and with
    ``core_only`` only arcs whose both ends are :meth:`Network.snappable_nodes
    <bereikbaar.engine.network.Network.snappable_nodes>`.

    Parameters
    ----------
    network
        The road network.
    core_only
        Keep only arcs on the snappable part of the network.

    Returns
    -------
    numpy.ndarray
        Arc indices, ascending (read-only: shared by every caller).
    """
    out = network.cached(
        ("eligible", core_only), lambda: _compute_eligible_arcs(network, core_only)
    )
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
            _kdtree(mid, leafsize=_LEAFSIZE, balanced_tree=False, compact_nodes=False)
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
    sequentially. :func:`bereikbaar.engine._kernels.snap_grid` scans rings of cells
    around each point until no unscanned piece can be nearer (exact), with the
    GIL released: the points are split over the cores.
    """

    def __init__(self, network: Network, cand: IntArray) -> None:
        # the install's compiled module, else numba's JIT kernels (numba imported only then)
        segment_stats, grid_segments = kernel("segment_stats"), kernel("grid_segments")

        # the arcs' vertices as flat arrays (no shapely geometry is touched); two passes
        # over them, so that no array per segment is held beside the grid (memory's peak
        # at a national load)
        coords, offsets = network.arc_coords()
        arcs = np.ascontiguousarray(cand, dtype=np.int64)
        counts, stats = segment_stats(coords, offsets, arcs, _PIECE_M)
        n_seg, self.n_pieces = int(counts[0]), int(counts[1])
        if max(self.n_pieces, network.n_arcs) >= 2**31:  # the grid numbers them in int32
            msg = (
                f"network too large to snap onto: {self.n_pieces:,} pieces, {network.n_arcs:,} arcs"
            )
            raise NetworkError(msg)
        self.tree = None
        if not self.n_pieces:
            self.half = 0.0
            self.seg_arc = np.zeros(0, dtype=np.int32)
            self.seg_len = self.seg_before = self.seg_total = np.zeros(0)
            return
        self.half = float(stats[4]) / 2.0
        lo = stats[:2]
        extent = np.maximum(stats[2:4] - lo, 1.0)
        sparse_cell = float(
            np.sqrt(extent[0] * extent[1] / (_GRID_MAX_CELLS_PER_PIECE * self.n_pieces))
        )
        self.cell_m = max(_GRID_CELL_M, 2.0 * self.half, sparse_cell)
        self.x0, self.y0 = float(lo[0]), float(lo[1])
        self.nx = int(extent[0] // self.cell_m) + 1
        self.ny = int(extent[1] // self.cell_m) + 1
        (
            self.cell_start,
            self.pax,
            self.pay,
            self.pbx,
            self.pby,
            self.pseg,
            self.seg_len,
            self.seg_before,
            self.seg_total,
            self.seg_arc,
        ) = grid_segments(
            coords,
            offsets,
            arcs,
            _PIECE_M,
            self.x0,
            self.y0,
            self.cell_m,
            self.nx,
            self.ny,
            n_seg,
            self.n_pieces,
        )

    def nearest(
        self, xy: FloatArray, max_snap_m: float, workers: int | None = None
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Nearest arc, fraction along its geometry and distance (m) per point (-1 if none)."""
        snap_grid = kernel("snap_grid")

        n = len(xy)
        arc = np.full(n, -1, dtype=np.int64)
        frac = np.full(n, np.nan)
        dist = np.full(n, np.nan)
        if not self.n_pieces or n == 0:
            return arc, frac, dist
        # nearby points together (cache locality), column by column of a coarse grid; each
        # point's answer does not depend on the order (one sort of an int key: no lexsort)
        # (truncation of non-negative values: a floor, without numpy's slow float //)
        cell = ((xy - xy.min(axis=0)) * (1.0 / _CELL_M)).astype(np.int64)
        order = np.argsort(cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1])
        px = np.ascontiguousarray(xy[order, 0])
        py = np.ascontiguousarray(xy[order, 1])

        def run(ab: tuple[int, int]) -> tuple[IntArray, FloatArray, FloatArray]:
            a, b = ab
            arcs, d, f = snap_grid(
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
                self.seg_arc,
                self.seg_before,
                self.seg_len,
                self.seg_total,
            )
            return np.asarray(arcs), np.asarray(d), np.asarray(f)

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
        # the kernel gives arc, distance and fraction along the arc (_locate's arithmetic)
        for out, k in ((arc, 0), (dist, 1), (frac, 2)):
            out[order] = np.concatenate([p[k] for p in parts])
        return arc, frac, dist


def _kdtree(points: FloatArray, **kwargs: Any) -> Any:
    """A scipy k-d tree (scipy.spatial is imported only by the k-d tree snapping: ~0.2 s)."""
    from scipy.spatial import cKDTree

    return cKDTree(points, **kwargs)


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

    def build() -> _SegmentIndex | None:
        # every arc is a LineString (a Network stores its arcs' vertices flat)
        kind = _GridIndex if method == "grid" else _SegmentIndex
        return kind(network, cand)

    out = network.cached((method, core_only, 50), build)
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
