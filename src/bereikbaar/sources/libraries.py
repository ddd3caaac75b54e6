"""KB-style library branch lists (CSV/XLSX) → validated branch points in RD New.

:func:`load_libraries` reads the kind of list a province or the KB hands out: one row per
branch with a name, a type (vestiging, servicepunt, …), an address and, where known,
coordinates as lat/lon or RD x/y. Column names may be Dutch or English; branch types are
normalised from the spellings people write; ``full_service`` follows
:attr:`Settings.full_service_types <bereikbaar.settings.Settings.full_service_types>`.
"""

from __future__ import annotations

import datetime
import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import Point

from ..exceptions import BereikbaarWarning, InputError, Problems, where
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
    transformer,
)
from ..settings import Settings
from .geocode import Geocoder, geocode_libraries
from .tabular import (
    EXCEL_ERRORS,
    NumberError,
    Table,
    name_key,
    normalise_gemeentecode,
    parse_number,
    read_table,
)
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


MAX_BRANCH_ROWS = 20_000
"""A branch list with more data rows is refused (the Netherlands has about 1,250 library
locations; a file many times that size is the wrong file, e.g. an address extract)."""

MAX_BRANCH_BYTES = 20_000_000
"""A branch list larger than this (20 MB) is refused before it is read."""


def _read_table(path: Path, sheet: str | None) -> Table:
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected a CSV or XLSX branch list)"
        raise InputError(msg)
    table = read_table(
        path,
        sheet=sheet,
        max_bytes=MAX_BRANCH_BYTES,
        max_rows=MAX_BRANCH_ROWS,
        what="the branch list",
    )
    if len(table.frame) == 0:
        msg = f"{where(path)}: no data rows (expected one row per library branch)"
        raise InputError(msg)
    return table


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


# How each coordinate column reads "155.000" (one separator, three digits): RD metres
# below 1000 lie outside the Netherlands, so it is a thousands separator there; degrees
# are never 1000 or more, so it is a decimal point there.
_AMBIGUOUS = {"x": "thousands", "y": "thousands", "lat": "decimal", "lon": "decimal"}
_EXPECTED = {
    "x": "RD x in metres",
    "y": "RD y in metres",
    "lat": "latitude in degrees",
    "lon": "longitude in degrees",
}


def _number(table: Table, pos: int, column: str, field_name: str) -> float:
    """A coordinate cell as a float; NumberError (message without location) if not."""
    native = table.native.get((pos, column))
    if isinstance(native, datetime.date | datetime.datetime):
        msg = (
            f"a date ({native.isoformat()}) where a number ({_EXPECTED[field_name]}) is"
            " expected; set the column's format to Number and type the value again"
        )
        raise NumberError(msg)
    if native is not None:
        return parse_number(native)
    return parse_number(table.frame[column].iloc[pos], ambiguous=_AMBIGUOUS[field_name])


def _coordinates(
    table: Table, cols: dict[str, str], problems: Problems
) -> tuple[np.ndarray, np.ndarray]:
    """RD New x, y (m) per row; NaN where a row has no coordinates (problems recorded)."""
    frame = table.frame
    n = len(frame)
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    to_rd = transformer(CRS_WGS84, CRS_RD)
    pairs = [
        (a, b, kind)
        for a, b, kind in (("x", "y", "rd"), ("lat", "lon", "latlon"))
        if a in cols and b in cols
    ]
    columns = {f: frame[cols[f]].to_numpy(dtype=object) for a, b, _ in pairs for f in (a, b)}
    for pos in range(n):
        for a, b, kind in pairs:
            va, vb = columns[a][pos], columns[b][pos]
            if va in EXCEL_ERRORS or vb in EXCEL_ERRORS:
                break  # reported as a spreadsheet error value already
            if va == "" and vb == "":
                continue
            if va == "" or vb == "":
                missing = cols[a] if va == "" else cols[b]
                problems.add(table.loc(pos, missing), "empty, but the other coordinate is filled")
                break
            values = []
            for f in (a, b):
                try:
                    values.append(_number(table, pos, cols[f], f))
                except NumberError as err:
                    problems.add(table.loc(pos, cols[f]), f"{err} (expected {_EXPECTED[f]})")
            if len(values) < 2:
                break
            fa, fb = values
            try:
                if kind == "rd":
                    x, y = _check_rd(fa, fb)
                else:
                    x, y = _check_latlon(fa, fb, cols["lat"], cols["lon"], to_rd)
            except ValueError as err:
                problems.add(table.loc(pos, cols[a]), str(err))
                break
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


