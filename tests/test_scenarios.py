"""Tests of bereikbaar.scenarios: what-if, closure ranking, suggested sites, 2SFCA."""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from bereikbaar import scenarios as sc
from bereikbaar.accessibility import (
    Snapped,
    nearest_library,
    nearest_library_with_snaps,
    snap_to_arcs,
)
from bereikbaar.aggregate import cell_gemeenten
from bereikbaar.engine import bounded
from bereikbaar.exceptions import GeocodeError, InputError
from bereikbaar.network import Network
from bereikbaar.pipeline import RunResult, run
from bereikbaar.schema import CRS_RD, DISTANCE_M, LIBRARY_ID, TE_GROOT
from bereikbaar.settings import Settings

MIDDELDORP = "GM9003"
WESTERHOEK = "GM9005"


@pytest.fixture(scope="module")
def demo(demo_run: tuple[RunResult, Path]) -> tuple[RunResult, Path]:
    return demo_run


@pytest.fixture(scope="module")
def base(demo: tuple[RunResult, Path]) -> sc.Baseline:
    return sc.prepare_baseline(demo[0])


def _lib_id(result: RunResult | sc.Baseline, name: str) -> str:
    libs = result.libraries
    hit = libs[libs["name"] == name]
    assert len(hit) == 1
    return str(hit[LIBRARY_ID].iloc[0])


def _row(summary: pd.DataFrame, code: str) -> pd.Series:
    return summary.set_index("gemeentecode").loc[code]


# --------------------------------------------------------------------------- scenario


def test_no_change_reproduces_the_baseline(demo: tuple[RunResult, Path], base: sc.Baseline) -> None:
    result = demo[0]
    s = sc.scenario(base)
    for col in ("distance_m", "time_s", "snap_m"):
        assert np.array_equal(
            s.cells[col].to_numpy(), result.cells[col].to_numpy(), equal_nan=True
        ), col
    assert (s.cells[LIBRARY_ID].to_numpy() == result.cells[LIBRARY_ID].to_numpy()).all()
    assert (s.deltas["flag_change"] == "").all()
    assert (s.deltas["mean_distance_km_delta"].fillna(0) == 0).all()


def test_baseline_uses_the_settings_the_run_carries(
    demo: tuple[RunResult, Path], base: sc.Baseline
) -> None:
    result = demo[0]
    assert result.settings is not None
    assert base.settings is result.settings
    # a result built by hand without settings: rebuilt from the provenance, same answers
    bare = sc.prepare_baseline(dataclasses.replace(result, settings=None))
    for name in ("flag_rule", "full_service_types", "max_snap_m", "mode", "dask_scheduler"):
        assert getattr(bare.settings, name) == getattr(result.settings, name), name
    assert np.array_equal(bare.origins.arc, base.origins.arc)
    # a scenario is its own baseline
    s = sc.scenario(base)
    assert sc.prepare_baseline(s).libraries is s.libraries


def _same_snaps(a: Any, b: Any) -> bool:
    return bool(
        np.array_equal(a.arc, b.arc)
        and np.array_equal(a.offset_m, b.offset_m, equal_nan=True)
        and np.array_equal(a.snap_m, b.snap_m, equal_nan=True)
    )


def test_baseline_reuses_the_snaps_of_the_run(
    demo: tuple[RunResult, Path], base: sc.Baseline
) -> None:
    result = demo[0]
    assert result.snaps is not None and result.origin_snaps is not None
    assert result.library_snaps is not None
    assert len(result.origin_snaps.arc) == len(result.cells)
    assert len(result.library_snaps.arc) == len(result.libraries)  # every branch, not only
    assert (~result.libraries["full_service"]).any()  # the full-service ones
    assert base.origins is result.origin_snaps and base.library_snaps is result.library_snaps
    # snapping again gives the same, bit for bit
    fresh = sc.prepare_baseline(dataclasses.replace(result, snaps=None))
    assert fresh.origins is not result.origin_snaps
    assert _same_snaps(fresh.origins, base.origins)
    assert _same_snaps(fresh.library_snaps, base.library_snaps)
    assert np.array_equal(result.cells["snap_m"], base.origins.snap_m, equal_nan=True)
    # other settings, other rows or another network: snapped again
    near = dataclasses.replace(result.settings, max_snap_m=20.0)
    tight = sc.prepare_baseline(result, near)
    assert tight.origins is not result.origin_snaps
    assert tight.origins.ok.sum() < base.origins.ok.sum()
    half = sc.prepare_baseline(dataclasses.replace(result, cells=result.cells.iloc[::2]))
    assert _same_snaps(
        half.origins, sc.slice_snapped(base.origins, np.arange(0, len(base.cells), 2))
    )
    other = dataclasses.replace(result.network)
    assert not result.snaps.fits(other, result.settings)
    assert sc.prepare_baseline(dataclasses.replace(result, network=other)).origins is not (
        result.origin_snaps
    )


