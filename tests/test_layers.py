"""The layout is enforced: the import-linter layers contract, and no private names across modules.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``); ``docs/architecture.md``
explains the layers. A sideways or upward import (``engine`` importing ``sources``, ``output``
importing ``pipeline``) fails here.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bereikbaar"
ROOT = SRC.parents[1]


def test_layers_contract_holds() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    out = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(SRC.parent), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _is_module(path: Path, node: ast.ImportFrom, name: str) -> bool:
    """Whether ``from <node.module> import name`` imports a submodule (allowed) or a name."""
    base = path.parent
    for _ in range(node.level - 1):
        base = base.parent
    if node.level == 0:
        base = SRC.parent
    target = base.joinpath(*(node.module or "").split(".")) / name
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0 and not (node.module or "").startswith("bereikbaar"):
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and not _is_module(path, node, alias.name):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.module}.{alias.name}")
    return found


def test_no_private_names_across_modules() -> None:
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in _private_imports(path)]
    assert found == []
