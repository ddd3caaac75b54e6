"""Capacity-weighted access: two-step floating catchment area (2SFCA, enhanced 2SFCA).

:func:`travel_costs` gives the road distance from every cell to every library
within a catchment (bounded Dijkstras, :mod:`bereikbaar.engine.bounded`);
:func:`fca_from_costs` is the 2SFCA arithmetic on such a table (with
:func:`gaussian_decay` or :func:`step_decay` for the enhanced variant);
:func:`two_step_fca` does both for a run, per cell, library and gemeente.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from ..aggregate import cell_gemeenten
from ..engine.bounded import bounded_costs
from ..engine.network import FloatArray
from ..exceptions import BereikbaarWarning, InputError
from ..result import RunResult
from ..schema import (
    CAPACITY_COLUMNS,
    CELL_ID,
    GEMEENTECODE,
    GEMEENTENAAM,
    LIBRARY_ID,
    POPULATION,
    full_service_mask,
)
from ..settings import Settings
from .baseline import Baseline, prepare_baseline, slice_snapped
from .whatif import ScenarioResult

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CATCHMENT_KM",
    "TwoStepFCA",
    "fca_from_costs",
    "gaussian_decay",
    "step_decay",
    "travel_costs",
    "two_step_fca",
]

DEFAULT_CATCHMENT_KM = 10.0
"""Default 2SFCA catchment (km of road)."""


def _capacity(libs: gpd.GeoDataFrame, capacity: str | Mapping[str, float] | None) -> FloatArray:
    if isinstance(capacity, Mapping):
        ids = libs[LIBRARY_ID].astype(str)
        missing = [i for i in ids if i not in capacity]
        if missing:
            msg = f"capacity: no value for library_id {', '.join(missing[:5])}"
            raise InputError(msg)
        return np.array([float(capacity[i]) for i in ids])
    col = capacity
    if col is None:
        col = next((c for c in CAPACITY_COLUMNS if c in libs.columns), None)
        if col is None:
            log.info(
                "no capacity column (%s): every branch has capacity 1", ", ".join(CAPACITY_COLUMNS)
            )
            return np.ones(len(libs))
    if col not in libs.columns:
        msg = f"libraries have no capacity column {col!r}"
        raise InputError(msg)
    values = pd.to_numeric(libs[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} branches have no valid '{col}'; they count with capacity 0",
            BereikbaarWarning,
            stacklevel=3,
        )
        values = np.where(bad, 0.0, values)
    return np.asarray(values, dtype=np.float64)


def travel_costs(
    result: RunResult | Baseline | ScenarioResult,
    *,
    max_km: float = DEFAULT_CATCHMENT_KM,
    full_service_only: bool = True,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Road distance from every cell to every library within ``max_km`` (long format).

    Parameters
    ----------
    result
        The run (or scenario).
    max_km
        Largest distance kept (km).
    full_service_only
        Only full-service branches.
    settings
        Settings (default from the run).

    Returns
    -------
    pandas.DataFrame
        ``origin`` (cell index label), ``library_id``, ``cost_km`` (home → library,
        km of road, snap legs included).
    """
    base = prepare_baseline(result, settings)
    libs = base.libraries
    mask = np.ones(len(libs), dtype=bool)
    if full_service_only:
        mask = full_service_mask(libs)
    idx = np.flatnonzero(mask)
    costs = bounded_costs(
        base.network, base.origins, slice_snapped(base.library_snaps, idx), max_km * 1000.0
    )
    coo = costs.tocoo()
    return pd.DataFrame(
        {
            "origin": base.cells.index.to_numpy()[coo.col],
            LIBRARY_ID: libs[LIBRARY_ID].to_numpy()[idx][coo.row],
            "cost_km": coo.data / 1000.0,
        }
    ).sort_values(["origin", LIBRARY_ID], kind="stable", ignore_index=True)


