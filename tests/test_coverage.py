"""Coverage: origins outside the network's area are not snapped; every unreachable origin has a
reason; partly covered areas are "onvolledig" and left out of the comparison with CBS."""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from bereikbaar.accessibility import nearest_library, points_xy
from bereikbaar.aggregate import aggregate_gemeenten
from bereikbaar.compare import compare_with_cbs
from bereikbaar.engine.network import Network
from bereikbaar.exceptions import ConfigError
from bereikbaar.schema import (
    ONVOLLEDIG,
    REASON_NO_LOCATION,
    REASON_NO_ROUTE,
    REASON_OUTSIDE,
    REASON_TOO_FAR,
    SHARE_COVERED,
    TE_GROOT,
    UNREACHABLE_REASON,
    UNREACHABLE_REASONS,
    VERDICT,
)
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.osm import load_network

GRID = "cbs-vierkant-2024-rijnmond/grid_100m_rijnmond.geojson"
KWB = "cbs-kwb-2024"
TUDELFT_BOX = (4.355, 51.995, 4.386, 52.005)  # osmium extract -b of tudelft_2025 (its README)


def ring_network(cx: float, cy: float, radius: float, n: int = 64) -> Network:
    """A two-way ring road of ``n`` straight arcs around (cx, cy)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = cx + radius * np.cos(t), cy + radius * np.sin(t)
    a = np.arange(n)
    b = (a + 1) % n
    seg = np.hypot(x[b] - x[a], y[b] - y[a])
    return Network(
        x=x,
        y=y,
        u=np.concatenate([a, b]).astype(np.int64),
        v=np.concatenate([b, a]).astype(np.int64),
        length_m=np.concatenate([seg, seg]),
    )


# ------------------------------------------------------------------ reasons, by hand


def test_each_reason_by_hand(street_lattice: Any, libraries_at: Any) -> None:
    # a ring road round a 6 km lake, and a separate lattice (an island without library) east
    ring = ring_network(100_000.0, 400_000.0, 3_000.0)
    island = street_lattice(110_000.0, 112_000.0, 399_000.0, 401_000.0, 250.0)
    net = Network(
        x=np.concatenate([ring.x, island.x]),
        y=np.concatenate([ring.y, island.y]),
        u=np.concatenate([ring.u, island.u + ring.n_nodes]),
        v=np.concatenate([ring.v, island.v + ring.n_nodes]),
        length_m=np.concatenate([ring.length_m, island.length_m]),
    )
    libs = libraries_at([(103_000.0, 400_000.0)])  # on the ring
    origins = np.array(
        [
            [97_000.0, 400_000.0],  # on the ring, opposite the library
            [100_000.0, 400_000.0],  # the middle of the lake: 3 km from the road
            [100_000.0, 420_000.0],  # 17 km north of everything
            [np.nan, np.nan],  # no location
            [111_000.0, 400_000.0],  # on the island: no road to the library
        ]
    )
    with pytest.warns(UserWarning, match="4 of 5 origins cannot reach a library"):
        res = nearest_library(net, origins, libs, max_snap_m=1_000.0)
    assert res[UNREACHABLE_REASON].tolist() == [
        None,
        REASON_TOO_FAR,  # inside the covered area (the lake is a hole that is filled)
        REASON_OUTSIDE,
        REASON_NO_LOCATION,
        REASON_NO_ROUTE,
    ]
    assert res.attrs["unreachable"] == {
        REASON_OUTSIDE: 1,
        REASON_TOO_FAR: 1,
        REASON_NO_ROUTE: 1,
        REASON_NO_LOCATION: 1,
    }
    # the origin on the ring: half the circumference (a 64-gon's), within a metre
    half = 32 * 2 * 3_000.0 * np.sin(np.pi / 64)
    assert res["distance_m"].iloc[0] == pytest.approx(half, abs=1.0)
    assert np.isnan(res["distance_m"].iloc[1:]).all()


def test_library_outside_coverage_is_not_used(street_lattice: Any, libraries_at: Any) -> None:
    net = street_lattice(0.0, 2_000.0, 0.0, 2_000.0, 250.0)
    libs = libraries_at([(1_000.0, 1_000.0), (30_000.0, 1_000.0)])  # the second 28 km away
    with pytest.warns(UserWarning, match="1 libraries lie outside the road network's coverage"):
        res = nearest_library(net, np.array([[500.0, 500.0]]), libs, max_snap_m=50_000.0)
    assert res.attrs["libraries_unused"][REASON_OUTSIDE] == 1
    assert res["library_id"].tolist() == ["L0"]
    # without coverage the far library is snapped across 28 km (what the limit guards against)
    res_all = nearest_library(
        net, np.array([[500.0, 500.0]]), libs, max_snap_m=50_000.0, coverage=False
    )
    assert res_all.attrs["libraries_unused"][REASON_OUTSIDE] == 0


def test_coverage_raster_bounds(street_lattice: Any) -> None:
    net = street_lattice(0.0, 4_000.0, 0.0, 4_000.0, 200.0)
    cov = net.coverage()
    # every point within 1 km of a road is covered; none farther than buffer + 2 cells
    rng = np.random.default_rng(1)
    pts = rng.uniform(-5_000.0, 9_000.0, (5_000, 2))
    # Euclidean distance to the lattice's square (its roads fill it)
    dx = np.maximum(np.maximum(-pts[:, 0], pts[:, 0] - 4_000), 0.0)
    d = np.hypot(dx, np.maximum(np.maximum(-pts[:, 1], pts[:, 1] - 4_000), 0.0))
    inside = cov.contains(pts)
    assert inside[d <= 1_000.0].all()
    assert not inside[d > 1_000.0 + 3 * 500.0].any()
    # the declared extent cuts it: a box round the west half
    ring = np.array([[-100.0, -100.0], [2_000.0, -100.0], [2_000.0, 4_100.0], [-100.0, 4_100.0]])
    cut = Network(net.x, net.y, net.u, net.v, net.length_m, extent=ring).coverage()
    got = cut.contains(pts)
    assert not got[pts[:, 0] > 2_000.0].any()
    in_ring = shapely.contains_xy(shapely.Polygon(ring), pts[:, 0], pts[:, 1])
    assert (got == (inside & in_ring)).all()


def test_extent_survives_save_and_load(tmp_path: pathlib.Path, street_lattice: Any) -> None:
    ring = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    net = street_lattice(0.0, 500.0, 0.0, 500.0, 250.0)
    net = Network(net.x, net.y, net.u, net.v, net.length_m, extent=ring)
    back = Network.load(net.save(tmp_path / "n.npz"))
    assert back.extent is not None
    np.testing.assert_array_equal(back.extent, ring)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("min_share_covered", 1.5, "min_share_covered must be a share between 0 and 1"),
        ("min_share_covered", True, "min_share_covered"),
        ("coverage_buffer_m", -1.0, "coverage_buffer_m must be a finite number >= 0"),
        ("network_extent", [4.4, 52.0, 4.3, 52.1], r"network_extent must be \[min_lon"),
        ("network_extent", [4.3, 52.0, 4.4], r"network_extent must be \[min_lon"),
    ],
)
def test_settings_are_validated(key: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.from_dict({key: value})


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def rijnmond(shared_data: pathlib.Path) -> gpd.GeoDataFrame:
    return load_cbs_grid(shared_data / GRID)


def test_truncated_coverage_on_the_rijnmond_grid(
    shared_data: pathlib.Path, rijnmond: gpd.GeoDataFrame, street_lattice: Any, libraries_at: Any
) -> None:
    # a street lattice covering only the west of Rijnmond (x < 85 km: through Rotterdam)
    cut_x = 85_000.0
    net = street_lattice(55_000.0, cut_x, 420_000.0, 452_000.0, 250.0)
    libs = libraries_at([(70_000.0, 437_000.0), (80_000.0, 440_000.0), (62_000.0, 430_000.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nearest_library(net, rijnmond, libs)
    cells = rijnmond.join(res)
    xy = points_xy(rijnmond, "cells")
    beyond = xy[:, 0] - cut_x  # metres east of the lattice's last street
    # no origin outside coverage gets a distance; beyond buffer + three raster cells none does
    outside = cells[UNREACHABLE_REASON] == REASON_OUTSIDE
    assert cells.loc[outside, "distance_m"].isna().all()
    assert outside[beyond > 1_000.0 + 3 * 500.0].all()
    assert not outside[beyond <= 1_000.0].any()
    # every cell has a distance or a reason, never both
    has = cells["distance_m"].notna()
    assert (has == cells[UNREACHABLE_REASON].isna()).all()
    assert cells.loc[~has, UNREACHABLE_REASON].isin(UNREACHABLE_REASONS).all()
    # network distance >= straight line to the nearest library
    lib_xy = points_xy(libs, "libraries")
    straight = np.min(np.hypot(xy[:, :1] - lib_xy[:, 0], xy[:, 1:] - lib_xy[:, 1]), axis=1)
    assert (cells.loc[has, "distance_m"] >= straight[has.to_numpy()] - 1e-6).all()

    gemeenten = load_gemeenten(shared_data / KWB / "gemeente_2024.geojson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = aggregate_gemeenten(cells, gemeenten, libs)
    summary = summary[summary["population"] > 0].set_index("gemeentecode")
    rotterdam = summary.loc["GM0599"]
    assert 0.05 < rotterdam[SHARE_COVERED] < 0.95
    assert rotterdam[ONVOLLEDIG]
    assert rotterdam[VERDICT] == "onvolledig"
    assert not rotterdam[TE_GROOT]
    # Vlaardingen and Maassluis lie west of the cut (within its buffer): covered, a verdict
    for gm in ("GM0622", "GM0556"):
        assert summary.loc[gm, SHARE_COVERED] == pytest.approx(1.0)
        assert not summary.loc[gm, ONVOLLEDIG]
    # Ridderkerk and Krimpen aan den IJssel lie wholly east: nothing covered
    for gm in ("GM0597", "GM0542"):
        assert summary.loc[gm, SHARE_COVERED] == 0.0
        assert summary.loc[gm, ONVOLLEDIG]
    # residents per reason: covered + outside + without location = all, per gemeente
    outside_pop = summary["population_buiten_wegennet"] + summary["population_geen_locatie"]
    np.testing.assert_allclose(
        summary["population_covered"] + outside_pop, summary["population"], atol=1e-6
    )
    assert summary["population_buiten_wegennet"].sum() <= np.nansum(
        cells.loc[outside, "population"]
    )  # cells outside every gemeente are not aggregated
    partly = summary[(summary[SHARE_COVERED] > 0) & (summary[SHARE_COVERED] < 0.95)]
    assert partly[ONVOLLEDIG].all()
    assert len(partly) >= 2

    # on the map: onvolledig outlined dashed (output.style.VERDICTS), named in the legend
    from bereikbaar.output.maps import make_map

    named = libs.assign(name=libs["library_id"], branch_type="vestiging", address="", postcode="")
    fmap = make_map(cells, summary.reset_index(), named, catchments=False, hover=False)
    html = fmap.get_root().render()
    assert "onvolledige gegevens: geen oordeel" in html.lower()
    assert "6 4" in html
    reference = shared_data / KWB / "gemeente_2024_stats.parquet"
    per, stats = compare_with_cbs(summary.reset_index(), reference)
    short = set(summary.index[summary[ONVOLLEDIG]])
    assert set(stats["left_out"]) == short
    assert all(reason.startswith("onvolledig") for reason in stats["left_out"].values())
    compared = set(per.loc[per["compared"], "gemeentecode"])
    assert not compared & short
    assert stats["n_compared"] == len(compared) == len(summary) - len(short)


def test_tudelft_200_origins_every_unreachable_has_a_reason(
    shared_data: pathlib.Path, rijnmond: gpd.GeoDataFrame, libraries_at: Any
) -> None:
    settings = Settings(network_extent=TUDELFT_BOX)
    net = load_network(shared_data / "osm" / "tudelft_2025.osm.pbf", "car", settings=settings)
    assert net.extent is not None
    to_rd = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    rng = np.random.default_rng(13)
    lon = rng.uniform(TUDELFT_BOX[0], TUDELFT_BOX[2], 200)
    lat = rng.uniform(TUDELFT_BOX[1], TUDELFT_BOX[3], 200)
    x, y = to_rd.transform(lon, lat)
    lib_x, lib_y = to_rd.transform(4.37567, 51.99775)  # TU Delft Library, Prometheusplein
    libs = libraries_at([(lib_x, lib_y)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nearest_library(net, np.column_stack([x, y]), libs)
    reach = res["reachable"].to_numpy()
    reasons = res[UNREACHABLE_REASON]
    assert reasons[~reach].isin(UNREACHABLE_REASONS).all()
    assert reasons[reach].isna().all()
    counts = res.attrs["unreachable"]
    assert sum(counts.values()) == int((~reach).sum())
    # inside the extract's own box nothing is outside its coverage
    assert counts[REASON_OUTSIDE] == 0
    # a "geen route" origin sits on a separate road network (no road of the mode to the library)
    from bereikbaar.engine.snap import snap_to_arcs

    snap = snap_to_arcs(net, np.column_stack([x, y]))
    core = net.core_nodes()
    no_route = (reasons == REASON_NO_ROUTE).to_numpy()
    assert not core[net.u[snap.arc[no_route]]].any()

    # the Rijnmond grid lies outside the box: no cell gets a distance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = nearest_library(net, rijnmond, libs)
    assert grid["distance_m"].isna().all()
    assert (grid[UNREACHABLE_REASON] == REASON_OUTSIDE).all()
    # without the declared box the extract's long roads cover part of the grid
    plain = load_network(shared_data / "osm" / "tudelft_2025.osm.pbf", "car")
    assert plain.extent is None  # this file's header declares no box
    assert plain.coverage().contains(points_xy(rijnmond, "cells")).any()


def test_unreachable_reason_is_a_frame_column_with_none(
    street_lattice: Any, libraries_at: Any
) -> None:
    net = street_lattice(0.0, 1_000.0, 0.0, 1_000.0, 250.0)
    res = nearest_library(net, np.array([[100.0, 100.0]]), libraries_at([(500.0, 500.0)]))
    assert res[UNREACHABLE_REASON].tolist() == [None]
    assert isinstance(res, pd.DataFrame)


def test_header_box_of_a_pbf_is_the_declared_extent(shared_data: pathlib.Path) -> None:
    # liechtenstein.osm.pbf declares its box in the header (9.4710780/47.0477400 -
    # 9.6362170/47.2712800); the network keeps it and its coverage stays inside it
    net = load_network(shared_data / "osm" / "liechtenstein.osm.pbf", "car")
    assert net.extent is not None
    to_rd = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    corner = np.array(to_rd.transform(9.4710780, 47.0477400))
    assert np.min(np.hypot(*(net.extent - corner).T)) < 1e-6  # the box's lower-left corner
    box = shapely.Polygon(net.extent)
    cov = net.coverage()
    assert shapely.covers(box.buffer(1e-6), cov.polygon())
    assert shapely.contains_xy(box, net.x, net.y).all()
    # Settings.network_extent wins over the header
    mine = load_network(
        shared_data / "osm" / "liechtenstein.osm.pbf",
        "car",
        settings=Settings(network_extent=(9.5, 47.1, 9.55, 47.15)),
    )
    assert mine.extent is not None
    assert shapely.Polygon(mine.extent).area < 0.1 * box.area


@pytest.mark.parametrize("with_geometry", [False, True])
def test_a_long_road_is_covered_along_its_length(with_geometry: bool) -> None:
    # one 10 km road, straight or as a stored geometry: beside its middle it is covered too
    x, y = np.array([0.0, 10_000.0]), np.array([0.0, 0.0])
    geom = (
        np.array(
            [shapely.LineString([(0, 0), (10_000, 0)]), shapely.LineString([(10_000, 0), (0, 0)])]
        )
        if with_geometry
        else None
    )
    net = Network(
        x=x,
        y=y,
        u=np.array([0, 1]),
        v=np.array([1, 0]),
        length_m=np.full(2, 10_000.0),
        geometry=geom,
    )
    cov = net.coverage()
    xs = np.linspace(0.0, 10_000.0, 101)
    beside = np.column_stack([xs, np.full_like(xs, 990.0)])
    assert cov.contains(beside).all()
    assert not cov.contains(np.column_stack([xs, np.full_like(xs, 2_600.0)])).any()
