"""Log-densities and samplers of the families, written once against the array API.

``log_prob(d, x)`` is the log-density (or log-mass) of ``x`` under ``d``;
``sample(d, n, seed)`` draws ``n`` samples, shaped ``[n, *batch, *event]``.
The random numbers come from the parameters' own library through two
backend hooks, ``Backend.rng(seed, like)`` (the library's generator: a NumPy
``Generator``, a ``torch.Generator``, a JAX key, a TensorFlow stateless seed)
and ``Backend.draw(state, kind, shape, like, *params)`` (uniform, normal,
standard gamma, Poisson, binomial); the transforms below turn them into
samples of each family, so the samples stay in that library and on its device.

Reparameterised families (``x = g(eps, theta)``: every continuous family
here, the gamma-based ones through the frameworks' implicit-gradient gamma
samplers) carry gradients from ``x`` to the parameters.  Discrete families,
and the component choice of a mixture, cannot: each sampler also returns the
log-probability of its discrete choices (``score``, ``None`` when there are
none), which ``monte_carlo_kl`` uses for the score-function term of its
gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from kl_backends import _dispatch
from kl_backends._math import args as _args
from kl_backends._math import common as _common
from kl_backends._math.closed_forms import _softplus
from kl_backends.distributions import _containers as C
from kl_backends.distributions import special as S
from kl_backends.distributions._continuous import cb_lambda, cb_param, cb_stats
from kl_backends.distributions._discrete import probs_of
from kl_backends.distributions._helpers import backend, finish, prep, scalar, sum_last

__all__ = [
    "Stream",
    "batch_shape",
    "event_ndims",
    "log_prob",
    "sample",
    "sample_with_score",
    "supported_families",
]

_LOG_2PI = math.log(2 * math.pi)
_LOG_PROB: dict[type, Callable[[Any, Any], Any]] = {}
_SAMPLE: dict[type, Callable[[Any, Stream, int], tuple[Any, Any]]] = {}


class Stream:
    """Random numbers of one library from one seed, in ``like``'s dtype and on its device."""

    def __init__(self, seed: Any, like: Any) -> None:
        self.be = backend(like)
        self.xp = self.be.xp
        self.like = like
        self.state = self.be.rng(seed, like)

    def _draw(self, kind: str, shape: tuple[Any, ...], *params: Any) -> Any:
        out, self.state = self.be.draw(self.state, kind, shape, self.like, *params)
        return out

    def uniform(self, shape: tuple[Any, ...]) -> Any:
        """Uniform on (0, 1): the library's [0, 1) with 0 moved to the smallest normal."""
        u = self._draw("uniform", shape)
        tiny = self.xp.finfo(self.like.dtype).smallest_normal
        return self.xp.maximum(u, scalar(self.xp, tiny, u))

    def normal(self, shape: tuple[Any, ...]) -> Any:
        return self._draw("normal", shape)

    def gamma(self, alpha: Any, shape: tuple[Any, ...]) -> Any:
        """Gamma(alpha, 1), differentiable in ``alpha`` where the library is (implicit gradients)."""
        return self._draw("gamma", shape, self.xp.broadcast_to(alpha, shape))

    def poisson(self, rate: Any, shape: tuple[Any, ...]) -> Any:
        return self._draw(
            "poisson", shape, self.be.stop_gradient(self.xp.broadcast_to(rate, shape))
        )

    def binomial(self, count: Any, probs: Any, shape: tuple[Any, ...]) -> Any:
        xp, sg = self.xp, self.be.stop_gradient
        return self._draw(
            "binomial", shape, sg(xp.broadcast_to(count, shape)), sg(xp.broadcast_to(probs, shape))
        )


def _register(table: dict[type, Any], *types: type) -> Callable[[Any], Any]:
    def decorator(fn: Any) -> Any:
        for t in types:
            table[t] = fn
        return fn

    return decorator


def event_ndims(d: Any) -> int:
    """Number of event axes of ``d``'s samples (0 for scalar families and Categorical's index)."""
    if isinstance(d, C.Independent):
        return d.reinterpreted_batch_ndims + event_ndims(d.base_dist)
    if isinstance(d, C.MixtureSameFamily):
        return event_ndims(d.component_distribution)
    if isinstance(
        d, (C.Dirichlet, C.OneHotCategorical, C.MultivariateNormal, C.LowRankMultivariateNormal)
    ):
        return 1
    return 0


def _find(table: dict[type, Any], d: Any, what: str) -> Any:
    fn = next((table[t] for t in type(d).__mro__ if t in table), None)
    if fn is None:
        have = ", ".join(sorted(t.__name__ for t in table))
        raise NotImplementedError(f"no {what} for {type(d).__name__}; available for: {have}")
    return fn


