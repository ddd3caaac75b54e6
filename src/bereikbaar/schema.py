"""Column names, CRS and branch types: one source of truth for names.

Every GeoDataFrame that flows between pipeline stages uses these names and
:data:`CRS_RD` (RD New, EPSG:28992, metres).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import pyproj

CRS_RD: Final = "EPSG:28992"
"""RD New: every metric computation happens in this CRS (metres)."""

CRS_WGS84: Final = "EPSG:4326"
"""WGS84 lon/lat: only at the edges (reading lon/lat sources, drawing maps)."""

# libraries
LIBRARY_ID: Final = "library_id"
NAME: Final = "name"
BRANCH_TYPE: Final = "branch_type"
FULL_SERVICE: Final = "full_service"
ADDRESS: Final = "address"
POSTCODE: Final = "postcode"
PLACE: Final = "place"
GEMEENTECODE: Final = "gemeentecode"
GEMEENTENAAM: Final = "gemeentenaam"
GEOCODE_QUALITY: Final = "geocode_quality"
NEEDS_GEOCODING: Final = "needs_geocoding"

LIBRARY_COLUMNS: Final = (
    LIBRARY_ID,
    NAME,
    BRANCH_TYPE,
    FULL_SERVICE,
    ADDRESS,
    POSTCODE,
    GEMEENTECODE,
    GEOCODE_QUALITY,
)

BRANCH_TYPES: Final = (
    "vestiging",
    "servicepunt",
    "afhaalpunt",
    "zelfbediening",
    "bibliobus",
    "bibliotheek_op_school",
    "other",
)
"""Normalised KB branch types (``hoofdvestiging`` normalises to ``vestiging``)."""

BRANCH_TYPE_LABELS_NL: Final = {
    "vestiging": "Vestiging",
    "servicepunt": "Servicepunt",
    "afhaalpunt": "Afhaalpunt",
    "zelfbediening": "Zelfbedieningsbibliotheek",
    "bibliobus": "Bibliobus(halte)",
    "bibliotheek_op_school": "Bibliotheek op school",
    "other": "Overig",
}

# cells
CELL_ID: Final = "cell_id"
POPULATION: Final = "population"
POPULATION_0_15: Final = "population_0_15"
POPULATION_65PLUS: Final = "population_65plus"
SUPPRESSED: Final = "suppressed"
GROUP_COLUMNS: Final = {
    POPULATION_0_15: "kinderen 0-15 jaar",
    POPULATION_65PLUS: "65-plussers",
}

# nearest-library result
DISTANCE_M: Final = "distance_m"
SNAP_M: Final = "snap_m"
TIME_S: Final = "time_s"
REACHABLE: Final = "reachable"
UNREACHABLE_REASON: Final = "unreachable_reason"
"""Why an origin has no distance (None where it has one): one of :data:`UNREACHABLE_REASONS`."""

REASON_OUTSIDE: Final = "buiten het wegennet"
"""The origin lies outside the area the road network covers: it is not snapped."""
REASON_TOO_FAR: Final = "te ver van de weg"
"""Inside the covered area but farther than ``max_snap_m`` from every usable road."""
REASON_NO_ROUTE: Final = "geen route"
"""Snapped onto a road from which no (full-service) library can be reached."""
REASON_NO_LOCATION: Final = "geen locatie"
"""The origin has no (valid) location."""
UNREACHABLE_REASONS: Final = (REASON_OUTSIDE, REASON_TOO_FAR, REASON_NO_ROUTE, REASON_NO_LOCATION)
"""Every value of ``unreachable_reason``, in the order they are tested."""
REASON_COLUMNS: Final = {
    REASON_OUTSIDE: "population_buiten_wegennet",
    REASON_TOO_FAR: "population_te_ver_van_de_weg",
    REASON_NO_ROUTE: "population_geen_route",
    REASON_NO_LOCATION: "population_geen_locatie",
}
"""Per-area column: residents without a distance for each reason."""

# gemeente summary
MEAN_DISTANCE_KM: Final = "mean_distance_km"
MEDIAN_DISTANCE_KM: Final = "median_distance_km"
P90_DISTANCE_KM: Final = "p90_distance_km"
POPULATION_BEYOND: Final = "population_beyond"
SHARE_BEYOND: Final = "share_beyond"
FULL_SERVICE_LIBRARIES: Final = "full_service_libraries"
POPULATION_UNREACHABLE: Final = "population_unreachable"
TE_GROOT: Final = "te_groot"
REASONS: Final = "reasons"
POPULATION_COVERED: Final = "population_covered"
"""Residents of an area whose cells lie inside the road network's coverage."""
SHARE_COVERED: Final = "share_covered"
"""``population_covered`` over ``population`` (0-1; NaN without residents)."""
ONVOLLEDIG: Final = "onvolledig"
"""Bool: too small a share of the area's residents is covered; no verdict is given."""
VERDICT: Final = "oordeel"
"""The verdict in words: ``"te groot"``, ``"niet te groot"`` or ``"onvolledig"``."""
VERDICT_TE_GROOT: Final = "te groot"
VERDICT_OK: Final = "niet te groot"
VERDICT_ONVOLLEDIG: Final = "onvolledig"

