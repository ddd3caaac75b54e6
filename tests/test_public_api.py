"""The public API: one list of names (``__init__.pyi``), imported lazily, all resolvable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bereikbaar

STUB = Path(bereikbaar.__file__).with_suffix(".pyi")


def _stub_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.parse(STUB.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"bereikbaar.{node.module}"
    return names


def test_all_is_the_stub() -> None:
    assert sorted(bereikbaar.__all__) == sorted(_stub_names())
    assert len(set(bereikbaar.__all__)) == len(bereikbaar.__all__)


def test_every_name_resolves_to_its_home() -> None:
    for name, module in _stub_names().items():
        value = getattr(bereikbaar, name)
        home = getattr(value, "__module__", None)
        if home is not None and not isinstance(value, str | tuple | dict):
            # defined in the module the stub names, or re-exported there from its one home
            assert getattr(sys.modules[module], name) is value, name


def test_import_loads_no_stage() -> None:
    code = (
        "import sys, bereikbaar\n"
        "heavy = [m for m in ('folium', 'numba', 'scipy', 'geopandas', 'pandas', 'mapclassify',"
        " 'dask', 'osmium') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        bereikbaar.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("no AttributeError")
