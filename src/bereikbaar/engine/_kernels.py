"""Compiled inner loops of the engine (numba, GIL released).

Two loops dominate a national run and cannot be vectorised with NumPy alone:

* :func:`multi_source_dijkstra`: one Dijkstra from many weighted seeds (the
  libraries, each seeded at both ends of the arc it lies on), returning for
  every node the cost to its nearest seed and that seed's label. It replaces
  ``scipy.sparse.csgraph.dijkstra(min_only=True)`` on a graph with one virtual
  node per library: same distances (the minimum over paths of the same
  left-to-right float64 sums, which every correct Dijkstra returns), no virtual
  nodes, block by block in cost bands so that the working set stays in cache
  (2.5-3x faster than scipy's Fibonacci heap at 4 M nodes, and as fast per node
  at 4 M as at 100k), with the GIL released, so the length and time searches
  run on two cores at once and the origins are snapped while the search runs.
* :func:`snap_grid`: the nearest segment to each point, searched ring by ring
  in a uniform grid of segment pieces, with an exact stopping rule.

Everything is float64 and every function is compiled once and cached on disk
(``cache=True``, next to this file in ``__pycache__``); the pure-Python fallbacks in
:mod:`bereikbaar.engine.search` (scipy's Dijkstra) and :mod:`bereikbaar.engine.snap`
(the k-d tree snapping) stay as references in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

_jit = cast(Callable[[F], F], numba.njit(cache=True, nogil=True))
# Helpers are not inlined by numba (inline="always" doubled the compile time of the search
# kernel for no measurable gain: LLVM inlines them where it pays).
_jit_inline = cast(Callable[[F], F], numba.njit(cache=True, nogil=True))
# np.int64 to numba (one specialisation per helper: int64 nodes and counters, never an int32
# column or a literal 0, each of which compiles a helper once more), an int to mypy
_i64 = cast(Callable[[Any], int], np.int64)


@_jit_inline
def _heap_push(heap: Any, size: int, key: float, node: int) -> None:
    """Sift ``(key, node)`` up from the free slot ``size`` of a 4-ary min-heap."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if key < heap[p, 0]:
            heap[i, 0] = heap[p, 0]
            heap[i, 1] = heap[p, 1]
            i = p
        else:
            break
    heap[i, 0] = key
    heap[i, 1] = node


@_jit_inline
def _heap_pop_fix(heap: Any, size: int) -> None:
    """Move the last entry (index ``size``) to the root and sift it down."""
    key = heap[size, 0]
    node = heap[size, 1]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_key = heap[first, 0]
        for q in range(first + 1, min(first + 4, size)):
            if heap[q, 0] < best_key:
                best_key = heap[q, 0]
                best = q
        if best_key < key:
            heap[i, 0] = best_key
            heap[i, 1] = heap[best, 1]
            i = best
        else:
            break
    heap[i, 0] = key
    heap[i, 1] = node


@_jit_inline
def _grow(heap: Any, size: int) -> Any:
    """The heap with twice the room."""
    bigger = np.empty((2 * len(heap), 2))
    for i in range(size):  # a loop: a slice assignment compiles numba's string formatting
        bigger[i, 0] = heap[i, 0]
        bigger[i, 1] = heap[i, 1]
    return bigger


@_jit_inline
def _pop(heap: Any, size: int) -> tuple[float, int, int]:
    """Take the root of a heap of ``size`` entries: ``(key, node, size - 1)``."""
    key = heap[0, 0]
    node = int(heap[0, 1])
    size -= 1
    if size > 0:
        _heap_pop_fix(heap, size)
    return key, node, size


@_jit_inline
def _room(store: Any, base: Any, cap: Any, top: int, b: int) -> tuple[Any, int]:
    """Block ``b``'s full heap moved to the free end of ``store`` with twice the room.

    Returns the store (a bigger copy when it had no room left) and its new free end.
    """
    size = cap[b]
    new_cap = 2 * size
    if top + new_cap > len(store):
        bigger = np.empty((max(2 * len(store), top + new_cap), 2))
        for i in range(top):  # loops, not slice assignments (see _grow)
            bigger[i, 0] = store[i, 0]
            bigger[i, 1] = store[i, 1]
        store = bigger
    old = base[b]
    for i in range(size):
        store[top + i, 0] = store[old + i, 0]
        store[top + i, 1] = store[old + i, 1]
    base[b] = top
    cap[b] = new_cap
    return store, top + new_cap


