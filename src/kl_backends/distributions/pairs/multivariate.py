"""The pairs of a full-covariance and a low-rank normal (``MultivariateNormal``, ``LowRankMultivariateNormal``).

The low-rank side never forms a d x d matrix (``families.multivariate``); a
full-covariance side costs O(d^2 k) through its Cholesky factor.
"""

from __future__ import annotations

from typing import Any

from kl_backends.distributions._helpers import backend, finish, nonnegative, prep
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families.multivariate import (
    LowRankMultivariateNormal,
    MultivariateNormal,
    event_size,
    lowrank_factor,
    mvn_matrix,
    q_lowrank,
    solve_lower,
    sumsq,
    tril_of,
)


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
@nonnegative
def kl_mvn_lowrank(p: Any, q: Any) -> Any:
    """Full p, low-rank q: tr = ||D_q^-1/2 L_p||^2 - ||A L_p||^2."""
    kind, m = mvn_matrix(p)
    xp, (mp, m, mq, wq, dq), dtype = prep(
        loc_p=p.loc, matrix_p=m, loc_q=q.loc, cov_factor_q=q.cov_factor, cov_diag_q=q.cov_diag
    )
    lp = tril_of(xp, p, m, kind)
    a, logdet_q, maha = q_lowrank(xp, wq, dq, mq - mp)
    logdet_p = 2 * xp.sum(xp.log(xp.linalg.diagonal(lp)), axis=-1)
    trace = sumsq(xp, lp / xp.sqrt(xp.expand_dims(dq, axis=-1))) - sumsq(xp, a @ lp)
    n = event_size(mp)
    return finish(xp, 0.5 * (logdet_q - logdet_p + trace + maha - n), dtype)


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
@nonnegative
def kl_lowrank_mvn(p: Any, q: Any) -> Any:
    """Low-rank p, full q: tr = ||L_q^-1 W_p||^2 + ||L_q^-1 D_p^1/2||^2 (O(d^2 (d + k)))."""
    kind, m = mvn_matrix(q)
    xp, (mp, wp, dp, mq, m), dtype = prep(
        loc_p=p.loc, cov_factor_p=p.cov_factor, cov_diag_p=p.cov_diag, loc_q=q.loc, matrix_q=m
    )
    lq = tril_of(xp, q, m, kind)
    _, logdet_p = lowrank_factor(xp, wp, dp)
    logdet_q = 2 * xp.sum(xp.log(xp.linalg.diagonal(lq)), axis=-1)
    n = event_size(mp)
    eye = xp.eye(n, dtype=dp.dtype, device=backend(dp).device(dp))
    z = solve_lower(xp, lq, xp.expand_dims(mq - mp, axis=-1))
    trace = sumsq(xp, solve_lower(xp, lq, wp)) + sumsq(
        xp, solve_lower(xp, lq, eye * xp.expand_dims(xp.sqrt(dp), axis=-2))
    )
    return finish(xp, 0.5 * (logdet_q - logdet_p + trace + sumsq(xp, z) - n), dtype)
