"""KL estimated from samples: empirical distributions, histograms, and k-nearest neighbours."""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib import deprecation as _deprecation
from kl_backends._lib.arrays import finish
from kl_backends._math import common as _common
from kl_backends._math.categorical import kl_divergence

__all__ = ["kl_from_counts", "kl_from_samples", "kl_from_samples_knn"]


def kl_from_counts(
    counts_p: Any,
    counts_q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    pseudocount: float = 0.0,
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
) -> Any:
    r"""KL between the distributions of two histograms (counts over the same bins).

    Each histogram is normalised over ``axis`` after adding ``pseudocount``
    to every bin (0 by default: a bin that is empty in ``counts_q`` but not in
    ``counts_p`` gives +inf, which is the honest plug-in answer; a pseudocount
    such as 0.5 smooths it).

    Examples
    --------
    >>> from kl_backends import kl_from_counts
    >>> print(f"{kl_from_counts([2, 2, 1], [5, 1, 4], base=2):.4f}")
    0.4712
    """
    if (
        isinstance(pseudocount, bool)
        or not isinstance(pseudocount, (int, float))
        or not math.isfinite(pseudocount)
        or pseudocount < 0
    ):
        raise ValueError(f"pseudocount must be a finite number >= 0; got {pseudocount!r}")
    _, xp, (cp, cq), _ = _common.prepare(counts_p, counts_q, names=("counts_p", "counts_q"))
    shape = _args.broadcast_shape(_args.shape_of(cp), _args.shape_of(cq), ("counts_p", "counts_q"))
    axes = _args.normalize_axis(axis, len(shape))
    if pseudocount:
        cp, cq = cp + pseudocount, cq + pseudocount
    p = cp / xp.sum(cp, axis=axes, keepdims=True)
    q = cq / xp.sum(cq, axis=axes, keepdims=True)
    return kl_divergence(p, q, axis=axes, base=base, reduction=reduction, keepdims=keepdims)


def kl_from_samples(
    samples_p: Any,
    samples_q: Any,
    /,
    *,
    pseudocount: float = 0.0,
    base: float | None = None,
) -> Any:
    r"""KL between the empirical distributions of two samples of discrete values.

    The support is the union of the values seen in either sample; each
    sample's counts over it are normalised (see ``kl_from_counts`` for
    ``pseudocount``).  Both samples are flattened.  The support's size
    depends on the values, so this runs eagerly (not under ``jax.jit``, nor
    lazily on Dask).

    Examples
    --------
    >>> from kl_backends import kl_from_samples
    >>> print(f"{kl_from_samples([1, 1, 2, 2, 3], [1, 1, 1, 1, 1, 2, 3, 3, 3, 3], base=2):.4f}")
    0.4712
    """
    be, (sp, sq) = _dispatch.resolve(samples_p, samples_q, names=("samples_p", "samples_q"))
    xp = be.xp
    for name, s in (("samples_p", sp), ("samples_q", sq)):
        why = be.values_unavailable(s)
        if why is not None:
            raise ValueError(f"kl_from_samples needs the values of {name}, but {why}")
    sp, sq = xp.reshape(sp, (-1,)), xp.reshape(sq, (-1,))
    dtype = xp.result_type(sp, sq)
    sp, sq = xp.astype(sp, dtype), xp.astype(sq, dtype)
    support = xp.unique_values(xp.concat([sp, sq]))
    counts_p = xp.sum(xp.astype(sp[:, None] == support[None, :], xp.int64), axis=0)
    counts_q = xp.sum(xp.astype(sq[:, None] == support[None, :], xp.int64), axis=0)
    return kl_from_counts(counts_p, counts_q, pseudocount=pseudocount, base=base)