@_jit
def multi_source_dijkstra(
    indptr: Any,
    indices: Any,
    data: Any,
    seed_node: Any,
    seed_cost: Any,
    seed_label: Any,
    block_shift: int = 12,
    delta: float = -1.0,
) -> tuple[Any, Any]:
    """Cost from every node to its cheapest seed over a CSR graph, and that seed's label.

    A Dijkstra made cache-friendly: the nodes are cut into blocks of
    ``2**block_shift`` consecutive numbers (in the Hilbert order the engine uses,
    a block is a compact patch of road of about 4,000 nodes, whose arrays fit in
    the core's L2 cache), each block has its own 4-ary heap of ``(cost, node)``
    pairs, and the search advances in cost bands of width ``delta``: every block,
    in turn, settles its nodes up to the band's upper edge, pushing arcs that leave
    the block onto the other block's heap; blocks that received work below the
    edge are visited again until none has, then the band moves up. One global heap
    would jump between the 1,250 library frontiers at every pop, a cache miss each
    time at national scale; this visits one patch at a time.

    Nodes are settled out of global cost order only inside one band, so a node can
    be improved after it was settled; it is then pushed again (label-correcting),
    and the result is exact: the least float64 left-to-right sum over all paths,
    as any Dijkstra returns it. ``delta`` trades the two: narrow bands revisit
    blocks more often, wide bands settle more nodes twice. Stale heap entries are
    skipped when popped (lazy deletion). Labels are int32; the caller checks that
    nodes and labels fit.

    Parameters
    ----------
    indptr, indices, data
        CSR arrays of the graph (``n + 1``, ``m``, ``m``); row ``i`` holds the arcs
        leaving ``i``; weights must be non-negative. Results are correct in any
        node order; they come fast when consecutive numbers are near each other.
    seed_node, seed_cost, seed_label
        Seeds: a node, its start cost and a label (``0 <= label < 2**31``);
        several seeds may share a node or a label. Seeds with a non-finite cost
        are ignored.
    block_shift
        Block size as a power of two (``12``: 4,096 nodes).
    delta
        Width of a cost band; ``<= 0`` (the default) takes 20 times the mean arc
        weight, the fastest on road networks at 100k to 4M nodes (see
        ``docs/performance.md``); ``inf`` makes one band.

    Returns
    -------
    dist, label
        Per node the cheapest cost (``inf`` where no seed is reachable) and the
        label of the seed it comes from (``-1`` where unreachable). Where seeds
        reach a node at exactly the same cost, the label is the lowest of theirs,
        whatever the order of the search.
    """
    n = len(indptr) - 1
    if not delta > 0.0:
        total = 0.0
        for e in range(len(data)):
            total += data[e]
        delta = 20.0 * total / len(data) if len(data) > 0 else np.inf
        if not delta > 0.0:  # no arcs, or all of weight zero
            delta = np.inf
    n_blocks = (n >> block_shift) + 1
    dist = np.empty(n)
    label = np.empty(n, dtype=np.int32)
    for i in range(n):  # loops compile faster than np.full
        dist[i] = np.inf
        label[i] = -1
    # one heap per block, all in one array (a typed list of arrays would cost numba ~10 s
    # to compile): block b's heap is store[base[b] : base[b] + cap[b]]; a full heap moves
    # to the free end of the store with twice the room (the store doubles when needed)
    cap = np.empty(n_blocks, dtype=np.int64)
    base = np.empty(n_blocks, dtype=np.int64)
    sizes = np.empty(n_blocks, dtype=np.int64)
    for b in range(n_blocks):  # loops compile faster than np.zeros
        sizes[b] = 0
        cap[b] = 64
        base[b] = 64 * b
    top = n_blocks * 64
    store = np.empty((2 * top, 2))  # (cost, node as float64)
    low = np.inf
    for s in range(len(seed_node)):
        v = _i64(seed_node[s])
        c = seed_cost[s]
        lab = seed_label[s]
        if not np.isfinite(c):
            continue
        if c < dist[v] or (c == dist[v] and lab < label[v]):
            dist[v] = c
            label[v] = lab
            b = v >> block_shift
            if sizes[b] == cap[b]:
                store, top = _room(store, base, cap, top, b)
            _heap_push(store[base[b] : base[b] + cap[b]], sizes[b], c, v)
            sizes[b] += 1
            low = min(low, c)
    edge = low + delta
    while True:
        busy = True
        while busy:  # settle every block up to the band's edge
            busy = False
            for b in range(n_blocks):
                size = sizes[b]
                if size == 0:
                    continue
                heap = store[base[b] : base[b] + cap[b]]
                if heap[0, 0] > edge:
                    continue
                busy = True
                while size > 0 and heap[0, 0] <= edge:
                    du, u, size = _pop(heap, size)
                    if du > dist[u]:
                        continue  # a stale entry: u was reached more cheaply since
                    lu = label[u]
                    for e in range(indptr[u], indptr[u + 1]):
                        v = _i64(indices[e])  # int64, as the seeds (see _i64)
                        nd = du + data[e]
                        if nd < dist[v] or (nd == dist[v] and lu < label[v]):
                            dist[v] = nd
                            label[v] = lu
                            c = v >> block_shift
                            if c == b:
                                if size == cap[b]:
                                    store, top = _room(store, base, cap, top, b)
                                    heap = store[base[b] : base[b] + cap[b]]
                                _heap_push(heap, size, nd, v)
                                size += 1
                            else:
                                if sizes[c] == cap[c]:
                                    store, top = _room(store, base, cap, top, c)
                                    heap = store[base[b] : base[b] + cap[b]]  # store may move
                                _heap_push(store[base[c] : base[c] + cap[c]], sizes[c], nd, v)
                                sizes[c] += 1
                sizes[b] = size
        nxt = np.inf
        for b in range(n_blocks):
            if sizes[b] > 0 and store[base[b], 0] < nxt:
                nxt = store[base[b], 0]
        if nxt == np.inf:
            break
        edge = max(edge + delta, nxt)
    return dist, label


