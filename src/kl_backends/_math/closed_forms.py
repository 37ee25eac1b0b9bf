"""Closed-form KL divergences between parametric distributions.

All functions take arrays of any supported library (Python numbers too),
broadcast their parameters over leading (batch) dimensions, return the result
in the inputs' library and dtype, read no values (except the eager positive
definiteness check of ``kl_multivariate_normal``), and are differentiable in
PyTorch, JAX and TensorFlow.  ``base`` and ``reduction`` mean what they mean in
``kl_divergence``.

Where two distributions are nearly equal the formulas are arranged so that the
cancellation happens in ``expm1`` / ``log1p`` rather than in a subtraction of
nearly equal numbers, so small divergences keep their relative accuracy.
"""

from __future__ import annotations

from typing import Any

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.closed_form_helpers import check_reduction as _check
from kl_backends._math.closed_form_helpers import expm1_minus as _expm1_minus
from kl_backends._math.closed_form_helpers import finish_reduced as _finish
from kl_backends._math.closed_form_helpers import log_ratio as _log_ratio
from kl_backends._math.closed_form_helpers import nan_where as _nan_where
from kl_backends._math.closed_form_helpers import softplus as _softplus
from kl_backends._math.mvn import kl_multivariate_normal

__all__ = [
    "kl_bernoulli",
    "kl_exponential",
    "kl_multivariate_normal",
    "kl_normal",
    "kl_poisson",
    "kl_standard_normal",
]


def kl_normal(
    loc_p: Any,
    scale_p: Any,
    loc_q: Any,
    scale_q: Any,
    /,
    *,
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""KL(N(loc_p, scale_p**2) || N(loc_q, scale_q**2)) of univariate normals.

    .. math::

        \log\frac{\sigma_q}{\sigma_p} + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2}
        - \frac12
        = \tfrac12\,(e^{2t} - 1 - 2t) + \frac{(\mu_p - \mu_q)^2}{2\sigma_q^2},
        \quad t = \log\frac{\sigma_p}{\sigma_q}

    Parameters
    ----------
    loc_p, scale_p, loc_q, scale_q : array_like, broadcastable
        Means and *standard deviations* (not variances).  Non-positive scales
        give NaN (two negative scales too).
    base, reduction
        As in ``kl_divergence``; ``reduction`` sums or averages over all
        (broadcast) elements.

    Returns
    -------
    array
        One value per broadcast element.

    Examples
    --------
    >>> from kl_backends import kl_normal
    >>> print(f"{kl_normal(0.0, 1.0, 1.0, 2.0):.10f}")
    0.4431471806
    """
    _check(reduction)
    be, xp, (mp, sp, mq, sq), dtype = _common.prepare(
        loc_p, scale_p, loc_q, scale_q, names=("loc_p", "scale_p", "loc_q", "scale_q")
    )
    with be.quiet():
        t = _log_ratio(xp, sp, sq)
        z = (mp - mq) / sq
        out = 0.5 * _expm1_minus(xp, 2 * t) + 0.5 * z * z
        out = _nan_where(be, out, (sp <= 0) | (sq <= 0))
        return _finish(xp, out, dtype, base, reduction)


def kl_standard_normal(
    mu: Any,
    log_var: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""The VAE latent loss: KL(N(mu, exp(log_var)) || N(0, I)), summed over ``axis``.

    .. math::

        -\tfrac12 \sum (1 + \log\sigma^2 - \mu^2 - \sigma^2)
        = \tfrac12 \sum (\operatorname{expm1}(\log\sigma^2) - \log\sigma^2 + \mu^2)

    the usual form ``-0.5 * sum(1 + log_var - mu**2 - exp(log_var))``,
    with ``expm1`` so that a posterior close to the prior keeps its accuracy.

    Parameters
    ----------
    mu, log_var : array_like, broadcastable ``[..., latent]``
        Posterior means and log-variances (not log standard deviations: for
        ``sd`` pass ``2 * log(sd)``).
    axis : int or tuple of int, default -1
        The latent axes, summed over.
    base, reduction
        As in ``kl_divergence``: ``reduction="mean"`` averages over the batch.

    Examples
    --------
    >>> from kl_backends import kl_standard_normal
    >>> print(f"{kl_standard_normal([0.0, 1.0], [0.0, 0.0]):.2f}")
    0.50
    """
    _check(reduction)
    be, xp, (m, lv), dtype = _common.prepare(mu, log_var, names=("mu", "log_var"))
    with be.quiet():
        shape = _args.broadcast_shape(_args.shape_of(m), _args.shape_of(lv), ("mu", "log_var"))
        axes = _args.normalize_axis(axis, len(shape))
        terms = _expm1_minus(xp, lv) + m * m
        out = 0.5 * xp.sum(_common.broadcast_to(xp, terms, shape), axis=axes)
        return _finish(xp, out, dtype, base, reduction)


