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


def where(path: object, row: int | None = None, column: str | None = None) -> str:
    """Format a location for error messages: ``file 'x.csv', row 3, column 'type'``.

    Parameters
    ----------
    path
        The file (or any object with a useful ``str``).
    row
        1-based data row number as a user sees it in a spreadsheet (header excluded).
    column
        Column name.

    Returns
    -------
    str
        The location text.

    Examples
    --------
    >>> where("a.csv", 3, "type")
    "file 'a.csv', row 3, column 'type'"
    """
    parts = [f"file '{path}'"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
