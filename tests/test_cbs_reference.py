"""Tests for bereikbaar.sources.cbs_reference: CBS's library distance per gemeente."""

from __future__ import annotations

import pathlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from bereikbaar.exceptions import InputError
from bereikbaar.sources.cbs_reference import load_cbs_reference

KWB = "cbs-kwb-2024"

# A StatLine download (Kerncijfers wijken en buurten, table 85984NED style): cp1252,
# ";", codes padded with spaces, "." for a suppressed value, decimal comma, and
# wijk/buurt rows that must be dropped.
STATLINE_CSV = (
    "ID;WijkenEnBuurten;Gemeentenaam_1;SoortRegio_2;AfstandTotBibliotheek_106\n"
    "0;NL00      ;Nederland                ;Land      ;2,0\n"
    "1;GM0088    ;Schiermonnikoog          ;Gemeente  ;0,6\n"
    "2;WK008800  ;Schiermonnikoog          ;Wijk      ;0,6\n"
    "3;GM1695    ;Noord-Beveland           ;Gemeente  ;14,4\n"
    "4;GM0518    ;'s-Gravenhage            ;Gemeente  ;     .\n"
    "5;GM0503    ;Délft                    ;Gemeente  ;1,1\n"
)


def test_shared_kwb_2024_all_land_gemeenten(shared_data: pathlib.Path) -> None:
    ref = load_cbs_reference(shared_data / KWB / "gemeente_2024_stats.parquet")
    assert len(ref) == 342  # 423 rows minus 81 water parts
    assert ref["gemeentecode"].is_unique
    assert ref["gemeentecode"].str.fullmatch(r"GM\d{4}").all()
    km = ref.set_index("gemeentenaam")["cbs_mean_distance_km"]
    assert km.notna().all()  # no -99997 left over
    assert km["Schiermonnikoog"] == pytest.approx(0.6)
    assert km["Noord-Beveland"] == pytest.approx(14.4)
    assert km.min() == pytest.approx(0.6) and km.max() == pytest.approx(14.4)
    assert km.median() == pytest.approx(1.9)


def test_statline_csv_cp1252(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "kwb.csv"
    path.write_bytes(STATLINE_CSV.encode("cp1252"))
    ref = load_cbs_reference(path)
    assert ref["gemeentecode"].tolist() == ["GM0088", "GM1695", "GM0518", "GM0503"]
    assert ref["gemeentenaam"].tolist()[-1] == "Délft"
    km = ref["cbs_mean_distance_km"].to_numpy()
    assert km[:2].tolist() == [0.6, 14.4]
    assert np.isnan(km[2])  # "." = suppressed
    assert km[3] == pytest.approx(1.1)


def test_gpkg_water_rows_and_suppressed_codes(tmp_path: pathlib.Path) -> None:
    square = shapely.box(0, 0, 1000, 1000)
    frame = gpd.GeoDataFrame(
        {
            "gemeentecode": ["GM0001", "GM0001", "GM0002"],
            "gemeentenaam": ["A", "A", "B"],
            "water": ["NEE", "JA", "NEE"],
            "bibliotheek_gemiddelde_afstand_in_km": [2.5, -99997.0, -99995.0],
        },
        geometry=[square, square, square],
        crs="EPSG:28992",
    )
    path = tmp_path / "wijkbuurtkaart.gpkg"
    frame.to_file(path, layer="gemeenten")
    frame.to_file(path, layer="wijken")
    ref = load_cbs_reference(path)
    assert ref["gemeentecode"].tolist() == ["GM0001", "GM0002"]
    assert ref["cbs_mean_distance_km"].iloc[0] == 2.5
    assert np.isnan(ref["cbs_mean_distance_km"].iloc[1])


def test_missing_distance_column_names_file_and_column(shared_data: pathlib.Path) -> None:
    path = shared_data / KWB / "gemeente_2024.geojson"  # geometry only, no statistics
    with pytest.raises(InputError) as info:
        load_cbs_reference(path)
    msg = str(info.value)
    assert "gemeente_2024.geojson', column 'bibliotheek_gemiddelde_afstand_in_km'" in msg
    assert "AfstandTotBibliotheek_<n>" in msg


def test_wijk_file_and_duplicates(shared_data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # the wijk file has a gemeentecode column with one row per wijk
    with pytest.raises(InputError, match=r"wijk_2024_stats\.parquet', row 2, column"):
        load_cbs_reference(shared_data / KWB / "wijk_2024_stats.parquet")
    path = tmp_path / "geen_gemeenten.csv"
    pd.DataFrame({"statcode": ["WK000101"], "AfstandTotBibliotheek_1": ["1,0"]}).to_csv(
        path, sep=";", index=False
    )
    with pytest.raises(InputError, match="no gemeente rows"):
        load_cbs_reference(path)
    with pytest.raises(InputError, match="not found"):
        load_cbs_reference(tmp_path / "nergens.parquet")
