"""Closed-form KL and entropy of multivariate families: Dirichlet, normals, ``Independent``.

The low-rank normal N(mu, W W^T + D) (``W`` is ``[..., d, k]``, ``D`` the
diagonal ``cov_diag``) never forms a d x d matrix: with the capacitance
``C = I_k + W^T D^-1 W`` and its Cholesky factor L_C (k x k),

* ``log det(W W^T + D) = 2 sum log diag L_C + sum log D`` (matrix determinant lemma);
* ``(W W^T + D)^-1 = D^-1 - A^T A``, ``A = L_C^-1 W^T D^-1`` (Woodbury), so the
  Mahalanobis term and ``tr(Sigma_q^-1 Sigma_p)`` are sums of squares of k x d
  and k x k products: O(d k^2) work and O(d k) memory.

A full-covariance side (``MultivariateNormal``) against a low-rank one costs
O(d^2 k) through its Cholesky factor.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._math import args as _args
from kl_backends._math.closed_forms import kl_multivariate_normal
from kl_backends.distributions import _containers as C
from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    backend,
    finish,
    nonnegative,
    prep,
    scalar,
    sum_last,
)
from kl_backends.distributions._registry import entropy, kl, register_entropy, register_kl

_LOG_2PI = math.log(2 * math.pi)


def _event_size(x: Any) -> int:
    n = _args.shape_of(x)[-1]
    if n is None:
        raise ValueError("the event (last) axis must have a known size; got an unknown size")
    return n


def _zero_where_same(xp: Any, out: Any, vectors: list[Any], matrices: list[Any]) -> Any:
    """Exactly 0 where p's parameters equal q's (rounding leaves ~1e-15 in the factorizations).

    ``vectors``/``matrices``: pairs compared over their last one / two axes.
    """
    same = None
    for a, b in vectors:
        eq = xp.all(a == b, axis=-1)
        same = eq if same is None else same & eq
    for a, b in matrices:
        eq = xp.all(a == b, axis=(-2, -1))
        same = eq if same is None else same & eq
    return xp.where(same, scalar(xp, 0.0, out), out)


# --- Dirichlet --------------------------------------------------------------------------


@register_kl(C.Dirichlet, C.Dirichlet)
@nonnegative
def kl_dirichlet_dirichlet(p: Any, q: Any) -> Any:
    r"""Dirichlet over the last axis, with :math:`a_0 = \sum_j a_j`:

    .. math:: \log\Gamma(a_0) - \log\Gamma(b_0) - \sum_j (\log\Gamma(a_j) - \log\Gamma(b_j))
              + \sum_j (a_j - b_j)(\psi(a_j) - \psi(a_0))
    """
    xp, (a, b), dtype = prep(concentration_p=p.concentration, concentration_q=q.concentration)
    a0, b0 = xp.sum(a, axis=-1), xp.sum(b, axis=-1)
    out = (
        (S.lgamma(a0) - S.lgamma(b0))
        - xp.sum(S.lgamma(a) - S.lgamma(b), axis=-1)
        + xp.sum((a - b) * (S.digamma(a) - xp.expand_dims(S.digamma(a0), axis=-1)), axis=-1)
    )
    return finish(xp, out, dtype)


@register_entropy(C.Dirichlet)
def entropy_dirichlet(d: Any) -> Any:
    xp, (a,), dtype = prep(concentration=d.concentration)
    a0 = xp.sum(a, axis=-1)
    k = _event_size(a)
    out = (
        xp.sum(S.lgamma(a), axis=-1)
        - S.lgamma(a0)
        + (a0 - k) * S.digamma(a0)
        - xp.sum((a - 1) * S.digamma(a), axis=-1)
    )
    return finish(xp, out, dtype)


# --- multivariate normals ----------------------------------------------------------------


def _mvn_spec(d: Any, side: str) -> dict[str, Any]:
    """``kl_multivariate_normal``'s keyword for a ``MultivariateNormal``'s covariance."""
    if d.scale_tril is not None:
        return {f"scale_tril_{side}": d.scale_tril}
    if d.covariance_matrix is not None:
        return {f"cov_{side}": d.covariance_matrix}
    xp, (prec,), _ = prep(precision_matrix=d.precision_matrix)
    n = _args.shape_of(prec)[-1]
    eye = xp.eye(n, dtype=prec.dtype, device=backend(prec).device(prec))
    return {f"cov_{side}": backend(prec).solve(prec, xp.broadcast_to(eye, prec.shape))}


@register_kl(C.MultivariateNormal, C.MultivariateNormal)
@nonnegative
def kl_mvn_mvn(p: Any, q: Any) -> Any:
    """Full-covariance normals: ``kl_backends.kl_multivariate_normal`` (Cholesky, triangular solves).

    Exactly 0 where both are given the same way with equal parameters.
    """
    out = kl_multivariate_normal(p.loc, q.loc, **_mvn_spec(p, "p"), **_mvn_spec(q, "q"))
    (kind_p, m_p), (kind_q, m_q) = _mvn_tril(p), _mvn_tril(q)
    if kind_p != kind_q:
        return out
    xp, (lp, lq, m_p, m_q, out), dtype = prep(
        loc_p=p.loc, loc_q=q.loc, matrix_p=m_p, matrix_q=m_q, kl=out
    )
    return finish(xp, _zero_where_same(xp, out, [(lp, lq)], [(m_p, m_q)]), dtype)


def _tril(xp: Any, d: Any, x: Any, kind: str) -> Any:
    if kind == "scale_tril":
        return x
    if kind == "cov":
        return backend(x).cholesky(x)
    n = _args.shape_of(x)[-1]
    eye = xp.eye(n, dtype=x.dtype, device=backend(x).device(x))
    return backend(x).cholesky(backend(x).solve(x, xp.broadcast_to(eye, x.shape)))


def _mvn_tril(d: Any) -> tuple[str, Any]:
    for kind, name in (
        ("scale_tril", "scale_tril"),
        ("cov", "covariance_matrix"),
        ("precision", "precision_matrix"),
    ):
        if getattr(d, name) is not None:
            return kind, getattr(d, name)
    raise AssertionError


@register_entropy(C.MultivariateNormal)
def entropy_mvn(d: Any) -> Any:
    kind, m = _mvn_tril(d)
    xp, (loc, m), dtype = prep(loc=d.loc, matrix=m)
    lower = _tril(xp, d, m, kind)
    n = _event_size(loc)
    out = 0.5 * n * (1 + _LOG_2PI) + xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
    return finish(xp, out + 0.0 * xp.sum(loc, axis=-1), dtype)


def _sumsq(xp: Any, x: Any) -> Any:
    return xp.sum(x * x, axis=(-2, -1))


def _lowrank(xp: Any, w: Any, dg: Any) -> tuple[Any, Any]:
    """(L_C, log det Sigma) for Sigma = W W^T + diag(dg)."""
    k = _args.shape_of(w)[-1]
    wt_dinv = xp.matrix_transpose(w) / xp.expand_dims(dg, axis=-2)  # [..., k, d]
    eye = xp.eye(k, dtype=w.dtype, device=backend(w).device(w))
    cap = eye + wt_dinv @ w
    lc = backend(cap).cholesky(cap)
    logdet = 2 * xp.sum(xp.log(xp.linalg.diagonal(lc)), axis=-1) + xp.sum(xp.log(dg), axis=-1)
    return lc, logdet


def _solve(xp: Any, lower: Any, b: Any) -> Any:
    """``lower^-1 b`` with ``lower`` broadcast to ``b``'s batch shape."""
    batch = _args.broadcast_shape(_args.shape_of(lower)[:-2], _args.shape_of(b)[:-2])
    n = _args.shape_of(lower)[-1]
    lb = xp.broadcast_to(lower, (*batch, n, n))
    bb = xp.broadcast_to(b, (*batch, *_args.shape_of(b)[-2:]))
    return backend(lb).solve_triangular(lb, bb)


