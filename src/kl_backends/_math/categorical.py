"""Kullback-Leibler divergence of categorical distributions, once, for every backend.

The math below is written only against the Python array API standard: it runs
unchanged on NumPy, PyTorch, JAX, CuPy, Dask, array-api-strict and, through
kl_backends' adapter, TensorFlow.  It reads no array values (no ``float()``,
``bool()``, ``.item()`` or conversion to NumPy), so it runs in place on GPU
tensors, under ``jax.jit``, ``tf.function`` and ``torch.compile``, and on
PyTorch's ``meta`` device.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.options import KLOptions
from kl_backends._lib.policy import fast_paths_enabled
from kl_backends._math import common as _common
from kl_backends._math import densities as _densities
from kl_backends._math import logits as _logits
from kl_backends._math import sources as _sources

__all__ = ["kl_divergence"]


def _quick(p: Any, q: Any, axis: Any, inputs: Any, reduction: Any) -> Any:
    """A call with every keyword at its default, the quick way (``Backend.quick``), or
    ``None`` to go the general way."""
    if not (type(axis) is int and axis == -1 and inputs == "probs" and reduction == "none"):
        return None
    quick = _dispatch.QUICK.get(type(p))
    return None if quick is None or type(q) is not type(p) else quick(p, q, _exact_sums)


def kl_divergence(
    p: Any,
    q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: _args.InputsPair = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
    validate: bool = False,
    temperature: float | None = None,
    where: Any = None,
    dx: Any = None,
    x: Any = None,
    normalize: bool = False,
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
    inputs : {"probs", "log_probs", "logits"} or a pair of them, default "probs"
        ``"probs"``: probabilities.  ``"log_probs"``: normalised
        log-probabilities (``-inf`` for an impossible event).  ``"logits"``:
        unnormalised log-probabilities, normalised here with a stable
        log-softmax over ``axis`` (logits of +-1000 neither overflow nor lose
        accuracy).  A single value applies to both ``p`` and ``q``; a pair
        ``(inputs of p, inputs of q)`` gives each its own kind, e.g.
        ``("probs", "logits")`` for soft or one-hot labels against a model's
        logits (``inputs="logits"`` would take the labels as logits too and
        give another number).  A pair of two kinds is computed by the
        generic row blocks (with ``temperature`` and ``where``; gradients by
        autodiff); where ``p == 0`` in probabilities the gradient wrt ``p``
        is 0 (the derivative of ``p log p`` there is ``-inf``).  An empty
        event axis is a ``ValueError`` for logits (a softmax over nothing is
        no distribution) and gives 0, the empty sum, for the other kinds.
        Another value, or a pair of other than two kinds, is a ``ValueError``
        naming the allowed ones.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits, any finite positive
        number other than 1 is allowed.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"`` returns one value per distribution (shape: the broadcast
        shape without ``axis``); ``"sum"`` their sum; ``"mean"`` their mean
        (the sum divided by the number of distributions).  PyTorch's
        ``F.kl_div(..., reduction="batchmean")`` divides the sum by the size
        of the first dimension only, so it equals ``"mean"`` for inputs
        ``[batch, n]`` with the event axis last, and is ``T`` times it for
        ``[batch, T, n]``: there use ``"sum"`` divided by ``batch``.
        (PyTorch's own ``"mean"`` divides by the number of *elements* and is
        not KL.)  The mean over an empty batch is NaN (as ``torch.mean``),
        with no warning.
    keepdims : bool, default False
        Keep the reduced axes with size 1.  ``keepdims`` and ``validate``
        must be booleans (``TypeError`` otherwise: ``"no"`` is
        truthy).
    validate : bool, default False
        Check the inputs' values first and raise ``ValueError`` for NaN,
        negative probabilities, log-probabilities above 0, or distributions
        that do not sum to 1 within ``sqrt(eps)`` of the dtype.  This reads
        values (a host synchronisation), so it is off by default and raises
        ``ValueError`` under ``jax.jit``, ``tf.function``, ``torch.compile``,
        on Dask arrays and on the ``meta`` device, where there are no values
        (under ``torch.compile(fullgraph=True)`` when the compiled code runs:
        an error raised while tracing would become Dynamo's ``Unsupported``).
    temperature : float or 0-d array, optional
        Logits only: the logits sides (both with ``inputs="logits"``, one
        with a pair such as ``("probs", "logits")``) are divided by
        ``temperature`` before the softmax, giving the KL of the tempered
        distributions (multiply by ``temperature**2`` for Hinton's
        distillation loss).  Probabilities and log-probabilities are taken
        as they are (a ``ValueError`` if no side is logits).  A 0-d array of
        the inputs' library (traced under ``jax.jit``, ``tf.function`` or
        ``torch.compile``: a schedule compiles once) is checked where its
        value can be read (``ValueError`` unless finite and positive) and
        gives NaN where it cannot and is invalid; gradients with respect to
        it are exact.
    where : bool array, broadcastable to the batch shape, optional
        With ``inputs="logits"``, ``"log_probs"`` or a pair of two kinds: one
        flag per distribution, broadcastable to the batch shape (e.g.
        ``labels != -100``).  Excluded
        distributions give 0 with ``reduction="none"``, are left out of
        ``"sum"`` and ``"mean"`` (which divides by the number included), get
        exactly zero gradient, and pass no NaN or inf from their inputs on.
    dx, x, normalize : optional
        Deprecated: continuous KL from densities on a grid is
        ``kl_from_densities(p, q, dx=..., x=..., normalize=...)``.  Given here
        they still give its values, with a ``DeprecationWarning``.

    Returns
    -------
    array
        KL(p || q) in nats (or in ``base``), with the inputs' floating dtype:
        integers promote to the library's default float; float16 and bfloat16
        are computed in float32 and returned in their own dtype.

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex or
        boolean dtypes, a ``keepdims`` or ``validate`` that is not a bool.
    ValueError
        Shapes that do not broadcast, arrays on two devices, a bad ``axis``,
        ``inputs``, ``base``, ``reduction`` or ``temperature``,
        ``temperature`` or ``where`` with probabilities on both sides, 0-d
        inputs (a distribution needs an event axis), and failed validation.

    See Also
    --------
    kl_from_densities : Continuous KL from densities on a grid.
    js_divergence : The symmetric, bounded Jensen-Shannon divergence.
    cross_entropy : H(p, q) = H(p) + KL(p || q).
    generalized_kl_divergence : KL of unnormalised non-negative measures.
    kl_from_counts : KL of two histograms.
    kl_backends.distributions.kl : KL between distribution objects.

    Notes
    -----
    The conventions are those of ``scipy.special.rel_entr``:

    * a term with ``p == 0`` is 0, whatever ``q`` is (``q == 0`` included);
    * ``p > 0`` with ``q == 0`` gives ``+inf``;
    * NaN in ``p``, or in ``q`` where ``p > 0``, makes that distribution's
      result NaN, and only it (a NaN or negative ``q`` where ``p == 0`` may
      also give NaN under ``torch.compile``, ``torch.func`` and on GPUs);
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
    >>> import kl_backends as klb
    >>> p = np.array([0.36, 0.48, 0.16])
    >>> q = np.full(3, 1 / 3)
    >>> round(float(klb.kl_divergence(p, q)), 10)
    0.0852996013
    >>> round(float(klb.kl_divergence([0.4, 0.4, 0.2], [0.5, 0.1, 0.4], base=2)), 6)
    0.471229
    >>> np.round(klb.kl_divergence([[1.0, 0.0], [0.5, 0.5]], [0.5, 0.5]), 6)  # a batch of two
    array([0.693147, 0.      ])
    >>> labels = np.array([[0.0, 1.0, 0.0]])  # soft or one-hot labels against logits
    >>> logits = np.array([[1.0, 3.0, 0.5]])
    >>> np.round(klb.kl_divergence(labels, logits, inputs=("probs", "logits")), 6)
    array([0.196734])
    """
    if dx is not None or x is not None or normalize is not False:
        return _densities_call(
            p, q, dx, x, normalize, temperature, where,
            dict(axis=axis, inputs=inputs, base=base, reduction=reduction, keepdims=keepdims,
                 validate=validate),
        )  # fmt: skip
    if (base is None and temperature is None and where is None) and (
        keepdims is False and validate is False
    ):
        result = _quick(p, q, axis, inputs, reduction)
        if result is not None:
            return result
    # (A projection or a top-k teacher never goes the quick way: QUICK holds array types.)
    if _sources.involved(p, q):  # a projection or a top-k teacher (``_math.sources``)
        if validate is not False:
            raise ValueError("validate= does not apply to a projection or a top-k teacher")
        return _sources.divergence(
            "kl", p, q, axis=axis, inputs=inputs, base=base, reduction=reduction,
            keepdims=keepdims, temperature=temperature, where=where,
        )  # fmt: skip
    kinds = _args.check_inputs_pair(inputs)  # of p, of q
    mixed = kinds[0] != kinds[1]
    inputs = kinds[0]
    if (mixed or inputs != "probs") and not validate:
        # Rows of logits or log-probabilities (blocked, with custom gradients), and
        # pairs of two kinds (the generic blocks).
        return _logits.rows_divergence(
            "kl", p, q, axis=axis, inputs=kinds if mixed else inputs, base=base,
            reduction=reduction, keepdims=keepdims, temperature=temperature, where=where,
        )  # fmt: skip
    if temperature is not None or where is not None:
        raise ValueError(
            "temperature= and where= apply to inputs='logits' or 'log_probs' without "
            f"validate=True; got inputs={inputs!r}"
        )
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    keepdims = _args.check_bool("keepdims", keepdims)
    validate = _args.check_bool("validate", validate)
    log_base = _args.log_of_base(base)
    p_in, q_in = p, q
    be, xp, (p, q), out_dtype = _common.prepare(p, q, names=("p", "q"))
    shape = _args.broadcast_shape(_args.shape_of(p), _args.shape_of(q))
    axes = _args.normalize_axis(axis, len(shape))
    _args.check_event_axes(shape, axes, kinds)
    if mixed:  # validate=True: each side checked in its kind, then the pair's blocks
        p, q = _common.broadcast_to(xp, p, shape), _common.broadcast_to(xp, q, shape)
        p_in = _validate(be, p, q, kinds, axes, out_dtype)  # broadcast p: same values
        return kl_divergence(
            p_in, q_in, axis=axis, inputs=kinds, base=base, reduction=reduction,
            keepdims=keepdims,
        )  # fmt: skip
    if inputs == "logits" or validate:
        # Normalising (and checking sums) is over the *broadcast* event axes.
        p, q = _common.broadcast_to(xp, p, shape), _common.broadcast_to(xp, q, shape)
    if validate:
        p = _validate(be, p, q, inputs, axes, out_dtype)

    options = KLOptions(inputs, axes, keepdims, reduction, log_base, False)
    with be.quiet():  # log(0) = -inf and NaN are defined results here
        out = be.jit(_kl, be, options)(p, q)
    if fast_paths_enabled():
        _dispatch.register_quick(be, p)  # the next default call may go the quick way
    return _common.finish(xp, out, out_dtype)


