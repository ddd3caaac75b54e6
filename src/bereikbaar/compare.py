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
from .schema import GEMEENTECODE, GEMEENTENAAM, MEAN_DISTANCE_KM
from .sources.cbs_reference import CBS_MEAN_DISTANCE_KM, load_cbs_reference

__all__ = [
    "CBS_BRANCH_TYPES",
    "CBS_COMPARABLE_KM",
    "COMPARISON_HEADERS_NL",
    "DIFFERENCE_KM",
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

COMPARISON_HEADERS_NL: Final = {
    GEMEENTECODE: "Gemeentecode",
    GEMEENTENAAM: "Gemeente",
    CBS_COMPARABLE_KM: "Gemiddelde afstand bereikbaar (km, vestigingen en servicepunten, auto)",
    CBS_MEAN_DISTANCE_KM: "Gemiddelde afstand CBS (km)",
    DIFFERENCE_KM: "Verschil bereikbaar - CBS (km)",
}
"""Dutch headers of ``vergelijking_cbs.csv``."""


def compare_with_cbs(
    summary: pd.DataFrame,
    kwb: pd.DataFrame | str | Path,
    *,
    column: str = MEAN_DISTANCE_KM,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put our mean distance per gemeente next to CBS's and summarise the agreement.

    Parameters
    ----------
    summary
        One row per gemeente with ``gemeentecode`` and our mean distance (km) in
        ``column``; for a like-for-like comparison that is the car-mode mean to
        the nearest vestiging or servicepunt (:data:`CBS_BRANCH_TYPES`).
    kwb
        CBS's figures: the output of
        :func:`~bereikbaar.sources.cbs_reference.load_cbs_reference`, or a path
        it reads.
    column
        The column of ``summary`` with our mean (km); default ``mean_distance_km``.

    Returns
    -------
    per_gemeente : pandas.DataFrame
        One row per gemeente of ``summary`` (same order): ``gemeentecode``,
        ``gemeentenaam``, ``cbs_comparable_mean_km`` (ours, km),
        ``cbs_mean_distance_km`` (CBS, km; NaN where CBS has none) and
        ``cbs_difference_km`` (ours − CBS, km).
    summary : dict
        ``n_gemeenten`` (rows), ``n_compared`` (both figures present),
        ``median_abs_difference_km``, ``mean_difference_km`` (bias, km),
        ``max_abs_difference_km``, ``spearman_rho`` (rank correlation) and
        ``missing_in_cbs`` (codes CBS has no row for). Statistics are NaN when
        nothing can be compared; ``spearman_rho`` also with fewer than two
        gemeenten or constant values.

    Raises
    ------
    InputError
        ``summary`` lacks ``gemeentecode`` or ``column``.

    Warns
    -----
    BereikbaarWarning
        Gemeenten of ``summary`` that CBS has no row for (e.g. another year's
        indeling).
    """
    for col in (GEMEENTECODE, column):
        if col not in summary.columns:
            msg = f"summary has no '{col}' column (expected one row per gemeente)"
            raise InputError(msg)
    reference = kwb if isinstance(kwb, pd.DataFrame) else load_cbs_reference(kwb)
    ref = reference.drop_duplicates(GEMEENTECODE).set_index(GEMEENTECODE)
    codes = summary[GEMEENTECODE].astype(str).to_numpy()
    ours = pd.to_numeric(summary[column], errors="coerce").to_numpy(dtype=float)
    cbs = ref[CBS_MEAN_DISTANCE_KM].reindex(codes).to_numpy(dtype=float)
    if GEMEENTENAAM in summary.columns:
        names = summary[GEMEENTENAAM].to_numpy(dtype=object)
    elif GEMEENTENAAM in ref.columns:
        names = ref[GEMEENTENAAM].reindex(codes).to_numpy(dtype=object)
    else:
        names = np.full(len(codes), None, dtype=object)
    per = pd.DataFrame(
        {
            GEMEENTECODE: codes,
            GEMEENTENAAM: names,
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
            f"CBS reference has no figure row for {len(missing)} gemeente(n) ({shown});"
            " another year's gemeentelijke indeling?"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    both = np.isfinite(ours) & np.isfinite(cbs)
    diff = (ours - cbs)[both]
    nan = float("nan")
    rho = nan
    if both.sum() >= 2 and np.ptp(ours[both]) > 0 and np.ptp(cbs[both]) > 0:
        from scipy import stats  # scipy.stats costs ~0.5 s to import; only this figure uses it

        rho = float(stats.spearmanr(ours[both], cbs[both]).statistic)
    result: dict[str, Any] = {
        "n_gemeenten": len(per),
        "n_compared": int(both.sum()),
        "median_abs_difference_km": float(np.median(np.abs(diff))) if len(diff) else nan,
        "mean_difference_km": float(diff.mean()) if len(diff) else nan,
        "max_abs_difference_km": float(np.abs(diff).max()) if len(diff) else nan,
        "spearman_rho": rho,
        "missing_in_cbs": missing,
    }
    log.info(
        "CBS comparison: %d gemeenten compared, median |difference| %.2f km, Spearman %.3f",
        result["n_compared"],
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
