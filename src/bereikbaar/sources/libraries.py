"""KB-style library branch lists (CSV/XLSX) → validated branch points in RD New.

:func:`load_libraries` reads the kind of list a province or the KB hands out: one row per
branch with a name, a type (vestiging, servicepunt, …), an address and, where known,
coordinates as lat/lon or RD x/y. Column names may be Dutch or English; branch types are
normalised from the spellings people write; ``full_service`` follows
:attr:`Settings.full_service_types <bereikbaar.settings.Settings.full_service_types>`.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import Point

from ..exceptions import BereikbaarWarning, InputError, where
from ..schema import (
    ADDRESS,
    BRANCH_TYPE,
    CAPACITY_COLUMNS,
    CRS_RD,
    CRS_WGS84,
    FULL_SERVICE,
    GEMEENTECODE,
    GEOCODE_QUALITY,
    LIBRARY_ID,
    NAME,
    NEEDS_GEOCODING,
    PLACE,
    POSTCODE,
)
from ..settings import Settings
from .geocode import Geocoder, geocode_libraries
from .tabular import name_key, normalise_gemeentecode
from .tabular import normalise_postcode as normalise_postcode  # kept: the old public home
from .tabular import read_delimited as read_delimited  # kept: the old public home

logger = logging.getLogger(__name__)


# Netherlands bounding box in RD New (metres); branches outside are rejected.
RD_X_RANGE: tuple[float, float] = (0.0, 300_000.0)
RD_Y_RANGE: tuple[float, float] = (289_000.0, 629_000.0)
# Rough WGS84 box of the Netherlands (degrees), used to recognise swapped lat/lon.
_NL_LAT = (50.6, 53.7)
_NL_LON = (3.2, 7.3)

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    LIBRARY_ID: ("library_id", "id", "vestigingsnummer", "vestigingscode", "vestiging_id"),
    NAME: ("name", "naam", "vestigingsnaam", "naam_vestiging"),
    BRANCH_TYPE: ("branch_type", "type", "soort", "vestigingstype", "soort_vestiging"),
    "street": ("straat", "adres", "straatnaam", "street", "address"),
    "housenumber": ("huisnummer", "huisnr", "nummer", "housenumber"),
    "suffix": ("toevoeging", "huisnummertoevoeging", "huisletter"),
    POSTCODE: ("postcode", "postal_code", "pc"),
    PLACE: ("plaats", "woonplaats", "vestigingsplaats", "place", "city"),
    GEMEENTECODE: ("gemeentecode", "gemeente", "gm_code"),
    "lat": ("lat", "latitude", "breedtegraad"),
    "lon": ("lon", "lng", "long", "longitude", "lengtegraad"),
    "x": ("x", "rd_x", "x_rd", "rdx"),
    "y": ("y", "rd_y", "y_rd", "rdy"),
}
"""Accepted column names per field (case-, space- and hyphen-insensitive), preferred first."""

REQUIRED_FIELDS: tuple[str, ...] = (NAME, BRANCH_TYPE)

_BRANCH_SPELLINGS: dict[str, tuple[str, ...]] = {
    "vestiging": ("Vestiging", "Hoofdvestiging", "Bibliotheekvestiging"),
    "servicepunt": ("Servicepunt", "Mini-servicepunt"),
    "afhaalpunt": ("Afhaalpunt",),
    "zelfbediening": ("Zelfbedieningsbibliotheek", "Zelfbediening", "Zelfbedieningspunt"),
    "bibliobus": ("Bibliobus", "Bibliobushalte"),
    "bibliotheek_op_school": ("Bibliotheek op school", "BoS", "dBos"),
    "other": ("Overig", "Other"),
}


_BRANCH_LOOKUP: dict[str, str] = {
    name_key(spelling): branch
    for branch, spellings in _BRANCH_SPELLINGS.items()
    for spelling in (*spellings, branch)
}

ACCEPTED_BRANCH_SPELLINGS: tuple[str, ...] = tuple(
    s for spellings in _BRANCH_SPELLINGS.values() for s in spellings
)
"""Branch-type spellings :func:`normalise_branch_type` accepts (case-insensitive)."""


def normalise_branch_type(value: str) -> str:
    """Normalise a written branch type to one of :data:`bereikbaar.schema.BRANCH_TYPES`.

    Case, whitespace, hyphens and underscores are ignored.

    Parameters
    ----------
    value
        The type as written in a branch list, e.g. ``"Hoofdvestiging"`` or ``"Mini-servicepunt"``.

    Returns
    -------
    str
        The normalised type.

    Raises
    ------
    ValueError
        The spelling is not recognised (the message lists the accepted spellings).

    Examples
    --------
    >>> normalise_branch_type("Hoofdvestiging")
    'vestiging'
    >>> normalise_branch_type(" mini - Servicepunt ")
    'servicepunt'
    >>> normalise_branch_type("BoS")
    'bibliotheek_op_school'
    """
    branch = _BRANCH_LOOKUP.get(name_key(str(value)))
    if branch is None:
        msg = (
            f"unknown branch type {value!r}; accepted spellings (case-insensitive):"
            f" {', '.join(ACCEPTED_BRANCH_SPELLINGS)}"
        )
        raise ValueError(msg)
    return branch


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected a CSV or XLSX branch list)"
        raise InputError(msg)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        except Exception as err:  # openpyxl raises many types for broken files
            msg = f"{where(path)}: cannot read as XLSX ({err})"
            raise InputError(msg) from err
        frame = frame.fillna("")
    else:
        frame = read_delimited(path)
    frame = frame.astype(str).apply(lambda col: col.str.strip())
    kept: pd.DataFrame = frame.loc[(frame != "").any(axis=1)]  # index keeps row numbers
    if len(kept) == 0:
        msg = f"{where(path)}: no data rows (expected one row per library branch)"
        raise InputError(msg)
    return kept


def _map_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Field → column name in the file, for every field whose alias is present."""
    by_key: dict[str, str] = {}
    for col in frame.columns:
        by_key.setdefault(name_key(str(col).lstrip("\ufeff")), str(col))
    found: dict[str, str] = {}
    for field_name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            match = by_key.get(name_key(alias))
            if match is not None and match not in found.values():
                found[field_name] = match
                break
    return found


