"""OSM loader: tag filters per mode, way splitting, geometry, speeds, errors, osmnx parity."""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import pathlib
import warnings

import numpy as np
import pyproj
import pytest
import shapely

from bereikbaar.exceptions import BereikbaarWarning, InputError, NetworkError
from bereikbaar.network import Network
from bereikbaar.settings import Settings
from bereikbaar.sources.osm import load_network, parse_maxspeed

# ------------------------------------------------------------------ tiny fixture
# Node id -> (lon, lat), around Delft.
NODES: dict[int, tuple[float, float]] = {
    1: (4.3600, 52.0000),
    2: (4.3610, 52.0002),  # degree 2 inside way 100
    3: (4.3620, 52.0000),  # junction of ways 100, 101, 102, 106
    4: (4.3620, 52.0010),  # end of 101, start of footway 105
    5: (4.3630, 52.0005),  # degree 2 inside cycleway 102
    6: (4.3640, 52.0000),
    7: (4.3700, 52.0000),
    8: (4.3710, 52.0003),  # degree 2 inside motorway 103
    9: (4.3720, 52.0000),
    10: (4.3500, 52.0000),  # island end of the ferry
    11: (4.3620, 51.9990),
    12: (4.3610, 52.0015),
    13: (4.3605, 51.9995),
    20: (4.3550, 51.9980),
    21: (4.3560, 51.9980),  # used twice by way 109 (a lollipop)
    22: (4.3570, 51.9985),
    23: (4.3570, 51.9975),
    30: (4.3650, 52.0020),
    31: (4.3660, 52.0020),
    32: (4.3660, 52.0030),
}
WAYS: list[tuple[int, list[int], dict[str, str]]] = [
    (100, [1, 2, 3], {"highway": "residential", "maxspeed": "30", "name": "Tweerichtingstraat"}),
    (101, [3, 4], {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}),
    (102, [3, 5, 6], {"highway": "cycleway"}),
    (103, [7, 8, 9], {"highway": "motorway", "maxspeed": "NL:motorway"}),
    (104, [10, 1], {"route": "ferry", "foot": "yes", "bicycle": "yes"}),
    (105, [4, 12], {"highway": "footway"}),
    (106, [3, 11], {"highway": "tertiary", "oneway": "-1", "maxspeed": "50 mph"}),
    (107, [2, 13], {"highway": "service", "access": "private"}),
    (108, [11, 13], {"highway": "residential", "maxspeed": "hard"}),
    (109, [20, 21, 22, 23, 21], {"highway": "residential"}),
    (110, [30, 31, 32, 30], {"highway": "pedestrian", "area": "yes"}),
    (111, [30, 31], {"highway": "construction"}),
]


