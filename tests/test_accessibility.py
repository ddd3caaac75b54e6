"""The engine: snapping onto edges and the multi-source Dijkstra, against networkx."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from bereikbaar.accessibility import nearest_library, nearest_library_with_snaps, snap_to_arcs
from bereikbaar.engine.network import Network
from bereikbaar.exceptions import BereikbaarWarning, InputError


def make_network(
    xy: list[tuple[float, float]],
    arcs: list[tuple[int, int]],
    lengths: list[float] | None = None,
) -> Network:
    x = np.array([p[0] for p in xy], dtype=float)
    y = np.array([p[1] for p in xy], dtype=float)
    u = np.array([a for a, _ in arcs], dtype=np.int64)
    v = np.array([b for _, b in arcs], dtype=np.int64)
    if lengths is None:
        lengths = [math.dist(xy[a], xy[b]) for a, b in arcs]
    return Network(x=x, y=y, u=u, v=v, length_m=np.array(lengths, dtype=float))


def libs_at(points: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"library_id": [f"L{i}" for i in range(len(points))], "full_service": True},
        geometry=[shapely.Point(p) for p in points],
        crs="EPSG:28992",
    )


SQUARE = [(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0)]


def ring(one_way_ab: bool) -> Network:
    arcs = [(0, 1), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)]
    if not one_way_ab:
        arcs.append((1, 0))
    return make_network(SQUARE, arcs)


def test_snap_leg_and_offset_two_way() -> None:
    # origin 30 m below A-B at x=800, library 40 m above at x=100: 30 + 700 + 40
    res = nearest_library(ring(one_way_ab=False), np.array([[800.0, -30.0]]), libs_at([(100, 40)]))
    assert res["distance_m"].iloc[0] == pytest.approx(770.0, abs=1e-9)
    assert res["snap_m"].iloc[0] == pytest.approx(30.0, abs=1e-9)
    assert res["library_id"].iloc[0] == "L0"
    assert bool(res["reachable"].iloc[0])


def test_one_way_forces_the_detour() -> None:
    # A→B one-way: forward 200 m to B, B→C→D→A 3000 m, then 100 m along A→B, + legs 30 + 40
    res = nearest_library(ring(one_way_ab=True), np.array([[800.0, -30.0]]), libs_at([(100, 40)]))
    assert res["distance_m"].iloc[0] == pytest.approx(3370.0, abs=1e-9)


def test_one_way_same_arc_forward_is_direct() -> None:
    # library ahead on the one-way arc: 30 + (900 - 100) + 40
    res = nearest_library(ring(one_way_ab=True), np.array([[100.0, -30.0]]), libs_at([(900, 40)]))
    assert res["distance_m"].iloc[0] == pytest.approx(870.0, abs=1e-9)


def test_nearest_of_two_libraries_and_offsets() -> None:
    net = ring(one_way_ab=False)
    # origin at (1000+20, 300) snaps onto B-C at 300 m from B
    libs = libs_at([(500, -10), (1010, 900)])
    res = nearest_library(net, np.array([[1020.0, 300.0]]), libs)
    # to L1: 20 + 600 + 10 = 630; to L0: 20 + 300 + 500 + 10 = 830
    assert res["library_id"].iloc[0] == "L1"
    assert res["distance_m"].iloc[0] == pytest.approx(630.0, abs=1e-9)


def test_snap_to_arcs_projects_perpendicular() -> None:
    net = ring(one_way_ab=False)
    s = snap_to_arcs(net, np.array([[250.0, 75.0], [1100.0, 400.0]]))
    assert s.snap_m.tolist() == pytest.approx([75.0, 100.0])
    # first lands on A-B (offset 250 from A or 750 from B, whichever twin was indexed)
    a0 = int(s.arc[0])
    off = s.offset_m[0] if net.u[a0] == 0 else 1000 - s.offset_m[0]
    assert off == pytest.approx(250.0)


def test_unreachable_is_nan_and_warned() -> None:
    # two separate segments; library on one, origin on the other
    net = make_network([(0, 0), (100, 0), (5000, 0), (5100, 0)], [(0, 1), (1, 0), (2, 3), (3, 2)])
    with pytest.warns(BereikbaarWarning, match="cannot reach"):
        res = nearest_library(
            net, np.array([[5050.0, 5.0], [50.0, 5.0]]), libs_at([(10, 0)]), core_only=False
        )
    assert math.isnan(res["distance_m"].iloc[0])
    assert not res["reachable"].iloc[0]
    assert pd.isna(res["library_id"].iloc[0])
    assert res["distance_m"].iloc[1] == pytest.approx(5 + 40 + 0)


@pytest.mark.parametrize("measure", [nearest_library, nearest_library_with_snaps])
def test_warnings_point_at_the_callers_line(measure: object) -> None:
    """``nearest_library`` calls ``nearest_library_with_snaps``: both warn at the caller's line."""
    net = make_network([(0, 0), (100, 0), (5000, 0), (5100, 0)], [(0, 1), (1, 0), (2, 3), (3, 2)])
    assert callable(measure)
    with pytest.warns(BereikbaarWarning, match="cannot reach") as record:
        measure(net, np.array([[5050.0, 5.0]]), libs_at([(10, 0)]), core_only=False)
    assert {w.filename for w in record} == {__file__}


