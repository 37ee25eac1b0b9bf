"""The parity run behind ``kl-backends parity``.

For every selected backend x device x dtype x mode, every case in
``parity.cases.CASES`` is run through ``kl_divergence`` in each input kind and
compared with the float64 reference (``parity.reference``), and the backend's
built-ins (each backend's ``builtins``) are compared on the clean cases.  One ``Row`` per
backend x device x dtype x mode.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np

from kl_backends._lib.args import Inputs
from kl_backends._math.categorical import kl_divergence
from kl_backends.backends import Backend
from kl_backends.parity.cases import CASES, FUNCTION_CASES, Case, FunctionCase, inputs_for
from kl_backends.parity.compare import compare
from kl_backends.parity.reference import reference_kl
from kl_backends.parity.report import Agreement

__all__ = ["BuiltinCheck", "Row", "check_case", "run_parity", "run_parity_parallel"]


@dataclass(frozen=True)
class BuiltinCheck:
    """A framework built-in on the clean cases: agreed or not, its worst errors, its problems."""

    ok: bool
    max_abs: float
    max_rel: float
    problems: tuple[str, ...] = ()


@dataclass
class Row:
    backend: str
    device: str
    dtype: str
    mode: str
    version: str
    checks: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    #: The check that used most of its tolerance: its ``Comparison.describe()``
    #: and the fraction used (see ``compare.Comparison``).
    judged: str = "-"
    used: float = 0.0
    failures: list[str] = field(default_factory=list)
    builtins: dict[str, BuiltinCheck] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        builtins_ok = all(b.ok for b in self.builtins.values())
        return not self.error and not self.failures and builtins_ok

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def agreement(self) -> Agreement:
        """This row as a report's row (``parity.report``), labelled backend:device mode."""
        return Agreement(
            f"{self.backend}:{self.device} {self.mode}",
            self.dtype,
            self.ok,
            self.max_abs,
            self.max_rel,
            message=(self.error or "; ".join(self.failures[:1]))[:120],
            judged=self.judged,
        )


