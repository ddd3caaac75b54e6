"""Tests for bereikbaar.sources.download against a loopback file server on 127.0.0.1.

The server serves files with ``Content-Length``, honours ``Range: bytes=N-`` with 206 and
``Content-Range`` (or ignores it, when told to), publishes ``.md5`` files in Geofabrik's
``"<hash>  <name>"`` form, counts requests, and can drop the connection mid-body.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import pathlib
import random
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bereikbaar.cli import main
from bereikbaar.exceptions import DownloadError, InputError
from bereikbaar.sources.download import (
    cbs_vierkant_source,
    cbs_wijkbuurtkaart_source,
    download_file,
    download_source,
    geofabrik_source,
)


@dataclass
class Request:
    path: str
    range: str | None
    sent: int = 0


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, list[int]] = field(default_factory=dict)  # per path, per request
    ignore_range: bool = False
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, suffix: str = "") -> int:
        return sum(1 for r in self.requests if r.path.endswith(suffix))


def _handler(state: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            req = Request(self.path, self.headers.get("Range"))
            with state.lock:
                state.requests.append(req)
                drops = state.drop_after.get(self.path, [])
                drop = drops.pop(0) if drops else None
            data = state.files.get(self.path)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            match = re.match(r"bytes=(\d+)-$", req.range or "")
            if match and not state.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if drop is not None:
                body = body[:drop]
                self.close_connection = True
            # recorded before the write: the client may finish reading, and the test go on to
            # inspect the requests, before this thread gets back from write()
            req.sent = len(body)
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except OSError:
                return

    return Handler


@pytest.fixture
def files(serve_loopback: Any) -> Iterator[tuple[str, FileServer]]:
    state = FileServer()
    with serve_loopback(_handler(state)) as url:
        yield f"{url}", state


def _payload(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


FAST = {"retries": 2, "backoff_s": 0.01, "timeout_s": 5.0}
# reads of 10,000 bytes: a broken read loses its unfinished chunk, so the drops in these
# tests fall on chunk boundaries and the resume offsets are exact
CHUNK = 10_000


def test_sources_urls() -> None:
    assert geofabrik_source("Zuid-Holland").url == (
        "https://download.geofabrik.de/europe/netherlands/zuid-holland-latest.osm.pbf"
    )
    assert geofabrik_source("noord brabant").md5_url == (
        "https://download.geofabrik.de/europe/netherlands/noord-brabant-latest.osm.pbf.md5"
    )
    assert geofabrik_source("Nederland").url == (
        "https://download.geofabrik.de/europe/netherlands-latest.osm.pbf"
    )
    assert cbs_vierkant_source(2024).url == (
        "https://download.cbs.nl/vierkant/100/2025-cbs_vk100_2024_v1.zip"
    )
    assert cbs_vierkant_source(2023, 500, version=2).filename == "2025-cbs_vk500_2023_v2.zip"
    assert cbs_wijkbuurtkaart_source(2024, version=2).url == (
        "https://geodata.cbs.nl/files/Wijkenbuurtkaart/WijkBuurtkaart_2024_v2.zip"
    )
    with pytest.raises(InputError, match="unknown region"):
        geofabrik_source("Vlaams-Brabant")
    with pytest.raises(InputError, match="100 or 500"):
        cbs_vierkant_source(2024, 250)


def test_broken_transfer_resumes(tmp_path: pathlib.Path, files: tuple[str, FileServer]) -> None:
    url, server = files
    data = _payload(300_000)
    server.files["/a.osm.pbf"] = data
    server.drop_after["/a.osm.pbf"] = [100_000]  # first response breaks after 100,000 bytes
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()

    result = download_file(
        f"{url}/a.osm.pbf", tmp_path / "a.osm.pbf", md5=md5, chunk_bytes=CHUNK, **FAST
    )

    assert result.downloaded and result.attempts == 2
    assert [r.range for r in server.requests] == [None, "bytes=100000-"]
    assert [r.sent for r in server.requests] == [100_000, 200_000]
    assert (tmp_path / "a.osm.pbf").read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.md5 == md5
    assert not (tmp_path / "a.osm.pbf.part").exists()
    record = json.loads((tmp_path / "a.osm.pbf.download.json").read_text(encoding="utf-8"))
    assert record["size_bytes"] == 300_000 and record["sha256"] == result.sha256


def test_resume_across_runs(tmp_path: pathlib.Path, files: tuple[str, FileServer]) -> None:
    url, server = files
    data = _payload(250_000, seed=3)
    server.files["/b.pbf"] = data
    server.drop_after["/b.pbf"] = [60_000]
    dest = tmp_path / "b.pbf"
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(f"{url}/b.pbf", dest, retries=0, backoff_s=0.01, chunk_bytes=CHUNK)
    assert not dest.exists()
    assert (tmp_path / "b.pbf.part").stat().st_size == 60_000

    result = download_file(f"{url}/b.pbf", dest, chunk_bytes=CHUNK, **FAST)
    assert result.resumed_from == 60_000 and result.attempts == 1
    assert server.requests[-1].range == "bytes=60000-"
    assert server.requests[-1].sent == 190_000  # only the missing bytes
    assert dest.read_bytes() == data


def test_server_without_range_support(
    tmp_path: pathlib.Path, files: tuple[str, FileServer]
) -> None:
    url, server = files
    data = _payload(120_000, seed=5)
    server.files["/c.pbf"] = data
    server.drop_after["/c.pbf"] = [50_000]
    server.ignore_range = True  # answers 200 with the whole file: start over
    result = download_file(f"{url}/c.pbf", tmp_path / "c.pbf", **FAST)
    assert result.attempts == 2 and (tmp_path / "c.pbf").read_bytes() == data


def test_part_already_complete(tmp_path: pathlib.Path, files: tuple[str, FileServer]) -> None:
    url, server = files
    data = _payload(5_000, seed=9)
    server.files["/d.pbf"] = data
    (tmp_path / "d.pbf.part").write_bytes(data)  # interrupted just before the rename
    result = download_file(f"{url}/d.pbf", tmp_path / "d.pbf", **FAST)
    assert server.requests[0].range == "bytes=5000-" and server.requests[0].sent == 0
    assert result.size_bytes == 5_000 and (tmp_path / "d.pbf").read_bytes() == data


def test_corrupt_file_detected_by_md5(
    tmp_path: pathlib.Path, files: tuple[str, FileServer]
) -> None:
    url, server = files
    data = _payload(40_000)
    name = "zeeland-latest.osm.pbf"
    server.files[f"/europe/netherlands/{name}"] = data[:-1] + bytes([data[-1] ^ 0xFF])
    good = hashlib.md5(data, usedforsecurity=False).hexdigest()
    server.files[f"/europe/netherlands/{name}.md5"] = f"{good}  {name}\n".encode()
    source = geofabrik_source("Zeeland", base_url=f"{url}/europe")
    with pytest.raises(DownloadError, match=f"corrupt: MD5 .* published {good}"):
        download_source(source, tmp_path, **FAST)
    assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("cbs_vk100_2024.gpkg", b"GPKG" + _payload(20_000))
    return buf.getvalue()


def test_corrupt_zip_detected(tmp_path: pathlib.Path, files: tuple[str, FileServer]) -> None:
    url, server = files
    good = _zip_bytes()
    bad = bytearray(good)
    bad[5_000] ^= 0xFF  # inside the stored member: CRC mismatch
    source = cbs_vierkant_source(2024, base_url=url)
    server.files["/vierkant/100/2025-cbs_vk100_2024_v1.zip"] = bytes(bad)
    with pytest.raises(DownloadError, match="CRC"):
        download_source(source, tmp_path, **FAST)
    assert not list(tmp_path.iterdir())

    server.files["/vierkant/100/2025-cbs_vk100_2024_v1.zip"] = good
    result = download_source(source, tmp_path, **FAST)
    assert result.md5 is None  # CBS publishes none: the SHA-256 is recorded
    assert result.sha256 == hashlib.sha256(good).hexdigest()


def test_complete_file_not_fetched_again(
    tmp_path: pathlib.Path, files: tuple[str, FileServer]
) -> None:
    url, server = files
    data = _payload(64_000)
    name = "utrecht-latest.osm.pbf"
    server.files[f"/europe/netherlands/{name}"] = data
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    server.files[f"/europe/netherlands/{name}.md5"] = f"{md5}  {name}\n".encode()
    source = geofabrik_source("utrecht", base_url=f"{url}/europe")

    first = download_source(source, tmp_path, **FAST)
    assert first.downloaded and server.count(".pbf") == 1 and server.count(".md5") == 1
    second = download_source(source, tmp_path, **FAST)
    assert not second.downloaded and second.sha256 == first.sha256
    assert len(server.requests) == 2  # no request at all the second time

    # verify=True re-checks the published MD5 and the file on disk, without re-downloading
    third = download_source(source, tmp_path, verify=True, **FAST)
    assert not third.downloaded and server.count(".pbf") == 1 and server.count(".md5") == 2

    # a file damaged on disk is found by verify and fetched again
    dest = tmp_path / name
    dest.write_bytes(b"\0" * len(data))
    fourth = download_source(source, tmp_path, verify=True, **FAST)
    assert fourth.downloaded and dest.read_bytes() == data and server.count(".pbf") == 2


def test_http_error(tmp_path: pathlib.Path, files: tuple[str, FileServer]) -> None:
    url, _ = files
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{url}/missing.zip", tmp_path / "missing.zip", **FAST)


def test_cli_download_progress(
    tmp_path: pathlib.Path, files: tuple[str, FileServer], capsys: pytest.CaptureFixture[str]
) -> None:
    url, server = files
    data = _payload(200_000)
    name = "zuid-holland-latest.osm.pbf"
    server.files[f"/europe/netherlands/{name}"] = data
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    server.files[f"/europe/netherlands/{name}.md5"] = f"{md5}  {name}\n".encode()
    args = ["download", "osm", "--regio", "Zuid-Holland", "--out", str(tmp_path)]
    args += ["--url-basis", f"{url}/europe"]

    assert main(args) == 0
    out, err = capsys.readouterr()
    assert name in err and "100%" in err  # the tqdm bar on stderr
    assert "gedownload" in out and "ODbL" in out
    assert (tmp_path / name).read_bytes() == data

    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "al compleet" in out and "100%" not in err
    assert server.count(".pbf") == 1

    assert main(["-q", "download", "vierkant", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "--jaar" in err and out == ""
