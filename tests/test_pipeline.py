"""The whole pipeline on the demo region, and the CLI around it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.pipeline import RunResult


@pytest.fixture(scope="module")
def demo(demo_run: tuple[RunResult, Path]) -> tuple[RunResult, Path]:
    return demo_run


def test_demo_flags_the_designed_gemeenten_for_the_designed_reasons(
    demo: tuple[RunResult, Path],
) -> None:
    result, _ = demo
    s = result.summary.set_index("gemeentecode")
    assert set(result.flagged["gemeentecode"]) == {"GM9002", "GM9004", "GM9005"}
    codes = {
        gc: [r[:3] for r in s.loc[gc, "reasons"].split("; ")]
        for gc in result.flagged["gemeentecode"]
    }
    # Lange Velden: only a servicepunt and an afhaalpunt, every resident > 5 km away
    assert codes["GM9002"] == ["(a)", "(b)", "(c)"]
    assert s.loc["GM9002", "full_service_libraries"] == 0
    # Oost-Eiland: reached only by the ferry
    assert codes["GM9004"] == ["(a)", "(b)", "(c)"]
    # Westerhoek has a vestiging, but Achterveld (8 km away) holds > 25 % of residents
    assert codes["GM9005"] == ["(b)"]
    assert s.loc["GM9005", "full_service_libraries"] == 1
    assert s.loc["GM9005", "mean_distance_km"] < 5
    assert s.loc["GM9005", "share_beyond"] >= 0.25
    for gc in ("GM9001", "GM9003"):
        assert not s.loc[gc, "te_groot"]
        assert s.loc[gc, "reasons"] == ""


def test_demo_aggregation_preserves_population(demo: tuple[RunResult, Path]) -> None:
    result, _ = demo
    assert result.summary["population"].sum() == pytest.approx(
        np.nansum(result.cells["population"].to_numpy())
    )
    # every demo cell is reachable (the island through the ferry)
    assert result.cells["reachable"].all()
    # target groups are aggregated too
    assert "mean_distance_km_0_15" in result.summary.columns
    assert "mean_distance_km_65plus" in result.summary.columns


def test_demo_distances_are_at_least_straight_line(demo: tuple[RunResult, Path]) -> None:
    result, _ = demo
    cells = result.cells
    libs = result.libraries.set_index("library_id")
    lib_pts = gpd.GeoSeries(libs.loc[cells["library_id"], "geometry"].to_numpy(), crs=cells.crs)
    straight = cells.geometry.centroid.reset_index(drop=True).distance(lib_pts)
    assert (cells["distance_m"].to_numpy() >= straight.to_numpy() - 1e-6).all()


def test_demo_outputs(demo: tuple[RunResult, Path]) -> None:
    _, base = demo
    out = base / "out"
    for name in (
        "kaart.html",
        "rapport.html",
        "gemeenten.csv",
        "gemeenten.gpkg",
        "cells.gpkg",
        "run.json",
    ):
        assert (out / name).stat().st_size > 0, name
    csv = pd.read_csv(out / "gemeenten.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert len(csv) == 5
    layers = {name for name, _ in pyogrio.list_layers(out / "gemeenten.gpkg")}
    assert {"gemeenten", "bibliotheken"} <= layers
    prov = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert set(prov["inputs"]) == {"network", "cells", "libraries", "gemeenten"}
    assert all(len(v["sha256"]) == 64 for v in prov["inputs"].values())
    assert prov["counts"]["te_groot"] == 3
    assert any("geocoding" in w for w in prov["warnings"])
    # one timing per stage, under the stage's own name (a loop variable once renamed one)
    from bereikbaar.pipeline import SITES_STAGE, STAGES

    stages = [*STAGES[:-1], SITES_STAGE, STAGES[-1], "rapport schrijven"]
    assert list(prov["timings_s"]) == stages
    assert not list(out.glob("*.tmp*"))


def test_cli_demo_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "demo", "--out", str(tmp_path / "o"), "--raw", str(tmp_path / "r")]) == 0
    assert (tmp_path / "o" / "kaart.html").exists()
    config = tmp_path / "r" / "demo.toml"
    assert main(["-q", "run", str(config), "--out", str(tmp_path / "o2")]) == 0
    a = (tmp_path / "o" / "gemeenten.csv").read_bytes()
    b = (tmp_path / "o2" / "gemeenten.csv").read_bytes()
    assert a == b  # same inputs, byte-identical table
    # the demo's writing of its input files is work of the run: timed, first
    from bereikbaar.examples.demo import INPUTS_STAGE

    timings = [
        json.loads((tmp_path / o / "run.json").read_text())["timings_s"] for o in ["o", "o2"]
    ]
    assert next(iter(timings[0])) == INPUTS_STAGE and timings[0][INPUTS_STAGE] > 0
    assert list(timings[0])[1:] == list(timings[1])


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('mode = "boat"\n', "mode"),
        ("colour = 3\n", "unknown key 'colour'"),
        ('[inputs]\nnetwork = "nope.osm.pbf"\n', "inputs.network"),
        ("[flag_rule]\nthreshold_km = 'vijf'\n", "flag_rule.threshold_km"),
        ("mode = \n", "not valid TOML"),
    ],
)
def test_cli_bad_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, needle: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml, encoding="utf-8")
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert needle in err
    assert str(cfg) in err
    assert "Traceback" not in err


def test_run_geocodes_offline_from_an_address_table(
    tmp_path: Path, demo_copy: Callable[[Path], DemoInputs]
) -> None:
    from bereikbaar.pipeline import run
    from bereikbaar.settings import Settings

    inputs = demo_copy(tmp_path / "raw")
    table = tmp_path / "raw" / "adressen.csv"
    # the demo's one branch without coordinates: Zuiderbaan 12a, 9922 JK Middeldorp
    table.write_text(
        "postcode;huisnummer;toevoeging;woonplaats;x;y\n9922 JK;12;a;Middeldorp;206100;558900\n",
        encoding="utf-8",
    )
    cfg = inputs.config.read_text(encoding="utf-8").replace(
        "[inputs]\n", 'geocoder = "table"\n\n[inputs]\naddress_table = "adressen.csv"\n'
    )
    # top-level keys must precede the first table in TOML
    cfg = cfg.replace('geocoder = "table"\n\n[inputs]', "[inputs]").replace(
        'mode = "car"', 'mode = "car"\ngeocoder = "table"'
    )
    inputs.config.write_text(cfg, encoding="utf-8")
    settings = Settings.from_toml(inputs.config)
    import dataclasses

    result = run(dataclasses.replace(settings, out_dir=tmp_path / "out"))
    libs = result.libraries.set_index("name")
    row = libs.loc["Afhaalpunt Middeldorp-Zuid (Supermarkt De Hoek)"]
    assert row.geometry.x == pytest.approx(206100) and row.geometry.y == pytest.approx(558900)
    assert row["geocode_quality"] == "adres"
    assert not any("need geocoding" in w for w in result.provenance["warnings"])


def test_run_compares_with_cbs_in_tables_and_map(
    tmp_path: Path, demo_copy: Callable[[Path], DemoInputs]
) -> None:
    import dataclasses

    from bereikbaar.pipeline import run
    from bereikbaar.settings import Inputs, Settings

    inputs = demo_copy(tmp_path / "raw")
    ref = tmp_path / "raw" / "kwb.csv"
    ref.write_text(
        "gemeentecode;gemeentenaam;water;bibliotheek_gemiddelde_afstand_in_km\n"
        + "".join(f"GM900{i};G{i};NEE;{i},5\n" for i in range(1, 6)),
        encoding="utf-8",
    )
    base = Settings.from_toml(inputs.config)
    settings = dataclasses.replace(
        base,
        inputs=dataclasses.replace(base.inputs, cbs_reference=ref),
        out_dir=tmp_path / "out",
    )
    assert isinstance(settings.inputs, Inputs)
    result = run(settings)
    s = result.summary.set_index("gemeentecode")
    assert s.loc["GM9003", "cbs_mean_distance_km"] == pytest.approx(3.5)
    # CBS counts vestigingen and servicepunten: never farther than our vestiging-only figure
    assert (s["cbs_comparable_mean_km"] <= s["mean_distance_km"] + 1e-9).all()
    assert (tmp_path / "out" / "vergelijking_cbs.csv").exists()
    csv = pd.read_csv(
        tmp_path / "out" / "gemeenten.csv", sep=";", decimal=",", encoding="utf-8-sig"
    )
    assert "Gemiddelde afstand volgens CBS (km)" in csv.columns
    html = (tmp_path / "out" / "kaart.html").read_text(encoding="utf-8")
    assert "CBS: 3,5 km" in html


def test_site_suggestions_setting(tmp_path: Path, demo_copy: Callable[[Path], DemoInputs]) -> None:
    import dataclasses

    from bereikbaar.exceptions import ConfigError
    from bereikbaar.pipeline import run
    from bereikbaar.settings import Settings

    inputs = demo_copy(tmp_path / "raw")
    base = Settings.from_toml(inputs.config)
    off = run(dataclasses.replace(base, site_suggestions=0, out_dir=tmp_path / "off"))
    html = (tmp_path / "off" / "rapport.html").read_text(encoding="utf-8")
    assert off.outputs["rapport"].exists()
    one = run(dataclasses.replace(base, site_suggestions=1, out_dir=tmp_path / "one"))
    html_one = (tmp_path / "one" / "rapport.html").read_text(encoding="utf-8")
    # with suggestions every flagged gemeente gets a ranked site; without, none is drawn
    site_1 = re.compile(r'id="site-GM\d{4}-1"')  # a site's mark on a dossier map
    assert len(site_1.findall(html_one)) == len(one.flagged)
    assert 'id="site-' not in html
    # only the flagged gemeente with the most residents beyond 5 km gets suggestions
    top = one.flagged.sort_values("population_beyond", ascending=False)["gemeentecode"].iloc[0]
    cap = run(
        dataclasses.replace(
            base, site_suggestions=1, site_suggestions_max_gemeenten=1, out_dir=tmp_path / "cap"
        )
    )
    html_cap = (tmp_path / "cap" / "rapport.html").read_text(encoding="utf-8")
    assert len(site_1.findall(html_cap)) == 1
    assert any("niet voor 2 andere" in w for w in cap.provenance["warnings"])
    assert top == "GM9002"  # Lange Velden: 8,130 residents all beyond 5 km
    with pytest.raises(ConfigError, match="whole number"):
        Settings.from_dict({"site_suggestions": 2.5})
    # by default every flagged gemeente gets suggestions; the cap stays a whole number
    assert Settings().site_suggestions_max_gemeenten is None
    assert (
        Settings.from_dict({"site_suggestions_max_gemeenten": 4}).site_suggestions_max_gemeenten
        == 4
    )
    with pytest.raises(ConfigError, match="whole number"):
        Settings.from_dict({"site_suggestions_max_gemeenten": -1})
