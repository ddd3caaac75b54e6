"""Orientation from the run's own OSM file: main roads, ferries, place and street names."""

from __future__ import annotations

import geopandas as gpd
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
