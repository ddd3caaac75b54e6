"""Static checks of notebooks/*.ipynb (nbmake executes them; see pyproject's addopts).

Notebooks are stored without outputs, call only the public API (``import bereikbaar as bb``,
names from ``bb.__all__``), define no functions or classes, and switch from the demo region to
real data through one ``CONFIG`` variable in their first code cell.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

import bereikbaar as bb

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = (
    "01_bronnen.ipynb",
    "02_bereikbaarheid.ipynb",
    "03_gemeenten_en_vlaggen.ipynb",
    "04_kaarten.ipynb",
)


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_four_notebooks_exist() -> None:
    assert [p.name for p in _notebooks()] == list(EXPECTED)


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_stripped_and_uses_public_api(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code_cells:
        assert cell.outputs == [], f"{path.name}: cell {cell.get('id')} has outputs"
        assert cell.execution_count is None, f"{path.name}: cell {cell.get('id')} was executed"
    assert code_cells[0].source.splitlines()[-1] == "CONFIG = None"
    assert "import bereikbaar as bb" in "\n".join(c.source for c in code_cells)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert markdown.startswith("# ") and " de " in markdown  # a Dutch narrative
    for cell in code_cells:
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ), f"{path.name}: defines a function or class"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "bb"
            ):
                assert node.attr in bb.__all__, f"{path.name}: bb.{node.attr} is not public"
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("bereikbaar"), path.name


@pytest.mark.parametrize(
    "name", ["02_bereikbaarheid.ipynb", "03_gemeenten_en_vlaggen.ipynb", "04_kaarten.ipynb"]
)
def test_analytic_notebooks_draw_charts(name: str) -> None:
    """Each analytic notebook shows its numbers as matplotlib charts, not only as tables
    (nbmake executes them; every ``plt.show()`` then is an image output)."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import matplotlib.pyplot as plt" in code
    assert code.count("plt.show()") >= 1
    assert code.count("plt.subplots(") == code.count("plt.show()")
