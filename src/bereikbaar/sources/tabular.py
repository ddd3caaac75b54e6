"""Reading and normalising what tables hold: delimited text, column names, codes, postcodes.

Shared by every loader in :mod:`bereikbaar.sources`: :func:`read_delimited` reads a CSV
whose delimiter and encoding are not known, :func:`find_column` finds a column under one
of its accepted names, :func:`normalise_gemeentecode` and :func:`normalise_postcode`
bring codes to their CBS and PostNL forms. Nothing here knows a source's layout.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, Problems, where

__all__ = [
    "EXCEL_ERRORS",
    "NumberError",
    "Table",
    "decode_text",
    "find_column",
    "first_lines",
    "locate",
    "name_key",
    "normalise_gemeentecode",
    "normalise_postcode",
    "parse_number",
    "position",
    "postcode_key",
    "read_delimited",
    "read_table",
    "require_column",
    "sheet_ref",
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


def read_delimited(path: str | Path, *, max_bytes: int | None = None) -> pd.DataFrame:
    """Read a CSV whose delimiter (``;``, ``,`` or tab) and encoding are not known.

    The delimiter is the one that occurs most often in the header line; the encoding is
    UTF-8 (with or without BOM) or UTF-16 with BOM (Excel's "Unicode text"), or cp1252
    (Excel on Dutch Windows) when no line is UTF-8 (see :func:`decode_text`: a file that
    mixes the two is an error). Every cell is read as text, stripped; empty cells are
    empty strings; lines that are blank or hold only delimiters are skipped.

    Parameters
    ----------
    path
        The CSV file.
    max_bytes
        Refuse a larger file at once (before reading it); None: no limit.

    Returns
    -------
    pandas.DataFrame
        The table, header from the first non-blank line, default integer index.
        ``attrs["lines"]`` holds the 1-based physical line of each data row (header and
        blank lines counted, as an editor shows them), ``attrs["delimiter"]`` the
        delimiter; use :func:`locate` to name a cell in a message.

    Raises
    ------
    InputError
        The file is missing, unreadable, too large, binary (NUL bytes), not in one
        encoding, has no header, or rows that cannot be parsed (every such line named).
    """
    return read_table(path, max_bytes=max_bytes).frame


# ------------------------------------------------------------------- messages


def first_lines(lines: list[int] | tuple[int, ...], limit: int = 5) -> str:
    """``"3, 7, 9, …"``: the first line (or row) numbers of a list, for messages.

    Examples
    --------
    >>> first_lines([3, 7, 9, 11, 12, 20])
    '3, 7, 9, 11, 12, …'
    """
    shown = ", ".join(str(r) for r in lines[:limit])
    return shown + (", …" if len(lines) > limit else "")


# ------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    """A table read from a CSV or one sheet of an XLSX workbook, with where each cell was.

    Attributes
    ----------
    path
        The file.
    frame
        Every cell as stripped text (empty: ``""``), header as in the file, default
        integer index (position ``pos``).
    lines
        Per data row: the 1-based physical line of a CSV (header and blank lines
        counted), or the row number on the sheet.
    sheet
        The sheet's name (XLSX), else None.
    letters
        Column name → spreadsheet column letter (XLSX).
    decimal
        The decimal separator the file's convention implies (``","`` for ``;``-delimited
        CSVs, ``"."`` for ``,``/tab), None when unknown (XLSX text cells).
    native
        ``(pos, column)`` → the cell's value when the spreadsheet stored a number or a
        date (not text); parse numbers from here first.
    """

    path: Path
    frame: pd.DataFrame
    lines: tuple[int, ...]
    sheet: str | None = None
    letters: Mapping[str, str] = field(default_factory=dict)
    decimal: str | None = None
    native: Mapping[tuple[int, str], object] = field(default_factory=dict)

    def loc(self, pos: int | None, column: str | None = None) -> str:
        """Where a cell is, without the file: ``line 5, column 'x'`` or ``cell Blad1!C5, …``.

        Parameters
        ----------
        pos
            Data-row position (0-based, as in :attr:`frame`), or None for a whole column.
        column
            Column name, or None for a whole row.
        """
        parts = []
        if pos is not None:
            line = self.lines[pos]
            if self.sheet is not None:
                if column is not None and column in self.letters:
                    parts.append(f"cell {sheet_ref(self.sheet)}!{self.letters[column]}{line}")
                else:
                    parts.append(f"row {line} of sheet {self.sheet!r}")
            else:
                parts.append(f"line {line}")
        if column is not None:
            parts.append(f"column '{column}'")
        return ", ".join(parts)

    def where(self, pos: int | None, column: str | None = None) -> str:
        """:meth:`loc` with the file: ``file 'b.csv', line 5, column 'x'``."""
        loc = self.loc(pos, column)
        return f"{where(self.path)}, {loc}" if loc else where(self.path)

    def first_lines(self, lines: list[int] | tuple[int, ...]) -> str:
        """``lines 3, 7, …`` (``rows 3, 7, …`` on a sheet): :func:`first_lines` with its unit.

        Parameters
        ----------
        lines
            Line numbers as in :attr:`lines` (CSV lines or sheet rows).
        """
        unit = "rows" if self.sheet is not None else "lines"
        return f"{unit} {first_lines(lines)}"


def sheet_ref(sheet: str) -> str:
    """A sheet name as Excel writes it in a cell reference (quoted when needed).

    Examples
    --------
    >>> sheet_ref("Blad1"), sheet_ref("Mijn lijst")
    ('Blad1', "'Mijn lijst'")
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet):
        return sheet
    return "'" + sheet.replace("'", "''") + "'"


