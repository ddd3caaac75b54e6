"""The result tables: CSV for Dutch Excel, Parquet, GeoPackage, the CBS comparison.

Every file is written atomically (:func:`bereikbaar.output.files.atomic_path`): a failing run
never leaves a half-written table and never clobbers the previous one.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio.errors
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bereikbaar import schema as s
from bereikbaar.compare import COMPARISON_HEADERS_NL
from bereikbaar.exceptions import OutputError
from bereikbaar.output.files import atomic_path, neutralise_formula, write_excel_csv
from bereikbaar.output.style import nl_decimal
from bereikbaar.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "COUNT_FORMAT",
    "CSV_DECIMALS",
    "CSV_HEADERS_NL",
    "KM_FORMAT",
    "LIBRARY_HEADERS_NL",
    "SHARE_FORMAT",
    "csv_cell",
    "write_comparison",
    "write_tables",
    "write_workbook",
]

CSV_HEADERS_NL: dict[str, str] = {
    s.GEMEENTECODE: "Gemeentecode",
    s.GEMEENTENAAM: "Gemeente",
    s.WIJKCODE: "Wijkcode",
    s.WIJKNAAM: "Wijk",
    s.BUURTCODE: "Buurtcode",
    s.BUURTNAAM: "Buurt",
    s.POPULATION: "Inwoners",
    s.MEAN_DISTANCE_KM: "Gemiddelde afstand (km)",
    s.MEDIAN_DISTANCE_KM: "Mediane afstand (km)",
    s.P90_DISTANCE_KM: "P90-afstand (km)",
    s.POPULATION_BEYOND: "Inwoners boven drempel",
    s.SHARE_BEYOND: "Aandeel inwoners boven drempel (0-1)",
    s.FULL_SERVICE_LIBRARIES: "Volwaardige bibliotheken",
    s.POPULATION_UNREACHABLE: "Inwoners zonder bereikbare bibliotheek",
    s.TE_GROOT: "Te groot",
    s.REASONS: "Redenen",
    "cells": "Bewoonde vierkanten",
    s.POPULATION_COVERED: "Inwoners binnen het wegennet",
    s.SHARE_COVERED: "Aandeel inwoners binnen het wegennet (0-1)",
    **{col: f"Inwoners zonder afstand: {reason}" for reason, col in s.REASON_COLUMNS.items()},
    s.ONVOLLEDIG: "Onvolledig",
    s.VERDICT: "Oordeel",
    "suppressed_cells": "Vierkanten met geheimgehouden inwonertal",
    # per target group (when the grid has the age columns)
    "population_0_15": "Kinderen 0-15 jaar",
    "mean_distance_km_0_15": "Gemiddelde afstand kinderen 0-15 (km)",
    "population_beyond_0_15": "Kinderen 0-15 boven drempel",
    "share_beyond_0_15": "Aandeel kinderen 0-15 boven drempel (0-1)",
    "population_65plus": "65-plussers",
    "mean_distance_km_65plus": "Gemiddelde afstand 65-plussers (km)",
    "population_beyond_65plus": "65-plussers boven drempel",
    "share_beyond_65plus": "Aandeel 65-plussers boven drempel (0-1)",
    # comparison with CBS (when inputs.cbs_reference is set)
    "cbs_comparable_mean_km": "Gemiddelde afstand zoals CBS (km, vestigingen en servicepunten)",
    "cbs_mean_distance_km": "Gemiddelde afstand volgens CBS (km)",
    "cbs_difference_km": "Verschil met CBS (km)",
}
"""Stable mapping from contract column names to the Dutch headers of ``gemeenten.csv``.

