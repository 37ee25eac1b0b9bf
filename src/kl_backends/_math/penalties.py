"""Per-token KL penalties of reinforcement learning: k1, k2 and k3 from two log-probabilities.

Written once against the array API; the only hook asked of the backend is
``stop_gradient`` (for the straight-through gradient and the clamped weights).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

from kl_backends._lib import args as _args
from kl_backends._math import common as _common

__all__ = ["kl_penalty"]

Estimator = Literal["k1", "k2", "k3"]
ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
GRADIENTS: tuple[str, ...] = ("estimator", "k2")

#: 1/n! for n = 2, 3, ...: the series of e^t - 1 - t for |t| < 1; by the dtype's bits, the
#: terms n = 2..18 (the first left out is below 2/19! = 1.6e-17 relative) or n = 2..10
#: (2/11! = 5e-8, below float32's half ulp).
_SERIES = tuple(1.0 / math.factorial(n) for n in range(2, 19))
_TERMS = {64: 17, 32: 9, 16: 9}


def kl_penalty(
    log_probs: Any,
    ref_log_probs: Any,
    /,
    *,
    estimator: Estimator = "k3",
    gradient: Literal["estimator", "k2"] = "estimator",
    clamp_log_ratio: Any = None,
    clamp: Any = None,
    weights: Any = None,
    where: Any = None,
    reduction: _args.Reduction = "none",
    base: float | None = None,
) -> Any:
    r"""Per-token estimates of KL(pi || pi_ref) from the log-probabilities of sampled tokens.

    With :math:`r = \log \pi(x) - \log \pi_{\mathrm{ref}}(x)` for a token
    :math:`x` drawn from the policy :math:`\pi`:

    .. math::

        k_1 = r, \qquad k_2 = \tfrac{1}{2} r^2, \qquad
        k_3 = e^{-r} - 1 + r = \frac{\pi_{\mathrm{ref}}(x)}{\pi(x)} - 1
              - \log \frac{\pi_{\mathrm{ref}}(x)}{\pi(x)}

    ``k1`` and ``k3`` are unbiased, :math:`E_\pi[k] = \mathrm{KL}(\pi \,\|\,
    \pi_{\mathrm{ref}})`; ``k3`` is never negative and has the lower variance
    where :math:`\pi \approx \pi_{\mathrm{ref}}`; ``k2`` is biased (its mean
    is :math:`E_\pi[r^2] / 2`, close to KL only for close distributions) but
    has the right expected gradient (see Notes).  These are the penalties of
    PPO and GRPO (J. Schulman, "Approximating KL divergence", 2020).

    Parameters
    ----------
    log_probs : array, shape ``[...]``
        The policy's log-probabilities of the sampled tokens.  Arrays of
        NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library.
    ref_log_probs : array, shape broadcastable with ``log_probs``
        The reference model's log-probabilities of the same tokens, from the
        same library and device.
    estimator : {"k1", "k2", "k3"}, default "k3"
        The per-token value.
    gradient : {"estimator", "k2"}, default "estimator"
        ``"estimator"``: the gradient of the value by autodiff.  ``"k2"``:
        the value of ``estimator`` with the gradient of ``k2``
        (straight-through: verl's ``"k3+"`` and ``"low_var_kl+"``).
    clamp_log_ratio : float or (float, float), optional
        Clamp ``r`` to ``[lo, hi]`` before the estimator (a number ``c > 0``:
        ``[-c, c]``; ``None`` in a pair: no bound on that side).  Where it
        acts, the value is that of the bound and its gradient 0.
        Default: no clamp.
    clamp : float or (float, float), optional
        Clamp each token's value (after ``weights`` and ``base``) to
        ``[lo, hi]``, as ``clamp_log_ratio``.  Default: no clamp.
    weights : array, shape broadcastable to the tokens' shape, optional
        Importance weights multiplying each token's value, e.g.
        :math:`\pi(x) / \pi_{\mathrm{old}}(x)` for tokens drawn from an
        older policy (DeepSeek-V3.2's KL term).  Differentiated as given
        (see Notes), except where ``clamp_log_ratio`` acts and with
        ``gradient="k2"``.
    where : bool array, shape broadcastable to the tokens' shape, optional
        The tokens to count: the others give 0 (whatever their inputs,
        ``-inf`` and NaN included, with a 0 gradient) and are left out of
        ``"mean"``.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per token; ``"sum"``; ``"mean"``: the sum over
        the number of tokens counted (NaN when none is).
    base : float, optional
        Logarithm base of the result: ``None`` gives nats, ``2`` bits.

    Returns
    -------
    array
        The per-token values (the broadcast shape of the inputs), or their
        sum or mean (0-d), in the inputs' floating dtype (float16 and
        bfloat16 are computed in float32).

    Raises
    ------
    TypeError
        Unsupported or mixed array types, complex or boolean log-probabilities,
        a ``where`` that is not boolean.
    ValueError
        An unknown ``estimator``, ``gradient`` or ``reduction``; a bad
        ``clamp_log_ratio``, ``clamp`` or ``base``; shapes that do not
        broadcast, or ``weights`` or ``where`` that would enlarge the tokens'
        shape.

    See Also
    --------
    kl_divergence : The exact KL, from the whole distributions.
    kl_backends.distributions.monte_carlo_kl : Monte Carlo KL of distribution objects.

    Notes
    -----
    **Accuracy.**  ``k3`` is computed as its power series for :math:`|r| < 1`
    and as ``expm1(-r) + r`` elsewhere: accurate to a few ulps for every
    ``r``, also where :math:`e^{-r} - 1 + r` written out loses every digit
    (:math:`|r| < 10^{-4}` in float32).  Where :math:`-r` exceeds the log of
    the largest float (``r < -709.78`` in float64, ``r < -88.72`` in
    float32) the value is ``+inf``, its true value rounded, with no warning:
    ``clamp_log_ratio`` keeps it finite.  ``k2`` is ``+inf`` beyond
    :math:`|r| > 1.3 \cdot 10^{154}` (float64).  NaN stays NaN;
    ``log_probs = -inf`` gives ``r = -inf`` (``k3 = +inf``).

    **Gradients** with respect to ``log_probs`` (those with respect to
    ``ref_log_probs`` are their negatives): ``k1``: 1; ``k2``: :math:`r`;
    ``k3``: :math:`1 - e^{-r}`; ``gradient="k2"``: :math:`r`, whatever the
    estimator; 0 where a clamp acts.  For a policy with parameters
    :math:`\theta`, the gradient of
    :math:`\mathrm{KL} = E_{\pi_\theta}[k(x)]` has two parts,
    :math:`E_\pi[\nabla_\theta k(x)]` and the score-function term
    :math:`E_\pi[k(x) \nabla_\theta \log \pi_\theta(x)]` from the sampling
    distribution, which the gradient of a sampled token's value does not
    contain.  So :math:`E_\pi[\nabla k_1] = E_\pi[\nabla \log \pi] = 0`,
    :math:`E_\pi[\nabla k_3] = \nabla_\theta \mathrm{KL}(\pi_{\mathrm{ref}}
    \,\|\, \pi_\theta)`, the forward KL, and only
    :math:`E_\pi[\nabla k_2] = E_\pi[r \nabla \log \pi] = \nabla_\theta
    \mathrm{KL}(\pi_\theta \,\|\, \pi_{\mathrm{ref}})`: hence
    ``gradient="k2"``.

    **Weights** multiply the value and are differentiated as given: with
    :math:`w = \pi_\theta / \pi_{\mathrm{old}}` carrying its gradient (or
    :math:`w = \exp(\log \pi - \mathrm{stop\_gradient}(\log \pi))`, whose
    value is 1, on-policy), :math:`E_{\pi_{\mathrm{old}}}[\nabla (w k)]` is
    the exact :math:`\nabla_\theta \mathrm{KL}` for ``k1`` and ``k3``: the
    weight's gradient is the score-function term (NeMo-RL's on-policy KL
    approximation).  Stop its gradient yourself to weight the pathwise
    gradient only.  Where ``clamp_log_ratio`` acts the weight's gradient is
    stopped too (as NeMo-RL's), so that a clamped token sends no gradient;
    with ``gradient="k2"`` the weights scale the gradient :math:`w r`
    without being differentiated (that gradient already is KL's).

    The order is: ``r``, ``clamp_log_ratio``, the estimator, ``weights``,
    ``base``, ``clamp``, ``where``, ``reduction``.  The peers' defaults:
    verl clamps ``k3`` (only) to ``r`` in ``[-20, 20]`` and the value in
    ``[-10, 10]``; NeMo-RL clamps every estimator the same way (after its
    weights); OpenRLHF clamps every value to ``[-10, 10]`` in float32; TRL's
    GRPO uses ``k3`` unclamped (``+inf`` for ``r < -88.7`` in float32).
    Here both clamps are off unless asked for: ``clamp_log_ratio=20,
    clamp=10`` gives verl's and NeMo-RL's ``k3``.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> lp, ref = np.log([0.5, 0.2, 0.9]), np.log([0.4, 0.4, 0.9])
    >>> np.round(klb.kl_penalty(lp, ref), 6)  # k3
    array([0.023144, 0.306853, 0.      ])
    >>> np.round(klb.kl_penalty(lp, ref, estimator="k1"), 6)
    array([ 0.223144, -0.693147,  0.      ])
    >>> round(float(klb.kl_penalty(lp, ref, where=np.array([True, True, False]),
    ...                            reduction="mean")), 6)
    0.164998
    >>> float(klb.kl_penalty(np.array(-1000.0), np.array(0.0)))  # e^1000: beyond float64
    inf
    >>> round(float(klb.kl_penalty(np.array(-1000.0), np.array(0.0), clamp_log_ratio=20)), 2)
    485165174.41
    """
    _args.check_choice("estimator", estimator, ESTIMATORS)
    _args.check_choice("gradient", gradient, GRADIENTS)
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    bounds = _check_clamp("clamp_log_ratio", clamp_log_ratio)
    out_bounds = _check_clamp("clamp", clamp)
    log_base = _args.log_of_base(base)
    names = ("log_probs", "ref_log_probs") + (() if weights is None else ("weights",))
    given = (log_probs, ref_log_probs) + (() if weights is None else (weights,))
    be, xp, arrays, out_dtype = _common.prepare(*given, names=names)
    shape = _args.broadcast_shape(
        _args.shape_of(arrays[0]), _args.shape_of(arrays[1]), ("log_probs", "ref_log_probs")
    )
    w = None if weights is None else _within(arrays[2], shape, "weights")
    mask = None if where is None else _mask(be, where, shape, arrays[0])
    options = (estimator, gradient, bounds, out_bounds, log_base, reduction)
    # Quiet: 0 / 0 = NaN is the mean of no tokens; +inf is a half-precision value beyond 65504.
    with be.quiet():
        out = _penalty(be, options, arrays[0], arrays[1], w, mask)
        return _common.finish(xp, out, out_dtype)


def _check_clamp(name: str, value: Any) -> tuple[float, float] | None:
    """``None``, or ``(lo, hi)`` with ``lo < hi`` from a number ``c > 0`` or a pair."""
    if value is None:
        return None
    expected = (
        f"{name} must be None, a number c > 0 (the interval [-c, c]) or a pair (lo, hi) "
        f"with lo < hi (None for no bound on that side); got {value!r}"
    )
    if _is_real(value):
        c = float(value)
        if not c > 0:
            raise ValueError(expected)
        return -c, c
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(expected)
    lo, hi = value
    if not all(v is None or _is_real(v) for v in (lo, hi)):
        raise ValueError(expected)
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if not lo < hi:  # NaN included
        raise ValueError(expected)
    return lo, hi


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _within(x: Any, shape: tuple[int | None, ...], name: str) -> Any:
    """``x`` if it broadcasts to ``shape`` without enlarging it, else ``ValueError``."""
    xshape = _args.shape_of(x)
    try:
        full = _args.broadcast_shape(xshape, shape, (name, "the tokens"))
    except ValueError:
        full = None
    if full != shape:
        raise ValueError(
            f"{name} must broadcast to the tokens' shape {shape} (that of log_probs and "
            f"ref_log_probs); got {name}.shape={xshape}"
        )
    return x


def _mask(be: Any, where: Any, shape: tuple[int | None, ...], like: Any) -> Any:
    """``where`` as a boolean array of the inputs' library, broadcast to ``shape``."""
    xp = be.xp
    mask = _common.where_array(be, where, like, "token", "response_mask == 1")
    mask = _within(mask, shape, "where")
    return mask if _args.shape_of(mask) == shape else xp.broadcast_to(mask, shape)


def _clip(be: Any, x: Any, bounds: tuple[float, float]) -> tuple[Any, Any]:
    """``(x clamped to bounds, where it was clamped)``: gradient 1 inside, bounds
    included (as ``torch.clamp``), 0 outside; NaN stays NaN."""
    xp = be.xp
    lo, hi = bounds
    below, above = x < lo, x > hi
    out = xp.where(below, _common.scalar(be, lo, x), x)
    out = xp.where(above, _common.scalar(be, hi, x), out)
    return out, below | above


def _k3(be: Any, r: Any) -> Any:
    """``e^t - 1 - t`` with ``t = -r``: the series for ``|t| < 1``, ``expm1(t) - t``
    up to the overflow threshold, ``+inf`` beyond it (whose gradient is ``-inf``).

    Each branch sees harmless inputs where it is not taken, so that neither
    overflows nor sends NaN into the gradient.
    """
    xp = be.xp
    t = -r
    one, zero = _common.scalar(be, 1, r), _common.scalar(be, 0, r)
    small = xp.abs(t) < 1
    over = t > math.log(float(xp.finfo(r.dtype).max))
    ts = xp.where(small, t, zero)
    terms = _SERIES[: _TERMS.get(int(xp.finfo(r.dtype).bits), 17)]
    poly = _common.scalar(be, terms[-1], r)
    for c in reversed(terms[:-1]):
        poly = c + ts * poly
    series = ts * ts * poly
    tl = xp.where(small | over, one, t)
    general = xp.expm1(tl) - tl
    huge = xp.where(over, t, one) * math.inf  # +inf with the gradient +inf of e^t - 1
    return xp.where(small, series, xp.where(over, huge, general))


def _estimate(be: Any, estimator: str, r: Any) -> Any:
    if estimator == "k1":
        return r
    if estimator == "k2":
        return r * r / 2
    return _k3(be, r)


def _penalty(be: Any, options: tuple[Any, ...], lp: Any, ref: Any, w: Any, mask: Any) -> Any:
    """The per-token values, in the order of the Notes of ``kl_penalty``, reduced.

    ``options``: estimator, gradient, the two clamps' bounds, log(base), reduction.
    """
    xp = be.xp
    estimator, gradient, bounds, out_bounds, log_base, reduction = options
    zero = _common.scalar(be, 0, lp)
    r = lp - ref
    if mask is not None:  # masked tokens: harmless inputs, no NaN in any gradient
        r = xp.where(mask, r, zero)
        w = None if w is None else xp.where(mask, w, zero)
    clamped = None
    if bounds is not None:
        r, clamped = _clip(be, r, bounds)
    value = _estimate(be, estimator, r)
    if w is not None:
        if clamped is not None:
            w = xp.where(clamped, be.stop_gradient(w), w)
        value = w * value
    if log_base is not None:
        value = value / log_base
    out_clamped = None
    if out_bounds is not None:
        value, out_clamped = _clip(be, value, out_bounds)
    if gradient == "k2":
        value = be.stop_gradient(value) + _k2_gradient(be, r, w, log_base, out_clamped)
    if mask is not None:
        value = xp.where(mask, value, zero)
    return _reduce(xp, value, mask, reduction)


def _k2_gradient(be: Any, r: Any, w: Any, log_base: float | None, out_clamped: Any) -> Any:
    """0 in value, with the gradient of ``w k2(r)`` for ``w`` held constant: ``w r dr``.

    ``r * (r - stop(r))`` never forms ``r^2`` (no overflow); non-finite ``r``
    count as 0 (``inf - inf`` would make the value NaN).
    """
    xp = be.xp
    sg = be.stop_gradient
    zero = _common.scalar(be, 0, r)
    rf = xp.where(xp.isfinite(r), r, zero)
    g = sg(rf) * (rf - sg(rf))
    if w is not None:
        g = sg(w) * g
    if log_base is not None:
        g = g / log_base
    if out_clamped is not None:
        g = xp.where(out_clamped, zero, g)
    return g


def _reduce(xp: Any, out: Any, mask: Any, reduction: str) -> Any:
    """``reduction`` of the per-token values; ``"mean"`` over the tokens ``mask`` keeps."""
    if reduction == "none" or mask is None:
        return _common.reduce(xp, out, reduction)
    if reduction == "sum":
        return xp.sum(out)
    return xp.sum(out) / xp.sum(xp.astype(mask, out.dtype))