def _densities_call(
    p: Any, q: Any, dx: Any, x: Any, normalize: Any, temperature: Any, where: Any, kw: dict
) -> Any:
    """The deprecated ``kl_divergence(dx=, x=, normalize=)``: ``kl_from_densities``."""
    if temperature is not None or where is not None:
        raise ValueError(
            "temperature= and where= apply to inputs='logits' or 'log_probs' without a grid (dx, x)"
        )
    warnings.warn(
        "kl_divergence(..., dx=, x=, normalize=) is deprecated: use "
        "kl_backends.kl_from_densities(p, q, dx=..., x=..., normalize=...) (same values)",
        DeprecationWarning,
        stacklevel=3,
    )
    return _densities.kl_from_densities(p, q, dx=dx, x=x, normalize=normalize, **kw)


def _kl(be: Any, options: KLOptions, p: Any, q: Any) -> Any:
    """The math, on inputs already promoted (and broadcast for logits)."""
    xp = be.xp
    inputs, axes, keepdims = options.inputs, options.axes, options.keepdims
    out = _fast_sum(be, p, q, inputs, axes)
    if out is not None:
        out = xp.expand_dims(out, axis=axes[0]) if keepdims else out
    elif inputs == "probs":
        out = _common.kl_sum(be, p, q, axes, keepdims)
    else:
        if inputs == "logits":
            p, q = _common.log_softmax(xp, p, axes), _common.log_softmax(xp, q, axes)
        terms = _common.log_probs_terms(be, p, q)
        out = xp.sum(terms, axis=axes, keepdims=keepdims)
    return _common.reduce_in_base(xp, out, options.reduction, keepdims, options.log_base)