def _q_lowrank(xp: Any, wq: Any, dq: Any, delta: Any) -> tuple[Any, Any, Any]:
    """(A, log det Sigma_q, Mahalanobis delta^T Sigma_q^-1 delta) for a low-rank q."""
    lc, logdet = _lowrank(xp, wq, dq)
    a = _solve(xp, lc, xp.matrix_transpose(wq) / xp.expand_dims(dq, axis=-2))  # [..., k, d]
    col = xp.expand_dims(delta, axis=-1)
    maha = xp.sum(delta * delta / dq, axis=-1) - _sumsq(xp, a @ col)
    return a, logdet, maha


@register_kl(C.LowRankMultivariateNormal, C.LowRankMultivariateNormal)
@nonnegative
def kl_lowrank_lowrank(p: Any, q: Any) -> Any:
    r"""Low-rank normals, without d x d matrices:

    .. math:: \tfrac12\big[\log\frac{|\Sigma_q|}{|\Sigma_p|} + \operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
              + \delta^\top\Sigma_q^{-1}\delta - d\big]

    with tr = sum(D_p/D_q) + ||D_q^-1/2 W_p||^2 - ||A D_p^1/2||^2 - ||A W_p||^2.
    """
    xp, (mp, wp, dp, mq, wq, dq), dtype = prep(
        loc_p=p.loc, cov_factor_p=p.cov_factor, cov_diag_p=p.cov_diag,
        loc_q=q.loc, cov_factor_q=q.cov_factor, cov_diag_q=q.cov_diag,
    )  # fmt: skip
    a, logdet_q, maha = _q_lowrank(xp, wq, dq, mq - mp)
    _, logdet_p = _lowrank(xp, wp, dp)
    trace = (
        xp.sum(dp / dq, axis=-1)
        + _sumsq(xp, wp / xp.sqrt(xp.expand_dims(dq, axis=-1)))
        - _sumsq(xp, a * xp.sqrt(xp.expand_dims(dp, axis=-2)))
        - _sumsq(xp, a @ wp)
    )
    n = _event_size(mp)
    out = 0.5 * (logdet_q - logdet_p + trace + maha - n)
    out = _zero_where_same(xp, out, [(mp, mq), (dp, dq)], [(wp, wq)])
    return finish(xp, out, dtype)


