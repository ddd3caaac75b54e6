"""Tests for bereikbaar.report: Excel CSV, Parquet, GeoPackage, atomic writes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from shapely.geometry import Point, box

from bereikbaar import report
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output import tables

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
    assert set(written) == {
        "gemeenten.csv",
        "gemeenten.parquet",
        "gemeenten.gpkg",
        "cells.gpkg",
        "bereikbaar.xlsx",
    }
    assert all(p.is_file() and p.parent == out for p in written.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(written)  # no temp files left

    layers = pyogrio.list_layers(written["gemeenten.gpkg"])
    assert sorted(layers[:, 0].tolist()) == ["bibliotheken", "gemeenten"]
    assert pyogrio.list_layers(written["cells.gpkg"])[:, 0].tolist() == ["cells"]
    gem = gpd.read_file(written["gemeenten.gpkg"], layer="gemeenten")
    assert gem.crs is not None and gem.crs.to_epsg() == 28992
    # the GeoPackage's fields carry the CSV's Dutch headers
    csv_header = (out / "gemeenten.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert [c for c in gem.columns if c != "geometry"] == csv_header.split(";")
    assert gem["Gemeentecode"].tolist() == ["GM0001", "GM0002", "GM0003"]
    assert gem.geometry.area.tolist() == [2_000_000.0] * 3
    libs = gpd.read_file(written["gemeenten.gpkg"], layer="bibliotheken")
    assert len(libs) == 3
    assert {"Bibliotheek-id", "Naam", "Volwaardig"} <= set(libs.columns)
    assert libs.geometry.isna().sum() == 1
    got_cells = gpd.read_file(written["cells.gpkg"], layer="cells")
    assert got_cells["cell_id"].tolist() == cells["cell_id"].tolist()
    assert got_cells["reachable"].tolist() == [True, True, False]

    table = gpd.read_parquet(written["gemeenten.parquet"])  # GeoParquet
    assert table.crs is not None and table.crs.to_epsg() == 28992
    assert table.geometry.area.tolist() == [2_000_000.0] * 3
    assert table.columns.tolist()[:-1] == [
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
    assert b"geo" in (pq.read_schema(written["gemeenten.parquet"]).metadata or {})


def test_workbook_for_excel(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    import openpyxl

    from bereikbaar.settings import Settings

    written = report.write_tables(tmp_path, cells, summary, libraries, settings=Settings())
    book = openpyxl.load_workbook(written["bereikbaar.xlsx"])
    assert book.sheetnames == ["Gemeenten", "Bibliotheken", "Instellingen"]
    sheet = book["Gemeenten"]
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["Gemeentecode", "Gemeente", "Inwoners", "Gemiddelde afstand (km)"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(headers))}4"
    col = {h: k for k, h in enumerate(headers, start=1)}
    km = sheet.cell(row=3, column=col["Gemiddelde afstand (km)"])
    assert km.value == pytest.approx(summary["mean_distance_km"].iloc[1])  # a number, 6.2
    assert km.number_format == "0.0"
    share = sheet.cell(row=3, column=col["Aandeel inwoners boven drempel (0-1)"])
    assert share.value == pytest.approx(0.625) and share.number_format == "0.0%"
    people = sheet.cell(row=2, column=col["Inwoners"])
    assert people.value == 12345 and people.number_format == "#,##0"
    assert sheet.cell(row=3, column=col["Te groot"]).value == "ja"
    # a name that Excel would run as a formula is text, neutralised as in the CSV
    name = sheet.cell(row=2, column=col["Gemeente"])
    assert name.data_type == "s" and name.value == '\'=HYPERLINK("http://x")'
    assert book["Bibliotheken"].cell(row=1, column=1).value == "Bibliotheek-id"
    settings_rows = {
        r[0]: r[1] for r in book["Instellingen"].iter_rows(min_row=2, values_only=True)
    }
    assert settings_rows["Drempel (km)"] == 5.0
    assert settings_rows["Vervoerswijze"] == "car"


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
    real = tables.csv_cell

    def failing_cell(value: object, column: str) -> str:
        calls["n"] += 1
        if calls["n"] > 15:  # the first row was already handed to the writer
            raise RuntimeError("simulated crash mid-write")
        return real(value, column)

    monkeypatch.setattr(tables, "csv_cell", failing_cell)
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
    assert tables.csv_cell(True, "te_groot") == "ja"
    assert tables.csv_cell(np.bool_(False), "te_groot") == "nee"
    assert tables.csv_cell(np.nan, "population") == ""
    assert tables.csv_cell(None, "reasons") == ""
    assert tables.csv_cell(np.int64(7), "full_service_libraries") == "7"
    assert tables.csv_cell(-1.5, "x") == "-1,5"  # numbers are not formula-escaped
    assert tables.csv_cell("-1,5", "x") == "'-1,5"  # text is


def test_csv_columns_parse_back() -> None:
    """The headers are one stable mapping and contain no separator."""
    headers = list(report.CSV_HEADERS_NL.values())
    assert len(set(headers)) == len(headers)
    assert next(csv.reader([";".join(headers)], delimiter=";")) == headers


# --------------------------------------------------------------------------- consultation dossier

XSS_BRANCH = "<img src=x onerror=alert(1)>"
XSS_GEMEENTE = "<script>alert(1)</script>Stad"


@pytest.fixture
def dossier_inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Gemeente A (no full-service library, 550 residents) next to B (one vestiging)."""
    import bereikbaar as bb

    gemeenten = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0001", "GM0002"], "gemeentenaam": [XSS_GEMEENTE, "Bdorp"]},
        geometry=[box(150000, 450000, 160000, 460000), box(160000, 450000, 170000, 460000)],
        crs=RD,
    )
    libraries = gpd.GeoDataFrame(
        {
            "library_id": ["L1", "L2", "L3"],
            "name": ["Bibliotheek Bdorp", XSS_BRANCH, "Bibliotheek Verweg"],
            "branch_type": ["vestiging", "servicepunt", "vestiging"],
            "full_service": [True, False, True],
            "address": ["Markt 1", "Kerkstraat 2", "Dijk 3"],
            "postcode": ["1111 AA", "2222 BB", "3333 CC"],
            "place": ["Bdorp", "Astad", "Verweg"],
        },
        geometry=[Point(165000, 455000), Point(155000, 455000), Point(171500, 455000)],
        crs=RD,
    )
    xs = [151000, 152000, 153000, 154000, 165100]
    cells = gpd.GeoDataFrame(
        {
            "cell_id": [f"E{x // 100}N4550" for x in xs],
            "population": [100.0, 300.0, 100.0, 50.0, 1000.0],
            "population_65plus": [20.0, 60.0, 20.0, 10.0, 200.0],
            "library_id": ["L1", "L1", "L3", None, "L1"],
            "distance_m": [6000.0, 8000.0, 12000.0, np.nan, 500.0],
            "reachable": [True, True, True, False, True],
        },
        geometry=[box(x, 455000, x + 100, 455100) for x in xs],
        crs=RD,
    )
    summary = bb.aggregate_gemeenten(cells, gemeenten, libraries)
    return cells, summary, libraries


