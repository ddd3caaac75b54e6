"""Output tables: CSV for Dutch Excel, Parquet, GeoPackage; every write atomic.

Every file is first written to a hidden temp file in the destination folder and then moved over
the destination with :func:`os.replace`, so a failing run never leaves a half-written output and
never clobbers the previous one.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio.errors

from bereikbaar import schema as s
from bereikbaar.exceptions import OutputError

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_HEADERS_NL",
    "atomic_path",
    "neutralise_formula",
    "write_tables",
]

CSV_HEADERS_NL: dict[str, str] = {
    s.GEMEENTECODE: "Gemeentecode",
    s.GEMEENTENAAM: "Gemeente",
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
}
"""Stable mapping from contract column names to the Dutch headers of ``gemeenten.csv``.

Columns not listed keep their English contract name as header.
"""

_CSV_DECIMALS: dict[str, int] = {
    s.MEAN_DISTANCE_KM: 3,
    s.MEDIAN_DISTANCE_KM: 3,
    s.P90_DISTANCE_KM: 3,
    s.SHARE_BEYOND: 4,
}

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


def _remove_quietly(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + sfx) for sfx in _SQLITE_SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it onto ``path``.

    The temp file (hidden, same folder, same suffix so drivers recognise the format) is not
    created: the writer creates it. On any exception the temp file (and SQLite side files) are
    deleted and the existing ``path`` is left untouched; an :class:`OSError` becomes
    :class:`~bereikbaar.exceptions.OutputError` naming ``path``.

    Parameters
    ----------
    path
        Destination file. Its folder is created when missing.

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    OutputError
        When the folder cannot be created or the file cannot be written or renamed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = f"cannot create the output folder '{path.parent}' for '{path}': {err}"
        raise OutputError(msg) from err
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)  # os.replace: atomic on the same file system
    except BaseException as err:
        _remove_quietly(tmp)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            msg = f"could not write '{path}' (the previous file, if any, is unchanged): {err}"
            raise OutputError(msg) from err
        raise


def neutralise_formula(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would run as a formula.

    Parameters
    ----------
    text
        A text cell.

    Returns
    -------
    str
        ``text``, or ``"'" + text`` when it starts with ``=``, ``+``, ``-``, ``@``, tab or CR.

    Examples
    --------
    >>> neutralise_formula("=HYPERLINK(1)")
    "'=HYPERLINK(1)"
    >>> neutralise_formula("Utrecht")
    'Utrecht'
    """
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _nl_decimal(value: float, decimals: int | None) -> str:
    """Number with decimal comma; integral floats without decimals when ``decimals`` is None.

    Examples
    --------
    >>> _nl_decimal(6.25, 3), _nl_decimal(1200.0, None), _nl_decimal(0.5, None)
    ('6,250', '1200', '0,5')
    """
    if decimals is not None:
        text = f"{value:.{decimals}f}"
    elif float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.10g}"
    return text.replace(".", ",")


def _csv_cell(value: object, column: str) -> str:
    """Text of one CSV cell for Dutch Excel."""
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
        return _nl_decimal(f, _CSV_DECIMALS.get(column))
    return neutralise_formula(str(value))


def _table_columns(df: pd.DataFrame) -> list[str]:
    geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    first = [c for c in s.SUMMARY_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in first and c != geom]
    return first + [str(c) for c in rest]


def _write_csv(path: Path, summary: pd.DataFrame, columns: Sequence[str]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow([CSV_HEADERS_NL.get(c, c) for c in columns])
        for values in summary[list(columns)].itertuples(index=False, name=None):
            writer.writerow([_csv_cell(v, c) for v, c in zip(values, columns, strict=True)])


def _write_parquet(path: Path, summary: pd.DataFrame, columns: Sequence[str]) -> None:
    table = pa.Table.from_pandas(pd.DataFrame(summary[list(columns)]), preserve_index=False)
    with atomic_path(path) as tmp:
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
) -> dict[str, Path]:
    """Write the result tables of a run into ``out_dir``.

    Files (each written atomically):

    - ``gemeenten.csv``: the gemeente summary for Dutch Excel: ``;`` separator, decimal comma,
      UTF-8 with BOM, CRLF line ends, Dutch headers (:data:`CSV_HEADERS_NL`), booleans as
      ``ja``/``nee``, empty cells for missing values, km with 3 decimals, shares (0–1) with 4;
      text that a spreadsheet would run as a formula gets a leading apostrophe.
    - ``gemeenten.parquet``: the same table with the English contract column names and
      dtypes, without geometry.
    - ``gemeenten.gpkg``: layers ``gemeenten`` (summary with polygons) and ``bibliotheken``.
    - ``cells.gpkg``: layer ``cells``.

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

    path = out / "gemeenten.gpkg"
    _write_gpkg(path, {"gemeenten": summary, "bibliotheken": libraries})
    written[path.name] = path

    path = out / "cells.gpkg"
    _write_gpkg(path, {"cells": cells})
    written[path.name] = path

    logger.info("wrote %s in %s", ", ".join(written), out)
    return written
