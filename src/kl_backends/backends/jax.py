"""JAX: recognition, namespace, tracers, the KL kernel with its exact ``custom_jvp``, the eager
jit cache, the quick path, ``jax.jit`` for the harness, built-ins.

Nothing here imports JAX until one of its arrays has arrived.

The kernel: the select-free ``p log(max(p, tiny) / max(q, tiny - p))``, which
XLA fuses into one loop, and the rows it cannot be trusted with (negative
``p`` or ``q``, ``q = -0.0``, ratios beyond the dtype's normal range, nearly
equal float64 distributions) recomputed by the generic code under ``lax.cond`` (one branch
runs: nothing is spent until a row needs it), with a ``jax.custom_jvp`` giving
the exact derivatives.  Eager calls
go through ``jax.jit`` (one dispatch, one compile per shape, instead of one
per primitive): ``jit`` keeps those compiled functions.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

from kl_backends.backends._base import Backend, Builtin, fast_paths_enabled, native_function
from kl_backends.backends.numpy import EXACT_BELOW

__all__ = ["Jax"]


def _fast_sums(jnp: Any, p: Any, q: Any) -> Any:
    """``sum p log(max(p, tiny) / max(q, tiny - p))``: one fusable loop, no select.

    Where ``p >= tiny`` (the smallest normal number) the ratio is ``p / q``
    (``tiny - p <= 0 <= q``); where ``p == 0`` it is finite, so the term is
    ``0 * finite = 0`` whatever ``q`` is.  XLA:CPU fuses this into one
    vectorised loop; a ``where`` or a comparison in the loop is a separate pass
    (measured 1.5x to 10x slower).  The sums are wrong (and flagged by
    ``_untrusted``) for negative values, ``q = -0.0``, a ratio beyond the
    dtype's normal range and nearly equal float64 distributions.
    """
    tiny = float(jnp.finfo(p.dtype).tiny)
    return jnp.sum(p * jnp.log(jnp.maximum(p, tiny) / jnp.maximum(q, tiny - p)), axis=-1)


def _untrusted(jnp: Any, p: Any, q: Any, sums: Any) -> Any:
    """NumPy's rule (``backends/numpy.py``): non-finite sums, a negative value, a ratio
    below the normal range, float64 sums small against ``sum p``.

    One fused ``min`` per row covers three things: both signs (``max(p, tiny)``
    turns a negative ``p`` into ``tiny``: ``p = -0.5, q = 0`` would give 353.85,
    not NaN; with ``p < 0`` and ``q < 0`` the term is finite), and the kernel's
    ratio below ``tiny`` (``max(p / tiny, 1) < q``, scaled by a power of two:
    exact): subnormal, with fewer digits, where ``log p - log q`` in the generic
    code is exact.  (Where subnormals are flushed to zero, XLA on CPU, such a
    ratio is 0 and its ``-inf`` term makes the sum non-finite anyway.  The check
    also takes ``p == 0`` under ``q > 1``, which only unnormalised inputs have, to
    the generic code.)  Written with other operations than the kernel's, so that
    XLA does not share (and store) its intermediate arrays.
    """
    scaled = jnp.maximum(p * (1 / float(jnp.finfo(p.dtype).tiny)), 1.0) - q
    bad = ~jnp.isfinite(sums) | (jnp.min(jnp.minimum(jnp.minimum(p, q), scaled), axis=-1) < 0)
    if p.dtype == jnp.float64:
        bad = bad | (jnp.abs(sums) < EXACT_BELOW * jnp.sum(p, axis=-1))
    return bad


@functools.cache
def _kl(exact: Callable[..., Any], backend: Backend) -> Any:
    """The fast sums, and where any row cannot be trusted with them, the generic code's
    (``exact(backend, p, q)``) for those rows: ``lax.cond`` runs one branch, so the
    generic code costs nothing until a row needs it.  A ``jax.custom_jvp`` gives the
    exact derivatives directly."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def kl(p: Any, q: Any) -> Any:
        if p.shape[-1] == 0:
            return jnp.sum(p, axis=-1)
        sums = _fast_sums(jnp, p, q)
        bad = _untrusted(jnp, p, q, sums)
        return jax.lax.cond(
            jnp.any(bad),
            lambda: jnp.where(bad, exact(backend, p, q), sums),
            lambda: sums,
        )

    @kl.defjvp
    def kl_jvp(primals: Any, tangents: Any) -> Any:
        p, q = primals
        dp, dq = tangents
        zero = p == 0
        p_s, q_s = jnp.where(zero, 1, p), jnp.where(zero, 1, q)
        ratio = p_s / q_s
        # log p - log q where the ratio leaves the normal range (subnormal, or 0 when
        # flushed: log(p / q) would be -inf for p = 1e-300, q = 1e15).
        normal = (ratio >= jnp.finfo(ratio.dtype).tiny) & (ratio < jnp.inf)
        log_ratio = jnp.where(normal, jnp.log(ratio), jnp.log(p_s) - jnp.log(q_s))
        d = jnp.where(zero, 0, dp * (log_ratio + 1) - dq * ratio)
        return kl(p, q), jnp.sum(d, axis=-1)

    return kl