def test_nearest_library_with_snaps_is_nearest_library(demo: tuple[RunResult, Path]) -> None:
    from bereikbaar.accessibility import nearest_library_with_snaps

    result = demo[0]
    st = result.settings
    assert st is not None and result.snaps is not None
    cells = result.cells[["cell_id", "population", "geometry"]]
    kw: dict[str, Any] = {"max_snap_m": st.max_snap_m, "coverage_buffer_m": st.coverage_buffer_m}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = nearest_library(result.network, cells, result.libraries, **kw)
        again, snaps = nearest_library_with_snaps(result.network, cells, result.libraries, **kw)
        reused, _ = nearest_library_with_snaps(
            result.network, cells, result.libraries, origin_snaps=result.origin_snaps, **kw
        )
    pd.testing.assert_frame_equal(plain, again)
    pd.testing.assert_frame_equal(plain, reused)
    pd.testing.assert_frame_equal(plain, result.cells[list(plain.columns)])
    assert _same_snaps(snaps.origins, result.snaps.origins)
    assert _same_snaps(snaps.libraries, result.snaps.libraries)
    assert snaps.fits(result.network, st, cells, result.libraries)
    with pytest.raises(InputError, match="origin_snaps"):
        nearest_library_with_snaps(
            result.network, cells.iloc[1:], result.libraries, origin_snaps=snaps.origins, **kw
        )


def test_candidate_cells_snapped_as_sites_equal_snapping_them_again(base: sc.Baseline) -> None:
    from bereikbaar.accessibility import points_xy
    from bereikbaar.scenarios.sites import _cell_sites

    xy = points_xy(base.cells, "cells")
    rows = np.arange(len(xy))
    again = snap_to_arcs(base.network, xy, max_snap_m=base.settings.max_snap_m)
    assert _same_snaps(_cell_sites(base, rows, xy), again)
    # cells that are no origin (as outside the coverage) are snapped as sites all the same
    o = base.origins
    gone = np.zeros(len(xy), dtype=bool)
    gone[::7] = True
    holed = Snapped(
        np.where(gone, -1, o.arc),
        np.where(gone, np.nan, o.offset_m),
        np.where(gone, np.nan, o.snap_m),
    )
    assert _same_snaps(_cell_sites(dataclasses.replace(base, origins=holed), rows, xy), again)
    assert _same_snaps(_cell_sites(base, rows[5:40], xy[5:40]), sc.slice_snapped(again, rows[5:40]))


def test_scenarios_never_load_folium() -> None:
    import subprocess
    import sys

    code = "import bereikbaar.scenarios, sys; assert 'folium' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scenario_equals_full_rerun_with_edited_branch_list(
    demo: tuple[RunResult, Path], base: sc.Baseline, tmp_path: Path
) -> None:
    result, root = demo
    close = [_lib_id(result, "Bibliotheek Westerhoek")]
    s = sc.scenario(
        base,
        close=close,
        open=[(195_003.7, 548_120.2), (214_500.0, 547_600.0, "vestiging")],
        retype={_lib_id(result, "Bibliotheek Bibliostad-Noord"): "vestiging"},
    )
    branch_list = sc.write_branch_list(s.libraries, tmp_path / "bibliotheken.csv")
    settings = Settings.from_toml(root / "raw" / "demo.toml")
    settings = dataclasses.replace(
        settings,
        inputs=dataclasses.replace(settings.inputs, libraries=branch_list),
        out_dir=tmp_path / "rerun",
    )
    rerun = run(settings)
    for col in ("distance_m", "time_s", "snap_m", "reachable"):
        assert np.array_equal(
            s.cells[col].to_numpy(), rerun.cells[col].to_numpy(), equal_nan=True
        ), col
    assert list(s.cells[LIBRARY_ID]) == list(rerun.cells[LIBRARY_ID])
    cols = [c for c in rerun.summary.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        s.summary[cols].reset_index(drop=True),
        rerun.summary[cols].reset_index(drop=True),
        check_exact=True,
    )
    # the opened ones really changed something: Lange Velden gets nearer
    d = _row(s.deltas, "GM9002")
    assert d["mean_distance_km_delta"] < -1.0