def reference_for(case: Case, kind: str, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The reference for already-rounded float64 inputs (cached by content)."""
    return _cached_reference(case.name, kind, p.tobytes(), q.tobytes(), p.shape, q.shape)


@functools.lru_cache(maxsize=1024)
def _cached_reference(
    name: str, kind: str, pb: bytes, qb: bytes, pshape: tuple[int, ...], qshape: tuple[int, ...]
) -> np.ndarray:
    case = next(c for c in CASES if c.name == name)
    p = np.frombuffer(pb, dtype=np.float64).reshape(pshape)
    q = np.frombuffer(qb, dtype=np.float64).reshape(qshape)
    return reference_kl(p, q, inputs=kind, **case.kwargs)


def check_case(
    backend: Backend,
    device: str,
    dtype: str,
    case: Case,
    kind: str,
    fn: Callable[..., Any] | None = None,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Run one case; return (native result, result as float64, reference)."""
    p64, q64 = inputs_for(case, kind)
    p, q = backend.asarray(p64, dtype, device), backend.asarray(q64, dtype, device)
    if fn is None:
        fn = functools.partial(kl_divergence, inputs=cast(Inputs, kind), **case.kwargs)
    out = fn(p, q)
    ref = reference_for(case, kind, backend.to_numpy(p), backend.to_numpy(q))
    return out, backend.to_numpy(out), ref


def check_function_case(
    backend: Backend,
    device: str,
    dtype: str,
    case: FunctionCase,
    compiled: bool = False,
    convert: bool = True,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Run a closed-form / family case; return (native result, as float64, reference).

    ``convert``: with ``compiled``, whether the compiler may rewrite the source first
    (``Backend.compile``).
    """
    import kl_backends

    # Python values are bound before compiling (static: temperature, beta, inputs...);
    # arrays are passed, a boolean one (a row mask, where=) as the backend's bool.
    func = functools.partial(
        case.function if callable(case.function) else getattr(kl_backends, case.function),
        **{k: v for k, v in case.kwargs.items() if not isinstance(v, np.ndarray)},
    )
    args = [backend.asarray(a, dtype, device) for a in case.args]
    kwargs = {
        k: (
            backend.asarray(v.astype(np.float64), "float64", device) > 0
            if v.dtype == bool
            else backend.asarray(v, dtype, device)
        )
        for k, v in case.kwargs.items()
        if isinstance(v, np.ndarray)
    }
    call = backend.compile(func, convert=convert) if compiled else func
    out = call(*args, **kwargs)
    held = [backend.to_numpy(a) for a in args]
    held_kw = {
        k: v if not isinstance(v, np.ndarray) or v.dtype == bool else backend.to_numpy(kwargs[k])
        for k, v in case.kwargs.items()
    }
    return out, backend.to_numpy(out), np.asarray(case.reference(*held, **held_kw), np.float64)


def _compiled_kl(backend: Backend, kind: str, kwargs: dict[str, Any]) -> Callable[..., Any]:
    def kl(p: Any, q: Any) -> Any:
        return kl_divergence(p, q, inputs=cast(Inputs, kind), **kwargs)

    return backend.compile(kl)


def _run_row(backend: Backend, device: str, dtype: str, mode: str, row: Row) -> None:
    for case in CASES:
        for kind in case.kinds:
            fn = _compiled_kl(backend, kind, case.kwargs) if mode != "eager" else None
            try:
                out, got, ref = check_case(backend, device, dtype, case, kind, fn)
            except Exception as exc:  # report, keep going
                row.failures.append(f"{case.name}[{kind}]: {type(exc).__name__}: {exc}")
                continue
            _record(row, f"{case.name}[{kind}]", backend, dtype, out, got, ref)
    for fcase in FUNCTION_CASES:
        try:
            out, got, ref = check_function_case(backend, device, dtype, fcase, mode != "eager")
        except Exception as exc:
            row.failures.append(f"{fcase.name}: {type(exc).__name__}: {exc}")
            continue
        _record(row, fcase.name, backend, dtype, out, got, ref)


def _record(
    row: Row, label: str, backend: Backend, dtype: str, out: Any, got: np.ndarray, ref: np.ndarray
) -> None:
    """Count one check in ``row``: its dtype, its agreement, its errors."""
    row.checks += 1
    cmp = compare(got, ref, dtype)
    out_dtype = backend.dtype_name(out)
    if out_dtype != dtype:
        row.failures.append(f"{label}: result dtype {out_dtype}")
    if not cmp.ok:
        row.failures.append(f"{label}: {cmp.message}")
    if math.isfinite(cmp.max_abs):
        row.max_abs = max(row.max_abs, cmp.max_abs)
        row.max_rel = max(row.max_rel, cmp.max_rel)
    if cmp.bound and (cmp.used > row.used or row.judged == "-"):
        row.used, row.judged = cmp.used, f"{cmp.describe()} ({label})"


def _builtin_cases() -> list[Case]:
    return [c for c in CASES if c.clean and not c.kwargs and c.kinds[0] == "probs"]


def _run_builtins(backend: Backend, device: str, dtype: str, row: Row) -> None:
    for builtin in backend.builtins:
        if importlib.util.find_spec(builtin.requires) is None:
            continue
        worst_abs = worst_rel = 0.0
        problems = []
        for case in _builtin_cases():
            try:
                _, got, ref = check_case(
                    backend, device, dtype, case, "probs", lambda p, q, f=builtin.fn: f(p, q)
                )
            except Exception as exc:
                problems.append(f"{case.name}: {type(exc).__name__}: {exc}")
                continue
            cmp = compare(got, ref, dtype)
            worst_abs, worst_rel = max(worst_abs, cmp.max_abs), max(worst_rel, cmp.max_rel)
            if not cmp.ok:
                problems.append(f"{case.name}: {cmp.message}")
        row.builtins[builtin.name] = BuiltinCheck(
            not problems, worst_abs, worst_rel, tuple(problems)
        )


@dataclass(frozen=True)
class RunOptions:
    """What to run: the dtypes (``None``: each backend's own), whether compiled modes, quiet."""

    dtypes: tuple[str, ...] | None = None
    compiled: bool = True
    quiet: bool = False

    def wants(self, dtype: str) -> bool:
        return self.dtypes is None or dtype in self.dtypes


#: The dtypes checked in compiled mode and against the built-ins.
_FULL_DTYPES = ("float32", "float64")


def run_parity(
    backends: Iterable[Backend],
    *,
    dtypes: Iterable[str] | None = None,
    compiled: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Run the parity matrix on installed ``backends``; one ``Row`` per combination.

    A backend's compiled mode (``Backend.compiler``: ``jax.jit``,
    ``tf.function``) runs in float32 and float64 where the backend declares
    it ``compiled_in_matrix``; the others (``torch.compile``: seconds of
    compilation per case) and the compiled half-precision runs are left to
    the test suite, to keep this under a minute.
    """
    options = RunOptions(tuple(dtypes) if dtypes is not None else None, compiled)
    rows = []
    for backend in backends:
        with backend.harness():
            rows += _run_backend(backend, options, progress)
    return rows


def _modes(backend: Backend, dtype: str, options: RunOptions) -> list[str]:
    """``eager``, and the backend's compiler where it is in the matrix for ``dtype``."""
    if options.compiled and backend.compiler and backend.compiled_in_matrix:
        if dtype in _FULL_DTYPES:
            return ["eager", backend.compiler]
    return ["eager"]


def _run_backend(
    backend: Backend, options: RunOptions, progress: Callable[[str], None] | None
) -> list[Row]:
    rows: list[Row] = []
    try:
        version = backend.version()
        devices = backend.devices()
    except Exception as exc:
        return [Row(backend.name, "-", "-", "-", "?", error=f"{type(exc).__name__}: {exc}")]
    for device in devices:
        for dtype in backend.dtypes:
            if not options.wants(dtype):
                continue
            for mode in _modes(backend, dtype, options):
                if progress:
                    progress(f"{backend.name} {device} {dtype} {mode}")
                row = Row(backend.name, device, dtype, mode, version)
                start = time.perf_counter()
                try:
                    _run_row(backend, device, dtype, mode, row)
                    if mode == "eager" and dtype in _FULL_DTYPES:
                        _run_builtins(backend, device, dtype, row)
                except Exception as exc:
                    row.error = f"{type(exc).__name__}: {exc}"
                row.seconds = time.perf_counter() - start
                rows.append(row)
    return rows


def _print_progress(msg: str) -> None:
    import sys

    print(f"  ... {msg}", file=sys.stderr, flush=True)


def _run_in_worker(name: str, options: RunOptions) -> list[Row]:
    from kl_backends.backends import BACKENDS

    return run_parity(
        [BACKENDS[name]],
        dtypes=options.dtypes,
        compiled=options.compiled,
        progress=None if options.quiet else _print_progress,
    )


def run_parity_parallel(
    backends: Iterable[Backend],
    *,
    dtypes: Iterable[str] | None = None,
    compiled: bool = True,
    quiet: bool = False,
    jobs: int = 2,
) -> list[Row]:
    """``run_parity`` with each backend in its own process, ``jobs`` at a time.

    Separate processes also keep the frameworks from sharing one interpreter
    (each loads only its own).  Rows come back in the order of ``backends``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    backends = list(backends)
    options = RunOptions(tuple(dtypes) if dtypes is not None else None, compiled, quiet)
    if jobs <= 1 or len(backends) <= 1:
        return run_parity(
            backends,
            dtypes=options.dtypes,
            compiled=compiled,
            progress=None if quiet else _print_progress,
        )
    order = sorted(backends, key=lambda b: -b.cost)  # costliest first: workers end together
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {b.name: pool.submit(_run_in_worker, b.name, options) for b in order}
        return [row for b in backends for row in futures[b.name].result()]
