"""Writing files: atomically, as one set, as Dutch Excel CSV, with safe names and no formulas.

The bottom of :mod:`bereikbaar.output` (with :mod:`~bereikbaar.output.style`). Every output
file is first written to a hidden temp file in the destination folder and then moved over the
destination with :func:`os.replace` (:func:`atomic_path`), so no output is ever half written.
The writer itself lives at the bottom of the package (``bereikbaar._atomic``, so that the
engine's network cache and the examples use the same one); this module is its public name.
A run's outputs together are an output set (:func:`output_set`): written into a stage folder
beside the output folder and swapped with it in one step, so a failing run never leaves new
outputs beside old ones and never clobbers the previous set.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import errno
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bereikbaar._atomic import (
    TEMP_FILE_PATTERN,
    atomic_path,
    remove_stale_temp_files,
)
from bereikbaar._atomic import pid_alive as _pid_alive
from bereikbaar.exceptions import OutputError
from bereikbaar.output.style import is_missing

logger = logging.getLogger(__name__)

__all__ = [
    "EXCEL_CSV_DECIMAL",
    "EXCEL_CSV_ENCODING",
    "EXCEL_CSV_SEPARATOR",
    "TEMP_FILE_PATTERN",
    "OutputSet",
    "atomic_path",
    "neutralise_formula",
    "neutralise_frame",
    "output_set",
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


# --------------------------------------------------------------------------- output sets
_SET_NAME = re.compile(
    r"^\.(?P<name>.+)\.bereikbaar-(?P<kind>stage|ready)-(?P<pid>\d+)-[0-9a-f]{8}$"
)
_PROBE_PREFIX = ".bereikbaar-probe-"  # written by versions before output sets; never kept
_RENAME_EXCHANGE = 2  # linux/fs.h
_libc: Any = None


@dataclasses.dataclass(frozen=True)
class OutputSet:
    """Where a run writes its outputs while :func:`output_set` holds ``out_dir``.

    Attributes
    ----------
    path
        The folder to write into (the stage, or a folder inside an enclosing stage).
    out_dir
        The folder the set becomes on commit.
    stage
        The stage folder this set commits (``None`` inside an enclosing set, which commits).
    """

    path: Path
    out_dir: Path
    stage: Path | None = None

    def final(self, path: str | os.PathLike[str]) -> Path:
        """Where ``path``, written under :attr:`path`, is after the commit."""
        path = Path(path)
        if self.stage is None:
            return path
        try:
            return self.out_dir / path.relative_to(self.stage)
        except ValueError:
            return path


_ACTIVE_SETS: list[OutputSet] = []


def _lock_name(out: Path) -> Path:
    return out.parent / f".{out.name}.bereikbaar-lock"


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """An exclusive, non-blocking ``flock`` on the lock file beside ``out``."""
    import fcntl  # POSIX only; imported here so that the rest of this module works anywhere

    lock = _lock_name(out)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        msg = (
            f"kan niet schrijven naast de uitvoermap '{out}' (vergrendelbestand '{lock}': "
            f"{err.strerror or err}); kies een uitvoermap in een map waarin u mag schrijven"
        )
        raise OutputError(msg) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            msg = (
                f"de uitvoermap '{out}' is in gebruik door een andere bereikbaar-run{who}; "
                "wacht tot die klaar is of kies een andere uitvoermap (out_dir)"
            )
            raise OutputError(msg) from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the lock file stays (removing it would race)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = getattr(_libc, "renameat2", None)
    if func is None:  # glibc < 2.28
        return False
    at_fdcwd = -100
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno_ = ctypes.get_errno()
    if errno_ in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system cannot exchange
        return False
    raise OSError(errno_, os.strerror(errno_), str(a), None, str(b))


def _stale_stages(out: Path) -> Iterator[tuple[str, Path]]:
    """Stage folders of ``out`` (kind ``stage`` or ``ready``) whose process is gone."""
    try:
        with os.scandir(out.parent) as it:
            entries = list(it)
    except FileNotFoundError:
        return
    for entry in entries:
        m = _SET_NAME.match(entry.name)
        if m is None or m.group("name") != out.name:
            continue
        pid = int(m.group("pid"))
        if pid != os.getpid() and _pid_alive(pid):
            continue
        yield m.group("kind"), Path(entry.path)


def _recover(out: Path) -> None:
    """Finish or undo a commit a killed run left half done; remove stale stages.

    Called with the lock held. Only the two-rename fallback of :func:`_commit` leaves
    ``out`` missing: then a ``ready`` stage (a complete set) becomes ``out``.
    """
    stale = sorted(_stale_stages(out), key=lambda kp: kp[0] != "ready")
    if not out.exists() and stale and stale[0][0] == "ready":
        _, ready = stale.pop(0)
        ready.rename(out)
        logger.warning("uitvoer in %s hersteld uit een onderbroken vastlegging", out)
    for _, path in stale:
        shutil.rmtree(path, ignore_errors=True)
        logger.info("removed the stale output stage %s", path)


def _is_leftover(name: str) -> bool:
    """A temp file of a dead :func:`atomic_path` writer, or an old write probe."""
    if name.startswith(_PROBE_PREFIX):
        return True
    m = TEMP_FILE_PATTERN.match(name)
    return m is not None and not _pid_alive(int(m.group("pid")))


def _keep_old(old: Path, stage: Path) -> None:
    """Hardlink (or copy) into ``stage`` every entry of ``old`` the new set does not have.

    Folders are merged entry by entry. A folder of the old set where the new set has a
    file (or the reverse) is an :class:`OutputError`: replacing it would delete the user's
    files.
    """
    with os.scandir(old) as it:
        entries = list(it)
    for entry in entries:
        if _is_leftover(entry.name):
            continue
        target = stage / entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if target.exists() or target.is_symlink():
            if is_dir and target.is_dir() and not target.is_symlink():
                _keep_old(Path(entry.path), target)
            elif is_dir or target.is_dir():
                msg = (
                    f"kan '{Path(entry.path)}' niet vervangen: het is in de uitvoermap een "
                    f"{'map' if is_dir else 'bestand'} en in de nieuwe uitvoer een "
                    f"{'bestand' if is_dir else 'map'}; verplaats het of kies een andere "
                    "uitvoermap"
                )
                raise OutputError(msg)
            continue  # the new set's file replaces the old one
        if entry.is_symlink():
            target.symlink_to(Path(entry.path).readlink())
        elif is_dir:
            target.mkdir()
            shutil.copystat(entry.path, target)
            _keep_old(Path(entry.path), target)
        else:
            try:
                os.link(entry.path, target, follow_symlinks=False)
            except OSError:  # no hardlinks here (or too many): a copy
                shutil.copy2(entry.path, target, follow_symlinks=False)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the block is done (the commit must not stop half way)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda n, _f: caught.append(n)) for s in sigs}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            logger.warning(
                "afbreken tijdens het vastleggen genegeerd: de nieuwe uitvoer is compleet"
            )


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Flush a stage's files and folders to disk, so a power cut after the swap loses nothing."""
    for dirpath, _, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in filenames:
            if not (here / name).is_symlink():
                _fsync(here / name)
        _fsync(here)


