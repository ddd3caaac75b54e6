"""Shared fixtures: the one way tests reach the real data in ../shared/data."""

from __future__ import annotations

import pathlib

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
