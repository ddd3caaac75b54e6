"""The one atomic file writer: a hidden temp file beside the target, renamed onto it on success.

It sits at the bottom of the package (just above :mod:`bereikbaar.exceptions`) so that every
layer that writes a file uses it: the engine's network cache
(:meth:`Network.save <bereikbaar.engine.network.Network.save>`), the example inputs
(:mod:`bereikbaar.examples`) and every output (:mod:`bereikbaar.output.files`, which gives it
its public name :func:`bereikbaar.output.files.atomic_path`). A writer killed before the rename
leaves a temp file whose name (:data:`TEMP_FILE_PATTERN`) carries its process id; the next
write of the same file, and :func:`remove_stale_temp_files` for a whole folder, remove the temp
files of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from .exceptions import OutputError

__all__ = [
    "TEMP_FILE_PATTERN",
    "atomic_path",
    "pid_alive",
    "remove_quietly",
    "remove_stale_temp_files",
]

logger = logging.getLogger(__name__)

_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")

TEMP_FILE_PATTERN = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?:\.[^.]*)?(?:-journal|-wal|-shm)?$"
)
"""Names of the temp files :func:`atomic_path` creates (and SQLite's side files of them)."""


def remove_quietly(path: Path) -> None:
    """Delete ``path`` and its SQLite side files, where they exist.

    Parameters
    ----------
    path
        A (temp) file.
    """
    for p in (path, *(path.with_name(path.name + sfx) for sfx in _SQLITE_SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (also when it belongs to another user).

    Parameters
    ----------
    pid
        Process id.

    Returns
    -------
    bool
        True when the process exists.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - e.g. pid out of range
        return False
    return True


def _stale(name: str, target: str | None = None) -> bool:
    """A temp file of a dead writer (of the file ``target``, when given)."""
    match = TEMP_FILE_PATTERN.match(name)
    if match is None or (target is not None and match.group("name") != target):
        return False
    return not pid_alive(int(match.group("pid")))


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
            if not _stale(name):
                continue
            path = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("removed %d stale temp file(s) in %s", len(removed), root)
    return removed


def _remove_stale_of(path: Path) -> None:
    """Delete the temp files dead writers of ``path`` left beside it."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and _stale(entry.name, path.name):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it onto ``path``.

    The temp file (hidden, same folder, same suffix so drivers recognise the format) is not
    created: the writer creates it. On any exception the temp file (and SQLite side files) are
    deleted and the existing ``path`` is left untouched; an :class:`OSError` becomes
    :class:`~bereikbaar.exceptions.OutputError` naming ``path``. Temp files of ``path`` that
    killed writers left behind are removed first.

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
    _remove_stale_of(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)  # os.replace: atomic on the same file system
    except BaseException as err:
        remove_quietly(tmp)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            msg = f"could not write '{path}' (the previous file, if any, is unchanged): {err}"
            raise OutputError(msg) from err
        raise
