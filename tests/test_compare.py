"""Tests for bereikbaar.compare: our distances next to CBS's official figure."""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import pytest

from bereikbaar.compare import compare_with_cbs, write_comparison
from bereikbaar.exceptions import BereikbaarWarning, InputError


def _reference() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gemeentecode": ["GM0001", "GM0002", "GM0003", "GM0004"],
            "gemeentenaam": ["A", "B", "C", "D"],
            "cbs_mean_distance_km": [1.5, 2.0, 2.5, np.nan],
        }
    )


def test_all_342_land_gemeenten_of_kwb_2024(shared_data: pathlib.Path) -> None:
    stats = shared_data / "cbs-kwb-2024" / "gemeente_2024_stats.parquet"
    raw = pd.read_parquet(stats)
    land = raw[raw["water"] == "NEE"]
    cbs_km = land["bibliotheek_gemiddelde_afstand_in_km"].to_numpy(dtype=float)
    summary = pd.DataFrame(
        {
            "gemeentecode": land["gemeentecode"].to_numpy(),
            "gemeentenaam": land["gemeentenaam"].to_numpy(),
            "mean_distance_km": cbs_km + 0.3,  # we measure 300 m farther everywhere
        }
    )
    per, result = compare_with_cbs(summary, stats)  # a path is read with load_cbs_reference
    assert len(per) == 342 and per["cbs_mean_distance_km"].notna().all()
    by_name = per.set_index("gemeentenaam")
    assert by_name.loc["Schiermonnikoog", "cbs_mean_distance_km"] == pytest.approx(0.6)
    assert by_name.loc["Noord-Beveland", "cbs_mean_distance_km"] == pytest.approx(14.4)
    assert np.allclose(per["cbs_difference_km"], 0.3)
    assert result["n_compared"] == 342
    assert result["median_abs_difference_km"] == pytest.approx(0.3)
    assert result["mean_difference_km"] == pytest.approx(0.3)
    assert result["spearman_rho"] == pytest.approx(1.0)
    assert result["missing_in_cbs"] == []


def test_hand_checkable_statistics_and_missing_gemeente() -> None:
    summary = pd.DataFrame(
        {
            "gemeentecode": ["GM0003", "GM0001", "GM0002", "GM0004", "GM9999"],
            "mean_distance_km": [3.0, 1.0, 2.0, 5.0, 4.0],
        }
    )
    with pytest.warns(BereikbaarWarning, match=r"no figure row for 1 gemeente\(n\) \(GM9999\)"):
        per, result = compare_with_cbs(summary, _reference())
    # order of the summary is kept; names come from CBS when the summary has none
    assert per["gemeentecode"].tolist() == ["GM0003", "GM0001", "GM0002", "GM0004", "GM9999"]
    assert per["gemeentenaam"].tolist()[:3] == ["C", "A", "B"]
    assert per["cbs_difference_km"].tolist()[:3] == pytest.approx([0.5, -0.5, 0.0])
    assert per["cbs_difference_km"].iloc[3:].isna().all()  # CBS suppressed / no row
    assert result["n_gemeenten"] == 5 and result["n_compared"] == 3
    assert result["median_abs_difference_km"] == pytest.approx(0.5)
    assert result["max_abs_difference_km"] == pytest.approx(0.5)
    assert result["mean_difference_km"] == pytest.approx(0.0)
    assert result["spearman_rho"] == pytest.approx(1.0)  # same order: 1 < 2 < 3
    assert result["missing_in_cbs"] == ["GM9999"]


def test_reversed_ranking_and_bad_summary() -> None:
    summary = pd.DataFrame({"gemeentecode": ["GM0001", "GM0002", "GM0003"], "km": [3.0, 2.0, 1.0]})
    _, result = compare_with_cbs(summary, _reference(), column="km")
    assert result["spearman_rho"] == pytest.approx(-1.0)
    with pytest.raises(InputError, match="mean_distance_km"):
        compare_with_cbs(summary, _reference())


def test_write_comparison_for_dutch_excel(tmp_path: pathlib.Path) -> None:
    summary = pd.DataFrame(
        {"gemeentecode": ["GM0001"], "gemeentenaam": ["Één"], "mean_distance_km": [1.8]}
    )
    per, _ = compare_with_cbs(summary, _reference())
    path = write_comparison(tmp_path / "vergelijking_cbs.csv", per)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    lines = raw.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Gemeentecode;Gemeente;Gemiddelde afstand bereikbaar")
    assert lines[1] == "GM0001;Één;1,80;1,50;0,30;"  # compared: no reason given
