"""osmnx graphs in every shape osmnx gives → Network: direction, geometry, tag rules, errors.

The matrix: a real OSM extract (TU Delft) is read by osmnx, then converted the ways osmnx
users do (``to_undirected``, ``to_digraph``, ``graph_from_gdfs`` round trips of directed
and undirected graphs, GraphML save/load), lon/lat and projected. For each shape the
nearest-library distance equals networkx's Dijkstra on the correctly directed graph (the
``graph_from_xml`` result itself, lengths of osmnx's own projection to RD New) for
origins on nodes, and equals the package's own OSM loader on the same file for random
origins off the nodes.
"""

from __future__ import annotations

import functools
import pathlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely

from bereikbaar.accessibility import nearest_library
from bereikbaar.engine.network import Network
from bereikbaar.engine.osmnx_graph import core_share
from bereikbaar.exceptions import BereikbaarWarning, InputError, NetworkError
from bereikbaar.settings import Settings
from bereikbaar.sources.osm import load_network
from bereikbaar.sources.osm_tags import WAY_TAGS
from bereikbaar.sources.osmnx_graph import network_from_osmnx

ox = pytest.importorskip("osmnx")
osmium = pytest.importorskip("osmium")

# the dense centre of the extract (inside its osmium bbox 4.355-4.386, 51.995-52.005), lon/lat
DENSE = (4.360, 51.997, 4.381, 52.003)
SHAPES = ("graph", "to_undirected", "to_digraph", "gdfs", "gdfs_undirected", "graphml",
          "graphml_undirected")  # fmt: skip


# ------------------------------------------------------------------ the real graphs
@pytest.fixture(scope="module")
def roads_xml(shared_data: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The road and ferry ways of the extract's dense part, whole, as OSM XML (osmnx reads XML).

    A way is kept when one of its nodes lies in :data:`DENSE` (16 % of the file's road
    nodes), so that the matrix runs in modest time.
    """
    src = shared_data / "osm" / "tudelft_2025.osm.pbf"
    lon0, lat0, lon1, lat1 = DENSE
    where = {
        n.id: lon0 <= n.location.lon <= lon1 and lat0 <= n.location.lat <= lat1
        for n in osmium.FileProcessor(str(src), osmium.osm.NODE)
    }
    ways = [
        w.replace(nodes=[n.ref for n in w.nodes], tags=dict(w.tags))
        for w in osmium.FileProcessor(str(src), osmium.osm.WAY)
        if ("highway" in w.tags or w.tags.get("route") == "ferry")
        and any(where.get(n.ref, False) for n in w.nodes)
    ]
    used = {r for w in ways for r in w.nodes}
    xml = tmp_path_factory.mktemp("osmnx") / "roads.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if node.id in used:
                writer.add_node(node)
        for way in ways:
            writer.add_way(way)
    return xml


@pytest.fixture(scope="module")
def osmnx_graphs(roads_xml: pathlib.Path) -> Iterator[dict[str, Any]]:
    """osmnx's graphs of the extract: default simplification, and tag-preserving (the base)."""
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*saved, *WAY_TAGS]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = ox.graph_from_xml(roads_xml, simplify=False, retain_all=True)
            yield {
                "default": ox.simplify_graph(raw),
                # ways with different tags are not merged: the same roads as our loader
                "tagged": ox.simplify_graph(raw, edge_attrs_differ=list(WAY_TAGS)),
            }
    finally:
        ox.settings.useful_tags_way = saved