def _check_rd(x: float, y: float) -> tuple[float, float]:
    if abs(x) <= 180 and abs(y) <= 180:
        msg = (
            f"({x}, {y}) looks like lat/lon degrees in RD x/y columns; put them in columns"
            " named lat and lon"
        )
        raise ValueError(msg)
    if not _in_nl(x, y):
        hint = " (x and y look swapped)" if _in_nl(y, x) else ""
        msg = f"point ({x:.0f}, {y:.0f}) lies outside the Netherlands ({_bbox_text()}){hint}"
        raise ValueError(msg)
    return x, y


def _check_latlon(
    lat: float, lon: float, lat_col: str, lon_col: str, to_rd: pyproj.Transformer
) -> tuple[float, float]:
    if abs(lat) > 90 or abs(lon) > 180:
        msg = (
            f"({lat}, {lon}) is not lat/lon in degrees; it looks like RD x/y metres: put them"
            " in columns named x and y"
        )
        raise ValueError(msg)
    if _NL_LAT[0] <= lon <= _NL_LAT[1] and _NL_LON[0] <= lat <= _NL_LON[1]:
        msg = (
            f"lat={lat}, lon={lon} look swapped (column '{lat_col}' holds a longitude and"
            f" '{lon_col}' a latitude); in the Netherlands latitude is about 50.7..53.6 and"
            " longitude 3.3..7.2"
        )
        raise ValueError(msg)
    x, y = to_rd.transform(lon, lat)
    if not _in_nl(x, y):
        msg = f"lat={lat}, lon={lon} lies outside the Netherlands ({_bbox_text()})"
        raise ValueError(msg)
    return float(x), float(y)