def test_closing_middeldorp_flips_it_and_top_site_flips_it_back(base: sc.Baseline) -> None:
    lid = _lib_id(base, "Bibliotheek Middeldorp")
    closed = sc.scenario(base, close=[lid])
    row = _row(closed.deltas, MIDDELDORP)
    assert not row["te_groot_before"] and row["te_groot_after"]
    assert row["flag_change"] == "wordt te groot"
    assert row["full_service_libraries_after"] == 0
    assert (row["oordeel_before"], row["oordeel_after"]) == ("niet te groot", "te groot")
    after = _row(closed.summary, MIDDELDORP)
    assert row["population_unreachable_after"] == after["population_unreachable"]
    reasons = _row(closed.summary, MIDDELDORP)["reasons"]
    assert reasons.startswith("(a) geen volwaardige bibliotheek in de gemeente")
    assert "(c) gemiddelde afstand" in reasons
    # nobody else is affected by this closure beyond Middeldorp's flag
    assert list(closed.changed["gemeentecode"]) == [MIDDELDORP]

    sug = sc.suggest_sites(closed, k=1, gemeente=MIDDELDORP)
    assert len(sug.sites) == 1
    top = sug.best()
    assert top is not None
    assert sug.sites["gemeentecode"].iloc[0] == MIDDELDORP
    back = sc.scenario(closed, open=[top])
    row2 = _row(back.deltas, MIDDELDORP)
    assert row2["te_groot_before"] and not row2["te_groot_after"]
    assert row2["flag_change"] == "niet meer te groot"
    # everyone the site was said to cover is now within the threshold
    assert _row(back.summary, MIDDELDORP)["population_beyond"] == (
        _row(closed.summary, MIDDELDORP)["population_beyond"] - sug.greedy_population
    )


def test_closing_westerhoek_gives_reason_a_and_top_site_helps(base: sc.Baseline) -> None:
    lid = _lib_id(base, "Bibliotheek Westerhoek")
    closed = sc.scenario(base, close=[lid])
    before = _row(base.summary, WESTERHOEK)["reasons"]
    after = _row(closed.summary, WESTERHOEK)["reasons"]
    assert not before.startswith("(a)")  # it had its vestiging: only (b)
    assert after.startswith("(a) geen volwaardige bibliotheek in de gemeente")
    sug = sc.suggest_sites(closed, k=1, gemeente=WESTERHOEK)
    back = sc.scenario(closed, open=sug.to_open())
    row = _row(back.summary, WESTERHOEK)
    assert not row[TE_GROOT]
    assert row["population_beyond"] == pytest.approx(
        _row(closed.summary, WESTERHOEK)["population_beyond"] - sug.greedy_population, abs=0
    )


def test_scenario_input_errors(base: sc.Baseline) -> None:
    with pytest.raises(InputError, match="unknown library_id 'nope'"):
        sc.scenario(base, close=["nope"])
    with pytest.raises(InputError, match="unknown branch type"):
        sc.scenario(base, retype={_lib_id(base, "Bibliotheek Middeldorp"): "kasteel"})
    with pytest.raises(InputError, match="without a geocoder"):
        sc.scenario(base, open=["Kerkplein 3, Middeldorp"])
    with pytest.raises(GeocodeError, match="found no location"):
        sc.scenario(base, open=["Nergensweg 1"], geocoder=lambda a: None)


def test_open_by_address_uses_the_geocoder(base: sc.Baseline) -> None:
    asked: list[str] = []

    def geocoder(address: str) -> shapely.Point:
        asked.append(address)
        return shapely.Point(195_003.7, 548_120.2)

    a = sc.scenario(base, open=[("Brink 9, Nieuwe Akkers", "vestiging")], geocoder=geocoder)
    b = sc.scenario(base, open=[(195_003.7, 548_120.2)])
    assert asked == ["Brink 9, Nieuwe Akkers"]
    assert np.array_equal(a.cells[DISTANCE_M], b.cells[DISTANCE_M], equal_nan=True)
    assert a.opened["address"].iloc[0] == "Brink 9, Nieuwe Akkers"


def test_retype_to_servicepunt_equals_closing(base: sc.Baseline) -> None:
    lid = _lib_id(base, "Bibliotheek Middeldorp")
    a = sc.scenario(base, retype={lid: "Servicepunt"})
    b = sc.scenario(base, close=[lid])
    assert np.array_equal(a.cells[DISTANCE_M], b.cells[DISTANCE_M], equal_nan=True)
    assert a.retyped == {lid: "servicepunt"}


def test_map_layer_and_written_outputs(base: sc.Baseline, tmp_path: Path) -> None:
    s = sc.scenario(base, close=[_lib_id(base, "Bibliotheek Middeldorp")])
    layer = s.map_layer()
    assert isinstance(layer, folium.FeatureGroup)
    kinds = [type(c).__name__ for c in layer._children.values()]
    assert "ImageOverlay" in kinds and "CircleMarker" in kinds
    # distance rose only where Middeldorp's branch was nearest
    rose = (s.cells["delta_m"] > 0).to_numpy()
    codes = cell_gemeenten(s.cells, base.gemeenten).to_numpy()
    assert rose.sum() > 300
    assert set(codes[rose]) <= {MIDDELDORP, "GM9002", "GM9004"}
    assert (s.cells["delta_m"].dropna() >= 0).all()
    paths = sc.write_scenario(s, tmp_path)
    assert set(paths) == {
        "scenario_gemeenten",
        "scenario_cellen",
        "scenario_bibliotheken",
        "scenario_kaart",
    }
    html = paths["scenario_kaart"].read_text(encoding="utf-8")
    assert "Scenario: verandering van de afstand" in html
    table = pd.read_csv(paths["scenario_gemeenten"], sep=";", decimal=",", encoding="utf-8-sig")
    assert table.loc[table["gemeentecode"] == MIDDELDORP, "flag_change"].iloc[0] == (
        "wordt te groot"
    )