def kl_bernoulli(
    p: Any,
    q: Any,
    /,
    *,
    inputs: str = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""KL(Bernoulli(p) || Bernoulli(q)).

    .. math:: p \log\frac{p}{q} + (1 - p) \log\frac{1 - p}{1 - q}

    Parameters
    ----------
    p, q : array_like, broadcastable
        Success probabilities (``inputs="probs"``) or their logits
        (``inputs="logits"``, where log p = -softplus(-a) is computed stably).
        Exact at p in {0, 1} (logits +-inf): the vanishing term is 0, and
        q in {0, 1} against a p that puts mass there gives +inf.  A
        probability outside [0, 1] gives NaN.
    inputs : {"probs", "logits"}
    base, reduction
        As in ``kl_divergence``.

    Examples
    --------
    >>> from kl_backends import kl_bernoulli
    >>> print(f"{kl_bernoulli(1.0, 0.5):.6f}")  # log 2
    0.693147
    """
    _check(reduction)
    _args.check_choice("inputs", inputs, ("probs", "logits"))
    be, xp, (a, b), dtype = _common.prepare(p, q, names=("p", "q"))
    with be.quiet():
        if inputs == "probs":
            out = _bernoulli_probs(be, a, b)
            out = _nan_where(be, out, (a < 0) | (a > 1) | (b < 0) | (b > 1))
        else:
            out = _common.log_probs_terms(
                be, -_softplus(be, -a), -_softplus(be, -b)
            ) + _common.log_probs_terms(be, -_softplus(be, a), -_softplus(be, b))
        return _finish(xp, out, dtype, base, reduction)


def _bernoulli_probs(be: Any, p: Any, q: Any) -> Any:
    r"""KL(Bernoulli(p) || Bernoulli(q)) as two terms >= 0, accurate for tiny probabilities.

    .. math:: [p \log\tfrac{p}{q} - p + q] + [(1 - p) \log\tfrac{1 - p}{1 - q} - (1 - p) + (1 - q)]

    (the linear parts cancel exactly), each a ``generalized_terms`` of its own.  The
    second is computed from ``q - p`` rather than from the rounded ``1 - p``, ``1 - q``
    where these are close (``kl_parts``' series in ``v = (q - p) / (2 - p - q)``), so
    ``p = 1e-12`` against ``q = 1e-10`` keeps its relative accuracy (not 3e-7).
    """
    xp = be.xp
    one = _common.scalar(be, 1.0, p)
    d = q - p  # (1 - p) - (1 - q), exact where it matters
    s = (1 - p) + (1 - q)
    near = xp.abs(d) < _common.NEAR * s  # False for NaN
    v = xp.where(near, d, 0 * one) / xp.where(near, s, one)
    x = v * v
    series = 1 / 3 + x * (1 / 5 + x * (1 / 7 + x * (1 / 9)))
    close = xp.where(near, d, 0 * one) * v * (1 + v * (1 + v) * series)
    complement = xp.where(near, close, _common.generalized_terms(be, 1 - p, 1 - q))
    return _common.generalized_terms(be, p, q) + complement


def kl_exponential(
    rate_p: Any,
    rate_q: Any,
    /,
    *,
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""KL(Exp(rate_p) || Exp(rate_q)) = r - 1 - log r with r = rate_q / rate_p.

    Non-positive rates give NaN.

    Examples
    --------
    >>> from kl_backends import kl_exponential
    >>> print(f"{kl_exponential(0.2, 0.4):.10f}")  # 1 - ln 2
    0.3068528194
    """
    _check(reduction)
    be, xp, (lp, lq), dtype = _common.prepare(rate_p, rate_q, names=("rate_p", "rate_q"))
    with be.quiet():
        out = _expm1_minus(xp, _log_ratio(xp, lq, lp))
        out = _nan_where(be, out, (lp <= 0) | (lq <= 0))
        return _finish(xp, out, dtype, base, reduction)


def kl_poisson(
    rate_p: Any,
    rate_q: Any,
    /,
    *,
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""KL(Poisson(rate_p) || Poisson(rate_q)) = rate_p log(rate_p / rate_q) - rate_p + rate_q.

    Computed as ``rate_p * (exp(-t) - 1 + t)`` with ``t = log(rate_p / rate_q)``
    (``expm1``, ``log1p``), so close rates keep their relative accuracy.  A
    zero ``rate_p`` gives ``rate_q``; a zero ``rate_q`` under a positive
    ``rate_p`` gives +inf; a negative rate gives NaN.

    Examples
    --------
    >>> from kl_backends import kl_poisson
    >>> print(f"{kl_poisson(2.0, 1.0):.6f}")  # 2 log 2 - 1
    0.386294
    """
    _check(reduction)
    be, xp, (lp, lq), dtype = _common.prepare(rate_p, rate_q, names=("rate_p", "rate_q"))
    with be.quiet():
        zero = lp == 0
        one = _common.scalar(be, 1, lp)
        lp_safe, lq_safe = xp.where(zero, one, lp), xp.where(zero, one, lq)
        t = _log_ratio(xp, lp_safe, lq_safe)
        # rate_q > e rate_p: rate_q - rate_p (1 - t), without exp(-t) (overflow at 1e-20 || 6e19
        # in float32); the terms cannot cancel there (rate_p (1 - t) < 0.74 rate_q)
        far = t < -1
        out = xp.where(
            far,
            lq_safe - lp_safe * (1 - t),
            lp_safe * _expm1_minus(xp, -xp.where(far, -one, t)),
        )
        out = xp.where(zero, lq, out)
        out = _nan_where(be, out, (lp < 0) | (lq < 0))
        return _finish(xp, out, dtype, base, reduction)
