"""Geocoding branch addresses to RD New points: PDOK Locatieserver, or an offline table.

:class:`PdokGeocoder` asks the PDOK Locatieserver (``/free`` with ``fq=type:adres``, then
street, postcode and woonplaats fallbacks; ``/lookup`` where a hit lacks a centroid) and
reads the point from ``centroide_rd`` (WKT ``POINT(x y)`` in RD New, EPSG:28992). It
goes online, says so in its name, and talks only to its configured base URL. Requests run
in a bounded thread pool under a rate limit, with timeouts and bounded retries with
exponential backoff on 429 (honouring ``Retry-After``), 5xx and connection errors.
Answers are kept in a persistent SQLite cache keyed by the normalised query, so a re-run
makes no request for an address already answered.

:class:`TableGeocoder` is the offline fallback: a user-supplied address table (CSV or
GeoPackage, e.g. a BAG extract) of postcode + huisnummer (+ toevoeging) → point.

:func:`geocode_libraries` fills the geometry of branch rows that need geocoding, never
drops a row, and returns a report of the rows it could not place.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import requests
import urllib3.exceptions
from shapely.geometry import Point

from .._version import __version__
from ..exceptions import BereikbaarWarning, GeocodeError, InputError, Problems, where
from ..schema import (
    ADDRESS,
    CRS_RD,
    GEMEENTECODE,
    GEOCODE_QUALITY,
    LIBRARY_ID,
    NAME,
    NEEDS_GEOCODING,
    PLACE,
    POSTCODE,
)
from ..settings import Settings
from . import limits
from ._errors import read_errors
from .online import (
    Deadline,
    DeadlineExceededError,
    ResponseTooLargeError,
    bounded_session,
    read_body,
)
from .tabular import (
    NumberError,
    name_key,
    normalise_gemeentecode,
    parse_number,
    position,
    postcode_key,
    read_delimited,
)

__all__ = [
    "GEOCODE_MATCH",
    "GEOCODE_SCORE",
    "PDOK_URL",
    "QUALITY_LEVELS",
    "AddressQuery",
    "GeocodeResult",
    "GeocodeStats",
    "Geocoder",
    "PdokGeocoder",
    "TableGeocoder",
    "geocode_libraries",
    "parse_wkt_point",
]

logger = logging.getLogger(__name__)

PDOK_URL: Final = "https://api.pdok.nl/bzk/locatieserver/search/v3_1"
"""Default base URL of the PDOK Locatieserver (``/free``, ``/lookup`` are below it)."""

QUALITY_LEVELS: Final = ("adres", "straat", "postcode", "woonplaats", "geen")
"""Geocode quality, best first: exact address, street centroid, postcode (PC6) centroid,
woonplaats centroid, not found."""

GEOCODE_MATCH: Final = "geocode_match"
"""Column :func:`geocode_libraries` adds: the matched address (``weergavenaam``)."""

GEOCODE_SCORE: Final = "geocode_score"
"""Column :func:`geocode_libraries` adds: the Locatieserver relevance score."""

_FIELDS: Final = (
    "id,type,weergavenaam,score,centroide_rd,postcode,huisnummer,huisletter,"
    "huisnummertoevoeging,straatnaam,woonplaatsnaam,gemeentecode,gemeentenaam"
)
_WKT_POINT_RE: Final = re.compile(
    r"^\s*POINT\s*\(\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s+([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*\)\s*$",
    re.IGNORECASE,
)
_ADDRESS_RE: Final = re.compile(
    r"^(?P<street>.*?\D)\s*(?P<number>\d+)\s*[-/]?\s*(?P<suffix>[A-Za-z0-9]{1,4})?\s*$"
)
_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})


def parse_wkt_point(text: str) -> tuple[float, float]:
    """Parse a WKT ``POINT(x y)`` string as the Locatieserver writes ``centroide_rd``.

    Parameters
    ----------
    text
        WKT such as ``"POINT(79982.337 454319.395)"`` (x before y; for ``centroide_rd``
        RD New metres, for ``centroide_ll`` lon before lat).

    Returns
    -------
    tuple of float
        ``(x, y)``.

    Raises
    ------
    ValueError
        ``text`` is not a 2-D WKT point.

    Examples
    --------
    >>> parse_wkt_point("POINT(79982.337 454319.395)")
    (79982.337, 454319.395)
    """
    match = _WKT_POINT_RE.match(str(text))
    if match is None:
        msg = f"not a WKT POINT(x y): {text!r}"
        raise ValueError(msg)
    return float(match.group(1)), float(match.group(2))


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace(",", " ").split())


def _suffix_key(value: object) -> str:
    return re.sub(r"[\s\-_]+", "", str(value or "")).casefold()


@dataclass(frozen=True)
class AddressQuery:
    """One address to geocode; give whichever parts are known.

    Parameters
    ----------
    street, housenumber, suffix
        Street name, house number (digits) and addition (``"a"``, ``"-2"``).
    postcode
        Dutch postcode (``"2312 NH"``); any spacing or case.
    place
        Woonplaats.
    text
        Free text, used when the structured parts are empty.
    """

    street: str | None = None
    housenumber: str | None = None
    suffix: str | None = None
    postcode: str | None = None
    place: str | None = None
    text: str | None = None

    @classmethod
    def from_address(
        cls, address: str | None, postcode: str | None = None, place: str | None = None
    ) -> AddressQuery:
        """Split ``"Langegracht 76a"`` into street, number and suffix.

        Examples
        --------
        >>> AddressQuery.from_address("Langegracht 76a", "2312NH", "Leiden").housenumber
        '76'
        """
        address = (address or "").strip() or None
        street = number = suffix = text = None
        if address is not None:
            match = _ADDRESS_RE.match(address)
            if match is not None:
                street = match.group("street").strip(" ,") or None
                number = match.group("number")
                suffix = (match.group("suffix") or "").strip(" -") or None
            else:
                street = address
        if number is None and not postcode and not place:
            street, suffix, text = None, None, address
        return cls(street, number, suffix, (postcode or None), (place or None), text)

    def describe(self) -> str:
        """The query as one line of text, for reports."""
        number = f"{self.housenumber or ''}{self.suffix or ''}"
        parts = [" ".join(p for p in (self.street, number) if p), self.postcode, self.place]
        return ", ".join(p for p in parts if p) or (self.text or "")

    def key(self) -> str:
        """Normalised query (case, spacing and postcode spacing ignored)."""
        return _norm(
            "|".join(
                [
                    self.street or "",
                    self.housenumber or "",
                    _suffix_key(self.suffix),
                    postcode_key(self.postcode) or (self.postcode or ""),
                    self.place or "",
                    self.text or "",
                ]
            )
        )


@dataclass(frozen=True)
class GeocodeResult:
    """Answer for one address.

    Attributes
    ----------
    x, y
        Point in RD New (EPSG:28992, metres), or None when not placed.
    matched
        The matched address or area as PDOK writes it (``weergavenaam``).
    score
        Relevance score of the match (Locatieserver ``score``; 1.0 for a table hit).
    quality
        One of :data:`QUALITY_LEVELS`.
    gemeentecode
        ``GMxxxx`` of the match, where known.
    error
        Why the address could not be answered (transport or format problem), None otherwise.
    """

    x: float | None = None
    y: float | None = None
    matched: str | None = None
    score: float | None = None
    quality: str = "geen"
    gemeentecode: str | None = None
    error: str | None = None

    @property
    def point(self) -> Point | None:
        """Shapely Point in RD New, or None."""
        return None if self.x is None or self.y is None else Point(self.x, self.y)

    @property
    def found(self) -> bool:
        """True when the address was placed (any quality but ``"geen"``)."""
        return self.quality != "geen" and self.x is not None


@runtime_checkable
class Geocoder(Protocol):
    """Anything that turns addresses into RD New points, one result per query, in order."""

    def geocode(self, queries: Sequence[AddressQuery]) -> list[GeocodeResult]:
        """Geocode ``queries``; never raises for a single failing query."""
        ...


def _bounded_session() -> requests.Session:
    return bounded_session(requests.Session())


class _RequestError(Exception):
    """A request failed for good (after retries, or not retryable)."""


class _RateLimiter:
    """At most ``rate_per_s`` request starts per second, shared by all threads."""

    def __init__(self, rate_per_s: float | None) -> None:
        self._interval = 0.0 if not rate_per_s else 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self._interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class _Cache:
    """SQLite cache of Locatieserver answers: normalised request → first doc (or null)."""

    def __init__(self, path: Path | None) -> None:
        self._mem: dict[str, str] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = sqlite3.connect(path, check_same_thread=False)
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS answers"
                    " (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
                )
                self._db.commit()
                for key, value in self._db.execute("SELECT key, value FROM answers"):
                    self._mem[key] = value
            except sqlite3.DatabaseError as err:
                msg = (
                    f"{where(path)}: cannot use as geocode cache ({err}); delete it or pick another"
                )
                raise InputError(msg) from err

    def get(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        with self._lock:
            value = self._mem.get(key)
        if value is None:
            return False, None
        try:
            doc: Any = json.loads(value)
        except ValueError:  # a damaged entry: never trusted, asked again
            doc = ...
        if doc is not None and not isinstance(doc, dict):
            logger.info("geocode cache: corrupt entry for %r ignored; asking again", key)
            with self._lock:
                self._mem.pop(key, None)
            return False, None
        return True, doc

    def put(self, key: str, doc: dict[str, Any] | None) -> None:
        value = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._mem[key] = value
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO answers (key, value, created) VALUES (?, ?, ?)",
                    (key, value, time.time()),
                )
                self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return len(self._mem)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@dataclass
class GeocodeStats:
    """Counters of one :class:`PdokGeocoder` (for logs and run summaries)."""

    requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


class PdokGeocoder:
    """Client of the PDOK Locatieserver (goes online; only to ``base_url``'s host).

    Parameters
    ----------
    base_url
        Service root; ``/free`` and ``/lookup`` are appended. Default
        :data:`PDOK_URL` (also ``Settings.pdok_url``).
    cache_path
        SQLite file for the persistent answer cache (created when missing), or None for
        an in-memory cache only. Cached: found and not-found answers; never failures.
    max_concurrency
        Addresses geocoded in parallel (threads).
    rate_limit_per_s
        At most this many requests per second over all threads (None: no limit).
    timeout_s
        Connect and read timeout per socket read (s).
    retries
        Retries per request after the first attempt on 429, 5xx, timeouts and broken
        connections (so at most ``retries + 1`` attempts).
    backoff_s, max_backoff_s
        Wait before retry ``k`` (0-based) is ``backoff_s * 2**k`` s, capped at
        ``max_backoff_s``; a 429's ``Retry-After`` is honoured (also capped).
    session_factory
        Makes the ``requests.Session`` of each worker thread (tests, proxies). The
        default session lets the deadline cut off a blocked read; with another one the
        deadline is checked between reads.
    deadline_s
        Time one request may take in all: connect, headers and the whole answer (default
        :data:`~bereikbaar.sources.limits.REQUEST_DEADLINE_S`). A request that runs out of
        time fails its address at once (no retry: a server that trickles stays slow);
        after :data:`~bereikbaar.sources.limits.SERVICE_GIVE_UP_AFTER` such requests in a
        row the remaining addresses fail without a request.
    max_response_bytes
        Largest answer accepted (default
        :data:`~bereikbaar.sources.limits.MAX_SMALL_RESPONSE_BYTES`).
    """

    def __init__(
        self,
        base_url: str = PDOK_URL,
        cache_path: str | Path | None = None,
        max_concurrency: int = 4,
        rate_limit_per_s: float | None = 10.0,
        timeout_s: float = 10.0,
        retries: int = 3,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        session_factory: Callable[[], requests.Session] | None = None,
        deadline_s: float | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = f"PDOK base URL must be an http(s) URL with a host, got {base_url!r}"
            raise InputError(msg)
        if max_concurrency < 1 or retries < 0 or timeout_s <= 0:
            msg = (
                "max_concurrency must be >= 1, retries >= 0 and timeout_s > 0; got"
                f" {max_concurrency}, {retries}, {timeout_s}"
            )
            raise InputError(msg)
        self.base_url = base_url.rstrip("/")
        self.host = parts.netloc
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = GeocodeStats()
        self._limiter = _RateLimiter(rate_limit_per_s)
        self._cache = _Cache(None if cache_path is None else Path(cache_path))
        self.deadline_s = limits.REQUEST_DEADLINE_S if deadline_s is None else float(deadline_s)
        self.max_response_bytes = (
            limits.MAX_SMALL_RESPONSE_BYTES if max_response_bytes is None else max_response_bytes
        )
        self._session_factory = session_factory or _bounded_session
        self._misses = 0  # requests in a row that ran out of time
        self._misses_lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PdokGeocoder:
        """A geocoder for ``settings.pdok_url``; ``kwargs`` as for the constructor."""
        return cls(base_url=settings.pdok_url, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the HTTP sessions and the cache database."""
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
        self._cache.close()

    def __enter__(self) -> PdokGeocoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            session.headers.update(
                {
                    "User-Agent": f"bereikbaar/{__version__} (PDOK Locatieserver client)",
                    "Accept": "application/json",
                }
            )
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    # ------------------------------------------------------------------ HTTP
    def _wait_s(self, attempt: int, response: requests.Response | None) -> float:
        wait = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        if response is not None and response.status_code == 429:
            retry_after = _retry_after_s(response.headers.get("Retry-After"))
            if retry_after is not None:
                wait = min(max(wait, retry_after), self.max_backoff_s)
        return float(wait)

    def _get(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET ``base_url/endpoint`` → parsed JSON, with retries; raises _RequestError."""
        url = f"{self.base_url}/{endpoint}"
        last = ""
        with self._misses_lock:
            misses = self._misses
        if misses >= limits.SERVICE_GIVE_UP_AFTER:
            msg = (
                f"niet gevraagd: {self.host} gaf {misses} keer achter elkaar geen volledig"
                f" antwoord binnen {self.deadline_s:g} s"
            )
            raise _RequestError(msg)
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.add("retries")
            self._limiter.wait()
            self.stats.add("requests")
            response: requests.Response | None = None
            try:
                with Deadline(self.deadline_s) as deadline:
                    response = self._session().get(
                        url,
                        params=dict(params),
                        timeout=(min(limits.CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s),
                        allow_redirects=False,
                        stream=True,
                    )
                    with contextlib.closing(response):
                        body = read_body(response, deadline, max_bytes=self.max_response_bytes)
            except DeadlineExceededError as err:
                with self._misses_lock:
                    self._misses += 1
                msg = (
                    f"geen volledig antwoord van {self.host}/{endpoint} binnen"
                    f" {self.deadline_s:g} s (deadline_s)"
                )
                raise _RequestError(msg) from err
            except ResponseTooLargeError as err:
                msg = f"antwoord van {self.host}/{endpoint} te groot ({err})"
                raise _RequestError(msg) from err
            except requests.Timeout:
                last = f"no answer within {self.timeout_s:g} s"
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                # reset, refused, a wrong Content-Length (IncompleteRead), bad chunking
                last = f"connection failed ({type(err).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        data = json.loads(body)
                    except ValueError as err:
                        msg = f"malformed JSON from {self.host}/{endpoint} ({err})"
                        raise _RequestError(msg) from err
                    if not isinstance(data, dict):
                        msg = f"unexpected JSON from {self.host}/{endpoint} (not an object)"
                        raise _RequestError(msg)
                    with self._misses_lock:
                        self._misses = 0
                    return data
                if 300 <= status < 400:
                    msg = (
                        f"HTTP {status} redirect to {response.headers.get('Location')!r};"
                        f" not followed (only {self.host} is contacted)"
                    )
                    raise _RequestError(msg)
                if status not in _RETRY_STATUS:
                    msg = f"HTTP {status} from {self.host}/{endpoint}"
                    raise _RequestError(msg)
                last = f"HTTP {status}"
            if attempt < self.retries:
                wait = self._wait_s(attempt, response)
                logger.debug("%s: %s; retry %d in %.2f s", url, last, attempt + 1, wait)
                time.sleep(wait)
        msg = f"{last} ({self.retries + 1} attempts)"
        raise _RequestError(msg)

    def _first_doc(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any] | None:
        """First doc of a cached or fresh answer; None when nothing was found."""
        key = f"{endpoint}|{params.get('fq', '')}|{_norm(params.get('q', params.get('id', '')))}"
        hit, doc = self._cache.get(key)
        if hit:
            self.stats.add("cache_hits")
            return doc
        data = self._get(endpoint, params)
        response = data.get("response")
        docs = response.get("docs") if isinstance(response, dict) else None
        if not isinstance(docs, list):
            msg = f"unexpected answer from {self.host}/{endpoint}: no response.docs list"
            raise _RequestError(msg)
        first = docs[0] if docs else None
        if first is not None and not isinstance(first, dict):
            msg = f"unexpected answer from {self.host}/{endpoint}: docs[0] is not an object"
            raise _RequestError(msg)
        self._cache.put(key, first)
        return first

    # ------------------------------------------------------------------ API
    def free(self, q: str, fq: str | None = None) -> dict[str, Any] | None:
        """Best doc of ``/free?q=...&fq=...`` (cached), or None when nothing matches.

        Raises
        ------
        GeocodeError
            The request failed after retries, or the answer was malformed.
        """
        params = {"q": q, "rows": "1", "fl": _FIELDS}
        if fq:
            params["fq"] = fq
        try:
            return self._first_doc("free", params)
        except _RequestError as err:
            raise GeocodeError(str(err)) from err

    def lookup(self, doc_id: str) -> dict[str, Any] | None:
        """The doc with id ``doc_id`` from ``/lookup`` (cached), or None when unknown.

        Raises
        ------
        GeocodeError
            The request failed after retries, or the answer was malformed.
        """
        try:
            return self._first_doc("lookup", {"id": doc_id, "fl": _FIELDS})
        except _RequestError as err:
            raise GeocodeError(str(err)) from err

    def geocode(self, queries: Sequence[AddressQuery]) -> list[GeocodeResult]:
        """Geocode every query (identical queries are asked once), in order.

        Parameters
        ----------
        queries
            Addresses.

        Returns
        -------
        list of GeocodeResult
            One per query, points in RD New. A query that fails gets quality ``"geen"``
            and ``error`` set; it is not cached, so a re-run asks again.
        """
        unique = list(dict.fromkeys(q.key() for q in queries))
        first_query: dict[str, AddressQuery] = {}
        for q in queries:
            first_query.setdefault(q.key(), q)
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            answers = dict(
                zip(
                    unique,
                    pool.map(lambda k: self._geocode_one(first_query[k]), unique),
                    strict=True,
                )
            )
        results = [answers[q.key()] for q in queries]
        n_failed = sum(r.error is not None for r in results)
        logger.info(
            "geocoded %d addresses (%d unique): %d found, %d failed; %d requests, %d retries,"
            " %d cache hits",
            len(results),
            len(unique),
            sum(r.found for r in results),
            n_failed,
            self.stats.requests,
            self.stats.retries,
            self.stats.cache_hits,
        )
        return results

    # ------------------------------------------------------------------ per address
    def _plan(self, q: AddressQuery) -> Iterator[tuple[str, str, str]]:
        """(quality, q, fq) to try, best first."""
        pc = postcode_key(q.postcode)
        number = f"{q.housenumber or ''}{q.suffix or ''}"
        if q.housenumber and (pc or (q.street and q.place)):
            text = " ".join(p for p in (q.street, number, pc, q.place) if p)
            yield "adres", text, "type:adres"
        if q.street and (q.place or pc):
            yield "straat", f"{q.street} {q.place or pc}", "type:weg"
        if pc:
            yield "postcode", pc, "type:postcode"
        if q.place:
            yield "woonplaats", q.place, "type:woonplaats"
        if q.text:
            for quality, fq in (
                ("adres", "type:adres"),
                ("straat", "type:weg"),
                ("postcode", "type:postcode"),
                ("woonplaats", "type:woonplaats"),
            ):
                yield quality, q.text, fq

    def _geocode_one(self, q: AddressQuery) -> GeocodeResult:
        try:
            for quality, text, fq in self._plan(q):
                doc = self._first_doc("free", {"q": text, "fq": fq, "rows": "1", "fl": _FIELDS})
                if doc is None or not _accept(quality, doc, q):
                    continue
                if not doc.get("centroide_rd") and doc.get("id"):
                    doc = self._first_doc("lookup", {"id": str(doc["id"]), "fl": _FIELDS})
                    if doc is None:
                        continue
                return _result(quality, doc)
        except _RequestError as err:
            self.stats.add("failures")
            return GeocodeResult(error=str(err))
        except ValueError as err:  # malformed centroide_rd
            self.stats.add("failures")
            return GeocodeResult(error=f"malformed answer from {self.host}: {err}")
        return GeocodeResult()


def _accept(quality: str, doc: Mapping[str, Any], q: AddressQuery) -> bool:
    """Does a hit really answer the query at this quality (postcode/number agree)?"""
    if q.text and not (q.street or q.postcode or q.place):
        return True
    pc = postcode_key(q.postcode)
    if quality == "adres":
        if pc and postcode_key(str(doc.get("postcode") or "")) != pc:
            return False
        if q.housenumber and str(doc.get("huisnummer", "")) != str(int(q.housenumber)):
            return False
        if q.suffix:
            got = _suffix_key(
                f"{doc.get('huisletter') or ''}{doc.get('huisnummertoevoeging') or ''}"
            )
            return got == _suffix_key(q.suffix)
        return True
    if quality == "postcode":
        return postcode_key(str(doc.get("postcode") or "")) in (None, pc)
    return True


def _result(quality: str, doc: Mapping[str, Any]) -> GeocodeResult:
    x, y = parse_wkt_point(str(doc.get("centroide_rd", "")))
    code = doc.get("gemeentecode")
    gm = None if code in (None, "") else normalise_gemeentecode(str(code))
    score = doc.get("score")
    return GeocodeResult(
        x=x,
        y=y,
        matched=None if doc.get("weergavenaam") is None else str(doc["weergavenaam"]),
        score=float(score) if isinstance(score, int | float) else None,
        quality=quality,
        gemeentecode=gm,
    )


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# ---------------------------------------------------------------------- offline table
_TABLE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "postcode": ("postcode", "pc6", "postal_code"),
    "huisnummer": ("huisnummer", "huisnr", "nummer", "housenumber"),
    "huisletter": ("huisletter",),
    "toevoeging": ("toevoeging", "huisnummertoevoeging", "suffix"),
    "woonplaats": ("woonplaats", "woonplaatsnaam", "plaats", "place"),
    "x": ("x", "rd_x", "x_rd"),
    "y": ("y", "rd_y", "y_rd"),
}


class TableGeocoder:
    """Offline geocoder from a user-supplied address table (e.g. a BAG extract).

    Parameters
    ----------
    path
        CSV (``;``/``,``/tab, UTF-8 or cp1252) with columns ``postcode``, ``huisnummer``,
        optionally ``huisletter``/``toevoeging`` and ``woonplaats``, and RD New ``x``/``y``
        (metres); or a GeoPackage (any CRS, transformed to EPSG:28992) with Point
        geometry and the same attribute columns.
    layer
        GeoPackage layer (default: the first).

    Notes
    -----
    A query matches at quality ``"adres"`` on postcode + huisnummer + suffix (the suffix
    may be left out when the table has one address for that number), at ``"postcode"``
    on the mean point of the postcode's addresses, at ``"woonplaats"`` on the mean point
    of the woonplaats' addresses (when the table has that column).
    """

    def __init__(self, path: str | Path, *, layer: str | None = None) -> None:
        self.path = Path(path)
        frame = self._read(layer)
        self._addresses: dict[tuple[str, str, str], tuple[float, float]] = {}
        self._by_number: dict[tuple[str, str], list[tuple[float, float]]] = {}
        pcs: dict[str, list[tuple[float, float]]] = {}
        places: dict[str, list[tuple[float, float]]] = {}
        for pc, nr, sfx, place, x, y in frame.itertuples(index=False, name=None):
            xy = (float(x), float(y))
            if pc:
                pcs.setdefault(pc, []).append(xy)
                if nr:
                    self._addresses[(pc, nr, sfx)] = xy
                    self._by_number.setdefault((pc, nr), []).append(xy)
            if place:
                places.setdefault(place, []).append(xy)
        self._postcodes = {k: _mean(v) for k, v in pcs.items()}
        self._places = {k: _mean(v) for k, v in places.items()}
        logger.info("%s: %d addresses for offline geocoding", self.path, len(self._addresses))

    def _read(self, layer: str | None) -> pd.DataFrame:
        if not self.path.is_file():
            msg = f"{where(self.path)}: address table not found (expected CSV or GeoPackage)"
            raise InputError(msg)
        xs: np.ndarray
        ys: np.ndarray
        problems = Problems(self.path, "the address table")
        if self.path.suffix.lower() == ".gpkg":
            with read_errors(self.path, "cannot read as GeoPackage"):  # pyogrio: several types
                gdf = gpd.read_file(self.path, layer=layer)
            if gdf.crs is None:
                msg = f"{where(self.path)}: the layer has no CRS (expected e.g. EPSG:28992)"
                raise InputError(msg)
            gdf = gdf.to_crs(CRS_RD)
            if not bool((gdf.geom_type == "Point").all()):
                msg = f"{where(self.path, column='geometry')}: expected Point geometry"
                raise InputError(msg)
            xs, ys = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
            table = table.replace({"None": "", "nan": "", "<NA>": ""})
            cols = _table_columns(table, self.path, need_xy=False)
        else:
            table = read_delimited(self.path)
            cols = _table_columns(table, self.path, need_xy=True)
            xs = _numbers(table, cols["x"], problems, "x")
            ys = _numbers(table, cols["y"], problems, "y")

        def col(name: str) -> pd.Series:
            if name not in cols:
                return pd.Series([""] * len(table), index=table.index)
            return table[cols[name]].astype(str).str.strip()

        postcodes = [postcode_key(v) or "" for v in col("postcode")]
        numbers: list[str] = []
        letters = list(col("huisletter"))
        for pos, value in enumerate(col("huisnummer")):
            match = _HOUSENUMBER_RE.fullmatch(value)
            if value in ("", "nan", "None", "<NA>"):
                numbers.append("")
            elif match is None:
                numbers.append("")
                problems.add(
                    position(table, pos, cols["huisnummer"]),
                    f"{value!r} is not a house number (expected digits, e.g. 12 or 12a)",
                )
            else:
                numbers.append(str(int(match.group(1))))
                if match.group(2) and not letters[pos]:
                    letters[pos] = match.group(2)
        problems.raise_if_any()
        suffixes = [_suffix_key(a + b) for a, b in zip(letters, col("toevoeging"), strict=True)]
        places = [_norm(v) for v in col("woonplaats")]
        return pd.DataFrame(
            {"pc": postcodes, "nr": numbers, "sfx": suffixes, "place": places, "x": xs, "y": ys}
        )

    def geocode(self, queries: Sequence[AddressQuery]) -> list[GeocodeResult]:
        """Look every query up in the table (no network access).

        Returns
        -------
        list of GeocodeResult
            One per query, points in RD New; ``score`` 1.0 for every hit.
        """
        return [self._one(q) for q in queries]

    def _one(self, q: AddressQuery) -> GeocodeResult:
        pc = postcode_key(q.postcode)
        if pc and q.housenumber:
            nr = str(int(q.housenumber))
            xy = self._addresses.get((pc, nr, _suffix_key(q.suffix)))
            candidates = self._by_number.get((pc, nr), [])
            if xy is None and not q.suffix and len(candidates) == 1:
                xy = candidates[0]
            if xy is not None:
                return GeocodeResult(xy[0], xy[1], q.describe(), 1.0, "adres")
        if pc and pc in self._postcodes:
            x, y = self._postcodes[pc]
            return GeocodeResult(x, y, pc, 1.0, "postcode")
        place = _norm(q.place or "")
        if place and place in self._places:
            x, y = self._places[place]
            return GeocodeResult(x, y, q.place, 1.0, "woonplaats")
        return GeocodeResult()


def _mean(points: list[tuple[float, float]]) -> tuple[float, float]:
    arr = np.asarray(points, dtype=float)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean())


def _table_columns(table: pd.DataFrame, path: Path, *, need_xy: bool) -> dict[str, str]:
    by_key = {name_key(str(c)): str(c) for c in table.columns}
    found: dict[str, str] = {}
    for name, aliases in _TABLE_ALIASES.items():
        for alias in aliases:
            if alias.replace("_", "") in by_key:
                found[name] = by_key[alias.replace("_", "")]
                break
    required = ["postcode", "huisnummer"] + (["x", "y"] if need_xy else [])
    for name in required:
        if name not in found:
            msg = (
                f"{where(path, column=name)}: required column missing; accepted names:"
                f" {', '.join(_TABLE_ALIASES[name])} (found: {', '.join(map(str, table.columns))})"
            )
            raise InputError(msg)
    return found


_HOUSENUMBER_RE = re.compile(r"(\d+)(?:\.0)?\s*([A-Za-z]?)")


def _numbers(
    table: pd.DataFrame, column: str, problems: Problems, axis: str
) -> npt.NDArray[np.float64]:
    """RD metres per row (``155.000`` is 155000: RD values below 1000 lie outside NL)."""
    from .libraries import RD_X_RANGE, RD_Y_RANGE  # here: libraries imports this module

    lo, hi = RD_X_RANGE if axis == "x" else RD_Y_RANGE
    out = np.full(len(table), np.nan)
    for pos, value in enumerate(table[column]):
        loc = position(table, pos, column)
        try:
            number = parse_number(value, ambiguous="thousands")
        except NumberError as err:
            problems.add(loc, f"{err} (expected RD metres)")
            continue
        if not lo <= number <= hi:
            problems.add(
                loc,
                f"{value!r} is not an RD coordinate in the Netherlands ({lo:.0f}..{hi:.0f} m)",
            )
            continue
        out[pos] = number
    return out


# ---------------------------------------------------------------------- libraries
def geocode_libraries(
    libraries: gpd.GeoDataFrame,
    geocoder: Geocoder,
    *,
    rows: Sequence[int] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Geocode the branches that have no coordinates yet.

    Parameters
    ----------
    libraries
        Branches as :func:`~bereikbaar.sources.libraries.load_libraries` returns them
        (columns ``address``, ``postcode``, ``place``, ``needs_geocoding``), EPSG:28992.
    geocoder
        A :class:`PdokGeocoder` (online), a :class:`TableGeocoder` (offline) or anything
        with the same ``geocode`` method.
    rows
        Row numbers to name in the report, one per branch (default: 1-based position).

    Returns
    -------
    libraries : geopandas.GeoDataFrame
        A copy with the same rows in the same order; for the geocoded rows the Point
        geometry (RD New), ``geocode_quality`` (one of :data:`QUALITY_LEVELS`),
        ``geocode_match`` (matched address), ``geocode_score``, ``needs_geocoding``
        False where placed, and ``gemeentecode`` filled where it was empty.
    failures : pandas.DataFrame
        One row per branch that could not be placed: ``row``, ``library_id``, ``name``,
        ``query`` and ``reason``.

    Warns
    -----
    BereikbaarWarning
        When some branches could not be placed (they keep their data, without geometry).
    """
    out = libraries.copy()
    n = len(out)
    row_numbers = list(rows) if rows is not None else list(range(1, n + 1))
    if len(row_numbers) != n:
        msg = f"rows must have one number per branch ({n}), got {len(row_numbers)}"
        raise InputError(msg)
    if NEEDS_GEOCODING in out.columns:
        todo = out[NEEDS_GEOCODING].fillna(False).to_numpy(dtype=bool)
    else:
        todo = out.geometry.isna().to_numpy()
    if GEOCODE_MATCH not in out.columns:
        out[GEOCODE_MATCH] = pd.Series([None] * n, index=out.index, dtype=object)
    if GEOCODE_SCORE not in out.columns:
        out[GEOCODE_SCORE] = np.nan
    columns = ["row", LIBRARY_ID, NAME, "query", "reason"]
    positions = [int(p) for p in np.flatnonzero(todo)]
    if len(positions) == 0:
        return out, pd.DataFrame(columns=columns)

    def get(pos: int, column: str) -> str | None:
        if column not in out.columns:
            return None
        value = out.iloc[pos][column]
        return (
            None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        )

    queries = [
        AddressQuery.from_address(get(p, ADDRESS), get(p, POSTCODE), get(p, PLACE))
        for p in positions
    ]
    results = geocoder.geocode(queries)
    if len(results) != len(queries):
        msg = f"geocoder returned {len(results)} results for {len(queries)} addresses"
        raise GeocodeError(msg)

    if GEOCODE_QUALITY not in out.columns:
        out[GEOCODE_QUALITY] = pd.Series([None] * n, index=out.index, dtype=object)
    else:
        out[GEOCODE_QUALITY] = out[GEOCODE_QUALITY].astype(object)
    geometry = out.geometry.copy()
    failures: list[dict[str, object]] = []
    for pos, query, res in zip(positions, queries, results, strict=True):
        idx = out.index[pos]
        out.at[idx, GEOCODE_MATCH] = res.matched
        out.at[idx, GEOCODE_SCORE] = np.nan if res.score is None else res.score
        out.at[idx, GEOCODE_QUALITY] = res.quality
        if res.found:
            geometry.at[idx] = res.point
            if NEEDS_GEOCODING in out.columns:
                out.at[idx, NEEDS_GEOCODING] = False
            if GEMEENTECODE in out.columns and get(pos, GEMEENTECODE) is None:
                out.at[idx, GEMEENTECODE] = res.gemeentecode
        else:
            failures.append(
                {
                    "row": row_numbers[pos],
                    LIBRARY_ID: get(pos, LIBRARY_ID),
                    NAME: get(pos, NAME),
                    "query": query.describe(),
                    "reason": res.error or "not found (no address, street, postcode or place)",
                }
            )
    out = out.set_geometry(gpd.GeoSeries(geometry, index=out.index, crs=CRS_RD))
    report = pd.DataFrame(failures, columns=columns)
    counts = {level: sum(r.quality == level for r in results) for level in QUALITY_LEVELS}
    logger.info("geocoded %d branches: %s", len(results), counts)
    if failures:
        shown = ", ".join(str(f["row"]) for f in failures[:5]) + (
            ", …" if len(failures) > 5 else ""
        )
        msg = (
            f"{len(failures)} of {len(results)} branches could not be geocoded and have no"
            f" location (rows {shown}); see the failure report"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    return out, report
