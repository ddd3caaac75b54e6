"""The engine's kernels as the stages call them: ahead-of-time compiled, else numba's JIT.

:func:`kernel` returns the function to call for a kernel of
:mod:`bereikbaar.engine._kernels`. When the install built the extension module
``bereikbaar.engine._kernels_aot`` (:mod:`bereikbaar.engine._aot`) from the source
that is next to it, that module's function is used: no numba import, no compilation.
Its arguments are checked against :data:`~bereikbaar.engine._kernel_specs.SPECS`
first (dtype, dimensions, C order), because an ahead-of-time function trusts what it
is given; arguments of any other type go to the JIT kernel, which compiles for them.
Without the module (no C compiler at install, an edited kernel, or
``BEREIKBAAR_KERNELS=jit``) every call goes to the JIT kernels, as before.

``BEREIKBAAR_KERNELS``: ``auto`` (default), ``jit`` (never the compiled module) or
``aot`` (the compiled module is required: an error if it cannot be used).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any

import numpy as np

from ._kernel_specs import AOT_MODULE, SPECS, KernelSpec, source_digest

#: calls made so far, by where they went (``aot`` or ``jit``); for tests and benchmarks
CALLS: dict[str, int] = {"aot": 0, "jit": 0}

_DTYPES = {"i4": np.dtype(np.int32), "i8": np.dtype(np.int64), "f8": np.dtype(np.float64)}
_DTYPES["b1"] = np.dtype(np.bool_)
_resolved: dict[str, Callable[..., Any]] = {}
_module: list[ModuleType | None] = []  # [] until looked up, then [module or None]
_why: list[str] = []


def _aot_module() -> ModuleType | None:
    """The compiled module if it may be used, else None (the reason in :func:`status`)."""
    if _module:
        return _module[0]
    choice = os.environ.get("BEREIKBAAR_KERNELS", "auto").strip().lower()
    if choice not in {"auto", "jit", "aot"}:
        msg = f"BEREIKBAAR_KERNELS must be 'auto', 'jit' or 'aot', got {choice!r}"
        raise ValueError(msg)
    mod: ModuleType | None = None
    if choice == "jit":
        _why.append("BEREIKBAAR_KERNELS=jit")
    else:
        try:
            mod = import_module(f"{__package__}.{AOT_MODULE}")
        except ImportError as exc:
            _why.append(f"no compiled module ({exc})")
        else:
            if mod.source_digest() != source_digest():
                _why.append("compiled module built from another source of _kernels.py")
                mod = None
        if mod is None and choice == "aot":
            msg = f"BEREIKBAAR_KERNELS=aot, but the compiled kernels cannot be used: {_why[-1]}"
            raise ImportError(msg)
    _module.append(mod)
    return mod


def status() -> str:
    """Where kernel calls go: ``"aot"``, or ``"jit: <reason>"``.

    Returns
    -------
    str
        ``"aot"`` when the ahead-of-time module is used, else ``"jit: "`` and why not.
    """
    return "aot" if _aot_module() is not None else f"jit: {_why[-1]}"


def _jit(name: str) -> Callable[..., Any]:
    """The numba JIT kernel (imports numba; compiles on the first call, or loads its cache)."""
    fn: Callable[..., Any] = getattr(import_module(f"{__package__}._kernels"), name)
    return fn


def _convert(spec: KernelSpec, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """``args`` (defaults filled in) as the compiled function takes them, or None."""
    n = len(spec.args)
    if len(args) < n - len(spec.defaults) or len(args) > n:
        return None
    args = args + spec.defaults[len(spec.defaults) - (n - len(args)) :] if len(args) < n else args
    out: list[Any] = []
    for code, a in zip(spec.args, args, strict=True):
        base, _, dims = code.partition("[")
        if dims:
            if not (
                isinstance(a, np.ndarray)
                and a.dtype == _DTYPES[base]
                and a.ndim == dims.count(":")
                and a.flags.c_contiguous
            ):
                return None
            out.append(a)
        elif base == "i8" and isinstance(a, int | np.integer) and not isinstance(a, bool):
            out.append(int(a))
        elif base == "f8" and isinstance(a, float | int | np.floating | np.integer):
            out.append(float(a))
        else:
            return None
    return tuple(out)


def kernel(name: str) -> Callable[..., Any]:
    """The function to call for kernel ``name`` of :mod:`bereikbaar.engine._kernels`.

    Parameters
    ----------
    name : str
        A key of :data:`~bereikbaar.engine._kernel_specs.SPECS`.

    Returns
    -------
    Callable
        Same arguments and results as the JIT kernel: the compiled module's function
        for arguments of the declared types, the JIT kernel for any others.
    """
    fn = _resolved.get(name)
    if fn is not None:
        return fn
    spec = SPECS[name]
    mod = _aot_module()
    if mod is None:
        jit = _jit(name)

        def call_jit(*args: Any) -> Any:
            CALLS["jit"] += 1
            return jit(*args)

        fn = call_jit
    else:
        fast = getattr(mod, name)

        def call(*args: Any) -> Any:
            converted = _convert(spec, args)
            if converted is None:
                CALLS["jit"] += 1
                return _jit(name)(*args)
            CALLS["aot"] += 1
            return fast(*converted)

        fn = call
    _resolved[name] = fn
    return fn