def locate(path: object, frame: pd.DataFrame, pos: int, column: str | None = None) -> str:
    """Name a cell of a frame in a message: the CSV line when known, else the row.

    Parameters
    ----------
    path
        The file.
    frame
        A frame from :func:`read_delimited` (``attrs["lines"]``) or any other reader.
    pos
        0-based position of the data row.
    column
        Column name.

    Returns
    -------
    str
        ``file 'v.csv', line 7, column 'c'`` for a CSV, ``file 'v.gpkg', row 6, column 'c'``
        for a table without text lines.
    """
    return f"{where(path)}, {position(frame, pos, column)}"


def position(frame: pd.DataFrame, pos: int, column: str | None = None) -> str:
    """:func:`locate` without the file: ``line 7, column 'c'`` or ``row 6, column 'c'``.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": ["1", "2"]})
    >>> frame.attrs["lines"] = [2, 4]
    >>> position(frame, 1, "a"), position(pd.DataFrame({"a": [1]}), 0)
    ("line 4, column 'a'", 'row 1')
    """
    lines = frame.attrs.get("lines")
    if lines is not None and 0 <= pos < len(lines):
        row = f"line {int(lines[pos])}"
    else:
        row = f"row {pos + 1}"
    return f"{row}, column '{column}'" if column is not None else row


def _check_rows(count: int, path: Path, max_rows: int | None, what: str) -> None:
    """InputError once a table has more than ``max_rows`` data rows (the limit for ``what``)."""
    if max_rows is not None and count > max_rows:
        msg = (
            f"{where(path)}: more than {max_rows:,} data rows (the limit for {what});"
            " is this the right file?"
        ).replace(",", ".")
        raise InputError(msg)


