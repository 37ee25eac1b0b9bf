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
    r"""KL(N(loc_p, scale_p^2) || N(loc_q, scale_q^2)): the textbook closed form for normals.

    .. math::

        \mathrm{KL} = \log\frac{\sigma_q}{\sigma_p}
        + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12

    elementwise over the broadcast parameters, in the parameters' library.
    A shortcut for ``kl_backends.distributions.kl(Normal(loc_p, scale_p),
    Normal(loc_q, scale_q))``, with the same values.

    Parameters
    ----------
    loc_p, scale_p, loc_q, scale_q : array_like, broadcastable shapes
        Means and *standard deviations* (not variances) of the two normals.
        Arrays of NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any
        array-API library, all from one library and on one device; Python
        numbers take the others' library (NumPy when all are numbers).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per element of the broadcast shape; ``"sum"``
        and ``"mean"``: the sum and the mean over all of them.

    Returns
    -------
    array
        KL in nats (or in ``base``), shape: the parameters' broadcast shape
        (``()`` with ``"sum"`` or ``"mean"``), with their floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast; a bad ``base`` or ``reduction``.

    See Also
    --------
    kl_standard_normal : Against N(0, 1), from means and log-variances (VAEs).
    kl_multivariate_normal : Multivariate normals.
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    Computed as :math:`\tfrac12 (e^{2t} - 1 - 2t) + \tfrac12 z^2` with
    :math:`t = \log(\sigma_p / \sigma_q)` and
    :math:`z = (\mu_p - \mu_q) / \sigma_q`, using ``expm1`` and ``log1p``,
    so that nearly equal normals keep their relative accuracy (the textbook
    form loses it to cancellation).  A non-positive scale gives NaN (two
    negative scales too).  Reads no values: it runs under ``jax.jit``,
    ``tf.function`` and ``torch.compile``, and is differentiable in
    PyTorch, JAX and TensorFlow.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> round(float(klb.kl_normal(0.0, 1.0, 1.0, 2.0)), 6)  # log 2 + 2 / 8 - 1 / 2
    0.443147
    >>> np.round(klb.kl_normal(np.array([0.0, 1.0]), 1.0, 0.0, 1.0), 6)  # (mu_p - mu_q)^2 / 2
    array([0. , 0.5])
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
    r"""The VAE's KL term: KL(N(mu, exp(log_var)) || N(0, I)), summed over ``axis``.

    .. math::

        \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2
        - \sigma_j^2\right)

    the latent (regularisation) loss of a variational autoencoder with a
    diagonal Gaussian posterior and a standard normal prior, one value per
    sample along the other (batch) axes.  A shortcut for
    ``kl_backends.distributions.kl`` of ``Independent(Normal(mu, exp(log_var
    / 2)))`` against ``Independent(Normal(0, 1))``, with the same values.

    Parameters
    ----------
    mu : array_like, shape ``[..., latent]``
        Posterior means.  An array of NumPy, PyTorch, TensorFlow, JAX, Dask,
        CuPy or any array-API library.
    log_var : array_like, broadcastable with ``mu``
        Posterior *log-variances* (not log standard deviations: for a
        standard deviation ``sd`` pass ``2 * log(sd)``), from the same
        library and on the same device as ``mu``.
    axis : int or tuple of int, default -1
        The latent axes, summed over.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per sample (the broadcast shape without
        ``axis``); ``"sum"``: their sum; ``"mean"``: their mean over the
        batch.

    Returns
    -------
    array
        KL in nats (or in ``base``), with the inputs' floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast; a bad ``axis``, ``base`` or
        ``reduction``; 0-d inputs (the latent axis is needed).

    See Also
    --------
    kl_normal : Two univariate normals, from means and standard deviations.
    kl_multivariate_normal : Multivariate normals with full covariances.
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    The usual code is ``-0.5 * sum(1 + log_var - mu**2 - exp(log_var))``;
    here it is computed as
    :math:`\tfrac12 \sum_j (\operatorname{expm1}(\log\sigma_j^2) - \log\sigma_j^2 + \mu_j^2)`,
    so that a posterior close to the prior keeps its accuracy (the terms
    are >= 0 and nothing cancels).  Reads no values: it runs under
    ``jax.jit``, ``tf.function`` and ``torch.compile``, and is
    differentiable in PyTorch, JAX and TensorFlow.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> round(float(klb.kl_standard_normal([0.0, 1.0], [0.0, 0.0])), 6)  # mu^2 / 2 summed
    0.5
    >>> mu = np.array([[0.5, -1.0], [0.0, 0.0]])
    >>> log_var = np.array([[0.2, -0.6], [0.0, 0.0]])
    >>> np.round(klb.kl_standard_normal(mu, log_var), 6)  # one per sample
    array([0.710107, 0.      ])
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
    r"""KL(Bernoulli(p) || Bernoulli(q)): the binary KL, from probabilities or logits.

    .. math::

        \mathrm{KL} = p \log\frac{p}{q} + (1 - p) \log\frac{1 - p}{1 - q}

    elementwise over the broadcast parameters.  A shortcut for
    ``kl_backends.distributions.kl(Bernoulli(probs=p), Bernoulli(probs=q))``
    (or ``logits=``), with the same values.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes
        Success probabilities (``inputs="probs"``) or their logits
        (``inputs="logits"``), of one library and on one device (NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library;
        Python numbers take the other's library).
    inputs : {"probs", "logits"}, default "probs"
        What ``p`` and ``q`` hold.  Logits are read stably
        (``log p = -softplus(-a)``), so logits of +-1000 lose nothing.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per element of the broadcast shape; ``"sum"``
        and ``"mean"``: the sum and the mean over all of them.

    Returns
    -------
    array
        KL in nats (or in ``base``), shape: the broadcast shape (``()`` with
        ``"sum"`` or ``"mean"``), with the inputs' floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast; a bad ``inputs``, ``base`` or
        ``reduction``.

    See Also
    --------
    kl_divergence : Categorical distributions over any number of events.
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    Exact at ``p`` in {0, 1} (logits ``+-inf``): the vanishing term is 0
    (``0 log 0 = 0``), and ``q`` in {0, 1} against a ``p`` that puts mass
    there gives ``+inf``.  A probability outside [0, 1] gives NaN.  Each of
    the two terms is computed as a generalised KL term (``>= 0``), and the
    complement ``1 - p`` from ``q - p`` where ``p`` and ``q`` are close, so
    tiny probabilities (``p = 1e-12`` against ``q = 1e-10``) keep their
    relative accuracy.

    Examples
    --------
    >>> import kl_backends as klb
    >>> round(float(klb.kl_bernoulli(1.0, 0.5)), 6)  # log 2
    0.693147
    >>> round(float(klb.kl_bernoulli(0.3, 0.6)), 6)
    0.183787
    >>> round(float(klb.kl_bernoulli(0.0, 0.0, inputs="logits")), 6)  # p = q = 1/2
    0.0
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
    r"""KL(Exp(rate_p) || Exp(rate_q)) of exponential distributions: the textbook closed form.

    .. math::

        \mathrm{KL} = \frac{\lambda_q}{\lambda_p} - 1 - \log\frac{\lambda_q}{\lambda_p}

    elementwise over the broadcast rates.  A shortcut for
    ``kl_backends.distributions.kl(Exponential(rate_p), Exponential(rate_q))``,
    with the same values.

    Parameters
    ----------
    rate_p, rate_q : array_like, broadcastable shapes
        The rates (inverse means), of one library and on one device (NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library;
        Python numbers take the other's library).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per element of the broadcast shape; ``"sum"``
        and ``"mean"``: the sum and the mean over all of them.

    Returns
    -------
    array
        KL in nats (or in ``base``), shape: the broadcast shape (``()`` with
        ``"sum"`` or ``"mean"``), with the inputs' floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast; a bad ``base`` or ``reduction``.

    See Also
    --------
    kl_poisson : Poisson distributions.
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    Computed as ``expm1(s) - s`` with ``s = log(rate_q / rate_p)``, so close
    rates keep their relative accuracy.  A non-positive rate gives NaN.

    Examples
    --------
    >>> import kl_backends as klb
    >>> round(float(klb.kl_exponential(0.2, 0.4)), 6)  # 2 - 1 - log 2
    0.306853
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
    r"""KL(Poisson(rate_p) || Poisson(rate_q)) of Poisson distributions: the textbook closed form.

    .. math::

        \mathrm{KL} = \lambda_p \log\frac{\lambda_p}{\lambda_q} - \lambda_p + \lambda_q

    elementwise over the broadcast rates.  A shortcut for
    ``kl_backends.distributions.kl(Poisson(rate_p), Poisson(rate_q))``, with
    the same values.

    Parameters
    ----------
    rate_p, rate_q : array_like, broadcastable shapes
        The rates (means), of one library and on one device (NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library;
        Python numbers take the other's library).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per element of the broadcast shape; ``"sum"``
        and ``"mean"``: the sum and the mean over all of them.

    Returns
    -------
    array
        KL in nats (or in ``base``), shape: the broadcast shape (``()`` with
        ``"sum"`` or ``"mean"``), with the inputs' floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast; a bad ``base`` or ``reduction``.

    See Also
    --------
    generalized_kl_divergence : The same terms summed over an axis.
    kl_exponential : Exponential distributions.
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    Computed as ``rate_p * (exp(-t) - 1 + t)`` with
    ``t = log(rate_p / rate_q)`` (``expm1``, ``log1p``), so close rates keep
    their relative accuracy.  A zero ``rate_p`` gives ``rate_q``
    (``0 log 0 = 0``); a zero ``rate_q`` under a positive ``rate_p`` gives
    ``+inf``; a negative rate gives NaN.

    Examples
    --------
    >>> import kl_backends as klb
    >>> round(float(klb.kl_poisson(2.0, 1.0)), 6)  # 2 log 2 - 2 + 1
    0.386294
    >>> round(float(klb.kl_poisson(0.0, 3.0)), 6)  # rate_p = 0: rate_q
    3.0
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
