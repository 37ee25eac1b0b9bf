"""The runs behind ``kl_backends.testing.check_backends``: one per target and dtype.

A run converts the floating arrays among the arguments to the target, calls
the user's function (with ``xp=``, the target's array-API namespace, when the
function takes an ``xp`` keyword), and judges every output against the
reference computed from the very values the target held.

A backend whose arrays array-api-compat does not know (TensorFlow, served by
kl_backends' own adapter) is checked too.  When the function raises there and
that backend was not named explicitly (only ``"all"`` or the default selected
it), the row is skipped, not failed, and its message says how to include it:
get the namespace with ``kl_backends.testing.array_namespace`` or take an
``xp`` keyword, then name the backend.  Named explicitly, the row fails, with
the same advice.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kl_backends._dispatch import backend_of
from kl_backends.backends import BACKENDS, ENV_VAR
from kl_backends.parity.compare import compare
from kl_backends.parity.report import Agreement

__all__ = ["Check", "named_backends", "run_one", "takes_xp"]


@dataclass(frozen=True)
class Check:
    """One ``check_backends`` call: the function, its float64 arguments, the reference.

    ``xp``: pass the target's namespace as ``xp=`` (the function takes that
    keyword); ``named``: the backends selected by name, whose failures are
    never skipped.
    """

    fn: Callable[..., Any]
    args64: tuple[Any, ...]
    kwargs: dict[str, Any]
    reference: Any
    rtol: float | None
    atol: float | None
    xp: bool = False
    named: frozenset[str] = frozenset()


def takes_xp(fn: Any) -> bool:
    """Whether ``fn`` accepts an ``xp`` keyword argument (a named parameter ``xp``)."""
    try:
        parameter = inspect.signature(fn).parameters.get("xp")
    except (TypeError, ValueError):  # builtins and other callables without a signature
        return False
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return parameter is not None and parameter.kind in kinds


def named_backends(targets: Any) -> frozenset[str]:
    """The backends that ``targets`` (or ``$KL_BACKENDS`` for ``None``) names by name.

    ``"all"`` and the default name none of them.
    """
    if targets is None:
        targets = os.environ.get(ENV_VAR, "")
    if isinstance(targets, str):
        entries = [n.strip() for n in targets.split(",")]
    else:
        entries = [getattr(t, "backend", None) or str(t) for t in targets]
    return frozenset(e.partition(":")[0] for e in entries if e and e != "all")


@functools.cache
def _compat_knows(backend: str) -> bool:
    """Whether array-api-compat finds a namespace for ``backend``'s arrays."""
    import array_api_compat

    impl = BACKENDS[backend]
    sample = impl.asarray(np.zeros(1), impl.dtypes[0], impl.devices()[0])
    return bool(array_api_compat.is_array_api_obj(sample))


def _advice(fn: Any, backend: str) -> str:
    name = getattr(fn, "__name__", "the function")
    return (
        f"array-api-compat has no namespace for {backend} arrays: in {name}, take the "
        "namespace from kl_backends.testing.array_namespace(...) or from an `xp` keyword "
        f"argument, then name {backend} in targets (CLI: --backends {backend}) to check it"
    )


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def _outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _failed(target: Any, dtype: str, message: str) -> Agreement:
    return Agreement(target.id, dtype, False, np.inf, np.inf, "-", message)


def run_one(check: Check, target: Any, dtype: str) -> Agreement:
    """``check`` on ``target`` (a ``kl_backends.testing.Target``) in ``dtype``: one row."""
    try:
        results = _results(check, target, dtype)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        if _compat_knows(target.backend):
            return _failed(target, dtype, message)
        advice = _advice(check.fn, target.backend)
        if target.backend in check.named:
            return _failed(target, dtype, f"{message} ({advice})")
        return Agreement(
            target.id, dtype, True, np.nan, np.nan, "-", f"left out: {message}; {advice}", "-", True
        )
    if isinstance(results, str):
        return _failed(target, dtype, results)
    got, expected = results
    if len(got) != len(expected):
        return _failed(target, dtype, f"{len(got)} outputs, reference has {len(expected)}")
    return _judge(got, expected, target, dtype, check)


def _results(check: Check, target: Any, dtype: str) -> str | tuple[list[Any], list[Any]]:
    """``fn``'s outputs on ``target`` and the reference's, as float64 NumPy; or why not."""
    args64, kwargs, reference = check.args64, check.kwargs, check.reference
    converted = [target.asarray(a, dtype) if _is_array(a) else a for a in args64]
    held = [target.to_numpy(c) if _is_array(a) else a for a, c in zip(args64, converted)]
    xp = {"xp": target.namespace} if check.xp else {}
    outputs = _outputs(check.fn(*converted, **kwargs, **xp))
    foreign = _foreign(outputs, target) if any(_is_array(a) for a in args64) else None
    if foreign is not None:
        return foreign
    got = [target.to_numpy(o) for o in outputs]
    numpy_xp = {"xp": BACKENDS["numpy"].xp}
    if reference is None:
        expected = _outputs(check.fn(*held, **kwargs, **(numpy_xp if check.xp else {})))
    elif callable(reference):
        expected = _outputs(reference(*held, **kwargs, **(numpy_xp if takes_xp(reference) else {})))
    else:
        expected = _outputs(reference)
    return got, [np.asarray(e, dtype=np.float64) for e in expected]


def _judge(
    got: Sequence[Any], expected: Sequence[Any], target: Any, dtype: str, check: Check
) -> Agreement:
    """Compare each output; the first that fails decides, else the worst errors are reported."""
    max_abs, max_rel, worst_where = 0.0, 0.0, "-"
    judged, used = "-", -1.0
    for k, (g, e) in enumerate(zip(got, expected)):
        cmp = compare(g, e, dtype, rtol=check.rtol, atol=check.atol)
        where = _where(g, e, k, len(got))
        if not cmp.ok:
            return Agreement(
                target.id,
                dtype,
                False,
                cmp.max_abs,
                cmp.max_rel,
                where,
                cmp.message,
                cmp.describe(),
            )
        if cmp.max_abs >= max_abs:
            max_abs, max_rel, worst_where = cmp.max_abs, max(max_rel, cmp.max_rel), where
        if cmp.used > used:
            judged, used = cmp.describe(), cmp.used
    return Agreement(target.id, dtype, True, max_abs, max_rel, worst_where, "", judged)


def _foreign(outputs: list[Any], target: Any) -> str | None:
    """Why the outputs are not ``target``'s arrays (they left its library), or ``None``."""
    names = set()
    for out in outputs:
        backend = backend_of(out)
        if backend is not None and backend.name != target.backend:
            names.add(backend.name)
    if not names:
        return None
    return (
        f"result came back as {', '.join(sorted(names))} arrays for {target.backend} "
        "inputs (it left the library: no device, jit or autodiff there)"
    )


def _where(got: np.ndarray, ref: np.ndarray, k: int, n: int) -> str:
    prefix = f"output {k} " if n > 1 else ""
    if got.shape != ref.shape or got.size == 0:
        return prefix + "-"
    with np.errstate(invalid="ignore"):
        err = np.abs(got - ref)
    mismatch = np.isnan(got) != np.isnan(ref)
    err = np.where(mismatch, np.inf, np.nan_to_num(err, nan=0.0, posinf=np.inf))
    index = np.unravel_index(int(np.argmax(err)), got.shape)
    return prefix + (str(tuple(int(i) for i in index)) if got.ndim else "()")
