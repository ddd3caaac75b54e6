"""Download the official inputs into ``data/raw/``: resumable, checked, never twice.

Sources (base URLs are parameters; defaults are the official servers):

- OpenStreetMap extracts from Geofabrik, per province or the whole country
  (``https://download.geofabrik.de/europe/netherlands/<provincie>-latest.osm.pbf`` and
  ``.../europe/netherlands-latest.osm.pbf``) with the ``.md5`` file Geofabrik publishes
  next to each; ODbL 1.0, "© OpenStreetMap contributors".
- CBS Vierkantstatistieken 100 m / 500 m by year
  (``https://download.cbs.nl/vierkant/<100|500>/<publicatiejaar>-cbs_vk<100|500>_<jaar>_v<n>.zip``);
  CC-BY 4.0, "Bron: CBS".
- CBS Wijk- en buurtkaart by year
  (``https://geodata.cbs.nl/files/Wijkenbuurtkaart/WijkBuurtkaart_<jaar>_v<n>.zip``);
  CC-BY 4.0, "Bron: CBS".

:func:`download_file` streams into ``<name>.part`` and resumes a broken transfer with an
HTTP ``Range`` request, checks the size against ``Content-Length``/``Content-Range``, the
MD5 where one is published (else it records the SHA-256), and the archive where the file
is a zip; only then renames the file into place and writes a ``<name>.download.json``
record. A file with a matching record is complete and is not fetched again (no request at
all). Progress bars (tqdm) are off by default; the CLI turns them on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from .._version import __version__
from ..exceptions import DownloadError, InputError
from . import limits
from .online import (
    Deadline,
    DeadlineExceededError,
    ResponseTooLargeError,
    TooSlowError,
    bounded_session,
    iter_body,
    read_body,
)

__all__ = [
    "CBS_DOWNLOAD_URL",
    "CBS_GEODATA_URL",
    "GEOFABRIK_URL",
    "PROVINCES",
    "DownloadResult",
    "Source",
    "cbs_vierkant_source",
    "cbs_wijkbuurtkaart_source",
    "download_file",
    "download_source",
    "geofabrik_source",
]

logger = logging.getLogger(__name__)

GEOFABRIK_URL: Final = "https://download.geofabrik.de/europe"
"""Geofabrik's Europe folder; the country file and the ``netherlands/`` folder are below it."""
CBS_DOWNLOAD_URL: Final = "https://download.cbs.nl"
"""CBS download server (Vierkantstatistieken under ``/vierkant/<100|500>/``)."""
CBS_GEODATA_URL: Final = "https://geodata.cbs.nl/files"
"""CBS geodata server (Wijk- en buurtkaart under ``/Wijkenbuurtkaart/``)."""

PROVINCES: Final = {
    "drenthe": "drenthe",
    "flevoland": "flevoland",
    "friesland": "friesland",
    "fryslan": "friesland",
    "gelderland": "gelderland",
    "groningen": "groningen",
    "limburg": "limburg",
    "noordbrabant": "noord-brabant",
    "noordholland": "noord-holland",
    "overijssel": "overijssel",
    "utrecht": "utrecht",
    "zeeland": "zeeland",
    "zuidholland": "zuid-holland",
}
"""Province name (lower case, without spaces/hyphens/accents) → Geofabrik region slug."""