def kl_from_samples_knn(
    x_p: Any,
    x_q: Any,
    /,
    *,
    k: int = 1,
    chunk_size: int = 1024,
    base: float | None = None,
) -> Any:
    r"""k-nearest-neighbour estimate of KL(P || Q) from samples of continuous P and Q.

    .. math::

        \widehat{D} = \frac{d}{n} \sum_{i=1}^{n} \log \frac{\nu_k(i)}{\rho_k(i)}
                      + \log \frac{m}{n - 1}

    (Wang, Kulkarni & Verdu 2009; Perez-Cruz 2008), where rho_k(i) is the
    distance from x_p[i] to its k-th nearest neighbour among the other
    samples of P, nu_k(i) to its k-th nearest neighbour among the m samples of
    Q, and d the dimension.

    Parameters
    ----------
    x_p : array ``[n, d]`` (or ``[n]`` for d = 1)
    x_q : array ``[m, d]``
    k : int, default 1
        Larger k lowers the variance and raises the bias.
    chunk_size : int, default 1024
        Rows of ``x_p`` whose distances are computed at once: memory is
        ``chunk_size * (n + m)`` numbers, whatever n and m are.
    base : float, optional

    Returns
    -------
    0-d array in the inputs' library.

    Notes
    -----
    The estimator is consistent (bias and variance vanish as n, m grow) but
    biased at finite n, most where Q is much narrower than P.  Measured over
    20 seeds, 5,000 samples each, two 2-D Gaussians: with KL = 0.229 (means
    0.58 apart, similar covariances) bias -0.004 and standard deviation 0.028
    for k = 1, -0.004 and 0.019 for k = 3; with KL = 1.016 (Q's variance 0.5
    along one axis) bias -0.092 and sd 0.047 for k = 1, -0.137 and 0.036 for
    k = 3.  Larger k trades variance for bias; the standard deviation falls
    roughly as 1/sqrt(n).  Repeated samples (zero distances) make it
    infinite or NaN; add jitter to discrete data or use
    ``kl_from_samples``.  Written against the array API (sorting each chunk's
    distances: O(n (n + m) log(n + m)) time); it runs under ``jax.jit``.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}")
    log_base = _args.log_of_base(base)
    be, xp, (a, b), dtype = _common.prepare(x_p, x_q, names=("x_p", "x_q"))
    if a.ndim == 1:
        a, b = xp.reshape(a, (-1, 1)), xp.reshape(b, (-1, 1))
    n, d = _args.shape_of(a)
    m, d_q = _args.shape_of(b)
    if d != d_q:
        raise ValueError(f"x_p and x_q must have the same dimension; got {d} and {d_q}")
    if n is None or m is None or d is None or n <= k or m < k:
        raise ValueError(
            f"kl_from_samples_knn needs more than k={k} samples of P and at least k of Q; got {n} and {m}"
        )
    sq_a, sq_b = xp.sum(a * a, axis=1), xp.sum(b * b, axis=1)
    total = _common.scalar(be, 0, a)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        rows, sq_rows = a[start:stop, :], sq_a[start:stop]
        rho2 = _kth_smallest(xp, _sq_dists(be, rows, sq_rows, a, sq_a), k)  # self is 0th
        nu2 = _kth_smallest(xp, _sq_dists(be, rows, sq_rows, b, sq_b), k - 1)
        total = total + xp.sum(xp.log(nu2) - xp.log(rho2))
    out = (0.5 * d / n) * total + math.log(m / (n - 1))
    return finish(xp, out, dtype, log_base)


#: Deprecated: the former name of ``kl_from_samples_knn``.
kl_knn = _deprecation.alias(kl_from_samples_knn, "kl_knn")


def _sq_dists(be: Any, rows: Any, sq_rows: Any, others: Any, sq_others: Any) -> Any:
    """Squared Euclidean distances ``[chunk, len(others)]``, clamped at 0."""
    xp = be.xp
    d2 = sq_rows[:, None] + sq_others[None, :] - 2 * (rows @ xp.matrix_transpose(others))
    return xp.where(d2 > 0, d2, _common.scalar(be, 0, d2))


def _kth_smallest(xp: Any, d2: Any, index: int) -> Any:
    return xp.sort(d2, axis=1)[:, index]