def convert(graph: Any, shape: str, tmp: pathlib.Path) -> Any:
    """``graph`` the way osmnx users have it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if shape == "graph":
            return graph
        if shape == "to_undirected":
            return ox.convert.to_undirected(graph)
        if shape == "to_digraph":
            return ox.convert.to_digraph(graph)
        if shape == "gdfs":
            return ox.graph_from_gdfs(*ox.graph_to_gdfs(graph))
        if shape == "gdfs_undirected":
            return ox.graph_from_gdfs(*ox.graph_to_gdfs(ox.convert.to_undirected(graph)))
        path = tmp / f"{shape}.graphml"
        saved = ox.convert.to_undirected(graph) if shape == "graphml_undirected" else graph
        ox.save_graphml(saved, path)
        return ox.load_graphml(path)


@pytest.fixture(scope="module")
def shaped(
    osmnx_graphs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, bool], Any]:
    """The base graph in one of the shapes, lon/lat or projected (UTM); each built once."""
    tmp = tmp_path_factory.mktemp("graphml")

    @functools.cache
    def get(shape: str, projected: bool) -> Any:
        graph = convert(osmnx_graphs["tagged"], shape, tmp)
        if projected:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = ox.project_graph(graph)
        return graph

    return get


def shapes(skip: tuple[str, ...] = ()) -> Iterator[Any]:
    for shape in SHAPES:
        if shape in skip:
            continue
        for projected in (False, True):
            if not (shape == "to_digraph" and projected):  # osmnx projects only multigraphs
                yield pytest.param(
                    shape, projected, id=f"{shape}-{'utm' if projected else 'lonlat'}"
                )


def libraries_at(xy: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"library_id": [f"L{i}" for i in range(len(xy))]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:28992",
    )


def reference_digraph(directed: Any) -> tuple[nx.DiGraph, list[shapely.LineString]]:
    """networkx's DiGraph of the directed graph, lengths from osmnx's own projection to RD."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = ox.project_graph(nx.MultiDiGraph(directed), to_crs="EPSG:28992")
    ref = nx.DiGraph()
    lines = []
    for a, b, d in rd.edges(data=True):
        g = d.get("geometry")
        if g is None:
            g = shapely.LineString([(rd.nodes[n]["x"], rd.nodes[n]["y"]) for n in (a, b)])
        lines.append(g)
        if not ref.has_edge(a, b) or g.length < ref[a][b]["length"]:
            ref.add_edge(a, b, length=g.length)
    ref.add_nodes_from(rd.nodes)
    nx.set_node_attributes(ref, {n: (d["x"], d["y"]) for n, d in rd.nodes(data=True)}, "xy")
    return ref, lines


def unambiguous(ref: nx.DiGraph, lines: list[shapely.LineString], nodes: list[Any]) -> list[Any]:
    """The nodes that every road within 1 m of them ends at (elsewhere a point at the node is
    on another road too, e.g. a bridge drawn through the same spot, and may snap onto it)."""
    tree = shapely.STRtree(lines)
    at_node = {tuple(map(float, d["xy"])): n for n, d in ref.nodes(data=True)}
    ends = [{at_node.get(g.coords[0]), at_node.get(g.coords[-1])} for g in lines]
    keep = []
    for n in nodes:
        near = tree.query(shapely.Point(ref.nodes[n]["xy"]), predicate="dwithin", distance=1.0)
        if all(n in ends[i] for i in near):
            keep.append(n)
    return keep


@pytest.fixture(scope="module")
def reference(osmnx_graphs: dict[str, Any]) -> dict[str, Any]:
    """networkx on the correctly directed graphs: core nodes, libraries, distances per node."""
    out = {}
    base = osmnx_graphs["tagged"]
    for name, directed in [("graph", base), ("to_digraph", ox.convert.to_digraph(base))]:
        ref, lines = reference_digraph(directed)
        core = sorted(max(nx.strongly_connected_components(ref), key=len))
        rng = np.random.default_rng(13)
        libs = [core[i] for i in rng.choice(len(core), size=5, replace=False)]
        candidates = [core[i] for i in rng.choice(len(core), size=500, replace=False)]
        origins = unambiguous(ref, lines, candidates)
        assert len(origins) > 400
        dist = nx.multi_source_dijkstra_path_length(ref.reverse(copy=False), libs, weight="length")
        out[name] = {
            "core": set(core),
            "libs": libs,
            "origins": origins,
            "expected": np.array([dist[n] for n in origins]),
        }
    return out


