"""Deprecated import path, kept for one release: use bereikbaar.engine.network."""

from __future__ import annotations

from .engine.network import FloatArray, IntArray, Network, Weight, hilbert_index

__all__ = ["FloatArray", "IntArray", "Network", "Weight", "hilbert_index"]