@_jit
def snap_grid(
    px: Any,
    py: Any,
    x0: float,
    y0: float,
    cell_m: float,
    nx: int,
    ny: int,
    cell_start: Any,
    ax: Any,
    ay: Any,
    bx: Any,
    by: Any,
    seg: Any,
    half_m: float,
    max_snap_m: float,
    seg_arc: Any,
    seg_before: Any,
    seg_len: Any,
    seg_total: Any,
) -> tuple[Any, Any, Any]:
    """Nearest arc to each point, from a uniform grid of segment pieces.

    Pieces (at most ``2 * half_m`` long) are bucketed by their midpoint into cells
    of ``cell_m`` (row-major, ``nx`` columns, ``ny`` rows, origin ``x0, y0``);
    ``cell_start`` (``nx * ny + 1``) indexes the piece arrays sorted by cell, each
    piece carrying its segment's end points and index ``seg``. After scanning
    rings ``0..R`` around a point's cell every other midpoint is at least
    ``R * cell_m`` away, so every other piece at least ``R * cell_m - half_m``:
    the search stops once the best distance is no larger (or larger than
    ``max_snap_m``). Equally near segments resolve to the lowest index.

    Returns
    -------
    arc, dist, frac
        The nearest segment's arc ``seg_arc[s]`` (-1 where no segment lies within
        ``max_snap_m``), the distance to it, and the point's position along the arc
        as a fraction of ``seg_total[s]`` (``seg_before[s]`` plus the projection
        factor, clipped to 0..1, times ``seg_len[s]``; 0 on an arc of length 0; NaN
        where none): the arithmetic of ``_SegmentIndex._locate``.
    """
    n = len(px)
    out_arc = np.empty(n, dtype=np.int64)
    out_d = np.empty(n)
    out_t = np.empty(n)
    for i in range(n):  # loops compile faster than np.full
        out_arc[i] = -1
        out_d[i] = np.nan
        out_t[i] = np.nan
    big = np.int64(9223372036854775807)  # np.iinfo compiles slowly
    for i in range(n):
        x = px[i]
        y = py[i]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        cx = int(np.floor((x - x0) / cell_m))
        cy = int(np.floor((y - y0) / cell_m))
        # rings that lie entirely outside the grid are empty: start at the first one inside
        gap = max(0, -cx, cx - (nx - 1), -cy, cy - (ny - 1))
        best = np.inf
        best_seg = big
        best_q = -1
        best_t = 0.0
        r = gap
        slack = 1e-9 * (1.0 + max(abs(x), abs(y)))
        while True:
            lo_x = cx - r
            hi_x = cx + r
            lo_y = cy - r
            hi_y = cy + r
            for gy in range(max(lo_y, 0), min(hi_y, ny - 1) + 1):
                # the ring: whole first and last rows, only the two end cells in between
                step = 1 if (gy == lo_y) | (gy == hi_y) else max(hi_x - lo_x, 1)
                for gx in range(lo_x, hi_x + 1, step):
                    if not 0 <= gx < nx:
                        continue
                    cell = gy * nx + gx
                    for q in range(cell_start[cell], cell_start[cell + 1]):
                        xa = ax[q]
                        ya = ay[q]
                        ex = bx[q] - xa
                        ey = by[q] - ya
                        len2 = ex * ex + ey * ey
                        # GEOS's point-segment distance (as _point_segment in engine.snap)
                        t = 0.0
                        if len2 == 0.0:
                            d = np.sqrt((x - xa) ** 2 + (y - ya) ** 2)
                        else:
                            t = ((x - xa) * ex + (y - ya) * ey) / len2
                            if t <= 0.0:
                                d = np.sqrt((x - xa) ** 2 + (y - ya) ** 2)
                            elif t >= 1.0:
                                d = np.sqrt((x - bx[q]) ** 2 + (y - by[q]) ** 2)
                            else:
                                sa = ((ya - y) * ex - (xa - x) * ey) / len2
                                d = np.abs(sa) * np.sqrt(len2)
                        k = seg[q]
                        if d < best or (d == best and k < best_seg):
                            best = d
                            best_seg = k
                            best_q = q
                            best_t = t
            bound = r * cell_m - half_m - slack
            if bound >= best or bound > max_snap_m:
                break
            if r > nx + ny + gap:  # every cell scanned
                break
            r += 1
        if best <= max_snap_m and best_q >= 0:
            out_arc[i] = seg_arc[best_seg]
            out_d[i] = best
            t = min(max(best_t, 0.0), 1.0)
            total = seg_total[best_seg]
            out_t[i] = (seg_before[best_seg] + t * seg_len[best_seg]) / total if total > 0 else 0.0
    return out_arc, out_d, out_t