# areas below the gemeente (CBS wijk- en buurtkaart)
BUURTCODE: Final = "buurtcode"
BUURTNAAM: Final = "buurtnaam"
WIJKCODE: Final = "wijkcode"
WIJKNAAM: Final = "wijknaam"
AREA_LEVELS: Final = {
    "gemeente": (GEMEENTECODE, GEMEENTENAAM),
    "wijk": (WIJKCODE, WIJKNAAM),
    "buurt": (BUURTCODE, BUURTNAAM),
}
"""Code and name column of each area level."""

SUMMARY_COLUMNS: Final = (
    GEMEENTECODE,
    GEMEENTENAAM,
    POPULATION,
    MEAN_DISTANCE_KM,
    MEDIAN_DISTANCE_KM,
    P90_DISTANCE_KM,
    POPULATION_BEYOND,
    SHARE_BEYOND,
    FULL_SERVICE_LIBRARIES,
    TE_GROOT,
    REASONS,
)

MODES: Final = ("car", "bike", "walk")

CAPACITY_COLUMNS: Final = (
    "capacity",
    "opening_hours_per_week",
    "openingsuren",
    "openingsuren_per_week",
    "uren_per_week",
    "collection_size",
    "collectie",
    "collectieomvang",
)
"""Branch-list columns read as capacity for 2SFCA (first match wins); kept by the loader."""


def bool_values(values: pd.Series) -> npt.NDArray[np.bool_]:
    """A boolean column as an array, missing values (``None``, NaN, ``pd.NA``) as ``False``.

    Works for plain, nullable (``boolean``, ``Int64``) and object columns alike.

    Parameters
    ----------
    values
        Booleans, possibly with missing values.

    Returns
    -------
    numpy.ndarray
        One bool per row.

    Examples
    --------
    >>> import pandas as pd
    >>> bool_values(pd.Series(pd.array([1, None, 0], dtype="Int64"))).tolist()
    [True, False, False]
    """
    import numpy as np

    return np.asarray(values.to_numpy(dtype=bool, na_value=False), dtype=bool)


def full_service_mask(libraries: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which branches are full-service: the ``full_service`` column, missing counted as no.

    Parameters
    ----------
    libraries
        A branch table with a ``full_service`` column (bool, possibly with missing values).

    Returns
    -------
    numpy.ndarray
        One bool per branch: ``True`` where it is full-service.

    Examples
    --------
    >>> import pandas as pd
    >>> full_service_mask(pd.DataFrame({"full_service": [True, None, False]})).tolist()
    [True, False, False]
    """
    return bool_values(libraries[FULL_SERVICE])


def located_rows(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which rows of an ``(n, 2)`` coordinate array have both coordinates finite.

    ``np.isfinite(xy).all(axis=1)``, column by column (several times faster on
    hundreds of thousands of points).

    Parameters
    ----------
    xy
        ``(n, 2)`` coordinates; NaN or inf: no location.

    Returns
    -------
    numpy.ndarray
        One bool per row.

    Examples
    --------
    >>> import numpy as np
    >>> located_rows(np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, np.inf]])).tolist()
    [True, False, False]
    """
    import numpy as np

    return np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])


@functools.lru_cache(maxsize=16)
def transformer(source: str, target: str) -> pyproj.Transformer:
    """The x/y-ordered (lon, lat) transformer from ``source`` to ``target``, built once.

    Building one costs ~0.05-0.1 s (PROJ's database); pyproj's transformers may be used
    from several threads.

    Parameters
    ----------
    source, target
        CRS strings, e.g. :data:`CRS_WGS84` and :data:`CRS_RD`.

    Returns
    -------
    pyproj.Transformer
        ``Transformer.from_crs(source, target, always_xy=True)``.

    Examples
    --------
    >>> x, y = transformer(CRS_WGS84, CRS_RD).transform(5.387206, 52.155174)
    >>> round(x), round(y)
    (155000, 463000)
    """
    import pyproj

    return pyproj.Transformer.from_crs(source, target, always_xy=True)


_PROJECT_CHUNK: Final = 250_000  # points per thread task of project() (below: one call)


def project(
    source: str, target: str, x: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Transform many points from ``source`` to ``target``, split over the cores.

    pyproj releases the GIL while PROJ transforms, and its transformers are safe to
    share between threads (3.1+), so large arrays are cut into one piece per core; each
    point's result does not depend on the cut (the same bits as one call).

    Parameters
    ----------
    source, target
        CRS strings (as :func:`transformer`).
    x, y
        Coordinates in ``source`` (x = longitude for geographic CRS, as ``always_xy``).

    Returns
    -------
    x, y : numpy.ndarray
        The coordinates in ``target`` (float64).

    Examples
    --------
    >>> x, y = project(CRS_WGS84, CRS_RD, [5.387206], [52.155174])
    >>> round(float(x[0])), round(float(y[0]))
    (155000, 463000)
    """
    import itertools
    import os
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    tr = transformer(source, target)
    cores = min(os.cpu_count() or 1, 8)
    if cores < 2 or len(xs) < 2 * _PROJECT_CHUNK:
        px, py = tr.transform(xs, ys)
        return np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64)
    bounds = np.linspace(0, len(xs), cores + 1).astype(np.int64).tolist()
    out_x, out_y = np.empty_like(xs), np.empty_like(ys)

    def run(a: int, b: int) -> None:
        out_x[a:b], out_y[a:b] = tr.transform(xs[a:b], ys[a:b])

    with ThreadPoolExecutor(cores) as pool:
        for f in [pool.submit(run, a, b) for a, b in itertools.pairwise(bounds)]:
            f.result()
    return out_x, out_y
