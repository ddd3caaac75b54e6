"""Red-team catalogue, tabular inputs: branch lists (CSV/XLSX), CBS grid values, CSV lines.

Issue 11, class 2 ("silent wrong numbers") for tables. Every case in :data:`CASES` was
accepted by the code before this catalogue (a wrong number, exit 0) or reported
incompletely (only the first problem, a data-row number instead of the file line, no
cell); each builds one mutated copy of a demo input (:mod:`bereikbaar.examples.demo`) and
asserts, through the loader and through ``bereikbaar run``:

1. the loader raises :class:`~bereikbaar.exceptions.InputError` naming the file, the line
   (CSV: physical line, header and blank lines counted) or cell (XLSX: ``Blad1!H5``), the
   column and what is wrong;
2. ``bereikbaar run`` exits 2 with one line on stderr (``fout: …``), no traceback, and
   writes nothing into ``out_dir``.

:data:`HANDLED` are inputs that used to give wrong numbers and are now read right (Dutch
thousands separators, numbers stored as text, cached formula values, a named sheet); their
tests check the values against what the file says. The property tests at the end pin the
number parser down for every integer and decimal.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import BereikbaarWarning, InputError
from bereikbaar.settings import Settings
from bereikbaar.sources import libraries as libraries_module
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.cbs_reference import load_cbs_reference
from bereikbaar.sources.geocode import TableGeocoder
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.tabular import NumberError, parse_number


@dataclass(frozen=True)
class Good:
    demo: DemoInputs
    cells: Path  # 300-cell cut of the demo grid (GeoPackage)
    rows: list[list[str]]  # the demo branch list, header first


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[Path], DemoInputs]) -> Good:
    folder = tmp_path_factory.mktemp("demo")
    demo = demo_copy(folder)
    cells = gpd.read_file(demo.cells)
    keep = cells.iloc[np.r_[0:150, len(cells) - 150 : len(cells)]]
    small = folder / "cells_small.gpkg"
    keep.to_file(small, driver="GPKG", layer="vierkant_100m_2024")
    text = demo.libraries.read_text(encoding="utf-8")
    return Good(demo, small, [line.split(";") for line in text.splitlines()])


# --------------------------------------------------------------------------- builders
Maker = Callable[[Good, Path], Path]
Edit = Callable[[list[list[str]]], None]


def _rows(good: Good) -> list[list[str]]:
    return [list(r) for r in good.rows]


def _csv(edit: Edit, *, blank_after_header: int = 0, name: str = "bibliotheken.csv") -> Maker:
    """The demo branch list (';', UTF-8) with ``edit`` applied (header = row 0)."""

    def make(good: Good, tmp: Path) -> Path:
        rows = _rows(good)
        edit(rows)
        lines = [";".join(r) for r in rows]
        lines[1:1] = [""] * blank_after_header
        path = tmp / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


def _set(row: int, column: str, value: str) -> Edit:
    def edit(rows: list[list[str]]) -> None:
        rows[row][rows[0].index(column)] = value

    return edit


def _column(at: int | None, header: str, *values: str) -> Edit:
    """Insert a column (``at`` None: append) with ``values`` for the first data rows."""

    def edit(rows: list[list[str]]) -> None:
        for n, r in enumerate(rows):
            value = header if n == 0 else (values[n - 1] if n - 1 < len(values) else "")
            r.insert(len(r) if at is None else at, value)

    return edit


def _edits(*edits: Edit) -> Edit:
    def edit(rows: list[list[str]]) -> None:
        for e in edits:
            e(rows)

    return edit


def _xy(rows: list[list[str]], x: str, y: str, row: int) -> None:
    """Replace lat/lon by RD x/y columns; row ``row`` gets ``x``/``y``, the rest plain RD."""
    from pyproj import Transformer

    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    i, j = rows[0].index("lat"), rows[0].index("lon")
    rows[0][i], rows[0][j] = "x", "y"
    for n, r in enumerate(rows[1:], 1):
        if r[i] and r[j]:
            rx, ry = to_rd.transform(float(r[j]), float(r[i]))
            r[i], r[j] = f"{rx:.0f}", f"{ry:.0f}"
        if n == row:
            r[i], r[j] = x, y


def _workbook(
    good: Good,
    tmp: Path,
    edit: Callable[[openpyxl.Workbook], None] | None = None,
    name: str = "bibliotheken.xlsx",
) -> Path:
    """The demo branch list as a workbook, sheet 'Blad1', numbers stored as numbers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Blad1"
    rows = _rows(good)
    ws.append(rows[0])
    numeric = {rows[0].index("lat"), rows[0].index("lon")}
    for r in rows[1:]:
        ws.append([float(v) if j in numeric and v else (v or None) for j, v in enumerate(r)])
    if edit is not None:
        edit(wb)
    path = tmp / name
    wb.save(path)
    return path