_OSM_LICENCE = "ODbL 1.0, © OpenStreetMap contributors"
_CBS_LICENCE = "CC-BY 4.0, Bron: CBS"
_RETRY_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})
# a read that broke: reset, wrong Content-Length (IncompleteRead), bad chunking, timeout
_READ_ERRORS: Final = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
_CONTENT_RANGE_RE: Final = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True)
class Source:
    """One downloadable official input.

    Attributes
    ----------
    name
        Short identifier, e.g. ``"osm-zuid-holland"``.
    url
        Where the file is.
    filename
        File name under the output folder.
    licence
        Licence and attribution to show with results.
    md5_url
        URL of the published MD5 (``"<hash>  <file>"``), or None.
    """

    name: str
    url: str
    filename: str
    licence: str
    md5_url: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_file` did.

    Attributes
    ----------
    path
        The complete file.
    url
        Where it came from.
    size_bytes
        File size.
    sha256
        SHA-256 of the file (hex).
    md5
        MD5 (hex) when a published checksum was checked, else None.
    downloaded
        False when the file was already complete and nothing was fetched.
    resumed_from
        Bytes already on disk (from an earlier broken transfer) when the download started.
    attempts
        HTTP requests made for the file itself.
    """

    path: Path
    url: str
    size_bytes: int
    sha256: str
    md5: str | None
    downloaded: bool
    resumed_from: int = 0
    attempts: int = 0


def _slug(text: str) -> str:
    table = str.maketrans("âäáàêëéèîïíìôöóòûüúù", "aaaaeeeeiiiioooouuuu")
    return re.sub(r"[\s\-_']+", "", text.strip().lower().translate(table))


def geofabrik_source(region: str = "nederland", *, base_url: str = GEOFABRIK_URL) -> Source:
    """The Geofabrik OSM extract of a province or the whole country.

    Parameters
    ----------
    region
        A province (``"Zuid-Holland"``, ``"fryslân"``, ``"noord-brabant"``) or
        ``"nederland"``/``"netherlands"`` for the whole country.
    base_url
        Geofabrik's Europe folder (default :data:`GEOFABRIK_URL`).

    Returns
    -------
    Source
        With the published ``.md5`` next to the file.

    Examples
    --------
    >>> geofabrik_source("Fryslân").url
    'https://download.geofabrik.de/europe/netherlands/friesland-latest.osm.pbf'
    """
    base = base_url.rstrip("/")
    key = _slug(region)
    if key in ("nederland", "netherlands", "nl"):
        filename = "netherlands-latest.osm.pbf"
        url = f"{base}/{filename}"
        name = "osm-nederland"
    elif key in PROVINCES:
        filename = f"{PROVINCES[key]}-latest.osm.pbf"
        url = f"{base}/netherlands/{filename}"
        name = f"osm-{PROVINCES[key]}"
    else:
        names = ", ".join(sorted(set(PROVINCES.values())))
        msg = f"unknown region {region!r}; expected 'nederland' or a province: {names}"
        raise InputError(msg)
    return Source(name, url, filename, _OSM_LICENCE, md5_url=f"{url}.md5")


def cbs_vierkant_source(
    year: int,
    resolution_m: int = 100,
    *,
    version: int = 1,
    published: int | None = None,
    base_url: str = CBS_DOWNLOAD_URL,
) -> Source:
    """CBS Vierkantstatistieken (100 m or 500 m grid) of one year.

    Parameters
    ----------
    year
        Reference year of the figures (``2024``).
    resolution_m
        Cell size in metres: 100 or 500.
    version
        Release of that year (``v1`` first, later releases add figures).
    published
        Year of publication in the file name (default ``year + version``: the 2024 v1
        figures appeared in 2025). Check https://www.cbs.nl (Kaart van 100 meter bij 100
        meter met statistieken) when a download is not found.
    base_url
        CBS download server (default :data:`CBS_DOWNLOAD_URL`).

    Returns
    -------
    Source
        No MD5 is published; the SHA-256 is recorded.

    Examples
    --------
    >>> cbs_vierkant_source(2024, 500).url
    'https://download.cbs.nl/vierkant/500/2025-cbs_vk500_2024_v1.zip'
    """
    if resolution_m not in (100, 500):
        msg = f"resolution_m must be 100 or 500, got {resolution_m!r}"
        raise InputError(msg)
    pub = published if published is not None else year + version
    filename = f"{pub}-cbs_vk{resolution_m}_{year}_v{version}.zip"
    url = f"{base_url.rstrip('/')}/vierkant/{resolution_m}/{filename}"
    return Source(f"cbs-vierkant-{resolution_m}m-{year}", url, filename, _CBS_LICENCE)


def cbs_wijkbuurtkaart_source(
    year: int, *, version: int = 1, base_url: str = CBS_GEODATA_URL
) -> Source:
    """CBS Wijk- en buurtkaart (gemeenten, wijken, buurten + kerncijfers) of one year.

    Parameters
    ----------
    year
        Year of the boundaries (``2024``).
    version
        Release (``v1`` first; later releases add figures such as the library distance).
    base_url
        CBS geodata server (default :data:`CBS_GEODATA_URL`).

    Returns
    -------
    Source
        The zip holds ``wijkenbuurten_<jaar>_v<n>.gpkg``; no MD5 is published.

    Examples
    --------
    >>> cbs_wijkbuurtkaart_source(2024, version=2).filename
    'WijkBuurtkaart_2024_v2.zip'
    """
    filename = f"WijkBuurtkaart_{year}_v{version}.zip"
    url = f"{base_url.rstrip('/')}/Wijkenbuurtkaart/{filename}"
    return Source(f"cbs-wijkbuurtkaart-{year}", url, filename, _CBS_LICENCE)


# ---------------------------------------------------------------------- files
def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".download.json")


def _hashes(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _read_record(dest: Path) -> dict[str, object] | None:
    try:
        data = json.loads(_record_path(dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_zip(path: Path, url: str, max_unzipped: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            unzipped = sum(info.file_size for info in zf.infolist())
            if unzipped > max_unzipped:
                msg = (
                    f"download van {url} geweigerd: het zip-archief pakt uit tot {unzipped:,}"
                    f" bytes, meer dan de grens van {max_unzipped:,} bytes"
                    " (limits.MAX_UNZIPPED_BYTES); het bestand is verwijderd"
                )
                raise DownloadError(msg)
            # reading a member stops at its declared size: the check above bounds the work
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        msg = f"download of {url} is corrupt: not a valid zip archive ({err})"
        raise DownloadError(msg) from err
    if bad is not None:
        msg = f"download of {url} is corrupt: member {bad!r} fails its CRC check"
        raise DownloadError(msg)


class _SameHostSession(requests.Session):
    """A session that follows redirects only within the host it was asked for.

    A redirect to another host is not followed: the 3xx answer reaches the caller, which
    reports it (the downloader only talks to the configured server).
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        here = urlsplit(resp.url).hostname
        there = urlsplit(urljoin(resp.url, target)).hostname
        if there != here:
            logger.warning("%s redirects to another host (%s); not followed", resp.url, there)
            return None
        return target


def _session() -> requests.Session:
    s = bounded_session(_SameHostSession())
    s.headers["User-Agent"] = f"bereikbaar/{__version__} (download of official open data)"
    return s


def fetch_md5(
    url: str,
    *,
    session: requests.Session | None = None,
    timeout_s: float = 30.0,
    deadline_s: float | None = None,
) -> str:
    """Read a published MD5 file (``"<32 hex>  <filename>"``).

    Parameters
    ----------
    url
        The MD5 file.
    session
        ``requests.Session`` to use.
    timeout_s
        Timeout per socket read (s).
    deadline_s
        Time for the whole request (default :data:`~bereikbaar.sources.limits.REQUEST_DEADLINE_S`).

    Raises
    ------
    DownloadError
        Not reachable, too slow, too large, or no 32-hex-digit hash in it.
    """
    s = session or _session()
    seconds = limits.REQUEST_DEADLINE_S if deadline_s is None else deadline_s
    try:
        with Deadline(seconds) as deadline:
            response = s.get(
                url, timeout=(min(limits.CONNECT_TIMEOUT_S, timeout_s), timeout_s), stream=True
            )
            with contextlib.closing(response):
                body = read_body(response, deadline, max_bytes=64 * 1024)
    except DeadlineExceededError as err:
        msg = f"controlegetal {url} niet binnen {seconds:g} s ontvangen; probeer het later opnieuw"
        raise DownloadError(msg) from err
    except ResponseTooLargeError as err:
        msg = f"controlegetal {url} is geen MD5-bestand ({err})"
        raise DownloadError(msg) from err
    except (requests.RequestException, OSError) as err:
        msg = f"cannot fetch checksum {url} ({type(err).__name__}: {err})"
        raise DownloadError(msg) from err
    if response.status_code != 200:
        msg = f"cannot fetch checksum {url}: HTTP {response.status_code}"
        raise DownloadError(msg)
    text = body.decode("utf-8", "replace")
    match = re.match(r"^\s*([0-9a-fA-F]{32})\b", text)
    if match is None:
        msg = f"checksum file {url} holds no MD5 (got {text[:60]!r})"
        raise DownloadError(msg)
    return match.group(1).lower()


def download_file(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    progress: bool = False,
    verify: bool = False,
    session: requests.Session | None = None,
    timeout_s: float = 60.0,
    retries: int = 5,
    backoff_s: float = 1.0,
    chunk_bytes: int = 1 << 16,
    progress_factory: Callable[..., object] | None = None,
    deadline_s: float | None = None,
    max_bytes: int | None = None,
) -> DownloadResult:
    """Download ``url`` to ``dest``, resuming a broken transfer, with size/checksum checks.

    Parameters
    ----------
    url
        The file.
    dest
        Where it goes; ``<dest>.part`` holds an unfinished transfer and
        ``<dest>.download.json`` records a finished one (URL, size, SHA-256, MD5).
    md5
        Expected MD5 (hex) where the publisher gives one.
    progress
        Show a tqdm progress bar on stderr.
    verify
        Re-hash an already complete file and compare it with its record (a mismatch
        re-downloads it); by default a file with a matching record and size is trusted.
    session
        ``requests.Session`` to use (the default one lets the deadline cut off a read
        that is blocked; with another session the deadline is checked between reads).
    timeout_s
        Connect/read timeout per socket read (s).
    retries
        Retries after a broken transfer, a timeout, a too slow transfer, 429 or 5xx
        (each one resumes).
    backoff_s
        Wait before retry ``k`` (0-based): ``backoff_s * 2**k`` s (max 60 s).
    chunk_bytes
        Largest read.
    progress_factory
        Replaces ``tqdm.tqdm`` (tests).
    deadline_s
        Time for the whole download, all attempts included (default
        :data:`~bereikbaar.sources.limits.DOWNLOAD_DEADLINE_S`). An attempt that moves
        fewer than :data:`~bereikbaar.sources.limits.DOWNLOAD_MIN_BYTES_PER_WINDOW` bytes
        in :data:`~bereikbaar.sources.limits.DOWNLOAD_RATE_WINDOW_S` seconds is broken off
        and resumed.
    max_bytes
        Largest file accepted (default :data:`~bereikbaar.sources.limits.DOWNLOAD_MAX_BYTES`).

    Returns
    -------
    DownloadResult

    Raises
    ------
    DownloadError
        HTTP error, too many failed attempts, the deadline, a redirect loop, a file over
        ``max_bytes``, a size mismatch, an MD5 mismatch or a corrupt zip. A corrupt
        download is deleted (it can never be resumed into a good file); a broken transfer
        stays in ``.part`` to be resumed by the next call. ``dest`` only ever holds a
        complete, checked file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    seconds = limits.DOWNLOAD_DEADLINE_S if deadline_s is None else float(deadline_s)
    limit = limits.DOWNLOAD_MAX_BYTES if max_bytes is None else int(max_bytes)

    done = _already_complete(dest, url, md5, verify)
    if done is not None:
        logger.info("%s: already complete, not downloaded again", dest)
        return done

    s = session or _session()
    resumed_from = part.stat().st_size if part.exists() else 0
    total: int | None = None
    attempts = 0
    bar = None
    last = ""
    try:
        with Deadline(seconds) as deadline:
            while True:
                offset = part.stat().st_size if part.exists() else 0
                if total is not None and offset == total:
                    break
                if attempts > retries:
                    msg = (
                        f"download of {url} failed after {attempts} attempts ({last});"
                        " run again to resume"
                    )
                    raise DownloadError(msg)
                if attempts:
                    wait = min(backoff_s * 2 ** (attempts - 1), 60.0, deadline.remaining())
                    logger.info(
                        "%s: %s; retry in %.1f s (resume at %d bytes)", url, last, wait, offset
                    )
                    time.sleep(wait)
                    deadline.check()
                attempts += 1
                headers = {"Range": f"bytes={offset}-"} if offset else {}
                try:
                    response = s.get(
                        url,
                        headers=headers,
                        stream=True,
                        timeout=(min(limits.CONNECT_TIMEOUT_S, timeout_s), timeout_s),
                    )
                except requests.TooManyRedirects as err:
                    msg = (
                        f"download van {url} mislukt: de server stuurt eindeloos door"
                        f" ({err}); controleer de URL of --url-basis"
                    )
                    raise DownloadError(msg) from err
                except (requests.ConnectionError, requests.Timeout) as err:
                    deadline.check()
                    last = f"connection failed ({type(err).__name__})"
                    continue
                except requests.RequestException as err:
                    deadline.check()
                    msg = f"download van {url} mislukt ({type(err).__name__}: {err})"
                    raise DownloadError(msg) from err
                with contextlib.closing(response):
                    status = response.status_code
                    if status == 416 and offset:
                        # nothing more to send: the part is complete or longer than the file
                        size = _total_from_range(response.headers.get("Content-Range"))
                        if size is not None and size == offset:
                            total = offset
                            break
                        part.unlink()
                        last = "server refused to resume; restarting"
                        continue
                    if status in _RETRY_STATUS:
                        last = f"HTTP {status}"
                        continue
                    if status not in (200, 206):
                        msg = f"download of {url} failed: HTTP {status}"
                        if 300 <= status < 400:
                            location = response.headers.get("Location", "?")
                            msg += f" (redirect to {location} on another host not followed)"
                        raise DownloadError(msg)
                    if status == 206:
                        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
                        if match is None or int(match.group(1)) != offset:
                            part.unlink(missing_ok=True)
                            last = "server sent an unexpected range; restarting"
                            continue
                        total = None if match.group(3) == "*" else int(match.group(3))
                        mode = "ab"
                    else:  # 200: the whole file (server ignores Range, or fresh start)
                        if offset:
                            logger.info("%s: server does not resume; starting over", url)
                        offset = 0
                        length = response.headers.get("Content-Length")
                        total = int(length) if length and length.isdigit() else None
                        mode = "wb"
                    if total is not None and total > limit:
                        msg = (
                            f"download van {url} geweigerd: {total:,} bytes, meer dan de grens"
                            f" van {limit:,} bytes (limits.DOWNLOAD_MAX_BYTES, max_bytes)"
                        )
                        raise DownloadError(msg)
                    bar = _bar(bar, progress, progress_factory, total, offset, dest.name)
                    try:
                        with part.open(mode) as fh:
                            for chunk in iter_body(
                                response,
                                deadline,
                                max_bytes=limit - offset,
                                chunk_bytes=chunk_bytes,
                                window_s=limits.DOWNLOAD_RATE_WINDOW_S,
                                min_bytes_per_window=limits.DOWNLOAD_MIN_BYTES_PER_WINDOW,
                            ):
                                try:
                                    fh.write(chunk)
                                except OSError as err:
                                    msg = (
                                        f"download van {url}: kan {part} niet schrijven ({err});"
                                        " maak ruimte vrij of kies een andere map (--out)"
                                    )
                                    raise DownloadError(msg) from err
                                if bar is not None:
                                    bar.update(len(chunk))  # type: ignore[attr-defined]
                    except ResponseTooLargeError as err:
                        part.unlink(missing_ok=True)
                        msg = (
                            f"download van {url} afgebroken: meer dan de grens van {limit:,}"
                            " bytes (limits.DOWNLOAD_MAX_BYTES, max_bytes); het deel is verwijderd"
                        )
                        raise DownloadError(msg) from err
                    except TooSlowError as err:
                        last = f"transfer too slow ({err})"
                        continue
                    except _READ_ERRORS as err:
                        if isinstance(err, OSError) and err.filename is not None:
                            msg = f"download van {url}: kan {part} niet schrijven ({err})"
                            raise DownloadError(msg) from err
                        last = f"transfer broken ({type(err).__name__})"
                        continue
                    if total is None:
                        total = part.stat().st_size
                    got = part.stat().st_size
                    if got < total:
                        last = f"transfer ended early ({got} of {total} bytes)"
                        continue
                    if got > total:
                        part.unlink()
                        msg = f"download of {url} is corrupt: {got} bytes, expected {total}"
                        raise DownloadError(msg)
    except DeadlineExceededError as err:
        have = part.stat().st_size if part.exists() else 0
        msg = (
            f"download van {url} afgebroken: niet klaar binnen {seconds:g} s"
            f" ({have:,} bytes binnen, bewaard in {part.name}); draai opnieuw om verder te gaan"
        )
        raise DownloadError(msg) from err
    finally:
        if bar is not None:
            bar.close()  # type: ignore[attr-defined]

    size = part.stat().st_size
    got_md5, sha256 = _hashes(part)
    if md5 is not None and got_md5 != md5.lower():
        part.unlink()
        msg = (
            f"download of {url} is corrupt: MD5 {got_md5} does not match the published"
            f" {md5.lower()}; the file was deleted, run again"
        )
        raise DownloadError(msg)
    if dest.suffix.lower() == ".zip":
        try:
            _check_zip(part, url, limits.MAX_UNZIPPED_BYTES)
        except DownloadError:
            part.unlink()
            raise
    part.replace(dest)
    result = DownloadResult(
        path=dest,
        url=url,
        size_bytes=size,
        sha256=sha256,
        md5=got_md5 if md5 is not None else None,
        downloaded=True,
        resumed_from=resumed_from,
        attempts=attempts,
    )
    record = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in asdict(result).items()
        if k not in ("downloaded", "attempts", "resumed_from")
    }
    record["completed"] = datetime.now(UTC).isoformat(timespec="seconds")
    _record_path(dest).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("%s: %d bytes, sha256 %s (%d requests)", dest, size, sha256, attempts)
    return result


def _total_from_range(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+\*/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _bar(
    bar: object | None,
    progress: bool,
    factory: Callable[..., object] | None,
    total: int | None,
    offset: int,
    name: str,
) -> object | None:
    if not progress:
        return None
    if bar is not None:
        bar.close()  # type: ignore[attr-defined]
    if factory is None:
        from tqdm import tqdm

        factory = tqdm
    return factory(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        leave=True,
    )


def _already_complete(dest: Path, url: str, md5: str | None, verify: bool) -> DownloadResult | None:
    if not dest.is_file():
        return None
    record = _read_record(dest)
    size = dest.stat().st_size
    if record is not None and record.get("size_bytes") == size:
        sha = str(record.get("sha256", ""))
        rec_md5 = record.get("md5")
        if md5 is not None and rec_md5 not in (None, md5.lower()):
            logger.info("%s: published MD5 changed; downloading the new file", dest)
            return None
        if verify:
            got_md5, got_sha = _hashes(dest)
            if got_sha != sha:
                logger.warning("%s: SHA-256 differs from its record; downloading again", dest)
                return None
        return DownloadResult(
            dest, url, size, sha, None if rec_md5 is None else str(rec_md5), downloaded=False
        )
    if md5 is not None:  # a file put there by hand: accept it when its MD5 matches
        got_md5, got_sha = _hashes(dest)
        if got_md5 == md5.lower():
            result = DownloadResult(dest, url, size, got_sha, got_md5, downloaded=False)
            record = {"path": str(dest), "url": url, "size_bytes": size}
            record |= {"sha256": got_sha, "md5": got_md5}
            _record_path(dest).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            return result
    return None


def download_source(
    source: Source,
    out_dir: str | Path = Path("data/raw"),
    *,
    progress: bool = False,
    verify: bool = False,
    session: requests.Session | None = None,
    timeout_s: float = 60.0,
    retries: int = 5,
    backoff_s: float = 1.0,
) -> DownloadResult:
    """Download one :class:`Source` into ``out_dir`` (checking its published MD5).

    Parameters
    ----------
    source
        From :func:`geofabrik_source`, :func:`cbs_vierkant_source` or
        :func:`cbs_wijkbuurtkaart_source`.
    out_dir
        Folder (default ``data/raw``).
    progress, verify, session, timeout_s, retries, backoff_s
        As for :func:`download_file`.

    Returns
    -------
    DownloadResult
    """
    dest = Path(out_dir) / source.filename
    s = session or _session()
    md5 = None
    if source.md5_url is not None:
        record = _read_record(dest)
        complete = (
            record is not None
            and dest.is_file()
            and record.get("size_bytes") == dest.stat().st_size
            and record.get("md5") is not None
        )
        if not complete or verify:
            md5 = fetch_md5(source.md5_url, session=s, timeout_s=timeout_s)
    return download_file(
        source.url,
        dest,
        md5=md5,
        progress=progress,
        verify=verify,
        session=s,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
    )
