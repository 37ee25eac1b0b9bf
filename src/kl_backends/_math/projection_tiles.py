"""The tile math of projected logits: one ``[rows, vocabulary tile]`` piece at a time.

Written against the array API only (``be.xp``).  A *side* is one model's
logits over the vocabulary: a projection ``hidden @ weight.T + bias`` (then
``logit_scale``, ``softcap``, ``1 / temperature``) or dense logits
(``1 / temperature``).  For a block of rows (``Rows``) this module computes:

* ``tile``: the logits of vocabulary ids ``[c0, c1)``, in the working dtype
  (the matmul's operands are cast to it first: float32 for float16 and
  bfloat16, so the product is accumulated and kept in float32), with the
  derivative of the logits with respect to the pre-activation
  ``y = hidden @ weight.T + bias``; ``-inf`` beyond the side's vocabulary;
* ``lse_pass``: each row's log-sum-exp over the vocabulary, online over the
  tiles (running maximum and rescaled sum);
* ``sums_pass``: the per-row sums that make the divergence (see ``STATS``);
* ``grads_pass``: the gradients of ``sum(g * values)`` with respect to every
  side's parameters, recomputing the tiles.

The per-element formulas are those of ``kl_backends._math.logits`` (the
closed-form gradients of ``logits_blocks.backward_block``), with the row
log-sum-exps and row sums computed over the whole vocabulary beforehand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kl_backends._lib.arrays import scalar
from kl_backends._math.logits_blocks import _js_logs, _weighted

__all__ = [
    "Grads",
    "Plan",
    "Rows",
    "Side",
    "activate",
    "grads_pass",
    "lse_pass",
    "sums_pass",
    "tanh",
    "values",
]


@dataclass(frozen=True)
class Side:
    """One side's layout in the flat list of arrays handed to the custom gradient.

    ``dense``: one array of logits ``[N, vocab]``; else ``hidden [N, H]``,
    ``weight [vocab, H]`` and, with ``bias``, ``bias [vocab]``, from index
    ``start``.
    """

    dense: bool
    vocab: int
    start: int
    bias: bool = False
    scale: float | None = None
    softcap: float | None = None

    @property
    def count(self) -> int:
        return 1 if self.dense else (3 if self.bias else 2)


@dataclass(frozen=True)
class Plan:
    """Everything static about one call (hashable: the key of a compiled function).

    ``kind``: ``"kl"``, ``"ce"``, ``"js"`` (two sides) or ``"lse"`` (one side:
    the log-normaliser); ``beta`` and ``factor``: the generalised JSD's weight
    and the factor on it (``logits_blocks._js_scale``); ``rows``: ``N``;
    ``block``: rows per block; ``tiles``: the vocabulary tiles ``(c0, c1)``,
    whose ends include every side's vocabulary size; ``scalar``: the output is
    the sum over the rows (else one value per row); ``masked``: a boolean row
    mask ``[N]`` follows the sides' arrays; ``work``: the working dtype.
    """

    kind: str
    beta: float
    factor: float
    temperature: float | None
    sides: tuple[Side, ...]
    rows: int
    block: int
    tiles: tuple[tuple[int, int], ...]
    scalar: bool
    masked: bool
    work: Any

    @property
    def count(self) -> int:
        return sum(s.count for s in self.sides) + (1 if self.masked else 0)


#: The per-row sums each kind needs besides the log-sum-exps.
STATS = {"kl": 1, "ce": 1, "js": 2, "lse": 0}


def tanh(xp: Any, x: Any) -> Any:
    """``tanh(x)``: the namespace's, or from ``expm1`` (exact derivative at 0 too)."""
    fn = getattr(xp, "tanh", None)
    if fn is not None:
        return fn(x)
    neg = x < 0
    e = xp.expm1(-2 * xp.where(neg, -x, x))
    t = -e / (2 + e)
    return xp.where(neg, -t, t)


def activate(xp: Any, side: Side, temperature: float | None, y: Any) -> tuple[Any, Any]:
    """Logits from the pre-activation ``y``, and ``dz/dy`` (a number, or an array with
    ``softcap``): ``z = c tanh(s y / c) / T``, or ``s y / T`` without a cap."""
    s = 1.0 if side.scale is None else side.scale
    t = 1.0 if temperature is None else temperature
    if side.softcap is None:
        mult = s / t
        return (y if mult == 1.0 else y * mult), mult
    c = side.softcap
    th = tanh(xp, y * (s / c))
    return th * (c / t), (1 - th * th) * (s / t)


