"""Tests for bereikbaar.sources.gemeenten: CBS gemeente boundaries → land polygons in RD New."""

from __future__ import annotations

import pathlib

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from bereikbaar.exceptions import BereikbaarWarning, InputError
from bereikbaar.sources.gemeenten import load_gemeenten, normalise_gemeentecode


def test_normalise_gemeentecode() -> None:
    assert normalise_gemeentecode("GM0363") == "GM0363"
    assert normalise_gemeentecode("363") == "GM0363"
    assert normalise_gemeentecode(14) == "GM0014"
    assert normalise_gemeentecode("gm1900") == "GM1900"
    assert normalise_gemeentecode("") is None
    assert normalise_gemeentecode("Amsterdam") is None
    assert normalise_gemeentecode("GM12345") is None
    assert normalise_gemeentecode(float("nan")) is None


def test_kwb_2024_drops_water_parts(shared_data: pathlib.Path) -> None:
    path = shared_data / "cbs-kwb-2024" / "gemeente_2024.geojson"
    gem = load_gemeenten(path)  # water flag and names from the sibling _stats.parquet
    assert gem.crs is not None and gem.crs.to_epsg() == 28992
    assert list(gem.columns) == ["gemeentecode", "gemeentenaam", "geometry"]
    assert len(gem) == 342
    assert gem["gemeentecode"].is_unique
    assert gem.is_valid.all()
    assert set(gem.geom_type) <= {"Polygon", "MultiPolygon"}
    assert gem.set_index("gemeentecode").loc["GM0363", "gemeentenaam"] == "Amsterdam"

    raw = gpd.read_file(path).to_crs(28992)
    stats = pd.read_parquet(shared_data / "cbs-kwb-2024" / "gemeente_2024_stats.parquet")
    land = stats["water"].eq("NEE").to_numpy()
    assert land.sum() == 342 and (~land).sum() == 81
    # exactly the land features survive: same total area, far less than with the water parts
    assert gem.area.sum() == pytest.approx(raw[land].area.sum(), rel=1e-9)
    assert gem.area.sum() < 0.9 * raw.area.sum()
    # no water part survives: of the 6,457 km² of water parts, < 1 % overlaps the loaded
    # gemeenten (the generalised land and water outlines overlap a little along the shore)
    water = shapely.union_all(raw[~land].geometry.to_numpy())
    loaded = shapely.union_all(gem.geometry.to_numpy())
    assert water.area > 6_000e6
    assert shapely.intersection(water, loaded).area < 0.01 * water.area
    # NL land area (CBS: 33,647 km² for these 342 gemeenten) within generalisation error
    assert 33_000e6 < gem.area.sum() < 36_000e6