def _xlsx(edit: Callable[[openpyxl.Workbook], None]) -> Maker:
    return lambda good, tmp: _workbook(good, tmp, edit)


def _second_sheet(wb: openpyxl.Workbook) -> None:
    """A second sheet with four more branches (the case the issue saw: 4 of 12 ignored)."""
    first = wb["Blad1"]
    ws = wb.create_sheet("Blad2")
    for r in list(first.iter_rows(values_only=True))[:5]:
        ws.append(list(r))


def _cached(path: Path, cell: str, value: str, kind: str = "n") -> None:
    """Give formula cell ``cell`` of the first sheet a saved value, as Excel does on save."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8")
                pattern = rf'<c r="{cell}"([^>]*)><f>([^<]*)</f><v\s*/>'
                t = f' t="{kind}"' if kind != "n" else ""
                text, n = re.subn(pattern, rf'<c r="{cell}"\1{t}><f>\2</f><v>{value}</v>', text)
                assert n == 1, text[:2000]
                data = text.encode("utf-8")
            zout.writestr(item, data)
    tmp.replace(path)


def _cells_csv(lines: list[str], name: str = "vierkant.csv") -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        path = tmp / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


def _cells_gpkg(population: Callable[[pd.Series], pd.Series]) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        cells = gpd.read_file(good.cells)
        cells["aantal_inwoners"] = population(cells["aantal_inwoners"].astype(float))
        path = tmp / "vierkant.gpkg"
        cells.to_file(path, driver="GPKG", layer="vierkant_100m_2024")
        return path

    return make


def _at(i: int, value: float) -> Callable[[pd.Series], pd.Series]:
    def edit(s: pd.Series) -> pd.Series:
        s = s.copy()
        s.iloc[i] = value
        return s

    return edit


# --------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Case:
    """One bad tabular input and what its message must name.

    ``target`` is the input replaced (``libraries`` or ``cells``); ``contains`` are texts
    the one-line message must hold (location and what is wrong); ``problems`` the number
    of problems the loader must report (all of them, not only the first).
    """

    id: str
    target: str
    make: Maker
    contains: tuple[str, ...]
    problems: int = 1
    settings: str = ""  # extra [inputs] lines of the run config


def _lines_cp1252_after_utf8(good: Good, tmp: Path) -> Path:
    """Two exports pasted together: UTF-8 rows, then rows saved by Excel as cp1252."""
    rows = _rows(good)
    rows[2][0] = "Bibliotheek Café Noord"  # UTF-8 (line 3)
    head = "\n".join(";".join(r) for r in rows[:4]) + "\n"
    tail = "\n".join(";".join(r) for r in rows[4:])
    tail = tail.replace("Velddorp;", "Velddörp;", 1) + "\n"  # cp1252 (ö = 0xf6)
    path = tmp / "bibliotheken.csv"
    path.write_bytes(head.encode("utf-8") + tail.encode("cp1252"))
    return path


def _bom_then_cp1252(good: Good, tmp: Path) -> Path:
    rows = _rows(good)
    rows[3][0] = "Bibliotheek De Linde één"
    text = "\n".join(";".join(r) for r in rows) + "\n"
    path = tmp / "bibliotheken.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("cp1252"))
    return path


def _many_bad_counts(good: Good, tmp: Path) -> Path:
    lines = ["crs28992res100m,aantal_inwoners"]
    lines += [f"E{1900 + i:04d}N5500,{'inf' if i % 2 else '12.5'}" for i in range(25)]
    path = tmp / "vierkant.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _formula_sheet(wb: openpyxl.Workbook) -> None:
    ws = wb["Blad1"]
    ws["H5"] = "=53.024691+0"  # Bibliotheek Middeldorp's latitude, as a formula


def _merged_sheet(wb: openpyxl.Workbook) -> None:
    ws = wb["Blad1"]
    ws.merge_cells("G3:G4")  # gemeente of two rows, as people do for a shared value


def _hidden_sheet(wb: openpyxl.Workbook) -> None:
    _second_sheet(wb)
    wb["Blad2"].sheet_state = "hidden"


def _date_sheet(wb: openpyxl.Workbook) -> None:
    import datetime

    wb["Blad1"]["I7"] = datetime.datetime(2024, 5, 3)  # lon typed in a cell formatted as date


def _error_value(good: Good, tmp: Path) -> Path:
    path = _workbook(good, tmp, lambda wb: wb["Blad1"].__setitem__("G3", "=VLOOKUP(A3,X:Y,2)"))
    _cached(path, "G3", "#N/A", kind="e")
    return path


CASES: list[Case] = [
    # ---- XLSX workbook structure and cells
    Case(
        "xlsx-formula-without-saved-value",
        "libraries",
        _xlsx(_formula_sheet),
        ("cell Blad1!H5", "column 'lat'", "formula '=53.024691+0' has no saved value", "paste"),
    ),
    Case(
        "xlsx-second-sheet-with-data",
        "libraries",
        _xlsx(_second_sheet),
        ("2 sheets with data", "'Blad1', 'Blad2'", "inputs.libraries_sheet"),
    ),
    Case(
        "xlsx-hidden-second-sheet-with-data",
        "libraries",
        _xlsx(_hidden_sheet),
        ("2 sheets with data", "'Blad1', 'Blad2' (hidden)"),
    ),
    Case(
        "xlsx-sheet-setting-names-no-sheet",
        "libraries",
        _xlsx(_second_sheet),
        ("no sheet named 'Blad9'", "'Blad1', 'Blad2'"),
        settings='libraries_sheet = "Blad9"',
    ),
    Case(
        "xlsx-merged-cells",
        "libraries",
        _xlsx(_merged_sheet),
        ("cells Blad1!G3:G4", "merged", "unmerge"),
    ),
    Case(
        "xlsx-date-where-number",
        "libraries",
        _xlsx(_date_sheet),
        ("cell Blad1!I7", "column 'lon'", "a date (2024-05-03"),
    ),
    Case(
        "xlsx-cached-error-value",
        "libraries",
        _error_value,
        ("cell Blad1!G3", "column 'gemeente'", "'#N/A' is a spreadsheet error value"),
    ),
    # ---- CSV branch lists: lines, every problem, duplicates
    Case(
        "csv-blank-lines-counted",
        "libraries",
        _csv(_set(4, "lat", "noord"), blank_after_header=2),
        ("line 7, column 'lat'", "'noord' is not a number"),
    ),
    Case(
        "csv-every-problem-listed",
        "libraries",
        _csv(_edits(_set(2, "naam", ""), _set(5, "type", "Bieb"), _set(8, "lon", "oost"))),
        (
            "3 problems",
            "line 3, column 'naam': empty name",
            "line 6, column 'type': unknown branch type 'Bieb'",
            "line 9, column 'lon': 'oost' is not a number",
        ),
        problems=3,
    ),
    Case(
        "csv-duplicate-ids-all-named",
        "libraries",
        _csv(
            _column(0, "id", "B1", "B2", "B1", "B2", "B5", "B1", *(f"B{n}" for n in range(7, 13)))
        ),
        ("line 4, column 'id': duplicate id 'B1', also on line 2", "line 7", "line 5"),
        problems=3,
    ),
    Case(
        "csv-row-pasted-twice",
        "libraries",
        _csv(lambda rows: rows.append(list(rows[4]))),
        ("repeats line 5 exactly",),
    ),
    Case(
        "csv-column-twice-in-header",
        "libraries",
        _csv(_column(None, "lat", *(f"53.0{n}" for n in range(1, 13)))),
        ("column 'lat'", "appears twice in the header"),
    ),
    Case(
        "csv-spreadsheet-error-value",
        "libraries",
        _csv(_set(3, "gemeente", "#N/A")),
        ("line 4, column 'gemeente'", "'#N/A' is a spreadsheet error value"),
    ),
    Case(
        "csv-opening-hours-with-thousands-separator",
        "libraries",
        _csv(_column(None, "openingsuren", "20", "12.000", *["20"] * 10)),
        ("line 3, column 'openingsuren'", "'12.000' reads as 12000 hours, more than the 168"),
    ),
    Case(
        "csv-quote-never-closed",
        "libraries",
        _csv(_set(4, "naam", '"Bibliotheek Middeldorp')),
        ("line 5", "opened but never closed"),
    ),
    # ---- encodings
    Case(
        "csv-mixed-utf8-and-cp1252",
        "libraries",
        _lines_cp1252_after_utf8,
        ("line 7", "not UTF-8", "Windows-1252", "line(s) 3 are UTF-8", "CSV UTF-8"),
    ),
    Case(
        "csv-utf8-bom-but-cp1252",
        "libraries",
        _bom_then_cp1252,
        ("line 4", "not UTF-8", "byte-order mark"),
    ),
    Case(
        "csv-already-garbled-utf8",
        "libraries",
        _csv(_set(2, "naam", "Bibliotheek CafÃ© Noord")),
        ("line 3", "'Ã©' looks like garbled text ('é'"),
    ),
    # ---- size limits
    Case(
        "csv-branch-list-too-large",
        "libraries",
        lambda good, tmp: _padded(good, tmp, 21_000_000),
        ("MB is larger than the 20 MB accepted for the branch list",),
    ),
    # ---- CBS grid values
    Case(
        "grid-fractional-count",
        "cells",
        _cells_csv(["crs28992res100m,aantal_inwoners", "E1900N5500,5", "E1901N5500,12.5"]),
        ("line 3, column 'aantal_inwoners'", "'12.5' has a fractional part"),
    ),
    Case(
        "grid-inf-text",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;5", "", "E1901N5500;inf"]),
        ("line 4, column 'aantal_inwoners'", "'inf' is not a finite number"),
    ),
    Case(
        "grid-nan-text",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;NaN", "E1901N5500;5"]),
        ("line 2, column 'aantal_inwoners'", "'NaN' is not a finite number"),
    ),
    Case(
        "grid-ambiguous-thousands-comma-file",
        "cells",
        _cells_csv(["crs28992res100m,aantal_inwoners", "E1900N5500,12.000", "E1901N5500,5"]),
        ("line 2, column 'aantal_inwoners'", "'12.000' is ambiguous"),
    ),
    Case(
        "grid-inf-in-geopackage",
        "cells",
        _cells_gpkg(_at(7, np.inf)),
        ("row 8, column 'aantal_inwoners'", "inf", "not a count"),
    ),
    Case(
        "grid-fraction-in-geopackage",
        "cells",
        _cells_gpkg(_at(3, 12.34)),
        ("row 4, column 'aantal_inwoners'", "12.34", "not a count"),
    ),
    Case(
        "grid-gemeentecode-not-a-code",
        "cells",
        _cells_csv(
            [
                "crs28992res100m;aantal_inwoners;gemeentecode",
                "E1900N5500;5;GM0599",
                "E1901N5500;5;Rotterdam",
            ]
        ),
        ("line 3, column 'gemeentecode'", "'Rotterdam' is not a gemeentecode"),
    ),
    Case(
        "grid-every-bad-count-listed",
        "cells",
        _many_bad_counts,
        ("25 problems", "line 2, column 'aantal_inwoners'", "en 5 meer"),
        problems=25,
    ),
    Case(
        "grid-duplicate-codes-all-named",
        "cells",
        _cells_csv(
            [
                "crs28992res100m;aantal_inwoners",
                *("E1900N5500;5", "E1901N5500;5", "E1900N5500;6", "", "E1901N5500;7"),
            ]
        ),
        ("2 problems", "line 4", "also on line 2", "line 6", "also on line 3"),
        problems=2,
    ),
]


def _padded(good: Good, tmp: Path, size: int) -> Path:
    rows = _rows(good)
    text = "\n".join(";".join(r) for r in rows) + "\n"
    filler = ";".join(["Servicepunt extra", "Servicepunt"] + [""] * (len(rows[0]) - 2)) + "\n"
    path = tmp / "bibliotheken.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        written = len(text)
        chunk = filler * 10_000
        while written < size:
            fh.write(chunk)
            written += len(chunk)
    return path


def _config(good: Good, tmp: Path, settings: str = "", **replace: Path) -> Path:
    paths = {
        "network": good.demo.network,
        "cells": good.cells,
        "libraries": good.demo.libraries,
        "gemeenten": good.demo.gemeenten,
        **replace,
    }
    lines = [f'out_dir = "{(tmp / "out").as_posix()}"', 'mode = "car"', "[inputs]"]
    lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in paths.items()]
    lines += [settings]
    path = tmp / "run.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _load(case: Case, path: Path, settings: Settings | None = None) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        if case.target == "libraries":
            return load_libraries(path, settings=settings)
        return load_cbs_grid(path)


def test_catalogue_is_large_and_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_red_team_tabular(
    case: Case, good: Good, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = case.make(good, tmp_path)
    config = _config(good, tmp_path, case.settings, **{case.target: bad})

    # 1. the loader: InputError naming the file, line/cell, column; every problem counted
    settings = Settings.from_toml(config)
    with pytest.raises(InputError) as info:
        _load(case, bad, settings)
    text = " ".join(str(info.value).split())
    assert bad.name in text, text
    for part in case.contains:
        assert part in text, f"{part!r} not in: {text}"
    assert len(getattr(info.value, "problems", ("one",))) == case.problems, text

    # 2. the CLI: exit 2, one line, no traceback, nothing written
    capfd.readouterr()
    code = main(["-q", "run", str(config)])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("fout: "), err
    assert "Traceback" not in err and out == ""
    for part in case.contains:
        assert part in lines[0], f"{part!r} not in: {lines[0]}"
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written == [], written


# --------------------------------------------------------------------------- read right now
def _libs(path: Path, **kw: object) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        return load_libraries(path, **kw)  # type: ignore[arg-type]


def test_rd_coordinates_with_dutch_thousands_separators(good: Good, tmp_path: Path) -> None:
    """``155.000;463.000`` is the Amersfoort origin, not (155 m, 463 m)."""
    path = _csv(lambda rows: _xy(rows, "155.000", "463.000", row=4))(good, tmp_path)
    libs = _libs(path)
    assert libs.geometry.iloc[3].x == 155_000.0 and libs.geometry.iloc[3].y == 463_000.0
    spaced = _csv(lambda rows: _xy(rows, "155 000,5", "463 000", row=4))(good, tmp_path)
    assert _libs(spaced).geometry.iloc[3].x == 155_000.5


def test_xlsx_numbers_stored_as_text_with_thousands(good: Good, tmp_path: Path) -> None:
    def edit(wb: openpyxl.Workbook) -> None:
        ws = wb["Blad1"]
        ws["H1"], ws["I1"] = "x", "y"
        for row in range(2, ws.max_row + 1):
            ws[f"H{row}"], ws[f"I{row}"] = None, None
        ws["H5"], ws["I5"] = "155.000", "463.000"  # text, as pasted from a Dutch report
        ws["H6"], ws["I6"] = 155_000.25, 463_000  # real numbers

    libs = _libs(_workbook(good, tmp_path, edit))
    assert (libs.geometry.iloc[3].x, libs.geometry.iloc[3].y) == (155_000.0, 463_000.0)
    assert (libs.geometry.iloc[4].x, libs.geometry.iloc[4].y) == (155_000.25, 463_000.0)


def test_xlsx_formula_with_saved_value_is_used(good: Good, tmp_path: Path) -> None:
    """A workbook Excel saved keeps each formula's value: that value is read."""
    path = _workbook(good, tmp_path, _formula_sheet)
    _cached(path, "H5", "53.024691")
    libs = _libs(path)
    plain = _libs(_workbook(good, tmp_path, name="plain.xlsx"))
    assert libs.geometry.iloc[3].equals(plain.geometry.iloc[3])  # Middeldorp, row 5