class Rows:
    """One block of rows of every side, ready for the tiles (working dtype, rows where the
    mask is False set to 0, dense logits tempered); caches the tiles when there is one."""

    def __init__(self, be: Any, plan: Plan, arrays: Any, r0: int, r1: int) -> None:
        xp = be.xp
        self.be, self.plan = be, plan
        mask = arrays[-1][r0:r1] if plan.masked else None
        self.mask = mask
        self.data: list[tuple[Any, Any, Any]] = []
        for side in plan.sides:
            x = xp.astype(arrays[side.start][r0:r1, ...], plan.work, copy=False)
            if mask is not None:
                x = xp.where(xp.expand_dims(mask, axis=-1), x, scalar(xp, 0, x, be.device(x)))
            if side.dense:
                if plan.temperature is not None:
                    x = x / plan.temperature
                self.data.append((x, None, None))
            else:
                bias = arrays[side.start + 2] if side.bias else None
                self.data.append((x, arrays[side.start + 1], bias))
        self.n = r1 - r0
        self._cache: dict[tuple[int, int], Any] | None = {} if len(plan.tiles) == 1 else None

    def tile(self, k: int, t: int) -> tuple[Any, Any]:
        """Side ``k``'s logits over tile ``t`` (``[B, c1 - c0]``) and ``dz/dy``."""
        cache = self._cache
        if cache is not None and (k, t) in cache:
            return cache[(k, t)]
        xp, plan, side = self.be.xp, self.plan, self.plan.sides[k]
        c0, c1 = plan.tiles[t]
        x, w, b = self.data[k]
        if c0 >= side.vocab:  # ids the side does not have: impossible events
            ninf = scalar(xp, -math.inf, x, self.be.device(x))
            return xp.broadcast_to(ninf, (self.n, c1 - c0)), None
        if side.dense:
            out = (x[:, c0:c1], None)
        else:
            wt = xp.astype(w[c0:c1, ...], plan.work, copy=False)
            y = x @ xp.matrix_transpose(wt)
            if b is not None:
                y = y + xp.astype(b[c0:c1], plan.work, copy=False)
            out = activate(xp, side, plan.temperature, y)
        if cache is not None:
            cache[(k, t)] = out
        return out


def lse_pass(rows: Rows, k: int) -> Any:
    """Side ``k``'s row log-sum-exps ``[B, 1]``, online over its tiles.

    A row of ``-inf`` gives ``-inf`` (its log-probabilities are then NaN, as
    the dense path's); ``+inf`` or NaN logits give NaN downstream.
    """
    xp, plan = rows.be.xp, rows.plan
    m = s = safe = None
    for t, (c0, _) in enumerate(plan.tiles):
        if c0 >= plan.sides[k].vocab:
            break
        z, _ = rows.tile(k, t)
        mt = xp.max(z, axis=-1, keepdims=True)
        mn = mt if m is None else xp.maximum(m, mt)
        safe = xp.where(xp.isfinite(mn), mn, xp.zeros_like(mn))
        st = xp.sum(xp.exp(z - safe), axis=-1, keepdims=True)
        s = st if s is None else s * xp.exp(m - safe) + st
        m = mn
    return safe + xp.log(s)


def _log_probs(rows: Rows, t: int, lse: list[Any]) -> tuple[Any, Any, Any]:
    """``lp``, ``lq`` (the sides' log-probabilities over tile ``t``) and ``p = exp(lp)``;
    kept for the gradient pass where there is one tile (the logits are then dropped)."""
    cache = rows._cache
    if cache is not None and (-1, t) in cache:
        return cache[(-1, t)]  # type: ignore[return-value]
    logs = []
    for k in range(len(lse)):
        z, d = rows.tile(k, t)
        logs.append(z - lse[k])
        if cache is not None:
            cache[(k, t)] = (None, d)
    out = (logs[0], logs[1], rows.be.xp.exp(logs[0]))
    if cache is not None:
        cache[(-1, t)] = out  # type: ignore[assignment]
    return out


def _terms(be: Any, lp: Any, lq: Any, x: Any) -> Any:
    """``x`` (``p (lp - lq)`` or ``-p lq``) where ``p > 0``: 0 where ``lp == -inf``,
    ``+inf`` where ``lq == -inf`` (as ``common.log_probs_terms``; no autodiff here)."""
    xp = be.xp
    inf = scalar(xp, math.inf, lp, be.device(lp))
    x = xp.where(lq == -math.inf, inf, x)
    return xp.where(lp == -math.inf, xp.zeros_like(inf), x)


def sums_pass(rows: Rows, lse: list[Any]) -> list[Any]:
    """The row sums ``[B, 1]`` of ``STATS``: KL ``sum p (lp - lq)``; cross-entropy
    ``-sum p lq``; JSD ``sum p w`` and ``sum q u`` (``logits_blocks._js_logs``)."""
    be, plan = rows.be, rows.plan
    xp = be.xp
    sums = []  # type: ignore[var-annotated]
    for t in range(len(plan.tiles)):
        lp, lq, p = _log_probs(rows, t, lse)
        if plan.kind == "kl":
            parts = [_terms(be, lp, lq, p * (lp - lq))]
        elif plan.kind == "ce":
            parts = [_terms(be, lp, lq, -(p * lq))]
        else:
            w, u = _js_logs(be, lp, lq, plan.beta)
            parts = [_weighted(be, lp, w), _weighted(be, lq, u)]
        part_sums = [xp.sum(x, axis=-1, keepdims=True) for x in parts]
        sums = part_sums if not sums else [a + b for a, b in zip(sums, part_sums)]
    return sums


