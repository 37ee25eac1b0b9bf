"""Monte Carlo KL for pairs without a closed form (mixtures included), with its standard error."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from kl_backends.distributions._helpers import backend, scalar
from kl_backends.distributions._sampling import (
    _broadcast,
    _readable,
    batch_shape,
    event_ndims,
    log_prob,
    sample_with_score,
)

__all__ = ["MonteCarloKL", "monte_carlo_kl"]

ESTIMATORS = ("k1", "k3")


class MonteCarloKL(NamedTuple):
    """A Monte Carlo estimate of KL(p || q), per batch element, with its standard error."""

    #: The sample mean of the per-sample estimator (nats), shape ``batch``.
    estimate: Any
    #: Its standard error: the samples' standard deviation (ddof 1) / sqrt(n), shape ``batch``.
    standard_error: Any
    #: The number of samples n.
    num_samples: int


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
    finite.  Heavy-tailed log-ratios (e.g. a Cauchy p against a normal q)
    have infinite variance: the estimate converges slowly and the standard
    error is unreliable.

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
        ``(estimate, standard_error, num_samples)``; the arrays have the
        broadcast batch shape of p and q, in p's library and dtype.  Where a
        sample falls outside q's support the estimate is ``+inf`` (then the KL
        is) and its standard error 0.

    Gradients
    ---------
    Differentiable in p's and q's parameters.  p's continuous families are
    reparameterised (``x = g(eps, theta)``, the gamma family through the
    frameworks' implicit-gradient samplers), so the gradient is the pathwise
    one; for p's discrete choices (discrete families, a mixture's component)
    the score-function term ``f(x) grad log p(choice)`` is added, so the
    gradient is unbiased for every family (with higher variance there).

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
    full = _broadcast(batch_shape(cp), batch_shape(cq))
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
    return MonteCarloKL(estimate, se, num_samples)
