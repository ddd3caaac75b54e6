"""Tests for bereikbaar.sources.geocode against a loopback PDOK Locatieserver.

The server on 127.0.0.1 answers ``/free`` and ``/lookup`` in the real v3_1 format (the
envelope ``response{numFound, start, maxScore, numFoundExact, docs}``, ``centroide_rd``
and ``centroide_ll`` as WKT strings, ``gemeentecode`` without "GM"; field names from
../shared/data/pdok-locatieserver/), honours ``fl``, counts every request, and plays
scripted faults: 429 with Retry-After, 500 then success, a stall longer than the client
timeout, a dropped connection, malformed JSON, a permanent 503 and a redirect.
"""

from __future__ import annotations

import http.server
import json
import pathlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from bereikbaar.exceptions import BereikbaarWarning, GeocodeError, InputError
from bereikbaar.settings import Settings
from bereikbaar.sources.geocode import (
    QUALITY_LEVELS,
    AddressQuery,
    PdokGeocoder,
    TableGeocoder,
    geocode_libraries,
    parse_wkt_point,
)
from bereikbaar.sources.libraries import load_libraries


# --------------------------------------------------------------------------- real samples
def _ts_object(path: pathlib.Path) -> dict[str, Any]:
    """The JS object literal of a PZH mock file (``const x = {...}``) as a dict."""
    text = path.read_text(encoding="utf-8")
    text = text[text.index("{") : text.rindex("export")]
    text = text[: text.rindex("}") + 1]
    out: list[str] = []
    i = 0
    while i < len(text):  # re-quote JS strings ('...' or "...") as JSON strings
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(json.dumps(text[i + 1 : j]))
            i = j + 1
        else:
            out.append(ch)
            i += 1
    body = "".join(out)
    body = re.sub(r"(?m)^(\s*)([A-Za-z_][A-Za-z0-9_]*):", r'\1"\2":', body)  # bare keys
    body = re.sub(r",(\s*[}\]])", r"\1", body)  # trailing commas
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_real_samples_parse(shared_data: pathlib.Path) -> None:
    lookup = _ts_object(shared_data / "pdok-locatieserver" / "pzh_geoLookup.ts")
    doc = lookup["response"]["docs"][0]
    assert parse_wkt_point(doc["centroide_rd"]) == (79982.337, 454319.395)
    assert doc["gemeentecode"] == "0518"  # no "GM"
    suggest = _ts_object(shared_data / "pdok-locatieserver" / "pzh_geoSuggest.ts")
    wpl = [d for d in suggest["response"]["docs"] if d["type"] == "woonplaats"]
    assert wpl[0]["id"] == "wpl-3597581be599a52df395ce19248ab9f5"


@pytest.mark.parametrize("bad", ["POINT(1)", "POINT (a b)", "LINESTRING(0 0, 1 1)", ""])
def test_parse_wkt_point_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="WKT"):
        parse_wkt_point(bad)


def test_address_query_split_and_key() -> None:
    q = AddressQuery.from_address("Lange Nieuwstraat 76 a", "2312 nh", "Leiden")
    assert (q.street, q.housenumber, q.suffix) == ("Lange Nieuwstraat", "76", "a")
    same = AddressQuery.from_address("lange  nieuwstraat 76A", "2312NH", "LEIDEN")
    assert q.key() == same.key()
    free = AddressQuery.from_address("Wilhelminapark 3, Utrecht")
    assert (free.street, free.text) == (None, "Wilhelminapark 3, Utrecht")
    assert AddressQuery.from_address("Markt", place="Delft").street == "Markt"