def load_libraries(
    path: str | Path,
    *,
    settings: Settings | None = None,
    geocoder: Geocoder | None = None,
    sheet: str | None = None,
) -> gpd.GeoDataFrame:
    """Load a KB-style library branch list (CSV or XLSX) as points in RD New.

    Every row is checked before anything is returned, and every problem found is
    reported at once (:class:`~bereikbaar.exceptions.InputProblemsError`, at most 20 listed),
    each with its line (CSV: the physical line an editor shows, header and blank lines
    counted) or cell (XLSX: ``Blad1!C5``), the column, the value and what was expected.

    Parameters
    ----------
    path
        CSV (``;``, ``,`` or tab separated, UTF-8 with or without BOM, or cp1252; see
        :func:`~bereikbaar.sources.tabular.read_delimited`) or XLSX. Required columns: a
        name (``naam``/``name``) and a type (``type``/``soort``/``vestigingstype``).
        Optional: ``id``/``vestigingsnummer``, ``straat``/``adres``, ``huisnummer``,
        ``postcode``, ``plaats``/``woonplaats``, ``gemeente``/``gemeentecode``, and
        coordinates as WGS84 degrees (``lat``/``lon``, ``latitude``/``longitude``,
        ``breedtegraad``/``lengtegraad``) or RD New metres (``x``/``y``,
        ``rd_x``/``rd_y``). See :data:`COLUMN_ALIASES`. Numbers may carry thousands
        separators (``155.000``, ``155 000``) and a decimal comma (``52,0116``). At most
        :data:`MAX_BRANCH_ROWS` rows and :data:`MAX_BRANCH_BYTES` bytes.
    settings
        ``settings.full_service_types`` decides ``full_service``;
        ``settings.inputs.libraries_sheet`` names the sheet of a workbook; default
        ``Settings()`` (only ``vestiging``).
    geocoder
        When given (e.g. :class:`~bereikbaar.sources.geocode.PdokGeocoder`, online, or
        :class:`~bereikbaar.sources.geocode.TableGeocoder`, offline), rows without
        coordinates are geocoded with
        :func:`~bereikbaar.sources.geocode.geocode_libraries`; rows it cannot place keep
        their data without geometry and are named in a warning.
    sheet
        The workbook's sheet to read (overrides ``settings.inputs.libraries_sheet``).
        Without either, a workbook must have exactly one sheet with data.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per branch, in file order, CRS EPSG:28992, with columns ``library_id``
        (from the file, else ``lib-0001``…), ``name``, ``branch_type`` (normalised),
        ``full_service``, ``address`` (``"straat huisnummer"``), ``postcode``
        (``"1234 AB"``), ``place``, ``gemeentecode`` (``GMxxxx`` where known),
        ``geocode_quality`` (``"coordinates"`` or ``"none"``), ``needs_geocoding`` and
        Point geometry (None for rows without coordinates). ``attrs["lines"]`` holds the
        line (CSV) or sheet row (XLSX) of each branch.

    Raises
    ------
    InputError
        Missing/unreadable/empty/too large file, a missing required column; and, all
        reported together: an empty name, an unknown branch type, unparsable, swapped or
        out-of-country coordinates, a date or a formula without saved value where a
        number belongs, a spreadsheet error value (``#REF!``), a duplicate id, a row
        that repeats another; for workbooks also several sheets with data, merged
        cells.

    Warns
    -----
    BereikbaarWarning
        Rows without coordinates (they need geocoding) or with an unrecognised postcode.
    """
    path = Path(path)
    settings = settings if settings is not None else Settings()
    if sheet is None:
        sheet = settings.inputs.libraries_sheet
    table = _read_table(path, sheet)
    frame = table.frame
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
    lines = [int(v) for v in table.lines]
    problems = Problems(path, "the branch list")

    def text(field_name: str) -> pd.Series:
        if field_name not in cols:
            return pd.Series([""] * len(frame), index=frame.index, dtype=object)
        return frame[cols[field_name]]

    for column in frame.columns:
        for pos, value in enumerate(frame[column]):
            if value in EXCEL_ERRORS:
                problems.add(
                    table.loc(pos, str(column)),
                    f"{value!r} is a spreadsheet error value (a formula that failed);"
                    " correct the formula in the source or type the value",
                )

    for pos, value in enumerate(text(NAME)):
        if value == "":
            problems.add(table.loc(pos, cols[NAME]), "empty name (every branch needs a name)")

    branch_types: list[str] = []
    for pos, value in enumerate(text(BRANCH_TYPE)):
        try:
            branch_types.append(normalise_branch_type(value))
        except ValueError as err:
            if value not in EXCEL_ERRORS:
                problems.add(table.loc(pos, cols[BRANCH_TYPE]), str(err))
            branch_types.append("other")

    ids = _library_ids(table, cols, problems)
    _repeated_rows(table, cols, problems)

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
            bad_postcodes.append(lines[pos])
            pc = value
        postcodes.append(pc)

    gemeentecodes = [normalise_gemeentecode(v) if v else None for v in text(GEMEENTECODE)]

    xs, ys = _coordinates(table, cols, problems)
    capacity = _capacity_columns(table, problems)
    problems.raise_if_any()

    if bad_postcodes:
        msg = (
            f"{where(path, column=cols[POSTCODE])}: {len(bad_postcodes)} postcode(s) not of the"
            f" form '1234 AB', kept as written ({table.first_lines(bad_postcodes)})"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
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
    for key, values in capacity.items():
        out[key] = values  # opening hours, collection size: passed through for 2SFCA

    missing_rows = [lines[pos] for pos in np.flatnonzero(~has_xy)]
    if missing_rows and geocoder is not None:
        out, _ = geocode_libraries(out, geocoder, rows=lines)
        missing_rows = []  # geocode_libraries warns about the rows it could not place
    if missing_rows:
        msg = (
            f"{where(path)}: {len(missing_rows)} of {len(out)} branches have no coordinates"
            f" and need geocoding ({table.first_lines(missing_rows)})"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    out.attrs["lines"] = lines
    logger.info(
        "%s: %d branches (%d full service, %d with coordinates, %d need geocoding)",
        path,
        len(out),
        int(out[FULL_SERVICE].sum()),
        int(has_xy.sum()),
        len(missing_rows),
    )
    return out


_HOURS_COLUMNS = frozenset(
    ("opening_hours_per_week", "openingsuren", "openingsuren_per_week", "uren_per_week")
)
_HOURS_PER_WEEK = 168


def _capacity_columns(table: Table, problems: Problems) -> dict[str, np.ndarray]:
    """Capacity columns (opening hours, collection size) as floats; NaN where empty."""
    frame = table.frame
    out: dict[str, np.ndarray] = {}
    for col in frame.columns:
        key = str(col).strip().lower()
        if key not in CAPACITY_COLUMNS or key in out:
            continue
        values = np.full(len(frame), np.nan)
        for pos, raw in enumerate(frame[col]):
            if raw == "" or raw in EXCEL_ERRORS:
                continue
            native = table.native.get((pos, str(col)))
            try:
                if isinstance(native, datetime.date | datetime.datetime):
                    raise NumberError(f"a date ({native.isoformat()})")
                number = parse_number(
                    native if native is not None else raw, decimal=table.decimal, ambiguous="error"
                )
            except NumberError as err:
                problems.add(table.loc(pos, str(col)), f"{err}; expected a non-negative number")
                continue
            if number < 0:
                problems.add(
                    table.loc(pos, str(col)), f"{raw!r} is negative; expected a non-negative number"
                )
                continue
            if key in _HOURS_COLUMNS and number > _HOURS_PER_WEEK:
                problems.add(
                    table.loc(pos, str(col)),
                    f"{raw!r} reads as {number:g} hours, more than the {_HOURS_PER_WEEK} hours"
                    " of a week (write hours per week without thousands separator)",
                )
                continue
            values[pos] = number
        out[key] = values
    return out


def _library_ids(table: Table, cols: dict[str, str], problems: Problems) -> list[str]:
    frame = table.frame
    if LIBRARY_ID not in cols:
        return [f"lib-{i:04d}" for i in range(1, len(frame) + 1)]
    column = cols[LIBRARY_ID]
    seen: dict[str, int] = {}
    ids: list[str] = []
    for pos, value in enumerate(frame[column]):
        if value == "":
            problems.add(table.loc(pos, column), "empty id (fill it in, or remove the id column)")
        elif value in seen:
            first = seen[value]
            problems.add(
                table.loc(pos, column),
                f"duplicate id {value!r}, also on {table.loc(first)}; every branch needs its"
                " own id",
            )
        else:
            seen[value] = pos
        ids.append(value)
    return ids


def _repeated_rows(table: Table, cols: dict[str, str], problems: Problems) -> None:
    """A row identical to an earlier one (pasted twice) would count a branch twice."""
    if LIBRARY_ID in cols:
        return  # the duplicate id says it already
    seen: dict[tuple[str, ...], int] = {}
    for pos, row in enumerate(table.frame.itertuples(index=False, name=None)):
        key = tuple(str(v).casefold() for v in row)
        if key in seen:
            problems.add(
                table.loc(pos),
                f"repeats {table.loc(seen[key])} exactly (a branch pasted twice?); remove one",
            )
        else:
            seen[key] = pos
