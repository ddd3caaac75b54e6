"""Bounded HTTP: an overall deadline per request and a size limit per answer.

``requests`` only bounds each single socket read, so a server that sends one byte every
half second keeps a request alive for ever. Here a :class:`Deadline` bounds the whole
request: connecting, the headers and the body. When it passes, a timer shuts the socket
down, which ends a read that is blocked inside ``requests``/``urllib3`` at once, and the
caller gets :class:`DeadlineExceededError`. Sessions from :func:`bounded_session` (or any
session with :class:`BoundedAdapter` mounted) tell the deadline of the calling thread
which connection to shut. :func:`iter_body` reads an answer in the pieces the server
sends (one socket read each), so size and speed are checked as the bytes arrive.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions
import urllib3.response
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = [
    "BoundedAdapter",
    "Deadline",
    "DeadlineExceededError",
    "ResponseTooLargeError",
    "TooSlowError",
    "TransferLimitError",
    "bounded_session",
    "iter_body",
    "read_body",
]

_local = threading.local()


class TransferLimitError(Exception):
    """A request broke one of its limits (deadline, size, speed)."""


class DeadlineExceededError(TransferLimitError):
    """The request's overall deadline passed."""


class ResponseTooLargeError(TransferLimitError):
    """The answer is larger than allowed."""


class TooSlowError(TransferLimitError):
    """Fewer bytes than the minimum arrived within one window."""


class Deadline:
    """An overall time limit for the requests made inside ``with Deadline(s):``.

    Parameters
    ----------
    seconds
        Time allowed from entering the block.

    Notes
    -----
    Only requests of the entering thread, through a session with :class:`BoundedAdapter`,
    are cut off by the timer; :meth:`check` works anywhere.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.expired = False
        self._start = time.monotonic()
        self._connections: list[object] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._previous: Deadline | None = None

    def __enter__(self) -> Deadline:
        self._start = time.monotonic()
        self._previous = getattr(_local, "deadline", None)
        _local.deadline = self
        self._timer = threading.Timer(max(self.seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _local.deadline = self._previous
        with self._lock:
            self._connections.clear()

    def remaining(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self.seconds - (time.monotonic() - self._start))

    def elapsed(self) -> float:
        """Seconds since the block was entered."""
        return time.monotonic() - self._start

    def check(self) -> None:
        """Raise :class:`DeadlineExceededError` when the time is up."""
        if self.expired or self.remaining() <= 0.0:
            self.expired = True
            msg = f"deadline of {self.seconds:g} s passed"
            raise DeadlineExceededError(msg)

    def attach(self, connection: object) -> None:
        """Cut ``connection`` off when the deadline passes.

        ``connection`` is a urllib3 connection (the adapter attaches it before the
        request is sent) or a urllib3 response (attached once its headers are in: a
        standard library connection hands its socket over to the response).
        """
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: object) -> None:
    if isinstance(connection, urllib3.response.HTTPResponse):
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            connection.shutdown()  # urllib3 >= 2.3: ends a read blocked on the body
        return
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _register(connection: HTTPConnection) -> None:
    deadline: Deadline | None = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.attach(connection)


class _Connection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _SecureConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _SecurePool(HTTPSConnectionPool):
    ConnectionCls = _SecureConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _Pool, "https": _SecurePool}


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter whose connections a :class:`Deadline` can cut off."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def bounded_session(session: requests.Session | None = None) -> requests.Session:
    """``session`` (default a new one) with :class:`BoundedAdapter` for http and https."""
    s = session if session is not None else requests.Session()
    for prefix in ("http://", "https://"):
        s.mount(prefix, BoundedAdapter())
    return s


_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def iter_body(
    response: requests.Response,
    deadline: Deadline,
    *,
    max_bytes: int,
    chunk_bytes: int = 1 << 16,
    window_s: float | None = None,
    min_bytes_per_window: int = 0,
) -> Iterator[bytes]:
    """The body of a ``stream=True`` response, piece by piece, within its limits.

    Parameters
    ----------
    response
        A response opened with ``stream=True``.
    deadline
        The request's :class:`Deadline`.
    max_bytes
        More body than this raises :class:`ResponseTooLargeError` (a ``Content-Length`` above
        it is refused before reading).
    chunk_bytes
        Largest piece (one socket read each).
    window_s, min_bytes_per_window
        When set: fewer than ``min_bytes_per_window`` bytes within ``window_s`` seconds
        raises :class:`TooSlowError`.

    Raises
    ------
    DeadlineExceededError, ResponseTooLargeError, TooSlowError
        A limit was hit.
    requests.RequestException, urllib3.exceptions.HTTPError, OSError
        The transfer broke (reset, wrong length, bad encoding).
    """
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        msg = f"answer of {int(length):,} bytes announced, more than the limit of {max_bytes:,}"
        raise ResponseTooLargeError(msg)
    raw = response.raw
    deadline.attach(raw)
    total = 0
    window_start = time.monotonic()
    window_bytes = 0
    while True:
        deadline.check()
        try:
            chunk = raw.read1(chunk_bytes, decode_content=True)
        except _READ_ERRORS:
            deadline.check()  # a socket shut by the deadline ends here
            raise
        if not chunk:
            deadline.check()
            return
        total += len(chunk)
        if total > max_bytes:
            msg = f"answer larger than the limit of {max_bytes:,} bytes"
            raise ResponseTooLargeError(msg)
        if window_s is not None:
            window_bytes += len(chunk)
            now = time.monotonic()
            if now - window_start >= window_s:
                if window_bytes < min_bytes_per_window:
                    msg = (
                        f"only {window_bytes:,} bytes in {now - window_start:.0f} s"
                        f" (at least {min_bytes_per_window:,} expected)"
                    )
                    raise TooSlowError(msg)
                window_start, window_bytes = now, 0
        yield chunk


def read_body(response: requests.Response, deadline: Deadline, *, max_bytes: int) -> bytes:
    """The whole body of a ``stream=True`` response within the deadline and ``max_bytes``."""
    return b"".join(iter_body(response, deadline, max_bytes=max_bytes))
