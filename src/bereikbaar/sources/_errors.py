"""What reading an input file can raise, as one clear :class:`~bereikbaar.exceptions.InputError`.

:func:`read_errors` turns whatever a reader (pyogrio, pyarrow, pandas) raises for a broken
file into an InputError naming the file; the loaders wrap their reading in it.

pyosmium (libosmium) raises ``RuntimeError`` for a damaged or hostile PBF (a blob that
inflates beyond the format's 32 MiB, a truncated file), ``InvalidLocationError`` for an
XML coordinate it cannot read (``lat="500.0"``), ``OSError`` for an unreadable file.
:func:`osm_read_errors` turns each into an InputError naming the file (and, for a bad
coordinate, the node); every loader that reads OSM with pyosmium wraps its reading in it.
:func:`check_inflated_size` bounds the unpacked size of ``.gz``/``.bz2`` files before
they are read.
"""

from __future__ import annotations

import bz2
import gzip
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from ..exceptions import InputError, where
from . import limits

__all__ = [
    "check_file",
    "check_inflated_size",
    "find_invalid_node",
    "open_limited",
    "osm_read_errors",
    "read_errors",
]

_MEMORY_HINT = (
    "er is niet genoeg geheugen: gebruik een kleiner uitsnede (een provincie in plaats van"
    " heel Nederland) of een machine met meer geheugen"
)


class _Limited:
    """A binary stream that raises InputError once more than ``max_bytes`` were read."""

    def __init__(self, stream: IO[bytes], path: Path, max_bytes: int) -> None:
        self._stream = stream
        self._path = path
        self._max = max_bytes
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        left = self._max + 1 - self.count  # one byte more than allowed shows the excess
        data = self._stream.read(left if size is None or size < 0 else min(size, left))
        self.count += len(data)
        if self.count > self._max:
            msg = (
                f"{where(self._path)}: pakt uit tot meer dan {self._max:,} bytes"
                " (limits.MAX_INFLATED_XML_BYTES); een beschadigd of vijandig bestand"
                " (decompressiebom)? Gebruik een kleinere uitsnede"
            )
            raise InputError(msg)
        return data

    def close(self) -> None:
        self._stream.close()


@contextmanager
def open_limited(path: Path, max_bytes: int | None = None) -> Iterator[_Limited]:
    """Open ``path`` for reading, unpacking ``.gz``/``.bz2``, at most ``max_bytes`` unpacked.

    Raises
    ------
    InputError
        More than ``max_bytes`` (default
        :data:`~bereikbaar.sources.limits.MAX_INFLATED_XML_BYTES`) come out, or the
        compressed stream is damaged.
    """
    limit = limits.MAX_INFLATED_XML_BYTES if max_bytes is None else max_bytes
    name = path.name.lower()
    raw: IO[bytes]
    if name.endswith(".gz"):
        raw = cast("IO[bytes]", gzip.open(path, "rb"))  # noqa: SIM115 (closed below)
    elif name.endswith(".bz2"):
        raw = bz2.open(path, "rb")  # noqa: SIM115 (closed below)
    else:
        raw = path.open("rb")
    stream = _Limited(raw, path, limit)
    try:
        yield stream
    except (OSError, EOFError) as err:
        msg = f"{where(path)}: cannot unpack this file ({err}); is it complete?"
        raise InputError(msg) from err
    finally:
        stream.close()


def check_inflated_size(path: Path, max_bytes: int | None = None) -> int:
    """Unpacked size of a ``.gz``/``.bz2`` file, read in a stream (nothing kept in memory).

    Returns
    -------
    int
        Bytes after unpacking (the file size for an uncompressed file, not read).

    Raises
    ------
    InputError
        It unpacks to more than ``max_bytes`` (a decompression bomb), or is damaged.
    """
    if not path.name.lower().endswith((".gz", ".bz2")):
        return path.stat().st_size
    with open_limited(path, max_bytes) as stream:
        while stream.read(1 << 20):
            pass
        return stream.count


def find_invalid_node(path: Path) -> tuple[str, str, str] | None:
    """First node of an OSM XML file whose ``lat``/``lon`` is not a valid coordinate.

    Returns
    -------
    tuple of str or None
        ``(node id, attribute, value)``, or None when every node is valid (or the file
        is not XML).
    """
    if path.name.lower().endswith(".pbf"):
        return None
    ranges = {"lat": 90.0, "lon": 180.0}
    try:
        with open_limited(path) as stream:
            for _event, elem in ET.iterparse(stream, events=("end",)):
                if elem.tag != "node":
                    if elem.tag in ("way", "relation"):
                        return None  # nodes come first in OSM XML
                    continue
                for attr, bound in ranges.items():
                    value = elem.get(attr)
                    if value is None:
                        continue
                    try:
                        number = float(value)
                    except ValueError:
                        return str(elem.get("id")), attr, value
                    if not -bound <= number <= bound:
                        return str(elem.get("id")), attr, value
                elem.clear()
    except (ET.ParseError, InputError):
        return None
    return None


