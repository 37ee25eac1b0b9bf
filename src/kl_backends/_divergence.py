"""Kullback-Leibler divergence of categorical distributions, once, for every backend.

The math below is written only against the Python array API standard: it runs
unchanged on NumPy, PyTorch, JAX, CuPy, Dask, array-api-strict and, through
kl_backends' adapter, TensorFlow.  It reads no array values (no ``float()``,
``bool()``, ``.item()`` or conversion to NumPy), so it runs in place on GPU
tensors, under ``jax.jit``, ``tf.function`` and ``torch.compile``, and on
PyTorch's ``meta`` device.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from kl_backends import _args, _compat

__all__ = ["kl_divergence"]


def kl_divergence(
    p: Any,
    q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: _args.Inputs = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
    validate: bool = False,
) -> Any:
    r"""Kullback-Leibler divergence KL(p || q) of categorical distributions.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}

    summed over the event axis (or axes) ``axis``, with one result per
    distribution along the other (batch) axes.  The result is an array of the
    inputs' library, on their device.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes ``[..., n]``
        The two distributions, as given by ``inputs``.  Arrays of NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library; both
        from the same library and on the same device.  Python numbers and
        lists are accepted and take the other argument's library (NumPy when
        both are plain Python).
    axis : int or tuple of int, default -1
        The event axes, summed over.  Negative values count from the end of
        the broadcast shape.
    inputs : {"probs", "log_probs", "logits"}, default "probs"
        ``"probs"``: probabilities.  ``"log_probs"``: normalised
        log-probabilities (``-inf`` for an impossible event).  ``"logits"``:
        unnormalised log-probabilities, normalised here with a stable
        log-softmax over ``axis`` (logits of +-1000 neither overflow nor lose
        accuracy).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits, any finite positive
        number other than 1 is allowed.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"`` returns one value per distribution (shape: the broadcast
        shape without ``axis``); ``"sum"`` their sum; ``"mean"`` their mean,
        which is what PyTorch calls ``reduction="batchmean"`` (PyTorch's own
        ``"mean"`` divides by the number of *elements* and is not KL).
    keepdims : bool, default False
        Keep the reduced axes with size 1.
    validate : bool, default False
        Check the inputs' values first and raise ``ValueError`` for NaN,
        negative probabilities, log-probabilities above 0, or distributions
        that do not sum to 1 within ``sqrt(eps)`` of the dtype.  This reads
        values (a host synchronisation), so it is off by default and raises
        ``ValueError`` under ``jax.jit``, ``tf.function``, ``torch.compile``,
        on Dask arrays and on the ``meta`` device, where there are no values.

    Returns
    -------
    array
        KL(p || q) in nats (or in ``base``), with the inputs' floating dtype:
        integers promote to the library's default float; float16 and bfloat16
        are computed in float32 and returned in their own dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes.
    ValueError
        Shapes that do not broadcast, arrays on two devices, a bad ``axis``,
        ``inputs``, ``base`` or ``reduction``, and failed validation.

    Notes
    -----
    The conventions are those of ``scipy.special.rel_entr``:

    * a term with ``p == 0`` is 0, whatever ``q`` is (``q == 0`` included);
    * ``p > 0`` with ``q == 0`` gives ``+inf``;
    * NaN in either input makes that distribution's result NaN, and only it;
    * the same holds for ``-inf`` log-probabilities and logits.

    Unlike ``rel_entr``, a negative probability gives NaN rather than
    ``+inf`` (use ``validate=True`` to be told).

    Gradients (PyTorch, JAX, TensorFlow) are finite wherever ``p == 0``, also
    where ``q == 0`` there, and the gradient with respect to ``q`` is
    ``-p / q`` (0 where ``p == 0``).  The familiar
    ``where(p > 0, p * log(p / q), 0)`` gets this wrong: the branch that
    ``where`` discards still sends NaN into the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends import kl_divergence
    >>> p = np.array([0.36, 0.48, 0.16])
    >>> q = np.full(3, 1 / 3)
    >>> print(f"{kl_divergence(p, q):.10f}")
    0.0852996013
    >>> print(f"{kl_divergence([0.4, 0.4, 0.2], [0.5, 0.1, 0.4], base=2):.4f}")
    0.4712
    """
    _args.check_choice("inputs", inputs, _args.INPUTS)
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    log_base = _args.log_of_base(base)
    xp, (p, q) = _compat.namespace_and_arrays(p, q, names=("p", "q"))
    shape = _args.broadcast_shape(_args.shape_of(p), _args.shape_of(q))
    axes = _args.normalize_axis(axis, len(shape))
    p, q, out_dtype = _promote(xp, p, q)
    if inputs == "logits" or validate:
        # Normalising (and checking sums) is over the *broadcast* event axes.
        p, q = _broadcast_to(xp, p, shape), _broadcast_to(xp, q, shape)
    if validate:
        _validate(xp, p, q, inputs, axes, out_dtype)

    options = (inputs, axes, keepdims, reduction, log_base)
    if _compat.is_jax_array(p) and not _compat.values_unavailable(p):
        # Eager JAX dispatches (and compiles) every primitive on its own; one
        # cached jit of the same generic math is one compile per shape.
        out = _jax_jitted(xp, options)(p, q)
    else:
        with _compat.quiet_numpy(p):  # log(0) = -inf and NaN are defined results here
            out = _kl(xp, p, q, options)
    return xp.astype(out, out_dtype) if out.dtype != out_dtype else out


def _kl(xp: Any, p: Any, q: Any, options: tuple[Any, ...]) -> Any:
    """The math, on inputs already promoted (and broadcast for logits)."""
    inputs, axes, keepdims, reduction, log_base = options
    if inputs == "probs":
        terms = _probs_terms(xp, p, q)
    else:
        if inputs == "logits":
            p, q = _log_softmax(xp, p, axes), _log_softmax(xp, q, axes)
        terms = _log_probs_terms(xp, p, q)
    out = xp.sum(terms, axis=axes, keepdims=keepdims)
    out = _reduce(xp, out, reduction, keepdims)
    if log_base is not None:
        out = out / log_base
    return out


@functools.lru_cache(maxsize=256)
def _jax_jitted(xp: Any, options: tuple[Any, ...]) -> Any:
    import jax

    return jax.jit(functools.partial(_kl, xp, options=options))


# -- the pointwise terms ------------------------------------------------------


def _probs_terms(xp: Any, p: Any, q: Any) -> Any:
    """``p * log(p / q)`` with ``rel_entr``'s conventions and safe gradients.

    Where ``p == 0`` both arguments are replaced by 1 *before* the logs, so
    the discarded branch of the final ``where`` is finite and its gradient is
    0 (not ``0 * inf = NaN``).  ``p * (log p - log q)`` rather than
    ``p * log(p / q)`` makes autodiff return exactly ``-p / q`` for the
    gradient with respect to ``q``; ``p / q`` would go through ``q**2``,
    which underflows for small ``q``.
    """
    zero = p == 0
    one = _scalar(xp, 1, p)
    p_safe = xp.where(zero, one, p)
    q_safe = xp.where(zero, one, q)
    terms = p_safe * (_compat.quiet_log(xp, p_safe) - _compat.quiet_log(xp, q_safe))
    return xp.where(zero, _scalar(xp, 0, p), terms)


def _log_probs_terms(xp: Any, log_p: Any, log_q: Any) -> Any:
    """``exp(log_p) * (log_p - log_q)``; terms with ``log_p == -inf`` are 0.

    A term with ``log_q == -inf`` (and ``log_p`` finite) is ``+inf`` even
    when ``exp(log_p)`` underflows to 0, where the product would be NaN.
    """
    impossible = log_p == -math.inf
    zero = _scalar(xp, 0, log_p)
    lp = xp.where(impossible, zero, log_p)
    lq = xp.where(impossible, zero, log_q)
    terms = xp.where(lq == -math.inf, _scalar(xp, math.inf, lp), xp.exp(lp) * (lp - lq))
    return xp.where(impossible, zero, terms)


def _log_softmax(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x - logsumexp(x)`` over ``axes``, shifted by the maximum for stability."""
    shifted = x - xp.max(x, axis=axes, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True))