# --------------------------------------------------------------------------- loopback server
def _adres(
    street: str, nr: int, pc: str, place: str, gm: str, rd: tuple[float, float], score: float
) -> dict[str, Any]:
    """An ``adres`` doc with the fields the real /free returns."""
    return {
        "bron": "BAG",
        "woonplaatscode": "2088",
        "type": "adres",
        "woonplaatsnaam": place,
        "huis_nlt": str(nr),
        "openbareruimtetype": "Weg",
        "gemeentecode": gm,
        "weergavenaam": f"{street} {nr}, {pc} {place}",
        "straatnaam_verkort": street,
        "id": f"adr-{abs(hash((street, nr))) % 10**12:012d}",
        "gemeentenaam": place,
        "identificatie": f"{gm}010000{nr:06d}",
        "openbareruimte_id": f"{gm}300000{nr:06d}",
        "provinciecode": "PV28",
        "postcode": pc,
        "provincienaam": "Zuid-Holland",
        "centroide_ll": "POINT(4.4937 52.1601)",
        "nummeraanduiding_id": f"{gm}200000{nr:06d}",
        "adresseerbaarobject_id": f"{gm}010000{nr:06d}",
        "huisnummer": nr,
        "provincieafkorting": "ZH",
        "centroide_rd": f"POINT({rd[0]} {rd[1]})",
        "straatnaam": street,
        "buurtcode": f"BU{gm}0000",
        "wijkcode": f"WK{gm}00",
        "waterschapscode": "13",
        "gekoppeld_perceel": ["LDN00-A-1234"],
        "score": score,
    }


LEIDEN = "0546"
DELFT = "0503"
RD_NIEUWSTRAAT = (93656.123, 463871.456)
RD_BREESTRAAT = (93512.5, 463760.25)
RD_2611ML = (84480.75, 447262.5)
RD_DEN_HAAG_WPL = (80521.117, 455017.771)
RD_HAARLEMMER = (93801.0, 464190.0)
RD_STATION = (93170.0, 464580.0)
RD_LAMMENSCHANS = (93990.0, 462950.0)
RD_MORS = (92800.0, 464700.0)
RD_KOOI = (94400.0, 464400.0)

WPL_ID = "wpl-3597581be599a52df395ce19248ab9f5"