@_jit_inline
def _sort_rows(ptr: Any, key: Any, perm: Any) -> None:
    """Sort each row ``perm[ptr[i]:ptr[i + 1]]`` by ``(key[a], a)``.

    A Shell sort (insertion sort for short rows; a hub node's long row costs at most
    ``d**1.5``), in loops: ``ndarray.sort`` would cost seconds of compiling.
    """
    for i in range(len(ptr) - 1):
        lo = ptr[i]
        hi = ptr[i + 1]
        h = 1
        while h < (hi - lo) // 3:
            h = 3 * h + 1
        while h >= 1:
            for p in range(lo + h, hi):
                a = perm[p]
                ka = key[a]
                q = p - h
                while q >= lo and (key[perm[q]] > ka or (key[perm[q]] == ka and perm[q] > a)):
                    perm[q + h] = perm[q]
                    q -= h
                perm[q + h] = a
            h //= 3


@_jit_inline
def _rows_of(rows: Any, n: int) -> tuple[Any, Any]:
    """Counting sort of the arcs by ``rows``: ``(ptr, perm)``, arcs ascending within a row."""
    m = len(rows)
    ptr = np.empty(n + 1, dtype=np.int64)
    for i in range(n + 1):  # loops compile faster than np.zeros
        ptr[i] = 0
    for a in range(m):
        ptr[rows[a] + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = np.empty(n, dtype=np.int64)
    for i in range(n):
        fill[i] = ptr[i]
    perm = np.empty(m, dtype=np.int64)
    for a in range(m):
        perm[fill[rows[a]]] = a
        fill[rows[a]] += 1
    return ptr, perm


@_jit
def min_csr(rows: Any, cols: Any, w: Any, n: int) -> tuple[Any, Any, Any]:
    """CSR arrays of the arcs ``rows → cols``: columns ascending, parallel arcs at their minimum.

    The compiled form of :func:`bereikbaar.engine.network._min_csr` (the same arrays:
    one counting sort, no sort of all arcs). A NaN weight wins, as in ``np.minimum``.

    Returns
    -------
    indptr, indices, data
        int64 row pointers, int64 columns and float64 weights.
    """
    ptr, perm = _rows_of(rows, n)
    _sort_rows(ptr, cols, perm)
    m = len(rows)
    indptr = np.empty(n + 1, dtype=np.int64)
    indices = np.empty(m, dtype=np.int64)
    data = np.empty(m)
    k = 0
    indptr[0] = 0
    for i in range(n):
        row_start = k
        for p in range(ptr[i], ptr[i + 1]):
            a = perm[p]
            x = w[a]
            if k > row_start and indices[k - 1] == cols[a]:
                if x < data[k - 1] or x != x:
                    data[k - 1] = x
            else:
                indices[k] = cols[a]
                data[k] = x
                k += 1
        indptr[i + 1] = k
    return indptr, indices[:k], data[:k]


@_jit
def twin_arcs(u: Any, v: Any, lmm: Any, n: int) -> Any:
    """For each arc ``u → v`` the lowest-index arc ``v → u`` of the same length (mm), or -1.

    Self-loops get -1 (:meth:`Network.reverse_arc` pairs them). One counting sort of the
    arcs by tail, each row sorted by head: the twins of an arc are in the row of its head.
    """
    ptr, perm = _rows_of(u, n)
    _sort_rows(ptr, v, perm)
    m = len(u)
    out = np.empty(m, dtype=np.int64)
    for a in range(m):
        out[a] = -1
        t = u[a]
        h = v[a]
        if t == h:
            continue
        lo = ptr[h]
        hi = ptr[h + 1]
        while lo < hi:  # the first arc of row h whose head is not below t
            mid = (lo + hi) >> 1
            if v[perm[mid]] < t:
                lo = mid + 1
            else:
                hi = mid
        for p in range(lo, ptr[h + 1]):
            b = perm[p]
            if v[b] != t:
                break
            if lmm[b] == lmm[a]:  # arcs of one head are in index order: the lowest first
                out[a] = b
                break
    return out


@_jit
def hilbert_keys(xi: Any, yi: Any, bits: int) -> Any:
    """:func:`bereikbaar.engine.network.hilbert_index` of grid cells ``xi, yi`` (compiled)."""
    n = len(xi)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        x = xi[i]
        y = yi[i]
        d = np.int64(0)
        s = np.int64(1) << (bits - 1)
        while s > 0:
            rx = 1 if (x & s) > 0 else 0
            ry = 1 if (y & s) > 0 else 0
            d += s * s * ((3 * rx) ^ ry)
            if ry == 0:
                if rx == 1:
                    x = s - 1 - x
                    y = s - 1 - y
                x, y = y, x
            s >>= 1
        out[i] = d
    return out


@_jit
def road_cells(
    coords: Any, offsets: Any, arcs: Any, step_m: float, lo: Any, cell_m: float, mark: Any
) -> Any:
    """Bounds of the road points of ``arcs`` (``cell_m <= 0``), or their cells set in ``mark``.

    The raster of :func:`bereikbaar.engine.coverage._road_points` without the points as
    arrays: every vertex of the arcs, and on a segment ``a-b`` the points ``a + (b - a) *
    (j / k)`` for ``j = 1..k-1``, ``k = ceil(hypot(b - a) / step_m)`` (the same float
    operations); non-finite points are skipped. A point's cell is ``floor((p - lo) /
    cell_m)``. Called once for the bounds (min x, min y, max x, max y), once to mark.
    """
    x_lo = np.inf
    y_lo = np.inf
    x_hi = -np.inf
    y_hi = -np.inf
    marking = cell_m > 0.0
    short2 = 0.99 * step_m * step_m  # no segment this short (squared) is cut
    for g in range(len(arcs)):
        arc = arcs[g]
        end = offsets[arc + 1]
        for i in range(offsets[arc], end):
            ax = coords[i, 0]
            ay = coords[i, 1]
            k = 1
            ex = 0.0
            ey = 0.0
            if i + 1 < end:
                ex = coords[i + 1, 0] - ax
                ey = coords[i + 1, 1] - ay
                if not (ex * ex + ey * ey <= short2):
                    kf = np.ceil(np.hypot(ex, ey) / step_m)
                    k = int(kf) if np.isfinite(kf) else 1
            for j in range(k):
                if j == 0:
                    x = ax
                    y = ay
                else:
                    t = j / k
                    x = ax + ex * t
                    y = ay + ey * t
                if not (np.isfinite(x) and np.isfinite(y)):
                    continue
                if marking:
                    mark[
                        int(np.floor((y - lo[1]) / cell_m)), int(np.floor((x - lo[0]) / cell_m))
                    ] = True
                else:
                    x_lo = min(x_lo, x)
                    y_lo = min(y_lo, y)
                    x_hi = max(x_hi, x)
                    y_hi = max(y_hi, y)
    out = np.empty(4)
    out[0] = x_lo
    out[1] = y_lo
    out[2] = x_hi
    out[3] = y_hi
    return out


@_jit
def segment_stats(coords: Any, offsets: Any, arcs: Any, piece_m: float) -> tuple[Any, Any]:
    """What the snapping grid's layout needs from the straight segments of some arcs.

    Parameters
    ----------
    coords, offsets
        ``Network.arc_coords()``: the vertices of every arc, arc after arc, and where
        each arc's vertices start.
    arcs
        The arcs (indices) whose segments are wanted.
    piece_m
        Longest piece a segment is cut into.

    Returns
    -------
    counts, stats
        ``counts``: the number of segments and of pieces; ``stats``: min x, min y, max x,
        max y of the arcs' vertices and the longest piece (m).
    """
    counts = np.zeros(2, dtype=np.int64)
    stats = np.empty(5)
    stats[0] = np.inf
    stats[1] = np.inf
    stats[2] = -np.inf
    stats[3] = -np.inf
    stats[4] = -np.inf
    for g in range(len(arcs)):
        a = arcs[g]
        lo = offsets[a]
        hi = offsets[a + 1]
        for i in range(lo, hi):
            stats[0] = min(stats[0], coords[i, 0])
            stats[1] = min(stats[1], coords[i, 1])
            stats[2] = max(stats[2], coords[i, 0])
            stats[3] = max(stats[3], coords[i, 1])
        for i in range(lo, hi - 1):
            dx = coords[i + 1, 0] - coords[i, 0]
            dy = coords[i + 1, 1] - coords[i, 1]
            length = np.sqrt(dx * dx + dy * dy)
            npc = max(int(np.ceil(length / piece_m)), 1)
            counts[0] += 1
            counts[1] += npc
            stats[4] = max(stats[4], length / npc)
    return counts, stats


@_jit
def grid_segments(
    coords: Any,
    offsets: Any,
    arcs: Any,
    piece_m: float,
    x0: float,
    y0: float,
    cell_m: float,
    nx: int,
    ny: int,
    n_seg: int,
    n_pieces: int,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]:
    """The snapping grid: the arcs' segments, cut into pieces, sorted by the cell of their midpoint.

    Two passes over the arcs' vertices (no array per segment or piece but the results):
    the first numbers the segments and counts the pieces per cell, the second puts each
    piece in its cell (stable: segment order, then piece order).

    Parameters
    ----------
    coords, offsets, arcs, piece_m
        As :func:`segment_stats`.
    x0, y0, cell_m, nx, ny
        The grid: its lower left corner, cell size (m), columns and rows (row-major).
    n_seg, n_pieces
        :func:`segment_stats`' counts.

    Returns
    -------
    cell_start, ax, ay, bx, by, seg, seg_len, seg_before, seg_total, seg_arc
        ``cell_start`` (``nx * ny + 1``); per piece in cell order its segment's end points
        and number; per segment its length, the arc's length before it, the arc's total
        length and the arc.
    """
    n_cells = nx * ny
    counts = np.zeros(n_cells + 1, dtype=np.int64)
    seg_len = np.empty(n_seg)
    seg_before = np.empty(n_seg)
    seg_total = np.empty(n_seg)
    seg_arc = np.empty(n_seg, dtype=np.int32)  # int32: memory (arcs < 2**31)
    k = 0
    for g in range(len(arcs)):
        a = arcs[g]
        first = k
        total = 0.0
        for i in range(offsets[a], offsets[a + 1] - 1):
            xa = coords[i, 0]
            ya = coords[i, 1]
            ex = coords[i + 1, 0] - xa
            ey = coords[i + 1, 1] - ya
            length = np.sqrt(ex * ex + ey * ey)
            seg_len[k] = length
            seg_before[k] = total
            seg_arc[k] = a
            total += length
            npc = max(int(np.ceil(length / piece_m)), 1)
            for j in range(npc):
                t = (j + 0.5) / npc
                gx = min(max(int(np.floor((xa + ex * t - x0) / cell_m)), 0), nx - 1)
                gy = min(max(int(np.floor((ya + ey * t - y0) / cell_m)), 0), ny - 1)
                counts[gy * nx + gx + 1] += 1
            k += 1
        for q in range(first, k):
            seg_total[q] = total
    cell_start = np.empty(n_cells + 1, dtype=np.int64)
    acc = 0
    for c in range(n_cells + 1):  # a loop compiles faster than np.cumsum and a copy
        acc += counts[c]
        cell_start[c] = acc
    fill = counts  # reused: fill[c] is the next free place in cell c
    for c in range(n_cells):
        fill[c] = cell_start[c]
    ax = np.empty(n_pieces)
    ay = np.empty(n_pieces)
    bx = np.empty(n_pieces)
    by = np.empty(n_pieces)
    seg = np.empty(n_pieces, dtype=np.int32)
    k = 0
    for g in range(len(arcs)):
        a = arcs[g]
        for i in range(offsets[a], offsets[a + 1] - 1):
            xa = coords[i, 0]
            ya = coords[i, 1]
            ex = coords[i + 1, 0] - xa
            ey = coords[i + 1, 1] - ya
            npc = max(int(np.ceil(seg_len[k] / piece_m)), 1)
            for j in range(npc):
                t = (j + 0.5) / npc
                gx = min(max(int(np.floor((xa + ex * t - x0) / cell_m)), 0), nx - 1)
                gy = min(max(int(np.floor((ya + ey * t - y0) / cell_m)), 0), ny - 1)
                c = gy * nx + gx
                q = fill[c]
                fill[c] += 1
                ax[q] = xa
                ay[q] = ya
                bx[q] = coords[i + 1, 0]
                by[q] = coords[i + 1, 1]
                seg[q] = k
            k += 1
    return cell_start, ax, ay, bx, by, seg, seg_len, seg_before, seg_total, seg_arc


@_jit
def bounded_site_costs(
    indptr: Any,
    indices: Any,
    data: Any,
    site_seed_ptr: Any,
    seed_node: Any,
    seed_cost: Any,
    site_arc: Any,
    site_to_lib: Any,
    site_leg: Any,
    lim: float,
    limit: float,
    node_ptr: Any,
    node_orig: Any,
    arc_keys: Any,
    arc_orig: Any,
    o_arc: Any,
    o_u: Any,
    o_v: Any,
    to_pt: Any,
    from_pt: Any,
    oleg: Any,
    can_back: Any,
    twin: Any,
    eps: float,
    dist: Any,
    touched: Any,
) -> tuple[Any, Any, Any]:
    """Cost from every origin to each site, where at most ``limit``: one bounded search per site.

    For site ``r`` a Dijkstra over the reversed CSR from its seeds
    (``seed_node/seed_cost[site_seed_ptr[r]:site_seed_ptr[r + 1]]``, the ends of the
    site's arc) that never goes beyond ``lim``; then, for every origin whose arc
    ends at a reached node or that lies on the site's own arc, the cost home →
    site with exactly the arithmetic of ``scenarios.bounded_costs(method="full")``
    (the same float64 operations in the same order, so the same bits). A search
    touches only the nodes within the limit; its arrays are reset through the list
    of touched nodes, so a site costs time in proportion to its neighbourhood, not
    to the network.

    Origins are given per usable origin ``o`` (``o_arc``, the arc's tail and head
    in the CSR's numbering ``o_u``/``o_v``, the along-arc costs, the leg, whether
    it may leave its arc backwards and whether its arc has a twin); ``node_ptr``/
    ``node_orig`` list the origins per node, ``arc_keys`` (sorted) / ``arc_orig``
    the origins per arc. ``dist`` (``n``, all ``inf``) and ``touched`` (``n``)
    are scratch arrays, reused across calls: ``dist`` is all ``inf`` again on
    return (fresh memory is slow to obtain, a search small).

    Returns
    -------
    rows, cols, costs
        Triplets (site ``r``, origin ``o``, cost ``<= limit``), without duplicates.
    """
    n_sites = len(site_seed_ptr) - 1
    seen = np.empty(len(o_arc), dtype=np.int64)
    for o in range(len(o_arc)):  # loops compile faster than np.full
        seen[o] = -1
    cand = np.empty(max(len(o_arc), 1), dtype=np.int64)
    heap = np.empty((1 << 12, 2))
    cap = 1 << 16
    out_r = np.empty(cap, dtype=np.int64)
    out_c = np.empty(cap, dtype=np.int64)
    out_v = np.empty(cap)
    n_out = 0
    for r in range(n_sites):
        # typed counters (see _i64)
        n_touched = _i64(0)
        size = _i64(0)
        for s in range(site_seed_ptr[r], site_seed_ptr[r + 1]):
            v = _i64(seed_node[s])
            c = seed_cost[s]
            if not c <= lim:
                continue
            if c < dist[v]:
                if dist[v] == np.inf:
                    touched[n_touched] = v
                    n_touched += 1
                dist[v] = c
                if size == len(heap):
                    heap = _grow(heap, size)
                _heap_push(heap, size, c, v)
                size += 1
        while size > 0:
            du, u, size = _pop(heap, size)
            if du > dist[u]:
                continue
            for e in range(indptr[u], indptr[u + 1]):
                v = _i64(indices[e])
                nd = du + data[e]
                if nd <= lim and nd < dist[v]:
                    if dist[v] == np.inf:
                        touched[n_touched] = v
                        n_touched += 1
                    dist[v] = nd
                    if size == len(heap):
                        heap = _grow(heap, size)
                    _heap_push(heap, size, nd, v)
                    size += 1
        # the origins at the reached nodes and on the site's own arc
        n_cand = 0
        for t in range(n_touched):
            w = touched[t]
            for q in range(node_ptr[w], node_ptr[w + 1]):
                o = node_orig[q]
                if seen[o] != r:
                    seen[o] = r
                    cand[n_cand] = o
                    n_cand += 1
        a = site_arc[r]
        if a >= 0:
            lo = 0
            hi = len(arc_keys)
            while lo < hi:  # the first key not below a (np.searchsorted compiles slowly)
                mid = (lo + hi) >> 1
                if arc_keys[mid] < a:
                    lo = mid + 1
                else:
                    hi = mid
            for q in range(lo, len(arc_keys)):
                if arc_keys[q] != a:
                    break
                o = arc_orig[q]
                if seen[o] != r:
                    seen[o] = r
                    cand[n_cand] = o
                    n_cand += 1
        for t in range(n_cand):
            o = cand[t]
            cost = from_pt[o] + dist[o_v[o]]
            back = to_pt[o] + dist[o_u[o]] if can_back[o] else np.inf
            if back < cost:
                cost = back
            if o_arc[o] == a:
                s_o = to_pt[o]
                s_l = site_to_lib[r]
                if s_l >= s_o - eps:
                    along = s_l - s_o
                elif twin[o]:
                    along = s_o - s_l
                else:
                    along = np.inf
                direct = along + site_leg[r]
                if direct < cost:
                    cost = direct
            cost = cost + oleg[o]
            if np.isfinite(cost) and cost <= limit:
                if n_out == len(out_r):  # twice the room (loops: see _grow)
                    bigger_r = np.empty(2 * n_out, dtype=np.int64)
                    bigger_c = np.empty(2 * n_out, dtype=np.int64)
                    bigger_v = np.empty(2 * n_out)
                    for i in range(n_out):
                        bigger_r[i] = out_r[i]
                        bigger_c[i] = out_c[i]
                        bigger_v[i] = out_v[i]
                    out_r, out_c, out_v = bigger_r, bigger_c, bigger_v
                out_r[n_out] = r
                out_c[n_out] = o
                out_v[n_out] = cost
                n_out += 1
        for t in range(n_touched):
            dist[touched[t]] = np.inf
    return out_r[:n_out], out_c[:n_out], out_v[:n_out]
