"""Tests for bereikbaar.sources.cbs_grid: cell code ↔ square, suppressed values, real CBS files."""

from __future__ import annotations

import math
import pathlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from bereikbaar.exceptions import BereikbaarWarning, InputError
from bereikbaar.sources.cbs_grid import (
    cell_codes_to_squares,
    cell_square,
    load_cbs_grid,
    point_to_cell_code,
)

VIERKANT = "cbs-vierkant-2024-rijnmond"


# --------------------------------------------------------------------------- pure helpers


def test_cell_square_is_lower_left_corner_in_hectometres() -> None:
    sq = cell_square("E0974N4514")
    assert sq.bounds == (97400.0, 451400.0, 97500.0, 451500.0)
    assert sq.area == 10_000.0
    big = cell_square("e0975n4520", 500)
    assert big.bounds == (97500.0, 452000.0, 98000.0, 452500.0)
    assert big.area == 250_000.0


def test_cell_codes_to_squares_matches_scalar_helper() -> None:
    codes = np.array(["E0974N4514", "E0001N3000", "E2999N6289"], dtype=object)
    squares = cell_codes_to_squares(codes)
    assert len(squares) == 3
    for code, sq in zip(codes, squares, strict=True):
        assert sq.equals(cell_square(code))
    assert squares[1].bounds == (100.0, 300000.0, 200.0, 300100.0)


@pytest.mark.parametrize("code", ["E974N4514", "E0974-N4514", "N4514E0974", "", "E09740N4514"])
def test_malformed_code_raises(code: str) -> None:
    with pytest.raises(ValueError, match="position 0"):
        cell_codes_to_squares([code])


def test_500m_code_must_be_on_500m_grid() -> None:
    with pytest.raises(ValueError, match="500 m grid"):
        cell_square("E0974N4514", 500)


def test_point_to_cell_code_hand_values() -> None:
    assert point_to_cell_code(97_450.0, 451_450.0) == "E0974N4514"
    assert point_to_cell_code(97_499.99, 451_400.0) == "E0974N4514"
    assert point_to_cell_code(97_500.0, 451_400.0) == "E0975N4514"
    assert point_to_cell_code(97_999.0, 452_499.0, 500) == "E0975N4520"
    assert point_to_cell_code(5_000.0, 300_000.0) == "E0050N3000"
    with pytest.raises(ValueError):
        point_to_cell_code(-1.0, 400_000.0)
    with pytest.raises(ValueError):
        point_to_cell_code(1.0, 400_000.0, 250)


@given(
    x=st.floats(0, 299_999.99, allow_nan=False),
    y=st.floats(289_000, 628_999.99, allow_nan=False),
    res=st.sampled_from([100, 500]),
)
def test_point_lies_in_the_square_of_its_code(x: float, y: float, res: int) -> None:
    code = point_to_cell_code(x, y, res)
    minx, miny, maxx, maxy = cell_square(code, res).bounds
    assert minx <= x < maxx
    assert miny <= y < maxy
    assert maxx - minx == res


# --------------------------------------------------------------------------- real CBS files


def _centroid_offsets(cells: gpd.GeoDataFrame, points_file: pathlib.Path, code_col: str) -> float:
    points = gpd.read_file(points_file).to_crs(28992).set_index(code_col)
    joined = cells.set_index("cell_id").join(points.geometry.rename("point"), how="inner")
    assert len(joined) == len(cells)
    centroids = shapely.centroid(joined.geometry.to_numpy())
    pts = gpd.GeoSeries(joined["point"].to_numpy(), crs=28992).to_numpy()
    return float(shapely.distance(centroids, pts).max())


@pytest.mark.parametrize(
    ("res", "rows", "population"),
    [(100, 16_383, 1_299_500), (500, 1_641, 1_309_120)],
)
def test_real_stats_parquet_code_only(
    shared_data: pathlib.Path, res: int, rows: int, population: int
) -> None:
    folder = shared_data / VIERKANT
    cells = load_cbs_grid(folder / f"grid_{res}m_rijnmond_stats.parquet")
    assert cells.crs is not None and cells.crs.to_epsg() == 28992
    assert len(cells) == rows
    assert cells["population"].sum() == population
    assert cells.attrs["resolution_m"] == res
    assert cells.attrs["suppressed"] == 0
    assert cells["cell_id"].is_unique
    assert (cells.geom_type == "Polygon").all()
    np.testing.assert_allclose(cells.area, res * res)
    bounds = cells.bounds.to_numpy()
    assert (bounds % res == 0).all()  # squares lie exactly on the grid
    assert cells["gemeentecode"].isna().all()
    for col in ("population_0_15", "population_65plus"):
        values = cells[col].dropna()
        assert (values >= 0).all()
        assert (values <= cells.loc[values.index, "population"]).all()
    # centroid of each square = the point CBS published for it (rounded to 1e-5 degrees)
    offset = _centroid_offsets(
        cells, folder / f"grid_{res}m_rijnmond.geojson", f"crs28992res{res}m"
    )
    assert offset < 1.0


def test_real_geojson_points_load_with_sibling_stats(shared_data: pathlib.Path) -> None:
    folder = shared_data / VIERKANT
    from_points = load_cbs_grid(folder / "grid_500m_rijnmond.geojson")
    from_stats = load_cbs_grid(folder / "grid_500m_rijnmond_stats.parquet")
    assert len(from_points) == 1_641
    assert from_points["population"].sum() == 1_309_120
    assert sorted(from_points["cell_id"]) == sorted(from_stats["cell_id"])
    assert from_points.geometry.geom_equals(from_stats.geometry).all()