def test_explicit_stats_argument(shared_data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    src = shared_data / "cbs-kwb-2024"
    copy = tmp_path / "gemeenten.geojson"  # no sibling stats here
    copy.write_bytes((src / "gemeente_2024.geojson").read_bytes())
    with pytest.raises(InputError, match=r"gemeenten\.geojson', column 'gemeentenaam'"):
        load_gemeenten(copy)
    gem = load_gemeenten(copy, stats=src / "gemeente_2024_stats.parquet")
    assert len(gem) == 342


def test_stats_in_other_order_is_rejected(
    shared_data: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    src = shared_data / "cbs-kwb-2024"
    stats = pd.read_parquet(src / "gemeente_2024_stats.parquet")[["gemeentecode", "water"]]
    stats.iloc[::-1].reset_index(drop=True).to_parquet(tmp_path / "reversed.parquet")
    with pytest.raises(InputError, match=r"reversed\.parquet', row 1, column 'gemeentecode'"):
        load_gemeenten(src / "gemeente_2024.geojson", stats=tmp_path / "reversed.parquet")
    stats.iloc[:10].to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InputError, match=r"short\.parquet'.*10 rows"):
        load_gemeenten(src / "gemeente_2024.geojson", stats=tmp_path / "short.parquet")


def test_gemeenten_2025_invalid_geometries_repaired(shared_data: pathlib.Path) -> None:
    path = shared_data / "gemeenten-2025" / "gemeente_2025.geojson"
    raw = gpd.read_file(path)
    assert (~raw.is_valid).sum() > 0  # the file really has invalid geometries
    n_invalid = int((~raw.is_valid).sum())
    with pytest.warns(BereikbaarWarning, match=f"{n_invalid} invalid gemeente polygon"):
        gem = load_gemeenten(path)
    assert len(gem) == 342
    assert gem.is_valid.all()
    assert set(gem.geom_type) <= {"Polygon", "MultiPolygon"}
    names = gem.set_index("gemeentecode")["gemeentenaam"]
    assert names["GM0363"] == "Amsterdam"
    assert names["GM0599"] == "Rotterdam"
    # Amsterdam's centre (Dam square, RD 121,400 / 487,400) lies inside GM0363
    ams = gem.set_index("gemeentecode").geometry["GM0363"]
    assert ams.contains(shapely.Point(121_400, 487_400))


def _square(x: float, y: float, size: float = 1000) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


def test_parts_sharing_a_code_are_dissolved_and_water_dropped(tmp_path: pathlib.Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "GM_CODE": ["GM0001", "0001", "2", "2"],
            "GM_NAAM": ["Eerste", "Eerste", "Tweede", "Tweede"],
            "WATER": ["NEE", "NEE", "NEE", "JA"],
        },
        geometry=[
            _square(100_000, 400_000),
            _square(103_000, 400_000),
            _square(110_000, 400_000),
            _square(111_000, 400_000, 5000),
        ],
        crs=28992,
    )
    gdf.to_file(tmp_path / "g.gpkg")
    gem = load_gemeenten(tmp_path / "g.gpkg")
    assert gem["gemeentecode"].tolist() == ["GM0001", "GM0002"]
    assert gem["gemeentenaam"].tolist() == ["Eerste", "Tweede"]
    assert gem.geom_type.tolist() == ["MultiPolygon", "Polygon"]
    assert gem.area.tolist() == pytest.approx([2e6, 1e6])


def test_bowtie_is_repaired_keeping_polygonal_parts(tmp_path: pathlib.Path) -> None:
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
    bowtie = shapely.affinity.translate(bowtie, 100_000, 400_000)
    assert not bowtie.is_valid
    gdf = gpd.GeoDataFrame({"statcode": ["GM0005"], "statnaam": ["Vlinder"]}, geometry=[bowtie])
    gdf = gdf.set_crs(28992).to_crs(4326)
    gdf.to_file(tmp_path / "bowtie.geojson")
    with pytest.warns(BereikbaarWarning, match=r"1 invalid gemeente polygon\(s\) \(rows 1;"):
        gem = load_gemeenten(tmp_path / "bowtie.geojson")
    assert gem.is_valid.all()
    assert gem.geom_type.iloc[0] in ("Polygon", "MultiPolygon")
    assert gem.area.iloc[0] == pytest.approx(500_000, rel=1e-3)  # two triangles of 250,000 m²


def test_missing_columns_and_files(tmp_path: pathlib.Path) -> None:
    gdf = gpd.GeoDataFrame({"naam": ["X"]}, geometry=[_square(100_000, 400_000)], crs=28992)
    gdf.to_file(tmp_path / "nocode.gpkg")
    with pytest.raises(InputError, match=r"nocode\.gpkg', column 'gemeentecode'.*statcode"):
        load_gemeenten(tmp_path / "nocode.gpkg")
    gdf = gpd.GeoDataFrame(
        {"statcode": ["GM0001", "Rotterdam"], "statnaam": ["A", "B"]},
        geometry=[_square(100_000, 400_000), _square(102_000, 400_000)],
        crs=28992,
    )
    gdf.to_file(tmp_path / "badcode.gpkg")
    with pytest.raises(InputError, match=r"badcode\.gpkg', row 2, column 'statcode'"):
        load_gemeenten(tmp_path / "badcode.gpkg")
    with pytest.raises(InputError, match=r"absent\.gpkg'.*not found"):
        load_gemeenten(tmp_path / "absent.gpkg")
    (tmp_path / "junk.geojson").write_text("{ not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"junk\.geojson'"):
        load_gemeenten(tmp_path / "junk.geojson")