# -- dtypes, reductions, validation -------------------------------------------


def _scalar(xp: Any, value: float, like: Any) -> Any:
    return xp.asarray(value, dtype=like.dtype, device=_compat.device_of(like))


def _promote(xp: Any, p: Any, q: Any) -> tuple[Any, Any, Any]:
    """Cast both inputs to the working dtype; return them and the output dtype."""
    for name, x in (("p", p), ("q", q)):
        if xp.isdtype(x.dtype, "complex floating"):
            raise TypeError(f"{name} has complex dtype {x.dtype}; KL needs real inputs")
    dtype = xp.result_type(p, q)
    if not _is_float(xp, dtype):
        dtype = xp.__array_namespace_info__().default_dtypes(device=_compat.device_of(p))[
            "real floating"
        ]
    work = xp.float32 if _is_half(xp, dtype) else dtype
    return xp.astype(p, work), xp.astype(q, work), dtype


def _is_float(xp: Any, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "real floating"))


def _is_half(xp: Any, dtype: Any) -> bool:
    """float16 or bfloat16 (by size: not every namespace names them)."""
    return _is_float(xp, dtype) and int(xp.finfo(dtype).bits) < 32


def _broadcast_to(xp: Any, x: Any, shape: tuple[int | None, ...]) -> Any:
    if _args.shape_of(x) == shape or None in shape:
        return x
    return xp.broadcast_to(x, shape)