@register_kl(C.MultivariateNormal, C.LowRankMultivariateNormal)
@nonnegative
def kl_mvn_lowrank(p: Any, q: Any) -> Any:
    """Full p, low-rank q: tr = ||D_q^-1/2 L_p||^2 - ||A L_p||^2."""
    kind, m = _mvn_tril(p)
    xp, (mp, m, mq, wq, dq), dtype = prep(
        loc_p=p.loc, matrix_p=m, loc_q=q.loc, cov_factor_q=q.cov_factor, cov_diag_q=q.cov_diag
    )
    lp = _tril(xp, p, m, kind)
    a, logdet_q, maha = _q_lowrank(xp, wq, dq, mq - mp)
    logdet_p = 2 * xp.sum(xp.log(xp.linalg.diagonal(lp)), axis=-1)
    trace = _sumsq(xp, lp / xp.sqrt(xp.expand_dims(dq, axis=-1))) - _sumsq(xp, a @ lp)
    n = _event_size(mp)
    return finish(xp, 0.5 * (logdet_q - logdet_p + trace + maha - n), dtype)


@register_kl(C.LowRankMultivariateNormal, C.MultivariateNormal)
@nonnegative
def kl_lowrank_mvn(p: Any, q: Any) -> Any:
    """Low-rank p, full q: tr = ||L_q^-1 W_p||^2 + ||L_q^-1 D_p^1/2||^2 (O(d^2 (d + k)))."""
    kind, m = _mvn_tril(q)
    xp, (mp, wp, dp, mq, m), dtype = prep(
        loc_p=p.loc, cov_factor_p=p.cov_factor, cov_diag_p=p.cov_diag, loc_q=q.loc, matrix_q=m
    )
    lq = _tril(xp, q, m, kind)
    _, logdet_p = _lowrank(xp, wp, dp)
    logdet_q = 2 * xp.sum(xp.log(xp.linalg.diagonal(lq)), axis=-1)
    n = _event_size(mp)
    eye = xp.eye(n, dtype=dp.dtype, device=backend(dp).device(dp))
    z = _solve(xp, lq, xp.expand_dims(mq - mp, axis=-1))
    trace = _sumsq(xp, _solve(xp, lq, wp)) + _sumsq(
        xp, _solve(xp, lq, eye * xp.expand_dims(xp.sqrt(dp), axis=-2))
    )
    return finish(xp, 0.5 * (logdet_q - logdet_p + trace + _sumsq(xp, z) - n), dtype)


@register_entropy(C.LowRankMultivariateNormal)
def entropy_lowrank(d: Any) -> Any:
    xp, (loc, w, dg), dtype = prep(loc=d.loc, cov_factor=d.cov_factor, cov_diag=d.cov_diag)
    _, logdet = _lowrank(xp, w, dg)
    n = _event_size(loc)
    return finish(xp, 0.5 * (n * (1 + _LOG_2PI) + logdet) + 0.0 * xp.sum(loc, axis=-1), dtype)


# --- Independent ------------------------------------------------------------------------


@register_kl(C.Independent, C.Independent)
def kl_independent_independent(p: Any, q: Any) -> Any:
    """KL of the base distributions, summed over the reinterpreted (rightmost) axes."""
    n = p.reinterpreted_batch_ndims
    if n != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "KL between Independent distributions needs equal reinterpreted_batch_ndims; "
            f"got {n} and {q.reinterpreted_batch_ndims}"
        )
    out = kl(p.base_dist, q.base_dist)
    return sum_last(backend(out).xp, out, n)


@register_entropy(C.Independent)
def entropy_independent(d: Any) -> Any:
    out = entropy(d.base_dist)
    return sum_last(backend(out).xp, out, d.reinterpreted_batch_ndims)
