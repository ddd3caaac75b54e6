"""Orientation from the run's own OSM file: main roads, ferries, place and street names."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from bereikbaar.examples.demo import SETTLEMENTS, DemoInputs
from bereikbaar.sources.context import MapContext, load_context, street_names_near


def test_demo_context_has_the_designed_roads_and_places(demo_inputs: DemoInputs) -> None:
    context = load_context(demo_inputs.network)
    kinds = context.roads.groupby("soort")["name"].apply(set).to_dict()
    # the demo's two motorway carriageways, five N-roads and the island ferry (examples/demo.py)
    assert kinds["motorway"] == {"Rijksweg 99 (oost)", "Rijksweg 99 (west)"}
    assert kinds["secondary"] == {
        "Middeldorperweg",
        "Westerhoekerweg",
        "Zuiderweg",
        "Zuiderhavenseweg",
        "Noorderweg",
    }
    assert kinds["ferry"] == {"Veerdienst Oost-Eiland"}
    assert "residential" not in kinds and "tertiary" not in kinds  # main roads only
    assert context.roads.crs.to_epsg() == 28992
    # one place node per settlement, 60 m north-east of its centre
    places = context.places.set_index("name")
    assert sorted(places.index) == sorted(s.name for s in SETTLEMENTS)
    for s in SETTLEMENTS:
        pt = places.loc[s.name, "geometry"]
        assert pt.x == pytest.approx(s.x + 60, abs=0.5) and pt.y == pytest.approx(s.y + 60, abs=0.5)
        assert places.loc[s.name, "place"] == ("town" if s.population >= 10_000 else "village")


def test_street_names_near_points(demo_inputs: DemoInputs) -> None:
    context = load_context(demo_inputs.network)
    points = gpd.GeoSeries(
        [
            shapely.Point(214_750, 547_500),  # Eilanddorp's centre, a street-grid node
            shapely.Point(150_000, 450_000),  # far from every road and place of the demo
        ],
        crs="EPSG:28992",
    )
    names = street_names_near(demo_inputs.network, points, places=context.places)
    assert names[0].endswith(", Eilanddorp")
    assert names[0].split(", ")[0] in {"Dorpsstraat", "Kerkweg"}  # the village's two streets
    assert names[1] == "Oude Schans"  # no street within 300 m: the nearest place (102 km)


def test_non_osm_input_has_an_empty_context(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "wegvakken.gpkg"
    path.write_bytes(b"")
    context = load_context(path)
    assert isinstance(context, MapContext)
    assert len(context.roads) == 0 and len(context.places) == 0
    assert street_names_near(path, gpd.GeoSeries([shapely.Point(0, 0)], crs=28992)) == [""]


def test_network_reader_collects_the_same_context(demo_inputs: DemoInputs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bereikbaar.sources import osm

    calls: list[Path] = []
    read_ways = osm._read_ways

    def counting(path: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(path)
        return read_ways(path, *args, **kwargs)

    monkeypatch.setattr(osm, "_read_ways", counting)
    network, data = osm.load_network_with_context(demo_inputs.network, "car")
    assert data is not None and len(calls) == 1
    # the network is the one load_network reads; the context the one read on its own
    alone = osm.load_network(demo_inputs.network, "car")
    np.testing.assert_array_equal(network.arc_coords()[0], alone.arc_coords()[0])
    from_file = load_context(demo_inputs.network)
    assert len(calls) == 3
    from_reader = load_context(demo_inputs.network, data=data)
    assert len(calls) == 3  # no read: the maps use what the network reader collected
    for a, b in ((from_reader.roads, from_file.roads), (from_reader.places, from_file.places)):
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        assert bool(np.all(shapely.equals_exact(a.geometry.values, b.geometry.values, 0.0)))
    # the ferry is in the context although the car network keeps it as a ferry arc, and
    # footways (not car roads) name points too: the context is not the mode's network
    assert "ferry" in set(from_reader.roads["soort"])
    points = gpd.GeoSeries([shapely.Point(214_750, 547_500)], crs="EPSG:28992")
    assert street_names_near(demo_inputs.network, points, data=data) == street_names_near(
        demo_inputs.network, points
    )


def test_context_is_cached_beside_the_network(demo_inputs: DemoInputs, tmp_path: Path) -> None:
    from bereikbaar.exceptions import BereikbaarWarning
    from bereikbaar.sources import osm

    cache = tmp_path / "cache"
    _, first = osm.load_network_with_context(demo_inputs.network, "car", cache_dir=cache)
    entries = sorted(p.name.split("-")[0] for p in cache.glob("*.npz"))
    assert entries == ["context", "network"]
    _, again = osm.load_network_with_context(demo_inputs.network, "car", cache_dir=cache)
    assert first is not None and again is not None and again is not first
    for name in ("lonlat", "offsets", "line_way", "street_way", "place_lonlat"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    for name in ("line_kind", "line_name", "line_ref", "street_name", "place_name", "place_kind"):
        assert getattr(first, name) == getattr(again, name), name
    # a corrupt context entry is rebuilt with a warning; a missing one silently
    (ctx_file,) = cache.glob("context-*.npz")
    ctx_file.write_bytes(b"damaged")
    with pytest.warns(BereikbaarWarning, match="map context is unusable"):
        _, rebuilt = osm.load_network_with_context(demo_inputs.network, "car", cache_dir=cache)
    assert rebuilt is not None and rebuilt.street_name == first.street_name
    ctx_file.unlink()
    _, rebuilt = osm.load_network_with_context(demo_inputs.network, "car", cache_dir=cache)
    assert rebuilt is not None and ctx_file.is_file()
    # load_network alone neither needs nor writes the context
    ctx_file.unlink()
    osm.load_network(demo_inputs.network, "car", cache_dir=cache)
    assert not ctx_file.is_file()


def test_context_keeps_located_vertices_only(tmp_path: Path) -> None:
    import osmium

    from bereikbaar.sources import osm

    path = tmp_path / "edge.osm.pbf"
    with osmium.SimpleWriter(str(path)) as w:
        w.add_node(osmium.osm.mutable.Node(id=1, location=(4.0, 52.0)))
        w.add_node(osmium.osm.mutable.Node(id=2, location=(4.01, 52.0)))
        w.add_node(osmium.osm.mutable.Node(id=3, location=(4.02, 52.0)))
        w.add_node(
            osmium.osm.mutable.Node(
                id=9, location=(4.01, 52.01), tags={"place": "village", "name": "Ergens"}
            )
        )
        # node 7 is not in the file (beyond the extract): left out, the way kept
        w.add_way(osmium.osm.mutable.Way(id=1, nodes=[1, 7, 2], tags={"highway": "primary"}))
        # one located node only: not a line
        w.add_way(osmium.osm.mutable.Way(id=2, nodes=[3, 8], tags={"highway": "motorway"}))
        w.add_way(
            osmium.osm.mutable.Way(id=3, nodes=[2, 3], tags={"highway": "footway", "name": "Pad"})
        )
        w.add_way(
            osmium.osm.mutable.Way(id=4, nodes=[1, 3], tags={"route": "ferry", "name": "Pont"})
        )
    data = osm.read_context(path)
    assert data.offsets.tolist() == [0, 2, 4, 6]
    np.testing.assert_array_equal(data.lonlat[:2], [[4.0, 52.0], [4.01, 52.0]])
    assert data.line_kind == ["primary", "ferry"] and data.line_name == ["", "Pont"]
    assert data.line_way.tolist() == [0, 2] and data.street_way.tolist() == [1]
    assert data.street_name == ["Pad"]
    assert data.place_name == ["Ergens"] and data.place_kind == ["village"]
    np.testing.assert_array_equal(data.place_lonlat, [[4.01, 52.01]])