Columns not listed keep their English contract name as header.
"""

CSV_DECIMALS: dict[str, int] = {
    s.MEAN_DISTANCE_KM: 3,
    s.MEDIAN_DISTANCE_KM: 3,
    s.P90_DISTANCE_KM: 3,
    s.SHARE_BEYOND: 4,
    s.SHARE_COVERED: 4,
    "mean_distance_km_0_15": 3,
    "mean_distance_km_65plus": 3,
    "share_beyond_0_15": 4,
    "share_beyond_65plus": 4,
    "cbs_comparable_mean_km": 3,
    "cbs_mean_distance_km": 1,  # CBS publishes one decimal
    "cbs_difference_km": 3,
}
"""Decimals per column in ``gemeenten.csv``; other floats get up to 10 significant digits."""


def csv_cell(value: object, column: str) -> str:
    """Text of one cell of ``gemeenten.csv`` (Dutch Excel).

    Booleans are ``ja``/``nee``, missing values empty, floats have a decimal comma and the
    decimals of :data:`CSV_DECIMALS`, infinities are ``oneindig``; text a spreadsheet would
    run as a formula gets a leading apostrophe.

    Parameters
    ----------
    value
        The cell value.
    column
        Its contract column name (for the decimals).

    Returns
    -------
    str

    Examples
    --------
    >>> csv_cell(True, "te_groot"), csv_cell(6.25, "mean_distance_km"), csv_cell("=1", "x")
    ('ja', '6,250', "'=1")
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "ja" if value else "nee"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return ""
        if math.isinf(f):
            return "oneindig" if f > 0 else "-oneindig"
        return nl_decimal(f, CSV_DECIMALS.get(column))
    return neutralise_formula(str(value))


def _table_columns(df: pd.DataFrame) -> list[str]:
    geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    lead = [c for level in ("buurt", "wijk") for c in s.AREA_LEVELS[level] if c in df.columns]
    first = lead + [c for c in s.SUMMARY_COLUMNS if c in df.columns and c not in lead]
    rest = [c for c in df.columns if c not in first and c != geom]
    return first + [str(c) for c in rest]


def _write_csv(path: Path, summary: pd.DataFrame, columns: Sequence[str]) -> None:
    # csv_cell is looked up here, at call time, so that tests can replace it.
    write_excel_csv(summary[list(columns)], path, headers=CSV_HEADERS_NL, format_cell=csv_cell)


def _write_parquet(path: Path, summary: pd.DataFrame, columns: Sequence[str]) -> None:
    """GeoParquet (``geopandas.read_parquet`` reads it) when there is a geometry, else Parquet."""
    with atomic_path(path) as tmp:
        if isinstance(summary, gpd.GeoDataFrame) and summary.crs is not None:
            geom = summary.geometry.name
            frame = gpd.GeoDataFrame(summary[[*columns, geom]], geometry=geom, crs=summary.crs)
            frame.reset_index(drop=True).to_parquet(tmp, index=False)
        else:
            table = pa.Table.from_pandas(pd.DataFrame(summary[list(columns)]), preserve_index=False)
            pq.write_table(table, tmp)


def _write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    with atomic_path(path) as tmp:
        for name, gdf in layers.items():
            try:
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
            except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
                msg = f"could not write layer '{name}' of '{path}': {err}"
                raise OutputError(msg) from err


