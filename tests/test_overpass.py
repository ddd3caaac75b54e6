"""Tests for bereikbaar.sources.overpass: Overpass (via osmnx) → Network.

Offline: osmnx's Overpass download is replaced by a function that returns a small,
hand-written Overpass JSON answer, so the real osmnx graph building and our tag rules run.
Live (marker ``web``, off by default): a few hundred metres around TU Delft.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import osmnx as ox
import pyproj
import pytest
from shapely.geometry import box

from bereikbaar.exceptions import InputError, NetworkError
from bereikbaar.settings import Settings
from bereikbaar.sources.overpass import network_from_overpass, overpass_filter

# Node id → RD New (m); 100 m apart.
NODES_RD = {
    1: (85000.0, 447000.0),  # A
    2: (85100.0, 447000.0),  # B
    3: (85100.0, 447100.0),  # C
    4: (85000.0, 447100.0),  # D
    5: (85200.0, 447000.0),  # E
    6: (85300.0, 447000.0),  # F, across the water
}
WAYS: list[tuple[int, list[int], dict[str, str]]] = [
    (11, [1, 2], {"highway": "residential"}),  # A-B two-way
    (12, [2, 3], {"highway": "residential", "oneway": "yes"}),  # B→C only
    (13, [3, 4], {"highway": "residential", "oneway": "-1"}),  # D→C only
    (14, [4, 1], {"highway": "footway"}),  # walk only
    (15, [2, 5], {"highway": "cycleway"}),  # bike and walk
    (16, [5, 6], {"route": "ferry"}),  # ferry, both ways
    (17, [4, 5], {"highway": "residential", "access": "private"}),  # nobody
    (18, [1, 3], {"highway": "residential", "maxspeed": "60"}),  # A-C diagonal, 60 km/h
]
AREA_RD = box(84900.0, 446900.0, 85400.0, 447200.0)


def _overpass_json() -> dict[str, Any]:
    to_ll = pyproj.Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
    elements: list[dict[str, Any]] = []
    for nid, (x, y) in NODES_RD.items():
        lon, lat = to_ll.transform(x, y)
        elements.append({"type": "node", "id": nid, "lat": lat, "lon": lon})
    for wid, refs, tags in WAYS:
        elements.append({"type": "way", "id": wid, "nodes": refs, "tags": tags})
    return {"version": 0.6, "generator": "Overpass API (test)", "elements": elements}


@pytest.fixture
def fake_overpass(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def download(polygon: Any, network_type: str, custom_filter: Any) -> Iterator[dict[str, Any]]:
        calls.append(
            {
                "polygon": polygon,
                "custom_filter": custom_filter,
                "use_cache": ox.settings.use_cache,
                "all_oneway": ox.settings.all_oneway,
                "tags": list(ox.settings.useful_tags_way),
                "overpass_url": ox.settings.overpass_url,
            }
        )
        yield _overpass_json()

    monkeypatch.setattr(ox._overpass, "_download_overpass_network", download)
    return calls


def _arcs(net: Any) -> dict[tuple[int, int], int]:
    ids = net.node_id
    return {
        (int(ids[a]), int(ids[b])): k for k, (a, b) in enumerate(zip(net.u, net.v, strict=True))
    }


def test_car_network(fake_overpass: list[dict[str, Any]]) -> None:
    before = {n: getattr(ox.settings, n) for n in ("use_cache", "all_oneway", "useful_tags_way")}
    net = network_from_overpass(AREA_RD, "car", overpass_url="http://127.0.0.1:9/api")
    arcs = _arcs(net)
    assert set(arcs) == {(1, 2), (2, 1), (2, 3), (4, 3), (5, 6), (6, 5), (1, 3), (3, 1)}
    ab = arcs[(1, 2)]
    assert net.length_m[ab] == pytest.approx(100.0, abs=1e-3)
    assert net.time_s is not None and net.ferry is not None
    assert net.time_s[ab] == pytest.approx(100.0 / (30 / 3.6), rel=1e-6)  # residential 30
    diag = arcs[(1, 3)]
    assert net.length_m[diag] == pytest.approx(100.0 * np.sqrt(2), abs=1e-3)
    assert net.time_s[diag] == pytest.approx(net.length_m[diag] / (60 / 3.6))  # maxspeed
    assert net.ferry[arcs[(5, 6)]] and not net.ferry[ab]
    assert net.time_s[arcs[(5, 6)]] == pytest.approx(100.0 / (10 / 3.6), rel=1e-6)
    i = int(np.flatnonzero(net.node_id == 1)[0])
    assert (net.x[i], net.y[i]) == pytest.approx(NODES_RD[1], abs=1e-3)
    assert net.mode == "car"

    call = fake_overpass[0]
    assert '["route"="ferry"]' in call["custom_filter"]
    assert "residential" in call["custom_filter"][0] and "cycleway" not in call["custom_filter"][0]
    assert call["use_cache"] is False and call["all_oneway"] is True
    assert "oneway:bicycle" in call["tags"]
    assert call["overpass_url"] == "http://127.0.0.1:9/api"
    # osmnx's own settings are back as they were
    assert {n: getattr(ox.settings, n) for n in before} == before


def test_bike_and_walk(fake_overpass: list[dict[str, Any]]) -> None:
    settings = Settings(bike_speed_kmh=18.0)
    bike = _arcs(network_from_overpass(AREA_RD, "bike", settings=settings))
    assert set(bike) == {
        (1, 2), (2, 1), (2, 3), (4, 3), (2, 5), (5, 2), (5, 6), (6, 5), (1, 3), (3, 1)
    }  # fmt: skip
    walk_net = network_from_overpass(AREA_RD, "walk")
    walk = _arcs(walk_net)
    two_way = [(1, 2), (2, 3), (3, 4), (4, 1), (2, 5), (5, 6), (1, 3)]
    assert set(walk) == {p for a, b in two_way for p in ((a, b), (b, a))}
    assert walk_net.time_s is not None
    assert walk_net.time_s[walk[(1, 2)]] == pytest.approx(100.0 / (5 / 3.6), rel=1e-6)


def test_cache_folder_and_geodataframe(fake_overpass: list[dict[str, Any]], tmp_path: Any) -> None:
    import geopandas as gpd

    area = gpd.GeoDataFrame(geometry=[AREA_RD], crs="EPSG:28992")
    net = network_from_overpass(area, "car", cache_folder=tmp_path / "osmnx-cache")
    assert net.n_arcs == 8
    assert fake_overpass[0]["use_cache"] is True
    assert ox.settings.cache_folder != str(tmp_path / "osmnx-cache")


def test_errors(fake_overpass: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="mode"):
        overpass_filter("boat")
    with pytest.raises(InputError, match="Polygon"):
        network_from_overpass(AREA_RD.exterior, "car")

    def empty(*_: Any) -> Iterator[dict[str, Any]]:
        yield {"elements": []}

    monkeypatch.setattr(ox._overpass, "_download_overpass_network", empty)
    with pytest.raises(NetworkError, match="Overpass download"):
        network_from_overpass(AREA_RD, "car")
    assert ox.settings.all_oneway is False


@pytest.mark.web
def test_live_overpass_tu_delft(tmp_path: Any) -> None:
    area = box(85200.0, 445900.0, 85700.0, 446400.0)  # around the TU Delft library
    net = network_from_overpass(area, "car", cache_folder=tmp_path)
    assert net.n_arcs > 10
    assert net.x.min() > 84000 and net.x.max() < 87000
    assert net.y.min() > 445000 and net.y.max() < 447500
