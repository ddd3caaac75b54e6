"""The compiled network indexes equal their NumPy references (the algorithms they replaced).

Twins, CSR (parallel arcs at their minimum), Hilbert keys and the coverage raster, on
random multigraphs with parallel arcs, self-loops, NaN weights and hub nodes whose rows are
longer than an insertion sort handles.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from bereikbaar.engine import coverage as cov
from bereikbaar.engine.network import Network, _min_csr, hilbert_index


def reference_twins(u: np.ndarray, v: np.ndarray, lmm: np.ndarray, n: int) -> np.ndarray:
    """The lowest-index arc v -> u of the same mm length (np.unique over all arcs; no loops)."""
    m = len(u)
    out = np.full(m, -1, dtype=np.int64)
    pairs = np.concatenate([u * n + v, v * n + u])
    _, rank = np.unique(pairs, return_inverse=True)
    key_f = (rank[:m].astype(np.int64) << 40) | lmm
    key_q = (rank[m:].astype(np.int64) << 40) | lmm
    order = np.argsort(key_f, kind="stable")
    sorted_keys = key_f[order]
    pos = np.minimum(np.searchsorted(sorted_keys, key_q, side="left"), m - 1)
    twin = order[pos]
    ok = (sorted_keys[pos] == key_q) & (u != v)
    out[ok] = twin[ok]
    return out


def reference_csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> tuple:
    key = rows * n + cols
    order = np.argsort(key, kind="stable")
    k = key[order]
    start = np.ones(len(k), dtype=bool)
    start[1:] = k[1:] != k[:-1]
    first = np.flatnonzero(start)
    ww = np.minimum.reduceat(w[order], first)
    k = k[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(k // n, minlength=n), out=indptr[1:])
    return indptr, k % n, ww


def multigraph(seed: int, n: int = 60, m: int = 900) -> tuple[np.ndarray, ...]:
    """Random arcs with many parallels, loops, two hubs (rows of ~150 arcs) and few lengths."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    u[: m // 6], v[m // 6 : m // 3] = 0, 1  # hub rows: out of node 0, into node 1
    back = rng.random(m) < 0.5  # many arcs get a reversed copy
    u, v = np.concatenate([u, v[back]]), np.concatenate([v, u[back]])
    lmm = rng.integers(0, 4, len(u)).astype(np.int64)
    return u.astype(np.int64), v.astype(np.int64), lmm


@pytest.mark.parametrize("seed", range(6))
def test_twins_equal_the_unique_based_reference(seed: int) -> None:
    from bereikbaar.engine._kernels import twin_arcs

    u, v, lmm = multigraph(seed)
    np.testing.assert_array_equal(twin_arcs(u, v, lmm, 60), reference_twins(u, v, lmm, 60))


def test_reverse_arc_by_hand_with_parallel_arcs() -> None:
    # 0->1 twice (10 m), 1->0 once (10 m), 1->0 of 12 m: both 0->1 pair with arc 2, the lowest
    net = Network(
        x=np.array([0.0, 10.0]),
        y=np.array([0.0, 0.0]),
        u=np.array([0, 0, 1, 1]),
        v=np.array([1, 1, 0, 0]),
        length_m=np.array([10.0, 10.0, 10.0, 12.0]),
    )
    assert net.reverse_arc().tolist() == [2, 2, 0, -1]


@pytest.mark.parametrize("seed", range(6))
def test_min_csr_equals_the_sorting_reference(seed: int) -> None:
    u, v, _ = multigraph(seed)
    w = np.random.default_rng(seed).choice([0.0, 1.5, 2.0, 7.25], len(u))
    w[::97] = np.nan  # a NaN weight wins, as in np.minimum
    got = _min_csr(u, v, w, 60)
    indptr, indices, data = reference_csr(u, v, w, 60)
    np.testing.assert_array_equal(got.indptr, indptr)
    np.testing.assert_array_equal(got.indices, indices)
    np.testing.assert_array_equal(got.data, data)  # NaN where a parallel arc is NaN