def test_xlsx_named_sheet_is_read(good: Good, tmp_path: Path) -> None:
    path = _workbook(good, tmp_path, _second_sheet)
    settings = Settings.from_dict({"inputs": {"libraries_sheet": "Blad2"}})
    libs = _libs(path, settings=settings)
    assert list(libs["name"]) == [r[0] for r in good.rows[1:5]]
    assert libs.attrs["lines"] == [2, 3, 4, 5]
    assert len(_libs(path, sheet="Blad1")) == len(good.rows) - 1


def test_sheet_setting_is_validated() -> None:
    with pytest.raises(InputError, match="must be a string"):
        Settings.from_dict({"inputs": {"libraries_sheet": 2}})
    with pytest.raises(InputError, match="libraries_sheet must be a sheet name"):
        Settings.from_dict({"inputs": {"libraries_sheet": " "}})


def test_row_limit(good: Good, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libraries_module, "MAX_BRANCH_ROWS", 5)
    path = _csv(lambda rows: None)(good, tmp_path)
    with pytest.raises(InputError, match=r"more than 5 data rows"):
        load_libraries(path)


def test_real_500m_grid_with_dutch_thousands(shared_data: Path, tmp_path: Path) -> None:
    """The real Rijnmond 500 m grid as a Dutch ';' CSV (``1.234``): total stays 1,309,120."""
    stats = pd.read_parquet(
        shared_data / "cbs-vierkant-2024-rijnmond" / "grid_500m_rijnmond_stats.parquet",
        columns=["crs28992res500m", "aantal_inwoners"],
    )
    total = int(stats["aantal_inwoners"][stats["aantal_inwoners"] >= 0].sum())
    assert total == 1_309_120
    dutch = stats["aantal_inwoners"].map(lambda v: f"{v:,}".replace(",", "."))
    assert dutch.str.contains(".", regex=False).sum() == 556  # cells of 1,000 or more
    path = tmp_path / "vierkant_500m.csv"
    pd.DataFrame({"crs28992res500m": stats["crs28992res500m"], "aantal_inwoners": dutch}).to_csv(
        path, sep=";", index=False
    )
    cells = load_cbs_grid(path)
    assert int(np.nansum(cells["population"])) == total
    assert (cells["population"].to_numpy() == stats["aantal_inwoners"].to_numpy()).all()
    # the same values with English separators in a ',' file (quoted, as Excel writes them)
    english = stats["aantal_inwoners"].map(lambda v: f"{v:,}")
    path2 = tmp_path / "vierkant_500m_en.csv"
    pd.DataFrame({"crs28992res500m": stats["crs28992res500m"], "aantal_inwoners": english}).to_csv(
        path2, sep=",", index=False
    )
    assert int(np.nansum(load_cbs_grid(path2)["population"])) == total


