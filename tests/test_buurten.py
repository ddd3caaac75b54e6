"""Buurt and wijk: CBS's areas loaded, the same statistics per level, compared with CBS."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from bereikbaar.accessibility import nearest_library
from bereikbaar.aggregate import aggregate_areas, aggregate_gemeenten, area_stats
from bereikbaar.compare import compare_with_cbs
from bereikbaar.exceptions import InputError
from bereikbaar.schema import BUURTCODE, ONVOLLEDIG, POPULATION, WIJKCODE
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.cbs_reference import load_cbs_reference
from bereikbaar.sources.wijkbuurt import load_areas

KWB = "cbs-kwb-2024"
GRID = "cbs-vierkant-2024-rijnmond/grid_100m_rijnmond.geojson"


@pytest.fixture(scope="module")
def measured(
    shared_data: pathlib.Path, street_lattice: Any, libraries_at: Any
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The Rijnmond 100 m grid on a street lattice covering all of it, and the KWB buurten."""
    cells = load_cbs_grid(shared_data / GRID)
    net = street_lattice(55_000.0, 110_000.0, 420_000.0, 452_000.0, 250.0)
    libs = libraries_at([(92_500.0, 437_500.0), (80_000.0, 440_000.0), (70_000.0, 430_000.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nearest_library(net, cells, libs)
    buurten = load_areas(shared_data / KWB / "buurt_2024.geojson", "buurt")
    return cells.join(res), buurten


def test_load_buurten_and_wijken(shared_data: pathlib.Path) -> None:
    buurten = load_areas(shared_data / KWB / "buurt_2024.geojson", "buurt")
    assert len(buurten) == 625  # SOURCES.md: 625 buurten of 12 Rijnmond gemeenten
    assert buurten.crs == "EPSG:28992"
    assert buurten[BUURTCODE].str.match(r"^BU\d{4}[0-9A-Z]{4}$").all()
    assert buurten["gemeentecode"].nunique() == 12
    # names and parents come from the sibling statistics, joined by code
    first = buurten.set_index(BUURTCODE).loc["BU04890101"]
    assert first["buurtnaam"] == "Centrum" and first[WIJKCODE] == "WK048901"
    wijken = load_areas(shared_data / KWB / "wijk_2024.geojson", "wijk")
    assert len(wijken) == 969
    assert "WK0363AA" in set(wijken[WIJKCODE])  # Amsterdam's letters are codes too


def test_load_areas_from_a_wijk_en_buurtkaart_geopackage(
    shared_data: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # the layer names of the CBS Wijk- en buurtkaart: gemeenten, wijken, buurten
    path = tmp_path / "WijkBuurtkaart_2024_v2.gpkg"
    src = gpd.read_file(shared_data / KWB / "buurt_2024.geojson").head(5)
    stats = pd.read_parquet(shared_data / KWB / "buurt_2024_stats.parquet").head(5)
    layer = gpd.GeoDataFrame(
        stats[["buurtcode", "buurtnaam", "wijkcode", "gemeentecode", "water"]].assign(
            bibliotheek_gemiddelde_afstand_in_km=stats["bibliotheek_gemiddelde_afstand_in_km"]
        ),
        geometry=src.geometry.to_crs("EPSG:28992").to_numpy(),
        crs="EPSG:28992",
    )
    layer.iloc[:1].to_file(path, layer="gemeenten")
    layer.to_file(path, layer="buurten")
    got = load_areas(path, "buurt")
    assert got[BUURTCODE].tolist() == stats["buurtcode"].tolist()
    ref = load_cbs_reference(path, level="buurt")
    assert len(ref) == 5
    with pytest.raises(InputError, match="no layer 'wijken'"):
        load_areas(path, "wijk")


def test_bad_buurt_code_names_row_and_column(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "b.geojson"
    gpd.GeoDataFrame(
        {"buurtcode": ["BU03630001", "GM0363"], "buurtnaam": ["a", "b"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs="EPSG:28992",
    ).to_file(path)
    with pytest.raises(InputError, match=r"row 2, column 'buurtcode'.*'GM0363' is not a buurtcode"):
        load_areas(path, "buurt")


def test_buurt_totals_preserve_the_population_of_the_cells_assigned(
    measured: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, buurten = measured
    summary = aggregate_areas(cells, buurten, level="buurt")
    assert len(summary) == len(buurten)
    # independently: the buurt polygon holding each cell's centroid (a point-in-polygon join)
    centroids = gpd.GeoDataFrame(geometry=cells.geometry.centroid, crs=cells.crs)
    hit = gpd.sjoin(centroids, buurten[[BUURTCODE, "geometry"]], predicate="within")
    # the generalised polygons overlap a little: a cell there counts in the first buurt
    hit = hit.reset_index().sort_values(["index", "index_right"]).set_index("index")
    hit = hit[~hit.index.duplicated()]
    want = cells[POPULATION].groupby(hit[BUURTCODE]).sum(min_count=1)
    got = summary.set_index(BUURTCODE)[POPULATION]
    assert got.sum() == pytest.approx(np.nansum(cells.loc[hit.index, POPULATION]))
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=0, atol=1e-6)
    assert (got.drop(want.index) == 0).all()
    # the same routine as the gemeenten: one buurt's figures equal area_stats on its cells
    code = str(want.idxmax())
    mine = cells.loc[hit.index[hit[BUURTCODE] == code]]
    s = area_stats(
        mine["distance_m"].to_numpy(float) / 1000,
        mine[POPULATION].to_numpy(float),
        mine["reachable"].to_numpy(bool),
        5.0,
    )
    row = summary.set_index(BUURTCODE).loc[code]
    assert row["mean_distance_km"] == pytest.approx(s["mean"])
    assert row["population_beyond"] == pytest.approx(s["beyond"])


def test_compare_with_cbs_per_buurt_and_wijk(
    shared_data: pathlib.Path, measured: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]
) -> None:
    cells, buurten = measured
    summary = aggregate_areas(cells, buurten, level="buurt")
    reference = load_cbs_reference(shared_data / KWB / "buurt_2024.geojson", level="buurt")
    per, stats = compare_with_cbs(summary, reference, level="buurt")
    assert len(per) == len(summary)
    has_cbs = per[BUURTCODE].isin(
        reference.loc[reference["cbs_mean_distance_km"].notna(), BUURTCODE]
    )
    covered = ~summary[ONVOLLEDIG].to_numpy(bool) & summary["mean_distance_km"].notna().to_numpy()
    # a per-buurt row for every covered buurt with a CBS figure, and only those are compared
    assert (per["compared"] == (has_cbs & covered)).all()
    assert stats["n_compared"] == int((has_cbs & covered).sum()) > 400
    assert stats["level"] == "buurt"
    # CBS's figure as published for one buurt: BU04890101 (Barendrecht Centrum) 0,4 km
    row = per.set_index(BUURTCODE).loc["BU04890101"]
    assert row["cbs_mean_distance_km"] == pytest.approx(0.4)
    assert row["cbs_difference_km"] == pytest.approx(row["cbs_comparable_mean_km"] - 0.4)

    wijken = load_areas(shared_data / KWB / "wijk_2024.geojson", "wijk")
    wsum = aggregate_areas(cells, wijken, level="wijk")
    wref = load_cbs_reference(shared_data / KWB / "wijk_2024.geojson", level="wijk")
    wper, wstats = compare_with_cbs(wsum, wref, level="wijk")
    assert wstats["n_compared"] == int(wper["compared"].sum()) > 50
    # wijken outside the grid (Amsterdam) have no residents: no mean, not compared
    assert not wper.set_index(WIJKCODE).loc["WK0363AA", "compared"]


def test_one_routine_for_every_level(measured: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    cells, buurten = measured
    # buurten dissolved to their gemeente give the gemeente figures of aggregate_gemeenten
    gem = buurten.dissolve("gemeentecode", as_index=False)[["gemeentecode", "geometry"]]
    gem["gemeentenaam"] = gem["gemeentecode"]
    by_gem = aggregate_gemeenten(cells, gem)
    by_area = aggregate_areas(cells, gem, level="gemeente")
    pd.testing.assert_frame_equal(
        by_gem.drop(columns="geometry"), by_area.drop(columns="geometry"), check_like=False
    )
    b = aggregate_areas(cells, buurten, level="buurt")
    # population adds up from buurt to gemeente: every cell in the union counted once
    assert b[POPULATION].sum() == pytest.approx(by_gem[POPULATION].sum())


def test_pipeline_writes_buurten_and_wijken(tmp_path: pathlib.Path) -> None:
    from bereikbaar.demo import write_demo_inputs
    from bereikbaar.pipeline import run
    from bereikbaar.settings import Settings

    inputs = write_demo_inputs(tmp_path / "raw")
    # buurten and wijken of the demo: each gemeente cut into a west and an east half
    gem = gpd.read_file(inputs.gemeenten).to_crs("EPSG:28992")
    gem = gem[gem["water"] == "NEE"] if "water" in gem else gem
    rows = []
    for k, (_, g) in enumerate(gem.iterrows()):
        x0, y0, x1, y1 = g.geometry.bounds
        mid = (x0 + x1) / 2
        for half, box in enumerate((shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1))):
            rows.append(
                {
                    "buurtcode": f"BU9{k:03d}00{half:02d}",
                    "buurtnaam": f"<b>{g['gemeentecode']}</b> {half}",
                    "wijkcode": f"WK9{k:03d}00",
                    "gemeentecode": g["gemeentecode"],
                    "bibliotheek_gemiddelde_afstand_in_km": 1.0 + k + half / 2,
                    "geometry": g.geometry.intersection(box),
                }
            )
    buurten = gpd.GeoDataFrame(rows, crs="EPSG:28992")
    buurten.to_file(tmp_path / "raw" / "buurten.gpkg", layer="buurten")
    wijken = buurten.dissolve("wijkcode", as_index=False).drop(columns=["buurtcode"])
    wijken = wijken.rename(columns={"buurtnaam": "wijknaam"}).drop(
        columns="bibliotheek_gemiddelde_afstand_in_km"
    )  # no CBS figure per wijk: no comparison per wijk
    wijken.to_file(tmp_path / "raw" / "buurten.gpkg", layer="wijken")
    ref = tmp_path / "raw" / "kwb.csv"
    ref.write_text(
        "gemeentecode;gemeentenaam;water;bibliotheek_gemiddelde_afstand_in_km\n"
        + "".join(f"GM900{i};G{i};NEE;{i},5\n" for i in range(1, 6)),
        encoding="utf-8",
    )
    base = Settings.from_toml(inputs.config)
    settings = dataclasses.replace(
        base,
        inputs=dataclasses.replace(
            base.inputs,
            buurten=tmp_path / "raw" / "buurten.gpkg",
            wijken=tmp_path / "raw" / "buurten.gpkg",
            cbs_reference=ref,
        ),
        out_dir=tmp_path / "out",
    )
    result = run(settings)
    out = tmp_path / "out"
    table = pd.read_csv(out / "buurten.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert list(table.columns[:2]) == ["Buurtcode", "Buurt"]
    assert len(table) == len(buurten)
    # buurt totals add up to the gemeente totals
    assert table["Inwoners"].sum() == pytest.approx(result.summary["population"].sum())
    assert (out / "wijken.csv").is_file()
    layers = set(pyogrio.list_layers(out / "gemeenten.gpkg")[:, 0])
    assert {"gemeenten", "bibliotheken", "buurten", "wijken"} <= layers
    html = (out / "kaart.html").read_text(encoding="utf-8")
    assert "Gemiddelde afstand per buurt" in html
    assert "<b>GM9" not in html  # a buurt name is data, never markup
    run_json = json.loads((out / "run.json").read_text(encoding="utf-8"))
    block = run_json["plausibiliteit"]
    assert block["share_covered"] == pytest.approx(1.0)  # the demo is fully covered
    assert block["snap_m"]["max"] <= 1_000.0
    assert 0 < block["core_share_of_nodes"] <= 1
    # compared per gemeente and per buurt (the buurt layer has CBS's figure), not per wijk
    assert set(block["cbs_agreement"]) == {"gemeente", "buurt"}
    by_buurt = run_json["cbs_vergelijking_wijk_buurt"]["buurt"]
    populated = int((table["Inwoners"] > 0).sum())
    assert by_buurt["n_compared"] == populated == block["cbs_agreement"]["buurt"]["n"]
    assert "Gemiddelde afstand volgens CBS (km)" in table.columns
    dossier = (out / "rapport.html").read_text(encoding="utf-8")
    assert "Plausibiliteit" in dossier
    flagged = result.flagged["gemeentecode"].tolist()
    if any(result.cells.loc[result.cells["distance_m"] > 5_000, "population"] > 0):
        assert "Buurten met de meeste inwoners verder dan 5 km" in dossier
    assert flagged  # the demo flags gemeenten by design