@functools.cache
def _kl_jitted(exact: Callable[..., Any], backend: Backend) -> Any:
    """``_kl`` under ``jax.jit`` (for eager calls: one dispatch, not one per primitive)."""
    import jax

    return jax.jit(_kl(exact, backend))


@functools.lru_cache(maxsize=256)
def _jitted(fn: Callable[..., Any], static: tuple[Any, ...], fast: bool) -> Any:
    """``partial(fn, *static)`` under ``jax.jit``; ``fast`` (whether fast paths are on) is
    part of the key, since the trace bakes that choice in."""
    import jax

    return jax.jit(functools.partial(fn, *static))


# --- rows of logits (``logits_rows``) ------------------------------------------------
#
# A ``jax.custom_jvp`` around the generic block functions of
# ``kl_backends._math.logits``.  The whole ``[N, V]`` array is one block (XLA
# fuses the elementwise work into the row reductions).  The rule gives the
# tangent ``sum(ga * da) + sum(gb * db)`` per row from the closed-form
# gradients of ``backward_block`` (for KL wrt the second argument
# ``(softmax(b/T) - softmax(a/T)) / T``), inside ``jax.checkpoint``: reverse
# mode keeps the inputs, the per-row values and the row log-sum-exps, and
# recomputes the gradients in the backward pass (no ``[N, V]`` intermediate of
# the forward is kept; XLA drops the gradient nobody uses).  Every transform
# works: ``grad``, ``jvp``/``jacfwd``, ``vmap``, and higher orders
# (``jax.hessian``), the rule being plain ``jax.numpy`` that JAX differentiates
# again.  float16/bfloat16 are computed in float32 and the gradients returned
# in the inputs' dtype.  Eager calls go through one cached ``jax.jit``.


@functools.cache
def _logits_rows_fn() -> Any:
    import jax
    import jax.numpy as jnp

    from kl_backends._math import logits as _logits

    def prep(x: Any, temperature: Any, work: Any) -> Any:
        x = x.astype(work)
        return x if temperature is None else x / temperature

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4))
    def rows(be: Any, kind: str, beta: Any, temperature: Any, work: Any, a: Any, b: Any) -> Any:
        return _logits.forward_block(
            be, kind, beta, prep(a, temperature, work), prep(b, temperature, work)
        )

    @rows.defjvp
    def rows_jvp(
        be: Any, kind: str, beta: Any, temperature: Any, work: Any, primals: Any, tangents: Any
    ) -> Any:
        a, b = primals
        vals, lse_a, lse_b = _logits.forward_block(
            be, kind, beta, prep(a, temperature, work), prep(b, temperature, work), with_lse=True
        )

        def tangent(a: Any, b: Any, vals: Any, lse_a: Any, lse_b: Any, da: Any, db: Any):
            # Its residuals are its inputs (checkpoint): the gradients are recomputed.
            g = jnp.ones(vals.shape, work)
            if temperature is not None:
                g = g / temperature
            ga, gb = _logits.backward_block(
                be,
                kind,
                beta,
                prep(a, temperature, work),
                prep(b, temperature, work),
                vals,
                g,
                (True, True),
                (lse_a, lse_b),
            )
            return jnp.sum(ga * da.astype(work), axis=-1) + jnp.sum(gb * db.astype(work), axis=-1)

        da, db = tangents
        return vals, jax.checkpoint(tangent)(a, b, vals, lse_a, lse_b, da, db)

    def masked(be: Any, kind: str, beta: Any, temperature: Any, work: Any, a, b, mask) -> Any:
        if mask is None:
            return rows(be, kind, beta, temperature, work, a, b)
        keep = mask[:, None]
        a = jnp.where(keep, a, jnp.zeros((), a.dtype))
        b = jnp.where(keep, b, jnp.zeros((), b.dtype))
        vals = rows(be, kind, beta, temperature, work, a, b)
        return jnp.where(mask, vals, jnp.zeros((), vals.dtype))

    return masked