def values(plan: Plan, lse: list[Any], sums: list[Any]) -> Any:
    """Per-row values ``[B, 1]`` from the row log-sum-exps and sums."""
    if plan.kind == "lse":
        return lse[0]
    if plan.kind in ("kl", "ce"):
        return sums[0]
    return -(sums[0] / (1 - plan.beta) + sums[1] / plan.beta) * plan.factor


def _grad_logits(
    rows: Rows, t: int, lse: list[Any], sums: list[Any], g: Any, need: tuple[bool, ...]
) -> list[Any]:
    """Gradients of ``sum(g * values)`` wrt each side's (tempered) logits over tile ``t``."""
    be, plan = rows.be, rows.plan
    xp = be.xp
    if plan.kind == "lse":
        z = rows.tile(0, t)[0]
        return [xp.exp(z - lse[0]) * g]
    lp, lq, p = _log_probs(rows, t, lse)
    ga = gb = None
    if plan.kind in ("kl", "ce"):
        if need[1]:
            gb = (xp.exp(lq) - p) * g
        if need[0]:
            # KL: p (lp - lq - KL); cross-entropy: -p (lq + H); 0 where p == 0
            v = sums[0]
            inner = (lp - lq) - v if plan.kind == "kl" else -(lq + v)
            ga = xp.where(lp == -math.inf, xp.zeros_like(p), p * inner) * g
            # A row whose value is +inf: NaN (as logits_blocks.backward_block).
            ga = xp.where(v == math.inf, scalar(xp, math.nan, ga, be.device(ga)), ga)
        return [ga, gb]
    w, u = _js_logs(be, lp, lq, plan.beta)
    if need[1]:
        gb = -(_weighted(be, lq, u) - xp.exp(lq) * sums[1]) * (g * (plan.factor / plan.beta))
    if need[0]:
        ga = -(_weighted(be, lp, w) - p * sums[0]) * (g * (plan.factor / (1 - plan.beta)))
    return [ga, gb]


@dataclass
class Grads:
    """Gradient pieces: per array index, row pieces (hidden, dense logits) or per-tile
    sums over the row blocks (weight, bias)."""

    need: tuple[bool, ...]
    rows: dict[int, list[Any]] = field(default_factory=dict)
    tiles: dict[int, dict[int, Any]] = field(default_factory=dict)

    def add_tile(self, i: int, t: int, x: Any) -> None:
        """Sum ``x`` into tile ``t`` of input ``i`` (in place where the library allows)."""
        acc = self.tiles.setdefault(i, {})
        cur = acc.get(t)
        if cur is None:
            acc[t] = x
        else:
            cur += x  # (a new array, rebound, in JAX and TensorFlow)
            acc[t] = cur


def grads_pass(rows: Rows, lse: list[Any], sums: list[Any], g: Any, out: Grads) -> None:
    """Add the gradients of this block's ``sum(g * values)`` (``g``: ``[B, 1]``) to ``out``."""
    xp, plan, need = rows.be.xp, rows.plan, out.need
    side_need = [any(need[s.start : s.start + s.count]) for s in plan.sides]
    hidden = {}  # type: ignore[var-annotated]
    dense = {}  # type: ignore[var-annotated]
    for t, (c0, _) in enumerate(plan.tiles):
        gz = _grad_logits(rows, t, lse, sums, g, (*side_need, False))
        for k, side in enumerate(plan.sides):
            if not side_need[k] or c0 >= side.vocab:
                continue
            i = side.start
            if side.dense:
                gd = gz[k] if plan.temperature is None else gz[k] / plan.temperature
                dense.setdefault(i, []).append(gd)
                continue
            x, w, _ = rows.data[k]
            d = rows.tile(k, t)[1]
            gy = gz[k] if isinstance(d, float) and d == 1.0 else gz[k] * d
            if need[i]:
                wt = xp.astype(w[c0 : plan.tiles[t][1], ...], plan.work, copy=False)
                gh = gy @ wt
                hidden[i] = gh if i not in hidden else hidden[i] + gh
            if need[i + 1]:
                out.add_tile(i + 1, t, xp.matrix_transpose(gy) @ x)
            if side.bias and need[i + 2]:
                out.add_tile(i + 2, t, xp.sum(gy, axis=0))
    for i, gh in hidden.items():
        out.rows.setdefault(i, []).append(gh)
    for i, pieces in dense.items():
        out.rows.setdefault(i, []).append(
            pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=-1)
        )
