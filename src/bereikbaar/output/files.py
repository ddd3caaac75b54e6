"""Writing files: atomically, as Dutch Excel CSV, with safe names and no spreadsheet formulas.

The bottom of :mod:`bereikbaar.output` (with :mod:`~bereikbaar.output.style`). Every output
file is first written to a hidden temp file in the destination folder and then moved over the
destination with :func:`os.replace` (:func:`atomic_path`), so a failing run never leaves a
half-written output and never clobbers the previous one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd

from bereikbaar.exceptions import OutputError
from bereikbaar.output.style import is_missing

logger = logging.getLogger(__name__)

__all__ = [
    "EXCEL_CSV_DECIMAL",
    "EXCEL_CSV_ENCODING",
    "EXCEL_CSV_SEPARATOR",
    "TEMP_FILE_PATTERN",
    "atomic_path",
    "neutralise_formula",
    "neutralise_frame",
    "remove_stale_temp_files",
    "safe_filename",
    "write_excel_csv",
]

EXCEL_CSV_SEPARATOR = ";"
"""Field separator of CSV for Dutch Excel (the comma is the decimal sign there)."""
EXCEL_CSV_DECIMAL = ","
"""Decimal sign of CSV for Dutch Excel."""
EXCEL_CSV_ENCODING = "utf-8-sig"
"""UTF-8 with a byte order mark, so that Excel does not read the file as Windows-1252."""

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")

TEMP_FILE_PATTERN = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?:\.[^.]*)?(?:-journal|-wal|-shm)?$"
)
"""Names of the temp files :func:`atomic_path` creates (and SQLite's side files of them)."""


def _remove_quietly(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + sfx) for sfx in _SQLITE_SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - e.g. pid out of range
        return False
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files left by an :func:`atomic_path` writer that was killed.

    A writer killed with SIGKILL (or a power cut) cannot clean up after itself. Its temp
    file is recognised by the name :func:`atomic_path` gives it
    (``.<name>.<pid>-<hex>.tmp<suffix>``) and removed when the process ``pid`` no longer
    exists, so a concurrent writer's temp file is left alone. Other files are never touched.
    The folder and its subfolders are searched.

    Parameters
    ----------
    folder
        An output folder (missing is fine).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            match = TEMP_FILE_PATTERN.match(name)
            if match is None or _pid_alive(int(match.group("pid"))):
                continue
            path = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("removed %d stale temp file(s) in %s", len(removed), root)
    return removed


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


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are passed through :func:`neutralise_formula`.

    For CSV writers that use :meth:`pandas.DataFrame.to_csv`: numbers (also numbers
    written as text, such as ``"-3.5"``), booleans and missing values are left alone, so
    only text from the input data (names, addresses) is changed.

    Parameters
    ----------
    frame
        A table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy (same columns and index).

    Examples
    --------
    >>> neutralise_frame(pd.DataFrame({"naam": ["=1+1", "Delft"], "n": [-1, 2]}))["naam"].tolist()
    ["'=1+1", 'Delft']
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = [
                neutralise_formula(v) if isinstance(v, str) and not _is_number(v) else v
                for v in out[col]
            ]
    return out


def _is_number(text: str) -> bool:
    """True for a plain number such as ``-3.5`` or ``-3,5`` (harmless in a spreadsheet)."""
    try:
        float(text.strip().replace(",", "."))
    except ValueError:
        return False
    return True


def write_excel_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    headers: Mapping[str, str] | None = None,
    float_format: str | None = None,
    format_cell: Callable[[object, str], str] | None = None,
    line_terminator: str = "\r\n",
) -> Path:
    """Write a table as CSV for Dutch Excel, atomically (:func:`atomic_path`).

    ``;``-separated, decimal comma, UTF-8 with a byte order mark, no index, empty cells for
    missing values. Text that a spreadsheet would run as a formula gets a leading apostrophe
    (:func:`neutralise_frame`), or, with ``format_cell``, whatever that function makes of it.

    Parameters
    ----------
    frame
        The table; its column names are the headers unless ``headers`` renames them.
    path
        Output file; its folder is created when missing.
    headers
        Column name → header text; columns not listed keep their name.
    float_format
        ``%``-format of floats (e.g. ``"%.2f"``); default pandas' shortest round-trip text.
    format_cell
        ``format_cell(value, column)`` gives the final text of every cell (``column`` is the
        name in ``frame``); it then owns formula neutralising. Called while the temp file is
        open, so that its failure leaves the previous file in place.
    line_terminator
        Line end; ``"\\r\\n"`` as Excel writes it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        When the file cannot be written (the previous file, if any, is unchanged).
    """
    path = Path(path)
    names = [str(c) for c in frame.columns]
    header_row = [headers.get(c, c) for c in names] if headers is not None else names
    with atomic_path(path) as tmp:
        if format_cell is None:
            table = neutralise_frame(frame)
        else:
            rows = [
                [format_cell(v, c) for v, c in zip(values, names, strict=True)]
                for values in frame.itertuples(index=False, name=None)
            ]
            table = pd.DataFrame(rows, columns=range(len(names)), dtype=object)
        table.to_csv(
            tmp,
            sep=EXCEL_CSV_SEPARATOR,
            decimal=EXCEL_CSV_DECIMAL,
            float_format=float_format,
            index=False,
            header=header_row,
            encoding=EXCEL_CSV_ENCODING,
            lineterminator=line_terminator,
        )
    return path


def safe_filename(text: object, default: str = "gemeente") -> str:
    """A file name stem that cannot leave its folder or surprise a file system.

    Everything except ASCII letters, digits, ``-`` and ``_`` becomes ``_``; leading dots and
    underscores are dropped; at most 64 characters.

    Parameters
    ----------
    text
        E.g. a gemeentecode from the input data.
    default
        Used when nothing usable remains.

    Returns
    -------
    str
        A non-empty stem without path separators.

    Examples
    --------
    >>> safe_filename("GM0363"), safe_filename("../../etc/passwd"), safe_filename("")
    ('GM0363', 'etc_passwd', 'gemeente')
    """
    stem = re.sub(r"[^0-9A-Za-z_-]+", "_", "" if is_missing(text) else str(text))
    stem = stem.strip("._")[:64]
    return stem or default
