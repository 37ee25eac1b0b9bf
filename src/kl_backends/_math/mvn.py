"""KL between multivariate normals, from Cholesky factors and triangular solves."""

from __future__ import annotations

from typing import Any

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.closed_form_helpers import check_reduction as _check
from kl_backends._math.closed_form_helpers import expm1_minus as _expm1_minus
from kl_backends._math.closed_form_helpers import finish_reduced as _finish
from kl_backends._math.closed_form_helpers import log_ratio as _log_ratio
from kl_backends._math.closed_form_helpers import nan_where as _nan_where

__all__ = ["kl_multivariate_normal"]


def kl_multivariate_normal(
    loc_p: Any,
    loc_q: Any,
    /,
    *,
    cov_p: Any = None,
    scale_tril_p: Any = None,
    var_p: Any = None,
    cov_q: Any = None,
    scale_tril_q: Any = None,
    var_q: Any = None,
    base: float | None = None,
    reduction: _args.Reduction = "none",
) -> Any:
    r"""KL(N(loc_p, Sigma_p) || N(loc_q, Sigma_q)): the closed form for multivariate normals.

    .. math::

        \mathrm{KL} = \tfrac12 \left[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
        + (\mu_q - \mu_p)^\top \Sigma_q^{-1} (\mu_q - \mu_p) - d
        + \log\det\Sigma_q - \log\det\Sigma_p\right]

    one value per pair of distributions along the leading (batch) axes.
    Each distribution is given by exactly one of a full covariance
    (``cov_*``), a lower-triangular scale (``scale_tril_*``) or the diagonal
    of a diagonal covariance (``var_*``).  A shortcut for
    ``kl_backends.distributions.kl(MultivariateNormal(...), MultivariateNormal(...))``,
    with the same values.

    Parameters
    ----------
    loc_p, loc_q : array_like, shape ``[..., d]``
        Means.  Arrays of NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any
        array-API library, all parameters from one library and on one
        device; they broadcast over the leading (batch) axes.
    cov_p, cov_q : array_like, shape ``[..., d, d]``, optional
        Full covariance matrices (symmetric positive definite).
    scale_tril_p, scale_tril_q : array_like, shape ``[..., d, d]``, optional
        Lower-triangular ``L`` with covariance ``L L^T``: any invertible one,
        negative diagonal entries included (as TFP's
        ``MultivariateNormalTriL``); a zero on the diagonal is a singular
        covariance and gives inf or NaN.
    var_p, var_q : array_like, shape ``[..., d]``, optional
        The diagonal of a diagonal covariance (variances, not standard
        deviations).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per pair (the broadcast batch shape);
        ``"sum"`` and ``"mean"``: the sum and the mean over the batch.

    Returns
    -------
    array, shape ``[...]``
        KL in nats (or in ``base``), one value per pair of distributions,
        with the inputs' floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Not exactly one of ``cov_*``, ``scale_tril_*``, ``var_*`` for a
        side; a covariance that is not positive definite, when values can be
        read (eagerly: under ``jax.jit``, ``tf.function``, ``torch.compile``
        and on lazy arrays the result is NaN instead, or the library's own
        error); shapes that do not broadcast; a bad ``base`` or
        ``reduction``.

    See Also
    --------
    kl_normal : Univariate normals.
    kl_standard_normal : Diagonal normal against N(0, I), from log-variances (VAEs).
    kl_backends.distributions.kl : KL between any two registered distributions.

    Notes
    -----
    Computed from Cholesky factors ``L`` (``Sigma = L L^T``) with triangular
    solves: the trace is :math:`\|L_q^{-1} L_p\|_F^2`, the quadratic form
    :math:`\|L_q^{-1}(\mu_q - \mu_p)\|^2` and
    :math:`\log\det\Sigma = 2 \sum \log |\operatorname{diag} L|`; no inverse
    or determinant is formed.  When both sides are diagonal (``var_*``) the
    sums are elementwise, with ``expm1`` and ``log1p``, so nearly equal
    distributions keep their relative accuracy.  The positive-definiteness
    check reads one boolean from the device.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> cov_q = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> out = klb.kl_multivariate_normal(np.zeros(2), np.ones(2), cov_p=np.eye(2), cov_q=cov_q)
    >>> round(float(out), 6)
    0.708379
    >>> mu = np.zeros(3)
    >>> out = klb.kl_multivariate_normal(mu, mu, var_p=np.ones(3), var_q=np.full(3, 2.0))
    >>> round(float(out), 6)  # 3 * (1/2 - 1 + log 2) / 2
    0.289721
    """
    _check(reduction)
    spec_p = _one_of("p", cov_p, scale_tril_p, var_p)
    spec_q = _one_of("q", cov_q, scale_tril_q, var_q)
    be, xp, (mp, mq, sp, sq), dtype = _common.prepare(
        loc_p,
        loc_q,
        spec_p[1],
        spec_q[1],
        names=("loc_p", "loc_q", spec_p[0], spec_q[0]),
    )
    with be.quiet():
        if spec_p[0] == "var_p" and spec_q[0] == "var_q":
            diff = mq - mp
            terms = _expm1_minus(xp, _log_ratio(xp, sp, sq)) + diff * diff / sq
            out = 0.5 * xp.sum(_nan_where(be, terms, (sp < 0) | (sq < 0)), axis=-1)
            return _finish(xp, out, dtype, base, reduction)

        lp = _scale_tril(be, spec_p[0], sp)
        lq = _scale_tril(be, spec_q[0], sq)
        d = _args.shape_of(mp)[-1]
        batch = _args.broadcast_shape(
            _args.broadcast_shape(_args.shape_of(mp)[:-1], _args.shape_of(mq)[:-1]),
            _args.broadcast_shape(_args.shape_of(lp)[:-2], _args.shape_of(lq)[:-2]),
        )
        lq_b = _common.broadcast_to(xp, lq, (*batch, d, d))
        m = be.solve_triangular(lq_b, _common.broadcast_to(xp, lp, (*batch, d, d)))
        diff = _common.broadcast_to(xp, mq - mp, (*batch, d))
        z = be.solve_triangular(lq_b, xp.expand_dims(diff, axis=-1))
        trace = xp.sum(m * m, axis=(-2, -1))
        quad = xp.sum(z * z, axis=(-2, -1))
        # |det L| = prod |diag L|: a scale_tril with negative diagonal entries is a
        # valid scale (covariance L L^T), as in TFP's MultivariateNormalTriL.
        logdet = xp.sum(xp.log(xp.abs(xp.linalg.diagonal(lq))), axis=-1) - xp.sum(
            xp.log(xp.abs(xp.linalg.diagonal(lp))), axis=-1
        )
        out = 0.5 * (trace - d + quad) + logdet
        return _finish(xp, out, dtype, base, reduction)


