"""A cached top-k teacher: its ids and log-probabilities, and the exact (K+1)-bucket divergences.

``TopKLogProbs(ids, log_probs)`` is accepted by ``kl_divergence``,
``js_divergence`` and ``cross_entropy`` (``inputs="logits"``) as one side;
the other side is the student, an array of logits ``[..., V]`` or a
projection (``kl_backends.ProjectedLogits``).  ``kl_backends._math.sources``
routes such calls to ``divergence`` here.  The bucket math is in
``topk_buckets``.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.arrays import finish, is_array
from kl_backends._math import common as _common
from kl_backends._math import logits as _logits
from kl_backends._math import logits_blocks as _blocks
from kl_backends._math import topk_buckets as _buckets
from kl_backends._math.logits_args import check_beta, check_temperature, scalar_argument

__all__ = ["TopKLogProbs", "divergence"]


class TopKLogProbs:
    r"""A teacher known by its top K tokens: their ids and log-probabilities.

    Pass it as one side of ``kl_divergence``, ``js_divergence`` or
    ``cross_entropy`` with ``inputs="logits"``, the student's logits (an
    array ``[..., V]``) or a ``ProjectedLogits`` as the other side.  The
    divergence is the exact one between the two distributions over K+1
    buckets: the K tokens, and one tail bucket holding the rest of each side's
    mass.

    Parameters
    ----------
    ids : integer array, shape ``[..., K]``
        The token ids, in ``[0, V)``; entries equal to ``padding_id`` hold
        no token.
    log_probs : real floating array, shape ``[..., K]``
        The teacher's log-probabilities of those tokens (over its whole
        vocabulary, at the temperature it was sampled with when saved:
        ``temperature=`` of the divergence applies to the student only).
        ``-inf`` is a token of probability 0.
    padding_id : int, optional
        An id marking unused entries (rows with fewer than K tokens).

    Raises
    ------
    TypeError
        ``ids`` not of an integer dtype, ``log_probs`` not of a real floating
        dtype, arrays of two libraries, ``padding_id`` not an int.
    ValueError
        ``ids`` and ``log_probs`` of different shapes, 0-d, or with an
        unknown K.

    See Also
    --------
    kl_backends.kl_divergence : ``kl_divergence(teacher, student_logits, inputs="logits")``.
    kl_backends.js_divergence : The generalised JSD over the same buckets.

    Notes
    -----
    With ``p_k`` the teacher's probabilities of its (distinct, unpadded) ids,
    ``q_k`` the student's (softmax of its tempered logits), the buckets are

    .. math::

        P = (p_1, \dots, p_K, 1 - \textstyle\sum_k p_k), \qquad
        Q = (q_1, \dots, q_K, 1 - \textstyle\sum_k q_k),

    and ``kl_divergence(teacher, student)`` is ``KL(P || Q)`` (forward),
    ``kl_divergence(student, teacher)`` is ``KL(Q || P)`` (reverse),
    ``js_divergence`` and ``cross_entropy`` likewise.  Both are probability
    distributions, so every value is exact and non-negative with no clamp,
    and (data processing) at most the KL of the full distributions.  With
    ``K = V`` the tail is empty and the value is the dense one.

    * Tails: the teacher's is ``log1p(-sum p_k)`` (through
      ``log(-expm1(logsumexp(log p_k)))`` when the top K hold most of the
      mass); the student's, from an array of logits, is the log-sum-exp of
      the logits outside the K ids (exact for any tail mass, one comparison
      per id and logit); from a projection it is
      ``lse_all + log1p(-sum q_k)``, accurate where the tail mass is well
      above the rounding of the ``q_k`` (about ``K * eps``), and 0 where it
      rounds to nothing.  An empty tail on both sides contributes 0; an empty
      student tail against a teacher tail > 0 gives ``+inf`` (forward KL), as
      ``scipy.special.rel_entr``.
    * A teacher tail within ``16 * eps`` of the working dtype (the rounding
      of a sum of probabilities) counts as empty and the K entries are
      renormalised, so that a full vocabulary saved in float32 gives the dense
      value.  Saved probabilities summing to more than 1 by at most
      ``sqrt(eps)`` of their dtype (in log space) are renormalised likewise;
      beyond that the row is NaN.
    * Padding: an entry whose id equals ``padding_id`` is dropped; its
      log-probability is ignored and does not count in the teacher's top-K
      mass, and the student's probability of that id (even if ``padding_id``
      is a real token) falls in the student's tail.
    * Duplicate ids in a row are merged: their teacher probabilities are
      added (``logaddexp``) into one bucket, and the student's probability of
      the id is counted once.
    * Ids outside ``[0, V)`` (other than ``padding_id``) make their row NaN:
      their values are never read on the host, so no error is raised.
    * Gradients reach the student's logits (or a projection's parameters,
      through ``take`` and ``log_normalizer``) by the framework's autodiff,
      finite at padded ids and empty tails.  Build the teacher inside a
      function compiled with ``jax.jit`` or ``tf.function`` from its arrays.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> student = np.log(np.array([[0.5, 0.3, 0.1, 0.1]]))
    >>> teacher = klb.TopKLogProbs(np.array([[0, 2]]), np.log(np.array([[0.6, 0.2]])))
    >>> np.round(klb.kl_divergence(teacher, student, inputs="logits"), 6)  # forward
    array([0.109393])
    >>> np.round(klb.kl_divergence(student, teacher, inputs="logits"), 6)  # reverse
    array([0.116783])
    """

    _kl_source = "topk"

    def __init__(self, ids: Any, log_probs: Any, *, padding_id: int | None = None) -> None:
        if padding_id is not None and (
            isinstance(padding_id, bool) or not isinstance(padding_id, int)
        ):
            raise TypeError(f"padding_id must be an int or None; got {padding_id!r}")
        be, (ids, log_probs) = _dispatch.resolve(ids, log_probs, names=("ids", "log_probs"))
        xp = be.xp
        if not xp.isdtype(ids.dtype, "integral"):
            raise TypeError(f"ids must be an array of an integer dtype; got dtype {ids.dtype}")
        if not xp.isdtype(log_probs.dtype, "real floating"):
            raise TypeError(
                f"log_probs must be an array of a real floating dtype; got dtype {log_probs.dtype}"
            )
        shape = _args.shape_of(ids)
        if shape != _args.shape_of(log_probs):
            raise ValueError(
                "ids and log_probs must have the same shape [..., K]; got "
                f"{shape} and {_args.shape_of(log_probs)}"
            )
        if len(shape) == 0 or shape[-1] is None:
            raise ValueError(f"ids and log_probs need a last axis of known size K; got {shape}")
        self.ids, self.log_probs, self.padding_id = ids, log_probs, padding_id
        self._backend = be

    @property
    def k(self) -> int:
        """K, the number of saved entries per row."""
        return int(self.ids.shape[-1])

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        """The shape of the rows, ``ids.shape[:-1]``."""
        return _args.shape_of(self.ids)[:-1]

    def __repr__(self) -> str:
        return (
            f"TopKLogProbs(batch_shape={self.batch_shape}, k={self.k}, "
            f"padding_id={self.padding_id!r}, library={self._backend.name})"
        )


def _check_options(kind: str, inputs: Any, reduction: Any, keepdims: Any, base: Any) -> tuple:
    if not isinstance(inputs, str) or inputs not in ("logits", "log_probs"):
        raise ValueError(
            "a top-k teacher takes the student's logits: pass inputs='logits' (or "
            f"'log_probs' for a student given as log-probabilities); got inputs={inputs!r}"
        )
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    return inputs, _args.check_bool("keepdims", keepdims), _args.log_of_base(base)


def _sides(p: Any, q: Any) -> tuple[TopKLogProbs, Any, bool]:
    """(teacher, student, teacher is the first argument)."""
    kinds = (_args.source_kind(p), _args.source_kind(q))
    if kinds == ("topk", "topk"):
        raise TypeError(
            "both sides are top-k teachers; one side must be the student's logits "
            "(an array [..., V] or a ProjectedLogits)"
        )
    return (p, q, True) if kinds[0] == "topk" else (q, p, False)


def divergence(
    kind: str,
    p: Any,
    q: Any,
    *,
    axis: Any = -1,
    inputs: Any = "logits",
    base: Any = None,
    reduction: str = "none",
    keepdims: Any = False,
    temperature: Any = None,
    where: Any = None,
    beta: Any = None,
) -> Any:
    """``kind`` ("kl", "ce", "js") between a top-k teacher and a student, over K+1 buckets.

    The entry point ``_math.sources`` calls; the arguments are those of the
    public functions (see ``TopKLogProbs``).
    """
    teacher, student, teacher_first = _sides(p, q)
    inputs, keepdims, log_base = _check_options(kind, inputs, reduction, keepdims, base)
    temperature, beta = check_temperature(temperature), check_beta(beta)
    if temperature is not None and inputs != "logits":
        raise ValueError("temperature applies to logits; got inputs='log_probs'")
    if kind == "js" and not is_array(beta) and beta in (0.0, 1.0):  # the limits: KL
        kind, teacher_first = "kl", teacher_first == (beta == 0.0)
    projection = _args.source_kind(student) == "projection"
    if projection and inputs != "logits":
        raise ValueError("a projection gives logits: pass inputs='logits'")
    be = teacher._backend
    xp = be.xp
    ids, lp = teacher.ids, teacher.log_probs
    if projection:
        batch, vocab, out_dtype = _projection_setup(be, student, teacher)
        dense, axis_pos = student, len(batch)
    else:
        be, (lp, z) = _dispatch.resolve(lp, student, names=("teacher log_probs", "student"))
        xp = be.xp
        z, axis_pos = _event_last(xp, z, axis)
        out_dtype = _out_dtype(be, lp, z)
        batch = _args.broadcast_shape(_args.shape_of(z)[:-1], teacher.batch_shape)
        vocab = z.shape[-1]
        z = _common.broadcast_to(xp, xp.astype(z, _work(xp, out_dtype), copy=False),
                                 (*batch, vocab))  # fmt: skip
        dense = None
    work = _work(xp, out_dtype)
    k = ids.shape[-1]
    tols = (16 * float(xp.finfo(work).eps), math.sqrt(float(xp.finfo(lp.dtype).eps)))
    ids = _common.broadcast_to(xp, ids, (*batch, k))
    lp = _common.broadcast_to(xp, xp.astype(lp, work, copy=False), (*batch, k))
    if is_array(temperature):
        temperature = scalar_argument(be, "temperature", temperature, lp, work)
    if is_array(beta):
        beta = scalar_argument(be, "beta", beta, lp, work)
    mask = None if where is None else _logits._row_mask(be, where, batch, lp)
    static = (be, kind, teacher.padding_id, teacher_first, tols)
    with be.quiet():
        if dense is None:  # compiled once per shape for eager JAX (temperature, beta traced)
            normalized = inputs == "log_probs"
            vals = be.jit(_dense_rows, *static, normalized)(ids, lp, z, mask, temperature, beta)
        else:
            vals = _values(*static, dense, vocab, ids, lp, mask, temperature, beta)
        out = _logits._reduce(xp, vals, mask, batch, reduction, len(batch) == 0)
    if keepdims:
        ndim = len(batch) + 1
        kept = (*batch[:axis_pos], 1, *batch[axis_pos:])
        out = xp.reshape(out, kept if reduction == "none" else (1,) * ndim)
    return finish(xp, out, out_dtype, log_base)


def _dense_rows(
    be: Any,
    kind: str,
    padding_id: int | None,
    teacher_first: bool,
    tols: tuple[float, float],
    normalized: bool,
    ids: Any,
    lp: Any,
    z: Any,
    mask: Any,
    temperature: Any,
    beta: Any,
) -> Any:
    """``_values`` for a student given as an array ``z`` ``[..., V]`` (masked rows zeroed)."""
    if mask is not None:
        z = be.xp.where(mask[..., None], z, _common.scalar(be, 0, z))
    student = _buckets.DenseStudent(be, z, normalized)
    return _values(be, kind, padding_id, teacher_first, tols, student, z.shape[-1], ids, lp,
                   mask, temperature, beta)  # fmt: skip


def _values(
    be: Any,
    kind: str,
    padding_id: int | None,
    teacher_first: bool,
    tols: tuple[float, float],
    student: Any,
    vocab: int,
    ids: Any,
    lp: Any,
    mask: Any,
    temperature: Any,
    beta: Any,
) -> Any:
    """Per-row values (the batch shape): the buckets of both sides, then ``kind``."""
    xp = be.xp
    valid = (ids == ids) if padding_id is None else (ids != padding_id)
    bad = valid & ((ids < 0) | (ids >= vocab))
    valid = valid & ~bad
    if mask is not None:
        valid = valid & mask[..., None]
        lp = xp.where(mask[..., None], lp, _common.scalar(be, 0, lp))
    safe_ids = xp.where(valid, ids, ids * 0)
    same, first = _buckets.dedupe(be, safe_ids, valid)
    big_p, overfull = _buckets.teacher_buckets(be, lp, same, first, *tols)
    big_q = _buckets.student_buckets(be, student, safe_ids, first, temperature)
    big_q = xp.astype(big_q, big_p.dtype, copy=False)
    a, b = (big_p, big_q) if teacher_first else (big_q, big_p)
    vals = _blocks.forward_block(be, kind, beta, a, b, normalize=False)
    invalid = xp.any(bad, axis=-1) | overfull
    vals = xp.where(invalid, _common.scalar(be, math.nan, vals), vals)
    if mask is not None:
        vals = xp.where(mask, vals, _common.scalar(be, 0, vals))
    return vals


def _event_last(xp: Any, z: Any, axis: Any) -> tuple[Any, int]:
    """The student's logits with the event axis last; and its position."""
    ndim = len(_args.shape_of(z))
    if ndim == 0:
        raise ValueError("the student's logits need an event axis [..., V]; got a 0-d array")
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be one int (the student's vocabulary axis); got {axis!r}")
    (ax,) = _args.normalize_axis(axis, ndim)
    if ax != ndim - 1:
        if not hasattr(xp, "permute_dims"):
            raise ValueError(
                "this library's array namespace cannot move axes: give the student's "
                f"vocabulary as the last axis (axis=-1); got axis={axis!r}"
            )
        order = (*(i for i in range(ndim) if i != ax), ax)
        z = xp.permute_dims(z, order)
    return z, ax


def _out_dtype(be: Any, lp: Any, z: Any) -> Any:
    xp = be.xp
    if not xp.isdtype(z.dtype, "real floating"):
        raise TypeError(f"the student's logits must be real floating; got dtype {z.dtype}")
    return xp.result_type(lp.dtype, z.dtype)


def _work(xp: Any, dtype: Any) -> Any:
    return xp.float32 if _common.is_half(xp, dtype) else dtype


def _projection_setup(be: Any, student: Any, teacher: TopKLogProbs) -> tuple:
    """(batch shape, vocabulary size, output dtype) of a projection student."""
    batch = tuple(student.batch_shape)
    try:
        full = _args.broadcast_shape(teacher.batch_shape, batch, ("teacher", "student"))
    except ValueError:
        full = None
    if full != batch:
        raise ValueError(
            f"the teacher's rows {teacher.batch_shape} must broadcast to the projection's "
            f"batch shape {batch}"
        )
    dtype = getattr(student, "dtype", None)
    lp = teacher.log_probs
    out = lp.dtype if dtype is None else be.xp.result_type(lp.dtype, dtype)
    return batch, int(student.vocab_size), out