def write_tables(
    out_dir: str | os.PathLike[str],
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    areas: dict[str, gpd.GeoDataFrame] | None = None,
    *,
    settings: Settings | None = None,
    levels: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Path]:
    """Write the result tables of a run into ``out_dir``.

    Files (each written atomically):

    - ``gemeenten.csv``: the gemeente summary for Dutch Excel: ``;`` separator, decimal comma,
      UTF-8 with BOM, CRLF line ends, Dutch headers (:data:`CSV_HEADERS_NL`), booleans as
      ``ja``/``nee``, empty cells for missing values, km with 3 decimals, shares (0–1) with 4;
      text that a spreadsheet would run as a formula gets a leading apostrophe.
    - ``gemeenten.parquet``: the same table with the English contract column names and
      dtypes, as GeoParquet with the gemeente polygons (``geopandas.read_parquet``).
    - ``gemeenten.gpkg``: layers ``gemeenten`` (summary with polygons, fields named as the
      CSV's headers) and ``bibliotheken`` (fields :data:`LIBRARY_HEADERS_NL`).
    - ``cells.gpkg``: layer ``cells`` (contract names).
    - ``bereikbaar.xlsx``: :func:`write_workbook` of ``levels`` (default: the gemeenten),
      the branches and the settings.
    - with ``areas`` (``{"wijken": …, "buurten": …}``): ``wijken.csv``/``buurten.csv`` in the
      same dialect as ``gemeenten.csv`` and a layer per level in ``gemeenten.gpkg``.

    The geometries stay in the inputs' CRS (RD New, EPSG:28992). Writing the same inputs twice
    gives byte-identical CSV and Parquet files.

    Parameters
    ----------
    out_dir
        Output folder; created when missing.
    cells
        Per-cell result (GeoDataFrame of squares).
    summary
        Gemeente summary (GeoDataFrame of gemeente polygons).
    libraries
        Library branches (GeoDataFrame of points; rows without geometry are kept).
    areas
        Summaries per wijk and buurt (:func:`~bereikbaar.aggregate.aggregate_areas`), by
        layer name.
    settings
        The run's settings, for the workbook's ``Instellingen`` sheet.
    levels
        Workbook sheets per level (sheet name → table); default ``{"Gemeenten": summary}``.

    Returns
    -------
    dict of str to pathlib.Path
        File name → written path.

    Raises
    ------
    OutputError
        When the folder cannot be created or a file cannot be written; files already there
        from an earlier run are left as they were.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = f"cannot create the output folder '{out}': {err}"
        raise OutputError(msg) from err
    columns = _table_columns(summary)
    written: dict[str, Path] = {}

    path = out / "gemeenten.csv"
    _write_csv(path, summary, columns)
    written[path.name] = path

    path = out / "gemeenten.parquet"
    _write_parquet(path, summary, columns)
    written[path.name] = path

    for name, table in (areas or {}).items():
        path = out / f"{name}.csv"
        _write_csv(path, table, _table_columns(table))
        written[path.name] = path

    path = out / "gemeenten.gpkg"
    dutch = summary[[*columns, summary.geometry.name]].rename(columns=CSV_HEADERS_NL)
    branches = libraries.rename(columns=LIBRARY_HEADERS_NL)
    _write_gpkg(path, {"gemeenten": dutch, "bibliotheken": branches, **(areas or {})})
    written[path.name] = path

    path = out / "cells.gpkg"
    _write_gpkg(path, {"cells": cells})
    written[path.name] = path

    path = out / "bereikbaar.xlsx"
    write_workbook(path, levels or {"Gemeenten": summary[columns]}, libraries, settings)
    written[path.name] = path

    logger.info("wrote %s in %s", ", ".join(written), out)
    return written


# --------------------------------------------------------------------------- workbook

LIBRARY_HEADERS_NL: dict[str, str] = {
    s.LIBRARY_ID: "Bibliotheek-id",
    s.NAME: "Naam",
    s.BRANCH_TYPE: "Soort voorziening",
    s.FULL_SERVICE: "Volwaardig",
    s.ADDRESS: "Adres",
    s.POSTCODE: "Postcode",
    s.PLACE: "Plaats",
    s.GEMEENTECODE: "Gemeentecode",
    s.GEOCODE_QUALITY: "Kwaliteit locatie",
}
"""Dutch headers of the branch table (workbook sheet and GeoPackage layer ``bibliotheken``)."""

KM_FORMAT = "0.0"
"""Excel number format of kilometres (one decimal)."""
SHARE_FORMAT = "0.0%"
"""Excel number format of shares (0–1 shown as a percentage)."""
COUNT_FORMAT = "#,##0"
"""Excel number format of counts."""


def _excel_format(column: str, values: pd.Series) -> str | None:
    if column.endswith("_km") or "_km_" in column:
        return KM_FORMAT
    if column.startswith("share_"):
        return SHARE_FORMAT
    if (
        pd.api.types.is_integer_dtype(values)
        or column.startswith("population")
        or column
        in (
            s.FULL_SERVICE_LIBRARIES,
            "cells",
            "suppressed_cells",
        )
    ):
        return COUNT_FORMAT
    return None


def _excel_value(value: object) -> object:
    """A cell value for openpyxl: numbers as numbers, booleans as ja/nee, text as data."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "ja" if value else "nee"
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) else ("oneindig" if math.isinf(f) else f)
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    return neutralise_formula(text)