def _one_of(side: str, cov: Any, scale_tril: Any, var: Any) -> tuple[str, Any]:
    given = [
        (f"{n}_{side}", v)
        for n, v in (("cov", cov), ("scale_tril", scale_tril), ("var", var))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of cov_{side}, scale_tril_{side} or var_{side}; "
            f"got {[n for n, _ in given] or 'none'}"
        )
    return given[0]


def _scale_tril(be: Any, kind: str, x: Any) -> Any:
    xp = be.xp
    if kind.startswith("scale_tril"):
        return x
    if kind.startswith("var"):
        d = _args.shape_of(x)[-1]
        eye = xp.eye(d, dtype=x.dtype, device=be.device(x))
        return eye * xp.expand_dims(xp.sqrt(x), axis=-2)
    return _cholesky(be, x, kind)


def _cholesky(be: Any, cov: Any, name: str) -> Any:
    """Cholesky factor; a clear ``ValueError`` for a non-positive-definite ``cov``, eagerly."""
    xp = be.xp
    eager = be.values_unavailable(cov) is None
    try:
        factor = be.cholesky(cov)
    except Exception as exc:  # numpy/torch/TF raise their own LinAlgError kinds
        if not eager:
            raise
        raise ValueError(
            f"{name} is not positive definite (Cholesky failed: {type(exc).__name__})"
        ) from None
    if eager and bool(xp.any(xp.isnan(factor))):  # JAX returns NaN instead of raising
        raise ValueError(f"{name} is not positive definite (Cholesky gave NaN)")
    return factor
