"""Shared fixtures: the one way tests reach the real data in ../shared/data."""

from __future__ import annotations

import http.server
import pathlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, settings

# Machines are noisy (2 cores shared with other jobs): no per-example deadline, no
# too-slow health check. Example counts stay as each test sets them (>= 200 where it matters).
settings.register_profile("bereikbaar", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bereikbaar")


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """Folder with the real public data (CBS, OSM, NWB, PDOK); skip when absent."""
    p = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not p.is_dir():
        pytest.skip("../shared/data not present (a fresh user machine)")
    return p.resolve()


@contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (ephemeral port) in a thread; yield ``http://host:port``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def serve_loopback() -> object:
    """The :func:`loopback_server` context manager, for fixtures of local fake services."""
    return loopback_server