def test_cli_scenario(demo: tuple[RunResult, Path], tmp_path: Path) -> None:
    from bereikbaar.cli import main

    _, root = demo
    out = tmp_path / "scen"
    code = main(
        [
            "-q",
            "scenario",
            str(root / "raw" / "demo.toml"),
            "--sluit",
            "lib-0004",
            "--open",
            "195003.7,548120.2",
            "--type",
            "lib-0002=vestiging",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert (out / "scenario_gemeenten.csv").is_file()
    assert (out / "scenario_kaart.html").is_file()
    libs = pd.read_csv(out / "scenario_bibliotheken.csv", sep=";")
    assert "lib-0004" not in set(libs["id"]) and "nieuw-1" in set(libs["id"])
    assert main(["-q", "scenario", str(root / "raw" / "demo.toml"), "--type", "x"]) == 2


# --------------------------------------------------------------------------- closure ranking


def test_closure_ranking_equals_scenarios_and_dask_equals_serial(base: sc.Baseline) -> None:
    serial = sc.closure_impact(base, scheduler="serial")
    ranking = serial.ranking
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert (ranking["population_newly_beyond"].diff().dropna() <= 0).all()
    for _, r in ranking.iterrows():
        s = sc.scenario(base, close=[r[LIBRARY_ID]])
        served = base.cells[LIBRARY_ID] == r[LIBRARY_ID]
        assert r["population_served"] == base.cells.loc[served, "population"].sum()
        long = serial.per_gemeente[serial.per_gemeente[LIBRARY_ID] == r[LIBRARY_ID]]
        for _, g in long.iterrows():
            new = _row(s.summary, g["gemeentecode"])
            assert g["mean_distance_km_after"] == new["mean_distance_km"]
            assert g["population_beyond_after"] == new["population_beyond"]
            assert g["te_groot_after"] == new[TE_GROOT]
        flipped = sorted(s.changed.loc[s.changed["te_groot_after"], "gemeentecode"])
        assert sorted(filter(None, r["gemeenten_te_groot"].split(", "))) == flipped
    mid = ranking[ranking["name"] == "Bibliotheek Middeldorp"].iloc[0]
    assert mid["gemeenten_te_groot"] == MIDDELDORP
    assert mid["population_newly_beyond"] >= 15_025  # all of Middeldorp was within 5 km

    dask = sc.closure_impact(base, scheduler=None, n_workers=2, processes=False)
    pd.testing.assert_frame_equal(dask.ranking, serial.ranking, check_exact=True)
    pd.testing.assert_frame_equal(dask.per_gemeente, serial.per_gemeente, check_exact=True)


# --------------------------------------------------------------------------- coverage engine


def _one_way_network() -> Network:
    # 0 -> 1 -> 2 -> 3 one-way east (1 km arcs), back west only over a 5 km detour 3 -> 4 -> 0
    x = np.array([0.0, 1000.0, 2000.0, 3000.0, 1500.0]) + 150_000
    y = np.array([0.0, 0.0, 0.0, 0.0, 2000.0]) + 450_000
    u = np.array([0, 1, 2, 3, 4])
    v = np.array([1, 2, 3, 4, 0])
    length = np.array([1000.0, 1000.0, 1000.0, 2500.0, 2500.0])
    return Network(x, y, u, v, length)


def test_bounded_costs_measure_home_to_site_on_one_way_streets() -> None:
    net = _one_way_network()
    homes = np.array([[150_500.0, 450_000.0], [152_500.0, 450_000.0]])
    site = np.array([[151_500.0, 450_000.0]])
    o = snap_to_arcs(net, homes)
    s = snap_to_arcs(net, site)
    costs = sc.bounded_costs(net, o, s, 10_000.0).toarray()
    # home 0 drives east 1 km to the site; home 1 must go round: 0.5 + 2.5 + 2.5 + 1.5 km
    assert costs[0].tolist() == [1000.0, 7000.0]
    lib = gpd.GeoDataFrame({LIBRARY_ID: ["a"]}, geometry=shapely.points(site), crs=CRS_RD)
    ref = nearest_library(net, homes, lib, with_time=False)[DISTANCE_M].to_numpy()
    assert costs[0].tolist() == ref.tolist()
    bounded = sc.bounded_costs(net, o, s, 5_000.0)
    assert bounded.nnz == 1 and bounded[0, 0] == 1000.0


def test_coverage_equals_nearest_library_on_the_demo(base: sc.Baseline) -> None:
    rng = np.random.default_rng(5)
    cells = base.cells
    pick = rng.choice(len(cells), size=6, replace=False)
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])[pick]
    sites = snap_to_arcs(base.network, xy, max_snap_m=base.settings.max_snap_m)
    costs = sc.bounded_costs(base.network, base.origins, sites, 5_000.0).toarray()
    for k in range(len(xy)):
        lib = gpd.GeoDataFrame(
            {LIBRARY_ID: ["s"]}, geometry=shapely.points(xy[k : k + 1]), crs=CRS_RD
        )
        ref = nearest_library(base.network, cells, lib, with_time=False)[DISTANCE_M].to_numpy()
        within = np.isfinite(ref) & (ref <= 5_000.0)
        got = costs[k]
        assert np.array_equal(got[within], ref[within])