DOCS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("type:adres", "Nieuwstraat 4 2312KA Leiden"): [
        _adres("Nieuwstraat", 4, "2312KA", "Leiden", LEIDEN, RD_NIEUWSTRAAT, 14.2)
    ],
    # no such number: /free returns nothing, the street is the fallback
    ("type:weg", "Breestraat Leiden"): [
        {
            "type": "weg",
            "weergavenaam": "Breestraat, Leiden",
            "id": "weg-1b2c3d4e5f",
            "straatnaam": "Breestraat",
            "woonplaatsnaam": "Leiden",
            "gemeentecode": LEIDEN,
            "gemeentenaam": "Leiden",
            "centroide_ll": "POINT(4.4891 52.1589)",
            "centroide_rd": f"POINT({RD_BREESTRAAT[0]} {RD_BREESTRAAT[1]})",
            "score": 9.87,
        }
    ],
    # the best adres hit has another house number: must not count as "adres"
    ("type:adres", "Kruisstraat 71 2611ML Delft"): [
        _adres("Kruisstraat", 73, "2611ML", "Delft", DELFT, (84470.0, 447270.0), 12.5)
    ],
    ("type:postcode", "2611ML"): [
        {
            "type": "postcode",
            "weergavenaam": "Kruisstraat, 2611ML Delft",
            "id": "pcd-98f0a1",
            "postcode": "2611ML",
            "straatnaam": "Kruisstraat",
            "woonplaatsnaam": "Delft",
            "gemeentecode": DELFT,
            "centroide_ll": "POINT(4.3612 52.0136)",
            "centroide_rd": f"POINT({RD_2611ML[0]} {RD_2611ML[1]})",
            "score": 11.0,
        }
    ],
    # as in the real suggest sample: no centroid in the hit → the client must /lookup
    ("type:woonplaats", "'s-Gravenhage"): [
        {
            "type": "woonplaats",
            "weergavenaam": "'s-Gravenhage, 's-Gravenhage, Zuid-Holland",
            "id": WPL_ID,
            "score": 17.087297,
        }
    ],
    ("type:adres", "Haarlemmerstraat 2 2312DK Leiden"): [
        _adres("Haarlemmerstraat", 2, "2312DK", "Leiden", LEIDEN, RD_HAARLEMMER, 13.0)
    ],
    ("type:adres", "Stationsplein 1 2312AJ Leiden"): [
        _adres("Stationsplein", 1, "2312AJ", "Leiden", LEIDEN, RD_STATION, 13.1)
    ],
    ("type:adres", "Lammenschansweg 8 2313DK Leiden"): [
        _adres("Lammenschansweg", 8, "2313DK", "Leiden", LEIDEN, RD_LAMMENSCHANS, 13.2)
    ],
    ("type:adres", "Morsweg 3 2332EA Leiden"): [
        _adres("Morsweg", 3, "2332EA", "Leiden", LEIDEN, RD_MORS, 13.3)
    ],
    ("type:adres", "Kooilaan 5 2315AA Leiden"): [
        _adres("Kooilaan", 5, "2315AA", "Leiden", LEIDEN, RD_KOOI, 13.4)
    ],
    ("type:adres", "Rapenburg 70 2311EZ Leiden"): [
        _adres("Rapenburg", 70, "2311EZ", "Leiden", LEIDEN, (93400.0, 463500.0), 13.5)
    ],
}
LOOKUP: dict[str, dict[str, Any]] = {
    WPL_ID: {  # shaped like the real pzh_geoLookup.ts doc
        "bron": "BAG",
        "identificatie": "1686",
        "provinciecode": "PV28",
        "type": "woonplaats",
        "provincienaam": "Zuid-Holland",
        "centroide_ll": "POINT(4.30303468 52.0787376)",
        "gemeentecode": "0518",
        "weergavenaam": "'s-Gravenhage, 's-Gravenhage, Zuid-Holland",
        "provincieafkorting": "ZH",
        "centroide_rd": f"POINT({RD_DEN_HAAG_WPL[0]} {RD_DEN_HAAG_WPL[1]})",
        "id": WPL_ID,
        "woonplaatscode": "1686",
        "woonplaatsnaam": "'s-Gravenhage",
        "gemeentenaam": "'s-Gravenhage",
    }
}

# faults per q (consumed one per request; afterwards the normal answer)
STALL_S = 2.5  # longer than the client timeout of 1 s


def _faults() -> dict[str, list[tuple[str, Any]]]:
    return {
        "Haarlemmerstraat 2 2312DK Leiden": [("status", (429, {"Retry-After": "1"}))],
        "Stationsplein 1 2312AJ Leiden": [("status", (500, {}))],
        "Lammenschansweg 8 2313DK Leiden": [("stall", STALL_S)],
        "Morsweg 3 2332EA Leiden": [("drop", None)],
        "Kooilaan 5 2315AA Leiden": [("raw", b'{"response": {"numFound": 1, "docs": [{"ty')] * 99,
        "Rapenburg 70 2311EZ Leiden": [("status", (503, {}))] * 99,
    }


@dataclass
class Hit:
    path: str
    params: dict[str, str]
    at: float


@dataclass
class FakePdok:
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[str, Any]]] = field(default_factory=_faults)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, q: str | None = None) -> int:
        return sum(1 for h in self.hits if q is None or h.params.get("q") == q)

    def times(self, q: str) -> list[float]:
        return [h.at for h in self.hits if h.params.get("q") == q]


def _envelope(docs: list[dict[str, Any]], fl: str | None) -> dict[str, Any]:
    if fl:
        keep = set(re.split(r"[,\s]+", fl))
        docs = [{k: v for k, v in d.items() if k in keep} for d in docs]
    return {
        "response": {
            "numFound": len(docs),
            "start": 0,
            "maxScore": max((d.get("score", 0.0) for d in docs), default=0.0),
            "numFoundExact": True,
            "docs": docs,
        }
    }