def _file_bytes(path: Path, max_bytes: int | None, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError as err:
        msg = f"{where(path)}: file not found"
        raise InputError(msg) from err
    except OSError as err:
        msg = f"{where(path)}: cannot read ({err})"
        raise InputError(msg) from err
    if max_bytes is not None and size > max_bytes:
        msg = (
            f"{where(path)}: {size / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB"
            f" accepted for {what}; is this the right file? (split it, or remove columns"
            " and rows that are not needed)"
        )
        raise InputError(msg)
    if size > _LARGE_BYTES:
        logger.warning("%s: large file (%.0f MB); reading it may take a while", path, size / 1e6)
    try:
        return path.read_bytes()
    except OSError as err:
        msg = f"{where(path)}: cannot read ({err})"
        raise InputError(msg) from err


_LARGE_BYTES = 100_000_000  # files above this get a warning that reading takes a while

# Two characters that appear when UTF-8 text was decoded as Windows-1252 and saved again
# ("é" → "Ã©", "ë" → "Ã«", "€" → "â‚¬"): a lead byte's character, then a continuation byte's.
_MOJIBAKE_RE = re.compile(
    "[\u00c2\u00c3\u00c5\u00e2][\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d"
    "\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039"
    "\u203a\u20ac\u2122]"
)


def decode_text(raw: bytes, path: object) -> str:
    """Decode a text file strictly: UTF-8 (BOM optional), UTF-16 with BOM, or cp1252.

    A file with no valid UTF-8 line holding non-ASCII text is read as cp1252 (Excel's
    "CSV" on Dutch Windows). A file that mixes UTF-8 lines with lines that are not UTF-8
    (two exports pasted together) is refused, naming the lines and the encoding they
    look like; so is UTF-8 text that was already garbled (``"Ã©"`` for ``"é"``).

    Parameters
    ----------
    raw
        The file's bytes.
    path
        The file, for messages.

    Returns
    -------
    str
        The text, without byte-order marks.

    Raises
    ------
    InputError
        Mixed or undecodable encodings, or garbled text (every line named, up to 20).

    Examples
    --------
    >>> decode_text("naam\\nCafé\\n".encode("cp1252"), "b.csv")
    'naam\\nCafé\\n'
    >>> decode_text(b"\\xef\\xbb\\xbfnaam\\n", "b.csv")
    'naam\\n'
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode text": UTF-16 with BOM
        try:
            return raw.decode("utf-16").replace("\ufeff", "")
        except UnicodeDecodeError as err:
            msg = f"{where(path)}: starts like UTF-16 text but cannot be decoded ({err})"
            raise InputError(msg) from err
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode_not_utf8(body, path, bom)
    else:
        garbled = [
            (i, m.group(0))
            for i, line in enumerate(text.split("\n"), 1)
            for m in [_MOJIBAKE_RE.search(line)]
            if m
        ]
        if garbled:
            problems = Problems(path, "the file's text")
            for i, chars in garbled:
                try:
                    meant = chars.encode("cp1252").decode("utf-8")
                except UnicodeError:
                    meant = "?"
                problems.add(
                    f"line {i}",
                    f"{chars!r} looks like garbled text ({meant!r} saved as UTF-8, read as"
                    " Windows-1252 and saved again); correct the names in the source file",
                )
            problems.raise_if_any()
    # a byte-order mark inside the text (files pasted together) is not part of any value
    return text.replace("\ufeff", "")


def _decode_not_utf8(body: bytes, path: object, bom: bool) -> str:
    bad: list[int] = []
    utf8: list[int] = []
    for i, line in enumerate(body.split(b"\n"), 1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
        else:
            utf8.append(i)
    if bom or utf8:
        problems = Problems(path, "the file's encoding")
        lines = body.split(b"\n")
        for i in bad:
            sample = lines[i - 1].decode("cp1252", errors="replace").strip()[:40]
            problems.add(
                f"line {i}",
                f"not UTF-8; looks like Windows-1252 (cp1252: {sample!r}), while"
                + (" the file starts with a UTF-8 byte-order mark" if bom else "")
                + (f"{' and' if bom else ''} line(s) {first_lines(utf8)} are UTF-8" if utf8 else "")
                + "; the file mixes two encodings: open both sources, save as 'CSV UTF-8'"
                " and paste them together again",
            )
        problems.raise_if_any()
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError as err:
        at = body.count(b"\n", 0, err.start) + 1
        msg = (
            f"{where(path, line=at)}: byte 0x{body[err.start]:02x} is neither UTF-8 nor"
            " Windows-1252 (cp1252); save the file as 'CSV UTF-8'"
        )
        raise InputError(msg) from err
    logger.info("%s: not UTF-8, read as cp1252 (Windows-1252)", path)
    return text


def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    what: str = "the table",
) -> Table:
    """Read a CSV (any of ``;``/``,``/tab, see :func:`read_delimited`) or one XLSX sheet.

    Parameters
    ----------
    path
        The file; ``.xlsx``/``.xlsm`` are workbooks, anything else is delimited text.
    sheet
        The sheet of a workbook to read. None: the workbook must have exactly one sheet
        with data (a second one is never ignored silently).
    max_bytes, max_rows
        Refuse a larger file (before reading) or one with more data rows; None: no limit.
    what
        What the file is, for messages (``"the branch list"``).

    Returns
    -------
    Table
        The cells as text, with the line (CSV) or sheet row (XLSX) of every data row.

    Raises
    ------
    InputError
        Missing/unreadable/too large file, an encoding problem, rows that cannot be
        parsed, duplicate column names; for workbooks: several sheets with data and no
        ``sheet``, an unknown ``sheet``, merged cells, formulas without a saved value.
        Every problem of a kind is listed (up to 20) with its line or cell.
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet, max_bytes, max_rows, what)
    raw = _file_bytes(path, max_bytes, what)
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    text = decode_text(raw, path) if utf16 or b"\x00" not in raw else raw.decode("latin-1")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        msg = (
            f"{where(path)}: NUL byte on line {line}; this is not a text CSV (a binary file,"
            " or UTF-16 without byte-order mark?); save it as 'CSV UTF-8'"
        )
        raise InputError(msg)
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    if not header_line:
        msg = f"{where(path)}: the file is empty (expected a header line)"
        raise InputError(msg)
    sep = max((";", ",", "\t"), key=header_line.count)
    problems = Problems(path, what)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    previous = 0
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            fields = [f.strip() for f in record]
            if not any(fields):
                continue
            if header is None:
                header = fields
                continue
            if len(fields) > len(header):
                problems.add(
                    f"line {start}",
                    f"{len(fields)} fields: more fields than the header's {len(header)} (delimiter"
                    f" {sep!r}); is a {sep!r} inside a value missing its quotes?",
                )
                continue
            rows.append(fields + [""] * (len(header) - len(fields)))
            lines.append(start)
            _check_rows(len(rows), path, max_rows, what)
    except csv.Error as err:
        problems.add(
            f"line {previous + 1}",
            f'cannot be parsed as CSV with delimiter {sep!r} ({err}); a quote (") that is'
            " opened but never closed?",
        )
    problems.raise_if_any()
    if header is None:  # only separators and blanks, e.g. ";;;"
        msg = f"{where(path)}: no header line with column names (only empty fields)"
        raise InputError(msg)
    columns = _header_names(header, None, problems)
    problems.raise_if_any()
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if not rows:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame.attrs["lines"] = lines
    frame.attrs["delimiter"] = sep
    return Table(
        path=path,
        frame=frame,
        lines=tuple(lines),
        decimal="," if sep == ";" else ".",
    )