def test_real_points_argument_checks_consistency(
    shared_data: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    folder = shared_data / VIERKANT
    stats = folder / "grid_100m_rijnmond_stats.parquet"
    cells = load_cbs_grid(stats, points=folder / "grid_100m_rijnmond.geojson")
    assert len(cells) == 16_383
    # move one published centroid 200 m east: it no longer lies in its own cell
    points = gpd.read_file(folder / "grid_100m_rijnmond.geojson").to_crs(28992)
    points.loc[7, "geometry"] = shapely.Point(points.geometry[7].x + 200, points.geometry[7].y)
    with pytest.raises(InputError, match=r"row 8, column 'crs28992res100m'.*outside cell"):
        load_cbs_grid(stats, points=points)


# --------------------------------------------------------------------------- hand-written files


def test_csv_with_suppressed_values(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "vk100.csv"
    path.write_text(
        "C28992R100;INWONER;INW_014;INW_65PL\n"
        "E0974N4514;25;5;-99997\n"
        "E0974N4515;-99997;-99997;-99997\n"
        "E0974N4516;;;\n"
        "E0975N4514;40;10;15\n"
        "E0975N4515;-99995;0;0\n",
        encoding="utf-8",
    )
    with pytest.warns(BereikbaarWarning, match="3 of 5 cells"):
        cells = load_cbs_grid(path)
    assert cells["cell_id"].tolist() == [
        "E0974N4514",
        "E0974N4515",
        "E0974N4516",
        "E0975N4514",
        "E0975N4515",
    ]
    assert cells.attrs["suppressed"] == 3
    assert cells.attrs["resolution_m"] == 100
    pop = cells["population"].to_numpy()
    assert pop[0] == 25 and pop[3] == 40
    assert np.isnan(pop[[1, 2, 4]]).all()
    assert np.nansum(pop) == 65  # suppressed cells are never negative
    assert cells["population_0_15"].tolist()[0] == 5
    assert math.isnan(cells["population_65plus"].tolist()[0])
    assert cells.geometry[3].bounds == (97500.0, 451400.0, 97600.0, 451500.0)


def test_comma_csv_500m_with_gemeentecode(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "vk500.csv"
    path.write_text(
        "crs28992res500m,aantal_inwoners,gemeentecode\nE0975N4520,1230,363\nE0980N4520,85,GM0599\n",
        encoding="utf-8",
    )
    cells = load_cbs_grid(path)
    assert cells.attrs["resolution_m"] == 500
    assert cells["gemeentecode"].tolist() == ["GM0363", "GM0599"]
    assert cells["population"].tolist() == [1230.0, 85.0]
    assert "population_0_15" not in cells.columns
    assert cells.geometry[1].bounds == (98000.0, 452000.0, 98500.0, 452500.0)


def test_geopackage_squares_in_wgs84_and_geoparquet(tmp_path: pathlib.Path) -> None:
    codes = ["E0974N4514", "E0975N4514"]
    squares = gpd.GeoDataFrame(
        {"crs28992res100m": codes, "aantal_inwoners": [10, 20]},
        geometry=list(cell_codes_to_squares(codes)),
        crs=28992,
    ).to_crs(4326)
    squares.to_file(tmp_path / "cells.gpkg")
    squares.to_parquet(tmp_path / "cells.parquet")
    for name in ("cells.gpkg", "cells.parquet"):
        cells = load_cbs_grid(tmp_path / name)
        assert cells["population"].tolist() == [10.0, 20.0]
        assert cells.geometry[0].bounds == (97400.0, 451400.0, 97500.0, 451500.0)


def test_geometry_inconsistent_with_code_names_row(tmp_path: pathlib.Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"crs28992res100m": ["E0974N4514", "E0975N4514"], "aantal_inwoners": [10, 20]},
        geometry=[shapely.Point(97450, 451450), shapely.Point(97450, 451450)],
        crs=28992,
    )
    gdf.to_file(tmp_path / "wrong.gpkg")
    with pytest.raises(InputError, match=r"wrong\.gpkg', row 2, column 'crs28992res100m'"):
        load_cbs_grid(tmp_path / "wrong.gpkg")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("crs28992res100m,aantal_inwoners\nE0974N4514,10\nE0974N45x5,20\n", r"line 3.*E0974N45X5"),
        ("crs28992res100m,aantal_inwoners\nE0974N4514,10\nE0974N4515,veel\n", r"line 3.*'veel'"),
        ("crs28992res500m,aantal_inwoners\nE0975N4520,10\nE0974N4520,20\n", r"line 3.*500 m grid"),
        ("crs28992res100m,aantal_inwoners\nE0974N4514,10\nE0974N4514,20\n", r"line 3.*duplicate"),
        (
            "crs28992res100m,crs28992res500m,aantal_inwoners\nE0974N4514,,10\n,E0975N4520,20\n",
            r"line 3, column 'crs28992res500m'.*mixed resolutions",
        ),
        ("crs28992res100m,aantal\nE0974N4514,10\n", r"no population column"),
        ("code,aantal_inwoners\nE0974N4514,10\n", r"no cell-code column"),
    ],
)
def test_bad_csv_raises_with_row(tmp_path: pathlib.Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv'") as info:
        load_cbs_grid(path)
    assert pd.Series([str(info.value)]).str.contains(expected).all(), str(info.value)


def test_missing_and_empty_files_name_the_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError, match=r"nothere\.parquet'.*not found"):
        load_cbs_grid(tmp_path / "nothere.parquet")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv'"):
        load_cbs_grid(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("crs28992res100m;aantal_inwoners\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"header\.csv'.*no rows"):
        load_cbs_grid(header_only)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match=r"broken\.parquet'.*cannot read"):
        load_cbs_grid(broken)
