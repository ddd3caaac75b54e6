"""Tests of the synthetic case generator (bereikbaar.examples.synthetic), on a tiny instance."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import osmium
import pytest

from bereikbaar.examples.synthetic import (
    SyntheticInputs,
    SyntheticSpec,
    make_road_grid,
    write_pbf,
    write_synthetic_case,
)
from bereikbaar.exceptions import BereikbaarWarning
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.osm import load_network

TINY = SyntheticSpec(n_nodes=2_000, n_cells=300, n_branches=25, n_gemeenten=7, seed=11)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> SyntheticInputs:
    return write_synthetic_case(tmp_path_factory.mktemp("tiny"), TINY)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_deterministic(case: SyntheticInputs, tmp_path: Path) -> None:
    again = write_synthetic_case(tmp_path / "again", TINY)
    for name in ("network", "cells", "libraries", "config"):
        assert _sha(getattr(case, name)) == _sha(getattr(again, name)), name
    other = make_road_grid(SyntheticSpec(n_nodes=2_000, seed=12))
    assert not np.array_equal(other.x[:100], make_road_grid(TINY).x[:100])


def test_pbf_read_by_osmium(case: SyntheticInputs) -> None:
    nodes = ways = ferries = oneway = 0
    for obj in osmium.FileProcessor(str(case.network)):
        if obj.is_node():
            nodes += 1
        elif obj.is_way():
            ways += 1
            ferries += obj.tags.get("route") == "ferry"
            oneway += obj.tags.get("oneway") in ("yes", "-1")
    assert (nodes, ways, ferries) == (case.n_osm_nodes, case.n_ways, case.n_ferries)
    assert ferries >= 1
    assert 0.03 < oneway / ways < 0.2


def test_network_shape(case: SyntheticInputs) -> None:
    net = load_network(case.network)
    assert net.n_nodes == case.n_graph_nodes
    assert TINY.n_nodes * 0.8 < net.n_nodes < TINY.n_nodes * 1.2
    # degree of graph nodes in the undirected simple graph: mostly 3-4 at junctions
    a = np.minimum(net.u, net.v)
    b = np.maximum(net.u, net.v)
    pairs = np.unique(np.column_stack([a, b])[a != b], axis=0)
    degree = np.bincount(pairs.ravel(), minlength=net.n_nodes)
    share34 = np.isin(degree, (3, 4)).mean()
    assert share34 > 0.6
    assert degree.max() <= 5
    # shape nodes: about 2-3 per edge (4-5 coordinates per arc of one block)
    coords = np.diff(np.r_[0, np.cumsum([len(g.coords) for g in net.geometry])])
    assert 3.5 < np.median(coords) <= 5.0
    # one-way arcs (no twin) and ferry arcs exist
    assert (net.reverse_arc() < 0).any()
    assert net.ferry is not None and net.ferry.any()


def test_other_inputs_load(case: SyntheticInputs) -> None:
    with pytest.warns(BereikbaarWarning, match="suppressed"):
        cells = load_cbs_grid(case.cells)
    assert len(cells) == TINY.n_cells
    assert 0 < cells["population"].isna().sum() < 0.1 * TINY.n_cells
    assert cells["cell_id"].is_unique
    gem = load_gemeenten(case.gemeenten)
    assert len(gem) == TINY.n_gemeenten
    libs = load_libraries(case.libraries, settings=Settings())
    assert len(libs) == TINY.n_branches
    assert libs["branch_type"].nunique() >= 4
    assert 0.4 < libs["full_service"].mean() < 0.8
    # every cell centre lies in some gemeente
    centres = cells.geometry.centroid
    assert centres.within(gem.union_all().buffer(1.0)).all()
    assert case.population > 0


def test_write_pbf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "hand.osm.pbf"
    lon = np.array([5.0, 5.001, 5.002, -0.5])
    lat = np.array([52.0, 52.001, 52.0, -1.25])
    refs = np.array([1, 2, 3, 3, 4])
    tags = [(("highway", "residential"),), (("route", "ferry"), ("name", "Pont"))]
    write_pbf(path, lon, lat, refs, np.array([3, 2]), tags, np.array([0, 1]))
    got_nodes = {}
    got_ways = []
    for obj in osmium.FileProcessor(str(path)):
        if obj.is_node():
            got_nodes[obj.id] = (obj.location.lon, obj.location.lat)
        elif obj.is_way():
            got_ways.append((obj.id, [n.ref for n in obj.nodes], dict(obj.tags)))
    assert got_nodes == {1: (5.0, 52.0), 2: (5.001, 52.001), 3: (5.002, 52.0), 4: (-0.5, -1.25)}
    assert got_ways == [
        (1, [1, 2, 3], {"highway": "residential"}),
        (2, [3, 4], {"route": "ferry", "name": "Pont"}),
    ]
