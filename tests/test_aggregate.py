"""Per-gemeente statistics and the "te groot" rule, on hand-built cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from bereikbaar.aggregate import aggregate_gemeenten, assign_gemeenten, weighted_quantile
from bereikbaar.exceptions import BereikbaarWarning
from bereikbaar.settings import FlagRule


def gemeenten() -> gpd.GeoDataFrame:
    # two 10 x 10 km squares side by side
    return gpd.GeoDataFrame(
        {"gemeentecode": ["GM0001", "GM0002"], "gemeentenaam": ["West", "Oost"]},
        geometry=[shapely.box(0, 0, 10_000, 10_000), shapely.box(10_000, 0, 20_000, 10_000)],
        crs="EPSG:28992",
    )


def cells(xs: list[float], pops: list[float], dist_m: list[float]) -> gpd.GeoDataFrame:
    d = np.array(dist_m, dtype=float)
    return gpd.GeoDataFrame(
        {"population": pops, "distance_m": d, "reachable": np.isfinite(d)},
        geometry=[shapely.box(x, 5000, x + 100, 5100) for x in xs],
        crs="EPSG:28992",
    )


def test_hand_computed_statistics() -> None:
    c = cells([100, 200, 300, 12_000], [100, 300, 100, 50], [1000, 2000, 8000, 500])
    lib = gpd.GeoDataFrame(
        {"library_id": ["a"], "full_service": [True]},
        geometry=[shapely.Point(15_000, 5000)],
        crs="EPSG:28992",
    )
    s = aggregate_gemeenten(c, gemeenten(), lib).set_index("gemeentecode")
    west = s.loc["GM0001"]
    # mean = (100*1 + 300*2 + 100*8) / 500 = 3.0 km
    assert west["mean_distance_km"] == pytest.approx(3.0)
    assert west["median_distance_km"] == pytest.approx(2.0)
    assert west["p90_distance_km"] == pytest.approx(8.0)
    assert west["population_beyond"] == 100
    assert west["share_beyond"] == pytest.approx(0.2)
    assert west["full_service_libraries"] == 0
    # 3.0 is not > 3.0, share 20 % < 25 %, mean < 5: not flagged
    assert not west["te_groot"]
    oost = s.loc["GM0002"]
    assert oost["full_service_libraries"] == 1
    assert oost["mean_distance_km"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("dists", "expected"),
    [
        ([3100, 3100, 3100], ["(a)"]),  # no library, mean 3.1 > 3
        ([1000, 6000, 1000], ["(b)"]),  # 1/3 beyond 5 km, mean 2.67
        ([5000, 5000, 5000], ["(a)", "(c)"]),  # mean exactly 5: (c) is ≥
        ([6000, 6000, 6000], ["(a)", "(b)", "(c)"]),
    ],
)
def test_each_criterion_fires_with_its_reason(dists: list[float], expected: list[str]) -> None:
    c = cells([100, 200, 300], [100, 100, 100], dists)
    with pytest.warns(BereikbaarWarning, match="no populated cells"):
        s = aggregate_gemeenten(c, gemeenten()).set_index("gemeentecode")
    west = s.loc["GM0001"]
    fired = [r[:3] for r in west["reasons"].split("; ")] if west["reasons"] else []
    assert fired == expected
    assert bool(west["te_groot"]) == bool(expected)


def test_rule_thresholds_are_settings() -> None:
    c = cells([100, 200, 300], [100, 100, 100], [3100, 3100, 3100])
    with pytest.warns(BereikbaarWarning):
        s = aggregate_gemeenten(c, gemeenten(), rule=FlagRule(no_library_mean_km=4.0))
    assert not s.set_index("gemeentecode").loc["GM0001", "te_groot"]


def test_suppressed_and_unreachable() -> None:
    c = cells([100, 200, 300], [100, np.nan, 50], [1000, 2000, np.nan])
    with pytest.warns(BereikbaarWarning):
        west = aggregate_gemeenten(c, gemeenten()).set_index("gemeentecode").loc["GM0001"]
    assert west["population"] == 150
    assert west["mean_distance_km"] == pytest.approx(1.0)
    assert west["population_unreachable"] == 50
    assert west["population_beyond"] == 50  # unreachable counts as beyond
    assert west["suppressed_cells"] == 1


def test_weighted_quantile_matches_repeated_values() -> None:
    vals = [1.0, 5.0, 2.0]
    w = [2, 1, 3]
    rep = np.repeat(vals, w)  # [1,1,5,2,2,2] sorted [1,1,2,2,2,5]
    for q in (0.1, 0.5, 0.9, 1.0):
        assert weighted_quantile(vals, w, q) == np.quantile(rep, q, method="inverted_cdf")


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.floats(0, 19_899),  # cell centroid stays inside the two gemeenten
            st.one_of(st.just(float("nan")), st.integers(0, 5000).map(float)),
            st.one_of(st.just(float("nan")), st.floats(0, 30_000)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_aggregation_preserves_population(data: list[tuple[float, float, float]]) -> None:
    xs, pops, dists = (list(t) for t in zip(*data, strict=True))
    c = cells(xs, pops, dists)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        s = aggregate_gemeenten(c, gemeenten())
    assert s["population"].sum() == pytest.approx(np.nansum(pops))
    assert (s["population_beyond"] <= s["population"] + 1e-9).all()
    assert ((s["share_beyond"].fillna(0) >= 0) & (s["share_beyond"].fillna(0) <= 1)).all()


def _sjoin_gemeenten(cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """The reference: geopandas' left sjoin of the centroids, the first row per label."""
    centroids = gpd.GeoDataFrame(
        geometry=cells.geometry.to_crs("EPSG:28992").centroid, index=cells.index, crs="EPSG:28992"
    )
    gem = gemeenten[["gemeentecode", "geometry"]].to_crs("EPSG:28992")
    joined = gpd.sjoin(centroids, gem, how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]
    out: pd.Series = joined["gemeentecode"].reindex(cells.index)
    return out