def _same_csr(a: sp.csr_array, b: sp.csr_array) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


@pytest.mark.parametrize("tile_m", [500.0, 5_000.0, 1e9])
@pytest.mark.parametrize("limit_m", [1_500.0, 5_000.0, 20_000.0])
def test_local_search_equals_full_network_search_bit_for_bit(
    base: sc.Baseline, monkeypatch: pytest.MonkeyPatch, tile_m: float, limit_m: float
) -> None:
    monkeypatch.setattr(bounded, "_TILE_M", tile_m)
    rng = np.random.default_rng(11)
    cells = base.cells
    pick = rng.choice(len(cells), size=40, replace=False)
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])[pick]
    xy[3] = np.nan  # an unsnapped site reaches nobody
    sites = snap_to_arcs(base.network, xy, max_snap_m=base.settings.max_snap_m)
    full = sc.bounded_costs(base.network, base.origins, sites, limit_m, method="full")
    assert full.nnz > 0
    search = bounded.BoundedSearch.build(base.network, sites, limit_m)
    rows = np.array([7, 3, 0, 21, 7])
    ref = sc.bounded_costs(
        base.network, base.origins, sc.slice_snapped(sites, rows), limit_m, method="full"
    )
    for method in ("compiled", "local"):
        local = sc.bounded_costs(base.network, base.origins, sites, limit_m, method=method)
        assert _same_csr(local, full), method
        # a subset of the sites, in another order, from one search graph
        assert _same_csr(search.costs(base.origins, rows, method=method), ref), method
    # many rows: the compiled search splits them over two threads
    many = np.tile(np.arange(len(sites.arc)), 3)
    ref_many = sc.bounded_costs(
        base.network, base.origins, sc.slice_snapped(sites, many), limit_m, method="full"
    )
    assert _same_csr(search.costs(base.origins, many), ref_many)


def test_local_search_equals_full_search_in_travel_time(base: sc.Baseline) -> None:
    cells = base.cells
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])[::97]
    sites = snap_to_arcs(base.network, xy, max_snap_m=base.settings.max_snap_m)
    kw: dict[str, Any] = {"weight": "time"}
    full = sc.bounded_costs(base.network, base.origins, sites, 300.0, method="full", **kw)
    assert full.nnz > 0
    for method in ("compiled", "local"):
        local = sc.bounded_costs(base.network, base.origins, sites, 300.0, method=method, **kw)
        assert _same_csr(local, full), method
    with pytest.raises(InputError, match="method"):
        sc.bounded_costs(base.network, base.origins, sites, 300.0, method="dense")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(30))
def test_compiled_bounded_search_equals_full_search_on_random_networks(seed: int) -> None:
    # two-way and one-way roads, parallel arcs, sites and homes off the road, on it and
    # exactly on junctions (at the head of an arc), limits from tiny to everything
    rng = np.random.default_rng(seed)
    corner = np.array([150_000.0, 450_000.0])
    n = int(rng.integers(3, 60))
    xy = rng.uniform(0, 5_000, size=(n, 2)) + corner
    m = int(rng.integers(n, 4 * n))
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = a != b
    a, b = a[keep], b[keep]
    length = np.hypot(*(xy[a] - xy[b]).T) * rng.uniform(1.0, 1.5, len(a))
    two_way = rng.random(len(a)) < 0.7
    u = np.concatenate([a, b[two_way]])
    v = np.concatenate([b, a[two_way]])
    length = np.concatenate([length, length[two_way]])
    time = length / rng.uniform(4.0, 30.0, len(length))
    net = Network(xy[:, 0], xy[:, 1], u, v, length, time_s=time)
    homes = np.vstack([rng.uniform(0, 5_000, (40, 2)) + corner, xy[:5]])
    sites = np.vstack([rng.uniform(0, 5_000, (8, 2)) + corner, xy[5:8]])
    o = snap_to_arcs(net, homes, core_only=False)
    s = snap_to_arcs(net, sites, core_only=False)
    for limit in (50.0, 1_500.0, 1e7):
        for weight in ("length", "time"):
            full = sc.bounded_costs(net, o, s, limit, weight=weight, method="full")
            fast = sc.bounded_costs(net, o, s, limit, weight=weight)
            assert _same_csr(fast, full), (limit, weight)
    # a road distance is never shorter than the straight line from home to site
    every = sc.bounded_costs(net, o, s, 1e7).tocoo()
    line = np.hypot(*(homes[every.col] - sites[every.row]).T)
    assert every.nnz > 0 and (every.data >= line - 1e-6).all()


