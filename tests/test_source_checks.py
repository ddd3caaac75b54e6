"""The shared input checks of the loaders say the same thing wherever they are used.

One helper for each repeated check (``sources/_errors.read_errors`` and ``check_file``,
``tabular``'s row limit, ``Table.first_lines``, the settings' unknown-choice message): the
messages below are the ones each loader wrote before the checks had one home.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest

from bereikbaar.exceptions import BereikbaarWarning, ConfigError, InputError
from bereikbaar.settings import Settings
from bereikbaar.sources import nwb, osm, osm_libraries
from bereikbaar.sources._errors import read_errors
from bereikbaar.sources.cbs_reference import load_cbs_reference
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.tabular import read_table


def test_read_errors_names_the_file_and_keeps_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    with pytest.raises(InputError) as caught, read_errors(path, "cannot read as parquet"):
        raise OSError("magic bytes not found")
    assert str(caught.value) == f"file '{path}': cannot read as parquet (magic bytes not found)"
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(InputError, match=r"^already$"), read_errors(path):
        raise InputError("already")  # an InputError passes unchanged
    with pytest.raises(KeyboardInterrupt), read_errors(path):
        raise KeyboardInterrupt  # not a reader's error


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (load_cbs_reference, "cannot read ("),
        (load_gemeenten, "cannot read as a GeoPackage/GeoJSON ("),
        (nwb.read_wegvakken, "cannot read as NWB wegvakken ("),
    ],
)
def test_broken_file_is_one_input_error(tmp_path: Path, load: object, message: str) -> None:
    path = tmp_path / "kapot.gpkg"
    path.write_bytes(b"no GeoPackage" * 20)
    with pytest.raises(InputError, match="^" + re.escape(f"file '{path}': {message}")):
        load(path)  # type: ignore[operator]


def test_file_ending_and_existence(tmp_path: Path) -> None:
    def message(check: object, name: str) -> str:
        with pytest.raises(InputError) as caught:
            check(tmp_path / name)  # type: ignore[operator]
        return str(caught.value).removeprefix(f"file '{tmp_path / name}': ")

    osm_endings = ".osm.pbf, .pbf, .osm, .osm.gz, .osm.bz2"
    assert message(nwb._check_path, "wegen.csv") == (
        "unknown NWB file type; expected a file ending in .gml, .gpkg, .shp, .shp.zip, .geojson"
    )
    assert message(nwb._check_path, "wegen.GPKG") == "NWB file not found"
    assert message(osm_libraries._check_path, "x.csv") == (
        f"unknown OSM file type; expected a file ending in {osm_endings}"
    )
    assert message(osm_libraries._check_path, "x.osm.pbf") == "OSM file not found"
    assert message(osm._check_path, "wegen.gml") == (
        f"unknown road network file type; expected an OSM file ending in {osm_endings},"
        " or NWB wegvakken (.gml, .gpkg, .shp)"
    )
    assert message(osm._check_path, "NL.OSM.PBF") == "OSM file not found"


def test_row_limit_is_the_same_for_csv_and_xlsx(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("a;b\n" + "".join(f"{i};x\n" for i in range(1001)), encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["a", "b"], *([i, "x"] for i in range(1001))]:
        sheet.append(row)
    xlsx_path = tmp_path / "t.xlsx"
    book.save(xlsx_path)
    for path in (csv_path, xlsx_path):
        assert len(read_table(path, max_rows=1001, what="de lijst").frame) == 1001
        with pytest.raises(InputError) as caught:
            read_table(path, max_rows=1000, what="de lijst")
        assert str(caught.value) == (
            f"file '{path}': more than 1.000 data rows (the limit for de lijst);"
            " is this the right file?"
        )


def test_warnings_name_lines_of_a_csv_and_rows_of_a_sheet(tmp_path: Path) -> None:
    rows = [
        ["naam", "type", "adres", "postcode", "plaats"],
        ["A", "vestiging", "Straat 1", "12345", "Delft"],
        ["B", "vestiging", "Weg 2", "2611 AB", "Delft"],
    ]
    csv_path = tmp_path / "lib.csv"
    csv_path.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    xlsx_path = tmp_path / "lib.xlsx"
    book.save(xlsx_path)
    for path, unit in ((csv_path, "lines"), (xlsx_path, "rows")):
        with pytest.warns(BereikbaarWarning) as caught:
            load_libraries(path)
        assert [str(w.message) for w in caught] == [
            f"file '{path}', column 'postcode': 1 postcode(s) not of the form '1234 AB',"
            f" kept as written ({unit} 2)",
            f"file '{path}': 2 of 2 branches have no coordinates and need geocoding ({unit} 2, 3)",
        ]


def test_unknown_choice_names_the_key_the_guess_and_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(car_speeds_kmh={"residental": 30.0})
    text = str(caught.value)
    assert text.startswith(
        "car_speeds_kmh: unknown road class 'residental' (did you mean 'residential'?)"
        " (expected OSM highway classes: motorway, motorway_link, "
    )
    with pytest.raises(ConfigError) as caught:
        Settings(full_service_types=("qqq",))
    assert str(caught.value) == (
        "full_service_types: unknown branch type 'qqq' (expected any of: vestiging,"
        " servicepunt, afhaalpunt, zelfbediening, bibliobus, bibliotheek_op_school, other)"
    )