_BLOB_REFUSALS = ("illegal blob size", "illegal uncompressed size", "failed to uncompress data")
"""libosmium's messages for a PBF blob it will not inflate (pyosmium raises RuntimeError)."""


def check_file(
    path: Path, suffixes: tuple[str, ...], kind: str, *, unknown: str | None = None
) -> None:
    """Refuse an input path that does not end in one of ``suffixes`` or is not a file.

    Parameters
    ----------
    path
        The input file.
    suffixes
        Accepted endings, lower case (``path``'s name is compared in lower case).
    kind
        What the file is, for the messages: ``"OSM"``, ``"NWB"``.
    unknown
        The message for another ending (after ``file '<path>': ``); default
        ``unknown <kind> file type; expected a file ending in <suffixes>``.

    Raises
    ------
    InputError
        ``path`` has another ending, or does not exist (``<kind> file not found``).

    Examples
    --------
    >>> try:
    ...     check_file(Path("wegen.csv"), (".gml", ".gpkg"), "NWB")
    ... except InputError as err:
    ...     print(err)
    file 'wegen.csv': unknown NWB file type; expected a file ending in .gml, .gpkg
    """
    if not path.name.lower().endswith(suffixes):
        accepted = ", ".join(suffixes)
        why = unknown or f"unknown {kind} file type; expected a file ending in {accepted}"
        msg = f"{where(path)}: {why}"
        raise InputError(msg)
    if not path.is_file():
        msg = f"{where(path)}: {kind} file not found"
        raise InputError(msg)


@contextmanager
def _translated(message: Callable[[Exception], str | None]) -> Iterator[None]:
    """An exception of the body → InputError(``message(err)``); an InputError or None passes."""
    try:
        yield
    except InputError:
        raise
    except Exception as err:
        msg = message(err)
        if msg is None:
            raise
        raise InputError(msg) from err


@contextmanager
def read_errors(path: Path, what: str = "cannot read") -> Iterator[None]:
    """Turn whatever a reader raises while reading ``path`` into an InputError naming it.

    Readers (pyogrio, pyarrow, pandas) raise many types for a broken file; each becomes
    ``file '<path>': <what> (<their message>)``. An InputError passes unchanged.

    Examples
    --------
    >>> from pathlib import Path
    >>> try:
    ...     with read_errors(Path("a.parquet"), "cannot read as parquet"):
    ...         raise OSError("magic bytes not found")
    ... except InputError as err:
    ...     print(err)
    file 'a.parquet': cannot read as parquet (magic bytes not found)
    """
    with _translated(lambda err: f"{where(path)}: {what} ({err})"):
        yield


@contextmanager
def osm_read_errors(path: Path) -> Iterator[None]:
    """Turn what pyosmium raises while reading ``path`` into an InputError naming it.

    Examples
    --------
    >>> from pathlib import Path
    >>> try:
    ...     with osm_read_errors(Path("x.osm.pbf")):
    ...         raise RuntimeError("PBF error: illegal blob size")
    ... except InputError as err:
    ...     print(str(err)[:59])
    file 'x.osm.pbf': cannot read this OSM file (PBF error: ill
    """
    with _translated(lambda err: _osm_message(path, err)):
        yield


def _osm_message(path: Path, err: Exception) -> str | None:
    """The message for what pyosmium raised, or None for an error that is not the file's."""
    if isinstance(err, MemoryError):
        return f"{where(path)}: {_MEMORY_HINT}"
    if type(err).__name__ == "InvalidLocationError":  # osmium's own type, no base class
        bad = find_invalid_node(path)
        if bad is not None:
            node, attr, value = bad
            return (
                f"{where(path)}: node {node} heeft een ongeldige coördinaat"
                f" {attr}={value!r} (verwacht: lat tussen -90 en 90, lon tussen -180"
                " en 180, in graden WGS84); herstel of verwijder die node"
            )
        return (
            f"{where(path)}: ongeldige coördinaat ({err}); verwacht lat tussen -90"
            " en 90 en lon tussen -180 en 180 (graden WGS84)"
        )
    if isinstance(err, RuntimeError) and any(m in str(err) for m in _BLOB_REFUSALS):
        # libosmium refuses a blob that unpacks beyond the format's limit or beyond the
        # size it declares, before inflating it: a decompression bomb or a damaged file
        return (
            f"{where(path)}: cannot read this OSM file ({err}); een blok pakt uit tot meer"
            f" dan het opgeeft of dan de grens van het PBF-formaat"
            f" ({limits.MAX_PBF_BLOB_BYTES:,} bytes): het bestand is beschadigd of vijandig"
            " (decompressiebom)"
        )
    if isinstance(err, RuntimeError | OSError | ValueError):
        return (
            f"{where(path)}: cannot read this OSM file ({err}); is it complete and in OSM format?"
        )
    return None
