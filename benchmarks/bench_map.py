"""Benchmark: the map of a 400,000-cell synthetic country (size of the HTML, first render).

Generates ~400,000 populated 100 m cells over the extent of the Netherlands (towns of
random size plus scattered farms), 1,200 library branches (800 full service), 342 Voronoi
"gemeenten", distances = 1.25 × straight line to the nearest full-service branch, then
writes ``kaart.html`` with :func:`bereikbaar.output.maps.make_map` and opens it in headless Debian
Chromium (Playwright, ``/usr/bin/chromium``) with the network cut off by a dead proxy.

Prints the HTML size, the size of its parts, and the first render time: from navigation
start to the second animation frame after the ``load`` event (median of three fresh pages),
plus when the per-cell hover details are unpacked.

Run: ``python benchmarks/bench_map.py [--cells 400000] [--out /tmp/bench_map]``.
Targets (issue 4): HTML ≤ 15 MB, first render ≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from bereikbaar import output

RD = "EPSG:28992"
X0, X1, Y0, Y1 = 15_000, 275_000, 310_000, 610_000
CHROMIUM = "/usr/bin/chromium"


def synthetic_country(n_cells: int, seed: int = 4) -> tuple[gpd.GeoDataFrame, ...]:
    """Cells, gemeente summary and libraries (EPSG:28992) of a synthetic country."""
    rng = np.random.default_rng(seed)
    n_towns = 2500
    tx = rng.uniform(X0, X1, n_towns)
    ty = rng.uniform(Y0, Y1, n_towns)
    radius = rng.lognormal(np.log(700.0), 0.6, n_towns)
    weight = radius**2 / (radius**2).sum()
    n_town_cells = int(n_cells * 1.35)
    which = rng.choice(n_towns, size=n_town_cells, p=weight)
    r = radius[which] * np.sqrt(rng.random(n_town_cells))
    a = rng.uniform(0, 2 * np.pi, n_town_cells)
    px = np.concatenate([tx[which] + r * np.cos(a), rng.uniform(X0, X1, n_cells // 4)])
    py = np.concatenate([ty[which] + r * np.sin(a), rng.uniform(Y0, Y1, n_cells // 4)])
    ix = np.floor(px / 100).astype(np.int64)
    iy = np.floor(py / 100).astype(np.int64)
    keys = np.unique(ix * 10_000 + iy)
    keys = rng.choice(keys, size=min(n_cells, len(keys)), replace=False)
    ix, iy = keys // 10_000, keys % 10_000
    x, y = ix * 100.0, iy * 100.0

    big = np.argsort(-radius)
    lib_full = big[:800]
    lib_other = big[800:1200]
    lx = np.concatenate([tx[lib_full], tx[lib_other]]) + 13.0
    ly = np.concatenate([ty[lib_full], ty[lib_other]]) + 17.0
    lib_ids = [f"L{k:04d}" for k in range(len(lx))]
    full = np.arange(len(lx)) < len(lib_full)
    types = np.where(full, "vestiging", rng.choice(["servicepunt", "afhaalpunt"], len(lx)))
    libraries = gpd.GeoDataFrame(
        {
            "library_id": lib_ids,
            "name": [f"Bibliotheek {k}" for k in range(len(lx))],
            "branch_type": types,
            "full_service": full,
            "address": [f"Dorpsstraat {k}" for k in range(len(lx))],
            "postcode": "1234 AB",
        },
        geometry=shapely.points(lx, ly),
        crs=RD,
    )

    tree = cKDTree(np.column_stack([lx[full], ly[full]]))
    d, nearest = tree.query(np.column_stack([x + 50, y + 50]))
    dist = 1.25 * d + rng.normal(0, 100, len(d)).clip(-100, 300)
    reachable = rng.random(len(d)) > 0.01
    pop = rng.integers(5, 400, len(d)).astype(float)
    pop[rng.random(len(d)) < 0.05] = np.nan
    cells = gpd.GeoDataFrame(
        {
            "cell_id": [f"E{i:04d}N{j:04d}" for i, j in zip(ix, iy, strict=True)],
            "population": pop,
            "library_id": np.where(reachable, np.asarray(lib_ids)[nearest], None),
            "distance_m": np.where(reachable, np.maximum(dist, 0.0), np.nan),
            "reachable": reachable,
        },
        geometry=shapely.box(x, y, x + 100, y + 100),
        crs=RD,
    )

    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(X0, X1, 342), rng.uniform(Y0, Y1, 342)])
    )
    box = shapely.box(X0, Y0, X1, Y1)
    polys = [g.intersection(box) for g in shapely.voronoi_polygons(seeds, extend_to=box).geoms]
    centre = shapely.centroid(np.asarray(polys))
    mean_km = rng.uniform(0.5, 7.0, len(polys))
    summary = gpd.GeoDataFrame(
        {
            "gemeentecode": [f"GM{k:04d}" for k in range(len(polys))],
            "gemeentenaam": [f"Gemeente {k}" for k in range(len(polys))],
            "population": 50_000.0,
            "mean_distance_km": mean_km,
            "median_distance_km": mean_km,
            "p90_distance_km": 1.6 * mean_km,
            "population_beyond": 1000.0,
            "share_beyond": 0.02,
            "full_service_libraries": 2,
            "te_groot": mean_km > 5.0,
            "reasons": "gemiddelde afstand groter dan 5 km",
        },
        geometry=polys,
        crs=RD,
    )
    del centre
    return cells, summary, libraries


def render_times(path: Path, runs: int = 3) -> dict[str, float]:
    """Median first-render and hover-ready times (ms) in headless Chromium, network cut."""
    from playwright.sync_api import sync_playwright

    first, ready = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--proxy-server=http://127.0.0.1:9",  # a dead proxy: no network at all
                "--proxy-bypass-list=<-loopback>",
            ],
        )
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=120_000)
            first.append(
                page.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() =>"
                    " requestAnimationFrame(() => r(performance.now()))))"
                )
            )
            page.evaluate("() => window.bereikbaarCells && window.bereikbaarCells.ready")
            ready.append(page.evaluate("performance.now()"))
            if errors:
                raise RuntimeError(f"JavaScript errors: {errors}")
            page.close()
        browser.close()
    return {"first_render_ms": statistics.median(first), "hover_ready_ms": statistics.median(ready)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=400_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_map"))
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    cells, summary, libraries = synthetic_country(args.cells)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    m = output.make_map(cells, summary, libraries)
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    path = output.write_map(m, args.out / "kaart.html")
    t_write = time.perf_counter() - t
    html_text = path.read_text(encoding="utf-8")

    raster = output.rasterize_cells(cells)
    details = output.cell_details(cells, libraries)
    areas = output.catchment_areas(cells, libraries)
    parts = {
        "raster_png_b64_mb": len(raster.to_data_uri()) / 1e6 if raster else 0.0,
        "cell_details_b64_mb": len(details.data) * 4 / 3 / 1e6 if details else 0.0,
        "catchment_geojson_mb": len(areas.to_crs("EPSG:4326").to_json()) / 1e6,
    }
    result: dict[str, object] = {
        "cells": len(cells),
        "libraries": len(libraries),
        "gemeenten": len(summary),
        "html_mb": round(path.stat().st_size / 1e6, 2),
        "html_has_cdn_links": 'cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"' in html_text,
        "parts_mb (approx.)": {k: round(v, 2) for k, v in parts.items()},
        "raster_px": list(raster.indices.shape) if raster else None,
        "hover_poly_degree": details.meta["poly"]["deg"] if details else None,
        "hover_poly_max_error_m": round(details.meta["poly"]["max_error_m"], 3)
        if details
        else None,
        "seconds": {
            "generate": round(t_gen, 1),
            "make_map": round(t_make, 1),
            "write_map": round(t_write, 1),
        },
        "path": str(path),
    }
    if not args.no_browser:
        result.update({k: round(v) for k, v in render_times(path).items()})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
