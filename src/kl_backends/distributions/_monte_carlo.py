"""Monte Carlo KL for pairs without a closed form (mixtures included), with its standard error.

The standard error is only as good as the per-sample terms' variance: a heavy
tail (infinite variance) makes it unreliable.  ``monte_carlo_kl`` diagnoses
that with the Pareto tail index k-hat of the terms (Vehtari, Simpson, Gelman,
Yao and Gabry, "Pareto smoothed importance sampling", JMLR 25 (2024), the
generalised Pareto fit of Zhang and Stephens, Technometrics 51 (2009)),
returns it as ``MonteCarloKL.pareto_k`` and, when the values can be read
(eager), warns with ``MonteCarloWarning``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

from kl_backends.distributions._helpers import backend, broadcast_shapes, scalar
from kl_backends.distributions._sampling import (
    _readable,
    batch_shape,
    event_ndims,
    log_prob,
    sample_with_score,
)

__all__ = ["MonteCarloKL", "MonteCarloWarning", "monte_carlo_kl"]

ESTIMATORS = ("k1", "k3")
#: k-hat above which the tail is too heavy for the standard error (Vehtari et al. 2024:
#: above 0.7 even a Pareto-smoothed estimate is unreliable; above 0.5 the variance is
#: infinite).
PARETO_K_LIMIT = 0.7
#: ... and fewer effective samples than this behind the sample variance (a few extreme
#: terms carry it): both together warn.
VARIANCE_ESS_LIMIT = 100.0
#: Fewest tail samples for the fit (``num_samples >= 25``); fewer: k-hat is NaN.
MIN_TAIL = 5


class MonteCarloWarning(UserWarning):
    """The Monte Carlo estimate's standard error is unreliable (a heavy-tailed estimator).

    Issued by ``monte_carlo_kl`` where the Pareto tail index of the per-sample
    terms exceeds 0.7 and fewer than 100 effective samples carry their
    variance (only when the values can be read: not under ``jax.jit``,
    ``tf.function`` or ``torch.compile``, nor for lazy Dask arrays).  Silence
    it with ``warnings.simplefilter("ignore", MonteCarloWarning)``, or turn it
    into an error with ``"error"``.

    See Also
    --------
    monte_carlo_kl, MonteCarloKL

    Examples
    --------
    >>> import warnings
    >>> from kl_backends.distributions import MonteCarloWarning
    >>> issubclass(MonteCarloWarning, UserWarning)
    True
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", MonteCarloWarning)
    """


class MonteCarloKL(NamedTuple):
    r"""A Monte Carlo estimate of KL(p || q), per batch element, with its standard error.

    What ``monte_carlo_kl`` returns: a named tuple, so
    ``estimate, se, n, k = monte_carlo_kl(...)`` works too.

    Attributes
    ----------
    estimate : array
        Shape ``batch``: the sample mean of the per-sample terms, in nats.
    standard_error : array
        Shape ``batch``: the terms' standard deviation (ddof 1) over
        :math:`\sqrt n`; 0 where the estimate is ``+inf``.
    num_samples : int
        The number of samples n.
    pareto_k : array
        Shape ``batch``: the Pareto tail index k-hat of the terms (both tails
        for ``"k1"``, the upper one for ``"k3"``).  Below 0.5 the variance is
        finite and the standard error meaningful; above 0.7 the tail is too
        heavy for it.  NaN where the tail cannot be fitted (fewer than 25
        samples, constant terms, an infinite estimate).

    See Also
    --------
    monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Normal, monte_carlo_kl
    >>> est = monte_carlo_kl(Normal(0.0, 1.0), Normal(0.0, 1.0), num_samples=1_000, seed=0)
    >>> est.num_samples, float(est.estimate), float(est.standard_error)  # identical: every term 0
    (1000, 0.0, 0.0)
    """

    estimate: Any
    standard_error: Any
    num_samples: int
    pareto_k: Any = None


def monte_carlo_kl(
    p: Any, q: Any, /, *, num_samples: int = 10_000, seed: Any, estimator: str = "k1"
) -> MonteCarloKL:
    r"""Estimate KL(p || q) from ``num_samples`` samples of p, with its standard error.

    .. math::

        \widehat{\mathrm{KL}} = \frac1n \sum_{i=1}^n f(x_i), \quad x_i \sim p,
        \qquad \mathrm{se} = \frac{s_f}{\sqrt n}

    with ``f = log p(x) - log q(x)`` (``estimator="k1"``) or, with
    ``r = q(x) / p(x)``, ``f = (r - 1) - log r`` (``"k3"``, Schulman 2020:
    every term >= 0, lower variance when p and q are close; unbiased only when
    q has no mass outside p's support, and of finite variance only when
    ``E_p[r^2] = int q^2 / p`` is finite: for normals, ``scale_q^2 < 2 scale_p^2``).  Both are unbiased for the KL, the
    error is ``O(1/sqrt(n))`` and ``standard_error`` estimates it; an interval
    ``estimate +- 2 standard_error`` covers the KL about 95% of the time for
    large n.  An estimate cannot see mass it does not sample: where p puts a
    tiny probability outside q's support (KL = +inf), the estimate may be
    finite.  Heavy-tailed terms (a Cauchy p against a normal q; ``"k3"``
    where q is much wider than p somewhere, e.g. between a mixture's modes)
    have infinite variance: the estimate converges slowly and the standard
    error is unreliable.  ``pareto_k`` diagnoses it (the tail index k-hat of
    the terms, Vehtari et al. 2024) and a ``MonteCarloWarning`` says so.

    Parameters
    ----------
    p, q
        Distributions: kl_backends containers (``MixtureSameFamily`` included),
        or ``torch.distributions`` / ``tfp.distributions`` objects.  Every
        family has a sampler and a log-density except ``VonMises`` (no sampler).
    num_samples
        n >= 2.  Memory is ``n`` times the broadcast batch (times the event
        size, and the number of components for a mixture).
    seed
        An ``int`` or p's library's own generator: a NumPy ``Generator``, a
        ``torch.Generator`` on the parameters' device, a JAX PRNG key, a
        TensorFlow stateless seed (int tensor of shape [2]).  The same seed gives
        the same estimate.
    estimator
        ``"k1"`` (default) or ``"k3"``.

    Returns
    -------
    MonteCarloKL
        ``(estimate, standard_error, num_samples, pareto_k)``; the arrays have
        the broadcast batch shape of p and q, in p's library and dtype.  Where
        a sample falls outside q's support the estimate is ``+inf`` (then the
        KL is), its standard error 0 and ``pareto_k`` NaN.

    Raises
    ------
    ValueError
        ``num_samples`` not an int >= 2, an unknown ``estimator``, p and q
        with different numbers of event axes, batch shapes that do not
        broadcast.
    NotImplementedError
        p's family has no sampler (``VonMises``), or p or q has no
        log-density here.

    Warns
    -----
    MonteCarloWarning
        Where ``pareto_k > 0.7`` and a few terms carry the sample variance
        (fewer than 100 effective samples behind it, ``(sum d^2)^2 / sum d^4``
        with ``d`` the terms' deviations from their mean): the standard error
        is not to be trusted there.  Only when the values can be read (not
        under ``jax.jit``, ``tf.function``, ``torch.compile`` or for lazy Dask
        arrays; ``pareto_k`` is computed there too, without a host sync).
        A large ``pareto_k`` alone can come from a bounded but bumpy tail (a
        mixture's log-ratio) and does not warn.

    Notes
    -----
    Gradients: differentiable in p's and q's parameters.  p's continuous families are
    reparameterised (``x = g(eps, theta)``, the gamma family through the
    frameworks' implicit-gradient samplers), so the gradient is the pathwise
    one; for p's discrete choices (discrete families, a mixture's component)
    the score-function term ``f(x) grad log p(choice)`` is added, so the
    gradient is unbiased for every family (with higher variance there).

    See Also
    --------
    kl : the closed form, where one is registered.
    MonteCarloKL, MonteCarloWarning

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import (
    ...     Categorical, MixtureSameFamily, Normal, kl, monte_carlo_kl)
    >>> p, q = Normal(0.0, 1.0), Normal(1.0, 2.0)
    >>> est = monte_carlo_kl(p, q, num_samples=100_000, seed=0)
    >>> bool(abs(est.estimate - kl(p, q)) < 4 * est.standard_error)
    True
    >>> mix = MixtureSameFamily(Categorical(probs=np.array([0.3, 0.7])),
    ...                         Normal(np.array([-1.0, 2.0]), np.array([0.5, 1.0])))
    >>> est = monte_carlo_kl(mix, Normal(1.0, 2.0), num_samples=100_000, seed=0)
    >>> print(f"{est.estimate:.2f} +- {est.standard_error:.3f}")  # quadrature: 0.187358
    0.19 +- 0.001
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(f"num_samples must be an int >= 2; got {num_samples!r}")
    cp, cq = _readable(p, "p"), _readable(q, "q")
    e_p, e_q = event_ndims(cp), event_ndims(cq)
    if e_p != e_q:
        raise ValueError(
            f"p and q must have the same number of event axes; p ({type(cp).__name__}) has "
            f"{e_p}, q ({type(cq).__name__}) has {e_q}"
        )
    full = broadcast_shapes(batch_shape(cp), batch_shape(cq))
    x, score = sample_with_score(cp, num_samples, seed)
    be = backend(x)
    xp = be.xp
    shape = tuple(x.shape)
    event = shape[len(shape) - e_p :] if e_p else ()
    ones = (1,) * (len(full) - (len(shape) - 1 - e_p))  # p's batch, right-aligned to full
    x = xp.broadcast_to(
        xp.reshape(x, (num_samples, *ones, *shape[1:])), (num_samples, *full, *event)
    )
    if score is not None:
        score = xp.reshape(score, (num_samples, *ones, *tuple(score.shape)[1:]))
        score = xp.broadcast_to(score, (num_samples, *full))
    with be.quiet():
        lp = log_prob(cp, x)
        lq = log_prob(cq, x)
        if lp.dtype != lq.dtype:
            lq = xp.astype(lq, lp.dtype)
        if estimator == "k1":
            f = lp - lq
        else:
            log_r = lq - lp
            f = xp.expm1(log_r) - log_r
        value = be.stop_gradient(f)
        if score is not None:  # score-function term: adds 0 to the value, its gradient
            finite = xp.isfinite(value) & xp.isfinite(score)
            zero = scalar(xp, 0.0, value)
            term = xp.where(finite, value, zero) * (score - be.stop_gradient(score))
            f = f + xp.where(finite, term, zero)
        estimate = xp.mean(f, axis=0)
        se = xp.std(value, axis=0, correction=1) / math.sqrt(num_samples)
        se = xp.where(estimate == math.inf, scalar(xp, 0.0, se), se)
        k_hat, ess = be.jit(_tail_diagnostics, be, estimator)(value)  # one XLA program
        k_hat = xp.where(xp.isfinite(estimate), k_hat, scalar(xp, math.nan, k_hat))
    if be.values_unavailable(k_hat) is None:  # eager: the values can be read for a warning
        _warn_heavy_tail(xp, be.detach(k_hat), be.detach(ess), estimator, num_samples)
    return MonteCarloKL(estimate, se, num_samples, k_hat)


def _tail_diagnostics(be: Any, estimator: str, value: Any) -> tuple[Any, Any]:
    """Pareto k-hat of the terms' tail(s) and the effective samples behind their variance.

    ``value``: the per-sample terms, shape ``[n, *batch]``.  k-hat is the larger
    of the two tails' for ``"k1"`` (a log-ratio, of either sign), the upper
    tail's for ``"k3"`` (terms >= 0).  The effective sample size of the
    squared deviations ``d`` from the mean, ``(sum d^2)^2 / sum d^4`` (= n / the
    sample kurtosis; about n / 3 for normal terms), is small when a few terms
    carry the sample variance, and with it the standard error.
    """
    xp = be.xp
    n = int(value.shape[0])
    finite = xp.isfinite(value)
    v = xp.where(finite, value, scalar(xp, 0.0, value))
    tail = int(min(0.2 * n, 3.0 * math.sqrt(n)))
    if tail < MIN_TAIL:
        k_hat = v[0, ...] * 0.0 + math.nan
    else:
        s = xp.sort(v, axis=0)
        k_hat = _gpd_k(xp, s[n - tail :, ...] - s[n - tail - 1, ...])
        if estimator == "k1":
            lower = s[tail, ...] - xp.flip(s[:tail, ...], axis=0)
            k_hat = xp.maximum(k_hat, _gpd_k(xp, lower))
    d = v - xp.mean(v, axis=0)
    big = xp.max(xp.abs(d), axis=0)
    d = d / xp.where(big > 0, big, scalar(xp, 1.0, big))  # no overflow of d^4
    d2 = d * d
    s2, s4 = xp.sum(d2, axis=0), xp.sum(d2 * d2, axis=0)
    ess = xp.where(s4 > 0, s2 * s2 / xp.where(s4 > 0, s4, scalar(xp, 1.0, s4)), float(n))
    return k_hat, ess


def _device(x: Any) -> Any:
    return backend(x).device(x)


def _gpd_k(xp: Any, x: Any) -> Any:
    """The shape k of a generalised Pareto fit to exceedances ``x >= 0`` (ascending, axis 0).

    Zhang and Stephens (2009): the posterior mean of ``b = -k / sigma`` over a
    grid of ``30 + sqrt(M)`` values, then ``k = mean(log1p(-b x))``, with the
    weakly informative prior of Vehtari et al. (2024, k shrunk towards 0.5 with
    weight 10 samples), as in their ``gpdfit``.  NaN where every exceedance is 0.
    """
    m = int(x.shape[0])
    grid = 30 + int(math.sqrt(m))
    x_max = x[m - 1, ...]
    x_q = x[int(m / 4 + 0.5) - 1, ...]
    x_q = xp.where(x_q > 0, x_q, x_max)  # ties at the threshold (discrete terms)
    one = scalar(xp, 1.0, x)
    safe_max, safe_q = xp.where(x_max > 0, x_max, one), xp.where(x_q > 0, x_q, one)
    j = xp.arange(grid, dtype=x.dtype, device=_device(x)) + 1.0
    c = 1.0 - xp.sqrt(grid / (j - 0.5))
    c = xp.reshape(c, (grid, *((1,) * (x.ndim - 1))))
    b = 1.0 / safe_max + c / (3.0 * safe_q)  # [grid, *batch], every b < 1 / x_max
    k = xp.mean(xp.log1p(-xp.expand_dims(b, axis=1) * xp.expand_dims(x, axis=0)), axis=1)
    ratio = -b / xp.where(k == 0, one, k)
    ok = (ratio > 0) & (k != 0)
    like = xp.log(xp.where(ok, ratio, one)) - k - 1.0
    like = xp.where(ok, m * like, scalar(xp, -math.inf, like))
    top = xp.max(like, axis=0)
    w = xp.exp(like - xp.where(xp.isfinite(top), top, scalar(xp, 0.0, top)))
    total = xp.sum(w, axis=0)
    b_post = xp.sum(w * b, axis=0) / xp.where(total > 0, total, one)
    k_post = xp.mean(xp.log1p(-b_post * x), axis=0)
    k_post = (m * k_post + 10 * 0.5) / (m + 10)
    return xp.where(x_max > 0, k_post, scalar(xp, math.nan, k_post))


def _warn_heavy_tail(xp: Any, k_hat: Any, ess: Any, estimator: str, n: int) -> None:
    heavy = (k_hat > PARETO_K_LIMIT) & (ess < VARIANCE_ESS_LIMIT)
    if not bool(xp.any(heavy)):
        return
    worst = float(xp.max(xp.where(heavy, k_hat, scalar(xp, -math.inf, k_hat))))
    hint = (
        " estimator='k1' has lighter tails (k3's terms grow like q/p where q is wider)."
        if estimator == "k3"
        else ""
    )
    warnings.warn(
        f"monte_carlo_kl: the per-sample terms of estimator {estimator!r} are heavy-tailed "
        f"(Pareto k-hat {worst:.2f} > {PARETO_K_LIMIT}, and a few of the {n} samples carry "
        "their variance): the variance may be infinite, the estimate converges slowly and "
        "standard_error is unreliable (it underestimates the error). MonteCarloKL.pareto_k "
        f"holds k-hat per batch element.{hint}",
        MonteCarloWarning,
        stacklevel=3,
    )
