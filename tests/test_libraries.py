"""Tests for bereikbaar.sources.libraries: KB-style branch lists (CSV/XLSX) → points in RD New."""

from __future__ import annotations

import pathlib

import openpyxl
import pandas as pd
import pytest

from bereikbaar.exceptions import BereikbaarWarning, InputError
from bereikbaar.settings import Settings
from bereikbaar.sources.libraries import (
    load_libraries,
    normalise_branch_type,
    normalise_postcode,
)

# The RD New origin-defining point near Amersfoort: x 155,000 m, y 463,000 m.
AMERSFOORT_LAT, AMERSFOORT_LON = 52.15517440, 5.38720621

DUTCH_CSV = (
    "Vestigingsnummer;Naam;Soort;Straat;Huisnummer;Postcode;Woonplaats;Gemeente;"
    "Breedtegraad;Lengtegraad\n"
    "V01;Bibliotheek Amersfoort Centrum;Hoofdvestiging;Smallepad;7;3811mg;Amersfoort;307;"
    "52,15517440;5,38720621\n"
    "V02;Bibliotheek Délft DOK;Vestiging;Vesteplein;100;2611 WG;Delft;GM0503;52,0114;4,3590\n"
    "V03;Servicepunt Noord;Servicepunt;Dorpsstraat;1;1234AB;Ergens;;52,2;5,3\n"
    "V04;Mini punt;Mini-servicepunt;;;;;;52,21;5,31\n"
    "V05;Afhaal;Afhaalpunt;;;;;;52,22;5,32\n"
    "V06;Zelf 1;Zelfbedieningsbibliotheek;;;;;;52,23;5,33\n"
    "V07;Zelf 2;Zelfbediening;;;;;;52,24;5,34\n"
    "V08;Bus;Bibliobus;;;;;;52,25;5,35\n"
    "V09;Bushalte;Bibliobushalte;;;;;;52,26;5,36\n"
    "V10;School 1;Bibliotheek op school;;;;;;52,27;5,37\n"
    "V11;School 2;BoS;;;;;;52,28;5,38\n"
    "V12;Geen coördinaten;  HOOFD-vestiging ;Markt;2a;9999 zz;Nergens;Utrecht;;\n"
)


