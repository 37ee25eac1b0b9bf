"""Jensen-Shannon divergence, and the generalised (skew) JSD of on-policy distillation."""

from __future__ import annotations

from typing import Any

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math import logits as _logits
from kl_backends._math import sources as _sources

__all__ = ["js_divergence"]


def js_divergence(
    p: Any,
    q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: _args.InputsPair = "probs",
    beta: float | None = None,
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
    temperature: float | None = None,
    where: Any = None,
) -> Any:
    r"""Jensen-Shannon divergence of categorical distributions, and its skew (GKD) form.

    .. math::

        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m)
        + \tfrac12 \mathrm{KL}(q \,\|\, m), \qquad m = \tfrac12 (p + q)

    summed over the event axis (or axes) ``axis``, with one result per
    distribution along the other (batch) axes.  Symmetric and finite: at
    most ``log 2`` (1 bit with ``base=2``), reached by disjoint supports.
    Its square root is ``scipy.spatial.distance.jensenshannon``.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes ``[..., n]``
        The two distributions, as given by ``inputs``.  Arrays of NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library, both
        from the same library and on the same device; Python numbers and
        lists take the other argument's library.
    axis : int or tuple of int, default -1
        The event axes, summed over.  Negative values count from the end of
        the broadcast shape.
    inputs : {"probs", "log_probs", "logits"} or a pair of them, default "probs"
        ``"probs"``: probabilities.  ``"log_probs"``: normalised
        log-probabilities.  ``"logits"``: unnormalised log-probabilities,
        normalised here with a stable log-softmax over ``axis`` (computed in
        row blocks with a custom gradient).  A single value applies to both;
        a pair ``(of p, of q)`` gives each its own kind.
    beta : float or 0-d array in [0, 1], optional
        The generalised JSD :math:`J_\beta` of on-policy distillation (see
        Notes).  ``None`` (default): the ordinary JSD.  A 0-d array of the
        inputs' library is checked where its value can be read (``ValueError``
        outside [0, 1]) and traced under ``jax.jit``, ``tf.function`` and
        ``torch.compile``; its gradient is exact for ``0 < beta < 1`` and
        NaN at the ends.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per distribution (the broadcast shape without
        ``axis``); ``"sum"``: their sum; ``"mean"``: their mean (over the
        distributions included by ``where``).
    keepdims : bool, default False
        Keep the reduced axes with size 1 (a bool: ``TypeError`` otherwise).
    temperature : float or 0-d array, optional
        The logits sides only: divided by ``temperature`` before the softmax
        (a ``ValueError`` if no side is logits, or unless finite and
        positive).
    where : bool array, broadcastable to the batch shape, optional
        One flag per distribution.  Excluded distributions give 0 with
        ``reduction="none"``, are left out of ``"sum"`` and ``"mean"``, get
        zero gradient and pass no NaN or inf on.

    Returns
    -------
    array
        The divergence in nats (or in ``base``), with the inputs' floating
        dtype (integers promote to the library's default float).

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes,
        a ``keepdims`` that is not a bool.
    ValueError
        Shapes that do not broadcast, a bad ``axis``, ``inputs``, ``beta``,
        ``base``, ``reduction`` or ``temperature``.

    See Also
    --------
    kl_divergence : KL(p || q), the asymmetric divergence.
    cross_entropy : H(p, q) = H(p) + KL(p || q).

    Notes
    -----
    With ``beta`` the generalised JSD of on-policy distillation (GKD),
    scaled so that it is continuous in ``beta``:

    .. math::

        J_\beta(p, q) = \frac{\beta\,\mathrm{KL}(p \| m) + (1 - \beta)\,
        \mathrm{KL}(q \| m)}{\beta (1 - \beta)}, \qquad m = \beta p + (1 - \beta) q,

    with its limits ``J_0 = KL(p || q)`` (forward KL, ``p`` the teacher) and
    ``J_1 = KL(q || p)`` (reverse KL); ``J_{1/2}`` is 4 times the JSD.
    TRL's ``GKDTrainer.generalized_jsd_loss(student, teacher, beta=b)`` and
    Liger-Kernel's ``LigerJSD(beta=b)(student_log_probs, teacher_log_probs)``
    both equal ``b (1 - b) J_b(teacher, student)`` for ``0 < b < 1`` (a loss
    that tends to 0 at both ends) and ``J_b`` itself at ``b = 0`` and
    ``b = 1``.

    Conventions: ``0 log 0 = 0`` (an event with ``p == q == 0`` contributes
    nothing); NaN stays in its own distribution.  Where ``p`` and ``q`` are
    nearly equal (within about 4%) a term is
    ``(p + q) / 4 * (v^2 + v^4/6 + v^6/15 + v^8/28)`` with
    ``v = (p - q) / (p + q)``, which keeps its relative accuracy where the
    midpoint form cancels.  Where a probability is 0, the gradient of its
    own ``x log(x / m)`` term with respect to it is 0 (the exact derivative
    is ``-inf``); the other term's dependence through ``m`` is exact.

    Examples
    --------
    >>> import kl_backends as klb
    >>> round(float(klb.js_divergence([1.0, 0.0], [0.5, 0.5])), 6)
    0.215762
    >>> round(float(klb.js_divergence([1.0, 0.0], [0.0, 1.0], base=2)), 6)  # disjoint: 1 bit
    1.0
    >>> p, q = [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]
    >>> round(float(klb.js_divergence(p, q, beta=0.0)), 6)  # J_0: the forward KL
    0.396058
    >>> round(float(klb.kl_divergence(p, q)), 6)
    0.396058
    """
    if _sources.involved(p, q):  # a projection or a top-k teacher (``_math.sources``)
        return _sources.divergence(
            "js", p, q, axis=axis, inputs=inputs, base=base, reduction=reduction,
            keepdims=keepdims, temperature=temperature, where=where, beta=beta,
        )  # fmt: skip
    kinds = _args.check_inputs_pair(inputs)  # of p, of q
    if kinds != ("probs", "probs") or beta is not None or where is not None:
        # Probabilities (with beta or where) go as the pair ("probs", "probs") to the
        # generic blocks, which keep gradients finite where a probability is 0.
        one = kinds[0] == kinds[1] and kinds[0] != "probs"
        return _logits.rows_divergence(
            "js", p, q, axis=axis, inputs=kinds[0] if one else kinds, base=base,
            reduction=reduction, keepdims=keepdims, temperature=temperature, where=where,
            beta=beta,
        )  # fmt: skip
    be, xp, (a, b), dtype, axes = _common.family_setup(
        (p, q), ("p", "q"), axis, "probs", ("probs",), reduction
    )
    with be.quiet():
        m = 0.5 * (a + b)
        far = 0.5 * (_common.probs_terms(be, a, m) + _common.probs_terms(be, b, m))
        terms = _common.js_near(be, a, b, far)
        return _common.family_end(xp, terms, axes, keepdims, reduction, base, dtype)