def _handler(state: FakePdok) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with state.lock:
                state.hits.append(Hit(parts.path, params, time.monotonic()))
                script = state.faults.get(params.get("q", ""), [])
                fault = script.pop(0) if script else None
            if fault is not None and fault[0] == "stall":
                time.sleep(fault[1])  # the client has given up: not counted as in flight
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                self._answer(parts.path, params, fault)
            except OSError:
                pass  # the client gave up (timeout test)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, path: str, params: dict[str, str], fault: Any) -> None:
            time.sleep(0.005)  # a little latency so requests overlap
            if fault is not None:
                kind, arg = fault
                if kind == "status":
                    status, headers = arg
                    self._send(status, b'{"error": "busy"}', headers)
                    return
                if kind == "drop":
                    self.close_connection = True
                    return
                if kind == "raw":
                    self._send(200, arg)
                    return
            if "/elsewhere/" in path:
                self.send_response(302)
                self.send_header("Location", "http://example.org/free")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path.endswith("/free"):
                docs = DOCS.get((params.get("fq", ""), params.get("q", "")), [])
            elif path.endswith("/lookup"):
                doc = LOOKUP.get(params.get("id", ""))
                docs = [doc] if doc else []
            else:
                self._send(404, b'{"message": "not found"}')
                return
            body = json.dumps(_envelope(docs, params.get("fl"))).encode()
            self._send(200, body)

    return Handler


@pytest.fixture
def pdok(serve_loopback: Any) -> Iterator[tuple[str, FakePdok]]:
    state = FakePdok()
    with serve_loopback(_handler(state)) as url:
        yield f"{url}/bzk/locatieserver/search/v3_1", state


def _client(url: str, cache: pathlib.Path, **kw: Any) -> PdokGeocoder:
    args: dict[str, Any] = {
        "cache_path": cache,
        "max_concurrency": 4,
        "rate_limit_per_s": None,
        "timeout_s": 1.0,
        "retries": 2,
        "backoff_s": 0.01,
        "max_backoff_s": 2.0,
    }
    args.update(kw)
    return PdokGeocoder(url, **args)


BRANCHES = (
    "Naam;Soort;Straat;Huisnummer;Postcode;Plaats;X;Y\n"
    "Centrale;Hoofdvestiging;Nieuwstraat;4;2312 KA;Leiden;;\n"  # 1 adres
    "Breestraat;Servicepunt;Breestraat;999;2311 CS;Leiden;;\n"  # 2 straat
    "Kruisstraat;Afhaalpunt;Kruisstraat;71;2611 ML;Delft;;\n"  # 3 postcode
    "Den Haag;Vestiging;;;;'s-Gravenhage;;\n"  # 4 woonplaats via /lookup
    "Nergens;Vestiging;Onbekendeweg;1;9999 ZZ;Nergenshuizen;;\n"  # 5 geen
    "Haarlemmer;Vestiging;Haarlemmerstraat;2;2312 DK;Leiden;;\n"  # 6 429 Retry-After
    "Station;Servicepunt;Stationsplein;1;2312 AJ;Leiden;;\n"  # 7 500 then ok
    "Lammenschans;Vestiging;Lammenschansweg;8;2313 DK;Leiden;;\n"  # 8 stall > timeout
    "Mors;Vestiging;Morsweg;3;2332 EA;Leiden;;\n"  # 9 dropped connection
    "Kooi;Vestiging;Kooilaan;5;2315 AA;Leiden;;\n"  # 10 malformed JSON
    "Rapenburg;Vestiging;Rapenburg;70;2311 EZ;Leiden;;\n"  # 11 503 for ever
    "Met coördinaten;Vestiging;Markt;1;2611 GW;Delft;84800;447200\n"  # 12 not geocoded
    "Centrale dubbel;Servicepunt;Nieuwstraat;4;2312KA;leiden;;\n"  # 13 = row 1
)