def _tags(text: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append(tag)

    Collect().feed(text)
    return found


def test_dossier_facts_by_hand(
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, summary, libraries = dossier_inputs
    assert summary["te_groot"].tolist() == [True, False]
    doc = report.dossier_html(cells, summary, libraries)
    assert doc.count('<section class="gemeente"') == 1  # only the flagged gemeente
    section = doc.split('<section class="gemeente"')[1].split("</section>")[0]
    # 550 residents; mean (100*6 + 300*8 + 100*12) / 500 = 8.4 km; 550 beyond 5 km incl. 50
    # without a route
    assert '<td class="n">550</td>' in section
    assert "8,4 km" in section
    assert "550 (100%)" in section
    assert "(a) geen volwaardige bibliotheek in de gemeente" in section
    assert "(c) gemiddelde afstand 8,4 km" in section
    # residents served: L1 400 (73%) at (100*6 + 300*8) / 400 = 7.5 km, max 8 km; L3 100 (18%)
    assert (
        "<td>Bibliotheek Bdorp</td><td>Vestiging</td><td>Markt 1 1111 AA</td><td>Bdorp</td>"
        '<td class="n">400</td><td class="n">73%</td><td class="n">7,5 km</td>'
        '<td class="n">8,0 km</td>'
    ) in section
    assert '<td class="n">100</td><td class="n">18%</td><td class="n">12,0 km</td>' in section
    # full-service libraries around: straight line from the border at x = 160 000 m
    assert "5,0 km buiten de grens" in section
    assert "11,5 km buiten de grens" in section
    # target group: 110 65-plussers, mean (20*6 + 60*8 + 20*12) / 100 = 8.4 km, all beyond 5 km
    assert '<td>65-plussers</td><td class="n">110</td><td class="n">8,4 km</td>' in section
    assert "110 (100%)" in section
    assert "kinderen" not in section  # no 0-15 column in the input
    # the rule and its thresholds, printable on A4 with a page per gemeente
    assert "geen officiële norm" in doc
    assert "instelbare beleidskeuzes" in doc
    assert "boven 3 km" in doc and "25% of meer" in doc and "verder dan 5 km" in doc
    assert "@page { size: A4" in doc
    assert "section.gemeente { break-before: page" in doc
    # one inline SVG map (matplotlib): the full-service libraries and the neighbour by name,
    # the gemeente's own name (escaped), a scale bar and a legend of exactly what is drawn:
    # cells in 3 classes (5-10, 10-15 km, no route), outline, both kinds of branch
    assert section.count("<svg") == 1
    svg = section.split("<svg")[1].split("</svg>")[0]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    for name in ("Bibliotheek Bdorp", "Bibliotheek Verweg", "Bdorp", "N ↑"):
        assert name in texts, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Stad" in texts
    assert any(t.endswith(" km") for t in texts)  # the scale bar
    legend = {"5–10 km", "10–15 km", "geen route", "gemeentegrens", "volwaardige bibliotheek"}
    assert legend | {"andere voorziening"} == {
        t for t in texts if t in legend | {"andere voorziening", "0–1 km", "> 15 km", "hoofdweg"}
    }
    assert "metadata" not in svg


def test_dossier_escapes_input_text(
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, summary, libraries = dossier_inputs
    sites = pd.DataFrame({"gemeentecode": ["GM0001"], "toelichting": ['<b onclick="x()">hier']})
    doc = report.dossier_html(cells, summary, libraries, sites=sites)
    assert XSS_BRANCH not in doc and XSS_GEMEENTE not in doc
    assert "&lt;img src=x onerror=alert(1)&gt;" in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Stad" in doc
    assert "&lt;b onclick=&#34;x()&#34;&gt;hier" in doc
    tags = _tags(doc)
    assert "script" not in tags and "img" not in tags and "b" in tags  # our own <b> only
    # self-contained: no script, no external URL, a CSP that forbids both
    assert "<script" not in doc.lower()
    namespaces = (
        'xmlns="http://www.w3.org/2000/svg"',
        'xmlns:xlink="http://www.w3.org/1999/xlink"',
    )
    assert "http://" not in doc.replace(namespaces[0], "").replace(namespaces[1], "")
    assert "https://" not in doc
    assert "default-src 'none'" in doc


def test_dossier_without_flagged_gemeente(
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, summary, libraries = dossier_inputs
    calm = summary.assign(te_groot=False, reasons="")
    doc = report.dossier_html(cells, calm, libraries)
    assert '<section class="gemeente"' not in doc
    assert "Geen enkele gemeente voldoet" in doc
    # asked for explicitly, a gemeente gets its section anyway; unknown codes are an error
    doc = report.dossier_html(cells, calm, libraries, gemeentecodes=["GM0002"])
    assert doc.count('<section class="gemeente"') == 1
    with pytest.raises(InputError, match="GM9999"):
        report.dossier_html(cells, calm, libraries, gemeentecodes=["GM9999"])


def test_dossier_shows_sites_per_gemeente(
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, summary, libraries = dossier_inputs
    doc = report.dossier_html(cells, summary, libraries)
    assert "Locatiesuggesties zijn in deze run niet berekend" in doc
    sites = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0001", "GM0002"], "extra_binnen_drempel": [450.0, 7.0]},
        geometry=[Point(155500, 455000), Point(161000, 455000)],
        crs=RD,
    )
    doc = report.dossier_html(cells, summary, libraries, sites=sites)
    assert "450,00" in doc and "7,00" not in doc  # only the flagged gemeente's site
    assert "155500, 455000" in doc
    assert doc.count('id="site-GM0001-1"') == 1  # drawn on the map


def test_write_dossier_files_and_safe_names(
    tmp_path: Path,
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    cells, summary, libraries = dossier_inputs
    evil = summary.assign(gemeentecode=["../../x/GM0001", "GM0002"])
    cells = cells.assign(gemeentecode=["../../x/GM0001"] * 4 + ["GM0002"])
    out = tmp_path / "run"
    path = report.write_dossier(
        out, cells, evil, libraries, provenance={"created": "2024-01-01"}, per_gemeente=True
    )
    assert path == out / "rapport.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "run",
        "run/dossier",
        "run/dossier/x_GM0001.html",
        "run/rapport.html",
    ]
    one = (out / "dossier" / "x_GM0001.html").read_text(encoding="utf-8")
    assert one.count('<section class="gemeente"') == 1
    assert "1 januari 2024" in one  # a Dutch date


def test_safe_filename() -> None:
    assert report.safe_filename("GM0363") == "GM0363"
    assert report.safe_filename("..") == "gemeente"
    assert report.safe_filename("a/b\\c:d") == "a_b_c_d"
    assert report.safe_filename(None) == "gemeente"
    assert len(report.safe_filename("x" * 500)) == 64


def test_gemeenten_csv_round_trips_with_pandas(
    tmp_path: Path,
    dossier_inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    """A real aggregate summary (with target-group columns) reads back value for value."""
    cells, summary, libraries = dossier_inputs
    written = report.write_tables(tmp_path, cells, summary, libraries)
    back = pd.read_csv(written["gemeenten.csv"], sep=";", decimal=",", encoding="utf-8-sig")
    assert len(back) == len(summary)
    for col in summary.columns:
        if col == "geometry":
            continue
        header = report.CSV_HEADERS_NL.get(col, col)
        got, want = back[header], summary[col]
        if col in ("te_groot", "onvolledig"):  # booleans: ja/nee
            assert got.tolist() == ["ja" if v else "nee" for v in want]
        elif pd.api.types.is_numeric_dtype(want):
            decimals = tables.CSV_DECIMALS.get(col, 10)
            np.testing.assert_allclose(
                got.to_numpy(float), want.to_numpy(float), atol=10.0**-decimals, equal_nan=True
            )
        else:
            assert got.fillna("").tolist() == want.fillna("").tolist(), col
    # and the GeoPackages open with pyogrio with one layer per table
    assert sorted(pyogrio.list_layers(written["gemeenten.gpkg"])[:, 0]) == [
        "bibliotheken",
        "gemeenten",
    ]
    info = pyogrio.read_info(written["gemeenten.gpkg"], layer="gemeenten")
    assert info["features"] == 2 and info["geometry_type"] == "Polygon"
    assert info["crs"] == "EPSG:28992"
    assert pyogrio.read_info(written["cells.gpkg"], layer="cells")["features"] == 5
    assert pyogrio.read_info(written["gemeenten.gpkg"], layer="bibliotheken")["features"] == 3


@pytest.mark.parametrize("module", ["dossier", "dossier_maps"])
def test_dossier_python_holds_no_html(module: str) -> None:
    """The dossier's markup lives in its templates: no HTML tag in a string of its Python."""
    import ast
    import importlib

    dossier = importlib.import_module(f"bereikbaar.output.{module}")

    tree = ast.parse(Path(dossier.__file__).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    tag = re.compile(r"(?<!\?P)</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>")  # not (?P<name>
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]
    assert strings  # the walk found the module's strings
    assert [s for s in strings if tag.search(s)] == []
    templates = Path(dossier.__file__).parent / "templates"
    assert (templates / "rapport.html.j2").is_file()