def log_prob(d: Any, x: Any, /) -> Any:
    r"""Log-density (continuous) or log-mass (discrete) of ``x`` under ``d``, in nats.

    ``x`` has shape ``[..., *batch, *event]`` (broadcasting against ``d``'s
    batch shape); the result has ``x``'s shape without the event axes.  Outside
    the support it is ``-inf``.  ``Categorical`` takes the category index.
    """
    d = _readable(d)
    return _find(_LOG_PROB, d, "log_prob")(_adopt(d, x), x)


def sample_with_score(d: Any, n: int, seed: Any) -> tuple[Any, Any]:
    """``n`` samples of ``d`` and the log-probability of their discrete choices (or ``None``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of samples must be an int >= 1; got {n!r}")
    d = _readable(d)
    like = _first_array(d)
    return _sample_from(d, Stream(seed, like), n)


def _readable(d: Any, name: str = "d") -> Any:
    """A container for ``d`` (read from a framework's own distribution object), or ``d``."""
    if isinstance(d, C.Distribution):
        return d
    from kl_backends.distributions import _interop

    c = _interop.to_container(d)
    if c is None:
        t = type(d)
        if callable(getattr(d, "log_prob", None)) and callable(getattr(d, "sample", None)):
            # A distribution object of some library, but of a family not read here.
            raise NotImplementedError(
                f"{name} is a {t.__module__}.{t.__qualname__}: its family is not supported "
                "(no sampler and log-density here; a subclass defined outside its library is "
                f"not read either). Supported families: {', '.join(supported_families())}, "
                "as kl_backends.distributions containers or the same families of "
                "torch.distributions, tfp.distributions, distrax or numpyro. For another family "
                "use its library's own sample and log_prob; register a closed-form KL with "
                "@kl_backends.distributions.register_kl(TypeP, TypeQ)."
            )
        raise TypeError(
            f"{name} must be a kl_backends.distributions container or a torch.distributions, "
            f"tfp.distributions, distrax or numpyro object; got {t.__name__}"
        )
    return c


def supported_families() -> list[str]:
    """The names of the families with both a sampler and a log-density, sorted."""
    return sorted(t.__name__ for t in _SAMPLE if t in _LOG_PROB)


def sample(d: Any, n: int, seed: Any) -> Any:
    """``n`` samples of ``d``, shaped ``[n, *batch, *event]``, in the parameters' library.

    ``seed`` is an ``int`` or the library's own generator: a NumPy
    ``Generator``, a ``torch.Generator`` (on the parameters' device), a JAX
    PRNG key, or a TensorFlow stateless seed (an int tensor of shape [2]).  The
    same seed gives the same samples.
    """
    return sample_with_score(d, n, seed)[0]


def _first_array(d: Any) -> Any:
    """A working-dtype array of ``d``'s library (NumPy float64 for Python numbers)."""
    from kl_backends.distributions._registry import _leaves

    leaves = _leaves(d) or [0.0]
    names = tuple(f"parameter{i}" for i in range(len(leaves)))
    return _common.prepare(*leaves, names=names)[2][0]


# --- helpers ---------------------------------------------------------------------------------


def _params(d: Any, *names: str) -> tuple[Any, list[Any], Any]:
    """Namespace, the named parameters broadcast together in the working dtype, output dtype."""
    xp, arrays, dtype = prep(**{n: getattr(d, n) for n in names})
    return xp, list(xp.broadcast_arrays(*arrays)) if len(arrays) > 1 else arrays, dtype


def _shape(n: int, x: Any, extra: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    return (n, *_args.shape_of(x), *extra)


def _where_support(xp: Any, inside: Any, lp: Any) -> Any:
    return xp.where(inside, lp, scalar(xp, -math.inf, lp))


def _xlogy(xp: Any, a: Any, b: Any) -> Any:
    """``a log b`` with 0 there where ``a == 0`` (also at ``b == 0``)."""
    zero = a == 0
    return xp.where(zero, scalar(xp, 0.0, b), a * xp.log(xp.where(zero, scalar(xp, 1.0, b), b)))


def _x(xp: Any, x: Any, like: Any) -> Any:
    """``x`` as an array of ``like``'s library and dtype."""
    if _dispatch.backend_of(x) is None:
        x = xp.asarray(x)
    return xp.astype(x, like.dtype, copy=False)


def _adopt(d: Any, x: Any) -> Any:
    """``d`` with its Python-number parameters as arrays of ``x``'s library and dtype
    (``Normal(0.0, 1.0)`` scores torch samples in torch)."""
    be = _dispatch.backend_of(x)
    if be is None or be.name == "numpy":
        return d
    changes: dict[str, Any] = {}
    for f in fields(d):
        value = getattr(d, f.name)
        if isinstance(value, C.Distribution):
            changes[f.name] = _adopt(value, x)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if f.name == "reinterpreted_batch_ndims":
                continue
            changes[f.name] = be.xp.asarray(value, dtype=x.dtype, device=be.device(x))
    return replace(d, **changes) if changes else d


# --- log-densities ---------------------------------------------------------------------------


def _lp_normal_z(xp: Any, z: Any, log_scale: Any) -> Any:
    return -0.5 * z * z - log_scale - 0.5 * _LOG_2PI


@_register(_LOG_PROB, C.Normal)
def _lp_normal(d: Any, x: Any) -> Any:
    xp, (m, s), dtype = _params(d, "loc", "scale")
    x = _x(xp, x, m)
    return finish(xp, _lp_normal_z(xp, (x - m) / s, xp.log(s)), dtype)


@_register(_LOG_PROB, C.LogNormal)
def _lp_lognormal(d: Any, x: Any) -> Any:
    xp, (m, s), dtype = _params(d, "loc", "scale")
    x = _x(xp, x, m)
    pos = x > 0
    lx = xp.log(xp.where(pos, x, scalar(xp, 1.0, x)))
    return finish(
        xp, _where_support(xp, pos, _lp_normal_z(xp, (lx - m) / s, xp.log(s)) - lx), dtype
    )


@_register(_LOG_PROB, C.HalfNormal)
def _lp_halfnormal(d: Any, x: Any) -> Any:
    xp, (s,), dtype = _params(d, "scale")
    x = _x(xp, x, s)
    lp = math.log(2) + _lp_normal_z(xp, x / s, xp.log(s))
    return finish(xp, _where_support(xp, x >= 0, lp), dtype)


@_register(_LOG_PROB, C.Laplace)
def _lp_laplace(d: Any, x: Any) -> Any:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    x = _x(xp, x, m)
    return finish(xp, -xp.abs(x - m) / b - xp.log(2 * b), dtype)


@_register(_LOG_PROB, C.Gumbel)
def _lp_gumbel(d: Any, x: Any) -> Any:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    z = (_x(xp, x, m) - m) / b
    return finish(xp, -(z + xp.exp(-z)) - xp.log(b), dtype)


@_register(_LOG_PROB, C.Cauchy)
def _lp_cauchy(d: Any, x: Any) -> Any:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    z = (_x(xp, x, m) - m) / b
    return finish(xp, -math.log(math.pi) - xp.log(b) - xp.log1p(z * z), dtype)


@_register(_LOG_PROB, C.Uniform)
def _lp_uniform(d: Any, x: Any) -> Any:
    xp, (lo, hi), dtype = _params(d, "low", "high")
    x = _x(xp, x, lo)
    lp = -xp.log(hi - lo) + 0.0 * x
    return finish(xp, _where_support(xp, (x >= lo) & (x < hi), lp), dtype)


def _gamma_lp(xp: Any, a: Any, r: Any, x: Any) -> Any:
    pos = x > 0
    safe = xp.where(pos, x, scalar(xp, 1.0, x))
    lp = _xlogy(xp, a, r) + _xlogy(xp, a - 1, safe) - r * safe - S.lgamma(a)
    # x == 0 is in the support's closure: finite for a == 1, +inf for a < 1.
    at0 = xp.where(
        a == 1, xp.log(r), xp.where(a < 1, scalar(xp, math.inf, r), scalar(xp, -math.inf, r))
    )
    return xp.where(pos, lp, xp.where(x == 0, at0, scalar(xp, -math.inf, lp)))


@_register(_LOG_PROB, C.Exponential)
def _lp_exponential(d: Any, x: Any) -> Any:
    xp, (r,), dtype = _params(d, "rate")
    x = _x(xp, x, r)
    return finish(xp, _where_support(xp, x >= 0, xp.log(r) - r * x), dtype)


@_register(_LOG_PROB, C.Gamma)
def _lp_gamma(d: Any, x: Any) -> Any:
    xp, (a, r), dtype = _params(d, "concentration", "rate")
    return finish(xp, _gamma_lp(xp, a, r, _x(xp, x, a)), dtype)


@_register(_LOG_PROB, C.Chi2)
def _lp_chi2(d: Any, x: Any) -> Any:
    xp, (k,), dtype = _params(d, "df")
    return finish(xp, _gamma_lp(xp, k / 2, 0.0 * k + 0.5, _x(xp, x, k)), dtype)


@_register(_LOG_PROB, C.InverseGamma)
def _lp_inversegamma(d: Any, x: Any) -> Any:
    xp, (a, b), dtype = _params(d, "concentration", "rate")
    x = _x(xp, x, a)
    pos = x > 0
    safe = xp.where(pos, x, scalar(xp, 1.0, x))
    lp = a * xp.log(b) - S.lgamma(a) - (a + 1) * xp.log(safe) - b / safe
    return finish(xp, _where_support(xp, pos, lp), dtype)


@_register(_LOG_PROB, C.Beta)
def _lp_beta(d: Any, x: Any) -> Any:
    xp, (a, b), dtype = _params(d, "concentration1", "concentration0")
    x = _x(xp, x, a)
    inside = (x > 0) & (x < 1)
    safe = xp.where(inside, x, scalar(xp, 0.5, x))
    lp = _xlogy(xp, a - 1, safe) + (b - 1) * xp.log1p(-safe) - S.betaln(a, b)
    return finish(xp, _where_support(xp, inside, lp), dtype)


@_register(_LOG_PROB, C.Pareto)
def _lp_pareto(d: Any, x: Any) -> Any:
    xp, (s, al), dtype = _params(d, "scale", "alpha")
    x = _x(xp, x, s)
    inside = x >= s
    safe = xp.where(inside, x, s)
    lp = xp.log(al) + al * xp.log(s) - (al + 1) * xp.log(safe)
    return finish(xp, _where_support(xp, inside, lp), dtype)


@_register(_LOG_PROB, C.Weibull)
def _lp_weibull(d: Any, x: Any) -> Any:
    xp, (lam, k), dtype = _params(d, "scale", "concentration")
    x = _x(xp, x, lam)
    inside = x >= 0
    z = xp.where(inside, x, scalar(xp, 0.0, x)) / lam
    lp = xp.log(k) - xp.log(lam) + _xlogy(xp, k - 1, z) - z**k
    return finish(xp, _where_support(xp, inside, lp), dtype)


@_register(_LOG_PROB, C.VonMises)
def _lp_vonmises(d: Any, x: Any) -> Any:
    xp, (m, k), dtype = _params(d, "loc", "concentration")
    x = _x(xp, x, m)
    lp = k * (xp.cos(x - m) - 1) - _LOG_2PI - S.log_i0e(k)
    return finish(xp, lp, dtype)


@_register(_LOG_PROB, C.ContinuousBernoulli)
def _lp_cb(d: Any, x: Any) -> Any:
    xp, (a,), dtype = prep(probs=cb_param(d))
    lam = cb_lambda(xp, d, a)
    x = _x(xp, x, lam)
    log_c = cb_stats(xp, lam)[0]
    lp = log_c + _xlogy(xp, x, lam) + _xlogy(xp, 1 - x, 1 - lam)
    return finish(xp, _where_support(xp, (x >= 0) & (x <= 1), lp), dtype)


@_register(_LOG_PROB, C.Dirichlet)
def _lp_dirichlet(d: Any, x: Any) -> Any:
    xp, (a,), dtype = prep(concentration=d.concentration)
    x = _x(xp, x, a)
    inside = xp.all(x >= 0, axis=-1)
    lp = (
        xp.sum(_xlogy(xp, a - 1, x), axis=-1)
        + S.lgamma(xp.sum(a, axis=-1))
        - xp.sum(S.lgamma(a), axis=-1)
    )
    return finish(xp, _where_support(xp, inside, lp), dtype)


def _integer_support(xp: Any, x: Any, low: Any = 0.0) -> Any:
    return (x >= low) & (x == xp.floor(x))


@_register(_LOG_PROB, C.Poisson)
def _lp_poisson(d: Any, x: Any) -> Any:
    xp, (r,), dtype = _params(d, "rate")
    x = _x(xp, x, r)
    ok = _integer_support(xp, x)
    safe = xp.where(ok, x, scalar(xp, 0.0, x))
    lp = _xlogy(xp, safe, r) - r - S.lgamma(safe + 1)
    return finish(xp, _where_support(xp, ok, lp), dtype)


def _log_p_and_1mp(xp: Any, d: Any, a: Any) -> tuple[Any, Any]:
    """(log p, log(1 - p)) of a probs-or-logits container from its prepared parameter."""
    if d.probs is not None:
        return xp.log(a), xp.log1p(-a)
    sp = _softplus(backend(a), -a)  # log(1 + exp(-a)) = -log p
    return -sp, -sp - a


def _probs_or_logits(d: Any) -> Any:
    return d.probs if d.probs is not None else d.logits


@_register(_LOG_PROB, C.Bernoulli)
def _lp_bernoulli(d: Any, x: Any) -> Any:
    xp, (a,), dtype = prep(param=_probs_or_logits(d))
    x = _x(xp, x, a)
    lp1, lp0 = _log_p_and_1mp(xp, d, a)
    lp = xp.where(x == 1, lp1 + 0.0 * x, xp.where(x == 0, lp0 + 0.0 * x, -math.inf + 0.0 * x))
    return finish(xp, lp, dtype)


@_register(_LOG_PROB, C.Geometric)
def _lp_geometric(d: Any, x: Any) -> Any:
    xp, (a,), dtype = prep(param=_probs_or_logits(d))
    x = _x(xp, x, a)
    lp1, lp0 = _log_p_and_1mp(xp, d, a)
    ok = _integer_support(xp, x)
    k = xp.where(ok, x, scalar(xp, 0.0, x))
    if d.probs is None:  # k log(1 - p) from the logits, without rounding 1 - p
        lp = k * lp0 + lp1
    else:  # 0 log 0 = 0 at p = 1
        lp = _xlogy(xp, k, 1 - a) + lp1
    return finish(xp, _where_support(xp, ok, lp), dtype)


@_register(_LOG_PROB, C.Binomial)
def _lp_binomial(d: Any, x: Any) -> Any:
    xp, (n, a), dtype = prep(total_count=d.total_count, param=_probs_or_logits(d))
    x = _x(xp, x, a)
    ok = _integer_support(xp, x) & (x <= n)
    k = xp.where(ok, x, scalar(xp, 0.0, x))
    comb = S.lgamma(n + 1) - S.lgamma(k + 1) - S.lgamma(n - k + 1)
    if d.probs is None:
        lp1, lp0 = _log_p_and_1mp(xp, d, a)
        lp = comb + k * lp1 + (n - k) * lp0
    else:  # 0 log 0 = 0 at p = 0 and p = 1
        lp = comb + _xlogy(xp, k, a) + _xlogy(xp, n - k, 1 - a)
    return finish(xp, _where_support(xp, ok, lp), dtype)


def _categorical_log_probs(d: Any) -> tuple[Any, Any, Any]:
    from kl_backends.distributions._discrete import _log_probs

    xp, (a,), dtype = prep(param=_probs_or_logits(d))
    return xp, _log_probs(xp, d, a), dtype


def _one_hot(xp: Any, index: Any, k: Any, like: Any) -> Any:
    be = backend(like)
    arange = xp.arange(k, dtype=like.dtype, device=be.device(like))
    return xp.expand_dims(xp.astype(index, like.dtype), axis=-1) == arange


@_register(_LOG_PROB, C.Categorical)
def _lp_categorical(d: Any, x: Any) -> Any:
    xp, logp, dtype = _categorical_log_probs(d)
    k = _args.shape_of(logp)[-1]
    x = _x(xp, x, logp)
    hit = _one_hot(xp, x, k, logp)
    lp = xp.sum(xp.where(hit, logp, scalar(xp, 0.0, logp)), axis=-1)
    ok = _integer_support(xp, x) & (x < k)
    return finish(xp, _where_support(xp, ok, lp), dtype)


@_register(_LOG_PROB, C.OneHotCategorical)
def _lp_onehot(d: Any, x: Any) -> Any:
    xp, logp, dtype = _categorical_log_probs(d)
    x = _x(xp, x, logp)
    hit = x == 1
    lp = xp.sum(xp.where(hit, logp, scalar(xp, 0.0, logp)), axis=-1)
    ok = xp.all((x == 0) | hit, axis=-1) & (xp.sum(x, axis=-1) == 1)
    return finish(xp, _where_support(xp, ok, lp), dtype)


def _mvn_lower(d: Any) -> tuple[Any, Any, Any, Any, bool]:
    """(xp, loc, lower, dtype, of_precision): ``lower`` is scale_tril, or chol(precision)."""
    from kl_backends.distributions._multivariate import _mvn_tril, _tril

    kind, m = _mvn_tril(d)
    xp, (loc, m), dtype = prep(loc=d.loc, matrix=m)
    if kind == "precision":
        return xp, loc, backend(m).cholesky(m), dtype, True
    return xp, loc, _tril(xp, d, m, kind), dtype, False


def _col(xp: Any, x: Any) -> Any:
    return xp.expand_dims(x, axis=-1)


@_register(_LOG_PROB, C.MultivariateNormal)
def _lp_mvn(d: Any, x: Any) -> Any:
    from kl_backends.distributions._multivariate import _solve

    xp, loc, lower, dtype, of_precision = _mvn_lower(d)
    delta = _x(xp, x, loc) - loc
    n: Any = _args.shape_of(loc)[-1]
    if of_precision:  # |L^T delta|^2 with precision = L L^T; log det Sigma = -2 sum log diag L
        z = xp.sum(_col(xp, delta) * lower, axis=-2)
        half_logdet = -xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
    else:
        z = _solve(xp, lower, _col(xp, delta))[..., 0]
        half_logdet = xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
    lp = -0.5 * xp.sum(z * z, axis=-1) - half_logdet - 0.5 * n * _LOG_2PI
    return finish(xp, lp, dtype)


@_register(_LOG_PROB, C.LowRankMultivariateNormal)
def _lp_lowrank(d: Any, x: Any) -> Any:
    from kl_backends.distributions._multivariate import _q_lowrank

    xp, (loc, w, dg), dtype = prep(loc=d.loc, cov_factor=d.cov_factor, cov_diag=d.cov_diag)
    delta = _x(xp, x, loc) - loc
    n: Any = _args.shape_of(loc)[-1]
    _, logdet, maha = _q_lowrank(xp, w, dg, delta)
    return finish(xp, -0.5 * (maha + logdet + n * _LOG_2PI), dtype)


@_register(_LOG_PROB, C.Independent)
def _lp_independent(d: Any, x: Any) -> Any:
    lp = log_prob(d.base_dist, x)
    return sum_last(backend(lp).xp, lp, d.reinterpreted_batch_ndims)


def _mixture_log_weights(d: Any) -> tuple[Any, Any]:
    xp, logw, _ = _categorical_log_probs(d.mixture_distribution)
    return xp, logw


@_register(_LOG_PROB, C.MixtureSameFamily)
def _lp_mixture(d: Any, x: Any) -> Any:
    xp, logw = _mixture_log_weights(d)
    e = event_ndims(d.component_distribution)
    x = _x(xp, x, logw)
    lpc = log_prob(d.component_distribution, xp.expand_dims(x, axis=-(e + 1)))  # [..., K]
    return _logsumexp(xp, lpc + logw)


def _logsumexp(xp: Any, x: Any) -> Any:
    """log sum exp over the last axis; -inf where every term is -inf (no NaN)."""
    m = xp.max(x, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, scalar(xp, 0.0, m))
    return xp.log(xp.sum(xp.exp(x - m), axis=-1)) + m[..., 0]


# --- samplers ----------------------------------------------------------------------------------


def _done(xp: Any, x: Any, dtype: Any, score: Any = None) -> tuple[Any, Any]:
    return finish(xp, x, dtype), score


@_register(_SAMPLE, C.Normal)
def _s_normal(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (m, s), dtype = _params(d, "loc", "scale")
    return _done(xp, m + s * rs.normal(_shape(n, m)), dtype)


@_register(_SAMPLE, C.LogNormal)
def _s_lognormal(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (m, s), dtype = _params(d, "loc", "scale")
    return _done(xp, xp.exp(m + s * rs.normal(_shape(n, m))), dtype)


@_register(_SAMPLE, C.HalfNormal)
def _s_halfnormal(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (s,), dtype = _params(d, "scale")
    return _done(xp, s * xp.abs(rs.normal(_shape(n, s))), dtype)


@_register(_SAMPLE, C.Laplace)
def _s_laplace(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    v = 2 * rs.uniform(_shape(n, m)) - 1  # (-1, 1)
    return _done(xp, m - b * xp.sign(v) * xp.log1p(-xp.abs(v)), dtype)


@_register(_SAMPLE, C.Gumbel)
def _s_gumbel(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    return _done(xp, m - b * xp.log(-xp.log(rs.uniform(_shape(n, m)))), dtype)


@_register(_SAMPLE, C.Cauchy)
def _s_cauchy(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (m, b), dtype = _params(d, "loc", "scale")
    return _done(xp, m + b * xp.tan(math.pi * (rs.uniform(_shape(n, m)) - 0.5)), dtype)


@_register(_SAMPLE, C.Uniform)
def _s_uniform(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (lo, hi), dtype = _params(d, "low", "high")
    return _done(xp, lo + (hi - lo) * rs.uniform(_shape(n, lo)), dtype)


@_register(_SAMPLE, C.Exponential)
def _s_exponential(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (r,), dtype = _params(d, "rate")
    return _done(xp, -xp.log(rs.uniform(_shape(n, r))) / r, dtype)


@_register(_SAMPLE, C.Gamma)
def _s_gamma(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a, r), dtype = _params(d, "concentration", "rate")
    return _done(xp, rs.gamma(a, _shape(n, a)) / r, dtype)


@_register(_SAMPLE, C.Chi2)
def _s_chi2(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (k,), dtype = _params(d, "df")
    return _done(xp, 2 * rs.gamma(k / 2, _shape(n, k)), dtype)


@_register(_SAMPLE, C.InverseGamma)
def _s_inversegamma(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a, b), dtype = _params(d, "concentration", "rate")
    return _done(xp, b / rs.gamma(a, _shape(n, a)), dtype)


@_register(_SAMPLE, C.Beta)
def _s_beta(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a, b), dtype = _params(d, "concentration1", "concentration0")
    ga, gb = rs.gamma(a, _shape(n, a)), rs.gamma(b, _shape(n, b))
    return _done(xp, ga / (ga + gb), dtype)


@_register(_SAMPLE, C.Dirichlet)
def _s_dirichlet(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a,), dtype = prep(concentration=d.concentration)
    g = rs.gamma(a, _shape(n, a))
    return _done(xp, g / xp.sum(g, axis=-1, keepdims=True), dtype)


@_register(_SAMPLE, C.Pareto)
def _s_pareto(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (s, al), dtype = _params(d, "scale", "alpha")
    return _done(xp, s * xp.exp(-xp.log(rs.uniform(_shape(n, s))) / al), dtype)


@_register(_SAMPLE, C.Weibull)
def _s_weibull(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (lam, k), dtype = _params(d, "scale", "concentration")
    return _done(xp, lam * (-xp.log(rs.uniform(_shape(n, lam)))) ** (1 / k), dtype)


@_register(_SAMPLE, C.ContinuousBernoulli)
def _s_cb(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    """Inverse CDF: log1p(u (2 l - 1) / (1 - l)) / log(l / (1 - l)); u itself near l = 1/2."""
    xp, (a,), dtype = prep(probs=cb_param(d))
    lam = cb_lambda(xp, d, a)
    u = rs.uniform(_shape(n, lam))
    near = xp.abs(lam - 0.5) < 1e-3
    safe = xp.where(near, scalar(xp, 0.25, lam), lam)
    x = xp.log1p(u * (2 * safe - 1) / (1 - safe)) / (xp.log(safe) - xp.log1p(-safe))
    # second order in (l - 1/2): x = u + 2 u (1 - u) (l - 1/2) + O((l - 1/2)^2)
    x = xp.where(near, u + 2 * u * (1 - u) * (lam - 0.5), x)
    return _done(xp, x, dtype)


def _discrete(d: Any, xp: Any, x: Any, dtype: Any) -> tuple[Any, Any]:
    x = backend(x).stop_gradient(x)
    return _done(xp, x, dtype, log_prob(d, x))


@_register(_SAMPLE, C.Bernoulli)
def _s_bernoulli(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a,), dtype = prep(param=_probs_or_logits(d))
    pr = probs_of(d, xp, a)
    x = xp.astype(rs.uniform(_shape(n, pr)) < pr, pr.dtype)
    return _discrete(d, xp, x, dtype)


@_register(_SAMPLE, C.Geometric)
def _s_geometric(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (a,), dtype = prep(param=_probs_or_logits(d))
    lp0 = _log_p_and_1mp(xp, d, a)[1]
    u = rs.uniform(_shape(n, a))
    x = xp.where(lp0 == -math.inf, 0.0 * u, xp.floor(xp.log(u) / lp0))
    return _discrete(d, xp, x, dtype)


@_register(_SAMPLE, C.Poisson)
def _s_poisson(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (r,), dtype = _params(d, "rate")
    return _discrete(d, xp, xp.astype(rs.poisson(r, _shape(n, r)), r.dtype), dtype)


@_register(_SAMPLE, C.Binomial)
def _s_binomial(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (c, a), dtype = prep(total_count=d.total_count, param=_probs_or_logits(d))
    c, a = xp.broadcast_arrays(c, a)
    pr = probs_of(d, xp, a)
    x = xp.astype(rs.binomial(c, pr, _shape(n, pr)), pr.dtype)
    return _discrete(d, xp, x, dtype)


def _gumbel_max(xp: Any, logp: Any, rs: Stream, n: int) -> Any:
    """Category indices by the Gumbel-max trick: argmax(log p + Gumbel noise)."""
    g = -xp.log(-xp.log(rs.uniform(_shape(n, logp))))
    return xp.argmax(logp + g, axis=-1)


@_register(_SAMPLE, C.Categorical)
def _s_categorical(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, logp, _ = _categorical_log_probs(d)
    index = _gumbel_max(xp, logp, rs, n)
    x = backend(index).stop_gradient(index)
    return x, log_prob(d, x)


@_register(_SAMPLE, C.OneHotCategorical)
def _s_onehot(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, logp, dtype = _categorical_log_probs(d)
    k = _args.shape_of(logp)[-1]
    x = xp.astype(_one_hot(xp, _gumbel_max(xp, logp, rs, n), k, logp), logp.dtype)
    return _discrete(d, xp, x, dtype)


@_register(_SAMPLE, C.MultivariateNormal)
def _s_mvn(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    from kl_backends.distributions._multivariate import _solve

    xp, loc, lower, dtype, of_precision = _mvn_lower(d)
    batch = _args.broadcast_shape(_args.shape_of(loc)[:-1], _args.shape_of(lower)[:-2])
    dim = _args.shape_of(loc)[-1]
    z = rs.normal((n, *batch, dim))
    if of_precision:  # x = loc + L^-T z, precision = L L^T
        lt = xp.broadcast_to(xp.matrix_transpose(lower), (n, *batch, dim, dim))
        flipped = xp.flip(xp.flip(lt, axis=-1), axis=-2)  # upper -> lower
        y = _solve(xp, flipped, _col(xp, xp.flip(z, axis=-1)))[..., 0]
        return _done(xp, loc + xp.flip(y, axis=-1), dtype)
    return _done(xp, loc + xp.sum(lower * xp.expand_dims(z, axis=-2), axis=-1), dtype)


@_register(_SAMPLE, C.LowRankMultivariateNormal)
def _s_lowrank(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    xp, (loc, w, dg), dtype = prep(loc=d.loc, cov_factor=d.cov_factor, cov_diag=d.cov_diag)
    batch = _broadcast(_args.shape_of(loc)[:-1], _args.shape_of(w)[:-2], _args.shape_of(dg)[:-1])
    dim, rank = _args.shape_of(w)[-2:]
    z1, z2 = rs.normal((n, *batch, rank)), rs.normal((n, *batch, dim))
    x = loc + xp.sum(w * xp.expand_dims(z1, axis=-2), axis=-1) + xp.sqrt(dg) * z2
    return _done(xp, x, dtype)


@_register(_SAMPLE, C.Independent)
def _s_independent(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    x, score = _sample_from(d.base_dist, rs, n)
    if score is not None:
        score = sum_last(backend(score).xp, score, d.reinterpreted_batch_ndims)
    return x, score


@_register(_SAMPLE, C.MixtureSameFamily)
def _s_mixture(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    """Every component's sample, then the one the mixing Categorical picks (static shapes)."""
    xp, logw = _mixture_log_weights(d)
    xs, score_c = _sample_from(d.component_distribution, rs, n)
    e = event_ndims(d.component_distribution)
    shape = _args.shape_of(xs)
    logw = xp.broadcast_to(logw, shape[1 : len(shape) - e])  # [*batch, K]
    k = _args.shape_of(logw)[-1]
    index = backend(logw).stop_gradient(_gumbel_max(xp, logw, rs, n))  # [n, *batch]
    pick = _one_hot(xp, index, k, logw)  # [n, *batch, K]
    axis = -(e + 1)
    wide = pick
    for _ in range(e):
        wide = xp.expand_dims(wide, axis=-1)
    x = xp.sum(xp.where(wide, xs, scalar(xp, 0.0, xs)), axis=axis)
    score = xp.sum(xp.where(pick, logw, scalar(xp, 0.0, logw)), axis=-1)
    if score_c is not None:
        score = score + xp.sum(xp.where(pick, score_c, scalar(xp, 0.0, score_c)), axis=-1)
    return x, score


def _sample_from(d: Any, rs: Stream, n: int) -> tuple[Any, Any]:
    """``(samples, score)`` of a container from the stream ``rs``."""
    return _find(_SAMPLE, d, "sampler")(d, rs, n)  # type: ignore[no-any-return]


def batch_shape(d: Any) -> tuple[Any, ...]:
    """The batch shape of a container: its parameters' broadcast shape less the event axes."""
    if isinstance(d, C.Independent):
        shape = batch_shape(d.base_dist)
        return shape[: len(shape) - d.reinterpreted_batch_ndims]
    if isinstance(d, C.MixtureSameFamily):
        return _broadcast(
            batch_shape(d.mixture_distribution), batch_shape(d.component_distribution)[:-1]
        )
    trailing = {
        "concentration": 1 if isinstance(d, C.Dirichlet) else 0,
        "probs": 1 if isinstance(d, (C.Categorical, C.OneHotCategorical)) else 0,
        "logits": 1 if isinstance(d, (C.Categorical, C.OneHotCategorical)) else 0,
        "loc": 1 if isinstance(d, (C.MultivariateNormal, C.LowRankMultivariateNormal)) else 0,
        "covariance_matrix": 2,
        "precision_matrix": 2,
        "scale_tril": 2,
        "cov_factor": 2,
        "cov_diag": 1,
    }
    shapes = []
    for name, value in d.params().items():
        shape = tuple(_args.shape_of(value)) if hasattr(value, "shape") else _np_shape(value)
        cut = trailing.get(name, 0)
        shapes.append(shape[: len(shape) - cut])
    return _broadcast(*shapes)


def _np_shape(value: Any) -> tuple[int, ...]:
    import numpy as np

    return tuple(np.shape(value))


def _broadcast(*shapes: Any) -> tuple[Any, ...]:
    out: tuple[Any, ...] = ()
    for shape in shapes:
        out = _args.broadcast_shape(out, tuple(shape), names=("a parameter", "another"))
    return out