def test_geocode_branch_list_all_levels_faults_cache(
    tmp_path: pathlib.Path, pdok: tuple[str, FakePdok]
) -> None:
    url, server = pdok
    csv = tmp_path / "vestigingen.csv"
    csv.write_bytes(BRANCHES.encode("cp1252"))
    cache = tmp_path / "geocode.sqlite"

    geocoder = _client(url, cache)
    t0 = time.monotonic()
    with pytest.warns(BereikbaarWarning, match=r"3 of 12 branches could not be geocoded"):
        libs = load_libraries(csv, geocoder=geocoder)
    first_run_s = time.monotonic() - t0
    geocoder.close()

    # never a row dropped, in file order
    assert list(libs["name"]) == [line.split(";")[0] for line in BRANCHES.splitlines()[1:]]
    quality = list(libs["geocode_quality"])
    assert quality == [
        "adres",
        "straat",
        "postcode",
        "woonplaats",
        "geen",
        "adres",
        "adres",
        "adres",
        "adres",
        "geen",
        "geen",
        "coordinates",
        "adres",
    ]
    assert set(QUALITY_LEVELS) <= set(quality)
    pts = libs.geometry
    assert (pts.iloc[0].x, pts.iloc[0].y) == RD_NIEUWSTRAAT
    assert (pts.iloc[1].x, pts.iloc[1].y) == RD_BREESTRAAT
    assert (pts.iloc[2].x, pts.iloc[2].y) == RD_2611ML
    assert (pts.iloc[3].x, pts.iloc[3].y) == RD_DEN_HAAG_WPL
    assert (pts.iloc[11].x, pts.iloc[11].y) == (84800.0, 447200.0)
    assert pts.iloc[12].equals(pts.iloc[0])
    assert libs.crs.to_epsg() == 28992
    assert libs["geocode_match"].iloc[0] == "Nieuwstraat 4, 2312KA Leiden"
    assert libs["geocode_score"].iloc[0] == 14.2
    assert list(libs["gemeentecode"].iloc[[0, 2, 3]]) == ["GM0546", "GM0503", "GM0518"]
    assert list(libs["needs_geocoding"]) == [q == "geen" for q in quality]
    assert [p is None for p in pts] == [q == "geen" for q in quality]

    # retries: 429 honours Retry-After (1 s), 500/stall/drop retried once, all bounded
    hq = "Haarlemmerstraat 2 2312DK Leiden"
    assert server.count(hq) == 2
    gap = server.times(hq)[1] - server.times(hq)[0]
    assert gap >= 0.95
    for q in ("Stationsplein 1 2312AJ Leiden", "Lammenschansweg 8 2313DK Leiden"):
        assert server.count(q) == 2
    assert server.count("Morsweg 3 2332EA Leiden") == 2
    assert server.count("Kooilaan 5 2315AA Leiden") == 1  # malformed JSON: not retried
    assert server.count("Rapenburg 70 2311EZ Leiden") == 3  # 1 + retries=2, then gives up
    assert server.max_in_flight <= 4
    assert geocoder.stats.retries == 1 + 1 + 1 + 1 + 2
    assert [h.path.rsplit("/", 1)[1] for h in server.hits].count("lookup") == 1
    assert all(h.params["fl"].split(",").count("centroide_rd") == 1 for h in server.hits)
    first_run_requests = server.count()

    # the failure report names each failing row
    geocoder2 = _client(url, cache)
    with pytest.warns(BereikbaarWarning, match=r"rows 5, 10, 11"):
        libs2, failures = geocode_libraries(load_libraries_quiet(csv), geocoder2, rows=range(1, 14))
    geocoder2.close()
    assert list(failures["row"]) == [5, 10, 11]
    assert list(failures["name"]) == ["Nergens", "Kooi", "Rapenburg"]
    reasons = list(failures["reason"])
    assert reasons[0].startswith("not found")
    assert "malformed JSON" in reasons[1]
    assert reasons[2] == "HTTP 503 (3 attempts)"
    assert failures["query"].iloc[0] == "Onbekendeweg 1, 9999 ZZ, Nergenshuizen"
    # second run: answered addresses (and the cached "not found") cost no request
    second = server.hits[first_run_requests:]
    assert {h.params.get("q") for h in second} == {
        "Kooilaan 5 2315AA Leiden",
        "Rapenburg 70 2311EZ Leiden",
    }
    assert len(libs2) == 13

    # the server heals; a third run asks only the two failed rows, a fourth nothing
    server.faults.clear()
    with _client(url, cache) as geocoder3, pytest.warns(BereikbaarWarning, match="1 of 12"):
        load_libraries(csv, geocoder=geocoder3)
    n3 = server.count()
    with _client(url, cache) as geocoder4, pytest.warns(BereikbaarWarning, match="1 of 12"):
        libs4 = load_libraries(csv, geocoder=geocoder4)
    assert server.count() == n3
    assert geocoder4.stats.requests == 0
    assert geocoder4.stats.cache_hits > 0
    assert list(libs4["geocode_quality"]).count("geen") == 1
    third_run_requests = n3 - first_run_requests - len(second)
    print(
        f"\nfirst run: {first_run_requests} requests, {geocoder.stats.retries} retries,"
        f" {first_run_s:.2f} s; second run: {len(second)} requests (failed rows only);"
        f" after healing: {third_run_requests}; cached re-run: {geocoder4.stats.requests}"
    )