@pytest.mark.parametrize(("shape", "projected"), list(shapes()))
def test_on_nodes_equals_networkx(  # type: ignore[no-untyped-def]
    shaped, reference, shape: str, projected: bool
) -> None:
    """Every road of the graph, directed as osmnx built it: distances equal networkx's."""
    net = Network.from_osmnx(shaped(shape, projected))
    ref = reference["to_digraph" if shape == "to_digraph" else "graph"]
    assert net.node_id is not None
    assert set(net.node_id[net.core_nodes()].tolist()) == ref["core"]
    # at the nodes as the network has them (a projected graph's round trip moves them ~1e-9 m)
    at = {n: i for i, n in enumerate(net.node_id.tolist())}

    def xy(nodes: list[Any]) -> np.ndarray:
        idx = [at[n] for n in nodes]
        return np.column_stack([net.x[idx], net.y[idx]])

    res = nearest_library(net, xy(ref["origins"]), libraries_at(xy(ref["libs"])), with_time=False)
    np.testing.assert_allclose(res["distance_m"].to_numpy(), ref["expected"], rtol=0, atol=1e-6)
    # every arc's geometry starts at its tail and ends at its head
    geoms = net.arc_geometry()
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    np.testing.assert_allclose(start, np.column_stack([net.x[net.u], net.y[net.u]]), atol=1e-6)
    np.testing.assert_allclose(end, np.column_stack([net.x[net.v], net.y[net.v]]), atol=1e-6)


