"""The ``Backend`` base class: everything kl_backends knows about one array library.

A backend is one object per framework (``kl_backends.backends.BACKENDS``).
Dispatch (``kl_backends._dispatch``) finds the backend of the inputs once per
call, by type, and hands it to the math, which asks it for nothing but the
hooks below; the math itself is written against the array API (``be.xp``).

The defaults here are the generic array-API behaviour, right for any library
that follows the standard (``backends/array_api.py`` uses them as they are);
a framework's module overrides what it does better or differently.

Hooks used by the math (called only once the framework's arrays have arrived,
so the framework is already imported):

* ``owns(x)``: is ``x`` one of this library's arrays?  Consults
  ``sys.modules`` only, never imports.
* ``coerce(name, x)``: ``x`` as a plain array of the library, or a clear
  error for arrays whose semantics the math cannot honour (NumPy's masked
  arrays).
* ``xp``: the array-API namespace.
* ``device(x)``, ``values_unavailable(x)``: where ``x`` lives; why its values
  cannot be read (tracers, lazy and symbolic arrays), or ``None``;
  ``detach(x)``: ``x`` to read values from (no autodiff history);
  ``raise_when_run(error, like)``: raise ``error`` now, or where tracing would turn
  it into another error, when the compiled code runs.
* ``quiet()``: a context silencing the library's warnings for ``log(0)`` and
  NaN (defined results here); ``log(x)``: ``xp.log`` as it must be written
  for lazy libraries.
* ``cholesky(x)``, ``solve_triangular(a, b)``: linear algebra outside the
  standard.
* ``kl_last_axis(p, q, exact)``: a fast kernel for the sums of ``p log(p / q)``
  over the last axis (same shape and float dtype), or ``None`` to use the
  generic code; ``exact(backend, p_rows, q_rows)`` is the generic code, for
  the rows a kernel finds it cannot be trusted with; ``quick(p, q, exact)``: the whole default ``kl_divergence(p, q)`` call, or
  ``None`` to go the general way (see ``_dispatch.quick``).
* ``special(name)``: the library's own special function (``lgamma``,
  ``digamma``, ``erf``, ``i0e``, ``i1e``) for ``kl_backends.distributions``,
  or ``None`` for the generic array-API one.
* ``logits_rows(spec, a, b, mask, generic)``: per-row values ``[N]`` of KL /
  cross-entropy / generalised JSD between ``[N, V]`` logits with a custom
  gradient (``spec``: a ``kl_backends._lib.options.RowSpec``; ``generic``: the
  math's generic block functions, ``forward_block``, ``backward_block`` and
  ``rows``, handed down by ``kl_backends._math``), or ``None`` to use the
  generic blocked code.  ``permutes_axes``: whether the namespace can move the
  event axes last (else the row math runs in place along them).
* ``custom_vjp(forward, backward)``: ``forward`` and ``backward`` (handed down
  by the math) as one function of arrays with their framework's custom gradient,
  or ``None`` where the library has no autodiff (the math then calls
  ``forward`` alone).  ``forward(need, *arrays)`` returns ``(output,
  residuals)`` (``residuals`` a list of arrays), ``need`` saying which inputs
  need a gradient (a tuple of bools) or ``None`` where the framework cannot
  tell in the forward; ``backward(need, arrays, residuals, g)`` returns one
  gradient (or ``None``) per input.  ``take_rows(x, ids)``: rows ``ids`` (1-D
  integers) of ``x``, differentiable (``xp.take`` by default).
* ``jit(fn, *static)``: ``functools.partial(fn, *static)``, or a cached
  compiled version of it for eager calls (JAX compiles each primitive on its
  own otherwise).

Hooks used by the parity harness and ``kl_backends.testing`` (they may import
the framework): ``installed``, ``load``, ``version``, ``devices``,
``asarray``, ``to_numpy``, ``dtype_name``, ``compile``, ``harness`` (a
context for checking every dtype, JAX's x64 mode) and ``builtins`` (the
framework's own KL functions, each with its own convention).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kl_backends._lib.policy import SMALL, fast_paths_enabled, seed_kind

__all__ = ["SMALL", "Backend", "Builtin", "fast_paths_enabled", "native_function"]


@functools.cache
def native_function(module: str, path: str | None) -> Callable[[Any], Any] | None:
    """``module.path`` (dotted), or ``None`` if the module cannot be imported or ``path`` is None."""
    if path is None:
        return None
    try:
        fn: Any = importlib.import_module(module)
    except ImportError:
        return None
    for part in path.split("."):
        fn = getattr(fn, part)
    return fn  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Builtin:
    """A framework's own KL(p || q) per distribution over the last axis, from probabilities."""

    name: str
    requires: str  # module that must be importable
    fn: Callable[[Any, Any], Any]