def test_real_500m_grid_one_fraction_named_by_line(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "cbs-vierkant-2024-rijnmond" / "grid_500m_rijnmond_stats.parquet"
    stats = pd.read_parquet(src, columns=["crs28992res500m", "aantal_inwoners"])
    text = stats.astype({"aantal_inwoners": str})
    text.loc[100, "aantal_inwoners"] = "12,5"
    path = tmp_path / "vierkant_500m.csv"
    text.to_csv(path, sep=";", index=False)
    with pytest.raises(InputError, match=r"line 102, column 'aantal_inwoners': '12,5' has a"):
        load_cbs_grid(path)


def test_address_table_thousands_and_house_letters(tmp_path: Path) -> None:
    """RD ``93.656`` in an address table is 93,656 m; ``4a`` is number 4, letter a."""
    table = tmp_path / "adressen.csv"
    table.write_text(
        "postcode;huisnummer;woonplaats;x;y\n"
        "2312KA;4a;Leiden;93.656;463.630\n"
        "2611ML;71;Delft;84.567,5;447.435\n",
        encoding="utf-8",
    )
    branches = tmp_path / "b.csv"
    branches.write_text(
        "naam;type;straat;huisnummer;toevoeging;postcode;plaats\n"
        "A;Vestiging;Nieuwstraat;4;a;2312 KA;Leiden\n"
        "B;Servicepunt;Kruisstraat;71;;2611ML;Delft\n",
        encoding="utf-8",
    )
    libs = load_libraries(branches, geocoder=TableGeocoder(table))
    assert [(p.x, p.y) for p in libs.geometry] == [(93_656.0, 463_630.0), (84_567.5, 447_435.0)]
    table.write_text("postcode;huisnummer;x;y\n2312KA;4;inf;463630\n2312KB;vier;1e9;2\n")
    with pytest.raises(InputError) as info:
        TableGeocoder(table)
    text = str(info.value)
    assert "line 2, column 'x': 'inf' is not a finite number" in text
    assert "line 3, column 'x'" in text and "line 3, column 'y'" in text
    assert "line 3, column 'huisnummer': 'vier' is not a house number" in text
    assert len(info.value.problems) == 4  # type: ignore[attr-defined]


def test_collection_size_with_dutch_thousands(good: Good, tmp_path: Path) -> None:
    """``collectie`` 12.340 in a Dutch list is 12,340 items (read as 12.34 before)."""
    path = _csv(_column(None, "collectie", "12.340", "1.309.120", "950"))(good, tmp_path)
    values = _libs(path)["collectie"].to_numpy()
    assert list(values[:3]) == [12_340.0, 1_309_120.0, 950.0] and np.isnan(values[3:]).all()


def test_cbs_reference_bad_distances_named_by_line(tmp_path: Path) -> None:
    """'2,1 km' and 'inf' used to become NaN and inf silently; '.' stays CBS's "no figure"."""
    path = tmp_path / "kwb.csv"
    path.write_text(
        "WijkenEnBuurten;Gemeentenaam_1;AfstandTotBibliotheek_95\n"
        "GM0088;Schiermonnikoog;0,6\n"
        "\n"
        "GM1695;Noord-Beveland;2,1 km\n"
        "GM0518;'s-Gravenhage;.\n"
        "GM0503;Delft;inf\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_cbs_reference(path)
    text = str(info.value)
    assert "2 problems" in text
    assert "line 4, column 'AfstandTotBibliotheek_95': '2,1 km' is not a number" in text
    assert "line 6, column 'AfstandTotBibliotheek_95': 'inf' is not a finite number" in text
    path.write_text(path.read_text().replace("2,1 km", "14,4").replace("inf", "1.1"))
    km = load_cbs_reference(path)["cbs_mean_distance_km"].to_numpy()
    assert km[[0, 1, 3]].tolist() == [0.6, 14.4, 1.1] and np.isnan(km[2])


def test_byte_order_marks(good: Good, tmp_path: Path) -> None:
    """UTF-8 and UTF-16 BOMs are read; lists pasted together (BOM mid-file) name the line."""
    text = "\n".join(";".join(r) for r in _rows(good)) + "\n"
    plain = _libs(_csv(lambda rows: None)(good, tmp_path))
    for name, data in (
        ("bom8.csv", b"\xef\xbb\xbf" + text.encode("utf-8")),
        ("bom16.csv", text.encode("utf-16")),  # BOM + UTF-16 LE, Excel's "Unicode text"
    ):
        (tmp_path / name).write_bytes(data)
        libs = _libs(tmp_path / name)
        assert libs.drop(columns="geometry").equals(plain.drop(columns="geometry")), name
        assert libs.geometry.equals(plain.geometry)
    pasted = tmp_path / "pasted.csv"
    pasted.write_bytes(b"\xef\xbb\xbf" + text.encode() + b"\xef\xbb\xbf" + text.encode())
    with pytest.raises(InputError, match=r"line 14, column 'type': unknown branch type 'type'"):
        load_libraries(pasted)


def test_grid_suppression_codes_still_nan(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("crs28992res100m;aantal_inwoners\nE1900N5500;-99997\nE1901N5500;1.234\n")
    with pytest.warns(BereikbaarWarning, match="1 of 2 cells"):
        cells = load_cbs_grid(path)
    assert np.isnan(cells["population"].iloc[0]) and cells["population"].iloc[1] == 1234


# --------------------------------------------------------------------------- properties
@given(st.integers(min_value=0, max_value=10**15))
def test_dutch_thousands_round_trip(n: int) -> None:
    dutch = f"{n:,}".replace(",", ".")
    assert parse_number(dutch, decimal=",", whole=True) == n
    assert parse_number(f"{n:,}", decimal=".", whole=True) == n  # English
    assert parse_number(f"{n:,}".replace(",", " "), whole=True) == n
    assert parse_number(f"-{dutch}", decimal=",", whole=True) == -n
    if n >= 1000:  # one group or more: thousands in RD columns, whatever the file
        assert parse_number(dutch, ambiguous="thousands") == n


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=999_999))
def test_dutch_decimals_round_trip(n: int, frac: int) -> None:
    digits = str(frac).rstrip("0") or "0"
    value = float(f"{n}.{digits}")
    dutch = f"{n:,}".replace(",", ".") + "," + digits
    assert parse_number(dutch, decimal=",") == value
    assert parse_number(f"{n:,}.{digits}", decimal=".") == value
    with pytest.raises(NumberError, match=r"fractional part|ambiguous"):
        parse_number(dutch, decimal=",", whole=True)


@given(st.text(max_size=20))
def test_parser_either_reads_a_finite_number_or_says_why(text: str) -> None:
    try:
        value = parse_number(text, decimal=",")
    except NumberError as err:
        assert str(err)
    else:
        assert np.isfinite(value)


def test_a_file_of_only_separators_has_no_header(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: ``b"\\n;"`` ended in an AssertionError, not an InputError."""
    from bereikbaar.sources.libraries import load_libraries

    path = tmp_path / "leeg.csv"
    path.write_bytes(b"\n;;\n")
    with pytest.raises(InputError, match="no header line"):
        load_libraries(path)