def test_max_snap_makes_far_origins_unreachable() -> None:
    with pytest.warns(BereikbaarWarning, match="farther than 500"):
        res = nearest_library(
            ring(False), np.array([[500.0, -900.0]]), libs_at([(0, 0)]), max_snap_m=500
        )
    assert not res["reachable"].iloc[0]


def test_no_full_service_library_is_an_error() -> None:
    libs = libs_at([(0, 0)]).assign(full_service=False)
    with pytest.raises(InputError, match="no \\(full-service\\) library"):
        nearest_library(ring(False), np.array([[1.0, 1.0]]), libs)


def test_time_weight_picks_fastest_library() -> None:
    # L0 is 600 m away on a slow street, L1 1500 m away on a fast road
    xy = [(0.0, 0.0), (600.0, 0.0), (0.0, 1500.0)]
    net0 = make_network(xy, [(0, 1), (1, 0), (0, 2), (2, 0)])
    time_s = np.array([600 / 1.0, 600 / 1.0, 1500 / 20.0, 1500 / 20.0])
    net = Network(x=net0.x, y=net0.y, u=net0.u, v=net0.v, length_m=net0.length_m, time_s=time_s)
    libs = libs_at([(600, 0), (0, 1500)])
    by_len = nearest_library(net, np.array([[0.0, 0.0]]), libs)
    by_time = nearest_library(net, np.array([[0.0, 0.0]]), libs, weight="time")
    assert by_len["library_id"].iloc[0] == "L0"
    assert by_time["library_id"].iloc[0] == "L1"
    assert by_time["time_s"].iloc[0] == pytest.approx(75.0)
    assert by_time["distance_m"].iloc[0] == pytest.approx(600.0)


def random_network(
    rng: np.random.Generator, n: int, m: int, stretch: bool
) -> tuple[Network, nx.DiGraph]:
    xy = rng.uniform(0, 10_000, size=(n, 2))
    u = rng.integers(0, n, size=m)
    v = rng.integers(0, n, size=m)
    keep = u != v
    u, v = u[keep], v[keep]
    euclid = np.hypot(*(xy[u] - xy[v]).T)
    length = (
        euclid * (1 + rng.uniform(0, 1, size=len(u)))
        if stretch
        else rng.uniform(0, 5000, size=len(u))
    )
    net = Network(x=xy[:, 0], y=xy[:, 1], u=u, v=v, length_m=length)
    return net, net.to_networkx_digraph()


def reference(g: nx.DiGraph, sources: list[int]) -> dict[int, float]:
    return dict(nx.multi_source_dijkstra_path_length(g.reverse(copy=True), sources))


