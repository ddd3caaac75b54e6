"""Ahead-of-time build of the engine's kernels (run at install by ``setup.py``).

The kernels of :mod:`bereikbaar.engine._kernels` are compiled with numba's
``numba.pycc`` into one extension module, ``bereikbaar.engine._kernels_aot``, with the
signatures of :mod:`bereikbaar.engine._kernel_specs`, so that the first run after an
install does not spend ~12 s of CPU compiling them with the JIT (measured in
``benchmarks/bench_cold.py``, part ``compile``). The module holds generic x86-64 (or
aarch64) code: a wheel built on one machine runs on another of the same family.

Two choices differ from ``numba.pycc``'s defaults:

* the exported functions release the GIL, as the JIT kernels do (``nogil=True``):
  the length and time searches run on two threads at once;
* the module exports ``source_digest()``, the digest of the source it was built
  from; :mod:`bereikbaar.engine._compiled` uses the module only while that digest
  matches the source next to it (an edited source falls back to the JIT).

Run ``python -m bereikbaar.engine._aot`` to rebuild it next to the source (after
editing a kernel in an editable install).

``numba.pycc`` is pending deprecation in numba; when numba drops it, the build
fails, ``setup.py`` says so, and the package runs on the JIT kernels as before.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).parent


def _load(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``name`` without importing the package around it."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def build(out_dir: Path, *, verbose: bool = False) -> Path:
    """Compile every kernel ahead of time into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder that receives the extension module (created if missing).
    verbose : bool, default False
        Print numba's and the C compiler's steps.

    Returns
    -------
    pathlib.Path
        The built extension module (``_kernels_aot.<platform tag>.so``).

    Raises
    ------
    ImportError
        numba (or its ``pycc``) is not available.
    Exception
        Whatever numba or the C compiler raise; the caller decides whether the
        install goes on without the module.
    """
    # the JIT caches of the helpers typed on the way go to a scratch folder, not
    # next to the source (only effective before numba's first import)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="bereikbaar-numba-"))
    # numba's build API is untyped: held as Any
    types: Any = import_module("numba").types
    pycc_compiler: Any = import_module("numba.pycc.compiler")
    flags_base: Any = import_module("numba.core.compiler").Flags
    cc_class: Any = import_module("numba.pycc").CC

    specs = _load("_bereikbaar_kernel_specs", HERE / "_kernel_specs.py")
    kernels = _load("_bereikbaar_kernels", HERE / "_kernels.py")

    class _NoGilFlags(flags_base):  # type: ignore[misc]
        """pycc's flags with the GIL released in the exported wrappers."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    scalar = {"i4": types.int32, "i8": types.int64, "f8": types.float64, "b1": types.boolean}

    def typ(code: str) -> Any:
        base, _, dims = code.partition("[")
        if not dims:
            return scalar[base]
        return types.Array(scalar[base], dims.count(":"), "C")

    def result(codes: tuple[str, ...]) -> Any:
        return typ(codes[0]) if len(codes) == 1 else types.Tuple([typ(c) for c in codes])

    cc = cc_class(specs.AOT_MODULE)
    cc.output_dir = str(out_dir)
    cc.verbose = verbose
    for name, spec in specs.SPECS.items():
        dispatcher = getattr(kernels, name)
        sig = result(spec.returns)(*[typ(c) for c in spec.args])
        cc.export(name, sig)(dispatcher.py_func)
    namespace: dict[str, object] = {}
    exec(f"def source_digest():\n    return {specs.source_digest()}\n", namespace)
    cc.export("source_digest", "i8()")(namespace["source_digest"])
    out_dir.mkdir(parents=True, exist_ok=True)
    original = pycc_compiler.Flags
    pycc_compiler.Flags = _NoGilFlags
    try:
        cc.compile()
    finally:
        pycc_compiler.Flags = original
    built = sorted(out_dir.glob(f"{specs.AOT_MODULE}.*"))
    if not built:
        msg = f"numba.pycc wrote no {specs.AOT_MODULE} module into {out_dir}"
        raise RuntimeError(msg)
    return built[0]


if __name__ == "__main__":  # pragma: no cover - a developer's rebuild
    print(build(HERE, verbose="-v" in sys.argv))