def _add_sheet(book: Workbook, title: str, frame: pd.DataFrame, headers: Mapping[str, str]) -> None:
    sheet = book.create_sheet(title=title[:31])
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    columns = [str(c) for c in frame.columns if c != geom]
    sheet.append([headers.get(c, c) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in frame[columns].itertuples(index=False, name=None):
        sheet.append([_excel_value(v) for v in row])
    for j, column in enumerate(columns, start=1):
        fmt = _excel_format(column, frame[column])
        letter = get_column_letter(j)
        width = max(len(str(headers.get(column, column))), 8)
        sheet.column_dimensions[letter].width = min(width + 2, 48)
        for cell in sheet[letter][1:]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text from the input is data, never a formula
            elif fmt is not None and cell.value is not None:
                cell.number_format = fmt
    sheet.freeze_panes = "A2"
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(frame) + 1, 2)}"


def _settings_rows(settings: Settings | None) -> list[tuple[str, object]]:
    if settings is None:
        return []
    rule = settings.flag_rule
    rows: list[tuple[str, object]] = [
        ("Vervoerswijze", settings.mode),
        ("Drempel (km)", rule.threshold_km),
        (
            "(a) geen volwaardige bibliotheek en gemiddelde afstand boven (km)",
            rule.no_library_mean_km,
        ),
        ("(b) aandeel inwoners verder dan de drempel, vanaf", rule.max_share_beyond),
        ("(c) gemiddelde afstand vanaf (km)", rule.max_mean_km),
        ("Volwaardig", ", ".join(settings.full_service_types)),
        ("Afstandsklassen (km)", ", ".join(f"{b:g}" for b in settings.km_classes)),
        ("Maximale afstand tot het wegennet (m)", settings.max_snap_m),
        ("Peiljaar", settings.peiljaar if settings.peiljaar is not None else ""),
    ]
    for name in ("network", "cells", "libraries", "gemeenten", "cbs_reference"):
        path = getattr(settings.inputs, name)
        if path is not None:
            rows.append((f"Invoer: {name}", str(path)))
    return rows


def write_workbook(
    path: str | os.PathLike[str],
    levels: Mapping[str, pd.DataFrame],
    libraries: pd.DataFrame,
    settings: Settings | None = None,
) -> Path:
    """Write ``bereikbaar.xlsx``: a sheet per level, ``Bibliotheken`` and ``Instellingen``.

    Dutch headers (:data:`CSV_HEADERS_NL`, :data:`LIBRARY_HEADERS_NL`), kilometres with one
    decimal (:data:`KM_FORMAT`), shares as percentages (:data:`SHARE_FORMAT`), counts with a
    thousands separator, a frozen header row and an autofilter on every sheet. Text from the
    inputs is stored as text (formula prefixes neutralised as in the CSV, characters Excel
    cannot hold dropped). Written atomically.

    Parameters
    ----------
    path
        The ``.xlsx`` file.
    levels
        Sheet name → table, in order (``{"Gemeenten": summary, "Wijken": …, "Buurten": …}``);
        geometry columns are left out.
    libraries
        The branches.
    settings
        The run's settings (the ``Instellingen`` sheet: rule, mode, inputs).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, frame in levels.items():
        _add_sheet(book, title, frame, CSV_HEADERS_NL)
    lib_columns = [
        c for c in libraries.columns if c != getattr(libraries, "_geometry_column_name", None)
    ]
    _add_sheet(book, "Bibliotheken", pd.DataFrame(libraries[lib_columns]), LIBRARY_HEADERS_NL)
    rows = _settings_rows(settings)
    _add_sheet(
        book,
        "Instellingen",
        pd.DataFrame(rows, columns=["Instelling", "Waarde"]).astype(object),
        {},
    )
    with atomic_path(path) as tmp:
        book.save(tmp)
    return path


def write_comparison(path: str | Path, per_gemeente: pd.DataFrame) -> Path:
    """Write the per-gemeente comparison with CBS as a CSV for Dutch Excel (atomically).

    ``;``-separated, decimal comma, UTF-8 with BOM, Dutch headers
    (:data:`~bereikbaar.compare.COMPARISON_HEADERS_NL`), km with two decimals, empty cells
    where a figure is missing; names that a spreadsheet would run as a formula get a leading
    apostrophe.

    Parameters
    ----------
    path
        Output file, e.g. ``vergelijking_cbs.csv``.
    per_gemeente
        The first result of :func:`~bereikbaar.compare.compare_with_cbs`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    table = per_gemeente[list(COMPARISON_HEADERS_NL)]
    return write_excel_csv(table, path, headers=COMPARISON_HEADERS_NL, float_format="%.2f")
