"""Tests for bereikbaar.sources.nwb: NWB wegvakken → Network."""

from __future__ import annotations

import pathlib
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from bereikbaar.exceptions import InputError, NetworkError
from bereikbaar.sources.nwb import load_nwb, read_wegvakken
from bereikbaar.sources.osm import load_network

GML = "nwb_wegvakken_wageningen_2020.gml"


@pytest.fixture(scope="module")
def gml(shared_data: pathlib.Path) -> pathlib.Path:
    return shared_data / "nwb-wageningen" / GML


@pytest.fixture(scope="module")
def wegvakken(gml: pathlib.Path) -> gpd.GeoDataFrame:
    return read_wegvakken(gml)


def _weak_pieces(net_u: np.ndarray, net_v: np.ndarray, n: int) -> int:
    g = sp.csr_array((np.ones(len(net_u)), (net_u, net_v)), shape=(n, n))
    return int(connected_components(g, directed=True, connection="weak")[0])


def test_sample_network(gml: pathlib.Path, wegvakken: gpd.GeoDataFrame) -> None:
    net = load_network(gml, mode="car")  # dispatches on .gml
    assert net.mode == "car"
    seg_len = wegvakken.geometry.length.to_numpy()
    two_way = wegvakken["rijrichtng"].to_numpy() != "H"
    assert len(wegvakken) == 247 and int((~two_way).sum()) == 34
    # SOURCES.md: 247 wegvakken, 27.5 km in total
    assert seg_len.sum() == pytest.approx(27_452, abs=5)
    # every two-way wegvak is two arcs, every one-way wegvak one arc
    assert net.n_arcs == 2 * 213 + 34
    assert net.length_m.sum() == pytest.approx(2 * seg_len[two_way].sum() + seg_len[~two_way].sum())
    # total edge length (each wegvak once: one arc per two-way pair) == sum of wegvakken
    twin = net.reverse_arc()
    once = (twin < 0) | (np.arange(net.n_arcs) < twin)
    assert net.length_m[once].sum() == pytest.approx(seg_len.sum(), rel=1e-3)
    # the sample is clipped: 3 separate pieces
    assert _weak_pieces(net.u, net.v, net.n_nodes) == 3
    # junctions: one node per distinct junction id, coordinates at the wegvak ends
    ids = np.unique(np.concatenate([wegvakken["jte_id_beg"], wegvakken["jte_id_end"]]))
    assert net.n_nodes == len(ids)
    starts = shapely.get_point(net.geometry, 0)
    assert np.allclose(shapely.get_x(starts), net.x[net.u], atol=1.0)
    assert np.allclose(shapely.get_y(starts), net.y[net.u], atol=1.0)
    assert np.allclose(net.length_m, shapely.length(net.geometry))


def test_one_way_segments_have_exactly_one_arc(
    gml: pathlib.Path, wegvakken: gpd.GeoDataFrame
) -> None:
    net = load_nwb(gml)
    assert net.node_id is not None
    node = {int(j): i for i, j in enumerate(net.node_id)}
    pairs: dict[tuple[int, int], int] = {}
    for a, b in zip(net.u.tolist(), net.v.tolist(), strict=True):
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    segment_pairs: dict[frozenset[int], int] = {}
    for b, e in zip(wegvakken["jte_id_beg"], wegvakken["jte_id_end"], strict=True):
        key = frozenset((node[int(b)], node[int(e)]))
        segment_pairs[key] = segment_pairs.get(key, 0) + 1
    one_way = wegvakken[wegvakken["rijrichtng"] == "H"]
    checked = 0
    for b, e in zip(one_way["jte_id_beg"], one_way["jte_id_end"], strict=True):
        ib, ie = node[int(b)], node[int(e)]
        if segment_pairs[frozenset((ib, ie))] > 1:
            continue  # another wegvak joins the same junctions; cannot tell arcs apart
        assert pairs.get((ib, ie), 0) == 1
        assert pairs.get((ie, ib), 0) == 0
        checked += 1
    assert checked >= 30


def test_bike_is_two_way(gml: pathlib.Path) -> None:
    net = load_nwb(gml, "bike")
    assert net.n_arcs == 2 * 247  # no rijkswegen in the Wageningen sample


def test_reading_writes_nothing(tmp_path: pathlib.Path, gml: pathlib.Path) -> None:
    copy = tmp_path / GML
    shutil.copy(gml, copy)  # without its .gfs
    net = load_nwb(copy)
    assert net.n_arcs == 460
    assert sorted(p.name for p in tmp_path.iterdir()) == [GML]


def _write_gpkg(frame: gpd.GeoDataFrame, path: pathlib.Path) -> pathlib.Path:
    pyogrio.write_dataframe(frame, path, layer="wegvakken")
    return path


def test_t_direction_and_uppercase_shapefile_columns(tmp_path: pathlib.Path) -> None:
    lines = [
        shapely.LineString([(0, 0), (100, 0)]),
        shapely.LineString([(100, 0), (100, 50)]),
        shapely.LineString([(100, 50), (0, 0)]),
    ]
    frame = gpd.GeoDataFrame(
        {"JTE_ID_BEG": [1, 2, 3], "JTE_ID_END": [2, 3, 1], "RIJRICHTNG": ["T", "H", None]},
        geometry=lines,
        crs="EPSG:28992",
    )
    path = tmp_path / "wegvakken.shp"
    frame.to_file(path)
    net = load_nwb(path)
    ids = net.node_id
    assert ids is not None
    arcs = sorted(
        (int(ids[a]), int(ids[b])) for a, b in zip(net.u.tolist(), net.v.tolist(), strict=True)
    )
    assert arcs == [(1, 3), (2, 1), (2, 3), (3, 1)]
    k = next(i for i in range(net.n_arcs) if (ids[net.u[i]], ids[net.v[i]]) == (2, 1))
    assert net.geometry is not None
    assert net.geometry[k].coords[0] == (100.0, 0.0)  # T: geometry reversed
    assert net.length_m[k] == pytest.approx(100.0)


def test_errors_name_row_and_column(tmp_path: pathlib.Path) -> None:
    line = shapely.LineString([(0, 0), (10, 0)])
    frame = gpd.GeoDataFrame(
        {"jte_id_beg": [1, 2], "jte_id_end": [2, 3], "rijrichtng": ["B", "X"]},
        geometry=[line, line],
        crs="EPSG:28992",
    )
    path = _write_gpkg(frame, tmp_path / "nwb.gpkg")
    with pytest.raises(InputError, match=r"nwb\.gpkg', row 2, column 'rijrichtng'.*'X'"):
        load_nwb(path)
    path = _write_gpkg(frame.drop(columns="jte_id_end"), tmp_path / "zonder.gpkg")
    with pytest.raises(InputError, match=r"zonder\.gpkg', column 'jte_id_end'.*missing"):
        load_nwb(path)
    with pytest.raises(InputError, match="not found"):
        load_nwb(tmp_path / "geen.gml")
    with pytest.raises(NetworkError, match="mode"):
        load_nwb(path, "boot")
