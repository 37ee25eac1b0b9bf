"""Cross-framework parity checking for your own array-API code.

Run a function on every installed array library and device and prove that the
results agree with a reference: what kl_backends' own test suite does, for your
losses, metrics and models.

>>> import numpy as np
>>> from kl_backends.testing import assert_backends_agree
>>> def my_loss(p, q):  # written against the array API
...     from array_api_compat import array_namespace
...     xp = array_namespace(p, q)
...     return xp.sum((p - q) ** 2, axis=-1)
>>> rows = assert_backends_agree(my_loss, np.eye(3), np.ones((3, 3)) / 3,
...                              targets="numpy", dtypes=["float32", "float64"])
>>> [(r.target, r.dtype) for r in rows]
[('numpy:cpu', 'float32'), ('numpy:cpu', 'float64')]

Backends: numpy, array_api_strict, torch (cpu, cuda:N), tensorflow (CPU:0,
GPU:N), jax (cpu, gpu:N), cupy (cuda:N) and dask, each only if installed;
nothing is imported until used.  ``check_backends`` and
``assert_backends_agree`` turn on JAX's ``jax_enable_x64`` while they run (so
that float64 can be checked) and restore it afterwards; ``Target.asarray``
outside them gives float32 for float64 on JAX unless you enable x64 yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kl_backends._dispatch import backend_of
from kl_backends.backends import BACKENDS, ENV_VAR, Backend, select_installed
from kl_backends.parity.compare import TOLERANCES, compare
from kl_backends.parity.report import Agreement, format_table

__all__ = [
    "TOLERANCES",
    "Agreement",
    "Target",
    "assert_backends_agree",
    "available_targets",
    "check_backends",
    "format_table",
    "to_backend",
    "to_numpy",
]


@dataclass(frozen=True)
class Target:
    """One backend on one device, e.g. ``torch:cuda:0`` or ``numpy:cpu``."""

    backend: str
    device: str

    @property
    def id(self) -> str:
        return f"{self.backend}:{self.device}"

    def __str__(self) -> str:
        return self.id

    @property
    def name(self) -> str:
        """The backend's name (``"torch"``)."""
        return self.backend

    @property
    def impl(self) -> Backend:
        """The ``kl_backends.backends.Backend`` behind this target."""
        return BACKENDS[self.backend]

    @property
    def dtypes(self) -> tuple[str, ...]:
        return self.impl.dtypes

    @property
    def namespace(self) -> Any:
        """The array-API namespace of this backend (kl_backends' adapter for TensorFlow)."""
        self.impl.load()
        return self.impl.xp

    def asarray(self, a: Any, dtype: str = "float64") -> Any:
        """``a`` (array-like) as this backend's array of ``dtype`` on this device."""
        return self.impl.asarray(np.asarray(a, dtype=np.float64), dtype, self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.impl.to_numpy(x)


def available_targets(
    names: str | Iterable[str] | None = None, source: str = ENV_VAR
) -> list[Target]:
    """Installed backends x their devices, optionally only the ``names`` given.

    ``names``: comma-separated string or iterable of backend names (``"all"``:
    every one), or entries ``backend:device`` (``"torch:cuda:0"``).  Default:
    ``$KL_BACKENDS``, else all.  Unknown backends raise ``ValueError``, and so
    do a named backend that is not installed (an unnamed one is left out) and
    a named device the backend does not have (``torch:cuda:0`` without CUDA);
    ``source`` names where the names came from, for those messages.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted_devices: dict[str, set[str]] = {}
    if names is not None:
        plain = []
        for entry in names:
            backend, _, device = entry.partition(":")
            plain.append(backend)
            if device:
                wanted_devices.setdefault(backend, set()).add(device)
        names = list(dict.fromkeys(plain))
    targets = []
    for impl in select_installed(names, source):
        devices = impl.devices()
        absent = sorted(wanted_devices.get(impl.name, set()) - set(devices))
        if absent:
            raise ValueError(
                f"device(s) {', '.join(absent)} of backend {impl.name} in {source} not "
                f"found on this machine; it has: {', '.join(devices)}. Name one of those "
                f"(e.g. {impl.name}:{devices[0]}), or the backend alone for all of them"
            )
        for dev in devices:
            if impl.name in wanted_devices and dev not in wanted_devices[impl.name]:
                continue
            targets.append(Target(impl.name, dev))
    return targets


def to_backend(x: Any, target: Target | str, dtype: str = "float64") -> Any:
    """Convert an array-like (any supported library) to ``target``'s array of ``dtype``."""
    if isinstance(target, str):
        backend, _, device = target.partition(":")
        target = Target(backend, device or BACKENDS[backend].devices()[0])
    return target.asarray(to_numpy(x), dtype)


def to_numpy(x: Any) -> np.ndarray:
    """float64 NumPy copy of an array of any supported library (computes Dask)."""
    backend = backend_of(x)
    if backend is not None and backend.name in BACKENDS:
        return backend.to_numpy(x)
    return np.asarray(x, dtype=np.float64)


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def _prepare(a: Any) -> Any:
    """Floating arrays of any supported library as float64 NumPy; the rest as is."""
    if isinstance(a, np.ndarray):
        return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a
    backend = backend_of(a)
    if backend is not None and backend.name in BACKENDS:
        return to_numpy(a)
    return a


def _outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_backends(
    fn: Callable[..., Any],
    *args: Any,
    reference: Any = None,
    targets: Sequence[Target | str] | str | None = None,
    dtypes: Sequence[str] = ("float32", "float64"),
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> list[Agreement]:
    """Run ``fn`` on every target and dtype; one ``Agreement`` per run.

    Floating arrays among ``args`` (NumPy or any supported library) are
    converted to each target, cast to each of ``dtypes`` that the target has;
    other arguments and ``kwargs`` are passed as they are.  ``reference`` is the expected result (array or tuple of arrays),
    a callable taking the float64 NumPy arguments, or ``None`` for ``fn`` run
    on float64 NumPy.  Tolerances default by dtype
    (``kl_backends.testing.TOLERANCES``) and are relative to a reference
    computed from the very values each backend holds when ``reference`` is a
    callable or ``None``.
    """
    args64 = [_prepare(a) for a in args]
    if isinstance(targets, str) or targets is None:
        resolved = available_targets(targets)
    else:
        resolved = [t if isinstance(t, Target) else _parse_target(t) for t in targets]
    check = _Check(fn, tuple(args64), kwargs, reference, rtol, atol)
    rows = []
    for target in resolved:
        with target.impl.harness():  # e.g. JAX's x64 mode while checking, then as it was
            for dtype in dtypes:
                if dtype not in target.dtypes:
                    continue
                rows.append(_check_one(check, target, dtype))
    return rows


def _parse_target(entry: str) -> Target:
    found = available_targets([entry])
    if not found:
        raise ValueError(f"no such target: {entry!r}")
    return found[0]


@dataclass(frozen=True)
class _Check:
    """One ``check_backends`` call: the function, its float64 arguments, the reference."""

    fn: Callable[..., Any]
    args64: tuple[Any, ...]
    kwargs: dict[str, Any]
    reference: Any
    rtol: float | None
    atol: float | None


def _failed(target: Target, dtype: str, message: str) -> Agreement:
    return Agreement(target.id, dtype, False, np.inf, np.inf, "-", message)


def _check_one(check: _Check, target: Target, dtype: str) -> Agreement:
    try:
        results = _results(check, target, dtype)
    except Exception as exc:
        return _failed(target, dtype, f"{type(exc).__name__}: {exc}")
    if isinstance(results, str):
        return _failed(target, dtype, results)
    got, expected = results
    if len(got) != len(expected):
        return _failed(target, dtype, f"{len(got)} outputs, reference has {len(expected)}")
    return _judge(got, expected, target, dtype, check)


def _results(check: _Check, target: Target, dtype: str) -> str | tuple[list[Any], list[Any]]:
    """``fn``'s outputs on ``target`` and the reference's, as float64 NumPy; or why not."""
    args64, kwargs, reference = check.args64, check.kwargs, check.reference
    converted = [target.asarray(a, dtype) if _is_array(a) else a for a in args64]
    held = [target.to_numpy(c) if _is_array(a) else a for a, c in zip(args64, converted)]
    outputs = _outputs(check.fn(*converted, **kwargs))
    foreign = _foreign(outputs, target) if any(_is_array(a) for a in args64) else None
    if foreign is not None:
        return foreign
    got = [target.to_numpy(o) for o in outputs]
    if reference is None:
        expected = _outputs(check.fn(*held, **kwargs))
    elif callable(reference):
        expected = _outputs(reference(*held, **kwargs))
    else:
        expected = _outputs(reference)
    return got, [np.asarray(e, dtype=np.float64) for e in expected]


def _judge(
    got: list[Any], expected: list[Any], target: Target, dtype: str, check: _Check
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


def _foreign(outputs: list[Any], target: Target) -> str | None:
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


def assert_backends_agree(
    fn: Callable[..., Any],
    *args: Any,
    reference: Any = None,
    targets: Sequence[Target | str] | str | None = None,
    dtypes: Sequence[str] = ("float32", "float64"),
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> list[Agreement]:
    """``check_backends``, raising ``AssertionError`` with the table on any disagreement.

    Returns the rows when every backend agrees.  See ``check_backends`` for
    the arguments.
    """
    rows = check_backends(
        fn,
        *args,
        reference=reference,
        targets=targets,
        dtypes=dtypes,
        rtol=rtol,
        atol=atol,
        **kwargs,
    )
    if not rows:
        raise AssertionError("no backend ran: none of the targets is installed")
    bad = [r for r in rows if not r.ok]
    if bad:
        names = ", ".join(f"{r.target} {r.dtype}" for r in bad)
        raise AssertionError(
            f"{getattr(fn, '__name__', fn)} disagrees with the reference on {names}:\n"
            + format_table(rows)
        )
    return rows
