"""Jensen-Shannon divergence, and the generalised (skew) JSD of on-policy distillation."""

from __future__ import annotations

from typing import Any

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math import logits as _logits

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
    r"""Jensen-Shannon divergence: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2.

    Symmetric, finite (at most log 2: 1 bit with ``base=2``, reached by
    disjoint supports), and the square of ``scipy.spatial.distance.jensenshannon``.
    Where p and q are nearly equal (within about 4%) a term is
    ``(p + q) / 4 * (v^2 + v^4/6 + v^6/15 + v^8/28)`` with
    ``v = (p - q) / (p + q)`` (the series of
    ``((1 + v) log(1 + v) + (1 - v) log(1 - v)) / 4``), which keeps its
    relative accuracy where the midpoint form cancels.

    ``beta`` in [0, 1] gives the generalised JSD of on-policy distillation
    (GKD), scaled so that it is continuous in ``beta``:

    .. math::

        J_\beta(p, q) = \frac{\beta\,\mathrm{KL}(p \| m) + (1 - \beta)\,
        \mathrm{KL}(q \| m)}{\beta (1 - \beta)}, \qquad m = \beta p + (1 - \beta) q,

    with its limits ``J_0 = KL(p || q)`` (forward KL, p the teacher) and
    ``J_1 = KL(q || p)`` (reverse KL).  ``J_{1/2}`` is 4 times the JSD.
    TRL's ``GKDTrainer.generalized_jsd_loss(student, teacher, beta=b)`` and
    Liger-Kernel's ``LigerJSD(beta=b)(student_log_probs, teacher_log_probs)``
    both equal ``b (1 - b) J_b(teacher, student)`` for ``0 < b < 1`` (a loss
    that tends to 0 at both ends) and ``J_b`` itself at ``b = 0`` and ``b = 1``.
    With ``beta=None`` (default) the ordinary JSD above.  ``beta`` may be a 0-d
    array of the inputs' library, checked as ``temperature`` (see
    ``kl_divergence``); its gradient is exact for ``0 < beta < 1`` and NaN at
    the ends.

    ``inputs`` ("probs", "log_probs", "logits", or a pair ``(of p, of q)``;
    a single value applies to both), ``temperature`` (the logits sides only)
    and ``where`` (a row mask) are as in ``kl_divergence``; logits are
    computed in row blocks with a custom gradient.  Where a probability is
    0, the gradient of its own ``x log(x / m)`` term wrt it is 0 (the exact
    derivative is ``-inf``); the other term's dependence through ``m`` is
    exact.

    Examples
    --------
    >>> from kl_backends import js_divergence
    >>> print(f"{js_divergence([1.0, 0.0], [0.5, 0.5]):.10f}")
    0.2157615543
    >>> print(f"{js_divergence([1.0, 0.0], [0.0, 1.0], base=2):.1f}")
    1.0
    """
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