def _reduce(xp: Any, out: Any, reduction: str, keepdims: bool) -> Any:
    if reduction == "none" or out.ndim == 0:
        return out
    if reduction == "sum":
        return xp.sum(out, keepdims=keepdims)
    return xp.mean(out, keepdims=keepdims)


def _validate(xp: Any, p: Any, q: Any, inputs: str, axes: tuple[int, ...], dtype: Any) -> None:
    """Raise ``ValueError`` for inputs that are not distributions of ``inputs`` kind.

    Reads values: only called with ``validate=True``.  The tolerance on the
    sums is ``sqrt(eps)`` of the inputs' dtype (before any upcast).
    """
    for name, x in (("p", p), ("q", q)):
        why = _compat.values_unavailable(x)
        if why is not None:
            raise ValueError(
                f"validate=True needs the values of {name}, but {why}. "
                "Validate outside the traced or lazy computation, or pass validate=False."
            )
    tol = math.sqrt(float(xp.finfo(dtype).eps))
    for name, x in (("p", p), ("q", q)):
        if bool(xp.any(xp.isnan(x))):
            raise ValueError(f"{name} contains NaN")
        if inputs == "probs":
            if bool(xp.any(x < 0)):
                raise ValueError(f"{name} has negative probabilities")
            total = xp.sum(x, axis=axes)
        elif inputs == "log_probs":
            if bool(xp.any(x > 0)):
                raise ValueError(
                    f"{name} has log-probabilities above 0; "
                    "for unnormalised values use inputs='logits'"
                )
            total = xp.sum(xp.exp(x), axis=axes)
        else:
            if bool(xp.any(x == math.inf)):
                raise ValueError(f"{name} has +inf logits")
            continue
        worst = float(xp.max(xp.abs(total - 1))) if math.prod(total.shape) else 0.0
        if not worst <= tol:
            raise ValueError(
                f"{name} does not sum to 1 over axis {axes} (largest deviation "
                f"{worst:.3g}, tolerance {tol:.3g} for {dtype}); normalise it, "
                "or pass inputs='logits' for unnormalised values"
            )