def _write_cp1252(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_bytes(text.encode("cp1252"))
    return path


def test_normalise_branch_type_spellings() -> None:
    assert normalise_branch_type("Hoofdvestiging") == "vestiging"
    assert normalise_branch_type("mini servicepunt") == "servicepunt"
    assert normalise_branch_type("ZELFBEDIENINGSBIBLIOTHEEK") == "zelfbediening"
    assert normalise_branch_type("bibliotheek_op_school") == "bibliotheek_op_school"
    with pytest.raises(ValueError, match="Hoofdvestiging"):
        normalise_branch_type("Leeszaal")


def test_normalise_postcode() -> None:
    assert normalise_postcode("3811mg") == "3811 MG"
    assert normalise_postcode(" 2611  wg ") == "2611 WG"
    assert normalise_postcode("NL-2611") is None
    assert normalise_postcode("0123 AB") is None


def test_semicolon_cp1252_dutch_headers_every_spelling(tmp_path: pathlib.Path) -> None:
    path = _write_cp1252(tmp_path / "bibliotheken.csv", DUTCH_CSV)
    with pytest.warns(BereikbaarWarning, match=r"1 of 12 branches have no coordinates.*lines 13"):
        libs = load_libraries(path)
    assert libs.crs is not None and libs.crs.to_epsg() == 28992
    assert libs["library_id"].tolist() == [f"V{i:02d}" for i in range(1, 13)]
    assert libs["branch_type"].tolist() == [
        "vestiging",
        "vestiging",
        "servicepunt",
        "servicepunt",
        "afhaalpunt",
        "zelfbediening",
        "zelfbediening",
        "bibliobus",
        "bibliobus",
        "bibliotheek_op_school",
        "bibliotheek_op_school",
        "vestiging",
    ]
    assert libs["full_service"].tolist() == [True, True] + [False] * 9 + [True]
    assert libs["name"].iloc[1] == "Bibliotheek Délft DOK"  # cp1252 é decoded
    assert libs["address"].iloc[0] == "Smallepad 7"
    assert libs["address"].iloc[11] == "Markt 2a"
    assert pd.isna(libs["address"].iloc[3])
    assert libs["postcode"].tolist()[:3] == ["3811 MG", "2611 WG", "1234 AB"]
    assert libs["place"].iloc[1] == "Delft"
    assert libs["gemeentecode"].tolist()[:2] == ["GM0307", "GM0503"]
    assert pd.isna(libs["gemeentecode"].iloc[2])  # empty
    assert pd.isna(libs["gemeentecode"].iloc[11])  # a name, not a code
    # decimal-comma lat/lon of the Amersfoort reference point → RD 155,000 / 463,000
    assert libs.geometry.iloc[0].x == pytest.approx(155_000, abs=1.0)
    assert libs.geometry.iloc[0].y == pytest.approx(463_000, abs=1.0)
    assert libs["geocode_quality"].tolist() == ["coordinates"] * 11 + ["none"]
    assert libs["needs_geocoding"].tolist() == [False] * 11 + [True]
    assert libs.geometry.iloc[11] is None


def test_full_service_types_from_settings(tmp_path: pathlib.Path) -> None:
    path = _write_cp1252(tmp_path / "b.csv", DUTCH_CSV)
    settings = Settings(full_service_types=("vestiging", "servicepunt"))
    with pytest.warns(BereikbaarWarning):
        libs = load_libraries(path, settings=settings)
    assert libs["full_service"].sum() == 5  # 3 vestigingen + 2 servicepunten


def test_xlsx_with_english_headers(tmp_path: pathlib.Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["name", "type", "address", "postcode", "city", "latitude", "longitude"])
    ws.append(["Bibliotheek Amersfoort", "Vestiging", "Smallepad 7", "3811 MG", "Amersfoort",
               AMERSFOORT_LAT, AMERSFOORT_LON])  # fmt: skip
    ws.append([None, None, None, None, None, None, None])  # blank row is skipped
    ws.append(["Servicepunt Hoogland", "servicepunt", None, 3828, "Hoogland", 52.18, 5.37])
    wb.save(tmp_path / "lijst.xlsx")
    libs = load_libraries(tmp_path / "lijst.xlsx")
    assert libs["library_id"].tolist() == ["lib-0001", "lib-0002"]
    assert libs["branch_type"].tolist() == ["vestiging", "servicepunt"]
    assert libs["address"].iloc[0] == "Smallepad 7"
    assert pd.isna(libs["address"].iloc[1])
    assert libs["postcode"].tolist() == ["3811 MG", "3828"]  # a numeric PC4 cell
    assert libs.geometry.iloc[0].x == pytest.approx(155_000, abs=1.0)
    assert libs.geometry.iloc[0].y == pytest.approx(463_000, abs=1.0)
    assert not libs["needs_geocoding"].any()


def test_rd_xy_list_utf8_bom_comma(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rd.csv"
    path.write_text(
        "id,naam,vestigingstype,rd_x,rd_y\n"
        "A,Bieb A,Vestiging,155000,463000\n"
        "B,Bieb B,Servicepunt,85000.5,446000\n",
        encoding="utf-8-sig",
    )
    libs = load_libraries(path)
    assert libs["library_id"].tolist() == ["A", "B"]
    assert [(p.x, p.y) for p in libs.geometry] == [(155_000.0, 463_000.0), (85_000.5, 446_000.0)]
    assert libs["full_service"].tolist() == [True, False]


def _csv(tmp_path: pathlib.Path, text: str, name: str = "lijst.csv") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_type_names_file_row_column_and_spellings(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam;soort\nA;Vestiging\nB;Leeszaal\n")
    with pytest.raises(InputError) as info:
        load_libraries(path)
    msg = str(info.value)
    assert "lijst.csv', line 3, column 'soort'" in msg
    assert "'Leeszaal'" in msg
    assert "Hoofdvestiging" in msg and "Bibliobushalte" in msg


def test_missing_required_column_lists_aliases(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam;plaats\nA;Delft\n")
    with pytest.raises(InputError) as info:
        load_libraries(path)
    msg = str(info.value)
    assert "lijst.csv', column 'branch_type'" in msg
    assert "type, soort, vestigingstype" in msg
    path = _csv(tmp_path, "type,plaats\nVestiging,Delft\n", name="zondernaam.csv")
    with pytest.raises(InputError, match=r"zondernaam\.csv', column 'name'.*naam"):
        load_libraries(path)


def test_swapped_lat_lon(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam,type,lat,lon\nA,Vestiging,52.0,4.36\nB,Vestiging,4.36,52.0\n")
    with pytest.raises(InputError, match=r"lijst\.csv', line 3, column 'lat'.*swapped"):
        load_libraries(path)


def test_rd_values_in_lat_lon_columns(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam,type,latitude,longitude\nA,Vestiging,463000,155000\n")
    with pytest.raises(InputError, match=r"line 2, column 'latitude'.*RD x/y"):
        load_libraries(path)


def test_lat_lon_in_rd_columns_and_outside_nl(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam,type,x,y\nA,Vestiging,155000,463000\nB,Vestiging,5.38,52.15\n")
    with pytest.raises(InputError, match=r"line 3, column 'x'.*lat/lon"):
        load_libraries(path)
    path = _csv(tmp_path, "naam,type,x,y\nA,Vestiging,463000,155000\n", name="swap.csv")
    with pytest.raises(InputError, match=r"swap\.csv', line 2.*outside the Netherlands.*swapped"):
        load_libraries(path)
    paris = _csv(tmp_path, "naam,type,lat,lon\nParijs,Vestiging,48.853,2.349\n", name="p.csv")
    with pytest.raises(InputError, match=r"p\.csv', line 2, column 'lat'.*outside the Netherlands"):
        load_libraries(paris)


def test_duplicate_id_names_both_rows(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "id;naam;type\nX1;A;Vestiging\nX2;B;Vestiging\nX1;C;Servicepunt\n")
    with pytest.raises(InputError, match=r"lijst\.csv', line 4, column 'id'.*'X1'.*also on line 2"):
        load_libraries(path)


def test_half_coordinates_and_bad_numbers(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam,type,lat,lon\nA,Vestiging,52.1,\n")
    with pytest.raises(InputError, match=r"line 2, column 'lon'.*empty"):
        load_libraries(path)
    path = _csv(tmp_path, "naam,type,lat,lon\nA,Vestiging,52.1,vijf\n", name="n.csv")
    with pytest.raises(InputError, match=r"n\.csv', line 2, column 'lon'.*'vijf'"):
        load_libraries(path)


def test_bad_postcode_is_kept_with_warning(tmp_path: pathlib.Path) -> None:
    path = _csv(tmp_path, "naam,type,postcode,x,y\nA,Vestiging,12345,155000,463000\n")
    with pytest.warns(BereikbaarWarning, match=r"1 postcode.*lines 2"):
        libs = load_libraries(path)
    assert libs["postcode"].tolist() == ["12345"]


def test_missing_empty_and_headerless_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError, match=r"weg\.csv'.*not found"):
        load_libraries(tmp_path / "weg.csv")
    with pytest.raises(InputError, match=r"leeg\.csv'.*empty"):
        load_libraries(_csv(tmp_path, "", name="leeg.csv"))
    with pytest.raises(InputError, match=r"kop\.csv'.*no data rows"):
        load_libraries(_csv(tmp_path, "naam;type\n", name="kop.csv"))
    (tmp_path / "kapot.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match=r"kapot\.xlsx'.*XLSX"):
        load_libraries(tmp_path / "kapot.xlsx")


def test_capacity_columns_pass_through_as_numbers(tmp_path: pathlib.Path) -> None:
    csv = tmp_path / "lijst.csv"
    csv.write_text(
        "naam;type;x;y;Openingsuren\nA;Vestiging;155000;463000;32,5\nB;Servicepunt;156000;463000;8\n",
        encoding="utf-8",
    )
    libs = load_libraries(csv)
    assert libs["openingsuren"].tolist() == [32.5, 8.0]
    csv.write_text("naam;type;x;y;openingsuren\nA;Vestiging;155000;463000;veel\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2, column 'openingsuren'"):
        load_libraries(csv)
