"""The kernels compiled at install (numba.pycc) against numba's JIT kernels they are built from."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from bereikbaar.engine import _compiled, bounded
from bereikbaar.engine._kernel_specs import SPECS
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.settings import Settings

FORCED = os.environ.get("BEREIKBAAR_KERNELS", "auto") == "jit"


@pytest.fixture
def fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget which module the kernels come from (restored afterwards)."""
    monkeypatch.setattr(_compiled, "_module", [])
    monkeypatch.setattr(_compiled, "_why", [])
    monkeypatch.setattr(_compiled, "_resolved", {})
    yield


@pytest.mark.skipif(FORCED, reason="BEREIKBAAR_KERNELS=jit")
def test_the_install_built_the_compiled_kernels_from_this_source() -> None:
    # `pip install -e .` runs setup.py, which compiles them; a failed build falls back to the
    # JIT silently for users, so the suite is where a broken build shows
    assert _compiled.status() == "aot"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.skipif(FORCED, reason="BEREIKBAAR_KERNELS=jit")
@pytest.mark.filterwarnings("ignore::bereikbaar.exceptions.BereikbaarWarning")  # demo's own
def test_every_compiled_kernel_returns_the_jit_kernels_bits_on_a_whole_run(
    demo_inputs: DemoInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bereikbaar.accessibility import nearest_library, points_xy, snap_to_arcs
    from bereikbaar.sources.cbs_grid import load_cbs_grid
    from bereikbaar.sources.libraries import load_libraries
    from bereikbaar.sources.osm import load_network

    seen: dict[str, int] = {}
    real = _compiled.kernel

    def checked(name: str) -> Callable[..., Any]:
        fast, slow = real(name), _compiled._jit(name)

        def call(*args: Any) -> Any:
            copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
            out = fast(*args)
            assert _same(out, slow(*copies)), name
            # kernels that write into work arrays leave them as the JIT kernel does
            for a, c in zip(args, copies, strict=True):
                assert _same(a, c), name
            seen[name] = seen.get(name, 0) + 1
            return out

        return call

    for module in ("network", "snap", "search", "coverage", "bounded"):
        monkeypatch.setattr(f"bereikbaar.engine.{module}.kernel", checked)
    before = dict(_compiled.CALLS)
    net = load_network(demo_inputs.network)  # prepare(): twins, Hilbert order, CSRs, grid
    cells = load_cbs_grid(demo_inputs.cells)
    libs = load_libraries(demo_inputs.libraries, settings=Settings())
    libs = libs[libs["full_service"]]
    res = nearest_library(net, points_xy(cells, "origins"), libs)
    assert np.isfinite(res["distance_m"]).any()
    xy = points_xy(cells, "origins")[::53]
    sites = snap_to_arcs(net, xy)
    origins = snap_to_arcs(net, points_xy(cells, "origins"))
    costs = bounded.BoundedSearch.build(net, sites, 4_000.0).costs(
        origins, np.arange(len(sites.arc)), method="compiled"
    )
    assert costs.nnz > 0
    assert set(seen) == set(SPECS), f"kernels not exercised: {set(SPECS) - set(seen)}"
    # every call of the run went to the compiled module: its arguments had the declared types
    assert _compiled.CALLS["jit"] == before["jit"]


@pytest.mark.skipif(FORCED, reason="BEREIKBAAR_KERNELS=jit")
def test_arguments_of_other_types_go_to_the_jit_kernel() -> None:
    hilbert = _compiled.kernel("hilbert_keys")
    x = np.array([0, 5, 9, 3], dtype=np.int64)
    y = np.array([7, 1, 9, 3], dtype=np.int64)
    want = hilbert(x, y, 4)
    jit_before = _compiled.CALLS["jit"]
    # int32 columns, a strided view, a float where an int is declared: never handed to the
    # compiled function, which would read them as int64 (it does not check)
    assert np.array_equal(hilbert(x.astype(np.int32), y.astype(np.int32), 4), want)
    wide = np.repeat(x, 2)[::2]
    assert not wide.flags.c_contiguous
    assert np.array_equal(hilbert(wide, y, 4), want)
    assert _compiled.CALLS["jit"] == jit_before + 2
    with pytest.raises(Exception, match=r"(?i)float|typ"):
        hilbert(x, y, 4.5)  # the JIT kernel refuses it, as it always did


def test_defaults_are_filled_in_for_the_compiled_function() -> None:
    spec = SPECS["multi_source_dijkstra"]
    i4, i8, f8 = np.zeros(1, np.int32), np.zeros(0, np.int64), np.zeros(0)
    args = (i4, i4, f8, i8, f8, i8)
    full = _compiled._convert(spec, args)
    assert full is not None and full[6:] == (12, -1.0)
    assert _compiled._convert(spec, (*args, 10))[6:] == (10, -1.0)  # type: ignore[index]
    assert _compiled._convert(spec, args[:5]) is None  # too few


def test_a_module_built_from_another_source_is_not_used(
    fresh_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an editable install whose _kernels.py was edited after the build
    monkeypatch.setattr(_compiled, "source_digest", lambda: -1)
    monkeypatch.delenv("BEREIKBAAR_KERNELS", raising=False)
    status = _compiled.status()
    assert status.startswith("jit: ")
    assert "another source" in status or "no compiled module" in status
    x = np.array([0, 5], dtype=np.int64)
    jit_before = _compiled.CALLS["jit"]
    _compiled.kernel("hilbert_keys")(x, x, 4)
    assert _compiled.CALLS["jit"] == jit_before + 1


def test_the_kernel_choice_is_checked(fresh_lookup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEREIKBAAR_KERNELS", "fast")
    with pytest.raises(ValueError, match="BEREIKBAAR_KERNELS must be"):
        _compiled.status()
    monkeypatch.setattr(_compiled, "_module", [])
    monkeypatch.setenv("BEREIKBAAR_KERNELS", "jit")
    assert _compiled.status() == "jit: BEREIKBAAR_KERNELS=jit"
    monkeypatch.setattr(_compiled, "_module", [])
    monkeypatch.setattr(_compiled, "source_digest", lambda: -1)
    monkeypatch.setenv("BEREIKBAAR_KERNELS", "aot")
    with pytest.raises(ImportError, match="BEREIKBAAR_KERNELS=aot"):
        _compiled.status()


@pytest.mark.skipif(FORCED, reason="BEREIKBAAR_KERNELS=jit")
def test_a_search_with_the_compiled_kernels_never_imports_numba(demo_inputs: DemoInputs) -> None:
    code = (
        "import sys\n"
        "from bereikbaar.accessibility import nearest_library, points_xy\n"
        "from bereikbaar.settings import Settings\n"
        "from bereikbaar.sources.cbs_grid import load_cbs_grid\n"
        "from bereikbaar.sources.libraries import load_libraries\n"
        "from bereikbaar.sources.osm import load_network\n"
        f"net = load_network({str(demo_inputs.network)!r})\n"
        f"cells = load_cbs_grid({str(demo_inputs.cells)!r})\n"
        f"libs = load_libraries({str(demo_inputs.libraries)!r}, settings=Settings())\n"
        "res = nearest_library(net, points_xy(cells, 'origins'), libs[libs['full_service']])\n"
        "assert res['distance_m'].notna().any()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'numba', 'llvmlite'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "[]", out.stdout
