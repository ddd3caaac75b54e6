"""Tests of the vectorised PBF reader: the same ways as pyosmium, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bereikbaar.examples.demo import write_demo_inputs
from bereikbaar.examples.synthetic import SyntheticSpec, write_synthetic_case
from bereikbaar.settings import Settings
from bereikbaar.sources import osm, osm_tags
from bereikbaar.sources.pbf import UnsupportedPbfError, decode_varints, read_pbf_ways

FIELDS = ("refs", "x7", "y7", "size", "direction", "speed_kmh", "ferry")


def assert_same_ways(path: Path) -> None:
    for mode in osm.MODES:
        rules = osm_tags.rules_for(mode, Settings())
        fast = osm._read_ways_pbf(path, rules)
        slow = osm._read_ways_osmium(path, rules)
        for name in FIELDS:
            np.testing.assert_array_equal(
                np.asarray(getattr(fast, name)), np.asarray(getattr(slow, name)), err_msg=name
            )
        assert fast.n_seen == slow.n_seen


def test_varints() -> None:
    values = np.array([0, 1, 127, 128, 300, 2**35 + 7, 2**63 + 5], dtype=np.uint64)
    raw = bytearray()
    for v in values.tolist():
        while True:
            b = v & 0x7F
            v >>= 7
            raw.append(b | (0x80 if v else 0))
            if not v:
                break
    got, starts = decode_varints(np.frombuffer(bytes(raw), dtype=np.uint8))
    assert got.tolist() == values.tolist()
    assert starts.tolist() == [0, 1, 2, 3, 5, 7, 13]
    with pytest.raises(UnsupportedPbfError):
        decode_varints(np.frombuffer(bytes([0x80]), dtype=np.uint8))


def test_same_as_pyosmium_synthetic(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_nodes=500, n_cells=10, n_branches=4, n_gemeenten=3, seed=2)
    assert_same_ways(write_synthetic_case(tmp_path, spec).network)


def test_same_as_pyosmium_demo(tmp_path: Path) -> None:
    assert_same_ways(write_demo_inputs(tmp_path).network)  # written by osmium.SimpleWriter


def test_same_as_pyosmium_real_extracts(shared_data: Path) -> None:
    files = sorted((shared_data / "osm").glob("*.osm.pbf"))
    assert files
    for path in files:
        assert_same_ways(path)


def test_missing_nodes_are_undefined(tmp_path: Path) -> None:
    from bereikbaar.examples.synthetic import write_pbf

    path = tmp_path / "cut.osm.pbf"
    write_pbf(
        path,
        np.array([5.0, 5.001]),
        np.array([52.0, 52.001]),
        np.array([1, 2, 99]),  # node 99 is not in the file (extract boundary)
        np.array([3]),
        [(("highway", "residential"),)],
        np.array([0]),
    )
    got = read_pbf_ways(path, ("highway",), lambda tags: tags)
    assert got.refs.tolist() == [1, 2, 99]
    assert got.x7.tolist() == [50_000_000, 50_010_000, 2147483647]
    assert got.attrs == [{"highway": "residential"}]


def test_damaged_file_falls_back_to_pyosmium_error(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_nodes=200, n_cells=5, n_branches=2, n_gemeenten=2, seed=1)
    good = write_synthetic_case(tmp_path, spec).network
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UnsupportedPbfError):
        read_pbf_ways(bad, ("highway",), lambda tags: tags)
    with pytest.raises(osm.InputError):
        osm.load_network(bad)