def load_libraries_quiet(path: pathlib.Path) -> gpd.GeoDataFrame:
    with pytest.warns(BereikbaarWarning, match="need geocoding"):
        return load_libraries(path)


def test_rate_limit_and_concurrency(tmp_path: pathlib.Path, pdok: tuple[str, FakePdok]) -> None:
    url, server = pdok
    queries = [AddressQuery(place=f"Plaats{i}") for i in range(10)]
    with _client(url, None, rate_limit_per_s=25.0, max_concurrency=3) as geocoder:
        t0 = time.monotonic()
        results = geocoder.geocode(queries)
        elapsed = time.monotonic() - t0
    assert [r.quality for r in results] == ["geen"] * 10
    assert server.count() == 10
    assert elapsed >= 9 / 25 - 0.01  # 10 request starts at most 25 per second
    starts = sorted(h.at for h in server.hits)
    assert starts[-1] - starts[0] >= 9 / 25 - 0.05
    assert server.max_in_flight <= 3


def test_only_configured_host_no_redirects(pdok: tuple[str, FakePdok]) -> None:
    url, server = pdok
    elsewhere = url.rsplit("/", 1)[0] + "/elsewhere"
    with (
        PdokGeocoder(elsewhere, retries=0) as geocoder,
        pytest.raises(GeocodeError, match="not followed"),
    ):
        geocoder.free("x")
    assert server.count() == 1  # example.org was never contacted (only one request here)
    with pytest.raises(InputError, match="http"):
        PdokGeocoder("ftp://example.org/x")


def test_free_and_lookup_direct(pdok: tuple[str, FakePdok]) -> None:
    url, server = pdok
    with _client(url, None) as geocoder:
        doc = geocoder.lookup(WPL_ID)
        assert doc is not None and doc["centroide_rd"].startswith("POINT(80521.117")
        assert geocoder.lookup("wpl-unknown") is None
        hit = geocoder.free("Nieuwstraat 4 2312KA Leiden", fq="type:adres")
        assert hit is not None and hit["postcode"] == "2312KA"
        assert geocoder.free("Nieuwstraat 4 2312KA Leiden", fq="type:adres") == hit
    assert server.count() == 3  # the repeated /free came from the cache


def test_settings_url() -> None:
    assert Settings().pdok_url == "https://api.pdok.nl/bzk/locatieserver/search/v3_1"
    settings = Settings(pdok_url="http://127.0.0.1:9/x")
    assert PdokGeocoder.from_settings(settings).base_url == "http://127.0.0.1:9/x"


def test_corrupt_cache_file(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match=r"cache\.sqlite"):
        PdokGeocoder("http://127.0.0.1:9", cache_path=bad)


