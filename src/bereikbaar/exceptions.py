"""Exceptions and warnings raised by bereikbaar.

Every error derives from :class:`BereikbaarError`; subclasses also derive from the
matching built-in so ``except ValueError`` keeps working. Messages name the file,
and where there is one, the row and column, and say what was expected:
:func:`where` writes a location, :class:`Problems` collects every problem found in one
input and raises them together as one error.
"""

from __future__ import annotations

from typing import Final

MAX_LISTED: Final = 20
"""At most this many problems are listed in one error message (then ``en N meer``)."""


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
        (the message lists at most the first :data:`MAX_LISTED`).
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
    loc = location(row, column)
    return ", ".join([*parts, loc] if loc else parts)


def location(row: int | None = None, column: str | None = None) -> str:
    """Where in a layer, without the file: ``row 3, column 'geometry'`` (empty for neither).

    For a problem in a geometric layer or any table without text lines; a table read by
    :mod:`bereikbaar.sources.tabular` names its lines and cells with ``Table.loc``.

    Examples
    --------
    >>> location(3, "geometry"), location(3), location()
    ("row 3, column 'geometry'", 'row 3', '')
    """
    parts = [f"row {row}"] if row is not None else []
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


class Problems:
    """Every problem found in one input, raised together as one error.

    Loaders check a whole file before they give up, record each problem with where it is,
    and raise once: the user fixes every row in one go instead of one per run.

    Parameters
    ----------
    path
        The input file (named once, at the start of the message).
    what
        What the file or the checked part is, for the count (``"the branch list"``,
        ``"the wegvak geometries"``): ``… 3 problems in the branch list: …``.
    fix
        What to do about all of them, said once at the end (may also be set later, as
        the attribute :attr:`fix`, when it depends on what was found).
    exc
        The error class raised (default :class:`InputProblemsError`; another subclass of
        :class:`BereikbaarError` gets the message only, without :attr:`problems`).

    Notes
    -----
    The location of a problem is the text :func:`location` writes (``row 2, column
    'geometry'`` for a geometric layer) or ``Table.loc`` of :mod:`bereikbaar.sources.tabular`
    (``line 5, column 'x'``, ``cell Blad1!C5, column 'x'``): always without the file.

    Examples
    --------
    >>> p = Problems("b.csv", "the branch list", fix="correct these cells")
    >>> p.add("line 3, column 'x'", "'1,2,3' is not a number")
    >>> print(p.error())
    file 'b.csv', line 3, column 'x': '1,2,3' is not a number; fix: correct these cells
    >>> p.add(location(5, "naam"), "empty name")
    >>> try:
    ...     p.raise_if_any()
    ... except InputError as err:
    ...     print(err)
    file 'b.csv': 2 problems in the branch list:
      line 3, column 'x': '1,2,3' is not a number;
      row 5, column 'naam': empty name;
    fix: correct these cells
    """

    def __init__(
        self,
        path: object,
        what: str = "the file",
        *,
        fix: str = "",
        exc: type[BereikbaarError] = InputProblemsError,
    ) -> None:
        self.path = path
        self.what = what
        self.fix = fix
        self.exc = exc
        self.items: list[tuple[str, str]] = []

    def add(self, location: str, message: str) -> None:
        """Record one problem at ``location``, without the file (``"line 5, column 'x'"``).

        Parameters
        ----------
        location
            Where the problem is (:func:`location`, ``Table.loc``); ``""`` for the file
            as a whole.
        message
            What is wrong and what was expected.
        """
        self.items.append((location, message))

    def __len__(self) -> int:
        return len(self.items)

    def texts(self) -> tuple[str, ...]:
        """Every problem as ``"location: message"``."""
        return tuple(f"{loc}: {msg}" if loc else msg for loc, msg in self.items)

    def error(self) -> BereikbaarError:
        """The error listing the problems (call only when there is one).

        Returns
        -------
        BereikbaarError
            One problem: ``file 'x', line 5, column 'c': …; fix: …`` on one line.
            Several: a first line with the file and the count, one line per problem (at
            most :data:`MAX_LISTED`, then ``en N meer``), then the fix.
        """
        texts = self.texts()
        fix = f"fix: {self.fix}" if self.fix else ""
        if len(texts) == 1:
            loc, msg = self.items[0]
            msg = f"{where(self.path)}, {loc}: {msg}" if loc else f"{where(self.path)}: {msg}"
            msg += f"; {fix}" if fix else ""
        else:
            shown = list(texts[:MAX_LISTED])
            if len(texts) > len(shown):
                shown.append(f"en {len(texts) - len(shown)} meer")
            body = ";\n  ".join(shown)
            msg = f"{where(self.path)}: {len(texts)} problems in {self.what}:\n  {body}"
            msg += f";\n{fix}" if fix else ""
        if issubclass(self.exc, InputProblemsError):
            return self.exc(msg, texts)
        return self.exc(msg)

    def raise_if_any(self) -> None:
        """Raise :meth:`error` when a problem was recorded.

        Raises
        ------
        InputProblemsError
            (or the class given as ``exc``) when :meth:`add` was called at least once.
        """
        if self.items:
            raise self.error()
