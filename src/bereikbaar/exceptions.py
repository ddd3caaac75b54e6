"""Exceptions and warnings raised by bereikbaar.

Every error derives from :class:`BereikbaarError`; subclasses also derive from the
matching built-in so ``except ValueError`` keeps working. Messages name the file,
and where there is one, the row and column, and say what was expected.
"""

from __future__ import annotations


class BereikbaarError(Exception):
    """Base class of every error bereikbaar raises on purpose."""


class InputError(BereikbaarError, ValueError):
    """An input file or value is missing, unreadable or not what was expected."""


class InputProblemsError(InputError):
    """Several problems found in one input, each with its location (all reported at once).

    Parameters
    ----------
    message
        The whole report (first line: the file and how many problems).
    problems
        One ``"location: what is wrong; expected …"`` text per problem, every one found
        (the message lists at most the first 20).
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ConfigError(InputError):
    """A settings/TOML value is unknown, of the wrong type, or points nowhere."""


class ServiceError(BereikbaarError, RuntimeError):
    """An online service failed: no answer within the deadline, an answer too large,
    malformed or an HTTP error after the retries, a broken or looping connection."""


class GeocodeError(ServiceError):
    """Geocoding failed as a whole (a single failing row is reported, not raised)."""


class NetworkError(BereikbaarError, ValueError):
    """A road network is empty, unusable for the chosen mode, or inconsistent."""


class DownloadError(ServiceError):
    """A download failed, or a downloaded file failed its size/checksum check."""


class OutputError(BereikbaarError, OSError):
    """An output could not be written (nothing already written is lost)."""


class BereikbaarWarning(UserWarning):
    """A survivable problem (counted in the run summary), e.g. an unreachable origin."""


def where(
    path: object,
    row: int | None = None,
    column: str | None = None,
    *,
    line: int | None = None,
    cell: str | None = None,
) -> str:
    """Format a location for error messages: ``file 'x.csv', line 4, column 'type'``.

    Parameters
    ----------
    path
        The file (or any object with a useful ``str``).
    row
        1-based data row (header excluded): for tables that have no text lines
        (GeoPackage, Parquet features).
    column
        Column name.
    line
        1-based physical line of a text file, counting the header and blank lines (what
        an editor shows).
    cell
        A spreadsheet cell as Excel names it (``"Blad1!C5"``).

    Returns
    -------
    str
        The location text.

    Examples
    --------
    >>> where("a.csv", 3, "type")
    "file 'a.csv', row 3, column 'type'"
    >>> where("a.csv", line=5, column="x")
    "file 'a.csv', line 5, column 'x'"
    >>> where("a.xlsx", cell="Blad1!C5", column="x")
    "file 'a.xlsx', cell Blad1!C5, column 'x'"
    """
    parts = [f"file '{path}'"]
    if cell is not None:
        parts.append(f"cell {cell}")
    if line is not None:
        parts.append(f"line {line}")
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
