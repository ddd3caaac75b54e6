"""Red team, class 4 (issue 11): hangs and internal errors become one clear line.

Online paths run against local servers on 127.0.0.1 (``serve_loopback``) that play one
hostile behaviour each through the real clients: a server that trickles its answer (body
or headers), one that sends 1 byte per step, a wrong ``Content-Length``, a connection
reset mid-answer, a redirect loop, an oversized answer, a zip bomb. Files: an OSM XML node
with ``lat="500.0"`` (or a Dutch decimal comma), PBF blobs and ``.osm.gz``/``.osm.bz2``
files that inflate beyond their limit. Each ends in a
:mod:`bereikbaar.exceptions` error (exit 2 from the CLI, one line, no traceback), or a
per-row failure for the geocoder; never a hang, ``MemoryError`` or "interne fout".
Deadlines are kept short through the clients' arguments or :mod:`bereikbaar.sources.limits`
(monkeypatched), so no test waits long; no test asserts on wall-clock time.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import http.server
import io
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import box

from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.examples.synthetic import write_pbf
from bereikbaar.exceptions import DownloadError, InputError, ServiceError
from bereikbaar.sources import limits
from bereikbaar.sources._errors import osm_read_errors
from bereikbaar.sources.download import download_file
from bereikbaar.sources.geocode import AddressQuery, PdokGeocoder
from bereikbaar.sources.osm import load_network
from bereikbaar.sources.osm_libraries import libraries_from_osm
from bereikbaar.sources.overpass import network_from_overpass

SRC = Path(__file__).resolve().parents[1] / "src"

Respond = Callable[[http.server.BaseHTTPRequestHandler], None]


def _handler(respond: Respond, hits: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            hits.append(self.path)
            with contextlib.suppress(OSError):  # the client gave up (that is the point)
                respond(self)
            self.close_connection = True

        def do_GET(self) -> None:
            self._any()

        def do_POST(self) -> None:
            self._any()

    return Handler


@pytest.fixture
def serve(serve_loopback: Any) -> Iterator[Callable[[Respond], tuple[str, list[str]]]]:
    """Start a loopback server playing ``respond``; returns (base URL, request paths)."""
    with_stack: list[Any] = []

    def start(respond: Respond) -> tuple[str, list[str]]:
        hits: list[str] = []
        cm = serve_loopback(_handler(respond, hits))
        url = cm.__enter__()
        with_stack.append(cm)
        return url, hits

    yield start
    for cm in reversed(with_stack):
        cm.__exit__(None, None, None)


def _head(h: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    h.send_header("Connection", "close")
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.flush()


def _trickle(h: http.server.BaseHTTPRequestHandler, data: bytes, step_s: float) -> None:
    for i in range(len(data)):
        h.wfile.write(data[i : i + 1])
        h.wfile.flush()
        time.sleep(step_s)


def _reset(h: http.server.BaseHTTPRequestHandler) -> None:
    """Close with a TCP reset (RST) instead of an orderly end."""
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()


# --------------------------------------------------------------------------- PDOK
def _adres_doc() -> dict[str, Any]:
    """A /free ``adres`` doc with the fields the real Locatieserver returns (SOURCES.md)."""
    return {
        "bron": "BAG",
        "woonplaatscode": "2088",
        "type": "adres",
        "woonplaatsnaam": "Leiden",
        "huis_nlt": "76",
        "openbareruimtetype": "Weg",
        "gemeentecode": "0546",
        "weergavenaam": "Langegracht 76, 2312NH Leiden",
        "straatnaam_verkort": "Langegracht",
        "id": "adr-9c4e0c5b7a8f41d2b6e1a3f0c2d4e6f8",
        "gemeentenaam": "Leiden",
        "identificatie": "0546010000012345-0546200000012345",
        "provinciecode": "PV28",
        "postcode": "2312NH",
        "provincienaam": "Zuid-Holland",
        "centroide_ll": "POINT(4.48563 52.16341)",
        "huisnummer": 76,
        "provincieafkorting": "ZH",
        "centroide_rd": "POINT(93435.012 464391.27)",
        "straatnaam": "Langegracht",
        "score": 14.56,
    }


def _envelope(docs: list[dict[str, Any]]) -> bytes:
    body = {
        "response": {
            "numFound": len(docs),
            "start": 0,
            "maxScore": 14.56,
            "numFoundExact": True,
            "docs": docs,
        }
    }
    return json.dumps(body).encode()


QUERY = AddressQuery.from_address("Langegracht 76", "2312 NH", "Leiden")


def _geocoder(url: str, **kw: Any) -> PdokGeocoder:
    args: dict[str, Any] = {
        "max_concurrency": 1,
        "rate_limit_per_s": None,
        "timeout_s": 2.0,
        "retries": 1,
        "backoff_s": 0.01,
        "max_backoff_s": 0.02,
    }
    return PdokGeocoder(f"{url}/bzk/locatieserver/search/v3_1", **(args | kw))


def test_geocoder_good_answer_through_the_bounded_path(serve: Any) -> None:
    """The control: the same server without a fault places the address exactly."""
    body = _envelope([_adres_doc()])
    url, _ = serve(
        lambda h: (
            _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))}),
            h.wfile.write(body),
        )
    )
    with _geocoder(url, deadline_s=5.0) as g:
        (res,) = g.geocode([QUERY])
    assert res.found and (res.x, res.y) == (93435.012, 464391.27)


def test_geocoder_trickled_body_hits_the_deadline(serve: Any) -> None:
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        h.wfile.write(body[:-30])
        _trickle(h, body[-30:], 0.2)  # 6 s for the last 30 bytes; each read < timeout_s

    url, hits = serve(respond)
    with _geocoder(url, deadline_s=1.0) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "binnen 1 s" in res.error, res.error
    assert len(hits) == 1  # a trickling server is not asked again


def test_geocoder_gives_up_on_a_trickling_server(serve: Any) -> None:
    """Six addresses against a server that trickles every answer: three requests, six reasons."""
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        h.wfile.write(body[:-30])
        _trickle(h, body[-30:], 0.2)

    url, hits = serve(respond)
    queries = [
        AddressQuery.from_address(f"Langegracht {n}", "2312 NH", "Leiden") for n in range(70, 76)
    ]
    with _geocoder(url, deadline_s=0.5) as g:
        results = g.geocode(queries)
    assert len(results) == 6 and not any(r.found for r in results)
    assert len(hits) == 3  # limits.SERVICE_GIVE_UP_AFTER
    reasons = [r.error or "" for r in results]
    assert all("binnen 0.5 s" in r for r in reasons[:3]), reasons
    assert all(r.startswith("niet gevraagd") for r in reasons[3:]), reasons


def test_geocoder_stalled_body_is_cut_off_at_the_deadline(serve: Any) -> None:
    """Half an answer, then silence shorter than the read timeout: the deadline ends it."""
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        time.sleep(8.0)
        h.wfile.write(body[len(body) // 2 :])

    url, hits = serve(respond)
    with _geocoder(url, deadline_s=1.0, timeout_s=20.0) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "binnen 1 s" in res.error, res.error
    assert len(hits) == 1


def test_geocoder_trickled_headers_hit_the_deadline(serve: Any) -> None:
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        _trickle(h, b"Content-Type: application/json\r\nX-Padding: " + b"a" * 40, 0.2)
        h.wfile.write(f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    url, _ = serve(respond)
    with _geocoder(url, deadline_s=1.0) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "binnen 1 s" in res.error, res.error


def test_geocoder_wrong_content_length_is_a_row_failure(serve: Any) -> None:
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body) + 500)})
        h.wfile.write(body)  # 500 bytes short, then the connection ends

    url, hits = serve(respond)
    with _geocoder(url) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "2 attempts" in res.error, res.error
    assert len(hits) == 2  # retried once, then reported


def test_geocoder_connection_reset_mid_answer_is_a_row_failure(serve: Any) -> None:
    body = _envelope([_adres_doc()])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        time.sleep(0.05)
        _reset(h)

    url, hits = serve(respond)
    with _geocoder(url) as g:
        results = g.geocode([QUERY, AddressQuery.from_address("Breestraat 1", "2311 CH", "Leiden")])
    assert len(results) == 2
    assert all(not r.found and r.error and "attempts" in r.error for r in results), results
    assert len(hits) == 4


@pytest.mark.parametrize("announced", [True, False])
def test_geocoder_oversized_answer_is_refused(serve: Any, announced: bool) -> None:
    padding = [_adres_doc() | {"id": f"adr-{i:032d}"} for i in range(2000)]  # ~1.6 MB
    body = _envelope([_adres_doc(), *padding])

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        if announced:
            _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
            h.wfile.write(body)
            return
        _head(h, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        for i in range(0, len(body), 16384):
            part = body[i : i + 16384]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    url, _ = serve(respond)
    with _geocoder(url, max_response_bytes=64 * 1024) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "te groot" in res.error, res.error


def test_geocoder_gzip_bomb_answer_is_refused(serve: Any) -> None:
    """A Content-Encoding gzip answer of 64 MiB (valid JSON padded with spaces) in ~64 kB."""
    body = _envelope([_adres_doc()])
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip wrapper
    spaces = b" " * (1 << 20)
    data = (
        packer.compress(body[:-1])
        + b"".join(packer.compress(spaces) for _ in range(64))
        + packer.compress(body[-1:])
        + packer.flush()
    )
    assert len(data) < 256 * 1024

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        _head(h, 200, headers | {"Content-Length": str(len(data))})
        h.wfile.write(data)

    url, _ = serve(respond)
    with _geocoder(url, max_response_bytes=1 << 20) as g:
        (res,) = g.geocode([QUERY])
    assert not res.found
    assert res.error is not None and "te groot" in res.error, res.error


# --------------------------------------------------------------------------- downloads
def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["-q", *argv])
    err = capsys.readouterr().err
    return code, err


def _one_clear_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("fout: "), err
    assert "Traceback" not in err and "interne fout" not in err
    return lines[0]


def _vierkant(url: str, out: Path) -> list[str]:
    return [
        *("download", "vierkant", "--jaar", "2024", "--resolutie", "500"),
        *("--url-basis", url, "--out", str(out)),
    ]


ZIP_NAME = "2025-cbs_vk500_2024_v1.zip"


def test_download_at_1_byte_per_step_ends_at_the_job_deadline(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DOWNLOAD_DEADLINE_S", 1.5)
    data = b"PK" + b"\0" * 58

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/zip", "Content-Length": str(len(data))})
        _trickle(h, data, 0.25)  # 15 s in all: each byte well within the read timeout

    url, _ = serve(respond)
    code, err = _cli(_vierkant(url, tmp_path), capsys)
    line = _one_clear_line(err)
    assert code == 2
    assert "niet klaar binnen 1.5 s" in line and ZIP_NAME in line
    assert not (tmp_path / ZIP_NAME).exists()  # never a partial file under the final name
    part = tmp_path / f"{ZIP_NAME}.part"
    assert part.exists() and 0 < part.stat().st_size < len(data)  # kept to resume


def test_download_too_slow_is_broken_off_and_reported(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DOWNLOAD_RATE_WINDOW_S", 0.3)
    monkeypatch.setattr(limits, "DOWNLOAD_MIN_BYTES_PER_WINDOW", 1024)
    data = b"x" * 100

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Length": str(len(data))})
        _trickle(h, data, 0.05)  # 20 B/s for 5 s

    url, hits = serve(respond)
    with pytest.raises(DownloadError) as info:
        download_file(f"{url}/slow.pbf", tmp_path / "slow.pbf", retries=1, backoff_s=0.01)
    assert "after 2 attempts" in str(info.value) and "too slow" in str(info.value)
    assert len(hits) == 2
    assert not (tmp_path / "slow.pbf").exists()


def test_download_redirect_loop_is_one_line(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 302, {"Location": h.path, "Content-Length": "0"})  # to itself, same host

    url, hits = serve(respond)
    code, err = _cli(_vierkant(url, tmp_path), capsys)
    line = _one_clear_line(err)
    assert code == 2 and "stuurt eindeloos door" in line, line
    assert len(hits) > 1
    assert list(tmp_path.iterdir()) == []


def test_download_announced_too_large_is_refused_before_reading(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DOWNLOAD_MAX_BYTES", 1 << 20)
    data = b"\0" * (2 << 20)

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Length": str(len(data))})
        h.wfile.write(data)

    url, _ = serve(respond)
    code, err = _cli(_vierkant(url, tmp_path), capsys)
    line = _one_clear_line(err)
    assert code == 2 and "2,097,152 bytes" in line and "1,048,576" in line, line
    assert list(tmp_path.iterdir()) == []  # not a byte written


def test_download_streamed_too_large_is_cut_off_and_removed(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DOWNLOAD_MAX_BYTES", 1 << 20)

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Transfer-Encoding": "chunked"})  # no length announced
        chunk = b"\0" * 65536
        for _ in range(64):  # 4 MiB
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    url, _ = serve(respond)
    with pytest.raises(DownloadError, match="meer dan de grens van 1,048,576 bytes"):
        download_file(f"{url}/big.pbf", tmp_path / "big.pbf", retries=0)
    assert list(tmp_path.iterdir()) == []


def test_download_zip_bomb_is_refused_and_deleted(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 1 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cbs_vk500_2024_v1.gpkg", b"\0" * (8 << 20))  # 8 MiB → ~8 kB
    data = buf.getvalue()
    assert len(data) < 64 * 1024

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        _head(h, 200, {"Content-Type": "application/zip", "Content-Length": str(len(data))})
        h.wfile.write(data)

    url, _ = serve(respond)
    code, err = _cli(_vierkant(url, tmp_path), capsys)
    line = _one_clear_line(err)
    assert code == 2 and "8,388,608 bytes" in line and "MAX_UNZIPPED_BYTES" in line, line
    assert list(tmp_path.iterdir()) == []


def test_download_trickled_checksum_hits_the_request_deadline(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "REQUEST_DEADLINE_S", 1.0)
    pbf = b"\0" * 1000
    md5 = f"{'0' * 32}  utrecht-latest.osm.pbf\n".encode()

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.path.endswith(".md5"):
            _head(h, 200, {"Content-Length": str(len(md5))})
            _trickle(h, md5, 0.2)  # 11 s
            return
        _head(h, 200, {"Content-Length": str(len(pbf))})
        h.wfile.write(pbf)

    url, hits = serve(respond)
    argv = ["download", "osm", "--regio", "Utrecht", "--url-basis", url, "--out", str(tmp_path)]
    code, err = _cli(argv, capsys)
    line = _one_clear_line(err)
    assert code == 2 and "niet binnen 1 s" in line and "utrecht-latest.osm.pbf.md5" in line
    assert hits == ["/netherlands/utrecht-latest.osm.pbf.md5"]  # the file itself not fetched
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- Overpass
def _overpass_json() -> bytes:
    elements = [
        {"type": "node", "id": 1, "lat": 52.0, "lon": 4.36},
        {"type": "node", "id": 2, "lat": 52.001, "lon": 4.361},
        {"type": "way", "id": 11, "nodes": [1, 2], "tags": {"highway": "residential"}},
    ]
    return json.dumps({"version": 0.6, "generator": "Overpass API", "elements": elements}).encode()


STATUS = (
    b"Connected as: 1\nCurrent time: 2026-12-02T16:00:00Z\nAnnounced endpoint: none\n"
    b"Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit,"
    b" time limit, start time):\n"
)


def test_overpass_trickled_answer_hits_the_deadline(serve: Any) -> None:
    body = _overpass_json()

    def respond(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.path.endswith("/status"):
            _head(h, 200, {"Content-Type": "text/plain", "Content-Length": str(len(STATUS))})
            h.wfile.write(STATUS)
            return
        length = int(h.headers.get("Content-Length", "0"))
        h.rfile.read(length)
        _head(h, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        h.wfile.write(body[:-40])
        _trickle(h, body[-40:], 0.2)  # 8 s

    url, hits = serve(respond)
    area = box(4.355, 51.995, 4.365, 52.005)
    with pytest.raises(ServiceError, match="binnen 1 s"):
        network_from_overpass(
            area, "car", crs="EPSG:4326", overpass_url=f"{url}/api", timeout_s=5.0, deadline_s=1.0
        )
    assert any(h.endswith("/interpreter") for h in hits)


# --------------------------------------------------------------------------- OSM files
def _osm_xml(bad_attr: str, bad_value: str) -> str:
    coords = {1: (52.0, 4.0), 2: (52.01, 4.01), 3: (52.02, 4.02)}
    nodes = []
    for nid, (lat, lon) in coords.items():
        attrs = {"lat": str(lat), "lon": str(lon)}
        if nid == 2:
            attrs[bad_attr] = bad_value
        nodes.append(f'  <node id="{nid}" version="1" lat="{attrs["lat"]}" lon="{attrs["lon"]}"/>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        + "\n".join(nodes)
        + '\n  <node id="4" version="1" lat="52.03" lon="4.03">\n'
        '    <tag k="amenity" v="library"/>\n  </node>\n'
        '  <way id="10" version="1">\n    <nd ref="1"/><nd ref="2"/><nd ref="3"/>\n'
        '    <tag k="highway" v="residential"/>\n  </way>\n</osm>\n'
    )


@pytest.mark.parametrize(("attr", "value"), [("lat", "500.0"), ("lon", "4,01")])
@pytest.mark.parametrize("loader", ["network", "libraries"])
def test_osm_xml_invalid_coordinate_names_file_and_node(
    tmp_path: Path, attr: str, value: str, loader: str
) -> None:
    path = tmp_path / "wegen.osm"
    path.write_text(_osm_xml(attr, value), encoding="utf-8")
    with pytest.raises(InputError) as info:
        if loader == "network":
            load_network(path, "car")
        else:
            libraries_from_osm(path)
    text = str(info.value)
    assert "wegen.osm" in text and "node 2" in text and f"{attr}={value!r}" in text, text


def _small_pbf(path: Path) -> None:
    write_pbf(
        path,
        np.array([4.0, 4.01, 4.02]),
        np.array([52.0, 52.0, 52.01]),
        np.array([0, 1, 2]),
        np.array([3]),
        [[("highway", "residential")]],
        np.array([0]),
    )


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _uvarint(number << 3 | 2) + _uvarint(len(payload)) + payload


def _zlib_zeros(inflated: int) -> bytes:
    """``inflated`` zero bytes, zlib-compressed (1 GiB: ~4.7 MB, ~3 s)."""
    packer = zlib.compressobj(1)
    zeros = b"\0" * (1 << 24)
    return b"".join(packer.compress(zeros) for _ in range(inflated >> 24)) + packer.flush()


def _pbf_bomb(path: Path, data: bytes, declared: int) -> None:
    """A valid PBF followed by an OSMData blob of ``data`` (zlib) that claims ``declared``."""
    _small_pbf(path)
    blob = _uvarint(2 << 3) + _uvarint(declared) + _field(3, data)
    header = _field(1, b"OSMData") + _uvarint(3 << 3) + _uvarint(len(blob))
    with path.open("ab") as f:
        f.write(struct.pack(">I", len(header)) + header + blob)


@pytest.fixture(scope="module")
def pbf_bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    out = {}
    data = _zlib_zeros(1 << 30)  # 1 GiB of zeros in ~4.7 MB, the same blob in both
    for name, declared in (("honest", 1 << 30), ("lying", 1000)):
        path = folder / f"bom-{name}.osm.pbf"
        _pbf_bomb(path, data, declared)
        out[name] = path
    return out


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[Path], DemoInputs]
) -> DemoInputs:
    return demo_copy(tmp_path_factory.mktemp("demo"))


def _config(demo: DemoInputs, tmp: Path, *, network: Path | None = None, extra: str = "") -> Path:
    text = (
        f'mode = "car"\nout_dir = "{(tmp / "out").as_posix()}"\n{extra}\n[inputs]\n'
        f'network = "{(network or demo.network).as_posix()}"\n'
        f'cells = "{demo.cells.as_posix()}"\n'
        f'libraries = "{demo.libraries.as_posix()}"\n'
        f'gemeenten = "{demo.gemeenten.as_posix()}"\n'
    )
    path = tmp / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


# The CLI in a child process whose address space leaves 600 MiB above what the imports
# take: today's reader inflated the 1 GiB blob in one piece and ended in MemoryError.
_LIMITED_RUN = textwrap.dedent(
    """
    import resource, sys
    import bereikbaar.pipeline, bereikbaar.sources.osm, osmium, pyproj, shapely  # noqa
    from bereikbaar.cli import main
    with open("/proc/self/status") as f:
        kb = int(next(line for line in f if line.startswith("VmSize")).split()[1])
    limit = kb * 1024 + 600 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(main(["-q", "run", sys.argv[1]]))
    """
)


def test_pbf_zlib_bomb_is_one_line_not_memory_error(
    pbf_bombs: dict[str, Path], demo: DemoInputs, tmp_path: Path
) -> None:
    config = _config(demo, tmp_path, network=pbf_bombs["honest"])
    out = subprocess.run(
        [sys.executable, "-c", _LIMITED_RUN, str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=300,
    )
    line = _one_clear_line(out.stderr)
    assert out.returncode == 2, out.stderr
    assert "bom-honest.osm.pbf" in line and "decompressiebom" in line, line


_LIMITED_LOAD = textwrap.dedent(
    """
    import resource, sys
    import osmium, pyproj, shapely  # noqa
    from bereikbaar.exceptions import InputError
    from bereikbaar.sources.osm import load_network
    with open("/proc/self/status") as f:
        kb = int(next(line for line in f if line.startswith("VmSize")).split()[1])
    limit = kb * 1024 + 600 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        load_network(sys.argv[1], "car")
    except InputError as err:
        print(err)
    """
)


def test_pbf_bomb_with_a_lying_size_is_an_input_error(pbf_bombs: dict[str, Path]) -> None:
    """The blob declares 1000 bytes and inflates to 1 GiB: the declared size is not trusted.

    Run in a child process with 600 MiB to spare: the old reader went past 11 GB here.
    """
    out = subprocess.run(
        [sys.executable, "-c", _LIMITED_LOAD, str(pbf_bombs["lying"])],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=300,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "bom-lying.osm.pbf" in out.stdout and "decompressiebom" in out.stdout, out.stdout


@pytest.mark.parametrize("kind", ["honest", "lying"])
def test_pyosmium_errors_map_to_input_error(pbf_bombs: dict[str, Path], kind: str) -> None:
    """The shared helper on libosmium's own refusal of the bomb (the pyosmium reader's path)."""
    import osmium

    path = pbf_bombs[kind]
    with pytest.raises(InputError) as info, osm_read_errors(path):
        for _ in osmium.FileProcessor(str(path)).with_locations():
            pass
    assert str(path) in str(info.value) and "cannot read this OSM file" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("opener", [gzip.open, bz2.open])
def test_compressed_osm_xml_bomb_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opener: Callable[..., Any]
) -> None:
    monkeypatch.setattr(limits, "MAX_INFLATED_XML_BYTES", 1 << 20)
    suffix = ".osm.gz" if opener is gzip.open else ".osm.bz2"
    path = tmp_path / f"wegen{suffix}"
    xml = _osm_xml("lat", "52.01")
    head, tail = xml.split("\n", 1)
    with opener(path, "wb") as f:  # valid OSM XML with an 8 MiB comment
        f.write(head.encode() + b"\n<!--" + b" " * (8 << 20) + b"-->\n" + tail.encode())
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(InputError) as info:
        load_network(path, "car")
    text = str(info.value)
    assert f"wegen{suffix}" in text and "1,048,576 bytes" in text and "decompressiebom" in text


# --------------------------------------------------------------------------- CLI
def test_memory_error_is_one_dutch_line_saying_what_to_reduce(
    demo: DemoInputs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bereikbaar.pipeline

    def run(*args: Any, **kwargs: Any) -> Any:
        return np.ones(1 << 62, dtype=np.uint8)  # numpy's own MemoryError: 4 EiB

    monkeypatch.setattr(bereikbaar.pipeline, "run", run)
    code, err = _cli(["run", str(_config(demo, tmp_path))], capsys)
    line = _one_clear_line(err)
    assert code == 2
    assert "onvoldoende geheugen" in line and "study_area" in line and "500 m" in line


def test_negative_car_speed_is_refused_before_any_work(
    demo: DemoInputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(demo, tmp_path, extra="[car_speeds_kmh]\nresidential = -30\n")
    code, err = _cli(["run", str(config)], capsys)
    line = _one_clear_line(err)
    assert code == 2 and "car_speeds_kmh.residential" in line and "-30" in line, line
    assert not (tmp_path / "out").exists()