def _parse_number(value: str, path: Path, row: int, column: str) -> float:
    text = value.strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # Dutch decimal comma
    try:
        return float(text)
    except ValueError as err:
        msg = f"{where(path, row, column)}: {value!r} is not a number (expected a coordinate)"
        raise InputError(msg) from err


@functools.lru_cache(maxsize=1)
def _to_rd() -> pyproj.Transformer:
    """WGS84 lon/lat → RD New; cached because building it takes ~0.1 s."""
    return pyproj.Transformer.from_crs(CRS_WGS84, CRS_RD, always_xy=True)


def _coordinates(
    frame: pd.DataFrame, cols: dict[str, str], path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """RD New x, y (m) per row; NaN where a row has no coordinates."""
    n = len(frame)
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    rows = frame.index.to_numpy() + 1
    to_rd = _to_rd()
    for pos in range(n):
        row = int(rows[pos])
        for a, b, kind in (("x", "y", "rd"), ("lat", "lon", "latlon")):
            if a not in cols or b not in cols:
                continue
            va, vb = frame.iloc[pos][cols[a]], frame.iloc[pos][cols[b]]
            if va == "" and vb == "":
                continue
            if va == "" or vb == "":
                missing = cols[a] if va == "" else cols[b]
                msg = f"{where(path, row, missing)}: empty, but the other coordinate is filled"
                raise InputError(msg)
            fa = _parse_number(va, path, row, cols[a])
            fb = _parse_number(vb, path, row, cols[b])
            if kind == "rd":
                x, y = _check_rd(fa, fb, path, row, cols["x"])
            else:
                x, y = _check_latlon(fa, fb, path, row, cols["lat"], cols["lon"], to_rd)
            xs[pos], ys[pos] = x, y
            break  # RD x/y preferred when a row has both
    return xs, ys


def _in_nl(x: float, y: float) -> bool:
    return RD_X_RANGE[0] <= x <= RD_X_RANGE[1] and RD_Y_RANGE[0] <= y <= RD_Y_RANGE[1]


def _bbox_text() -> str:
    return (
        f"RD x {RD_X_RANGE[0]:.0f}..{RD_X_RANGE[1]:.0f} m,"
        f" y {RD_Y_RANGE[0]:.0f}..{RD_Y_RANGE[1]:.0f} m"
    )


def _check_rd(x: float, y: float, path: Path, row: int, column: str) -> tuple[float, float]:
    if abs(x) <= 180 and abs(y) <= 180:
        msg = (
            f"{where(path, row, column)}: ({x}, {y}) looks like lat/lon degrees in RD x/y"
            " columns; put them in columns named lat and lon"
        )
        raise InputError(msg)
    if not _in_nl(x, y):
        hint = " (x and y look swapped)" if _in_nl(y, x) else ""
        msg = (
            f"{where(path, row, column)}: point ({x:.0f}, {y:.0f}) lies outside the"
            f" Netherlands ({_bbox_text()}){hint}"
        )
        raise InputError(msg)
    return x, y


def _check_latlon(
    lat: float,
    lon: float,
    path: Path,
    row: int,
    lat_col: str,
    lon_col: str,
    to_rd: pyproj.Transformer,
) -> tuple[float, float]:
    if abs(lat) > 90 or abs(lon) > 180:
        msg = (
            f"{where(path, row, lat_col)}: ({lat}, {lon}) is not lat/lon in degrees; it looks"
            " like RD x/y metres: put them in columns named x and y"
        )
        raise InputError(msg)
    if _NL_LAT[0] <= lon <= _NL_LAT[1] and _NL_LON[0] <= lat <= _NL_LON[1]:
        msg = (
            f"{where(path, row, lat_col)}: lat={lat}, lon={lon} look swapped (column"
            f" '{lat_col}' holds a longitude and '{lon_col}' a latitude); in the Netherlands"
            " latitude is about 50.7..53.6 and longitude 3.3..7.2"
        )
        raise InputError(msg)
    x, y = to_rd.transform(lon, lat)
    if not _in_nl(x, y):
        msg = (
            f"{where(path, row, lat_col)}: lat={lat}, lon={lon} lies outside the Netherlands"
            f" ({_bbox_text()})"
        )
        raise InputError(msg)
    return float(x), float(y)


def load_libraries(
    path: str | Path, *, settings: Settings | None = None, geocoder: Geocoder | None = None
) -> gpd.GeoDataFrame:
    """Load a KB-style library branch list (CSV or XLSX) as points in RD New.

    Parameters
    ----------
    path
        CSV (``;``, ``,`` or tab separated, UTF-8 with or without BOM, or cp1252) or XLSX
        (first sheet). Required columns: a name (``naam``/``name``) and a type
        (``type``/``soort``/``vestigingstype``). Optional: ``id``/``vestigingsnummer``,
        ``straat``/``adres``, ``huisnummer``, ``postcode``, ``plaats``/``woonplaats``,
        ``gemeente``/``gemeentecode``, and coordinates as WGS84 degrees
        (``lat``/``lon``, ``latitude``/``longitude``, ``breedtegraad``/``lengtegraad``)
        or RD New metres (``x``/``y``, ``rd_x``/``rd_y``). See :data:`COLUMN_ALIASES`.
    settings
        ``settings.full_service_types`` decides ``full_service``; default
        ``Settings()`` (only ``vestiging``).
    geocoder
        When given (e.g. :class:`~bereikbaar.sources.geocode.PdokGeocoder`, online, or
        :class:`~bereikbaar.sources.geocode.TableGeocoder`, offline), rows without
        coordinates are geocoded with
        :func:`~bereikbaar.sources.geocode.geocode_libraries`; rows it cannot place keep
        their data without geometry and are named in a warning.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per branch, in file order, CRS EPSG:28992, with columns ``library_id``
        (from the file, else ``lib-0001``…), ``name``, ``branch_type`` (normalised),
        ``full_service``, ``address`` (``"straat huisnummer"``), ``postcode``
        (``"1234 AB"``), ``place``, ``gemeentecode`` (``GMxxxx`` where known),
        ``geocode_quality`` (``"coordinates"`` or ``"none"``), ``needs_geocoding`` and
        Point geometry (None for rows without coordinates).

    Raises
    ------
    InputError
        Missing/unreadable/empty file, a missing required column, an unknown branch type,
        unparsable, swapped or out-of-country coordinates, or a duplicate id. The message
        names the file, the 1-based data row and the column.

    Warns
    -----
    BereikbaarWarning
        Rows without coordinates (they need geocoding) or with an unrecognised postcode.
    """
    path = Path(path)
    settings = settings if settings is not None else Settings()
    frame = _read_table(path)
    cols = _map_columns(frame)
    for field_name in REQUIRED_FIELDS:
        if field_name not in cols:
            accepted = ", ".join(COLUMN_ALIASES[field_name])
            found = ", ".join(map(str, frame.columns))
            msg = (
                f"{where(path, column=field_name)}: required column missing; accepted names:"
                f" {accepted} (found: {found})"
            )
            raise InputError(msg)
    rows = frame.index.to_numpy() + 1

    def text(field_name: str) -> pd.Series:
        if field_name not in cols:
            return pd.Series([""] * len(frame), index=frame.index, dtype=object)
        return frame[cols[field_name]]

    for pos, value in enumerate(text(NAME)):
        if value == "":
            msg = f"{where(path, int(rows[pos]), cols[NAME])}: empty name"
            raise InputError(msg)

    branch_types: list[str] = []
    for pos, value in enumerate(text(BRANCH_TYPE)):
        try:
            branch_types.append(normalise_branch_type(value))
        except ValueError as err:
            msg = f"{where(path, int(rows[pos]), cols[BRANCH_TYPE])}: {err}"
            raise InputError(msg) from err

    ids = _library_ids(frame, cols, path, rows)

    address = [
        " ".join(part for part in (street, number + suffix) if part) or None
        for street, number, suffix in zip(
            text("street"), text("housenumber"), text("suffix"), strict=True
        )
    ]

    postcodes: list[str | None] = []
    bad_postcodes: list[int] = []
    for pos, value in enumerate(text(POSTCODE)):
        pc = normalise_postcode(value) if value else None
        if value and pc is None:
            bad_postcodes.append(int(rows[pos]))
            pc = value
        postcodes.append(pc)
    if bad_postcodes:
        msg = (
            f"{where(path, column=cols[POSTCODE])}: {len(bad_postcodes)} postcode(s) not of the"
            f" form '1234 AB', kept as written (rows {_first_rows(bad_postcodes)})"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)

    gemeentecodes = [normalise_gemeentecode(v) if v else None for v in text(GEMEENTECODE)]

    xs, ys = _coordinates(frame, cols, path)
    has_xy = ~np.isnan(xs)
    geometry = [Point(x, y) if ok else None for x, y, ok in zip(xs, ys, has_xy, strict=True)]

    out = gpd.GeoDataFrame(
        {
            LIBRARY_ID: ids,
            NAME: text(NAME).to_numpy(dtype=object),
            BRANCH_TYPE: branch_types,
            FULL_SERVICE: [b in settings.full_service_types for b in branch_types],
            ADDRESS: address,
            POSTCODE: postcodes,
            PLACE: [v or None for v in text(PLACE)],
            GEMEENTECODE: gemeentecodes,
            GEOCODE_QUALITY: np.where(has_xy, "coordinates", "none").astype(object),
            NEEDS_GEOCODING: ~has_xy,
        },
        geometry=gpd.GeoSeries(geometry, crs=CRS_RD),
        crs=CRS_RD,
    )

    # capacity columns (opening hours, collection size) pass through for 2SFCA
    for col in frame.columns:
        key = str(col).strip().lower()
        if key in CAPACITY_COLUMNS and key not in out.columns:
            values = pd.to_numeric(
                frame[col].astype(str).str.strip().str.replace(",", ".", regex=False),
                errors="coerce",
            )
            bad = values.isna() & frame[col].notna() & (frame[col].astype(str).str.strip() != "")
            if bad.any() or (values < 0).any():
                first = int(rows[np.flatnonzero(bad.to_numpy() | (values < 0).to_numpy())[0]])
                msg = f"{where(path, first, str(col))}: expected a non-negative number"
                raise InputError(msg)
            out[key] = values.to_numpy(dtype=float)

    missing_rows = [int(r) for r in rows[~has_xy]]
    if missing_rows and geocoder is not None:
        out, _ = geocode_libraries(out, geocoder, rows=[int(r) for r in rows])
        missing_rows = []  # geocode_libraries warns about the rows it could not place
    if missing_rows:
        msg = (
            f"{where(path)}: {len(missing_rows)} of {len(out)} branches have no coordinates"
            f" and need geocoding (rows {_first_rows(missing_rows)})"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    logger.info(
        "%s: %d branches (%d full service, %d with coordinates, %d need geocoding)",
        path,
        len(out),
        int(out[FULL_SERVICE].sum()),
        int(has_xy.sum()),
        len(missing_rows),
    )
    return out


def _first_rows(rows: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (", …" if len(rows) > limit else "")


def _library_ids(
    frame: pd.DataFrame, cols: dict[str, str], path: Path, rows: np.ndarray
) -> list[str]:
    if LIBRARY_ID not in cols:
        return [f"lib-{i:04d}" for i in range(1, len(frame) + 1)]
    column = cols[LIBRARY_ID]
    seen: dict[str, int] = {}
    ids: list[str] = []
    for pos, value in enumerate(frame[column]):
        row = int(rows[pos])
        if value == "":
            msg = f"{where(path, row, column)}: empty id (fill it in or remove the id column)"
            raise InputError(msg)
        if value in seen:
            msg = (
                f"{where(path, row, column)}: duplicate id {value!r}, also in row {seen[value]}"
                f" (rows {seen[value]} and {row})"
            )
            raise InputError(msg)
        seen[value] = row
        ids.append(value)
    return ids
