"""Tests of the demo region generator (bereikbaar.examples.demo).

The demo files are written once per module; each test reads them back with
independent readers (pyogrio, osmium, pandas), and the last tests with the
project's own loaders.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import box

from bereikbaar.examples.demo import (
    BRANCHES,
    DESIGN_POPULATION,
    EXPECTED_TE_GROOT,
    GEMEENTEN,
    REGION_BOUNDS,
    SETTLEMENTS,
    SUPPRESSED,
    DemoInputs,
    write_demo_inputs,
)
from bereikbaar.exceptions import BereikbaarWarning
from bereikbaar.settings import FlagRule, Settings

FILES = ("network", "cells", "libraries", "gemeenten", "config")
TYPE_SPELLINGS = {
    "Hoofdvestiging",
    "Vestiging",
    "Servicepunt",
    "Afhaalpunt",
    "Zelfbedieningsbibliotheek",
    "Bibliobus",
    "Bibliotheek op school",
}
FULL_SERVICE = {"Hoofdvestiging", "Vestiging"}
CAR_HIGHWAYS = {
    "motorway",
    "motorway_link",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
}


@pytest.fixture(scope="module")
def demo(demo_inputs: DemoInputs) -> DemoInputs:
    return demo_inputs


@pytest.fixture(scope="module")
def cells(demo: DemoInputs) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(demo.cells, layer="vierkant_100m_2024")


@pytest.fixture(scope="module")
def gemeenten(demo: DemoInputs) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(demo.gemeenten, layer="gemeenten")


@pytest.fixture(scope="module")
def branches(demo: DemoInputs) -> pd.DataFrame:
    return pd.read_csv(demo.libraries, sep=";", dtype=str, keep_default_na=False)


class _Osm(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.node_ids: list[int] = []
        self.lonlat: dict[int, tuple[float, float]] = {}
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []

    def node(self, n: osmium.osm.Node) -> None:
        self.node_ids.append(n.id)
        self.lonlat[n.id] = (n.location.lon, n.location.lat)

    def way(self, w: osmium.osm.Way) -> None:
        tags = {t.k: t.v for t in w.tags}
        self.ways.append((w.id, [r.ref for r in w.nodes], tags))


@pytest.fixture(scope="module")
def osm(demo: DemoInputs) -> _Osm:
    handler = _Osm()
    handler.apply_file(str(demo.network))
    return handler


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _centroids_in_land(cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    land = gemeenten[gemeenten["water"] == "NEE"]
    points = gpd.GeoDataFrame(
        cells.drop(columns="geometry"), geometry=cells.centroid, crs=cells.crs
    )
    return gpd.sjoin(points, land[["gemeentecode", "geometry"]], predicate="within", how="left")


# --- files and formats -----------------------------------------------------------


def test_files_exist_with_expected_names(demo: DemoInputs) -> None:
    names = {f: getattr(demo, f).name for f in FILES}
    assert names == {
        "network": "demo.osm.pbf",
        "cells": "demo_vierkant_100m.gpkg",
        "libraries": "demo_bibliotheken.csv",
        "gemeenten": "demo_gemeenten.gpkg",
        "config": "demo.toml",
    }
    for f in FILES:
        assert getattr(demo, f).stat().st_size > 0
    # no temporary files are left behind
    assert sorted(p.name for p in demo.network.parent.iterdir()) == sorted(names.values())


def test_same_seed_gives_identical_files(demo: DemoInputs, tmp_path: Path) -> None:
    again = write_demo_inputs(tmp_path)
    for f in FILES:
        assert _digest(getattr(again, f)) == _digest(getattr(demo, f)), f
    assert dict(again.population) == dict(demo.population)


def test_rewrite_in_place_replaces_files(tmp_path: Path) -> None:
    first = write_demo_inputs(tmp_path, seed=1)
    digest = _digest(first.cells)
    second = write_demo_inputs(tmp_path, seed=2)
    assert _digest(second.cells) != digest
    assert _digest(second.libraries) == _digest(first.libraries)  # the branch list is fixed


def test_config_reads_as_settings(demo: DemoInputs) -> None:
    settings = Settings.from_toml(demo.config)
    assert settings.mode == "car"
    assert settings.inputs.network == demo.network
    assert settings.inputs.cells == demo.cells
    assert settings.inputs.libraries == demo.libraries
    assert settings.inputs.gemeenten == demo.gemeenten
    assert settings.out_dir == demo.config.parent / "output"


# --- CBS grid ----------------------------------------------------------------------


def test_cells_file_is_cbs_shaped(demo: DemoInputs, cells: gpd.GeoDataFrame) -> None:
    info = pyogrio.read_info(demo.cells, layer="vierkant_100m_2024")
    assert info["crs"] == "EPSG:28992"
    assert info["geometry_type"] == "Polygon"
    for col in (
        "crs28992res100m",
        "aantal_inwoners",
        "aantal_inwoners_0_tot_15_jaar",
        "aantal_inwoners_65_jaar_en_ouder",
    ):
        assert col in cells.columns
    assert cells["crs28992res100m"].is_unique


def test_cell_codes_are_lower_left_corners_of_exact_squares(cells: gpd.GeoDataFrame) -> None:
    codes = cells["crs28992res100m"].str.extract(r"^E(\d{4})N(\d{4})$").astype(int)
    xmin, ymin, xmax, ymax = cells.geometry.bounds.to_numpy().T
    np.testing.assert_array_equal(xmin, codes[0].to_numpy() * 100)
    np.testing.assert_array_equal(ymin, codes[1].to_numpy() * 100)
    np.testing.assert_array_equal(xmax - xmin, 100.0)
    np.testing.assert_array_equal(ymax - ymin, 100.0)
    np.testing.assert_allclose(cells.area, 10_000.0)


def test_counts_are_rounded_to_five_with_a_few_suppressed(
    demo: DemoInputs, cells: gpd.GeoDataFrame
) -> None:
    counts = cells.drop(columns=["crs28992res100m", "geometry"])
    values = counts.to_numpy()
    known = values[values != SUPPRESSED]
    assert known.size > 20_000
    assert (known >= 0).all()
    assert (known % 5 == 0).all()
    totals = cells["aantal_inwoners"]
    assert (totals[totals != SUPPRESSED] >= 5).all()  # CBS leaves out cells < 5
    n_hidden = int((cells["aantal_inwoners"] == SUPPRESSED).sum())
    assert n_hidden == demo.suppressed_cells == 3
    assert (cells["aantal_inwoners_0_tot_15_jaar"] == SUPPRESSED).sum() > n_hidden
    assert (cells["aantal_inwoners_65_jaar_en_ouder"] == SUPPRESSED).sum() > n_hidden


def test_age_bands_add_up_to_about_the_total(cells: gpd.GeoDataFrame) -> None:
    ages = [c for c in cells.columns if c.startswith("aantal_inwoners_")]
    assert len(ages) == 5
    full = cells[(cells[[*ages, "aantal_inwoners"]] != SUPPRESSED).all(axis=1)]
    diff = full[ages].sum(axis=1) - full["aantal_inwoners"]
    assert len(full) > 1_000
    assert diff.abs().max() <= 15  # five bands each rounded to 5


def test_every_populated_cell_lies_in_exactly_one_land_gemeente(
    cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame
) -> None:
    joined = _centroids_in_land(cells, gemeenten)
    assert len(joined) == len(cells)  # no centroid in two gemeenten
    assert joined["gemeentecode"].notna().all()


def test_population_per_gemeente_as_designed(
    demo: DemoInputs, cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame
) -> None:
    joined = _centroids_in_land(cells, gemeenten)
    known = joined[joined["aantal_inwoners"] != SUPPRESSED]
    per_gemeente = known.groupby("gemeentecode")["aantal_inwoners"].sum().to_dict()
    assert per_gemeente == dict(demo.population)
    assert DESIGN_POPULATION == {
        "GM9001": 40_000,
        "GM9002": 8_000,
        "GM9003": 15_000,
        "GM9004": 3_000,
        "GM9005": 7_000,
    }
    for code, target in DESIGN_POPULATION.items():
        assert abs(demo.population[code] - target) <= 0.04 * target, code
    land = gemeenten[gemeenten["water"] == "NEE"].set_index("gemeentecode")
    assert land["aantal_inwoners"].to_dict() == dict(demo.population)


# --- gemeenten -----------------------------------------------------------------------


def test_gemeenten_tile_the_region(demo: DemoInputs, gemeenten: gpd.GeoDataFrame) -> None:
    info = pyogrio.read_info(demo.gemeenten, layer="gemeenten")
    assert info["crs"] == "EPSG:28992"
    assert list(gemeenten["water"]) == ["NEE", "NEE", "NEE", "NEE", "JA", "NEE"]
    land = gemeenten[gemeenten["water"] == "NEE"]
    assert dict(zip(land["gemeentecode"], land["gemeentenaam"], strict=True)) == dict(GEMEENTEN)
    assert gemeenten.loc[gemeenten["water"] == "JA", "gemeentecode"].tolist() == ["GM9004"]
    region = box(*REGION_BOUNDS)
    assert gemeenten.union_all().symmetric_difference(region).area < 1e-3
    assert gemeenten.area.sum() == pytest.approx(region.area)  # no overlaps


# --- OSM network ----------------------------------------------------------------------


def test_pbf_reads_back_sorted_and_complete(osm: _Osm) -> None:
    assert osm.node_ids == sorted(osm.node_ids)
    assert len(osm.node_ids) == len(set(osm.node_ids)) > 500
    referenced = {ref for _, refs, _ in osm.ways for ref in refs}
    assert referenced <= set(osm.node_ids)  # no missing nodes
    # the only nodes on no way are the place nodes (a name label per settlement)
    assert len(set(osm.node_ids) - referenced) == len(SETTLEMENTS)
    lon = np.array([p[0] for p in osm.lonlat.values()])
    lat = np.array([p[1] for p in osm.lonlat.values()])
    assert lon.min() > 3.2 and lon.max() < 7.3
    assert lat.min() > 50.7 and lat.max() < 53.6


def test_pbf_has_the_designed_way_kinds(osm: _Osm) -> None:
    highways = Counter(tags.get("highway") for _, _, tags in osm.ways)
    for kind in ("motorway", "motorway_link", "secondary", "tertiary", "residential"):
        assert highways[kind] > 0, kind
    assert highways["cycleway"] >= 1 and highways["footway"] >= 1
    ferries = [tags for _, _, tags in osm.ways if tags.get("route") == "ferry"]
    assert len(ferries) == 1 and ferries[0]["motor_vehicle"] == "yes"
    oneway = [tags for _, _, tags in osm.ways if tags.get("oneway") == "yes"]
    assert {t["highway"] for t in oneway} >= {"motorway", "motorway_link", "residential"}
    motorways = [tags for _, _, tags in osm.ways if tags.get("highway") == "motorway"]
    assert len(motorways) == 2 and all(t["oneway"] == "yes" for t in motorways)
    assert any("maxspeed" in tags for _, _, tags in osm.ways)
    # arterials carry shape nodes between junctions (degree-2 merging matters)
    zuiderweg = next(refs for _, refs, tags in osm.ways if tags.get("name") == "Zuiderweg")
    assert len(zuiderweg) > 10


def _car_graph(osm: _Osm, *, ferry: bool) -> nx.DiGraph:
    graph = nx.DiGraph()
    for _, refs, tags in osm.ways:
        keep = tags.get("highway") in CAR_HIGHWAYS or (ferry and tags.get("route") == "ferry")
        if not keep:
            continue
        for a, b in itertools.pairwise(refs):
            graph.add_edge(a, b)
            if tags.get("oneway") != "yes":
                graph.add_edge(b, a)
    return graph


def test_island_is_reached_only_by_the_ferry(osm: _Osm) -> None:
    with_ferry = _car_graph(osm, ferry=True)
    assert nx.is_strongly_connected(with_ferry)  # one-way streets and ramps form no trap
    without = _car_graph(osm, ferry=False)
    parts = sorted(nx.weakly_connected_components(without), key=len)
    assert len(parts) == 2
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    island_x = [to_rd.transform(*osm.lonlat[n])[0] for n in parts[0]]
    assert min(island_x) > 212_000  # the small part is the island


# --- branch list ----------------------------------------------------------------------


def test_branch_csv_is_kb_style(demo: DemoInputs, branches: pd.DataFrame) -> None:
    header = demo.libraries.read_text(encoding="utf-8").splitlines()[0]
    assert header == "naam;type;straat;huisnummer;postcode;plaats;gemeente;lat;lon"
    assert set(branches["type"]) == TYPE_SPELLINGS
    assert all(re.fullmatch(r"\d{4} [A-Z]{2}", pc) for pc in branches["postcode"])
    no_coordinates = branches[(branches["lat"] == "") | (branches["lon"] == "")]
    assert no_coordinates["type"].tolist() == ["Afhaalpunt"]
    assert (no_coordinates["straat"] != "").all()


def test_branches_lie_near_roads_and_where_designed(osm: _Osm, branches: pd.DataFrame) -> None:
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    coords = branches[branches["lat"] != ""]
    bx, by = to_rd.transform(coords["lon"].astype(float), coords["lat"].astype(float))
    nodes = np.array([to_rd.transform(*p) for p in osm.lonlat.values()])
    nearest = np.min(np.hypot(nodes[:, 0][:, None] - bx, nodes[:, 1][:, None] - by), axis=0)
    assert nearest.max() < 60.0
    design = [b for b in BRANCHES if b.x is not None]
    np.testing.assert_allclose(bx, [float(b.x or 0) for b in design], atol=0.5)
    np.testing.assert_allclose(by, [float(b.y or 0) for b in design], atol=0.5)
    outside = ~box(*REGION_BOUNDS).contains(gpd.points_from_xy(bx, by))
    assert coords.loc[outside, "naam"].tolist() == ["Bibliotheek Zuiderhaven"]


def test_straight_line_estimate_flags_the_designed_gemeenten(
    cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame
) -> None:
    """Crow-fly distances already separate the flagged gemeenten (roads only add)."""
    rule = FlagRule()
    full = [b for b in BRANCHES if b.type in FULL_SERVICE and b.x is not None]
    lx = np.array([b.x for b in full], dtype=float)
    ly = np.array([b.y for b in full], dtype=float)
    joined = _centroids_in_land(cells, gemeenten)
    joined = joined[joined["aantal_inwoners"] != SUPPRESSED]
    dx = joined.geometry.x.to_numpy()[:, None] - lx
    dy = joined.geometry.y.to_numpy()[:, None] - ly
    joined["km"] = np.hypot(dx, dy).min(axis=1) / 1000.0
    names_with_library = {b.gemeente for b in full}
    reasons: dict[str, set[str]] = {}
    for code, group in joined.groupby("gemeentecode"):
        pop = group["aantal_inwoners"].to_numpy(dtype=float)
        km = group["km"].to_numpy()
        mean = float((pop * km).sum() / pop.sum())
        share = float(pop[km > rule.threshold_km].sum() / pop.sum())
        fired = set()
        if GEMEENTEN[str(code)] not in names_with_library and mean > rule.no_library_mean_km:
            fired.add("a")
        if share >= rule.max_share_beyond:
            fired.add("b")
        if mean >= rule.max_mean_km:
            fired.add("c")
        reasons[str(code)] = fired
    assert {code for code, fired in reasons.items() if fired} == EXPECTED_TE_GROOT
    assert reasons["GM9005"] == {"b"}
    assert reasons["GM9002"] >= {"a", "b"}
    assert reasons["GM9004"] >= {"a", "c"}


# --- the project's own loaders ----------------------------------------------------------


def test_loaders_read_the_demo_network(demo: DemoInputs) -> None:
    from bereikbaar.sources.osm import load_network

    car = load_network(demo.network, "car")
    bike = load_network(demo.network, "bike")
    assert car.ferry is not None and int(car.ferry.sum()) == 2  # one ferry, both directions
    assert car.n_arcs > 0 and bike.n_arcs > 0
    assert car.n_nodes < 1_000  # shape nodes merged away (the file has about 1,170)
    # cycleways are in the bike network only, motorways in the car network only
    assert float(bike.length_m.sum()) != pytest.approx(float(car.length_m.sum()))


def test_loaders_read_the_demo_grid(demo: DemoInputs) -> None:
    from bereikbaar.sources.cbs_grid import load_cbs_grid

    with pytest.warns(BereikbaarWarning, match="3 of"):
        grid = load_cbs_grid(demo.cells)
    assert grid.crs.to_epsg() == 28992
    assert int(grid["population"].isna().sum()) == 3
    assert grid["population"].sum() == sum(demo.population.values())


def test_loaders_read_the_demo_gemeenten(demo: DemoInputs) -> None:
    from bereikbaar.sources.gemeenten import load_gemeenten

    loaded = load_gemeenten(demo.gemeenten)
    assert loaded["gemeentecode"].tolist() == list(GEMEENTEN)
    island = loaded.loc[loaded["gemeentecode"] == "GM9004"].geometry.iloc[0]
    assert island.area < 25e6  # the lake (water == 'JA') is dropped


def test_loaders_read_the_demo_branches(demo: DemoInputs) -> None:
    from bereikbaar.sources.libraries import load_libraries

    with pytest.warns(BereikbaarWarning, match="geocoding"):
        libs = load_libraries(demo.libraries)
    assert len(libs) == len(BRANCHES)
    assert libs["full_service"].sum() == 4
    assert libs["needs_geocoding"].sum() == 1
    assert set(libs["branch_type"]) == {
        "vestiging",
        "servicepunt",
        "afhaalpunt",
        "zelfbediening",
        "bibliobus",
        "bibliotheek_op_school",
    }