@functools.lru_cache(maxsize=128)
def _logits_rows_jitted(be: Any, kind: str, beta: Any, temperature: Any, work: Any) -> Any:
    import jax

    return jax.jit(functools.partial(_logits_rows_fn(), be, kind, beta, temperature, work))


class Jax(Backend):
    name = module = distribution = extra = "jax"
    array_types = ("Array",)
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "jax.jit"
    autodiff = True
    compiled_in_matrix = True
    cost = 6

    def _namespace(self) -> Any:
        import jax.numpy as xp  # JAX's own namespace is array-API compliant

        return xp

    def device(self, x: Any) -> Any:
        try:
            return x.device
        except Exception:  # tracers carry no device
            return None

    def values_unavailable(self, x: Any) -> str | None:
        import jax

        if isinstance(x, jax.core.Tracer):
            return "it is a JAX tracer (inside jax.jit, grad or vmap)"
        return None

    def solve_triangular(self, a: Any, b: Any) -> Any:
        import jax.scipy.linalg

        return jax.scipy.linalg.solve_triangular(a, b, lower=True)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any:
        return _kl(exact, self)(p, q)

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        dtype = p.dtype
        if (
            dtype != q.dtype
            or dtype.char not in "fd"
            or p.shape != q.shape
            or not p.ndim
            or p.sharding != q.sharding
            or not fast_paths_enabled()
        ):
            return None
        return _kl_jitted(exact, self)(p, q)

    def stop_gradient(self, x: Any) -> Any:
        import jax

        return jax.lax.stop_gradient(x)

    def rng(self, seed: Any, like: Any) -> Any:
        """A JAX PRNG key: ``jax.random.key(seed)`` for an int, else the key given."""
        import jax

        if isinstance(seed, bool):
            raise TypeError("seed must be an int or a JAX PRNG key; got bool")
        if isinstance(seed, int):
            return jax.random.key(seed)
        if isinstance(seed, jax.Array):
            return seed
        raise TypeError(f"seed must be an int or a JAX PRNG key; got {type(seed).__name__}")

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        import jax

        state, key = jax.random.split(state)
        dtype = like.dtype
        if kind == "uniform":
            out = jax.random.uniform(key, shape, dtype)
        elif kind == "normal":
            out = jax.random.normal(key, shape, dtype)
        elif kind == "gamma":  # differentiable in alpha (implicit reparameterisation)
            out = jax.random.gamma(key, params[0], shape, dtype)
        elif kind == "poisson":
            out = jax.random.poisson(key, params[0], shape).astype(dtype)
        elif kind == "binomial":
            out = jax.random.binomial(key, params[0], params[1], shape, dtype)
        else:
            raise ValueError(f"unknown kind of random numbers {kind!r}")
        return out, state

    def special(self, name: str) -> Callable[[Any], Any] | None:
        names = {
            "lgamma": "gammaln",
            "digamma": "digamma",
            "erf": "erf",
            "i0e": "i0e",
            "i1e": "i1e",
        }
        return native_function("jax.scipy.special", names.get(name))

    def logits_rows(
        self, kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any
    ) -> Any:
        import jax
        import jax.numpy as jnp

        if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
            return _logits_rows_fn()(self, kind, beta, temperature, work, a, b, mask)
        jitted = _logits_rows_jitted(self, kind, beta, temperature, jnp.dtype(work))
        return jitted(a, b, mask)

    def jit(self, fn: Callable[..., Any], *static: Any) -> Callable[..., Any]:
        return _jitted(fn, static, fast_paths_enabled())

    def read_distribution(self, obj: Any) -> Any:
        """A container for a distrax or numpyro distribution object, else ``None``.

        Recognised through ``sys.modules`` (nothing is imported); a class defined
        outside those libraries (a user's subclass) is not read.  The parameters
        stay JAX arrays (tracers under ``jax.jit`` and ``jax.grad``).
        """
        distrax = sys.modules.get("distrax")
        if (
            distrax is not None
            and isinstance(obj, distrax.Distribution)
            and type(obj).__module__.startswith("distrax.")
        ):
            return _as_jax(_read_distrax(self, obj))
        numpyro = sys.modules.get("numpyro.distributions")
        if (
            numpyro is not None
            and isinstance(obj, numpyro.Distribution)
            and type(obj).__module__.startswith("numpyro.")
        ):
            return _as_jax(_read_numpyro(self, obj))
        return None

    # -- harness -----------------------------------------------------------
    @contextlib.contextmanager
    def harness(self) -> Iterator[None]:
        """x64 mode (float64 is part of the matrix) while checking, then as it was."""
        jax = self.load()
        before = bool(jax.config.read("jax_enable_x64"))
        jax.config.update("jax_enable_x64", True)
        try:
            yield
        finally:
            jax.config.update("jax_enable_x64", before)

    def devices(self) -> list[str]:
        jax = self.load()
        found = ["cpu"]
        try:
            found += [f"gpu:{d.id}" for d in jax.devices("gpu")]
        except RuntimeError:  # no GPU backend
            pass
        return found

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import numpy as np

        jax = self.load()
        platform, _, index = device.partition(":")
        dev = jax.devices(platform)[int(index or 0)]
        return jax.device_put(jax.numpy.asarray(np.asarray(a, np.float64), dtype=dtype), dev)

    def compile(self, fn: Any) -> Any:
        return self.load().jit(fn)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return (
            Builtin("optax.losses.kl_divergence(log q, p)", "optax", _optax_kl),
            Builtin("optax.losses.kl_divergence_with_log_targets", "optax", _optax_log_targets),
            Builtin("jax.scipy.special.rel_entr(p, q).sum(-1)", "jax", _rel_entr),
        )


