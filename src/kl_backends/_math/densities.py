"""Continuous KL from densities sampled on a grid: the trapezoid rule of p log(p / q).

Written against the array API, like the rest of the math: the grid's checks
read values only where values can be read (eagerly), and the integral itself
runs under ``jax.jit``, ``tf.function`` and ``torch.compile``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.options import KLOptions
from kl_backends._math import common as _common

__all__ = ["kl_from_densities"]

#: ``validate=True``: largest deviation of a density's trapezoid integral from 1.
INTEGRAL_TOLERANCE = 0.01


def kl_from_densities(
    p: Any,
    q: Any,
    /,
    *,
    dx: Any = None,
    x: Any = None,
    normalize: bool = False,
    axis: int | tuple[int, ...] = -1,
    inputs: _args.InputsPair = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
    validate: bool = False,
) -> Any:
    r"""Continuous KL(p || q) from two densities sampled on the same grid.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \int p(x) \log \frac{p(x)}{q(x)} \, dx
        \approx \sum_i w_i \, p(x_i) \log \frac{p(x_i)}{q(x_i)}

    with the trapezoid weights ``w_i`` of the grid along ``axis``, one
    result per pair of densities along the other (batch) axes.  The result
    is an array of the inputs' library, on their device.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes ``[..., n]``
        The two densities (or log densities, see ``inputs``) at the ``n >= 2``
        grid points along ``axis``.  Arrays of NumPy, PyTorch, TensorFlow,
        JAX, Dask, CuPy or any array-API library, both from the same library
        and on the same device; Python numbers and lists take the other
        argument's library (NumPy when both are plain Python).
    dx : float or 0-d array, optional
        The spacing of a uniform grid: a positive finite number
        (``ValueError`` otherwise, ``TypeError`` for a bool, string or list).
        A 0-d array of the inputs' library is checked where its value can be
        read (eagerly) and taken as it is under ``jax.jit``,
        ``tf.function``, ``torch.compile`` and on Dask.  Exactly one of
        ``dx`` and ``x`` is required.
    x : array_like, shape ``[n]``, optional
        The grid's coordinates, one per point along ``axis``, finite and
        strictly increasing (``ValueError`` otherwise; checked eagerly, which
        reads one boolean from the device, and not checked under
        ``jax.jit``, ``tf.function``, ``torch.compile`` or on Dask).  For a
        decreasing grid reverse ``x``, ``p`` and ``q``.  Exactly one of
        ``dx`` and ``x`` is required.
    normalize : bool, default False
        Divide each density by its own trapezoid integral first: for
        densities that the grid truncates, or that are unnormalised.
    axis : int, default -1
        The grid's axis, integrated over (one axis: a tuple of more than one
        is a ``ValueError``).  Negative values count from the end of the
        broadcast shape.
    inputs : {"probs", "log_probs"} or a pair of them, default "probs"
        ``"probs"``: density values (>= 0, not probabilities: they need not
        sum to 1).  ``"log_probs"``: log densities (``-inf`` where the
        density is 0), e.g. ``scipy.stats.norm.logpdf``.  A pair
        ``(of p, of q)`` gives each its own kind.  ``"logits"`` means
        nothing for densities and is a ``ValueError``.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per pair of densities (the broadcast shape
        without ``axis``); ``"sum"``: their sum; ``"mean"``: their mean.
    keepdims : bool, default False
        Keep the grid's axis with size 1 (with ``reduction="none"``).
    validate : bool, default False
        Check the values first: ``ValueError`` for NaN, negative or infinite
        densities, log densities of ``+inf``, and, without ``normalize``,
        a density whose trapezoid integral is not within 1% of 1 (a
        truncated or unnormalised density: pass ``normalize=True``).  This
        reads values (a host synchronisation), so it is off by default and a
        ``ValueError`` under ``jax.jit``, ``tf.function``, ``torch.compile``
        and on Dask.

    Returns
    -------
    array
        KL(p || q) in nats (or in ``base``), shape: the broadcast shape of
        ``p`` and ``q`` without ``axis`` (``reduction="none"``) or ``()``,
        with the inputs' floating dtype (integers promote to the library's
        default float; float16 and bfloat16 are computed in float32).

    Raises
    ------
    TypeError
        Neither or both of ``dx`` and ``x``; ``dx`` of a wrong type;
        ``normalize``, ``keepdims`` or ``validate`` not a bool; inputs of
        two libraries or of a complex dtype.
    ValueError
        A bad ``dx`` or ``x`` (see above), fewer than 2 grid points, a tuple
        ``axis``, ``inputs="logits"``, a bad ``base`` or ``reduction``,
        shapes that do not broadcast, and failed validation.

    See Also
    --------
    kl_divergence : KL of discrete distributions (probabilities, logits).
    kl_normal : The closed form for two univariate normals.
    kl_from_samples_knn : KL estimated from samples of continuous variables.

    Notes
    -----
    Summing density values without the spacing gives the integral divided
    by the spacing: 500 instead of 0.5 for N(0, 2) against N(2, 2) on a
    grid of step 0.001.  The trapezoid rule is exact to
    :math:`O(\Delta x^2)` for smooth integrands; the grid must cover the
    mass of ``p`` (or use ``normalize=True`` for what it truncates).

    The conventions are those of ``scipy.special.rel_entr``: a point with
    ``p == 0`` contributes 0 whatever ``q`` is (``0 log 0 = 0``); ``p > 0``
    where ``q == 0`` gives ``+inf``; NaN makes that result NaN, and only
    it.  Gradients (PyTorch, JAX, TensorFlow) are finite where ``p == 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> x = np.linspace(-12.0, 14.0, 2601)
    >>> def pdf(x, mu, sd):
    ...     return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    >>> p, q = pdf(x, 0.0, 2.0), pdf(x, 2.0, 2.0)
    >>> round(float(klb.kl_from_densities(p, q, dx=x[1] - x[0])), 6)  # (2 - 0)**2 / (2 * 2**2)
    0.5
    >>> round(float(klb.kl_from_densities(np.log(p), np.log(q), x=x, inputs="log_probs")), 6)
    0.5
    """
    normalize = _args.check_bool("normalize", normalize)
    keepdims = _args.check_bool("keepdims", keepdims)
    validate = _args.check_bool("validate", validate)
    _check_dx_or_x(dx, x)
    kinds = _args.check_inputs_pair(inputs)
    if "logits" in kinds:
        raise ValueError(
            "kl_from_densities takes inputs='probs' (densities) or 'log_probs' (log "
            f"densities), or a pair of them; got {inputs!r} (logits go to kl_divergence)"
        )
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    log_base = _args.log_of_base(base)
    be, xp, (p, q), out_dtype = _common.prepare(p, q, names=("p", "q"))
    shape = _args.broadcast_shape(_args.shape_of(p), _args.shape_of(q))
    axes = _args.normalize_axis(axis, len(shape))
    if len(axes) != 1:
        raise ValueError(f"a grid (dx or x) integrates along one axis; got axis={axis!r}")
    if kinds[0] != kinds[1]:  # densities and log densities: both as densities
        p, q = (xp.exp(v) if k == "log_probs" else v for k, v in zip(kinds, (p, q)))
    kind = kinds[0] if kinds[0] == kinds[1] else "probs"
    weights = _grid_weights(be, p, shape, axes[0], dx, x)
    if validate:
        p, q = _common.broadcast_to(xp, p, shape), _common.broadcast_to(xp, q, shape)
        p = _validate(be, p, q, kind, axes, weights, normalize, out_dtype)
    options = KLOptions(kind, axes, keepdims, reduction, log_base, normalize)
    with be.quiet():  # log(0) = -inf and NaN are defined results here
        out = be.jit(_integral, be, options)(p, q, weights)
    return _common.finish(xp, out, out_dtype)


def _check_dx_or_x(dx: Any, x: Any) -> None:
    """``TypeError`` unless exactly one of ``dx`` and ``x`` is given."""
    if (dx is None) == (x is None):
        got = "neither" if dx is None else "both"
        raise TypeError(
            "kl_from_densities needs exactly one of dx= (the spacing of a uniform grid) "
            f"and x= (the grid's coordinates); got {got}"
        )


def _integral(be: Any, options: KLOptions, p: Any, q: Any, weights: Any) -> Any:
    """The trapezoid integral of ``p log(p / q)``, on inputs already promoted."""
    xp = be.xp
    axes, keepdims = options.axes, options.keepdims
    if options.normalize:
        if options.inputs == "probs":
            p = p / xp.sum(p * weights, axis=axes, keepdims=True)
            q = q / xp.sum(q * weights, axis=axes, keepdims=True)
        else:
            p = p - xp.log(xp.sum(xp.exp(p) * weights, axis=axes, keepdims=True))
            q = q - xp.log(xp.sum(xp.exp(q) * weights, axis=axes, keepdims=True))
    if options.inputs == "probs":
        out = _common.kl_sum(be, p, q, axes, keepdims, weights)
    else:
        terms = _common.log_probs_terms(be, p, q) * weights
        out = xp.sum(terms, axis=axes, keepdims=keepdims)
    return _common.reduce_in_base(xp, out, options.reduction, keepdims, options.log_base)


def _grid_weights(
    be: Any, p: Any, shape: tuple[int | None, ...], axis: int, dx: Any, x: Any
) -> Any:
    """Trapezoid weights along the grid axis, shaped to broadcast against the terms."""
    xp = be.xp
    n = shape[axis]
    if n is None or n < 2:
        raise ValueError(f"a grid needs at least 2 points along axis {axis}; got {n}")
    device = be.device(p)
    if dx is not None:
        half = xp.asarray([0.5], dtype=p.dtype, device=device)
        ones = xp.ones((n - 2,), dtype=p.dtype, device=device)
        w = xp.concat([half, ones, half]) * _grid_step(be, p, dx)
    else:
        _, (grid,) = _dispatch.resolve(x, names=("x",))
        if _args.shape_of(grid) != (n,):
            raise ValueError(
                f"x must be 1-D with one coordinate per grid point ({n}); "
                f"got shape {_args.shape_of(grid)}"
            )
        grid = xp.astype(xp.asarray(grid, device=device), p.dtype)
        steps = grid[1:] - grid[:-1]
        _check_grid(be, steps)
        w = 0.5 * xp.concat([steps[:1], steps[:-1] + steps[1:], steps[-1:]])
    return xp.reshape(w, (n,) + (1,) * (len(shape) - 1 - axis))


def _grid_step(be: Any, p: Any, dx: Any) -> Any:
    """``dx`` checked: a positive finite number, or a 0-d array (checked eagerly only)."""
    expected = "dx must be a positive finite number (the grid's spacing) or a 0-d array"
    if isinstance(dx, numbers.Real) and not isinstance(dx, bool):
        step = float(dx)
        if not (math.isfinite(step) and step > 0):
            raise ValueError(
                f"{expected}; got {dx!r}. For a decreasing grid, reverse p and q along the axis"
            )
        return step
    if isinstance(dx, (bool, str, list, tuple)):
        raise TypeError(f"{expected}; got {dx!r}")
    try:
        _, (arr,) = _dispatch.resolve(dx, names=("dx",))
    except TypeError:
        raise TypeError(f"{expected}; got {type(dx).__name__}") from None
    if _args.shape_of(arr) != ():
        raise ValueError(f"{expected}; got shape {_args.shape_of(arr)}")
    xp = be.xp
    arr = xp.astype(xp.asarray(arr, device=be.device(p)), p.dtype)
    if be.values_unavailable(arr) is None and not bool((arr > 0) & (xp.abs(arr) < math.inf)):
        raise ValueError(f"{expected}; got {dx!r}")
    return arr


def _check_grid(be: Any, steps: Any) -> None:
    """``ValueError`` unless the grid's ``steps`` are finite and positive; eagerly only.

    Reads one boolean (as ``kl_multivariate_normal``'s positive-definiteness
    check): skipped where the values cannot be read (under ``jax.jit``,
    ``tf.function``, ``torch.compile``, on Dask and on the ``meta`` device),
    so a bad grid there gives wrong weights, not an error.
    """
    if be.values_unavailable(steps) is not None:
        return
    xp = be.xp
    good = (steps > 0) & (xp.abs(steps) < math.inf)
    if bool(xp.any(~good)):
        raise ValueError(
            "x must be finite and strictly increasing (a grid of coordinates); it has a "
            "step that is not positive, or a NaN or infinite coordinate. For a decreasing "
            "grid, reverse x, p and q along the axis"
        )


def _validate(
    be: Any,
    p: Any,
    q: Any,
    kind: str,
    axes: tuple[int, ...],
    weights: Any,
    normalize: bool,
    dtype: Any,
) -> Any:
    """``p``, after raising ``ValueError`` for values that are not densities of ``kind``.

    Reads values: only called with ``validate=True``.  Where they cannot be
    read the ``ValueError`` says so (under ``torch.compile(fullgraph=True)``
    when the compiled code runs: ``be.raise_when_run``).
    """
    for name, v in (("p", p), ("q", q)):
        why = be.values_unavailable(v)
        if why is not None:
            return be.raise_when_run(
                ValueError(
                    f"validate=True needs the values of {name}, but {why}. "
                    "Validate outside the traced or lazy computation, or pass validate=False."
                ),
                p,
            )
    xp = be.xp
    for name, v in (("p", be.detach(p)), ("q", be.detach(q))):
        if bool(xp.any(xp.isnan(v))):
            raise ValueError(f"{name} contains NaN")
        if kind == "probs" and bool(xp.any((v < 0) | (v == math.inf))):
            raise ValueError(f"{name} has negative or infinite densities")
        if kind == "log_probs" and bool(xp.any(v == math.inf)):
            raise ValueError(f"{name} has log densities of +inf")
        if normalize:
            continue
        density = v if kind == "probs" else xp.exp(v)
        total = xp.sum(density * weights, axis=axes)
        worst = float(xp.max(xp.abs(total - 1))) if math.prod(total.shape) else 0.0
        if not worst <= INTEGRAL_TOLERANCE:
            raise ValueError(
                f"{name} does not integrate to 1 on the grid (largest deviation {worst:.3g}, "
                f"tolerance {INTEGRAL_TOLERANCE}); a grid that truncates the density, or an "
                f"unnormalised density: pass normalize=True (dtype {dtype})"
            )
    return p
