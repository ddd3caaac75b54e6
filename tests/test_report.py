"""Tests for bereikbaar.report: Excel CSV, Parquet, GeoPackage, atomic writes."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from shapely.geometry import Point, box

from bereikbaar import report
from bereikbaar.exceptions import OutputError

RD = "EPSG:28992"


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    xs = [149900, 150000, 150100]
    return gpd.GeoDataFrame(
        {
            "cell_id": ["E1499N4499", "E1500N4499", "E1501N4499"],
            "population": [25.0, np.nan, 10.0],
            "gemeentecode": ["GM0001", "GM0002", "GM0002"],
            "library_id": ["L1", "L1", None],
            "distance_m": [400.0, 1500.0, np.nan],
            "snap_m": [5.0, 12.5, 30.0],
            "reachable": [True, True, False],
        },
        geometry=[box(x, 449900, x + 100, 450000) for x in xs],
        crs=RD,
    )


@pytest.fixture
def summary() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "gemeentecode": ["GM0001", "GM0002", "GM0003"],
            "gemeentenaam": ['=HYPERLINK("http://x")', "Bètastad", "@SUM(A1)"],
            "population": [12345.0, 800.0, np.nan],
            "mean_distance_km": [0.8, 6.2, np.nan],
            "median_distance_km": [0.7, 5.9, np.nan],
            "p90_distance_km": [1.4, 8.25, np.nan],
            "population_beyond": [0.0, 500.0, np.nan],
            "share_beyond": [0.0, 0.625, np.nan],
            "full_service_libraries": [2, 0, 0],
            "te_groot": [False, True, False],
            "reasons": [
                "",
                "geen volwaardige bibliotheek in de gemeente en gemiddelde afstand 6,2 km > 3 km",
                "-2+3; zie notitie",
            ],
        },
        geometry=[
            box(149000, 449000, 150000, 451000),
            box(150000, 449000, 151000, 451000),
            box(151000, 449000, 152000, 451000),
        ],
        crs=RD,
    )


@pytest.fixture
def libraries() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "library_id": ["L1", "L2", "L3"],
            "name": ["Bibliotheek Alfadorp", "+Servicepunt", "Nog te geocoderen"],
            "branch_type": ["vestiging", "servicepunt", "vestiging"],
            "full_service": [True, False, True],
            "address": ["Dorpsstraat 1", "Kerkplein 3", "Onbekend 9"],
            "postcode": ["1234 AB", "1234 AC", "1234 AD"],
        },
        geometry=[Point(149950, 450050), Point(150550, 450150), None],
        crs=RD,
    )


def test_write_tables_files(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    out = tmp_path / "run" / "a"
    written = report.write_tables(out, cells, summary, libraries)
    assert set(written) == {"gemeenten.csv", "gemeenten.parquet", "gemeenten.gpkg", "cells.gpkg"}
    assert all(p.is_file() and p.parent == out for p in written.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(written)  # no temp files left

    layers = pyogrio.list_layers(written["gemeenten.gpkg"])
    assert sorted(layers[:, 0].tolist()) == ["bibliotheken", "gemeenten"]
    assert pyogrio.list_layers(written["cells.gpkg"])[:, 0].tolist() == ["cells"]
    gem = gpd.read_file(written["gemeenten.gpkg"], layer="gemeenten")
    assert gem.crs is not None and gem.crs.to_epsg() == 28992
    assert gem["gemeentecode"].tolist() == ["GM0001", "GM0002", "GM0003"]
    assert gem.geometry.area.tolist() == [2_000_000.0] * 3
    libs = gpd.read_file(written["gemeenten.gpkg"], layer="bibliotheken")
    assert len(libs) == 3
    assert libs.geometry.isna().sum() == 1
    got_cells = gpd.read_file(written["cells.gpkg"], layer="cells")
    assert got_cells["cell_id"].tolist() == cells["cell_id"].tolist()
    assert got_cells["reachable"].tolist() == [True, True, False]

    table = pd.read_parquet(written["gemeenten.parquet"])
    assert table.columns.tolist() == [
        "gemeentecode",
        "gemeentenaam",
        "population",
        "mean_distance_km",
        "median_distance_km",
        "p90_distance_km",
        "population_beyond",
        "share_beyond",
        "full_service_libraries",
        "te_groot",
        "reasons",
    ]
    assert table["te_groot"].dtype == bool
    assert table["gemeentenaam"].iloc[0] == '=HYPERLINK("http://x")'  # raw in Parquet
    assert b"geo" not in (pq.read_schema(written["gemeenten.parquet"]).metadata or {})


def test_csv_for_dutch_excel(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    path = report.write_tables(tmp_path, cells, summary, libraries)["gemeenten.csv"]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    lines = raw[3:].decode("utf-8").splitlines()
    assert lines[0].startswith("Gemeentecode;Gemeente;Inwoners;Gemiddelde afstand (km);")
    # Hand-written expectation of the second gemeente's row.
    assert lines[2] == (
        "GM0002;Bètastad;800;6,200;5,900;8,250;500;0,6250;0;ja;"
        "geen volwaardige bibliotheek in de gemeente en gemiddelde afstand 6,2 km > 3 km"
    )

    df = pd.read_csv(path, sep=";", decimal=",", encoding="utf-8-sig")
    assert df.columns.tolist() == [report.CSV_HEADERS_NL[c] for c in summary.columns[:-1]]
    assert df["Gemeentecode"].tolist() == ["GM0001", "GM0002", "GM0003"]
    assert df["Gemiddelde afstand (km)"].iloc[:2].tolist() == [0.8, 6.2]
    assert np.isnan(df["Gemiddelde afstand (km)"].iloc[2])
    assert df["P90-afstand (km)"].iloc[1] == 8.25
    assert df["Inwoners"].iloc[0] == 12345
    assert df["Aandeel inwoners boven drempel (0-1)"].iloc[1] == 0.625
    assert df["Te groot"].tolist() == ["nee", "ja", "nee"]
    # Formula injection neutralised in text cells.
    assert df["Gemeente"].tolist() == ['\'=HYPERLINK("http://x")', "Bètastad", "'@SUM(A1)"]
    assert df["Redenen"].iloc[2] == "'-2+3; zie notitie"


def test_rerun_is_byte_identical(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    a = report.write_tables(tmp_path / "a", cells, summary, libraries)
    b = report.write_tables(tmp_path / "b", cells, summary, libraries)
    for name in ("gemeenten.csv", "gemeenten.parquet"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    again = report.write_tables(tmp_path / "a", cells, summary, libraries)  # overwrite in place
    assert again["gemeenten.csv"].read_bytes() == b["gemeenten.csv"].read_bytes()


def test_failed_write_keeps_old_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    report.write_tables(tmp_path, cells, summary, libraries)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real = report._csv_cell

    def failing_cell(value: object, column: str) -> str:
        calls["n"] += 1
        if calls["n"] > 15:  # the first row was already handed to the writer
            raise RuntimeError("simulated crash mid-write")
        return real(value, column)

    monkeypatch.setattr(report, "_csv_cell", failing_cell)
    changed = summary.assign(gemeentenaam=["X", "Y", "Z"])
    with pytest.raises(RuntimeError, match="simulated"):
        report.write_tables(tmp_path, cells, changed, libraries)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before


def test_atomic_path_cleans_up_and_converts_oserror(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(OutputError, match=r"x\.txt"), report.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.suffix == ".txt"
        tmp.write_text("half", encoding="utf-8")
        raise OSError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]

    with report.atomic_path(target) as tmp:
        tmp.write_text("new", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_unwritable_folder_raises_output_error(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    blocker = tmp_path / "bestand"
    blocker.write_text("not a folder", encoding="utf-8")
    out = blocker / "uitvoer"
    with pytest.raises(OutputError, match="uitvoer"):
        report.write_tables(out, cells, summary, libraries)


def test_csv_cell_formatting() -> None:
    assert report._csv_cell(True, "te_groot") == "ja"
    assert report._csv_cell(np.bool_(False), "te_groot") == "nee"
    assert report._csv_cell(np.nan, "population") == ""
    assert report._csv_cell(None, "reasons") == ""
    assert report._csv_cell(np.int64(7), "full_service_libraries") == "7"
    assert report._csv_cell(-1.5, "x") == "-1,5"  # numbers are not formula-escaped
    assert report._csv_cell("-1,5", "x") == "'-1,5"  # text is


def test_csv_columns_parse_back() -> None:
    """The headers are one stable mapping and contain no separator."""
    headers = list(report.CSV_HEADERS_NL.values())
    assert len(set(headers)) == len(headers)
    assert next(csv.reader([";".join(headers)], delimiter=";")) == headers