@pytest.mark.parametrize("seed", range(120))
def test_engine_equals_networkx_on_random_directed_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    m = int(rng.integers(n // 2, 3 * n))  # sparse graphs are often disconnected
    net, g = random_network(rng, n, m, stretch=False)
    touched = np.unique(np.concatenate([net.u, net.v]))
    if len(touched) < 2:
        pytest.skip("degenerate graph")
    lib_nodes = rng.choice(touched, size=min(len(touched), int(rng.integers(1, 4))), replace=False)
    libs = libs_at([(net.x[i], net.y[i]) for i in lib_nodes])
    origins = np.column_stack([net.x[touched], net.y[touched]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        res = nearest_library(net, origins, libs, core_only=False)
    ref = reference(g, [int(i) for i in lib_nodes])
    expected = np.array([ref.get(int(i), np.nan) for i in touched])
    got = res["distance_m"].to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    assert (res["reachable"].to_numpy() == ~np.isnan(expected)).all()


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_network_distance_at_least_straight_line(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net, _ = random_network(rng, 40, 160, stretch=True)
    lib_xy = rng.uniform(0, 10_000, size=(3, 2))
    libs = libs_at([tuple(p) for p in lib_xy])
    origins = rng.uniform(0, 10_000, size=(30, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        # a sparse random network: points up to km from any road, snapped anyway (the
        # invariant holds for every snap leg; the limit and coverage are tested elsewhere)
        res = nearest_library(net, origins, libs, max_snap_m=np.inf, coverage=False)
    ok = res["reachable"].to_numpy()
    idx = np.array([int(s[1:]) for s in res["library_id"][ok]], dtype=int)
    straight = np.hypot(*(origins[ok] - lib_xy[idx]).T)
    assert (res["distance_m"].to_numpy()[ok] >= straight - 1e-6).all()
    assert (res["distance_m"].to_numpy()[ok] >= res["snap_m"].to_numpy()[ok] - 1e-9).all()


@pytest.mark.parametrize("mode", ["car", "bike"])
def test_engine_equals_networkx_on_tudelft(shared_data, mode: str) -> None:  # type: ignore[no-untyped-def]
    from bereikbaar.sources.osm import load_network

    net = load_network(shared_data / "osm" / "tudelft_2025.osm.pbf", mode=mode)
    g = net.to_osmnx()  # MultiDiGraph keyed by OSM node id, edge attribute "length"
    ids = net.node_id
    assert ids is not None
    core = np.flatnonzero(net.core_nodes())
    rng = np.random.default_rng(7)
    lib_nodes = rng.choice(core, size=6, replace=False)
    libs = libs_at([(net.x[i], net.y[i]) for i in lib_nodes])
    origins = np.column_stack([net.x[core], net.y[core]])
    res = nearest_library(net, origins, libs)
    ref = nx.multi_source_dijkstra_path_length(
        g.reverse(copy=False), {int(ids[i]) for i in lib_nodes}, weight="length"
    )
    expected = np.array([ref.get(int(ids[i]), np.nan) for i in core])
    assert not np.isnan(expected).any()  # the core is strongly connected
    np.testing.assert_allclose(res["distance_m"].to_numpy(), expected, atol=1e-6, rtol=0)


def test_island_without_ferry_reaches_only_its_own_library() -> None:
    # mainland ring + a separate island network (a 60-node two-way path) 3 km away
    main = [(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0)]
    island = [(5000.0 + 20 * i, 0.0) for i in range(60)]
    arcs = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)]
    for i in range(59):
        arcs += [(4 + i, 5 + i), (5 + i, 4 + i)]
    # a 3-node fragment (too small to be an island) next to the mainland
    frag = [(500.0, 200.0), (520.0, 200.0), (540.0, 200.0)]
    arcs += [(64, 65), (65, 64), (65, 66), (66, 65)]
    # the mainland continues north for 100 nodes (so it is the largest network)
    north = [(0.0, 1000.0 + 20 * (i + 1)) for i in range(100)]
    arcs += [(3, 67), (67, 3)]
    for i in range(99):
        arcs += [(67 + i, 68 + i), (68 + i, 67 + i)]
    net = make_network(main + island + frag + north, arcs)
    origins = np.array([[5500.0, 10.0], [520.0, 205.0]])
    with pytest.warns(BereikbaarWarning, match="cannot reach"):
        res = nearest_library(net, origins, libs_at([(0, 0)]))
    # island origin: no route to the mainland library, never a snap across the water
    assert not res["reachable"].iloc[0]
    assert res["snap_m"].iloc[0] == pytest.approx(10.0)
    # the fragment is skipped: the origin snaps onto the mainland ring (x=500,y=0 edge, 205 m)
    assert res["snap_m"].iloc[1] == pytest.approx(205.0)
    assert res["distance_m"].iloc[1] == pytest.approx(205.0 + 520.0)
    # a library on the island serves the island
    both = nearest_library(net, origins, libs_at([(0, 0), (5100, 0)]))
    assert both["library_id"].iloc[0] == "L1"
    assert both["distance_m"].iloc[0] == pytest.approx(10 + 400)


# ------------------------------------------------ fast snapping == STRtree snapping


def assert_same_snap(net: Network, pts: np.ndarray, method: str = "grid", **kw: object) -> None:
    """The grid (or k-d tree) path equals the STRtree path (ties between arcs aside)."""
    fast = snap_to_arcs(net, pts, method=method, **kw)  # type: ignore[arg-type]
    ref = snap_to_arcs(net, pts, method="strtree", **kw)  # type: ignore[arg-type]
    ok = ref.arc >= 0
    assert np.array_equal(fast.arc >= 0, ok)
    np.testing.assert_allclose(fast.snap_m[ok], ref.snap_m[ok], atol=1e-9, rtol=0)
    same = ok & (fast.arc == ref.arc)
    np.testing.assert_allclose(fast.offset_m[same], ref.offset_m[same], atol=1e-6, rtol=0)
    geoms = net.arc_geometry()[fast.arc[ok]]
    p = shapely.points(pts[ok])
    # a different arc is a tie: our arc is exactly as near as the reference's
    np.testing.assert_allclose(shapely.distance(geoms, p), ref.snap_m[ok], atol=1e-9, rtol=0)
    # the offset is consistent: the point that far along our arc is the projection
    length = shapely.length(geoms)
    frac = np.divide(
        fast.offset_m[ok], net.length_m[fast.arc[ok]], out=np.zeros(ok.sum()), where=length > 0
    )
    at = shapely.line_interpolate_point(geoms, frac, normalized=True)
    np.testing.assert_allclose(shapely.distance(at, p), fast.snap_m[ok], atol=1e-6, rtol=0)


def curvy_network(seed: int) -> Network:
    """Random arcs with 0-6 inner vertices, some wild, some near-straight, some repeated."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    x, y = rng.uniform(0, 3000, n), rng.uniform(0, 3000, n)
    if seed % 7 == 0:  # integer grid coordinates: many exact ties
        x, y = np.round(x / 500) * 500, np.round(y / 500) * 500
    m = int(rng.integers(1, 40))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    geoms, lengths = [], []
    for a, b in zip(u, v, strict=True):
        k = int(rng.integers(0, 7))
        if rng.random() < 0.5:
            inner = rng.uniform(0, 3000, (k, 2))
        else:
            t = np.linspace(0, 1, k + 2)[1:-1, None]
            inner = (1 - t) * [x[a], y[a]] + t * [x[b], y[b]] + rng.normal(0, 80, (k, 2))
        if k and rng.random() < 0.2:  # a repeated vertex (zero-length segment)
            inner = np.vstack([inner, inner[-1:]])
        g = shapely.linestrings(np.vstack([[x[a], y[a]], inner, [x[b], y[b]]]))
        geoms.append(g)
        lengths.append(shapely.length(g) * rng.uniform(0.9, 1.2))
    return Network(
        x=x,
        y=y,
        u=u.astype(np.int64),
        v=v.astype(np.int64),
        length_m=np.array(lengths),
        geometry=np.array(geoms, dtype=object),
    )


@pytest.mark.parametrize("seed", range(120))
def test_fast_snap_equals_strtree_on_random_curvy_networks(seed: int) -> None:
    net = curvy_network(seed)
    rng = np.random.default_rng(seed + 10_000)
    pts = rng.uniform(-2000, 5000, (150, 2))  # also far outside: many candidate rounds
    coords = shapely.get_coordinates(net.arc_geometry())
    pts[:20] = coords[rng.integers(0, len(coords), 20)]  # exactly on vertices
    pts[20] = np.nan
    for method in ("grid", "kdtree"):
        assert_same_snap(net, pts, method, core_only=False)
        assert_same_snap(net, pts, method, core_only=False, max_snap_m=200.0)
        if net.snappable_nodes()[net.u].any():
            assert_same_snap(net, pts, method)


def test_fast_snap_long_straight_arcs_and_zero_length_arc() -> None:
    # 20 km arcs are cut into many pieces; a zero-length loop arc at node 2
    net = make_network(
        [(0.0, 0.0), (20_000.0, 0.0), (20_000.0, 7.0)], [(0, 1), (1, 0), (1, 2), (2, 2)]
    )
    pts = np.array([[10_000.3, 40.0], [-300.0, -5.0], [20_000.0, 9.0], [5_000.0, 30_000.0]])
    assert_same_snap(net, pts, core_only=False)
    s = snap_to_arcs(net, pts, core_only=False)
    assert s.snap_m.tolist() == pytest.approx([40.0, math.hypot(300, 5), 2.0, 30_000.0])
    assert s.offset_m[0] == pytest.approx(10_000.3) or s.offset_m[0] == pytest.approx(9_999.7)
    far = snap_to_arcs(net, pts, core_only=False, max_snap_m=100.0)
    assert far.arc.tolist()[3] == -1
    assert math.isnan(far.snap_m[3])


def test_fast_snap_rejects_unknown_method() -> None:
    with pytest.raises(InputError, match="method"):
        snap_to_arcs(ring(False), np.array([[1.0, 1.0]]), method="quadtree")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["car", "bike"])
def test_fast_snap_equals_strtree_on_tudelft(shared_data, mode: str) -> None:  # type: ignore[no-untyped-def]
    from bereikbaar.sources.osm import load_network

    net = load_network(shared_data / "osm" / "tudelft_2025.osm.pbf", mode=mode)
    rng = np.random.default_rng(3)
    lo = np.array([net.x.min(), net.y.min()]) - 500
    hi = np.array([net.x.max(), net.y.max()]) + 500
    pts = rng.uniform(lo, hi, (5000, 2))
    pts[:500] = np.column_stack([net.x, net.y])[rng.integers(0, net.n_nodes, 500)]
    assert_same_snap(net, pts)
    assert_same_snap(net, pts, core_only=False, max_snap_m=50.0)


def test_grid_snap_many_points_in_threads_equals_strtree() -> None:
    # more points than the single-thread limit: the points are split over threads
    from bereikbaar.engine.snap import _THREAD_MIN_POINTS

    net = curvy_network(3)
    rng = np.random.default_rng(11)
    pts = rng.uniform(-500, 3500, (_THREAD_MIN_POINTS + 5_000, 2))
    assert_same_snap(net, pts, core_only=False)
    one = snap_to_arcs(net, pts[:100], core_only=False)
    many = snap_to_arcs(net, pts, core_only=False)
    assert np.array_equal(one.arc, many.arc[:100])  # the answer does not depend on the batch


def test_grid_snap_point_far_outside_the_grid() -> None:
    # a point 50 km away starts its ring search at the grid's edge and still finds the arc
    net = make_network([(0.0, 0.0), (300.0, 0.0)], [(0, 1), (1, 0)])
    s = snap_to_arcs(net, np.array([[150.0, 50_000.0], [-40_000.0, -30_000.0]]), core_only=False)
    assert s.snap_m.tolist() == pytest.approx([50_000.0, 50_000.0])
    assert s.offset_m[0] == pytest.approx(150.0)


# ------------------------------------------- compiled search == scipy == networkx


@pytest.mark.parametrize("seed", range(60))
def test_compiled_dijkstra_equals_networkx_with_weighted_seeds(seed: int) -> None:
    from bereikbaar.engine._kernels import multi_source_dijkstra

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    m = int(rng.integers(0, 4 * n))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.choice([0.0, 1.0, 2.5, 10.0], m) if seed % 3 == 0 else rng.uniform(0, 100, m)
    k = int(rng.integers(1, 6))
    seed_node = rng.integers(0, n, k)
    seed_cost = rng.uniform(0, 50, k)
    if seed % 5 == 0:
        seed_cost[0] = np.inf  # ignored
    indptr = np.zeros(n + 1, dtype=np.int64)
    order = np.argsort(u, kind="stable")
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    args = (indptr, v[order].astype(np.int32), w[order], seed_node, seed_cost, np.arange(k))
    dist, label = multi_source_dijkstra(*args)
    # tiny blocks and narrow, wide or single cost bands: the same costs and labels
    for block_shift, delta in ((0, -1.0), (2, 1.0), (3, 30.0), (1, np.inf), (5, 1e-3)):
        d2, l2 = multi_source_dijkstra(*args, block_shift, delta)
        assert np.array_equal(d2, dist) and np.array_equal(l2, label), (block_shift, delta)
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n + 1))
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    for j in range(k):  # the virtual source n reaches seed j at its cost
        if np.isfinite(seed_cost[j]):
            g.add_edge(n, int(seed_node[j]), weight=float(seed_cost[j]))
    ref = nx.single_source_dijkstra_path_length(g, n)
    expected = np.array([ref.get(i, np.inf) for i in range(n)])
    np.testing.assert_allclose(dist, expected, rtol=0, atol=1e-9)
    assert np.array_equal(label < 0, np.isinf(dist))
    # the label names a seed whose cost plus the road from it is the distance
    for i in np.flatnonzero(np.isfinite(dist)):
        j = int(label[i])
        via = nx.dijkstra_path_length(g, int(seed_node[j]), int(i)) if i != seed_node[j] else 0.0
        assert seed_cost[j] + via == pytest.approx(dist[i], abs=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_numba_engine_equals_scipy_engine(seed: int) -> None:
    from bereikbaar.engine.search import solve

    rng = np.random.default_rng(seed)
    net, _ = random_network(rng, int(rng.integers(5, 80)), int(rng.integers(10, 250)), True)
    pts = rng.uniform(0, 10_000, (60, 2))
    lib_xy = rng.uniform(0, 10_000, (int(rng.integers(1, 6)), 2))
    o = snap_to_arcs(net, pts, core_only=False)
    lib = snap_to_arcs(net, lib_xy, core_only=False)
    c_nb, l_nb = solve(net, "length", o, lib)
    c_sp, l_sp = solve(net, "length", o, lib, engine="scipy")
    assert np.array_equal(c_nb, c_sp, equal_nan=True)  # bit-identical costs
    # the chosen libraries may differ only where two are exactly as near
    assert np.array_equal(l_nb < 0, l_sp < 0)


def test_unknown_engine_is_an_error() -> None:
    from bereikbaar.engine.search import solve

    net = ring(False)
    s = snap_to_arcs(net, np.array([[10.0, 5.0]]))
    with pytest.raises(InputError, match="engine"):
        solve(net, "length", s, s, engine="fortran")  # type: ignore[arg-type]


def test_search_csr_is_the_reversed_graph_renumbered() -> None:
    rng = np.random.default_rng(5)
    net, _ = random_network(rng, 200, 600, True)
    graph, rank = net.search_csr("length")
    assert sorted(rank.tolist()) == list(range(net.n_nodes))  # a permutation
    base = net.csr("length", reverse=True).toarray()
    renumbered = graph.toarray()
    assert np.array_equal(renumbered[np.ix_(rank, rank)], base)


def test_hilbert_rank_puts_map_neighbours_close_together() -> None:
    # a 30 x 30 street grid whose nodes are numbered at random
    rng = np.random.default_rng(8)
    side = 30
    perm = rng.permutation(side * side)
    xy = [(0.0, 0.0)] * (side * side)
    for i in range(side):
        for j in range(side):
            xy[perm[i * side + j]] = (100.0 * i, 100.0 * j)
    arcs = []
    for i in range(side):
        for j in range(side):
            if i + 1 < side:
                arcs.append((perm[i * side + j], perm[(i + 1) * side + j]))
            if j + 1 < side:
                arcs.append((perm[i * side + j], perm[i * side + j + 1]))
    net = make_network(xy, arcs)
    _, rank = net.search_csr("length")
    random_gap = np.abs(net.u - net.v).mean()  # about n / 3
    hilbert_gap = np.median(np.abs(rank[net.u] - rank[net.v]))
    assert random_gap > 200
    assert hilbert_gap <= 3  # along the curve most street neighbours are adjacent


def test_compiled_dijkstra_equal_costs_take_the_lowest_label() -> None:
    # a path 0 - 1 - 2 - 3 - 4 (both ways, 10 m each); seeds at 0 (label 5) and 4 (label 2)
    # meet at 2 at the same 20 m: 2 goes to label 2, whichever block or band reaches it first
    from bereikbaar.engine._kernels import multi_source_dijkstra

    u = np.array([0, 1, 1, 2, 2, 3, 3, 4])
    v = np.array([1, 0, 2, 1, 3, 2, 4, 3], dtype=np.int32)
    indptr = np.array([0, 1, 3, 5, 7, 8])
    for block_shift, delta in ((12, -1.0), (0, 5.0), (1, np.inf)):
        dist, label = multi_source_dijkstra(
            indptr,
            v,
            np.full(len(u), 10.0),
            np.array([0, 4]),
            np.zeros(2),
            np.array([5, 2]),
            block_shift,
            delta,
        )
        assert dist.tolist() == [0.0, 10.0, 20.0, 10.0, 0.0]
        assert label.tolist() == [5, 5, 2, 2, 2]


def test_compiled_dijkstra_grows_its_heap() -> None:
    # a star of 200,000 arcs from one seed: more entries than the heap starts with
    from bereikbaar.engine._kernels import multi_source_dijkstra

    n = 200_001
    w = np.arange(n - 1, 0, -1, dtype=float)  # descending: every push sifts to the top
    indptr = np.full(n + 1, n - 1, dtype=np.int64)
    indptr[0] = 0
    dist, label = multi_source_dijkstra(
        indptr, np.arange(1, n, dtype=np.int32), w, np.array([0]), np.array([2.5]), np.array([7])
    )
    assert dist[0] == 2.5
    assert np.array_equal(dist[1:], w + 2.5)
    assert (label == 7).all()