def fca_from_costs(
    costs: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    *,
    max_cost: float,
    weight_fn: Callable[[FloatArray], FloatArray] | None = None,
    origin: str = "origin",
    dest: str = LIBRARY_ID,
    cost: str = "cost_km",
) -> tuple[pd.Series, pd.Series]:
    """Two-step floating catchment area from a travel-cost table (dense NumPy).

    Step 1: ``R_j = S_j / Σ_i f(d_ij) P_i`` over ``d_ij <= max_cost``;
    step 2: ``A_i = Σ_j f(d_ij) R_j``. With ``weight_fn`` None, ``f = 1``
    (classic 2SFCA); with a decay it is the enhanced 2SFCA.

    Parameters
    ----------
    costs
        Long table of ``origin``, ``dest`` and ``cost``.
    demand
        Residents per origin (index = origin).
    supply
        Capacity per destination (index = destination).
    max_cost
        Catchment (same unit as ``cost``).
    weight_fn
        Vectorised decay ``f(cost)``.
    origin, dest, cost
        Column names in ``costs``.

    Returns
    -------
    access, ratio
        ``A_i`` per origin (0 where no library in reach; index of ``demand``) and
        ``R_j`` per destination (NaN where nobody is in reach).

    Examples
    --------
    >>> c = pd.DataFrame({"origin": [0, 1, 1], "library_id": ["a", "a", "b"],
    ...                   "cost_km": [1.0, 2.0, 3.0]})
    >>> acc, r = fca_from_costs(c, pd.Series([100.0, 300.0]), pd.Series({"a": 2.0, "b": 3.0}),
    ...                         max_cost=5)
    >>> r.tolist(), acc.tolist()
    ([0.005, 0.01], [0.005, 0.015])
    """
    c = costs[costs[cost] <= max_cost]
    oi = demand.index.get_indexer(pd.Index(c[origin]))
    dj = supply.index.get_indexer(pd.Index(c[dest]))
    ok = (oi >= 0) & (dj >= 0)
    oi, dj = oi[ok], dj[ok]
    d = c[cost].to_numpy(dtype=float)[ok]
    f = np.ones_like(d) if weight_fn is None else np.asarray(weight_fn(d), dtype=float)
    p = np.nan_to_num(demand.to_numpy(dtype=float))
    s = supply.to_numpy(dtype=float)
    weighted_demand = np.bincount(dj, weights=f * p[oi], minlength=len(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(weighted_demand > 0, s / weighted_demand, np.nan)
    contrib = f * np.nan_to_num(ratio[dj])
    acc = np.bincount(oi, weights=contrib, minlength=len(p))
    return pd.Series(acc, index=demand.index, name="access"), pd.Series(
        ratio, index=supply.index, name="ratio"
    )


def gaussian_decay(sigma: float) -> Callable[[FloatArray], FloatArray]:
    """Gaussian decay ``exp(-d² / (2 σ²))`` (as PySAL ``access.weights.gaussian``).

    Examples
    --------
    >>> round(float(gaussian_decay(2.0)(np.array([2.0]))[0]), 4)
    0.6065
    """

    def f(d: FloatArray) -> FloatArray:
        return np.asarray(np.exp(-d * d / (2.0 * sigma**2)))

    return f


def step_decay(steps: Mapping[float, float]) -> Callable[[FloatArray], FloatArray]:
    """Step decay: weight of the first bound ``>=`` the cost, 0 beyond the last.

    Examples
    --------
    >>> step_decay({5: 1.0, 10: 0.68, 15: 0.22})(np.array([0.0, 5.0, 7.0, 15.0, 16.0])).tolist()
    [1.0, 1.0, 0.68, 0.22, 0.0]
    """
    bounds = np.array(sorted(steps), dtype=float)
    values = np.array([steps[b] for b in sorted(steps)], dtype=float)

    def f(d: FloatArray) -> FloatArray:
        i = np.searchsorted(bounds, d, side="left")
        return np.where(i < len(bounds), values[np.minimum(i, len(bounds) - 1)], 0.0)

    return f


@dataclass
class TwoStepFCA:
    """Capacity-weighted accessibility (2SFCA / enhanced 2SFCA).

    Attributes
    ----------
    cells
        Per cell: ``access`` (capacity within reach per resident) and
        ``access_per_10k`` (per 10 000 residents).
    libraries
        Per library: ``capacity`` and ``ratio`` (capacity per weighted resident in
        its catchment).
    gemeenten
        Per gemeente: person-weighted mean ``access_per_10k``.
    costs
        The travel-cost table used (``origin``, ``library_id``, ``cost_km``).
    method
        ``"2sfca"`` or ``"e2sfca-gaussian"`` / ``"e2sfca-step"``.
    """

    cells: pd.DataFrame
    libraries: pd.DataFrame
    gemeenten: pd.DataFrame
    costs: pd.DataFrame
    method: str


def two_step_fca(
    result: RunResult | Baseline | ScenarioResult,
    *,
    catchment_km: float = DEFAULT_CATCHMENT_KM,
    decay: Literal["none", "gaussian", "step"] = "none",
    sigma_km: float | None = None,
    steps: Mapping[float, float] | None = None,
    capacity: str | Mapping[str, float] | None = None,
    settings: Settings | None = None,
) -> TwoStepFCA:
    """Two-step floating catchment area accessibility per cell and per gemeente.

    Parameters
    ----------
    result
        The run (or scenario).
    catchment_km
        Catchment (km of road, home → library).
    decay
        ``"none"`` (2SFCA), ``"gaussian"`` or ``"step"`` (enhanced 2SFCA).
    sigma_km
        Gaussian width (km); default ``catchment_km / 2``.
    steps
        Step zones ``{upper bound km: weight}``; default Luo & Qi's
        ``{c/3: 1, 2c/3: 0.68, c: 0.22}`` for catchment ``c``.
    capacity
        Column of the branch list (e.g. opening hours per week or collection
        size) or ``{library_id: capacity}``; default the first column of
        :data:`CAPACITY_COLUMNS` present, else 1 per branch.
    settings
        Settings (default from the run).

    Returns
    -------
    TwoStepFCA
        Per cell, per library and per gemeente values.
    """
    base = prepare_baseline(result, settings)
    costs = travel_costs(base, max_km=catchment_km)
    libs = base.libraries[full_service_mask(base.libraries)]
    supply = pd.Series(_capacity(libs, capacity), index=libs[LIBRARY_ID].to_numpy())
    demand = pd.Series(base.cells[POPULATION].to_numpy(dtype=float), index=base.cells.index)
    fn: Callable[[FloatArray], FloatArray] | None
    if decay == "none":
        fn, method = None, "2sfca"
    elif decay == "gaussian":
        fn, method = gaussian_decay(sigma_km or catchment_km / 2.0), "e2sfca-gaussian"
    elif decay == "step":
        c = catchment_km
        fn = step_decay(steps or {c / 3.0: 1.0, 2.0 * c / 3.0: 0.68, c: 0.22})
        method = "e2sfca-step"
    else:
        msg = f"decay must be 'none', 'gaussian' or 'step', got {decay!r}"
        raise InputError(msg)
    acc, ratio = fca_from_costs(costs, demand, supply, max_cost=catchment_km, weight_fn=fn)
    cells = pd.DataFrame({"access": acc, "access_per_10k": acc * 10_000.0}, index=demand.index)
    if CELL_ID in base.cells.columns:
        cells.insert(0, CELL_ID, base.cells[CELL_ID].to_numpy())
    codes = cell_gemeenten(base.cells, base.gemeenten).to_numpy()
    cells[GEMEENTECODE] = codes
    pop = np.nan_to_num(demand.to_numpy())
    frame = pd.DataFrame({"g": codes, "w": pop, "wa": pop * cells["access_per_10k"].to_numpy()})
    agg = frame.groupby("g").sum()
    gem = base.summary[[GEMEENTECODE, GEMEENTENAAM]].copy()
    wa = agg["wa"].reindex(gem[GEMEENTECODE]).to_numpy()
    w = agg["w"].reindex(gem[GEMEENTECODE]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        gem["access_per_10k"] = np.where(w > 0, wa / w, np.nan)
    gem[POPULATION] = w
    lib_table = pd.DataFrame(
        {LIBRARY_ID: supply.index, "capacity": supply.to_numpy(), "ratio": ratio.to_numpy()}
    )
    return TwoStepFCA(cells, lib_table, gem.reset_index(drop=True), costs, method)