@pytest.mark.parametrize("crs", ["EPSG:28992", "EPSG:4326"])
@pytest.mark.parametrize("labels", ["unique", "shared"])
def test_assign_gemeenten_equals_geopandas_sjoin(crs: str, labels: str) -> None:
    # two squares, a third overlapping both, a ring around all: centroids on borders, in
    # overlaps, outside every gemeente, a missing geometry
    gem = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0003", "GM0001", "GM0002", "GM0004"], "gemeentenaam": list("abcd")},
        geometry=[
            shapely.box(0, 0, 10_000, 10_000),
            shapely.box(10_000, 0, 20_000, 10_000),
            shapely.box(5000, 5000, 15_000, 15_000),
            shapely.box(-5000, -5000, 25_000, 25_000).difference(
                shapely.box(-1, -1, 20_001, 20_001)
            ),
        ],
        crs="EPSG:28992",
    )
    x = np.array([-50, 4950, 9950, 9950, 14_950, 19_950, 25_000, 9950, 3000], dtype=float)
    y = np.array([4950, 4950, 4950, 9950, 12_000, -50, 25_000, 20_000, 3000], dtype=float)
    geoms = list(shapely.box(x, y, x + 100, y + 100))
    geoms[-1] = None
    index = [7, 3, 7, 1, 3, 0, 2, 5, 9] if labels == "shared" else [10, 30, 70, 11, 31, 1, 2, 5, 9]
    cells = gpd.GeoDataFrame({"population": 1.0}, geometry=geoms, index=index, crs="EPSG:28992")
    cells, gem = cells.to_crs(crs), gem.to_crs(crs)
    got = assign_gemeenten(cells, gem)
    pd.testing.assert_series_equal(got, _sjoin_gemeenten(cells, gem), check_exact=True)
    if labels == "unique" and crs == "EPSG:28992":  # by hand
        assert got.loc[31] == "GM0002" and got.loc[5] == "GM0004" and got.loc[1] == "GM0001"
        assert got.loc[[2, 9]].isna().all()  # outside every gemeente; no geometry
        # on a border or in an overlap: one of the gemeenten it touches
        assert got.loc[10] == "GM0003" and got.loc[30] in ("GM0003", "GM0002")
        assert got.loc[70] in ("GM0003", "GM0001") and got.loc[11] in ("GM0003", "GM0001", "GM0002")