def test_local_search_grows_where_an_arc_is_shorter_than_its_chord() -> None:
    # a 10 km straight road of 1 km arcs, and a 100 m "tunnel" arc from its east end to a
    # node 8 km further east (shorter than the straight line): the first part around the
    # site misses that node, the check sees the tunnel and the part grows
    x = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 19], dtype=float) * 1000 + 150_000
    y = np.full(len(x), 450_000.0)
    road = [(i, i + 1, 1000.0) for i in range(10)] + [(10, 11, 100.0), (11, 12, 1000.0)]
    arcs = road + [(b, a, w) for a, b, w in road]
    u = np.array([a for a, _, _ in arcs])
    v = np.array([b for _, b, _ in arcs])
    length = np.array([w for _, _, w in arcs])
    net = Network(x, y, u, v, length)
    homes = np.column_stack([np.array([1_500.0, 18_500.0]) + 150_000, [450_000.0] * 2])
    site = np.array([[156_500.0, 450_000.0]])  # 6.5 km along the road
    o = snap_to_arcs(net, homes)
    s = snap_to_arcs(net, site)
    full = sc.bounded_costs(net, o, s, 6_000.0, method="full")
    for method in ("compiled", "local"):
        local = sc.bounded_costs(net, o, s, 6_000.0, method=method)
        # home 1: 0.5 km to node 11, 0.1 km tunnel, 3.5 km along the road = 4.1 km
        assert local.toarray().tolist() == [[5000.0, 4100.0]], method
        assert _same_csr(local, full), method


# --------------------------------------------------------------------------- max coverage


def _brute_force(cov: np.ndarray, w: np.ndarray, k: int) -> float:
    best = 0.0
    for r in range(0, k + 1):
        for combo in itertools.combinations(range(cov.shape[0]), r):
            hit = cov[list(combo)].any(axis=0) if combo else np.zeros(cov.shape[1], bool)
            best = max(best, float(w[hit].sum()))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_greedy_within_bound_and_milp_optimal_on_random_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, d, k = int(rng.integers(4, 9)), int(rng.integers(5, 15)), int(rng.integers(1, 4))
    cov = rng.random((m, d)) < rng.uniform(0.15, 0.5)
    w = rng.integers(1, 100, size=d).astype(float)
    opt = _brute_force(cov, w, k)
    chosen, gains = sc.max_coverage_greedy(sp.csr_array(cov), w, k)
    greedy = float(sum(gains))
    assert greedy == float(w[cov[chosen].any(axis=0)].sum()) if chosen else greedy == 0.0
    assert greedy >= (1 - 1 / math.e) * opt - 1e-9
    exact, value = sc.max_coverage_milp(sp.csr_array(cov), w, k)
    assert value == opt
    assert len(exact) <= k
    assert float(w[cov[exact].any(axis=0)].sum()) == opt if exact else opt == 0.0


def test_greedy_equals_optimum_on_hand_built_cases() -> None:
    # three villages, each covered by its own site, one site covering two small ones
    cov = np.array(
        [
            [1, 0, 0, 0],
            [0, 1, 1, 0],
            [0, 0, 0, 1],
            [0, 1, 0, 0],
        ],
        dtype=bool,
    )
    w = np.array([500.0, 200.0, 250.0, 100.0])
    assert sc.max_coverage_greedy(cov, w, 2) == ([0, 1], [500.0, 450.0])
    assert sc.max_coverage_milp(cov, w, 2) == ([0, 1], 950.0)
    assert sc.max_coverage_greedy(cov, w, 5)[0] == [0, 1, 2]  # stops when nothing is left
    # the classic case where greedy is not optimal: the gap is reported, not hidden
    cov2 = np.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 1, 0, 0], [0, 0, 1, 0, 0, 1, 1]], bool)
    w2 = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    # greedy takes {0,1,2} (4, lowest index among ties) then 2 more; optimum {0,1,3,4}+{2,5,6}
    assert sc.max_coverage_greedy(cov2, w2, 2) == ([0, 1], [4.0, 2.0])
    assert sc.max_coverage_milp(cov2, w2, 2) == ([1, 2], 8.0)


def test_suggest_sites_reports_greedy_milp_and_gap(base: sc.Baseline) -> None:
    sug = sc.suggest_sites(base, k=2, gemeente="GM9002", exact=True)
    assert sug.milp_population is not None and sug.gap is not None
    assert sug.milp_population >= sug.greedy_population > 0
    assert sug.gap == pytest.approx(
        (sug.milp_population - sug.greedy_population) / sug.milp_population
    )
    assert sug.greedy_population <= sug.demand_population
    # opening the greedy sites brings exactly the promised residents within 5 km
    after = sc.scenario(base, open=sug.to_open())
    gain = (
        _row(base.summary, "GM9002")["population_beyond"]
        - _row(after.summary, "GM9002")["population_beyond"]
    )
    assert gain == sug.greedy_population


