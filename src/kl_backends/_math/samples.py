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
    r"""KL between the distributions of two histograms over the same bins.

    .. math::

        \mathrm{KL}(\hat p \,\|\, \hat q) = \sum_i \hat p_i \log \frac{\hat p_i}{\hat q_i},
        \qquad \hat p_i = \frac{c^p_i + a}{\sum_j (c^p_j + a)}

    with ``a`` the ``pseudocount`` (and likewise ``q``): each histogram is
    normalised over ``axis`` and the plug-in KL of the two is returned, one
    value per pair of histograms along the other (batch) axes.

    Parameters
    ----------
    counts_p, counts_q : array_like, broadcastable shapes ``[..., n]``
        Counts (or any non-negative weights) per bin, integer or floating.
        Arrays of NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any
        array-API library, both from the same library and on the same
        device; Python lists become NumPy arrays.
    axis : int or tuple of int, default -1
        The bin axes, normalised and summed over.
    pseudocount : float, default 0.0
        Added to every bin of both histograms before normalising (a finite
        number >= 0).  0 keeps the honest plug-in answer, ``+inf`` for a bin
        that is empty in ``counts_q`` but not in ``counts_p``; 0.5 (Jeffreys)
        or 1 (Laplace) smooth it.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per pair of histograms (the broadcast shape
        without ``axis``); ``"sum"``: their sum; ``"mean"``: their mean.
    keepdims : bool, default False
        Keep the reduced axes with size 1 (a bool: ``TypeError`` otherwise).

    Returns
    -------
    array
        KL in nats (or in ``base``), with the floating dtype of the counts
        (integer counts give the library's default float).

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes,
        a ``keepdims`` that is not a bool.
    ValueError
        A ``pseudocount`` that is negative, infinite or not a number; shapes
        that do not broadcast; a bad ``axis``, ``base`` or ``reduction``.

    See Also
    --------
    kl_from_samples : The same from the raw samples of discrete values.
    kl_divergence : KL of distributions given as probabilities.

    Notes
    -----
    The conventions are ``kl_divergence``'s: a bin empty in ``counts_p``
    contributes 0 (``0 log 0 = 0``); a bin with counts in ``counts_p`` and
    none in ``counts_q`` gives ``+inf``.  The plug-in estimate is biased
    upwards for small samples (it is > 0 for two samples of one
    distribution).  A histogram whose counts are all 0 (with no pseudocount) has
    no distribution and gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> round(float(klb.kl_from_counts([2, 2, 1], [5, 1, 4], base=2)), 6)
    0.471229
    >>> float(klb.kl_from_counts([3, 1], [4, 0]))  # a bin that q never saw
    inf
    >>> round(float(klb.kl_from_counts([3, 1], [4, 0], pseudocount=0.5)), 6)
    0.153664
    """
    if (
        isinstance(pseudocount, bool)
        or not isinstance(pseudocount, (int, float))
        or not math.isfinite(pseudocount)
        or pseudocount < 0
    ):
        raise ValueError(f"pseudocount must be a finite number >= 0; got {pseudocount!r}")
    be, xp, (cp, cq), _ = _common.prepare(counts_p, counts_q, names=("counts_p", "counts_q"))
    shape = _args.broadcast_shape(_args.shape_of(cp), _args.shape_of(cq), ("counts_p", "counts_q"))
    axes = _args.normalize_axis(axis, len(shape))
    if pseudocount:
        cp, cq = cp + pseudocount, cq + pseudocount
    with be.quiet():  # an all-zero histogram is no distribution: NaN, without a warning
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

    .. math::

        \mathrm{KL}(\hat p \,\|\, \hat q) = \sum_{v} \hat p(v) \log \frac{\hat p(v)}{\hat q(v)}

    where ``v`` runs over the values seen in either sample and
    :math:`\hat p(v)` is the fraction of ``samples_p`` equal to ``v`` (after
    adding ``pseudocount`` to every value's count, as in
    ``kl_from_counts``).

    Parameters
    ----------
    samples_p, samples_q : array_like, any shapes
        Samples of discrete values (integers, or floats compared exactly),
        flattened; their lengths may differ.  Arrays of NumPy, PyTorch,
        TensorFlow, JAX, CuPy or any array-API library, both from the same
        library and on the same device; Python lists become NumPy arrays.
    pseudocount : float, default 0.0
        Added to every value's count in both samples before normalising (a
        finite number >= 0).  0 gives ``+inf`` when ``samples_p`` holds a
        value that ``samples_q`` never does.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.

    Returns
    -------
    array, shape ``()``
        KL in nats (or in ``base``), a 0-d array of the samples' library
        (float64 for NumPy, the library's default float elsewhere).

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries.
    ValueError
        Values that cannot be read (under ``jax.jit``, ``tf.function``,
        ``torch.compile`` or on Dask: the support's size depends on the
        values), a bad ``pseudocount`` or ``base``.

    See Also
    --------
    kl_from_counts : The same from histograms over given bins.
    kl_from_samples_knn : KL from samples of continuous variables.

    Notes
    -----
    The plug-in estimate: consistent, but biased upwards for small
    samples.  A value absent from ``samples_p``
    contributes 0; a value present in ``samples_p`` and absent from
    ``samples_q`` gives ``+inf`` (use a ``pseudocount`` to smooth it).  For
    samples of a continuous variable every value is distinct and the
    answer is meaningless: use ``kl_from_samples_knn``.

    Examples
    --------
    >>> import kl_backends as klb
    >>> p = [1, 1, 2, 2, 3]
    >>> q = [1, 1, 1, 1, 1, 2, 3, 3, 3, 3]
    >>> round(float(klb.kl_from_samples(p, q, base=2)), 6)  # = kl_from_counts([2, 2, 1], [5, 1, 4])
    0.471229
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

    (Wang, Kulkarni & Verdu 2009; Perez-Cruz 2008), where
    :math:`\rho_k(i)` is the Euclidean distance from ``x_p[i]`` to its k-th
    nearest neighbour among the other ``n - 1`` samples of P,
    :math:`\nu_k(i)` the distance to its k-th nearest neighbour among the
    ``m`` samples of Q, and ``d`` the dimension.

    Parameters
    ----------
    x_p : array_like, shape ``[n, d]`` (or ``[n]`` for ``d = 1``)
        Samples of P, one per row.  An array of NumPy, PyTorch, TensorFlow,
        JAX, Dask, CuPy or any array-API library.
    x_q : array_like, shape ``[m, d]`` (or ``[m]``)
        Samples of Q, from the same library and on the same device as
        ``x_p``.
    k : int, default 1
        The neighbour used: larger ``k`` lowers the variance and raises the
        bias.  Needs ``n > k`` and ``m >= k``.
    chunk_size : int, default 1024
        Rows of ``x_p`` whose distances are computed at once: memory is
        ``chunk_size * (n + m)`` numbers, whatever ``n`` and ``m`` are.  The
        result does not depend on it.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.

    Returns
    -------
    array, shape ``()``
        The estimate in nats (or in ``base``), a 0-d array of the inputs'
        library with their floating dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries.
    ValueError
        ``k`` or ``chunk_size`` not a positive int; ``x_p`` and ``x_q`` of
        different dimensions; ``n <= k`` or ``m < k``; a bad ``base``.

    See Also
    --------
    kl_from_samples : KL from samples of discrete values.
    kl_from_densities : KL from densities on a grid, when they are known.
    kl_multivariate_normal : The closed form for two Gaussians.

    Notes
    -----
    The estimator is consistent (bias and variance vanish as ``n`` and
    ``m`` grow) but biased at finite ``n``, most where Q is much narrower
    than P.  Measured over 20 independent draws of 5,000 samples each, two
    2-D Gaussians: with KL = 0.229 (means 0.58 apart, similar covariances)
    bias -0.004 and standard deviation 0.028 for k = 1, -0.004 and 0.019
    for k = 3; with KL = 1.016 (Q's variance 0.5 along one axis) bias
    -0.092 and standard deviation 0.047 for k = 1, -0.137 and 0.036 for
    k = 3.  The standard deviation falls roughly as ``1 / sqrt(n)``.
    Repeated samples (zero distances) make it infinite or NaN: add jitter
    to discrete data or use ``kl_from_samples``.  Written against the array
    API (sorting each chunk's distances: ``O(n (n + m) log(n + m))`` time);
    it runs under ``jax.jit``.

    This function was called ``kl_knn``; that name still works, with a
    ``DeprecationWarning``.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> rng = np.random.default_rng(0)
    >>> x_p = rng.normal(0.0, 1.0, size=(2000, 1))
    >>> x_q = rng.normal(1.0, 1.0, size=(2000, 1))
    >>> estimate = float(klb.kl_from_samples_knn(x_p, x_q, k=3))
    >>> abs(estimate - 0.5) < 0.1  # KL(N(0, 1) || N(1, 1)) = 0.5
    True
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
            f"kl_from_samples_knn needs more than k={k} samples of P and at least k of Q; "
            f"got {n} and {m}"
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