def _commit(stage: Path, out: Path) -> None:
    """Make ``stage`` the folder ``out``, atomically; the old set is removed afterwards."""
    _fsync_tree(stage)
    if out.is_dir():
        _keep_old(out, stage)
        with contextlib.suppress(OSError):
            shutil.copymode(out, stage)
    with _signals_deferred():
        if not out.exists():
            try:
                stage.rename(out)
                _fsync(out.parent)
                return
            except OSError as err:  # created meanwhile: exchange with it
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        if _exchange(stage, out):
            old = stage
        else:  # two renames; the name 'ready' marks a complete set (see _recover)
            ready = stage.with_name(stage.name.replace(".bereikbaar-stage-", ".bereikbaar-ready-"))
            stage.rename(ready)
            old = stage
            try:
                out.rename(old)
            except OSError:
                ready.rename(stage)  # undo: out is untouched, the caller removes the stage
                raise
            try:
                ready.rename(out)
            except OSError:
                old.rename(out)  # undo: the previous set back in place
                ready.rename(stage)
                raise
        _fsync(out.parent)
        shutil.rmtree(old, ignore_errors=True)


def _enclosing(out: Path) -> OutputSet | None:
    """The nested :class:`OutputSet` when ``out`` is inside an active set of this process."""
    for active in reversed(_ACTIVE_SETS):
        assert active.stage is not None
        for root, into in ((active.stage, active.stage), (active.out_dir, active.stage)):
            with contextlib.suppress(ValueError):
                return OutputSet(into / out.relative_to(root), out)
    return None


def _set_error(err: BaseException, stage: Path, out: Path) -> OutputError:
    text = str(err).replace(str(stage), str(out))
    msg = f"de uitvoermap '{out}' is niet bijgewerkt: {text}; de vorige uitvoer is ongewijzigd"
    return OutputError(msg)