@pytest.fixture(scope="module")
def loader_result(roads_xml: pathlib.Path) -> dict[str, Any]:
    """The package's own OSM loader (car) on the same file: random origins off the nodes."""
    net = load_network(roads_xml, "car")
    to_rd = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    x0, y0 = to_rd.transform(DENSE[0], DENSE[1])
    x1, y1 = to_rd.transform(DENSE[2], DENSE[3])
    rng = np.random.default_rng(2025)
    origins = np.column_stack([rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300)])
    libs = libraries_at(np.column_stack([rng.uniform(x0, x1, 4), rng.uniform(y0, y1, 4)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)  # unreachable origins: compared
        res = nearest_library(net, origins, libs)
    return {"net": net, "origins": origins, "libs": libs, "res": res}


# ox.convert.to_digraph keeps one of each set of parallel edges, whatever the mode (a
# cycleway beside a street): its car network lacks roads the file has; networkx checks it
@pytest.mark.parametrize(("shape", "projected"), list(shapes(skip=("to_digraph",))))
def test_off_nodes_equals_own_loader(  # type: ignore[no-untyped-def]
    shaped, loader_result, shape: str, projected: bool
) -> None:
    """Car rules on osmnx's graph: the same distances as our loader on the same file."""
    net = network_from_osmnx(shaped(shape, projected), "car")
    own = loader_result["res"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)  # unreachable origins: counted below
        res = nearest_library(net, loader_result["origins"], loader_result["libs"])
    assert np.isfinite(own["distance_m"]).sum() > 280  # the dense part is reachable (299 of 300)
    np.testing.assert_array_equal(res["reachable"], own["reachable"])
    np.testing.assert_allclose(res["distance_m"], own["distance_m"], rtol=0, atol=1e-6)
    # the same directed road segments at the same speeds (time_s may differ where an origin
    # is as near to two roads of different speeds: the snap leg's time then depends on which)
    assert segment_speeds(net) == segment_speeds(loader_result["net"])


def segment_speeds(net: Network) -> dict[tuple[float, ...], float]:
    """Each directed straight segment of the arcs (cm) → the arc's speed (km/h)."""
    assert net.time_s is not None
    out = {}
    coords = shapely.get_coordinates(net.arc_geometry(), return_index=True)
    xy, arc = np.round(coords[0], 2), coords[1]
    same = arc[1:] == arc[:-1]
    speed = np.round(net.length_m / net.time_s * 3.6, 6)
    for i in np.flatnonzero(same):
        out[(*xy[i], *xy[i + 1])] = float(speed[arc[i]])
    assert len(out) == int(same.sum())  # no segment twice in the same direction
    return out


def test_lost_from_to_gives_the_core_warning(osmnx_graphs: dict[str, Any]) -> None:
    """An undirected graph read u → v (its from/to dropped): the core collapses, a warning."""
    graph = osmnx_graphs["default"]
    good = Network.from_osmnx(graph)
    assert core_share(good) > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nodes, edges = ox.graph_to_gdfs(ox.convert.to_undirected(graph))
        lost = ox.graph_from_gdfs(nodes, edges.drop(columns=["from", "to"]))
    with pytest.warns(BereikbaarWarning, match=r"only \d+% of the main road network"):
        bad = Network.from_osmnx(lost)
    assert core_share(bad) < 0.5


# ------------------------------------------------------------------ hand-made graphs
def two_way(g: nx.MultiDiGraph, a: int, b: int, **tags: Any) -> None:
    """A two-way way a-b as osmnx adds it: an edge each way, the second ``reversed``."""
    g.add_edge(a, b, oneway=False, reversed=False, **tags)
    g.add_edge(b, a, oneway=False, reversed=True, **tags)


def grid() -> nx.MultiDiGraph:
    """Nodes 1-2-3 on a line (100 m apart, RD New), 4 above 2."""
    g = nx.MultiDiGraph(crs="EPSG:28992")
    for n, (x, y) in {1: (0, 0), 2: (100, 0), 3: (200, 0), 4: (100, 100)}.items():
        g.add_node(n, x=float(x), y=float(y))
    return g


def arcs(net: Network) -> set[tuple[int, int]]:
    assert net.node_id is not None
    ids = net.node_id
    return {(int(ids[a]), int(ids[b])) for a, b in zip(net.u, net.v, strict=True)}


def test_car_rules_drop_busways_and_cycleways_and_keep_direction() -> None:
    g = grid()
    two_way(g, 1, 2, highway="residential")
    g.add_edge(2, 3, oneway=True, reversed=False, highway="residential")  # one-way 2 → 3
    two_way(g, 2, 4, highway="busway")
    two_way(g, 3, 4, highway="cycleway")
    g.add_edge(3, 1, oneway=False, reversed=False, highway="motorway")  # implied one-way
    g.add_edge(1, 3, oneway=False, reversed=True, highway="motorway")
    s = Settings()
    assert arcs(network_from_osmnx(g, "car", settings=s)) == {(1, 2), (2, 1), (2, 3), (3, 1)}
    # on foot: every way both directions, motorways never
    assert arcs(network_from_osmnx(g, "walk", settings=s)) == {
        (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)
    }  # fmt: skip
    # by bike: the one-way street is one-way, unless cycling against it is allowed
    assert (3, 2) not in arcs(network_from_osmnx(g, "bike", settings=s))
    g.edges[2, 3, 0]["oneway:bicycle"] = "no"
    assert (3, 2) in arcs(network_from_osmnx(g, "bike", settings=s))


def test_a_bidirectional_graph_is_named_for_direction_modes() -> None:
    """osmnx's walking graphs drop every one-way tag: a car network from one gets a warning."""
    g = grid()
    two_way(g, 1, 2, highway="residential", junction="roundabout")  # as bidirectional=True
    two_way(g, 2, 3, highway="residential")
    with pytest.warns(BereikbaarWarning, match="2 roundabout edges .* bidirectional"):
        car = network_from_osmnx(g, "car", settings=Settings())
    assert arcs(car) == {(1, 2), (2, 3), (3, 2)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        network_from_osmnx(g, "walk", settings=Settings())  # on foot direction does not matter


def test_rules_on_an_undirected_graph_follow_from_to() -> None:
    g = grid()
    g.add_edge(2, 3, oneway=True, reversed=False, highway="residential")
    two_way(g, 1, 2, highway="residential")
    und = ox.convert.to_undirected(g)
    car = network_from_osmnx(und, "car", settings=Settings())
    assert arcs(car) == {(1, 2), (2, 1), (2, 3)}
    # lengths in RD New, geometry from each arc's tail
    np.testing.assert_allclose(car.length_m, 100.0)


def test_merged_ways_need_every_part_usable() -> None:
    """osmnx's simplification merges ways: a car may use the edge only if it may use all."""
    g = grid()
    two_way(g, 1, 2, highway=["residential", "busway"])
    two_way(g, 2, 3, highway=["residential", "tertiary"], maxspeed=["30", "50"])
    car = network_from_osmnx(g, "car", settings=Settings())
    assert arcs(car) == {(2, 3), (3, 2)}
    assert car.time_s is not None
    np.testing.assert_allclose(car.time_s, 100.0 / (30 / 3.6))  # the slower part's speed


def test_undirected_edge_geometry_is_turned_to_the_arc() -> None:
    g = nx.MultiGraph(crs="EPSG:28992")
    g.add_node(1, x=0.0, y=0.0)
    g.add_node(2, x=100.0, y=0.0)
    line = shapely.LineString([(100, 0), (50, 20), (0, 0)])  # drawn 2 → 1
    g.add_edge(1, 2, geometry=line, oneway=True, **{"from": 2, "to": 1})
    net = Network.from_osmnx(g)
    assert arcs(net) == {(2, 1)}
    assert net.geometry is not None
    assert net.geometry[0].equals_exact(line, 0)
    assert net.length_m[0] == pytest.approx(line.length)
    g.edges[1, 2, 0]["oneway"] = False  # two-way: both arcs, geometry mirrored
    net = Network.from_osmnx(g)
    assert arcs(net) == {(2, 1), (1, 2)}
    assert net.geometry is not None
    fwd = int(np.flatnonzero(net.u == 0)[0])  # node 1 is index 0
    assert net.geometry[fwd].equals_exact(line.reverse(), 0)
    # a directed copy (networkx gives each undirected edge both ways): the same road once
    g.edges[1, 2, 0]["oneway"] = True
    assert arcs(Network.from_osmnx(nx.MultiDiGraph(g))) == {(2, 1)}


def test_geometry_that_joins_neither_node_names_the_edge() -> None:
    g = grid()
    g.add_edge(1, 2, key=7, geometry=shapely.LineString([(0, 0), (100, 50)]))
    with pytest.raises(NetworkError, match=r"\(1, 2, 7\).*50\.0 m"):
        Network.from_osmnx(g)


def test_wrong_graphs_are_refused_with_what_is_accepted() -> None:
    simple = nx.Graph()
    simple.add_node(1, x=0.0, y=0.0)
    with pytest.raises(NetworkError, match=r"nx\.Graph.*MultiDiGraph"):
        Network.from_osmnx(simple)
    with pytest.raises(NetworkError, match="got a list"):
        Network.from_osmnx([(1, 2)])  # type: ignore[arg-type]
    g = grid()
    g.add_node(9, lon=4.3)
    g.add_edge(1, 9)
    with pytest.raises(NetworkError, match=r"1 of 5 graph nodes have no numeric 'x'/'y'.*node 9"):
        Network.from_osmnx(g)
    with pytest.raises(NetworkError, match="network_from_osmnx"):
        Network.from_osmnx(grid(), mode="car")


def test_unknown_weight_is_refused() -> None:
    g = grid()
    two_way(g, 1, 2)
    net = Network.from_osmnx(g)
    libs = libraries_at(np.array([[0.0, 0.0]]))
    with pytest.raises(InputError, match=r"'length'.*'time'.*got 'tijd'"):
        nearest_library(net, np.array([[100.0, 0.0]]), libs, weight="tijd")  # type: ignore[arg-type]


def test_to_osmnx_and_back_is_the_same_network(loader_result: dict[str, Any]) -> None:
    """Network → osmnx → Network: the same nodes and the same arcs (networkx orders them)."""
    net = loader_result["net"]
    back = Network.from_osmnx(net.to_osmnx())
    for name in ("x", "y", "node_id"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name), err_msg=name)

    def arcs_of(n: Network) -> tuple[list[tuple[Any, ...]], np.ndarray]:
        assert n.geometry is not None and n.time_s is not None and n.ferry is not None
        keys = [
            (int(a), int(b), bool(f), g.wkb)
            for a, b, f, g in zip(n.u, n.v, n.ferry, n.geometry, strict=True)
        ]
        order = sorted(range(n.n_arcs), key=keys.__getitem__)
        return [keys[i] for i in order], np.column_stack([n.length_m, n.time_s])[order]

    (k1, w1), (k2, w2) = arcs_of(back), arcs_of(net)
    assert k1 == k2
    np.testing.assert_allclose(w1, w2, rtol=1e-12)  # lengths to an ulp (summed differently)