def _optax_kl(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    # (log_predictions, targets) = (log q, p).
    return optax.losses.kl_divergence(jnp.log(q), p)


def _optax_log_targets(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    return optax.losses.kl_divergence_with_log_targets(jnp.log(q), jnp.log(p))


def _rel_entr(p: Any, q: Any) -> Any:
    import jax.scipy.special as jss

    return jss.rel_entr(p, q).sum(axis=-1)


# --- distrax and numpyro distributions (``read_distribution``) ------------------------
#
# Each reader maps a class, by name, to a container, reading the parameter the
# object was built from where the library keeps it (``probs`` or ``logits``).
# Parameterisations are checked against the libraries' ``log_prob`` and KL in
# tests/test_interop_jax.py.


def _as_jax(container: Any) -> Any:
    """``container`` with its NumPy arrays and Python numbers as JAX arrays.

    Both libraries keep some parameters as given (distrax a NumPy array, numpyro
    also Python numbers, and a Binomial's ``total_count`` as a NumPy array): the
    closed forms would compute in NumPy, or refuse to mix the two.
    """
    if container is None:
        return None
    import dataclasses

    import jax
    import jax.numpy as jnp

    from kl_backends.distributions import _containers as C

    changes = {}
    for field in dataclasses.fields(container):
        value = getattr(container, field.name)
        if value is None or field.name == "reinterpreted_batch_ndims":
            continue
        if isinstance(value, C.Distribution):
            changes[field.name] = _as_jax(value)
        elif not isinstance(value, jax.Array):
            changes[field.name] = jnp.asarray(value)
    return dataclasses.replace(container, **changes) if changes else container


def _read_distrax(backend: Backend, obj: Any) -> Any:
    import jax.numpy as jnp

    from kl_backends.distributions import _containers as C

    name = type(obj).__name__
    if name in ("Normal", "LogStddevNormal", "Laplace", "Gumbel"):
        return getattr(C, name.replace("LogStddev", ""))(obj.loc, obj.scale)
    if name == "Uniform":
        return C.Uniform(obj.low, obj.high)
    if name == "Gamma":
        return C.Gamma(obj.concentration, obj.rate)
    if name == "Beta":
        return C.Beta(obj.alpha, obj.beta)  # alpha: the exponent of x, beta: of 1 - x
    if name == "VonMises":
        return C.VonMises(obj.loc, obj.concentration)
    if name == "Dirichlet":
        return C.Dirichlet(obj.concentration)
    if name in ("Bernoulli", "Categorical", "OneHotCategorical"):
        # The one given (the other is computed on each access).
        given = {"logits": obj._logits} if obj._probs is None else {"probs": obj._probs}
        return getattr(C, name)(**given)
    if name in (
        "MultivariateNormalDiag",
        "MultivariateNormalTri",
        "MultivariateNormalFullCovariance",
    ):
        if name == "MultivariateNormalDiag":
            tril = jnp.vectorize(jnp.diag, signature="(d)->(d,d)")(obj.scale_diag)
        elif obj.is_lower:  # FullCovariance keeps the Cholesky factor of its covariance
            tril = obj.scale_tri
        else:
            return C.MultivariateNormal(obj.loc, covariance_matrix=obj.covariance())
        return C.MultivariateNormal(obj.loc, scale_tril=tril)
    if name in ("MultivariateNormalDiagPlusLowRank", "MultivariateNormalFromBijector"):
        # scale = diag + U V^T (or any linear bijector): no triangular factor at hand.
        return C.MultivariateNormal(obj.loc, covariance_matrix=obj.covariance())
    if name == "Independent":
        base = backend.read_distribution(obj.distribution)
        return None if base is None else C.Independent(base, int(obj.reinterpreted_batch_ndims))
    if name == "MixtureSameFamily":
        return _mixture(backend, obj.mixture_distribution, obj.components_distribution)
    return None


#: numpyro classes whose parameter names are ours (``Pareto(scale, alpha)``,
#: ``Weibull(scale, concentration)``; ``InverseGamma``'s ``rate`` is the scale of
#: its density, as ours).
_NUMPYRO_SAME = (
    "Normal",
    "LogNormal",
    "HalfNormal",
    "Laplace",
    "Gumbel",
    "Cauchy",
    "Uniform",
    "Exponential",
    "Gamma",
    "InverseGamma",
    "Beta",
    "Pareto",
    "Weibull",
    "VonMises",
    "Poisson",
    "Dirichlet",
    "LowRankMultivariateNormal",
)


def _read_numpyro(backend: Backend, obj: Any) -> Any:
    from kl_backends.distributions import _containers as C
    from kl_backends.distributions._interop import fields_of

    name = type(obj).__name__
    if name == "Chi2":  # a Gamma subclass
        return C.Chi2(obj.df)
    if name == "BetaProportion":  # a Beta given by its mean and concentration
        name = "Beta"
    if name in _NUMPYRO_SAME:
        cls = getattr(C, name)
        return cls(**{f: getattr(obj, f) for f in fields_of(cls)})
    for family in ("Bernoulli", "Geometric", "Categorical", "Binomial"):
        for kind in ("Probs", "Logits"):
            if name == family + kind:
                given = {kind.lower(): getattr(obj, kind.lower())}
                if family == "Binomial":
                    return C.Binomial(obj.total_count, **given)
                return getattr(C, family)(**given)
    if name == "MultivariateNormal":
        # numpyro computes scale_tril from whichever of the three forms it was given.
        return C.MultivariateNormal(obj.loc, scale_tril=obj.scale_tril)
    if name == "Independent":
        base = backend.read_distribution(obj.base_dist)
        return None if base is None else C.Independent(base, int(obj.reinterpreted_batch_ndims))
    if name == "MixtureSameFamily":
        return _mixture(backend, obj.mixing_distribution, obj.component_distribution)
    return None


def _mixture(backend: Backend, mixing: Any, components: Any) -> Any:
    from kl_backends.distributions import _containers as C

    mix = backend.read_distribution(mixing)
    comp = backend.read_distribution(components)
    if type(mix) is not C.Categorical or comp is None:
        return None
    return C.MixtureSameFamily(mixture_distribution=mix, component_distribution=comp)
