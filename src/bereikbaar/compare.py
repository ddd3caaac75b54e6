"""Compare our distances with CBS's official figure per gemeente.

CBS measures the mean road distance (car roads, ferries included) from every
inhabited address to the nearest library *location*: KB vestigingen **and**
servicepunten. Our comparable figure is therefore the person-weighted mean over
cells in car mode with those two branch types as destinations (see
:data:`CBS_BRANCH_TYPES`), not the full-service distance the "te groot" flag
uses. Differences remain: CBS starts from addresses, we from grid cells.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from .exceptions import BereikbaarWarning, InputError
from .schema import (
    AREA_LEVELS,
    GEMEENTECODE,
    GEMEENTENAAM,
    MEAN_DISTANCE_KM,
    ONVOLLEDIG,
    SHARE_COVERED,
)
from .sources.cbs_reference import CBS_MEAN_DISTANCE_KM, load_cbs_reference

__all__ = [
    "CBS_BRANCH_TYPES",
    "CBS_COMPARABLE_KM",
    "COMPARED",
    "COMPARISON_HEADERS_NL",
    "DIFFERENCE_KM",
    "NOT_COMPARED_REASON",
    "compare_with_cbs",
    "write_comparison",
]

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the real one is served by __getattr__ (see there); this is its signature

    def write_comparison(path: str | Path, per_gemeente: pd.DataFrame) -> Path:
        """See :func:`bereikbaar.output.tables.write_comparison`."""


CBS_BRANCH_TYPES: Final = ("vestiging", "servicepunt")
"""Branch types CBS counts as a library location."""

CBS_COMPARABLE_KM: Final = "cbs_comparable_mean_km"
"""Column: our person-weighted mean distance (km) to the nearest vestiging or servicepunt."""

DIFFERENCE_KM: Final = "cbs_difference_km"
"""Column: ours minus CBS (km); positive = we measure farther."""

COMPARED: Final = "compared"
"""Column: the area counts in the agreement statistics."""

NOT_COMPARED_REASON: Final = "not_compared_reason"
"""Column: why an area is not compared (Dutch; empty when it is)."""

COMPARISON_HEADERS_NL: Final = {
    GEMEENTECODE: "Gemeentecode",
    GEMEENTENAAM: "Gemeente",
    CBS_COMPARABLE_KM: "Gemiddelde afstand bereikbaar (km, vestigingen en servicepunten, auto)",
    CBS_MEAN_DISTANCE_KM: "Gemiddelde afstand CBS (km)",
    DIFFERENCE_KM: "Verschil bereikbaar - CBS (km)",
    NOT_COMPARED_REASON: "Niet vergeleken, reden",
}
"""Dutch headers of ``vergelijking_cbs.csv``."""


def compare_with_cbs(
    summary: pd.DataFrame,
    kwb: pd.DataFrame | str | Path,
    *,
    column: str = MEAN_DISTANCE_KM,
    level: str = "gemeente",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put our mean distance per area next to CBS's and summarise the agreement.

    Areas marked ``onvolledig`` (too few of their residents inside the road network's
    coverage) are listed, with the reason, but left out of the statistics: part of
    their residents has no number, so their mean is not CBS's whole-area figure.

    Parameters
    ----------
    summary
        One row per area with its code (``gemeentecode``, ``wijkcode`` or
        ``buurtcode``) and our mean distance (km) in ``column``; for a like-for-like
        comparison that is the car-mode mean to the nearest vestiging or servicepunt
        (:data:`CBS_BRANCH_TYPES`). An optional bool ``onvolledig`` column leaves
        rows out of the statistics.
    kwb
        CBS's figures: the output of
        :func:`~bereikbaar.sources.cbs_reference.load_cbs_reference` for ``level``,
        or a path it reads.
    column
        The column of ``summary`` with our mean (km); default ``mean_distance_km``.
    level
        ``"gemeente"`` (default), ``"wijk"`` or ``"buurt"``.

    Returns
    -------
    per_area : pandas.DataFrame
        One row per area of ``summary`` (same order): the code and name columns,
        ``cbs_comparable_mean_km`` (ours, km), ``cbs_mean_distance_km`` (CBS, km;
        NaN where CBS has none), ``cbs_difference_km`` (ours − CBS, km),
        ``compared`` (bool) and ``not_compared_reason`` (Dutch; empty when compared).
    summary : dict
        ``level``, ``n_areas`` (rows; at the gemeente level also ``n_gemeenten``),
        ``n_compared`` (both figures present, not onvolledig),
        ``median_abs_difference_km``, ``mean_difference_km`` (bias, km),
        ``max_abs_difference_km``, ``spearman_rho`` (rank correlation),
        ``missing_in_cbs`` (codes CBS has no row for) and ``left_out`` (code →
        reason of every onvolledig area). Statistics are NaN when nothing can be
        compared; ``spearman_rho`` also with fewer than two areas or constant values.

    Raises
    ------
    InputError
        ``summary`` lacks the code column or ``column``; an unknown ``level``.

    Warns
    -----
    BereikbaarWarning
        Areas of ``summary`` that CBS has no row for (e.g. another year's indeling).
    """
    if level not in AREA_LEVELS:
        msg = f"level must be one of {', '.join(AREA_LEVELS)}, got {level!r}"
        raise InputError(msg)
    code_col, name_col = AREA_LEVELS[level]
    for col in (code_col, column):
        if col not in summary.columns:
            msg = f"summary has no '{col}' column (expected one row per {level})"
            raise InputError(msg)
    reference = kwb if isinstance(kwb, pd.DataFrame) else load_cbs_reference(kwb, level=level)
    if code_col not in reference.columns:
        msg = f"the CBS reference has no '{code_col}' column (give the {level} figures)"
        raise InputError(msg)
    ref = reference.drop_duplicates(code_col).set_index(code_col)
    codes = summary[code_col].astype(str).to_numpy()
    ours = pd.to_numeric(summary[column], errors="coerce").to_numpy(dtype=float)
    cbs = ref[CBS_MEAN_DISTANCE_KM].reindex(codes).to_numpy(dtype=float)
    if name_col in summary.columns:
        names = summary[name_col].to_numpy(dtype=object)
    elif name_col in ref.columns:
        names = ref[name_col].reindex(codes).to_numpy(dtype=object)
    else:
        names = np.full(len(codes), None, dtype=object)
    short = (
        summary[ONVOLLEDIG].fillna(False).to_numpy(dtype=bool)
        if ONVOLLEDIG in summary.columns
        else np.zeros(len(codes), dtype=bool)
    )
    why = np.full(len(codes), "", dtype=object)
    if short.any():
        share = (
            pd.to_numeric(summary[SHARE_COVERED], errors="coerce").to_numpy(dtype=float)
            if SHARE_COVERED in summary.columns
            else np.full(len(codes), np.nan)
        )
        why[short] = [
            "onvolledig"
            + (f": {v:.0%} van de inwoners binnen het wegennet" if np.isfinite(v) else "")
            for v in share[short]
        ]
    per = pd.DataFrame(
        {
            code_col: codes,
            name_col: names,
            CBS_COMPARABLE_KM: ours,
            CBS_MEAN_DISTANCE_KM: cbs,
            DIFFERENCE_KM: ours - cbs,
        },
        index=summary.index,
    )
    missing = sorted(set(codes) - set(ref.index))
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        msg = (
            f"CBS reference has no figure row for {len(missing)} {level}(n) ({shown});"
            " another year's gemeentelijke indeling?"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    both = np.isfinite(ours) & np.isfinite(cbs) & ~short
    per[COMPARED] = both
    per[NOT_COMPARED_REASON] = why
    per.loc[~both & ~short & ~np.isfinite(cbs), NOT_COMPARED_REASON] = "geen CBS-cijfer"
    per.loc[~both & ~short & np.isfinite(cbs), NOT_COMPARED_REASON] = "geen afstand berekend"
    diff = (ours - cbs)[both]
    nan = float("nan")
    rho = nan
    if both.sum() >= 2 and np.ptp(ours[both]) > 0 and np.ptp(cbs[both]) > 0:
        from scipy import stats  # scipy.stats costs ~0.5 s to import; only this figure uses it

        rho = float(stats.spearmanr(ours[both], cbs[both]).statistic)
    result: dict[str, Any] = {"level": level, "n_areas": len(per)}
    if level == "gemeente":
        result["n_gemeenten"] = len(per)
    result.update(
        {
            "n_compared": int(both.sum()),
            "median_abs_difference_km": float(np.median(np.abs(diff))) if len(diff) else nan,
            "mean_difference_km": float(diff.mean()) if len(diff) else nan,
            "max_abs_difference_km": float(np.abs(diff).max()) if len(diff) else nan,
            "spearman_rho": rho,
            "missing_in_cbs": missing,
            "left_out": {str(c): str(w) for c, w in zip(codes[short], why[short], strict=True)},
        }
    )
    log.info(
        "CBS comparison per %s: %d compared, %d onvolledig left out, median |difference|"
        " %.2f km, Spearman %.3f",
        level,
        result["n_compared"],
        int(short.sum()),
        result["median_abs_difference_km"],
        rho,
    )
    return per, result


def __getattr__(name: str) -> Any:
    """``write_comparison``, which moved to :mod:`bereikbaar.output.tables`.

    The writer belongs to the output layer, which sits above this module: importing it at
    module level would make compare depend on output (and output.tables imports compare).
    Deprecated import path, kept for one release: use bereikbaar.output.tables.write_comparison.
    """
    if name == "write_comparison":
        from .output.tables import write_comparison  # lazy: output sits above compare

        return write_comparison
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