class Backend:
    """One array library; the defaults are the array-API standard's behaviour."""

    #: Short name, used in ``KL_BACKENDS``, target ids and messages.
    name: str = ""
    #: The module whose presence in ``sys.modules`` says its arrays may exist.
    module: str = ""
    #: Its array types, as attribute names of ``module``.
    array_types: tuple[str, ...] = ()
    #: The pip distribution, for versions and install hints.
    distribution: str = ""
    #: The kl_backends extra that installs it (``None``: a core dependency).
    extra: str | None = None
    #: dtypes the parity matrix checks on it.
    dtypes: tuple[str, ...] = ("float32", "float64")
    #: Name of the compiled mode, if any, and whether it differentiates.
    compiler: str | None = None
    autodiff: bool = False
    #: Where ``autodiff``: the library's derivative transforms, for the checks of
    #: derivatives (``backends/<framework>/transforms.py``: ``grad(fn, args, wrt,
    #: compiled)``, ``hessian(f, x)``, ``jvp(f, x, v)``, ``vmap_value_and_grad(f, xs)``).
    transforms: Any = None
    #: Whether the compiled mode is part of the test and parity matrix (``False``
    #: where one compilation costs too much to repeat per case: ``torch.compile``,
    #: checked by its own tests).
    compiled_in_matrix: bool = False
    #: Whether the library only works with a GPU (absent is then normal, not an error).
    needs_gpu: bool = False
    #: Whether its arrays are lazy (values exist only once computed).
    lazy: bool = False
    #: Whether this backend computes the float64 reference of the parity harness.
    is_reference: bool = False
    #: Relative cost of checking it (parallel runs start the costliest first).
    cost: int = 0
    #: Whether rows of logits may move their event axes last (``permute_dims``); where
    #: the namespace cannot, the row math runs in one piece along the event axes.
    permutes_axes: bool = True
    #: Attributes set on kl_backends' public functions at import (``backends.mark_public``)
    #: so that this library's tracer takes them as they are.  TensorFlow: AutoGraph would
    #: rewrite their Python source on every ``tf.function`` trace (seconds per call site)
    #: for no gain: the math branches on no array value.
    function_attributes: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"

    # -- recognising (never imports) -------------------------------------
    def owns(self, x: object) -> bool:
        mod = sys.modules.get(self.module)
        return mod is not None and isinstance(x, tuple(getattr(mod, t) for t in self.array_types))

    # -- the math's hooks --------------------------------------------------
    def coerce(self, name: str, x: Any) -> Any:
        """``x`` as the plain array the math expects (subclasses, byte order), or an error."""
        return x

    _xp: Any = None

    @property
    def xp(self) -> Any:
        # Loaded once; not functools.cached_property, whose lock torch.compile cannot trace.
        xp = self._xp
        if xp is None:
            xp = self._xp = self._namespace()
        return xp

    def _namespace(self) -> Any:
        raise NotImplementedError

    def device(self, x: Any) -> Any:
        """The device of ``x``, or ``None`` where it cannot be told (abstract values)."""
        try:
            return x.device
        except Exception:
            return None

    def values_unavailable(self, x: Any) -> str | None:
        return None

    def detach(self, x: Any) -> Any:
        """``x`` without its autodiff history, for reading values (``validate=True``)."""
        return x

    def raise_when_run(self, error: Exception, like: Any) -> Any:
        """Raise ``error`` (a ``ValueError`` or ``TypeError``) for a call that cannot go on.

        Where raising while tracing would reach the caller as another error
        (``torch.compile(fullgraph=True)`` turns it into Dynamo's ``Unsupported``),
        a backend returns ``like`` made to depend on an operation that raises
        ``error`` when the compiled code runs; the caller goes on with that.
        """
        raise error

    def quiet(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def log(self, x: Any) -> Any:
        return self.xp.log(x)

    def cholesky(self, x: Any) -> Any:
        return self.xp.linalg.cholesky(x)

    def solve(self, a: Any, b: Any) -> Any:
        """Solve ``a @ x = b`` for a general ``a`` ``[..., d, d]``, ``b`` ``[..., d, k]``."""
        return self.xp.linalg.solve(a, b)

    def solve_triangular(self, a: Any, b: Any) -> Any:
        """Solve ``a @ x = b``, ``a`` lower-triangular ``[..., d, d]``, ``b`` ``[..., d, k]``.

        The standard has no triangular solve: ``linalg.solve`` (LU) gives the
        same result; frameworks with one use theirs (O(d^2) per column).
        """
        return self.xp.linalg.solve(a, b)

    def kl_last_axis(self, p: Any, q: Any, exact: Callable[..., Any]) -> Any | None:
        return None

    def quick(self, p: Any, q: Any, exact: Callable[..., Any]) -> Any | None:
        return None

    def logits_rows(self, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any | None:
        return None

    def custom_vjp(
        self, forward: Callable[..., Any], backward: Callable[..., Any]
    ) -> Callable[..., Any] | None:
        return None

    def take_rows(self, x: Any, ids: Any) -> Any:
        return self.xp.take(x, ids, axis=0)

    def jit(self, fn: Callable[..., Any], *static: Any) -> Callable[..., Any]:
        return functools.partial(fn, *static)

    def special(self, name: str) -> Callable[[Any], Any] | None:
        """The library's own special function ``name``, or ``None`` (the generic one)."""
        return None

    def stop_gradient(self, x: Any) -> Any:
        """``x`` as a constant for autodiff (its value unchanged)."""
        return x

    # -- random numbers (Monte Carlo) ----------------------------------------
    def rng(self, seed: Any, like: Any) -> Any:
        """The random state for ``seed``: an int, or the library's own generator / key.

        The default (NumPy, array-api-strict, CuPy, Dask) is a NumPy ``Generator``
        on the host; ``draw`` moves its numbers to ``like``'s library and device.
        """
        import numpy as np

        accepted = f"a numpy.random.Generator for {self.name}"

        def is_generator(s: Any) -> bool:
            return isinstance(s, np.random.Generator)

        if seed_kind(seed, accepted, is_generator, (int, np.integer)) == "state":
            return seed
        return np.random.default_rng(int(seed))

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        """``(numbers, new state)``: ``kind`` is ``uniform`` ([0, 1)), ``normal``,
        ``gamma`` (``params``: alpha, rate 1), ``poisson`` (rate) or ``binomial``
        (count, probs), each of ``shape`` in ``like``'s dtype; ``params`` are
        already broadcast to ``shape``."""
        import numpy as np

        host = [self.to_numpy(a) for a in params]
        if kind == "uniform":
            out = state.random(shape)
        elif kind == "normal":
            out = state.standard_normal(shape)
        elif kind == "gamma":
            out = state.standard_gamma(host[0], size=shape)
        elif kind == "poisson":
            out = state.poisson(host[0], size=shape)
        elif kind == "binomial":
            out = state.binomial(host[0].astype(np.int64), host[1], size=shape)
        else:
            raise ValueError(f"unknown kind of random numbers {kind!r}")
        xp = self.xp
        return xp.asarray(
            np.asarray(out, dtype=np.float64), dtype=like.dtype, device=self.device(like)
        ), state

    # -- the harness's hooks -----------------------------------------------
    def installed(self) -> bool:
        """Whether the library can be imported (without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:  # "dask.array" when dask itself is absent
            return False

    def install_hint(self) -> str:
        target = f"kl_backends[{self.extra}]" if self.extra else self.distribution
        return f"pip install {target}"

    def load(self) -> Any:
        return importlib.import_module(self.module)

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution or self.module)
        except importlib.metadata.PackageNotFoundError:
            return getattr(self.load(), "__version__", "?")

    def devices(self) -> list[str]:
        return ["cpu"]

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        """A float64 NumPy array as this library's array of ``dtype`` on ``device``."""
        raise NotImplementedError

    def to_numpy(self, x: Any) -> Any:
        """float64 NumPy copy of ``x`` (on the host)."""
        import numpy as np

        return np.asarray(x, dtype=np.float64)

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).rsplit(".", 1)[-1].replace("'>", "").replace("<dtype: '", "")

    def compile(self, fn: Callable[..., Any], *, convert: bool = True) -> Callable[..., Any]:
        """``fn`` under this library's compiler (``Backend.compiler``).

        ``convert=False`` traces ``fn`` as it is written where the compiler would
        otherwise rewrite its source first (TensorFlow's AutoGraph, which turns Python
        control flow on tensors into graph control flow).  Code with no such control
        flow, as the math here, gives the same graph either way; the rewrite costs
        most of the tracing time of a large function, and it does not depend on the
        dtype, so the matrix checks it once, in float64.  Other compilers ignore it.
        """
        raise NotImplementedError(f"{self.name} has no compiled mode")

    def harness(self) -> contextlib.AbstractContextManager[Any]:
        """A context for checking this library in every dtype (JAX: float64 needs x64 mode),
        restoring the library's global settings on exit."""
        return contextlib.nullcontext()

    def round_trip(self, a: Any, dtype: str) -> Any:
        """``a`` rounded to ``dtype`` as this backend stores it, back in float64."""
        return self.to_numpy(self.asarray(a, dtype))

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return ()