def test_min_csr_by_hand() -> None:
    got = _min_csr(np.array([1, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([5.0, 2, 3, 0]), 2)
    assert got.indptr.tolist() == [0, 1, 3]
    assert got.indices.tolist() == [1, 0, 1]
    assert got.data.tolist() == [2.0, 3.0, 0.0]  # 1->0 at min(5, 3); the zero stays an edge


def test_hilbert_keys_equal_hilbert_index() -> None:
    from bereikbaar.engine._kernels import hilbert_keys
    from bereikbaar.engine.network import _hilbert_cells

    rng = np.random.default_rng(4)
    x, y = rng.uniform(-5e4, 3e5, 5000), rng.uniform(3e5, 6e5, 5000)
    for bits in (1, 5, 16):
        xi, yi = _hilbert_cells(x, y, bits)
        np.testing.assert_array_equal(hilbert_keys(xi, yi, bits), hilbert_index(x, y, bits))


def curvy_network(seed: int, with_geometry: bool) -> Network:
    """Two-way and one-way arcs, some long (cut by the coverage), some with bends."""
    rng = np.random.default_rng(seed)
    n = 80
    x, y = rng.uniform(0, 20_000, n), rng.uniform(0, 20_000, n)
    a = rng.integers(0, n, 120)
    b = (a + rng.integers(1, n, 120)) % n
    two = rng.random(120) < 0.6
    u, v = np.concatenate([a, b[two]]), np.concatenate([b, a[two]])
    geoms = []
    for t, h in zip(a, b, strict=True):
        mid = np.array([(x[t] + x[h]) / 2, (y[t] + y[h]) / 2])
        bend = rng.uniform(-800, 800, 2) + mid
        geoms.append([(x[t], y[t]), tuple(bend), (x[h], y[h])])
    back = [g[::-1] for g, keep in zip(geoms, two, strict=True) if keep]
    lines = np.asarray(shapely.linestrings(geoms + back), dtype=object)
    lines[::7] = None  # missing geometries: straight arcs
    geometry = lines if with_geometry else None
    length = shapely.length(lines)
    straight = np.hypot(x[u] - x[v], y[u] - y[v])
    length = np.where(np.isnan(length) | (not with_geometry), straight, length)
    return Network(x, y, u, v, length, geometry=geometry)


@pytest.mark.parametrize("with_geometry", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_coverage_raster_equals_rasterising_the_road_points(seed: int, with_geometry: bool) -> None:
    net = curvy_network(seed, with_geometry)
    cell, pad = 500.0, 5
    lo, mask = cov._road_raster(net, cell / 2.0, cell, pad)
    pts = cov._road_points(net, cell / 2.0)  # the NumPy reference
    ref_lo = np.floor(pts.min(axis=0) / cell) * cell - pad * cell
    idx = np.floor((pts - ref_lo) / cell).astype(np.int64)
    ref = np.zeros((idx[:, 1].max() + pad + 1, idx[:, 0].max() + pad + 1), dtype=bool)
    ref[idx[:, 1], idx[:, 0]] = True
    np.testing.assert_array_equal(lo, ref_lo)
    np.testing.assert_array_equal(mask, ref)
    assert mask.sum() > len(np.unique(idx[: net.n_nodes], axis=0)) // 2  # long arcs were cut


@pytest.mark.parametrize(
    "extent",
    [
        shapely.Polygon([(730, 410), (9_100, 2_020), (4_000, 8_800)]),  # a triangle
        shapely.Polygon([(1_000, 1_000), (9_000, 1_000), (9_000, 9_000), (1_000, 9_000)]),
        shapely.Polygon(  # a ring with a hole, edges on cell lines
            [(0, 0), (10_000, 0), (10_000, 10_000), (0, 10_000)],
            holes=[[(3_000, 3_000), (6_000, 3_000), (6_000, 6_500), (3_000, 6_500)]],
        ),
    ],
)
def test_cells_meeting_the_extent_equal_intersecting_every_box(extent: object) -> None:
    cell = 500.0
    lo = np.array([-1_250.0, -750.0])
    shape = (26, 27)
    x = lo[0] + np.arange(shape[1]) * cell
    y = lo[1] + np.arange(shape[0]) * cell
    boxes = shapely.box(x[None, :], y[:, None], x[None, :] + cell, y[:, None] + cell)
    ref = shapely.intersects(extent, boxes)
    got = cov._meets(extent, lo, cell, shape)
    np.testing.assert_array_equal(got, ref)
    assert 0 < ref.sum() < ref.size  # cells inside and outside


def test_prepare_builds_the_indexes_and_the_cache_keeps_the_coverage(tmp_path: object) -> None:
    from pathlib import Path

    from bereikbaar.engine.snap import eligible_arcs

    net = curvy_network(1, True)
    fresh = curvy_network(1, True)
    assert net.prepare() is net
    store = net._snap_store
    assert ("search", "length") in store and ("eligible", True) in store
    assert any(key[0] == "coverage" for key in store) and ("grid", True, 50) in store
    # the same indexes as building them on first use
    np.testing.assert_array_equal(net.reverse_arc(), fresh.reverse_arc())
    np.testing.assert_array_equal(eligible_arcs(net), eligible_arcs(fresh))
    np.testing.assert_array_equal(net.coverage().mask, fresh.coverage().mask)
    back = Network.load(net.save(Path(str(tmp_path)) / "net.npz"))
    area = next(a for key, a in back._snap_store.items() if key[0] == "coverage")
    assert area is back.coverage()  # read from the file, not rebuilt
    np.testing.assert_array_equal(area.mask, fresh.coverage().mask)
    assert (area.x0, area.y0) == (fresh.coverage().x0, fresh.coverage().y0)


def test_coverage_contains_asks_the_extent_only_near_its_boundary() -> None:
    net = curvy_network(2, True)
    ring = np.array([[2_100.0, 1_900.0], [17_300.0, 3_100.0], [15_000.0, 18_200.0]])
    area = cov._build(Network(net.x, net.y, net.u, net.v, net.length_m, extent=ring), 500.0, 0.0)
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1_000, 21_000, (20_000, 2))
    xy[:50] = ring[0] + (ring[1] - ring[0]) * rng.random((50, 1))  # on the boundary
    col = np.floor((xy[:, 0] - area.x0) / area.cell_m).astype(np.int64)
    row = np.floor((xy[:, 1] - area.y0) / area.cell_m).astype(np.int64)
    rows, cols = area.mask.shape
    ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    ref = np.zeros(len(xy), dtype=bool)
    ref[ok] = area.mask[row[ok], col[ok]]
    ref &= shapely.contains_xy(area.extent, xy[:, 0], xy[:, 1])
    np.testing.assert_array_equal(area.contains(xy), ref)
    assert area._inside_extent.any() and 0 < ref.sum() < len(ref)


def test_prepare_accepts_a_network_without_arcs_to_snap_onto() -> None:
    # one-way arcs 0 -> 1 -> 2: the strongly connected core is one node, no arc is eligible
    x, y = np.array([0.0, 100.0, 200.0]), np.zeros(3)
    net = Network(x, y, np.array([0, 1]), np.array([1, 2]), np.array([100.0, 100.0]))
    assert net.prepare() is net
    assert ("search", "length") in net._snap_store
