"""Reading and normalising what tables hold: delimited text, column names, codes, postcodes.

Shared by every loader in :mod:`bereikbaar.sources`: :func:`read_delimited` reads a CSV
whose delimiter and encoding are not known, :func:`find_column` finds a column under one
of its accepted names, :func:`normalise_gemeentecode` and :func:`normalise_postcode`
bring codes to their CBS and PostNL forms. Nothing here knows a source's layout.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, where

__all__ = [
    "find_column",
    "name_key",
    "normalise_gemeentecode",
    "normalise_postcode",
    "postcode_key",
    "read_delimited",
    "require_column",
]

logger = logging.getLogger(__name__)


def name_key(text: str) -> str:
    """Comparison key of a name: lower case without whitespace, hyphens and underscores.

    Parameters
    ----------
    text
        A column name or a spelling (``"Vestigings-Nummer"``, ``"rd_x"``).

    Returns
    -------
    str
        The key (``"vestigingsnummer"``, ``"rdx"``).

    Examples
    --------
    >>> name_key(" Mini - Servicepunt ")
    'miniservicepunt'
    """
    return re.sub(r"[\s\-_]+", "", text.strip().lower())


def read_delimited(path: str | Path) -> pd.DataFrame:
    """Read a CSV whose delimiter (``;``, ``,`` or tab) and encoding are not known.

    The delimiter is the one that occurs most often in the header line; the encoding is
    UTF-8 (with or without BOM) or UTF-16 with BOM (Excel's "Unicode text"), falling back
    to cp1252 (Excel on Dutch Windows). Every cell is read as text; empty cells are empty
    strings.

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    pandas.DataFrame
        The table, header from the first line, default integer index (data row ``i`` is
        row ``i + 1`` in messages).

    Raises
    ------
    InputError
        The file is missing, unreadable, binary (NUL bytes) or has no header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        msg = f"{where(path)}: file not found"
        raise InputError(msg) from err
    except OSError as err:
        msg = f"{where(path)}: cannot read ({err})"
        raise InputError(msg) from err
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode text": UTF-16 with BOM
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as err:
            msg = f"{where(path)}: starts like UTF-16 text but cannot be decoded ({err})"
            raise InputError(msg) from err
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
            logger.info("%s: not UTF-8, read as cp1252", path)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        msg = (
            f"{where(path)}: NUL byte on line {line}; this is not a text CSV (a binary file,"
            " or UTF-16 without byte-order mark?); save it as 'CSV UTF-8'"
        )
        raise InputError(msg)
    header = next((line for line in text.splitlines() if line.strip()), "")
    if not header:
        msg = f"{where(path)}: the file is empty (expected a header line)"
        raise InputError(msg)
    sep = max((";", ",", "\t"), key=header.count)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                index_col=False,  # never take a column as the index (rows stay numbered)
            )
    except (pd.errors.ParserWarning, pd.errors.ParserError, ValueError) as err:
        found = _row_with_extra_fields(text, sep)
        if found is not None:
            row, n = found
            msg = (
                f"{where(path, row)}: more fields than the header's {n}"
                f" (delimiter {sep!r}); is a {sep!r} inside a value missing its quotes?"
            )
        else:
            one_line = " ".join(str(err).split())
            msg = f"{where(path)}: cannot parse as CSV with delimiter {sep!r} ({one_line})"
        raise InputError(msg) from err


def _row_with_extra_fields(text: str, sep: str) -> tuple[int, int] | None:
    """(1-based data row, header width) of the first row wider than the header, if any."""
    try:
        lines = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if r]
    except csv.Error:
        return None
    if not lines:
        return None
    n = len(lines[0])
    row = next((i for i, line in enumerate(lines[1:], 1) if len(line) > n), None)
    return None if row is None else (row, n)


_GM_RE = re.compile(r"^(?:GM)?(\d{1,4})$", re.IGNORECASE)


def normalise_gemeentecode(value: object) -> str | None:
    """Normalise a gemeente code to the CBS form ``GMxxxx``.

    Parameters
    ----------
    value
        A code such as ``"GM0363"``, ``"gm0363"``, ``"0363"``, ``"363"`` or ``363``.

    Returns
    -------
    str or None
        ``"GM"`` plus four digits, or None when ``value`` is empty or not a code
        (for example a gemeente name).

    Examples
    --------
    >>> normalise_gemeentecode("363")
    'GM0363'
    >>> normalise_gemeentecode(" gm0014 ")
    'GM0014'
    >>> normalise_gemeentecode(599.0)
    'GM0599'
    >>> normalise_gemeentecode("Rotterdam") is None
    True
    """
    if value is None:
        return None
    if isinstance(value, float):
        if not np.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    match = _GM_RE.match(text)
    if match is None:
        return None
    return f"GM{int(match.group(1)):04d}"


def find_column(columns: Any, aliases: tuple[str, ...]) -> str | None:
    """Return the first column whose name matches one of ``aliases`` (case-insensitive).

    Parameters
    ----------
    columns
        Column names (an iterable of labels).
    aliases
        Accepted names, lower case, in order of preference.

    Returns
    -------
    str or None
        The column's name as spelled in the file, or None.

    Examples
    --------
    >>> find_column(["STATCODE", "geometry"], ("gemeentecode", "statcode"))
    'STATCODE'
    """
    by_lower = {str(c).strip().lower(): str(c) for c in columns}
    for alias in aliases:
        if alias in by_lower:
            return by_lower[alias]
    return None


def require_column(columns: Any, aliases: tuple[str, ...], missing: str) -> str:
    """:func:`find_column`, for a column a table must have.

    Parameters
    ----------
    columns, aliases
        As for :func:`find_column`.
    missing
        The message when none is present (naming the file and the accepted names).

    Returns
    -------
    str
        The column's name as spelled in the file.

    Raises
    ------
    InputError
        No column has an accepted name (with message ``missing``).
    """
    found = find_column(columns, aliases)
    if found is None:
        raise InputError(missing)
    return found


_POSTCODE_RE = re.compile(r"^\s*([1-9]\d{3})\s*([A-Za-z]{2})?\s*$")


def normalise_postcode(value: str) -> str | None:
    """Normalise a Dutch postcode to ``"1234 AB"``.

    Parameters
    ----------
    value
        A postcode as written (``"1234ab"``, ``"1234 AB"``, ``" 1234  ab "``).

    Returns
    -------
    str or None
        The normalised postcode (a bare four-digit PC4 such as ``"2611"`` is kept as
        is), or None when ``value`` is not a Dutch postcode.

    Examples
    --------
    >>> normalise_postcode("2611cs")
    '2611 CS'
    >>> normalise_postcode(" 2611 ")
    '2611'
    >>> normalise_postcode("26111") is None
    True
    """
    match = _POSTCODE_RE.match(str(value))
    if match is None:
        return None
    if match.group(2) is None:
        return match.group(1)
    return f"{match.group(1)} {match.group(2).upper()}"


def postcode_key(value: str | None) -> str | None:
    """A full Dutch postcode (PC6) as a lookup key: ``"2312 nh"`` → ``"2312NH"``.

    Parameters
    ----------
    value
        A postcode as written.

    Returns
    -------
    str or None
        Four digits and two capitals without a space; None for anything that is not
        a full postcode (a bare PC4 included).

    Examples
    --------
    >>> postcode_key(" 2312 nh"), postcode_key("2312")
    ('2312NH', None)
    """
    if not value:
        return None
    normalised = normalise_postcode(value)
    if normalised is None or " " not in normalised:
        return None
    return normalised.replace(" ", "")
