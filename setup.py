"""Install hook: the engine's kernels compiled ahead of time (everything else is in pyproject.toml).

``bereikbaar.engine._kernels_aot`` is built by numba.pycc from
``src/bereikbaar/engine/_kernels.py`` (see ``src/bereikbaar/engine/_aot.py``). When it
cannot be built (no C compiler, a numba without pycc), the install goes on without it
and the package compiles the kernels with numba's JIT at first use, as before.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
AOT = "bereikbaar.engine._kernels_aot"


def _builder() -> Any:
    """``src/bereikbaar/engine/_aot.py``, imported by path (the package is not installed yet)."""
    path = ROOT / "src" / "bereikbaar" / "engine" / "_aot.py"
    spec = importlib.util.spec_from_file_location("_bereikbaar_aot", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class BuildKernels(build_ext):
    """build_ext that compiles the kernels with numba.pycc, and never fails the install."""

    def build_extension(self, ext: Extension) -> None:
        if ext.name != AOT:
            super().build_extension(ext)
            return
        target = Path(self.get_ext_fullpath(ext.name))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                built = _builder().build(Path(tmp))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(built, target)
        except Exception as exc:
            print(
                f"bereikbaar: compiled kernels not built ({type(exc).__name__}: {exc}); "
                "they will be compiled by numba at first use",
                file=sys.stderr,
            )


# optional: an editable install copies the module into src/ only when it was built
setup(
    ext_modules=[Extension(AOT, sources=[], optional=True)],
    cmdclass={"build_ext": BuildKernels},
)