def osm_xml(
    nodes: dict[int, tuple[float, float]], ways: list[tuple[int, list[int], dict[str, str]]]
) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in sorted(nodes.items()):
        lines.append(f'  <node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "tiny.osm"
    path.write_text(osm_xml(NODES, WAYS), encoding="utf-8")
    return path


def rd(*ids: int) -> np.ndarray:
    """RD New coordinates of fixture nodes, computed independently of the loader."""
    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    lon = [NODES[i][0] for i in ids]
    lat = [NODES[i][1] for i in ids]
    x, y = t.transform(lon, lat)
    return np.column_stack([x, y])


def arcs_by_osm_id(net: Network) -> dict[tuple[int, int], list[int]]:
    assert net.node_id is not None
    out: dict[tuple[int, int], list[int]] = {}
    for k, (a, b) in enumerate(zip(net.u, net.v, strict=True)):
        out.setdefault((int(net.node_id[a]), int(net.node_id[b])), []).append(k)
    return out


def assert_geometry_consistent(net: Network) -> None:
    """Every arc's geometry runs from (x[u], y[u]) to (x[v], y[v]); length = its length."""
    assert net.geometry is not None
    start = shapely.get_coordinates(shapely.get_point(net.geometry, 0))
    end = shapely.get_coordinates(shapely.get_point(net.geometry, -1))
    np.testing.assert_allclose(start, np.column_stack([net.x[net.u], net.y[net.u]]), atol=1e-6)
    np.testing.assert_allclose(end, np.column_stack([net.x[net.v], net.y[net.v]]), atol=1e-6)
    np.testing.assert_allclose(net.length_m, shapely.length(net.geometry), rtol=1e-12)
    assert net.time_s is not None and np.all(net.time_s > 0)


# ------------------------------------------------------------------ the tiny network
def test_car_arcs_directions_and_merged_nodes(tiny: pathlib.Path) -> None:
    net = load_network(tiny, "car")
    arcs = arcs_by_osm_id(net)
    assert net.mode == "car"
    assert net.node_id is not None
    # nodes 2 (inside 100) and 8 (inside the motorway) are merged away
    assert sorted(net.node_id.tolist()) == [1, 3, 4, 7, 9, 10, 11, 13, 20, 21]
    assert set(arcs) == {
        (1, 3), (3, 1),  # two-way residential 100
        (3, 4),  # one-way 101
        (7, 9),  # motorway: implied one-way
        (10, 1), (1, 10),  # ferry
        (11, 3),  # oneway=-1 on 106: reverse only
        (11, 13), (13, 11),  # 108
        (20, 21), (21, 20), (21, 21),  # lollipop 109, split where node 21 repeats
    }  # fmt: skip
    assert net.n_arcs == 13  # the loop (21, 21) is two arcs, one per direction
    assert len(arcs[(21, 21)]) == 2
    assert_geometry_consistent(net)


def test_bike_and_walk_arcs(tiny: pathlib.Path) -> None:
    bike = arcs_by_osm_id(load_network(tiny, "bike"))
    assert set(bike) == {
        (1, 3), (3, 1),
        (3, 4), (4, 3),  # oneway:bicycle=no
        (3, 6), (6, 3),  # cycleway, node 5 merged
        (10, 1), (1, 10),
        (11, 3),  # oneway=-1 holds for bikes too
        (11, 13), (13, 11),
        (20, 21), (21, 20), (21, 21),
    }  # fmt: skip
    walk_net = load_network(tiny, "walk")
    walk = arcs_by_osm_id(walk_net)
    pairs = [(1, 3), (3, 4), (3, 6), (10, 1), (4, 12), (3, 11), (11, 13), (20, 21)]
    expected = {p for a, b in pairs for p in ((a, b), (b, a))} | {(21, 21)}
    assert set(walk) == expected  # always both ways; no motorway, private service, area
    assert walk_net.n_arcs == 18
    assert walk_net.node_id is not None
    assert 5 not in walk_net.node_id and 2 not in walk_net.node_id
    assert_geometry_consistent(walk_net)


def test_geometry_length_and_merge(tiny: pathlib.Path) -> None:
    net = load_network(tiny, "car")
    arcs = arcs_by_osm_id(net)
    (k,) = arcs[(1, 3)]
    (back,) = arcs[(3, 1)]
    assert net.geometry is not None
    expected = rd(1, 2, 3)  # the merged node 2 stays in the geometry
    np.testing.assert_allclose(shapely.get_coordinates(net.geometry[k]), expected, atol=1e-6)
    np.testing.assert_allclose(
        shapely.get_coordinates(net.geometry[back]), expected[::-1], atol=1e-6
    )
    by_hand = sum(math.dist(expected[i], expected[i + 1]) for i in range(2))
    assert net.length_m[k] == pytest.approx(by_hand, rel=1e-9)
    assert net.length_m[back] == pytest.approx(by_hand, rel=1e-9)
    assert 130 < by_hand < 150  # ~0.002° of longitude at 52° N is ~137 m
    i = int(np.flatnonzero(net.node_id == 1)[0])
    assert (net.x[i], net.y[i]) == pytest.approx(tuple(rd(1)[0]), abs=1e-6)
    # the lollipop loop runs 21 → 22 → 23 → 21
    (loop, _) = arcs[(21, 21)]
    assert shapely.get_num_points(net.geometry[loop]) == 4


def test_time_from_maxspeed_and_defaults(tiny: pathlib.Path) -> None:
    settings = Settings(ferry_speed_kmh=12.0, bike_speed_kmh=18.0, walk_speed_kmh=4.5)
    net = load_network(tiny, "car", settings=settings)
    arcs = arcs_by_osm_id(net)
    assert net.time_s is not None and net.ferry is not None

    def speed_kmh(a: int, b: int) -> float:
        (k,) = arcs[(a, b)][:1]
        assert net.time_s is not None
        return float(net.length_m[k] / net.time_s[k] * 3.6)

    assert speed_kmh(1, 3) == pytest.approx(30.0)  # maxspeed=30
    assert speed_kmh(7, 9) == pytest.approx(130.0)  # NL:motorway
    assert speed_kmh(11, 3) == pytest.approx(50 * 1.609344)  # 50 mph
    assert speed_kmh(11, 13) == pytest.approx(30.0)  # junk maxspeed → residential default
    assert speed_kmh(10, 1) == pytest.approx(12.0)  # ferry speed from settings
    ids = net.node_id
    assert ids is not None
    ferries = {(int(ids[net.u[k]]), int(ids[net.v[k]])) for k in np.flatnonzero(net.ferry)}
    assert ferries == {(10, 1), (1, 10)}

    bike = load_network(tiny, "bike", settings=settings)
    assert bike.time_s is not None and bike.ferry is not None
    v = bike.length_m / bike.time_s * 3.6
    np.testing.assert_allclose(v[~bike.ferry], 18.0)
    np.testing.assert_allclose(v[bike.ferry], 12.0)
    walk = load_network(tiny, "walk", settings=settings)
    assert walk.time_s is not None and walk.ferry is not None
    np.testing.assert_allclose((walk.length_m / walk.time_s * 3.6)[~walk.ferry], 4.5)


@pytest.mark.parametrize(
    ("tags", "car", "bike", "walk"),
    [
        ({"highway": "residential", "access": "private"}, 0, 0, 0),
        ({"highway": "residential", "access": "no", "motor_vehicle": "destination"}, 2, 0, 0),
        ({"highway": "residential", "access": "no", "bicycle": "yes"}, 0, 2, 0),
        ({"highway": "residential", "access": "private", "foot": "yes"}, 0, 0, 2),
        ({"highway": "residential", "motor_vehicle": "no"}, 0, 2, 2),
        ({"highway": "residential", "motorcar": "no"}, 0, 2, 2),
        ({"highway": "service", "service": "parking_aisle"}, 2, 2, 2),
        ({"highway": "residential", "area": "yes"}, 0, 0, 0),
        ({"highway": "residential", "junction": "roundabout"}, 1, 1, 2),
        ({"highway": "motorway_link", "oneway": "no"}, 2, 0, 0),
        ({"highway": "trunk"}, 2, 0, 0),
        ({"highway": "trunk", "bicycle": "yes", "foot": "yes"}, 2, 2, 2),
        ({"highway": "footway"}, 0, 0, 2),
        ({"highway": "footway", "bicycle": "designated"}, 0, 2, 2),
        ({"highway": "path", "foot": "no"}, 0, 2, 0),
        ({"highway": "cycleway", "oneway": "yes"}, 0, 1, 2),
        ({"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"}, 1, 2, 2),
        ({"highway": "residential", "oneway:bicycle": "yes"}, 2, 1, 2),
        ({"highway": "tertiary", "bicycle": "use_sidepath"}, 2, 0, 2),
        ({"highway": "busway"}, 0, 0, 0),
        ({"route": "ferry", "motor_vehicle": "no"}, 0, 2, 2),
        ({"route": "ferry", "bicycle": "no", "foot": "no"}, 2, 0, 0),
        ({"highway": "proposed"}, 0, 0, 0),
    ],
)
def test_tag_filters(
    tmp_path: pathlib.Path, tags: dict[str, str], car: int, bike: int, walk: int
) -> None:
    # one tagged way 1 → 2, plus an unrelated plain residential street 3 → 4 so that
    # every mode has something to load
    nodes = {1: (4.36, 52.0), 2: (4.361, 52.0), 3: (4.37, 52.01), 4: (4.371, 52.01)}
    ways = [(1, [1, 2], tags), (2, [3, 4], {"highway": "living_street", "bicycle": "yes"})]
    path = tmp_path / "one.osm"
    path.write_text(osm_xml(nodes, ways), encoding="utf-8")
    for mode, expected in (("car", car), ("bike", bike), ("walk", walk)):
        net = load_network(path, mode)
        assert net.node_id is not None
        tagged = np.isin(net.node_id[net.u], [1, 2]).sum()
        assert tagged == expected, mode


@pytest.mark.parametrize(
    ("raw", "kmh"),
    [
        ("50", 50.0),
        ("50 mph", 80.4672),
        ("60 km/h", 60.0),
        ("NL:urban", 50.0),
        ("NL:rural", 80.0),
        ("NL:motorway", 130.0),
        ("NL:zone30", 30.0),
        ("30;50", 40.0),
        ("none", None),
        ("signals", None),
        ("0", None),
        ("5000", None),
        ("50;snel", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_maxspeed(raw: str | None, kmh: float | None) -> None:
    got = parse_maxspeed(raw)
    if kmh is None:
        assert got is None
    else:
        assert got == pytest.approx(kmh)


def test_gzip_xml_matches_plain(tiny: pathlib.Path, tmp_path: pathlib.Path) -> None:
    gz = tmp_path / "tiny.osm.gz"
    gz.write_bytes(gzip.compress(tiny.read_bytes()))
    a, b = load_network(tiny, "walk"), load_network(gz, "walk")
    assert a.n_arcs == b.n_arcs == 18
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_allclose(a.length_m, b.length_m)


def test_missing_node_cuts_the_way(tmp_path: pathlib.Path) -> None:
    nodes = {1: (4.36, 52.0), 2: (4.361, 52.0), 4: (4.363, 52.0), 5: (4.364, 52.0)}
    path = tmp_path / "cut.osm"
    path.write_text(osm_xml(nodes, [(1, [1, 2, 3, 4, 5], {"highway": "residential"})]))
    with pytest.warns(BereikbaarWarning, match="1 way node"):
        net = load_network(path, "car")
    arcs = arcs_by_osm_id(net)
    assert set(arcs) == {(1, 2), (2, 1), (4, 5), (5, 4)}  # never a fake 2 → 4 link
    assert_geometry_consistent(net)


# ------------------------------------------------------------------ errors
def test_errors(tmp_path: pathlib.Path, tiny: pathlib.Path) -> None:
    with pytest.raises(InputError, match=r"not found"):
        load_network(tmp_path / "nope.osm.pbf")
    bad = tmp_path / "roads.geojson"
    bad.write_text("x")
    with pytest.raises(InputError, match=r"\.osm\.pbf.*\.osm\.gz"):
        load_network(bad)
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"this is not a protocol buffer at all" * 10)
    with pytest.raises(InputError, match=r"garbage\.osm\.pbf"):
        load_network(garbage)
    garbage_xml = tmp_path / "garbage.osm"
    garbage_xml.write_text("<osm><node id='1' lat='x'")
    with pytest.raises(InputError, match=r"garbage\.osm'"):
        load_network(garbage_xml)
    with pytest.raises(NetworkError, match="mode"):
        load_network(tiny, "boat")
    only_foot = tmp_path / "foot.osm"
    only_foot.write_text(
        osm_xml({1: (4.36, 52.0), 2: (4.361, 52.0)}, [(1, [1, 2], {"highway": "footway"})])
    )
    with pytest.raises(NetworkError, match=r"foot\.osm.*'car'"):
        load_network(only_foot, "car")
    assert load_network(only_foot, "walk").n_arcs == 2


def test_truncated_pbf(shared_data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    data = (shared_data / "osm" / "tudelft_2025.osm.pbf").read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.osm\.pbf"):
        load_network(cut)


# ------------------------------------------------------------------ real extracts
@pytest.mark.parametrize("mode", ["car", "bike", "walk"])
def test_real_extracts(shared_data: pathlib.Path, mode: str) -> None:
    for name in ("tudelft_2025.osm.pbf", "amsterdam-oost-2016.osm.pbf"):
        net = load_network(shared_data / "osm" / name, mode)
        assert net.mode == mode
        assert net.n_arcs > 0
        assert_geometry_consistent(net)
        assert net.node_id is not None
        assert len(np.unique(net.node_id)) == net.n_nodes
        # Delft (x 84 km, y 447 km) / Amsterdam (x 123 km, y 486 km) in RD New;
        # the extracts keep whole ways, so long roads reach out some kilometres
        assert net.x.min() > 60_000 and net.x.max() < 140_000
        assert net.y.min() > 420_000 and net.y.max() < 500_000
        # network length ≥ straight line between its ends
        straight = np.hypot(net.x[net.v] - net.x[net.u], net.y[net.v] - net.y[net.u])
        assert np.all(net.length_m >= straight - 1e-6)
        if mode == "walk":  # every walk arc has its mirror twin
            assert sorted(zip(net.u, net.v, net.length_m, strict=True)) == sorted(
                zip(net.v, net.u, net.length_m, strict=True)
            )


def test_tudelft_counts_and_speed(
    shared_data: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = shared_data / "osm" / "tudelft_2025.osm.pbf"
    # speed is measured by benchmarks/bench_loader.py, never asserted in a test
    with caplog.at_level(logging.INFO, logger="bereikbaar.sources.osm"):
        car = load_network(path, "car")
    assert "arcs" in caplog.text
    bike = load_network(path, "bike")
    assert car.n_nodes > 1000 and car.n_arcs > 2000
    assert bike.n_nodes > 1000 and bike.n_arcs > 2000
    # one-way streets and motorways: many arcs without a mirror twin
    pairs = set(zip(car.u.tolist(), car.v.tolist(), strict=True))
    assert sum((b, a) not in pairs for a, b in pairs) > 100
    # motorways (maxspeed 100-130) are in the car network, never in the bike network
    assert car.time_s is not None and bike.time_s is not None
    assert (car.length_m / car.time_s * 3.6).max() >= 100
    assert bike.ferry is not None
    np.testing.assert_allclose((bike.length_m / bike.time_s * 3.6)[~bike.ferry], 15.0)


def _segments(coords: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Straight segments as rounded coordinate pairs (cm)."""
    c = [tuple(p) for p in np.round(coords, 2).tolist()]
    return list(itertools.pairwise(c))


def test_same_segments_as_osmnx(shared_data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """Plain public roads (no access tags): exactly osmnx's directed road segments.

    osmnx's unsimplified graph has one edge per straight way segment and respects
    ``oneway`` like we do for cars; our arcs, cut into their straight segments,
    must give the same directed segments and the same total length in RD New.
    """
    osmium = pytest.importorskip("osmium")
    ox = pytest.importorskip("osmnx")
    src = shared_data / "osm" / "tudelft_2025.osm.pbf"
    plain = {"residential", "tertiary", "secondary", "unclassified", "living_street"}
    restricting = ("access", "motor_vehicle", "motorcar", "vehicle", "area", "route")
    xml = tmp_path / "plain.osm"
    ways = [
        w.replace(nodes=[n.ref for n in w.nodes], tags=dict(w.tags))
        for w in osmium.FileProcessor(str(src), osmium.osm.WAY)
        if w.tags.get("highway") in plain and not any(k in w.tags for k in restricting)
    ]
    used = {r for w in ways for r in w.nodes}  # mutable ways hold plain ids
    with osmium.SimpleWriter(str(xml)) as writer:
        for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if node.id in used:
                writer.add_node(node)
        for way in ways:
            writer.add_way(way)
    ours = load_network(xml, "car")
    assert ours.geometry is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = ox.project_graph(
            ox.graph_from_xml(xml, simplify=False, retain_all=True), to_crs="EPSG:28992"
        )
    xy = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    theirs = {seg for a, b in graph.edges() for seg in _segments(np.array([xy[a], xy[b]]))}
    mine = [seg for g in ours.geometry for seg in _segments(shapely.get_coordinates(g))]
    assert len(mine) == len(set(mine))  # no segment twice in the same direction
    assert set(mine) == theirs
    total_km = sum(math.dist(a, b) for a, b in theirs) / 1000
    assert ours.length_m.sum() / 1000 == pytest.approx(total_km, rel=1e-6)
    assert total_km > 100
