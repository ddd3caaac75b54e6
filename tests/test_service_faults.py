"""Faults in services: the downloader and the geocoder never hang and end with a clear result.

A loopback server plays one fault for every request: it stalls longer than the client's
timeout, drops the connection without an answer, answers 429 or 500 forever, or sends
garbage. tests/test_geocode.py and tests/test_download.py cover single scripted faults that
recover; here every request fails, so the clients must give up on their own: bounded retries,
bounded time (each test asserts a wall-clock bound), per-row failures reported (geocoder) or
one clear :class:`~bereikbaar.exceptions.DownloadError` (downloader).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bereikbaar.exceptions import DownloadError
from bereikbaar.sources.download import download_file
from bereikbaar.sources.geocode import AddressQuery, PdokGeocoder

STALL_S = 30.0  # the server's stall (ended at teardown); clients use timeouts of 0.3 s


class _Faulty(http.server.BaseHTTPRequestHandler):
    mode: ClassVar[str] = "ok"
    requests: ClassVar[list[str]] = []
    stop: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        mode = type(self).mode
        if mode == "stall":
            type(self).stop.wait(STALL_S)
            return
        if mode == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode in ("429", "500", "503"):
            self.send_response(int(mode))
            if mode == "429":
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<html><body>Onderhoud</body></html>\x00\xff{" * 20  # garbage for both clients
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Faulty]]]:
    class Handler(_Faulty):
        requests: ClassVar[list[str]] = []
        stop: ClassVar[threading.Event] = threading.Event()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler
    finally:
        Handler.stop.set()
        httpd.shutdown()
        httpd.server_close()


FAULTS = ["stall", "drop", "429", "500", "503"]


@pytest.mark.parametrize("fault", [*FAULTS, "garbage"])
def test_downloader_gives_up_with_a_clear_error(
    server: tuple[str, type[_Faulty]], tmp_path: Path, fault: str
) -> None:
    url, handler = server
    handler.mode = fault
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(
            f"{url}/wijkbuurtkaart.zip",
            tmp_path / "wijkbuurtkaart.zip",
            retries=2,
            backoff_s=0.01,
            timeout_s=0.3,
        )
    elapsed = time.monotonic() - t0
    text = str(info.value)
    assert "wijkbuurtkaart.zip" in text
    if fault == "garbage":
        assert "not a valid zip" in text and len(handler.requests) == 1
        assert not (tmp_path / "wijkbuurtkaart.zip.part").exists()  # never resumed into
    else:
        assert "after 3 attempts" in text and len(handler.requests) == 3
    # a hang guard, not a speed test: 3 attempts of 0.3 s take ~1 s; with the default
    # timeout ignored the first stall alone would take 30 s
    assert elapsed < 15.0, f"took {elapsed:.1f} s"
    assert not (tmp_path / "wijkbuurtkaart.zip").exists()


@pytest.mark.parametrize("fault", [*FAULTS, "garbage"])
def test_geocoder_reports_every_row_and_never_hangs(
    server: tuple[str, type[_Faulty]], fault: str
) -> None:
    url, handler = server
    handler.mode = fault
    queries = [
        AddressQuery.from_address(f"Straat {i}", postcode=f"26{i:02d} AB", place="Delft")
        for i in range(6)
    ]
    geocoder = PdokGeocoder(
        url,
        max_concurrency=3,
        rate_limit_per_s=None,
        timeout_s=0.3,
        retries=1,
        backoff_s=0.01,
        max_backoff_s=0.05,
    )
    t0 = time.monotonic()
    with geocoder:
        results = geocoder.geocode(queries)
    elapsed = time.monotonic() - t0
    assert len(results) == len(queries)
    assert all(r.error and not r.found for r in results), [r.error for r in results]
    # 6 rows, 3 at a time, at most 2 attempts each of at most ~0.3 s (connect + read), a few
    # requests per row (one per quality level tried): bounded, far below the 30 s stall
    assert elapsed < 15.0, f"took {elapsed:.1f} s"  # hang guard: default timeouts need > 20 s
    per_row = len(handler.requests) / len(queries)
    assert 1 <= per_row <= 2 * 4, per_row
