"""Shared fixtures: the one way tests reach the real data in ../shared/data, and the demo region.

The demo region is generated once per session (:func:`demo_inputs`) and run once
(:func:`demo_run`); a test that changes input files works on a copy (:func:`demo_copy`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import pathlib
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, settings

from bereikbaar.engine.network import Network
from bereikbaar.examples.demo import DemoInputs, write_demo_inputs
from bereikbaar.pipeline import run
from bereikbaar.result import RunResult
from bereikbaar.settings import Settings


def pytest_configure(config: pytest.Config) -> None:
    """SIGINT interrupts, as in a terminal, even when the suite was started in the background.

    A shell without job control starts a background command (``pytest ... &``) with SIGINT
    ignored, and Python keeps it ignored: the kill tests' SIGINT then did nothing (a run
    finished, exit 0), which failed ``test_atomic`` and let ``test_atomic_set`` count an
    ignored SIGINT as "came during the commit". With Python's handler here, forked children
    inherit it and executed ones start with the default (Python installs its handler).
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): one worker per core and one more.

    About 20 s of the suite waits rather than computes (servers on loopback that trickle or
    stall until a deadline, Chromium and kernel start-up, fsync): a third worker on a 2-core
    machine fills that time (4 December, 2 cores: median 92 s with 3 workers, 96 s with 2,
    157 s in one process). The cores are those this process may run on (a container's, not
    the host's), at most 8 workers (memory); ``PYTEST_XDIST_AUTO_NUM_WORKERS`` or ``-n N`` on
    the command line still win.
    """
    env = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    if env.isdigit():
        return int(env)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min((usable or 1) + 1, 8)


# Machines are noisy (2 cores shared with other jobs): no per-example deadline, no
# too-slow health check. Example counts stay as each test sets them (>= 200 where it matters).
settings.register_profile("bereikbaar", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bereikbaar")


@pytest.fixture(autouse=True)
def _pdf_only_where_checked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs in a test print no ``rapport.pdf`` (Chromium, ~2-3 s a run) unless it is marked ``pdf``.

    The PDF is checked where it is marked: ``test_browser`` (the printed pages) and
    ``test_atomic_set`` (the PDF is part of the atomic set; a delayed kill may kill Chromium's
    parent; its other runs print with a stand-in for Chromium that takes the same file-system
    calls). Session and module fixtures (``demo_run``) are set up before this patch and print
    it as a user's run does. Runs in a subprocess (the CLI) are not affected.
    """
    if request.node.get_closest_marker("pdf") is not None:
        return
    from bereikbaar import pipeline

    real = pipeline.write_dossier

    def without_pdf(*args: Any, **kwargs: Any) -> pathlib.Path:
        return real(*args, **{**kwargs, "pdf": False})

    monkeypatch.setattr(pipeline, "write_dossier", without_pdf)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """Folder with the real public data (CBS, OSM, NWB, PDOK); skip when absent."""
    p = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not p.is_dir():
        pytest.skip("../shared/data not present (a fresh user machine)")
    return p.resolve()


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoInputs]:
    """The demo region's input files, written once per session. Read only: see :func:`demo_copy`.

    At the end of the session the files are checked to be unchanged, so a test that edits them
    in place (and would change what later tests see) fails loudly.
    """
    inputs = write_demo_inputs(tmp_path_factory.mktemp("demo-inputs"))
    before = _digests(inputs.config.parent)
    yield inputs
    assert _digests(inputs.config.parent) == before, "a test changed the shared demo inputs"


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _copy_demo(inputs: DemoInputs, folder: pathlib.Path) -> DemoInputs:
    src = inputs.config.parent
    shutil.copytree(src, folder, dirs_exist_ok=True)
    return dataclasses.replace(
        inputs,
        network=folder / inputs.network.relative_to(src),
        cells=folder / inputs.cells.relative_to(src),
        libraries=folder / inputs.libraries.relative_to(src),
        gemeenten=folder / inputs.gemeenten.relative_to(src),
        config=folder / inputs.config.relative_to(src),
    )


@pytest.fixture(scope="session")
def demo_copy(demo_inputs: DemoInputs) -> Callable[[pathlib.Path], DemoInputs]:
    """A function that copies the demo inputs into a folder, for a test that changes them.

    The copy is what :func:`bereikbaar.examples.demo.write_demo_inputs` would write there
    (same files, same relative paths in ``demo.toml``), without generating them again.
    """
    return lambda folder: _copy_demo(demo_inputs, pathlib.Path(folder))


@pytest.fixture(scope="session")
def demo_run(
    demo_inputs: DemoInputs, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunResult, pathlib.Path]:
    """The demo run, once per session, as :func:`bereikbaar.examples.demo.run_demo` makes it.

    Returns the result and a root folder holding ``raw/`` (the inputs) and ``out/`` (the
    outputs). Read only: tests that write put their files in their own ``tmp_path``.
    """
    root = tmp_path_factory.mktemp("demo-run")
    inputs = _copy_demo(demo_inputs, root / "raw")
    settings = dataclasses.replace(Settings.from_toml(inputs.config), out_dir=root / "out")
    return run(settings, demo=True), root


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


# ---------------------------------------------------------------- small networks (coverage tests)


def _lattice(x0: float, x1: float, y0: float, y1: float, step: float) -> Network:
    """A two-way street lattice with ``step`` m blocks (straight arcs)."""
    xs = np.arange(x0, x1 + 1e-9, step)
    ys = np.arange(y0, y1 + 1e-9, step)
    gx, gy = np.meshgrid(xs, ys)
    nid = np.arange(gx.size).reshape(gx.shape)
    pairs = [
        np.column_stack([nid[:, :-1].ravel(), nid[:, 1:].ravel()]),
        np.column_stack([nid[:-1, :].ravel(), nid[1:, :].ravel()]),
    ]
    e = np.concatenate(pairs)
    u = np.concatenate([e[:, 0], e[:, 1]]).astype(np.int64)
    v = np.concatenate([e[:, 1], e[:, 0]]).astype(np.int64)
    return Network(
        x=gx.ravel().astype(float),
        y=gy.ravel().astype(float),
        u=u,
        v=v,
        length_m=np.full(len(u), float(step)),
    )


def _library_at(points: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"library_id": [f"L{i}" for i in range(len(points))], "full_service": True},
        geometry=[shapely.Point(p) for p in points],
        crs="EPSG:28992",
    )


@pytest.fixture(scope="session")
def street_lattice() -> Callable[..., Network]:
    """``street_lattice(x0, x1, y0, y1, step)``: a two-way street lattice (straight arcs, RD)."""
    return _lattice


@pytest.fixture(scope="session")
def libraries_at() -> Callable[[list[tuple[float, float]]], gpd.GeoDataFrame]:
    """``libraries_at([(x, y), ...])``: full-service branches ``L0, L1, …`` at RD points."""
    return _library_at
