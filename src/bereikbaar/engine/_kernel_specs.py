"""The argument types of the engine's compiled kernels: one table for the build and the calls.

:mod:`bereikbaar.engine._kernels` is the source of the kernels (numba). They are
compiled ahead of time when the package is installed (:mod:`bereikbaar.engine._aot`,
run by ``setup.py``) into the extension module ``bereikbaar.engine._kernels_aot``,
one exported function per kernel with exactly the types below; at run time
:mod:`bereikbaar.engine._compiled` calls that function only for arguments of these
types and otherwise the numba JIT version, because an ahead-of-time function does
not check what it is given.

This module imports nothing but the standard library: ``setup.py`` loads it by file
path in the build environment, and the calls check against it without numba.

Codes: ``i4``/``i8``/``f8``/``b1`` a scalar (int32, int64, float64, bool);
a trailing ``[:]`` a C-contiguous 1-d array of that type, ``[:,:]`` 2-d.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple


class KernelSpec(NamedTuple):
    """Argument and result types of one kernel (codes as in the module docstring)."""

    args: tuple[str, ...]
    returns: tuple[str, ...]
    #: values of the trailing arguments that the kernel's signature gives defaults
    defaults: tuple[int | float, ...] = ()


def _spec(args: str, returns: str, defaults: tuple[int | float, ...] = ()) -> KernelSpec:
    """A :class:`KernelSpec` from space-separated codes."""
    return KernelSpec(tuple(args.split()), tuple(returns.split()), defaults)


SPECS: dict[str, KernelSpec] = {
    "multi_source_dijkstra": _spec(
        "i4[:] i4[:] f8[:] i8[:] f8[:] i8[:] i8 f8",
        "f8[:] i4[:]",
        defaults=(12, -1.0),
    ),
    "snap_grid": _spec(
        "f8[:] f8[:] f8 f8 f8 i8 i8 i8[:] f8[:] f8[:] f8[:] f8[:] i4[:] f8 f8"
        " i4[:] f8[:] f8[:] f8[:]",
        "i8[:] f8[:] f8[:]",
    ),
    "segment_stats": _spec("f8[:,:] i8[:] i8[:] f8", "i8[:] f8[:]"),
    "min_csr": _spec(
        "i8[:] i8[:] f8[:] i8",
        "i8[:] i8[:] f8[:]",
    ),
    "twin_arcs": _spec(
        "i8[:] i8[:] i8[:] i8",
        "i8[:]",
    ),
    "hilbert_keys": _spec(
        "i8[:] i8[:] i8",
        "i8[:]",
    ),
    "road_cells": _spec(
        "f8[:,:] i8[:] i8[:] f8 f8[:] f8 b1[:,:]",
        "f8[:]",
    ),
    "grid_segments": _spec(
        "f8[:,:] i8[:] i8[:] f8 f8 f8 f8 i8 i8 i8 i8",
        "i8[:] f8[:] f8[:] f8[:] f8[:] i4[:] f8[:] f8[:] f8[:] i4[:]",
    ),
    "bounded_site_costs": _spec(
        "i4[:] i4[:] f8[:] i8[:] i8[:] f8[:] i8[:] f8[:] f8[:] f8 f8"
        " i8[:] i8[:] i8[:] i8[:] i8[:] i8[:] i8[:] f8[:] f8[:] f8[:] b1[:] b1[:] f8 f8[:] i8[:]",
        "i8[:] i8[:] f8[:]",
    ),
}

#: the extension module the install builds (``bereikbaar.engine.<AOT_MODULE>``)
AOT_MODULE = "_kernels_aot"


def source_digest() -> int:
    """A 60-bit digest of the kernels' source and of this table.

    The build stores it in the compiled module; a module whose digest differs (the
    source was edited after the install) is not used.

    Returns
    -------
    int
        The first 15 hex digits of the SHA-256 of both files, as an integer.
    """
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("_kernels.py", "_kernel_specs.py"):
        h.update((here / name).read_bytes())
    return int(h.hexdigest()[:15], 16)