@contextlib.contextmanager
def output_set(out_dir: str | os.PathLike[str]) -> Iterator[OutputSet]:
    """Write a run's outputs as one set: all of them replace ``out_dir`` at once, or none.

    - An exclusive lock (``flock``) on ``.<name>.bereikbaar-lock`` beside ``out_dir`` refuses
      a second run into the same folder at once (:class:`OutputError`).
    - Outputs are written into a stage folder beside ``out_dir``
      (``.<name>.bereikbaar-stage-<pid>-<hex>``, same file system); creating it proves that
      the folder can be written.
    - On success, entries of the old ``out_dir`` that the new set does not have (the user's
      own files, outputs of options not used this time) are hardlinked (else copied) into
      the stage, the stage takes the place of ``out_dir`` in one
      ``renameat2(RENAME_EXCHANGE)`` (Linux), and the old folder is removed. Where the file
      system cannot exchange, two renames are used: the stage is first renamed ``…-ready-…``
      (complete), then ``out_dir`` is moved aside and the ready stage put in its place; a run
      killed in between leaves no ``out_dir``, and the next run renames the ready stage into
      place. SIGINT and SIGTERM wait until the commit is done.
    - On any exception, SIGINT or SIGTERM (which becomes :class:`KeyboardInterrupt` while
      the set is open) the stage is removed and ``out_dir`` is untouched. Stages of killed
      runs (dead pid in the name) are removed by the next run.

    Inside an open set (``out_dir`` in its stage or in its ``out_dir``) this is a no-op
    that points into the enclosing stage; the enclosing set commits.

    Parameters
    ----------
    out_dir
        The output folder (created on commit when missing).

    Yields
    ------
    OutputSet
        ``path`` to write into; ``final(p)`` is where ``p`` will be after the commit.

    Raises
    ------
    OutputError
        Another run holds ``out_dir``; the folder beside it cannot be written; an output
        cannot be written (then the previous set is unchanged).
    """
    given = Path(out_dir)
    nested = _enclosing(given.resolve())
    if nested is not None:
        nested.path.mkdir(parents=True, exist_ok=True)
        yield nested
        return
    out = given.resolve()
    if out.parent == out:
        msg = f"'{given}' kan geen uitvoermap zijn (de hoofdmap); kies een map daarbinnen"
        raise OutputError(msg)
    if out.exists() and not out.is_dir():
        msg = f"de uitvoermap '{out}' is een bestand, geen map; kies een andere out_dir"
        raise OutputError(msg)
    restore = _sigterm_raises()
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            msg = f"kan de uitvoermap '{out}' niet maken ({err}); kies een andere out_dir"
            raise OutputError(msg) from err
        with _locked(out):
            _recover(out)
            yield from _staged(out)
    finally:
        restore()


def _staged(out: Path) -> Iterator[OutputSet]:
    """The body of :func:`output_set` once the lock is held: stage, yield, commit."""
    stage = out.parent / f".{out.name}.bereikbaar-stage-{os.getpid()}-{secrets.token_hex(4)}"
    the_set = OutputSet(stage, out, stage)
    started = False
    try:
        try:
            stage.mkdir()
            if out.exists() and out.stat().st_dev != stage.stat().st_dev:
                msg = (
                    f"de uitvoermap '{out}' ligt op een ander bestandssysteem dan de map erboven"
                    " (een koppelpunt); kies een map daarbinnen als out_dir"
                )
                raise OutputError(msg)
            if out.exists() and not os.access(out, os.W_OK):
                msg = (
                    f"de uitvoermap '{out}' is alleen-lezen; maak hem schrijfbaar of kies een"
                    " andere out_dir"
                )
                raise OutputError(msg)
        except OutputError:
            raise
        except OSError as err:
            msg = f"kan niet schrijven naast de uitvoermap '{out}' ({err}); kies een andere out_dir"
            raise OutputError(msg) from err
        started = True
        _ACTIVE_SETS.append(the_set)
        yield the_set
        _commit(stage, out)
    except BaseException as err:
        shutil.rmtree(stage, ignore_errors=True)
        if started and isinstance(err, OSError):
            raise _set_error(err, stage, out) from err
        raise
    finally:
        if the_set in _ACTIVE_SETS:
            _ACTIVE_SETS.remove(the_set)


def _sigterm_raises() -> Callable[[], None]:
    """Let SIGTERM raise KeyboardInterrupt (so the stage is removed); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return restore
