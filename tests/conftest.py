"""Shared fixtures: the one way tests reach the real data in ../shared/data."""

from __future__ import annotations

import pathlib

import pytest


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """Folder with the real public data (CBS, OSM, NWB, PDOK); skip when absent."""
    p = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not p.is_dir():
        pytest.skip("../shared/data not present (a fresh user machine)")
    return p.resolve()
