"""Property tests (hypothesis, ≥ 200 examples each) for the parsers and the engine.

Parsers: any input either parses or raises the documented error, never another exception
(a traceback for a user). The engine properties that already live next to their modules are
reused, not repeated: network distance ≥ straight line (tests/test_accessibility.py) and
aggregation preserves population (tests/test_aggregate.py) run 200 examples there; the
engine == networkx property is run here under hypothesis with the helpers of
tests/test_accessibility.py.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bereikbaar.accessibility import nearest_library
from bereikbaar.exceptions import BereikbaarWarning, ConfigError, InputError
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import cell_codes_to_squares, point_to_cell_code
from bereikbaar.sources.libraries import COLUMN_ALIASES, load_libraries

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sibling(name: str) -> ModuleType:
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_fuzz_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- cell codes
_code_chars = st.sampled_from("EN0123456789 en-_.,;xX\u00a0\u0660٣")


@FUZZ
@given(
    codes=st.lists(
        st.one_of(st.text(_code_chars, max_size=14), st.text(max_size=12)), min_size=1, max_size=5
    ),
    res=st.sampled_from([100, 500]),
)
def test_cell_code_parser_parses_or_raises_value_error(codes: list[str], res: int) -> None:
    try:
        squares = cell_codes_to_squares(codes, res)
    except ValueError as err:
        assert "at position" in str(err)
        return
    for code, square in zip(codes, squares, strict=True):
        x0, y0, x1, y1 = square.bounds
        assert (x1 - x0, y1 - y0) == (res, res)
        assert point_to_cell_code(x0 + res / 2, y0 + res / 2, res) == code.strip().upper()


@FUZZ
@given(e=st.integers(0, 9999), n=st.integers(0, 9999), res=st.sampled_from([100, 500]))
def test_well_formed_codes_map_to_their_corner(e: int, n: int, res: int) -> None:
    code = f"E{e:04d}N{n:04d}"
    on_grid = (e * 100) % res == 0 and (n * 100) % res == 0
    if not on_grid:
        with pytest.raises(ValueError, match="at position 0"):
            cell_codes_to_squares([code], res)
        return
    (square,) = cell_codes_to_squares([code], res)
    assert square.bounds == (e * 100.0, n * 100.0, e * 100.0 + res, n * 100.0 + res)


# --------------------------------------------------------------------------- branch lists
_HEADERS = [aliases[0] for aliases in COLUMN_ALIASES.values()] + ["naam", "soort", "opmerking"]
_cell = st.one_of(
    st.sampled_from(
        [
            "Vestiging",
            "servicepunt",
            "Hoofdvestiging",
            "BoS",
            "52.1",
            "4.3",
            "52,1",
            "155000",
            "463000",
            "",
            "1234 AB",
            "GM0363",
            "-99997",
            "nan",
            "inf",
            '"',
            "=1+1",
            "1e400",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def branch_lists(draw: Callable[..., Any]) -> bytes:
    sep = draw(st.sampled_from([";", ",", "\t", "|"]))
    header = draw(st.lists(st.sampled_from(_HEADERS), min_size=0, max_size=7))
    rows = draw(st.lists(st.lists(_cell, min_size=0, max_size=8), max_size=6))
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    text = "\n".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(data=branch_lists())
def test_branch_list_loader_parses_or_raises_input_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lijst.csv"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BereikbaarWarning)
            try:
                out = load_libraries(path)
            except InputError as err:
                assert "lijst.csv" in str(err)
                return
    assert out.crs is not None and out.crs.to_epsg() == 28992
    assert out["library_id"].is_unique and len(out) >= 1
    geoms = out.geometry[~out.geometry.isna()]
    assert ((geoms.x >= 0) & (geoms.x <= 300_000) & (geoms.y >= 289_000)).all()


# --------------------------------------------------------------------------- config
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["car", "bike", "walk", "GM0363", "Utrecht", ".", "/nonexistent"]),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["threshold_km", "x", "network", "motorway"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)
_keys = st.sampled_from(
    [
        "mode",
        "out_dir",
        "inputs",
        "flag_rule",
        "max_snap_m",
        "study_area",
        "study_buffer_m",
        "car_speeds_kmh",
        "full_service_types",
        "bike_speed_kmh",
        "dask_scheduler",
        "pdok_url",
        "onbekend",
    ]
)


@FUZZ
@given(data=st.dictionaries(_keys, _value, max_size=5))
def test_config_from_dict_parses_or_raises_config_error(data: dict[str, Any]) -> None:
    try:
        result = Settings.from_dict(data, source="fuzz.toml")
    except ConfigError as err:
        assert "fuzz.toml" in str(err) or "must" in str(err)
        return
    assert isinstance(result, Settings)
    assert result.mode in ("car", "bike", "walk")


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.sampled_from(
            [
                'mode = "car"\n[inputs]\n',
                "[flag_rule]\nthreshold_km = 0\n",
                "study_area = [1]\n",
                "x = 1979-05-27\n",
            ]
        ),
    )
)
def test_config_from_toml_parses_or_raises_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            Settings.from_toml(path)
        except ConfigError as err:
            assert "run.toml" in str(err)


# --------------------------------------------------------------------------- the engine
_acc = _sibling("test_accessibility")


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_engine_equals_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    m = int(rng.integers(1, 3 * n))
    net, g = _acc.random_network(rng, n, m, stretch=False)
    touched = np.unique(np.concatenate([net.u, net.v]))
    if len(touched) < 2:
        return
    lib_nodes = rng.choice(touched, size=min(len(touched), int(rng.integers(1, 4))), replace=False)
    libs = _acc.libs_at([(net.x[i], net.y[i]) for i in lib_nodes])
    origins = np.column_stack([net.x[touched], net.y[touched]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        res = nearest_library(net, origins, libs, core_only=False)
    ref = _acc.reference(g, [int(i) for i in lib_nodes])
    expected = np.array([ref.get(int(i), np.nan) for i in touched])
    got = res["distance_m"].to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