def _header_names(header: list[str], letters: list[str] | None, problems: Problems) -> list[str]:
    names = [h.lstrip("\ufeff").strip() or f"kolom {i + 1}" for i, h in enumerate(header)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = name.lower()
        if key in seen:
            where_a = letters[seen[key]] if letters else f"{seen[key] + 1}"
            where_b = letters[i] if letters else f"{i + 1}"
            problems.add(
                f"column '{name}'",
                f"appears twice in the header (columns {where_a} and {where_b}); which one is"
                " meant is not clear: rename or remove one",
            )
        else:
            seen[key] = i
    return names


EXCEL_ERRORS: frozenset[str] = frozenset(
    ("#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!")
)
"""Error values a failed spreadsheet formula shows (and CSV exports write as text)."""


def _read_xlsx(
    path: Path, sheet: str | None, max_bytes: int | None, max_rows: int | None, what: str
) -> Table:
    import openpyxl  # imported here: only workbooks need it
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    _file_bytes(path, max_bytes, what)  # existence and size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # openpyxl: unsupported extensions
            formulas = openpyxl.load_workbook(path, data_only=False)
            values = openpyxl.load_workbook(path, data_only=True)
    except Exception as err:  # openpyxl raises many types for broken files
        msg = f"{where(path)}: cannot read as XLSX ({' '.join(str(err).split())})"
        raise InputError(msg) from err
    sheets = [ws for ws in formulas.worksheets if isinstance(ws, Worksheet)]
    filled = [
        ws.title
        for ws in sheets
        if any(v is not None for row in ws.iter_rows(values_only=True) for v in row)
    ]
    if sheet is not None:
        if sheet not in formulas.sheetnames:
            msg = (
                f"{where(path)}: no sheet named {sheet!r} (the workbook has:"
                f" {', '.join(map(repr, formulas.sheetnames))}); correct the sheet name in"
                " the settings (inputs.libraries_sheet)"
            )
            raise InputError(msg)
        name = sheet
    elif len(filled) > 1:
        shown = ", ".join(
            repr(t) + (" (hidden)" if formulas[t].sheet_state != "visible" else "") for t in filled
        )
        msg = (
            f"{where(path)}: the workbook has {len(filled)} sheets with data"
            f" ({shown}); which one is {what} is not clear: name it in"
            f" the settings (inputs.libraries_sheet = {filled[0]!r}) or delete the other sheets"
        )
        raise InputError(msg)
    elif not filled:
        msg = f"{where(path)}: every sheet is empty (expected {what})"
        raise InputError(msg)
    else:
        name = filled[0]
    ws_f = formulas[name]
    ws_v = values[name]
    if not isinstance(ws_f, Worksheet) or not isinstance(ws_v, Worksheet):
        msg = f"{where(path)}: sheet {name!r} is a chart, not a table"
        raise InputError(msg)
    problems = Problems(path, what)
    cells_f = list(ws_f.iter_rows())
    values_v = [[c.value for c in row] for row in ws_v.iter_rows()]
    header_at = next(
        (i for i, row in enumerate(cells_f) if any(c.value is not None for c in row)), None
    )
    if header_at is None:
        msg = f"{where(path)}: sheet {name!r} is empty (expected {what})"
        raise InputError(msg)
    header_row = header_at + 1
    for merged in sorted(ws_f.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
        if merged.max_row >= header_row:
            problems.add(
                f"cells {sheet_ref(name)}!{merged.coord}",
                "merged cells (only the first cell of a merged range holds a value, the"
                " others read as empty); unmerge them and fill in every cell",
            )
    width = max(len(r) for r in cells_f)
    letters = [get_column_letter(j + 1) for j in range(width)]

    def text_of(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "WAAR" if value else "ONWAAR"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return value.isoformat()
        return str(value).strip()

    header = [text_of(c.value) for c in cells_f[header_at]] + [""] * width
    header = header[:width]
    columns = _header_names(header, letters, problems)
    by_letter = dict(zip(letters, columns, strict=True))
    rows: list[list[str]] = []
    lines: list[int] = []
    native: dict[tuple[int, str], object] = {}
    for i in range(header_at + 1, len(cells_f)):
        row_f = cells_f[i]
        row_v = values_v[i] if i < len(values_v) else []
        texts: list[str] = []
        natives: dict[str, object] = {}
        for j in range(width):
            cell = row_f[j] if j < len(row_f) else None
            formula = cell.value if cell is not None else None
            value = row_v[j] if j < len(row_v) else None
            if cell is not None and cell.data_type == "f":
                if value is None:
                    problems.add(
                        f"cell {sheet_ref(name)}!{letters[j]}{i + 1}, column '{columns[j]}'",
                        f"formula {str(formula)!r} has no saved value (the file was written by"
                        " a program, not saved by a spreadsheet); copy the column and paste"
                        " it as values, or open the file in Excel/LibreOffice and save it",
                    )
            else:
                value = formula
            if isinstance(value, int | float | datetime.datetime | datetime.date) and not (
                isinstance(value, bool)
            ):
                natives[columns[j]] = value
            texts.append(text_of(value))
        if not any(texts):
            continue
        pos = len(rows)
        for col, value in natives.items():
            native[(pos, col)] = value
        rows.append(texts)
        lines.append(i + 1)
        _check_rows(len(rows), path, max_rows, what)
    problems.raise_if_any()
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if not rows:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame.attrs["lines"] = lines
    return Table(
        path=path,
        frame=frame,
        lines=tuple(lines),
        sheet=name,
        letters={col: letter for letter, col in by_letter.items()},
        decimal=None,
        native=native,
    )


# ------------------------------------------------------------------- numbers


class NumberError(ValueError):
    """A text is not a number of the expected kind (the message says why)."""


_GROUPED = {sep: re.compile(rf"\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+") for sep in (".", ",", " ")}
_PLAIN = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d*[.,]\d+|\d+[.,]")
_SCIENTIFIC = re.compile(r"(?:\d+(?:[.,]\d*)?|[.,]\d+)[eE][+-]?\d+")
_NOT_FINITE = frozenset(("inf", "infinity", "nan", "∞", "oneindig"))


def parse_number(
    value: object,
    *,
    decimal: str | None = None,
    ambiguous: str = "error",
    whole: bool = False,
) -> float:
    """Read a number as people write it in Dutch and English tables.

    Thousands separators (``.``, ``,`` or a space in groups of three) and a decimal
    separator (``,`` or ``.``) are recognised; a value that has both reads unambiguously
    (``1.309.120,5``, ``1,309,120.5``); two or more of one separator are thousands
    (``1.309.120``). One separator followed by exactly three digits (``12.340``) is
    ambiguous: ``decimal`` (the file's convention) decides; without it ``ambiguous``
    does.

    Parameters
    ----------
    value
        The text (or a number, returned as float after the checks).
    decimal
        ``","`` (Dutch: ``;``-delimited CSVs; ``.`` is then a thousands separator),
        ``"."`` (English), or None when the file does not say.
    ambiguous
        With ``decimal`` None, how ``12.340`` / ``12,340`` reads: ``"thousands"``
        (12340), ``"decimal"`` (12.34) or ``"error"``.
    whole
        The value is a count: a fractional part is an error, and so is a value that is
        only whole because the decimal separator was taken for thousands' place
        (``12,000`` in a Dutch file: 12 or 12000?).

    Returns
    -------
    float
        The value (finite).

    Raises
    ------
    NumberError
        Empty, not a number, not finite (``inf``, ``nan``), ambiguous, or fractional
        where ``whole``; the message says which and what was expected.

    Examples
    --------
    >>> parse_number("1.309.120", decimal=",", whole=True)
    1309120.0
    >>> parse_number("12.340", decimal=",")
    12340.0
    >>> parse_number("52,0116")
    52.0116
    >>> parse_number("155.000", ambiguous="thousands")
    155000.0
    >>> parse_number("12,5", decimal=",", whole=True)
    Traceback (most recent call last):
    ...
    bereikbaar.sources.tabular.NumberError: '12,5' has a fractional part (expected a whole number)
    """
    if isinstance(value, bool):
        raise NumberError(f"{value!r} is not a number")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if not np.isfinite(number):
            raise NumberError(f"{value!r} is not a finite number")
        if whole and not number.is_integer():
            raise NumberError(f"{value!r} has a fractional part (expected a whole number)")
        return number
    original = str(value)
    text = original.strip().replace("\u2212", "-")
    for space in ("\u00a0", "\u202f", "\u2009"):
        text = text.replace(space, " ")
    if not text:
        raise NumberError("empty")
    if text.lower().lstrip("+-") in _NOT_FINITE:
        raise NumberError(f"{original!r} is not a finite number")
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:].strip() if text[:1] in "+-" else text
    number = _unsigned(body, original, decimal, ambiguous, whole)
    if not np.isfinite(number):
        raise NumberError(f"{original!r} is not a finite number")
    if whole and not number.is_integer():
        raise NumberError(f"{original!r} has a fractional part (expected a whole number)")
    return sign * number


def _unsigned(body: str, original: str, decimal: str | None, ambiguous: str, whole: bool) -> float:
    def bad() -> NumberError:
        return NumberError(f"{original!r} is not a number")

    if _PLAIN.fullmatch(body):
        return float(body)
    if _SCIENTIFIC.fullmatch(body):
        return float(body.replace(",", "."))
    # split off a decimal part: the last '.' or ',' when what precedes it is grouped
    # by the other separator or a space, or when there is only one separator in all
    if " " in body:
        int_part, frac_sep, frac = body, "", ""
        m = re.fullmatch(r"([\d ]+)([.,])(\d+)", body)
        if m:
            int_part, frac_sep, frac = m.group(1), m.group(2), m.group(3)
        if not _GROUPED[" "].fullmatch(int_part):
            raise bad()
        digits = int_part.replace(" ", "")
        return float(f"{digits}.{frac}") if frac_sep else float(digits)
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        last = "." if body.rfind(".") > body.rfind(",") else ","
        other = "," if last == "." else "."
        int_part, _, frac = body.rpartition(last)
        if not frac.isdigit() or not _GROUPED[other].fullmatch(int_part):
            raise bad()
        return float(int_part.replace(other, "") + "." + frac)
    sep = "." if dots else ","
    count = dots or commas
    if count >= 2:
        if not _GROUPED[sep].fullmatch(body):
            raise bad()
        return float(body.replace(sep, ""))
    if not _DECIMAL.fullmatch(body):
        raise bad()
    if _GROUPED[sep].fullmatch(body):  # "12.340": thousands or decimal?
        if decimal is not None:
            reading = "decimal" if sep == decimal else "thousands"
        else:
            reading = ambiguous
        if reading == "thousands":
            return float(body.replace(sep, ""))
        if reading == "error" or (whole and reading == "decimal"):
            raise NumberError(
                f"{original!r} is ambiguous ({body.replace(sep, '')} or"
                f" {body.replace(sep, '.')}?); write it without a thousands separator"
            )
    return float(body.replace(",", "."))


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
