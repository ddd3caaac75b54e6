"""Tests of Network.save/load, the network cache of load_network, and reverse_arc."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely

from bereikbaar.engine.network import Network
from bereikbaar.examples.synthetic import SyntheticSpec, write_synthetic_case
from bereikbaar.exceptions import BereikbaarWarning, NetworkError
from bereikbaar.sources.osm import load_network, network_cache_key

TINY = SyntheticSpec(n_nodes=300, n_cells=40, n_branches=6, n_gemeenten=4, seed=3)


@pytest.fixture(scope="module")
def pbf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_case(tmp_path_factory.mktemp("syn"), TINY).network


def assert_same(a: Network, b: Network) -> None:
    for name in ("x", "y", "u", "v", "length_m", "time_s", "node_id", "ferry"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.mode == b.mode
    assert a.crs == b.crs
    assert (a.geometry is None) == (b.geometry is None)
    if a.geometry is not None and b.geometry is not None:
        assert bool(np.all(shapely.equals_exact(a.geometry, b.geometry, tolerance=0.0)))


def test_round_trip_equal(pbf: Path, tmp_path: Path) -> None:
    net = load_network(pbf)
    saved = net.save(tmp_path / "net")
    assert saved.name == "net.npz"
    back = Network.load(saved)
    assert_same(net, back)
    # the engine gives the same answer on the reloaded network
    np.testing.assert_array_equal(back.reverse_arc(), net.reverse_arc())


def test_derived_indexes_are_stored_and_equal_a_fresh_build(pbf: Path, tmp_path: Path) -> None:
    from bereikbaar.engine.network import _DERIVED, _digest

    net = load_network(pbf)
    path = net.save(tmp_path / "net.npz")
    with np.load(path, allow_pickle=False) as npz:
        stored = {k: npz[k] for k in npz.files}
    assert {f"derived{name}" for name in _DERIVED} <= set(stored)
    back = Network.load(path)
    assert {name for name in _DERIVED} <= set(vars(back))  # not rebuilt on first use
    fresh = Network(net.x, net.y, net.u, net.v, net.length_m, time_s=net.time_s)
    np.testing.assert_array_equal(back.reverse_arc(), fresh.reverse_arc())
    np.testing.assert_array_equal(back.core_nodes(), fresh.core_nodes())
    np.testing.assert_array_equal(back.snappable_nodes(), fresh.snappable_nodes())
    np.testing.assert_array_equal(back.search_csr()[1], fresh.search_csr()[1])
    # a file written before the indexes were stored still loads; they are built when needed
    old = {k: v for k, v in stored.items() if not k.startswith("derived") and k != "sha256"}
    old["sha256"] = np.array(_digest(old))
    np.savez(tmp_path / "old.npz", **old)  # type: ignore[arg-type]
    older = Network.load(tmp_path / "old.npz")
    assert "_reverse_arc" not in vars(older)
    np.testing.assert_array_equal(older.reverse_arc(), fresh.reverse_arc())
    # a stored index of the wrong length is an incomplete file, not a silent wrong answer
    bad = dict(old, derived_core=np.ones(3, dtype=bool))
    bad["sha256"] = np.array(_digest({k: v for k, v in bad.items() if k != "sha256"}))
    np.savez(tmp_path / "bad.npz", **bad)  # type: ignore[arg-type]
    with pytest.raises(NetworkError, match="incomplete"):
        Network.load(tmp_path / "bad.npz")


def test_round_trip_without_optional_arrays(tmp_path: Path) -> None:
    net = Network(
        x=np.array([0.0, 3.0]),
        y=np.array([0.0, 4.0]),
        u=np.array([0, 1]),
        v=np.array([1, 0]),
        length_m=np.array([5.0, 5.0]),
        mode="walk",
    )
    back = Network.load(net.save(tmp_path / "plain.npz"))
    assert_same(net, back)
    assert back.time_s is None and back.geometry is None and back.ferry is None


def test_corrupt_file_detected(pbf: Path, tmp_path: Path) -> None:
    path = load_network(pbf).save(tmp_path / "net.npz")
    # rewrite one array inside the archive with different values: the checksum catches it
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["length_m"] = arrays["length_m"] + 1.0
    np.savez(path, **arrays)
    with pytest.raises(NetworkError, match="corrupt"):
        Network.load(path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(NetworkError, match="cannot read"):
        Network.load(path)


def test_load_network_uses_cache(pbf: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_network(pbf, cache_dir=cache)
    entries = list(cache.glob("*.npz"))
    assert len(entries) == 1
    assert network_cache_key(pbf, "car", None)[:32] in entries[0].name
    again = load_network(pbf, cache_dir=cache)
    assert_same(first, again)
    assert_same(first, load_network(pbf))
    # another mode is another entry
    load_network(pbf, "bike", cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2


def test_corrupt_cache_entry_rebuilt_with_warning(pbf: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    built = load_network(pbf, cache_dir=cache)
    (entry,) = cache.glob("*.npz")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip a byte in the middle of the archive
    entry.write_bytes(bytes(data))
    with pytest.warns(BereikbaarWarning, match="unusable"):
        rebuilt = load_network(pbf, cache_dir=cache)
    assert_same(built, rebuilt)
    assert_same(built, Network.load(entry))  # the entry was rewritten and is valid


def test_truncated_cache_entry_rebuilt(pbf: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_network(pbf, cache_dir=cache)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    assert not zipfile.is_zipfile(entry)
    with pytest.warns(BereikbaarWarning, match="unusable"):
        load_network(pbf, cache_dir=cache)


def test_reverse_arc_pairs_two_way_self_loop() -> None:
    # node 0 - node 1 two-way, plus a two-way loop at node 1 (two arcs 1→1 of 30 m)
    net = Network(
        x=np.array([0.0, 10.0]),
        y=np.array([0.0, 0.0]),
        u=np.array([0, 1, 1, 1]),
        v=np.array([1, 0, 1, 1]),
        length_m=np.array([10.0, 10.0, 30.0, 30.0]),
    )
    assert net.reverse_arc().tolist() == [1, 0, 3, 2]


def test_reverse_arc_one_way_self_loop_has_no_twin() -> None:
    net = Network(
        x=np.array([0.0, 10.0]),
        y=np.array([0.0, 0.0]),
        u=np.array([0, 1, 1, 1]),
        v=np.array([1, 0, 1, 1]),
        length_m=np.array([10.0, 10.0, 30.0, 20.0]),  # two different one-way loops
    )
    assert net.reverse_arc().tolist() == [1, 0, -1, -1]


def test_arc_coords_are_the_arc_geometries_flat(pbf: Path) -> None:
    net = load_network(pbf)
    coords, offsets = net.arc_coords()
    assert offsets[0] == 0 and offsets[-1] == len(coords) and len(offsets) == net.n_arcs + 1
    assert bool(np.all(np.diff(offsets) >= 2))
    # the first vertex is the tail node, the last the head node
    tails = np.column_stack([net.x[net.u], net.y[net.u]])
    heads = np.column_stack([net.x[net.v], net.y[net.v]])
    np.testing.assert_allclose(coords[offsets[:-1]], tails)
    np.testing.assert_allclose(coords[offsets[1:] - 1], heads)
    arc_of_vertex = np.repeat(np.arange(net.n_arcs), np.diff(offsets))
    rebuilt = shapely.linestrings(coords, indices=arc_of_vertex)
    assert bool(np.all(shapely.equals_exact(rebuilt, net.arc_geometry(), tolerance=0.0)))
    # the segments inside each arc add up to its length
    step = np.hypot(*np.diff(coords, axis=0).T)
    same_arc = arc_of_vertex[1:] == arc_of_vertex[:-1]
    per_arc = np.bincount(arc_of_vertex[1:][same_arc], weights=step[same_arc], minlength=net.n_arcs)
    np.testing.assert_allclose(per_arc, net.length_m, rtol=1e-9, atol=1e-6)
    straight = Network(net.x, net.y, net.u, net.v, net.length_m)
    _, straight_offsets = straight.arc_coords()
    np.testing.assert_array_equal(straight_offsets, np.arange(0, 2 * net.n_arcs + 1, 2))


def test_geometry_is_stored_flat_and_built_only_when_asked(pbf: Path) -> None:
    net = load_network(pbf)
    assert net.geometry_coords is not None and net.geometry_offsets is not None
    assert "_geometry_objects" not in vars(net)  # the loader built no shapely object
    coords, offsets = net.arc_coords()
    assert coords is net.geometry_coords and offsets is net.geometry_offsets
    geoms = net.geometry
    assert geoms is not None and "_geometry_objects" in vars(net)
    assert net.geometry is geoms  # built once
    assert shapely.get_type_id(geoms).tolist() == [1] * net.n_arcs
    # the loader's lengths are GEOS's, bit for bit (of the way's direction: a reversed arc
    # has the length of its forward twin)
    same = (shapely.length(geoms) == net.length_m) | (
        shapely.length(shapely.reverse(geoms)) == net.length_m
    )
    assert bool(same.all())


def test_constructor_converts_linestrings_and_none_to_flat() -> None:
    x, y = np.array([0.0, 3.0, 3.0]), np.array([0.0, 4.0, 0.0])
    u, v = np.array([0, 1, 2]), np.array([1, 2, 0])
    geoms = np.array(
        [shapely.LineString([(0, 0), (0, 4), (3, 4)]), None, shapely.LineString([(3, 0), (0, 0)])],
        dtype=object,
    )
    net = Network(x, y, u, v, np.array([7.0, 4.0, 3.0]), geometry=geoms)
    coords, offsets = net.arc_coords()
    assert offsets.tolist() == [0, 3, 5, 7]
    # arc 1 has no geometry: straight from node 1 (3, 4) to node 2 (3, 0)
    assert coords.tolist() == [[0, 0], [0, 4], [3, 4], [3, 4], [3, 0], [3, 0], [0, 0]]
    assert net.geometry is not None
    assert net.geometry[1].equals(shapely.LineString([(3, 4), (3, 0)]))
    # a replaced geometry wins over the flat arrays carried along by dataclasses.replace
    import dataclasses

    other = dataclasses.replace(net, geometry=[None, None, None])
    assert other.arc_coords()[1].tolist() == [0, 2, 4, 6]
    dropped = dataclasses.replace(net, geometry_coords=None, geometry_offsets=None)
    assert dropped.geometry is None
    with pytest.raises(NetworkError, match="LineStrings"):
        Network(x, y, u, v, np.ones(3), geometry=[shapely.Point(0, 0), None, None])
    with pytest.raises(NetworkError, match="one entry per arc"):
        Network(x, y, u, v, np.ones(3), geometry=[None, None])
    with pytest.raises(NetworkError, match="at least two vertices"):
        Network(
            x,
            y,
            u,
            v,
            np.ones(3),
            geometry_coords=coords[:6],
            geometry_offsets=np.array([0, 3, 5, 6]),
        )


def test_arc_coords_of_picks_arcs_in_order(pbf: Path) -> None:
    net = load_network(pbf)
    coords, offsets = net.arc_coords()
    pick = np.array([5, 0, 5, net.n_arcs - 1])
    sub, sub_off = net.arc_coords_of(pick)
    assert sub_off.tolist()[0] == 0 and len(sub_off) == len(pick) + 1
    for k, arc in enumerate(pick):
        np.testing.assert_array_equal(
            sub[sub_off[k] : sub_off[k + 1]], coords[offsets[arc] : offsets[arc + 1]]
        )


def test_cache_written_before_flat_geometry_still_loads(pbf: Path, tmp_path: Path) -> None:
    from bereikbaar.engine.network import _digest

    net = load_network(pbf)
    geoms = net.geometry
    assert geoms is not None
    old_geoms = geoms.copy()
    old_geoms[0] = None  # format 1 stored arcs without geometry as "missing"
    counts = shapely.get_num_coordinates(old_geoms).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    arrays = {
        "format": np.array("bereikbaar-network-1"),
        "mode": np.array(net.mode),
        "crs": np.array(net.crs),
        "x": net.x,
        "y": net.y,
        "u": net.u,
        "v": net.v,
        "length_m": net.length_m,
        "geometry_coords": shapely.get_coordinates(old_geoms),
        "geometry_offsets": offsets,
        "geometry_missing": shapely.is_missing(old_geoms),
    }
    arrays["sha256"] = np.array(_digest(arrays))
    np.savez(tmp_path / "v1.npz", **arrays)  # type: ignore[arg-type]
    back = Network.load(tmp_path / "v1.npz")
    coords, offs = back.arc_coords()
    a0 = net.u[0], net.v[0]
    assert coords[offs[0] : offs[1]].tolist() == [
        [net.x[a0[0]], net.y[a0[0]]],
        [net.x[a0[1]], net.y[a0[1]]],
    ]
    np.testing.assert_array_equal(
        offs[1:] - offs[1], net.geometry_offsets[1:] - net.geometry_offsets[1]
    )
    np.testing.assert_array_equal(coords[offs[1] :], net.arc_coords()[0][net.geometry_offsets[1] :])
    # the current format has no mask: every arc has its vertices
    with np.load(net.save(tmp_path / "v2.npz"), allow_pickle=False) as npz:
        assert str(npz["format"]) == "bereikbaar-network-2"
        assert "geometry_missing" not in npz.files