def test_best_sites_for_gemeente_for_the_dossier(base: sc.Baseline) -> None:
    table = sc.best_sites_for_gemeente(base, "GM9002", k=2)
    assert list(table.columns) == [
        "gemeentecode",
        "rang",
        "inwoners_erbij_binnen_bereik",
        "inwoners_binnen_bereik_alleen",
        "vierkant",
        "geometry",
    ]
    assert table.crs == CRS_RD
    assert list(table["rang"]) == [1, 2]
    assert (table["inwoners_erbij_binnen_bereik"] > 0).all()
    assert (table["inwoners_binnen_bereik_alleen"] >= table["inwoners_erbij_binnen_bereik"]).all()
    # candidates lie inside the gemeente
    poly = base.summary.set_index("gemeentecode").loc["GM9002", "geometry"]
    assert all(poly.contains(p) for p in table.geometry)


def _plain_greedy(cov: np.ndarray, w: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Greedy maximal covering without lazy gains: best marginal gain, lowest index on ties."""
    covered = np.zeros(cov.shape[1], dtype=bool)
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(k):
        gain = np.array([w[row & ~covered].sum() for row in cov])
        best = int(np.argmax(gain))  # first of the largest
        if gain[best] <= 0:
            break
        chosen.append(best)
        gains.append(float(gain[best]))
        covered |= cov[best]
    return chosen, gains


def test_best_sites_for_gemeenten_equal_brute_force_greedy(base: sc.Baseline) -> None:
    # reference: coverage from one full pipeline distance per candidate cell (a library
    # there and nowhere else), every candidate cell of the gemeente, plain greedy
    thr_m = base.rule.threshold_km * 1000.0
    cells = base.cells
    codes = cell_gemeenten(cells, base.gemeenten).to_numpy().astype(str)
    pop = cells["population"].to_numpy(dtype=float)
    dist = cells[DISTANCE_M].to_numpy(dtype=float)
    xy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    flagged = base.summary.loc[base.summary[TE_GROOT], "gemeentecode"].tolist()
    assert len(flagged) >= 2
    got = sc.best_sites_for_gemeenten(base, flagged, k=3)
    assert list(got) == flagged
    for code in flagged:
        mine = codes == code
        demand = np.flatnonzero(mine & (pop > 0) & ~(np.isfinite(dist) & (dist <= thr_m)))
        cand = np.flatnonzero(mine & ((pop > 0) | np.isnan(pop)))
        cov = np.zeros((len(cand), len(demand)), dtype=bool)
        # the demand cells (their centroids) are snapped by the first candidate's run of the
        # stage and given as snapped to the others: the same snap every time, once
        snapped: Snapped | None = None
        # one library in every candidate cell; each run gets one of them (a one-row frame)
        libs = gpd.GeoDataFrame(
            {LIBRARY_ID: ["s"] * len(cand)}, geometry=shapely.points(xy[cand]), crs=CRS_RD
        )
        for r in range(len(cand)):
            ref, snaps = nearest_library_with_snaps(
                base.network,
                xy[demand],
                libs.iloc[r : r + 1],
                with_time=False,
                origin_snaps=snapped,
            )
            snapped = snaps.origins
            d = ref[DISTANCE_M].to_numpy()
            cov[r] = np.isfinite(d) & (d <= thr_m)
        w = np.nan_to_num(pop[demand])
        chosen, gains = _plain_greedy(cov, w, 3)
        table = got[code]
        assert len(table) > 0
        assert table["vierkant"].tolist() == cells["cell_id"].to_numpy()[cand[chosen]].tolist()
        assert table["inwoners_erbij_binnen_bereik"].tolist() == np.rint(gains).tolist()
        alone = [float(w[cov[i]].sum()) for i in chosen]
        assert table["inwoners_binnen_bereik_alleen"].tolist() == np.rint(alone).tolist()
        # and the one-gemeente function gives the same table
        one = sc.best_sites_for_gemeente(base, code, k=3)
        pd.testing.assert_frame_equal(pd.DataFrame(one), pd.DataFrame(table), check_exact=True)
    with pytest.raises(InputError, match="GM0000"):
        sc.best_sites_for_gemeenten(base, ["GM0000"])
    assert sc.best_sites_for_gemeenten(base, []) == {}


# --------------------------------------------------------------------------- 2SFCA


def test_fca_by_hand() -> None:
    costs = pd.DataFrame(
        {"origin": [0, 0, 1, 2], LIBRARY_ID: ["a", "b", "b", "b"], "cost_km": [1.0, 4.0, 2.0, 9.0]}
    )
    demand = pd.Series([100.0, 300.0, 50.0])
    supply = pd.Series({"a": 2.0, "b": 4.0})
    acc, ratio = sc.fca_from_costs(costs, demand, supply, max_cost=5.0)
    # a serves 100 -> 0.02; b serves 100 + 300 -> 0.01; origin 2 is beyond 5 km
    assert ratio.tolist() == [0.02, 0.01]
    assert acc.tolist() == [0.03, 0.01, 0.0]


@pytest.mark.parametrize("decay", ["none", "gaussian", "step"])
def test_two_step_fca_equals_pysal_access(base: sc.Baseline, decay: str) -> None:
    access = pytest.importorskip("access")
    cap = {lid: float(10 + 5 * i) for i, lid in enumerate(base.libraries[LIBRARY_ID])}
    res = sc.two_step_fca(base, catchment_km=12.0, decay=decay, capacity=cap)  # type: ignore[arg-type]
    costs = res.costs
    assert len(costs) > 0 and (costs["cost_km"] <= 12.0).all()
    demand = pd.DataFrame(
        {"geoid": base.cells.index, "pop": base.cells["population"].fillna(0).to_numpy()}
    )
    supply = pd.DataFrame(
        {"geoid": res.libraries[LIBRARY_ID], "cap": res.libraries["capacity"].to_numpy()}
    )
    with warnings.catch_warnings():
        # access 1.1.10 calls DataFrame.set_index(inplace=True), deprecated in pandas 3.1
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        ref = _pysal_fca(access, _pysal_access(access, demand, supply, costs), decay)
    ref_values = ref.iloc[:, 0].reindex(base.cells.index).fillna(0.0).to_numpy()
    ours = res.cells["access"].to_numpy()
    assert np.count_nonzero(ours) > 100
    np.testing.assert_allclose(ours, ref_values, rtol=1e-9, atol=0)


def _pysal_access(
    access: Any, demand: pd.DataFrame, supply: pd.DataFrame, costs: pd.DataFrame
) -> Any:
    return access.Access(
        demand_df=demand,
        demand_index="geoid",
        demand_value="pop",
        supply_df=supply,
        supply_index="geoid",
        supply_value="cap",
        cost_df=costs,
        cost_origin="origin",
        cost_dest=LIBRARY_ID,
        cost_name="cost_km",
    )


def _pysal_fca(access: Any, a: Any, decay: str) -> pd.DataFrame:
    if decay == "none":
        ref = a.two_stage_fca(name="x", max_cost=12.0)
    elif decay == "gaussian":
        ref = a.enhanced_two_stage_fca(
            name="x", max_cost=12.0, weight_fn=access.weights.gaussian(6.0)
        )
    else:
        ref = a.enhanced_two_stage_fca(
            name="x",
            max_cost=12.0,
            weight_fn=access.weights.step_fn({4.0: 1.0, 8.0: 0.68, 12.0: 0.22}),
        )
    return ref  # type: ignore[no-any-return]


def test_two_step_fca_capacity_defaults_and_gemeenten(base: sc.Baseline) -> None:
    res = sc.two_step_fca(base, catchment_km=10.0)
    assert (res.libraries["capacity"] == 1.0).all()
    assert res.method == "2sfca"
    g = res.gemeenten.set_index("gemeentecode")
    # Oost-Eiland (ferry, 19 km) has no library within 10 km; Bibliostad has
    assert g.loc["GM9004", "access_per_10k"] == 0.0
    assert g.loc["GM9001", "access_per_10k"] > 0.0
    # total capacity is conserved: Σ_i P_i A_i = Σ_j S_j over libraries with demand in reach
    pop = base.cells["population"].fillna(0).to_numpy()
    served = res.libraries["ratio"].notna()
    assert float((pop * res.cells["access"]).sum()) == pytest.approx(
        float(res.libraries.loc[served, "capacity"].sum()), rel=1e-12
    )


def test_deltas_never_read_onvolledig_as_niet_te_groot() -> None:
    from bereikbaar.scenarios.whatif import _deltas

    def summary(verdicts: list[str], unreachable: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "gemeentecode": ["GM1", "GM2", "GM3"],
                "gemeentenaam": ["A", "B", "C"],
                "population": [10.0, 20.0, 30.0],
                "mean_distance_km": [1.0, 2.0, 3.0],
                "population_beyond": [0.0, 5.0, 30.0],
                "full_service_libraries": [1, 1, 0],
                "population_unreachable": unreachable,
                "te_groot": [v == "te groot" for v in verdicts],
                "oordeel": verdicts,
                "reasons": ["", "", "(a)"],
            }
        )

    before = summary(["niet te groot", "te groot", "te groot"], [0.0, 0.0, 0.0])
    after = summary(["te groot", "onvolledig", "niet te groot"], [0.0, 4.0, 0.0])
    d = _deltas(before, after).set_index("gemeentecode")
    assert d.loc["GM1", "flag_change"] == "wordt te groot"
    # te_groot True -> False, but the verdict went to "onvolledig", not "niet te groot"
    assert d.loc["GM2", "flag_change"] == "te groot → onvolledig"
    assert d.loc["GM3", "flag_change"] == "niet meer te groot"
    assert d.loc["GM2", "population_unreachable_delta"] == 4.0