# --------------------------------------------------------------------------- offline table
ADDRESS_TABLE = (
    "postcode;huisnummer;toevoeging;woonplaats;x;y\n"
    "2312KA;4;;Leiden;93656,1;463871,5\n"
    "2312 KA;6;a;Leiden;93670;463880\n"
    "2312KA;6;b;Leiden;93680;463890\n"
    "2611ML;71;;Delft;84480;447260\n"
)


def test_table_geocoder_csv(tmp_path: pathlib.Path) -> None:
    table = tmp_path / "bag.csv"
    table.write_text(ADDRESS_TABLE, encoding="utf-8")
    geocoder = TableGeocoder(table)
    res = geocoder.geocode(
        [
            AddressQuery("Nieuwstraat", "4", None, "2312 ka", "Leiden"),
            AddressQuery("Nieuwstraat", "6", "B", "2312KA"),
            AddressQuery("Nieuwstraat", "6", None, "2312KA"),  # ambiguous: a or b
            AddressQuery(None, None, None, None, "leiden"),
            AddressQuery("X", "1", None, "9999ZZ", "Nergens"),
        ]
    )
    assert [r.quality for r in res] == ["adres", "adres", "postcode", "woonplaats", "geen"]
    assert (res[0].x, res[0].y) == (93656.1, 463871.5)
    assert (res[1].x, res[1].y) == (93680.0, 463890.0)
    assert res[2].x == pytest.approx((93656.1 + 93670 + 93680) / 3)
    assert res[4].point is None and not res[4].found


def test_table_geocoder_gpkg_and_load_libraries(tmp_path: pathlib.Path) -> None:
    rd = gpd.GeoDataFrame(
        {"postcode": ["2312KA", "2611ML"], "huisnummer": [4, 71]},
        geometry=[Point(93656.0, 463871.0), Point(84480.0, 447260.0)],
        crs="EPSG:28992",
    )
    gpkg = tmp_path / "adressen.gpkg"
    rd.to_crs("EPSG:4326").to_file(gpkg)  # stored as lon/lat, read back in RD New
    branches = tmp_path / "b.csv"
    branches.write_text(
        "naam,type,adres,postcode,plaats\n"
        "A,Vestiging,Nieuwstraat 4,2312 KA,Leiden\n"
        "B,Servicepunt,Kruisstraat 71,2611ML,Delft\n"
        "C,Servicepunt,Elders 1,1000AA,Amsterdam\n",
        encoding="utf-8",
    )
    # C is on line 4 of the file (row 4 when opened in a spreadsheet)
    with pytest.warns(BereikbaarWarning, match=r"1 of 3 .*\(rows 4\)"):
        libs = load_libraries(branches, geocoder=TableGeocoder(gpkg))
    assert list(libs["geocode_quality"]) == ["adres", "adres", "geen"]
    assert libs.geometry.iloc[0].x == pytest.approx(93656.0, abs=1e-3)
    assert libs.geometry.iloc[1].y == pytest.approx(447260.0, abs=1e-3)
    assert libs.geometry.iloc[2] is None and len(libs) == 3


def test_table_geocoder_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError, match="not found"):
        TableGeocoder(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("postcode;x;y\n2312KA;1;2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv', column 'huisnummer'"):
        TableGeocoder(bad)
    bad.write_text("postcode;huisnummer;x;y\n2312KA;4;abc;2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2, column 'x'"):
        TableGeocoder(bad)


def test_geocode_libraries_nothing_to_do() -> None:
    libs = gpd.GeoDataFrame(
        {"name": ["a"], "needs_geocoding": [False], "geocode_quality": ["coordinates"]},
        geometry=[Point(1, 2)],
        crs="EPSG:28992",
    )

    class Boom:
        def geocode(self, queries: Any) -> list[Any]:
            raise AssertionError("must not be called")

    out, failures = geocode_libraries(libs, Boom())
    assert len(out) == 1 and failures.empty
    assert isinstance(failures, pd.DataFrame)
