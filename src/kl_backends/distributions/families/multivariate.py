"""Multivariate families: Dirichlet, MultivariateNormal, LowRankMultivariateNormal.

Each family's entropy, log-density and sampler, with its same-family KL beside
it (the pairs of a full and a low-rank normal: ``pairs.multivariate``).

The low-rank normal N(mu, W W^T + D) (``W`` is ``[..., d, k]``, ``D`` the
diagonal ``cov_diag``) never forms a d x d matrix: with the capacitance
``C = I_k + W^T D^-1 W`` and its Cholesky factor L_C (k x k),

* ``log det(W W^T + D) = 2 sum log diag L_C + sum log D`` (matrix determinant lemma);
* ``(W W^T + D)^-1 = D^-1 - A^T A``, ``A = L_C^-1 W^T D^-1`` (Woodbury), so the
  Mahalanobis term and ``tr(Sigma_q^-1 Sigma_p)`` are sums of squares of k x d
  and k x k products: O(d k^2) work and O(d k) memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._lib import args as _args
from kl_backends._math.closed_forms import kl_multivariate_normal
from kl_backends.distributions import special as S
from kl_backends.distributions._base import (
    LOWER_CHOLESKY,
    POSITIVE_DEFINITE,
    POSITIVE_VECTOR,
    REAL_MATRIX,
    REAL_VECTOR,
    Distribution,
    declare,
)
from kl_backends.distributions._helpers import (
    LOG_2PI,
    as_like,
    backend,
    broadcast_shapes,
    done,
    finish,
    nonnegative,
    prep,
    sample_shape,
    scalar,
    where_support,
    xlogy,
)
from kl_backends.distributions._registry import family, register_kl

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = [
    "Dirichlet",
    "LowRankMultivariateNormal",
    "MultivariateNormal",
    "event_size",
    "lowrank_factor",
    "mvn_lower",
    "mvn_matrix",
    "q_lowrank",
    "solve_lower",
    "sumsq",
    "tril_of",
]


def event_size(x: Any) -> int:
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


# --- Dirichlet ---------------------------------------------------------------------------------


@family
@dataclass(frozen=True)
class Dirichlet(Distribution):
    r"""The Dirichlet distribution on the probability simplex of K categories.

    Parameters
    ----------
    concentration : array_like
        Shape ``[..., K]``: :math:`\alpha_1, \dots, \alpha_K`, each > 0.

    Notes
    -----
    .. math:: p(x) = \frac{\Gamma(\alpha_0)}{\prod_k \Gamma(\alpha_k)} \prod_k x_k^{\alpha_k - 1},
        \quad x_k > 0,\ \textstyle\sum_k x_k = 1,\ \alpha_0 = \sum_k \alpha_k

    Batch shape: ``concentration``'s shape less its last axis; each event is a
    vector of length K.
    Parameters outside their domain give NaN in ``kl``, ``entropy`` and
    ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Dirichlet, kl
    >>> print(np.round(kl(Dirichlet(np.array([1.0, 2.0, 3.0])), Dirichlet(np.full(3, 2.0))), 6))
    0.806853
    """

    domains = declare(concentration=POSITIVE_VECTOR)

    concentration: Any

    def _event_ndims(self) -> int:
        return 1

    def _entropy(self) -> Any:
        xp, (a,), dtype = prep(concentration=self.concentration)
        a0 = xp.sum(a, axis=-1)
        k = event_size(a)
        out = (
            xp.sum(S.lgamma(a), axis=-1)
            - S.lgamma(a0)
            + (a0 - k) * S.digamma(a0)
            - xp.sum((a - 1) * S.digamma(a), axis=-1)
        )
        return finish(xp, out, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a,), dtype = prep(concentration=self.concentration)
        x = as_like(xp, x, a)
        inside = xp.all(x >= 0, axis=-1)
        lp = (
            xp.sum(xlogy(xp, a - 1, x), axis=-1)
            + S.lgamma(xp.sum(a, axis=-1))
            - xp.sum(S.lgamma(a), axis=-1)
        )
        return finish(xp, where_support(xp, inside, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a,), dtype = prep(concentration=self.concentration)
        g = rs.gamma(a, sample_shape(n, a))
        return done(xp, g / xp.sum(g, axis=-1, keepdims=True), dtype)


@register_kl(Dirichlet, Dirichlet)
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


# --- multivariate normals ----------------------------------------------------------------------


def _inverse(xp: Any, x: Any) -> Any:
    """The inverse of the matrices ``x`` (a precision matrix's covariance)."""
    n = _args.shape_of(x)[-1]
    eye = xp.eye(n, dtype=x.dtype, device=backend(x).device(x))
    return backend(x).solve(x, xp.broadcast_to(eye, x.shape))


def _mvn_spec(d: Any, side: str) -> dict[str, Any]:
    """``kl_multivariate_normal``'s keyword for a ``MultivariateNormal``'s covariance."""
    if d.scale_tril is not None:
        return {f"scale_tril_{side}": d.scale_tril}
    if d.covariance_matrix is not None:
        return {f"cov_{side}": d.covariance_matrix}
    xp, (prec,), _ = prep(precision_matrix=d.precision_matrix)
    return {f"cov_{side}": _inverse(xp, prec)}


def tril_of(xp: Any, d: Any, x: Any, kind: str) -> Any:
    """The lower Cholesky factor of the covariance from ``mvn_matrix(d)``'s prepared matrix."""
    if kind == "scale_tril":
        return x
    if kind == "cov":
        return backend(x).cholesky(x)
    return backend(x).cholesky(_inverse(xp, x))


def mvn_matrix(d: Any) -> tuple[str, Any]:
    """``(kind, matrix)``: the covariance form a ``MultivariateNormal`` was given."""
    for kind, name in (
        ("scale_tril", "scale_tril"),
        ("cov", "covariance_matrix"),
        ("precision", "precision_matrix"),
    ):
        if getattr(d, name) is not None:
            return kind, getattr(d, name)
    raise AssertionError


def mvn_lower(d: Any) -> tuple[Any, Any, Any, Any, bool]:
    """(xp, loc, lower, dtype, of_precision): ``lower`` is scale_tril, or chol(precision)."""
    kind, m = mvn_matrix(d)
    xp, (loc, m), dtype = prep(loc=d.loc, matrix=m)
    if kind == "precision":
        return xp, loc, backend(m).cholesky(m), dtype, True
    return xp, loc, tril_of(xp, d, m, kind), dtype, False


def _col(xp: Any, x: Any) -> Any:
    return xp.expand_dims(x, axis=-1)


def sumsq(xp: Any, x: Any) -> Any:
    return xp.sum(x * x, axis=(-2, -1))


def lowrank_factor(xp: Any, w: Any, dg: Any) -> tuple[Any, Any]:
    """(L_C, log det Sigma) for Sigma = W W^T + diag(dg)."""
    k = _args.shape_of(w)[-1]
    wt_dinv = xp.matrix_transpose(w) / xp.expand_dims(dg, axis=-2)  # [..., k, d]
    eye = xp.eye(k, dtype=w.dtype, device=backend(w).device(w))
    cap = eye + wt_dinv @ w
    lc = backend(cap).cholesky(cap)
    logdet = 2 * xp.sum(xp.log(xp.linalg.diagonal(lc)), axis=-1) + xp.sum(xp.log(dg), axis=-1)
    return lc, logdet


def solve_lower(xp: Any, lower: Any, b: Any) -> Any:
    """``lower^-1 b`` with ``lower`` broadcast to ``b``'s batch shape."""
    batch = _args.broadcast_shape(_args.shape_of(lower)[:-2], _args.shape_of(b)[:-2])
    n = _args.shape_of(lower)[-1]
    lb = xp.broadcast_to(lower, (*batch, n, n))
    bb = xp.broadcast_to(b, (*batch, *_args.shape_of(b)[-2:]))
    return backend(lb).solve_triangular(lb, bb)


def q_lowrank(xp: Any, wq: Any, dq: Any, delta: Any) -> tuple[Any, Any, Any]:
    """(A, log det Sigma_q, Mahalanobis delta^T Sigma_q^-1 delta) for a low-rank q."""
    lc, logdet = lowrank_factor(xp, wq, dq)
    a = solve_lower(xp, lc, xp.matrix_transpose(wq) / xp.expand_dims(dq, axis=-2))  # [..., k, d]
    col = xp.expand_dims(delta, axis=-1)
    maha = xp.sum(delta * delta / dq, axis=-1) - sumsq(xp, a @ col)
    return a, logdet, maha


@family
@dataclass(frozen=True)
class MultivariateNormal(Distribution):
    r"""The multivariate normal distribution :math:`\mathcal N(\mu, \Sigma)` in d dimensions.

    Parameters
    ----------
    loc : array_like
        Shape ``[..., d]``: the mean :math:`\mu`, real.
    covariance_matrix : array_like, optional
        Shape ``[..., d, d]``: :math:`\Sigma`, symmetric positive-definite.
    precision_matrix : array_like, optional
        Shape ``[..., d, d]``: :math:`\Sigma^{-1}`, symmetric positive-definite.
    scale_tril : array_like, optional
        Shape ``[..., d, d]``: :math:`L` with :math:`\Sigma = L L^\top`,
        lower-triangular with a positive diagonal.  Give exactly one of the
        three (``ValueError`` otherwise).

    Notes
    -----
    .. math:: p(x) = (2\pi)^{-d/2} |\Sigma|^{-1/2}
        \exp\left(-\tfrac12 (x - \mu)^\top \Sigma^{-1} (x - \mu)\right)

    Batch shape: the broadcast of ``loc``'s shape less its last axis and the
    matrix's less its last two; each event is a vector of length d.
    Parameters outside their domain give NaN in ``kl``, ``entropy`` and
    ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import MultivariateNormal, kl
    >>> p = MultivariateNormal(np.zeros(2), covariance_matrix=np.array([[2.0, 0.5], [0.5, 1.0]]))
    >>> print(np.round(kl(p, MultivariateNormal(np.ones(2), scale_tril=np.eye(2))), 6))
    1.220192
    """

    domains = declare(
        loc=REAL_VECTOR,
        covariance_matrix=POSITIVE_DEFINITE,
        precision_matrix=POSITIVE_DEFINITE,
        scale_tril=LOWER_CHOLESKY,
    )

    loc: Any
    covariance_matrix: Any = None
    precision_matrix: Any = None
    scale_tril: Any = None

    def __post_init__(self) -> None:
        given = [
            n
            for n in ("covariance_matrix", "precision_matrix", "scale_tril")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "MultivariateNormal takes exactly one of covariance_matrix, precision_matrix "
                f"or scale_tril; got {given or 'none'}"
            )

    def _event_ndims(self) -> int:
        return 1

    def _entropy(self) -> Any:
        kind, m = mvn_matrix(self)
        xp, (loc, m), dtype = prep(loc=self.loc, matrix=m)
        lower = tril_of(xp, self, m, kind)
        n = event_size(loc)
        out = 0.5 * n * (1 + LOG_2PI) + xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
        return finish(xp, out + 0.0 * xp.sum(loc, axis=-1), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, loc, lower, dtype, of_precision = mvn_lower(self)
        delta = as_like(xp, x, loc) - loc
        n: Any = _args.shape_of(loc)[-1]
        if of_precision:  # |L^T delta|^2 with precision = L L^T; log det Sigma = -2 sum log diag L
            z = xp.sum(_col(xp, delta) * lower, axis=-2)
            half_logdet = -xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
        else:
            z = solve_lower(xp, lower, _col(xp, delta))[..., 0]
            half_logdet = xp.sum(xp.log(xp.linalg.diagonal(lower)), axis=-1)
        lp = -0.5 * xp.sum(z * z, axis=-1) - half_logdet - 0.5 * n * LOG_2PI
        return finish(xp, lp, dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, loc, lower, dtype, of_precision = mvn_lower(self)
        batch = _args.broadcast_shape(_args.shape_of(loc)[:-1], _args.shape_of(lower)[:-2])
        dim = _args.shape_of(loc)[-1]
        z = rs.normal((n, *batch, dim))
        if of_precision:  # x = loc + L^-T z, precision = L L^T
            lt = xp.broadcast_to(xp.matrix_transpose(lower), (n, *batch, dim, dim))
            flipped = xp.flip(xp.flip(lt, axis=-1), axis=-2)  # upper -> lower
            y = solve_lower(xp, flipped, _col(xp, xp.flip(z, axis=-1)))[..., 0]
            return done(xp, loc + xp.flip(y, axis=-1), dtype)
        return done(xp, loc + xp.sum(lower * xp.expand_dims(z, axis=-2), axis=-1), dtype)


@register_kl(MultivariateNormal, MultivariateNormal)
@nonnegative
def kl_mvn_mvn(p: Any, q: Any) -> Any:
    """Full-covariance normals: ``kl_backends.kl_multivariate_normal`` (Cholesky, triangular solves).

    Exactly 0 where both are given the same way with equal parameters.
    """
    out = kl_multivariate_normal(p.loc, q.loc, **_mvn_spec(p, "p"), **_mvn_spec(q, "q"))
    (kind_p, m_p), (kind_q, m_q) = mvn_matrix(p), mvn_matrix(q)
    if kind_p != kind_q:
        return out
    xp, (lp, lq, m_p, m_q, out), dtype = prep(
        loc_p=p.loc, loc_q=q.loc, matrix_p=m_p, matrix_q=m_q, kl=out
    )
    return finish(xp, _zero_where_same(xp, out, [(lp, lq)], [(m_p, m_q)]), dtype)


@family
@dataclass(frozen=True)
class LowRankMultivariateNormal(Distribution):
    r"""A multivariate normal with a low-rank-plus-diagonal covariance :math:`W W^\top + D`.

    Parameters
    ----------
    loc : array_like
        Shape ``[..., d]``: the mean :math:`\mu`, real.
    cov_factor : array_like
        Shape ``[..., d, k]``: :math:`W`, real (k is the rank, often much
        smaller than d).
    cov_diag : array_like
        Shape ``[..., d]``: the diagonal of :math:`D`, each > 0.

    Notes
    -----
    .. math:: x \sim \mathcal N(\mu, \Sigma), \quad \Sigma = W W^\top + \operatorname{diag}(D)

    The closed forms use the Woodbury identity and the matrix determinant
    lemma: :math:`O(d k^2)`, not :math:`O(d^3)`.

    Batch shape: the broadcast of the parameters' shapes less their event
    axes; each event is a vector of length d.
    Parameters outside their domain give NaN in ``kl``, ``entropy`` and
    ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import LowRankMultivariateNormal, kl
    >>> p = LowRankMultivariateNormal(np.zeros(2), np.array([[1.0], [0.5]]), np.ones(2))
    >>> q = LowRankMultivariateNormal(np.ones(2), np.array([[0.0], [1.0]]), np.array([2.0, 1.0]))
    >>> print(np.round(kl(p, q), 6))
    0.600182
    """

    domains = declare(loc=REAL_VECTOR, cov_factor=REAL_MATRIX, cov_diag=POSITIVE_VECTOR)

    loc: Any
    cov_factor: Any
    cov_diag: Any

    def _event_ndims(self) -> int:
        return 1

    def _entropy(self) -> Any:
        xp, (loc, w, dg), dtype = prep(
            loc=self.loc, cov_factor=self.cov_factor, cov_diag=self.cov_diag
        )
        _, logdet = lowrank_factor(xp, w, dg)
        n = event_size(loc)
        return finish(xp, 0.5 * (n * (1 + LOG_2PI) + logdet) + 0.0 * xp.sum(loc, axis=-1), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (loc, w, dg), dtype = prep(
            loc=self.loc, cov_factor=self.cov_factor, cov_diag=self.cov_diag
        )
        delta = as_like(xp, x, loc) - loc
        n: Any = _args.shape_of(loc)[-1]
        _, logdet, maha = q_lowrank(xp, w, dg, delta)
        return finish(xp, -0.5 * (maha + logdet + n * LOG_2PI), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (loc, w, dg), dtype = prep(
            loc=self.loc, cov_factor=self.cov_factor, cov_diag=self.cov_diag
        )
        batch = broadcast_shapes(
            _args.shape_of(loc)[:-1], _args.shape_of(w)[:-2], _args.shape_of(dg)[:-1]
        )
        dim, rank = _args.shape_of(w)[-2:]
        z1, z2 = rs.normal((n, *batch, rank)), rs.normal((n, *batch, dim))
        x = loc + xp.sum(w * xp.expand_dims(z1, axis=-2), axis=-1) + xp.sqrt(dg) * z2
        return done(xp, x, dtype)


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
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
    a, logdet_q, maha = q_lowrank(xp, wq, dq, mq - mp)
    _, logdet_p = lowrank_factor(xp, wp, dp)
    trace = (
        xp.sum(dp / dq, axis=-1)
        + sumsq(xp, wp / xp.sqrt(xp.expand_dims(dq, axis=-1)))
        - sumsq(xp, a * xp.sqrt(xp.expand_dims(dp, axis=-2)))
        - sumsq(xp, a @ wp)
    )
    n = event_size(mp)
    out = 0.5 * (logdet_q - logdet_p + trace + maha - n)
    out = _zero_where_same(xp, out, [(mp, mq), (dp, dq)], [(wp, wq)])
    return finish(xp, out, dtype)