def _fast_sum(be: Any, p: Any, q: Any, inputs: str, axes: tuple[int, ...]) -> Any | None:
    """The per-distribution sums from the backend's fast kernel, where one applies."""
    if inputs != "probs" or not fast_paths_enabled():
        return None
    shape = _args.shape_of(p)
    if axes != (len(shape) - 1,) or _args.shape_of(q) != shape or None in shape:
        return None
    if p.dtype != q.dtype:  # (float16/bfloat16 arrive here already in float32)
        return None
    return be.kl_last_axis(p, q, _exact_sums)


def _exact_sums(be: Any, p: Any, q: Any) -> Any:
    """The generic code's sums over the last axis, for the rows a fast kernel hands back."""
    with be.quiet():
        return _common.kl_sum(be, p, q, -1, False)


def _validate(
    be: Any, p: Any, q: Any, inputs: str | tuple[str, str], axes: tuple[int, ...], dtype: Any
) -> Any:
    """``p``, after raising ``ValueError`` for inputs that are not distributions of
    ``inputs`` kind.

    ``inputs``: one kind for both, or ``(of p, of q)``.

    Reads values: only called with ``validate=True``.  The tolerance on the
    sums is ``sqrt(eps)`` of the inputs' dtype (before any upcast).  Where the
    values cannot be read the ``ValueError`` says so; under
    ``torch.compile(fullgraph=True)`` it is raised when the compiled code runs
    (``be.raise_when_run``), so ``p`` comes back depending on that.
    """
    for name, x in (("p", p), ("q", q)):
        why = be.values_unavailable(x)
        if why is not None:
            return be.raise_when_run(
                ValueError(
                    f"validate=True needs the values of {name}, but {why}. "
                    "Validate outside the traced or lazy computation, or pass validate=False."
                ),
                p,
            )
    xp = be.xp
    tol = math.sqrt(float(xp.finfo(dtype).eps))
    kinds = (inputs, inputs) if isinstance(inputs, str) else inputs
    for name, x, inputs in (("p", be.detach(p), kinds[0]), ("q", be.detach(q), kinds[1])):
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
    return p
