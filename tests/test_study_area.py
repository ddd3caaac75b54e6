"""Tests for bereikbaar.sources.study_area: provinces, gemeentecodes, buffers and province runs."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from bereikbaar.cli import main
from bereikbaar.engine.network import Network
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import ConfigError
from bereikbaar.pipeline import run
from bereikbaar.settings import Settings
from bereikbaar.sources.study_area import (
    PROVINCES,
    StudyArea,
    clip_network,
    resolve_study_area,
)


def test_provinces_cover_every_land_gemeente_of_2024_once(shared_data: pathlib.Path) -> None:
    stats = pd.read_parquet(shared_data / "cbs-kwb-2024" / "gemeente_2024_stats.parquet")
    land = stats.loc[stats["water"] == "NEE"].set_index("gemeentecode")["gemeentenaam"]
    codes = [c for province in PROVINCES.values() for c in province]
    assert len(PROVINCES) == 12
    assert len(codes) == len(set(codes)) == 342
    assert set(codes) == set(land.index)
    assert {len(v) for k, v in PROVINCES.items() if k in ("Zuid-Holland", "Zeeland")} == {50, 13}
    names = {land[c] for c in PROVINCES["Zeeland"]}
    assert {"Noord-Beveland", "Middelburg (Z.)", "Vlissingen"} <= names
    assert land["GM0599"] == "Rotterdam" and "GM0599" in PROVINCES["Zuid-Holland"]
    assert land["GM0088"] == "Schiermonnikoog" and "GM0088" in PROVINCES["Fryslân"]


def test_resolve_study_area_spellings() -> None:
    assert resolve_study_area(["zuid holland"]) == resolve_study_area(["Zuid-Holland"])
    assert resolve_study_area(["Friesland"]) == resolve_study_area(["Fryslân"])
    assert resolve_study_area(["GM0599,0489", " 599 "]) == ("GM0489", "GM0599")
    assert len(resolve_study_area(["Zeeland", "GM0599"])) == 14
    assert resolve_study_area([]) == ()
    with pytest.raises(ConfigError, match="'Gelre' is neither a province"):
        resolve_study_area(["Gelre"])


def test_clip_network_keeps_arcs_with_both_ends_inside() -> None:
    # a path 0 -1 -2 -3 along the x axis, 1 km apart; two-way except 2->3
    net = Network(
        x=np.array([0.0, 1000.0, 2000.0, 3000.0]),
        y=np.zeros(4),
        u=np.array([0, 1, 1, 2, 2]),
        v=np.array([1, 0, 2, 1, 3]),
        length_m=np.full(5, 1000.0),
        node_id=np.array([10, 11, 12, 13]),
    )
    clipped = clip_network(net, shapely.box(-10, -10, 2500, 10))
    assert clipped.n_nodes == 3 and clipped.n_arcs == 4
    assert clipped.node_id is not None and clipped.node_id.tolist() == [10, 11, 12]
    assert clipped.length_m.sum() == 4000.0


def test_study_area_errors() -> None:
    gemeenten = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0001"], "gemeentenaam": ["A"]},
        geometry=[shapely.box(0, 0, 10, 10)],
        crs="EPSG:28992",
    )
    with pytest.raises(ConfigError, match=r"1 gemeentecode\(s\) not in the gemeenten file"):
        StudyArea.build(gemeenten, ["GM0002"], 1000.0)
    with pytest.raises(ConfigError, match="empty"):
        StudyArea.build(gemeenten, [" , "], 1000.0)
    with pytest.raises(ConfigError, match="study_buffer_m"):
        Settings(study_buffer_m=-1.0)


@pytest.fixture(scope="module")
def demo_settings(
    tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[pathlib.Path], DemoInputs]
) -> Settings:
    raw = tmp_path_factory.mktemp("demo_raw")
    inputs = demo_copy(raw)
    # CBS's own figure for the demo gemeenten, as a StatLine-style CSV
    (raw / "kwb.csv").write_text(
        "WijkenEnBuurten;AfstandTotBibliotheek_106\nGM9002    ;10,7\nGM9003    ;0,9\n",
        encoding="utf-8",
    )
    settings = Settings.from_toml(inputs.config)
    return dataclasses.replace(
        settings, inputs=dataclasses.replace(settings.inputs, cbs_reference=raw / "kwb.csv")
    )


def test_one_gemeente_study_area_counts_the_library_across_its_border(
    demo_settings: Settings, tmp_path: pathlib.Path
) -> None:
    without_cbs = dataclasses.replace(demo_settings.inputs, cbs_reference=None)
    full = run(dataclasses.replace(demo_settings, out_dir=tmp_path / "alles", inputs=without_cbs))
    one = run(dataclasses.replace(demo_settings, out_dir=tmp_path / "een", study_area=("GM9002",)))
    # only Lange Velden is summarised; it has no full-service library of its own
    assert one.summary["gemeentecode"].tolist() == ["GM9002"]
    assert one.summary["full_service_libraries"].iloc[0] == 0
    # the cells are those of GM9002 only (same residents as in the whole-region run),
    # and all reach a library outside it
    full_row = full.summary.set_index("gemeentecode").loc["GM9002"]
    assert one.summary["population"].iloc[0] == full_row["population"]
    polygon = full.summary.set_index("gemeentecode").geometry.loc["GM9002"]
    assert one.cells.geometry.centroid.within(polygon).all()
    assert one.cells["reachable"].all()
    used = set(one.cells["library_id"])
    libs = one.libraries.set_index("library_id")
    assert used and not libs.loc[sorted(used), "gemeentecode"].eq("GM9002").any()
    # with the 20 km buffer the result is the same as in the whole-region run
    mean_km = one.summary["mean_distance_km"].iloc[0]
    assert mean_km == pytest.approx(full_row["mean_distance_km"], rel=1e-9)
    assert one.network.n_arcs <= full.network.n_arcs
    assert len(one.libraries) <= len(full.libraries)
    # the CBS comparison: column in the gemeenten table and vergelijking_cbs.csv
    row = one.summary.iloc[0]
    assert row["cbs_mean_distance_km"] == pytest.approx(10.7)
    # vestigingen + servicepunten: never farther than vestigingen alone
    assert row["cbs_comparable_mean_km"] <= row["mean_distance_km"] + 1e-9
    assert row["cbs_difference_km"] == pytest.approx(row["cbs_comparable_mean_km"] - 10.7)
    csv = (tmp_path / "een" / "vergelijking_cbs.csv").read_text(encoding="utf-8-sig")
    assert csv.splitlines()[1].startswith("GM9002;Lange Velden;")
    assert one.provenance["cbs_vergelijking"]["n_compared"] == 1
    assert "cbs_reference" in one.provenance["inputs"]


def test_small_buffer_loses_the_nearest_library(demo_settings: Settings) -> None:
    gemeenten = gpd.read_file(demo_settings.inputs.gemeenten)  # type: ignore[arg-type]
    wide = StudyArea.build(gemeenten, ["GM9002"], 20_000.0)
    narrow = StudyArea.build(gemeenten, ["GM9002"], 0.0)
    assert narrow.buffer.area < wide.buffer.area
    assert wide.buffer.contains(wide.area)


def test_cli_gebied(
    demo_settings: Settings, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_settings.inputs.network.parent / "demo.toml"  # type: ignore[union-attr]
    code = main(["-q", "run", str(config), "--gebied", "Atlantis", "--out", str(tmp_path)])
    assert code == 2
    assert "'Atlantis' is neither a province" in capsys.readouterr().err
    code = main(["-q", "run", str(config), "--gebied", "GM9002, GM9003", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_parquet(tmp_path / "gemeenten.parquet")
    assert sorted(table["gemeentecode"]) == ["GM9002", "GM9003"]
