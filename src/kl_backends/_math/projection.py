"""Logits given as a projection, ``hidden @ weight.T + bias``, never materialised.

``ProjectedLogits`` describes a model's logits by its last hidden states and
its LM head; ``kl_divergence``, ``js_divergence`` and ``cross_entropy`` with
``inputs="logits"`` accept it on either or both sides (the other side may be
dense logits ``[..., V]``), and route the call here (``_math.sources``).

The rows are processed in blocks of ``ROW_BLOCK`` and the vocabulary in tiles
of about ``TILE_ELEMENTS // ROW_BLOCK`` ids (``projection_calls``; ``projection_engine`` states the
passes; ``projection_tiles`` the tile math): at no time does a ``[N, V]``
array exist, only ``[block, tile]`` temporaries, the inputs and the
gradients.  Gradients with respect to ``hidden``, ``weight`` and ``bias`` of
each projected side, and to dense logits, are closed forms (the backend's
``custom_vjp`` hook), recomputing the tiles instead of storing them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._math import projection_calls as _calls
from kl_backends._math.logits_args import check_beta, check_temperature

__all__ = ["ProjectedLogits", "divergence"]


def _python_number(name: str, value: Any, positive: bool) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(float(value)) and (float(value) > 0 or not positive):
        return float(value)
    what = "a finite positive Python number" if positive else "a finite Python number"
    raise ValueError(f"{name} must be {what} or None; got {value!r}")


class ProjectedLogits:
    """Logits ``softcap * tanh((hidden @ weight.T + bias) * logit_scale / softcap)``, lazily.

    Parameters
    ----------
    hidden : array, shape ``[..., H]``
        The last hidden states (one row per token).
    weight : array, shape ``[V, H]``
        The LM head (``V`` the vocabulary size), of the same library and device.
    bias : array, shape ``[V]``, optional
    logit_scale : float, optional
        Multiplies the logits before capping (Cohere's ``logit_scale``); 1 by default.
    softcap : float, optional
        Final logit soft-capping (Gemma's ``final_logit_softcapping``): ``c tanh(z / c)``.

    Notes
    -----
    Pass it with ``inputs="logits"``: ``kl_divergence(teacher, student,
    inputs="logits")`` with either side a ``ProjectedLogits`` or dense logits
    ``[..., V]`` over the last axis.  ``temperature`` divides the capped logits.
    Two vocabularies of different sizes: the larger side's extra ids are
    impossible events (``-inf`` logits) in the smaller model, so KL and
    cross-entropy are ``+inf`` where ``p`` gives them mass, and the JSD counts
    them as disjoint support.  float16/bfloat16 inputs are cast to float32
    before the matmul (accumulated and kept in float32); the results come
    back in the inputs' dtype, the gradients in each input's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> rng = np.random.default_rng(0)
    >>> h, w = rng.normal(size=(2, 4)), rng.normal(size=(5, 4))
    >>> teacher = klb.ProjectedLogits(h, w, softcap=30.0)
    >>> student = klb.ProjectedLogits(h, 0.9 * w)
    >>> teacher.vocab_size, teacher.batch_shape
    (5, (2,))
    >>> kl = klb.kl_divergence(teacher, student, inputs="logits")
    >>> np.round(kl, 6)
    array([0.001154, 0.005294])
    >>> dense = klb.kl_divergence(30 * np.tanh(h @ w.T / 30), h @ (0.9 * w).T, inputs="logits")
    >>> bool(np.allclose(kl, dense))
    True
    """

    _kl_source = "projection"

    def __init__(
        self,
        hidden: Any,
        weight: Any,
        bias: Any = None,
        *,
        logit_scale: float | None = None,
        softcap: float | None = None,
    ) -> None:
        arrays = (hidden, weight) if bias is None else (hidden, weight, bias)
        names = ("hidden", "weight", "bias")
        for name, x in zip(names, arrays):
            if _dispatch.backend_of(x) is None:
                raise TypeError(
                    f"ProjectedLogits: {name} must be an array (NumPy, PyTorch, JAX, "
                    f"TensorFlow or array-API); got {type(x).__module__}.{type(x).__qualname__}"
                )
        hs, ws = _args.shape_of(hidden), _args.shape_of(weight)
        if len(hs) < 1 or len(ws) != 2 or None in hs or None in ws:
            raise ValueError(
                "ProjectedLogits: hidden must be [..., H] and weight [V, H] with known "
                f"sizes; got hidden.shape={hs} and weight.shape={ws}"
            )
        if hs[-1] != ws[1] or ws[0] == 0:  # type: ignore[comparison-overlap]
            raise ValueError(
                "ProjectedLogits: weight must be [V, H] with V >= 1 and H = hidden.shape[-1]; "
                f"got hidden.shape={hs} and weight.shape={ws}"
            )
        if bias is not None and _args.shape_of(bias) != (ws[0],):
            raise ValueError(
                f"ProjectedLogits: bias must be [V] = [{ws[0]}]; got shape {_args.shape_of(bias)}"
            )
        self.hidden, self.weight, self.bias = hidden, weight, bias
        self.logit_scale = _python_number("logit_scale", logit_scale, False)
        self.softcap = _python_number("softcap", softcap, True)

    @property
    def vocab_size(self) -> int:
        """``V``, the number of rows of ``weight``."""
        return int(_args.shape_of(self.weight)[0])  # type: ignore[arg-type]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """``hidden.shape[:-1]``: one distribution per row of hidden states."""
        return tuple(_args.shape_of(self.hidden)[:-1])  # type: ignore[arg-type]

    def __repr__(self) -> str:
        extra = "" if self.bias is None else ", bias"
        for name in ("logit_scale", "softcap"):
            if getattr(self, name) is not None:
                extra += f", {name}={getattr(self, name)}"
        return (
            f"ProjectedLogits(batch_shape={self.batch_shape}, vocab_size={self.vocab_size}, "
            f"hidden_size={_args.shape_of(self.weight)[1]}{extra})"
        )

    def take(self, ids: Any, temperature: float | None = None) -> Any:
        """The tempered logits at integer ids, ``[..., K]``, by gathering rows of ``weight``.

        Parameters
        ----------
        ids : integer array, shape ``[..., K]`` (``...`` = ``batch_shape``)
        temperature : float, optional

        Returns
        -------
        array, shape ``[..., K]``
            ``activate(hidden . weight[ids] + bias[ids]) / temperature`` in the working
            dtype (float32 for float16/bfloat16 inputs), differentiable by the
            framework's autodiff (``[..., K, H]`` gathered rows).

        Examples
        --------
        >>> import numpy as np
        >>> import kl_backends as klb
        >>> h, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> klb.ProjectedLogits(h, w).take(np.array([[2, 0]]), temperature=2.0).tolist()
        [[1.5, 0.5]]
        """
        return _calls.take(self, ids, temperature)

    def log_normalizer(self, temperature: float | None = None) -> Any:
        """``log sum_v exp(z_v / temperature)`` over the whole vocabulary, shape ``batch_shape``.

        Chunked like the divergences (no ``[..., V]`` array), with a closed-form
        gradient (``softmax(z / T)`` pushed into ``hidden``, ``weight`` and
        ``bias``), in the working dtype (float32 for float16/bfloat16 inputs).

        Examples
        --------
        >>> import numpy as np
        >>> import kl_backends as klb
        >>> h, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> np.round(klb.ProjectedLogits(h, w).log_normalizer(), 6)  # log(e + e^2)
        array([2.313262])
        """
        return _calls.log_normalizer(self, temperature)


def _check_options(
    kind: str, axis: Any, inputs: Any, temperature: Any, beta: Any
) -> tuple[float | None, Any]:
    if inputs != "logits" and tuple(inputs) != ("logits", "logits"):
        raise ValueError(
            "a ProjectedLogits side gives logits: pass inputs='logits' (the other side is "
            f"then dense logits or another ProjectedLogits); got inputs={inputs!r}"
        )
    if axis not in (-1, (-1,)):
        raise ValueError(
            f"axis must be -1 (the vocabulary) with a ProjectedLogits side; got axis={axis!r}"
        )
    temperature = check_temperature(temperature)
    beta = check_beta(beta) if kind == "js" else None
    for name, value in (("temperature", temperature), ("beta", beta)):
        if value is not None and not isinstance(value, float):
            raise TypeError(
                f"{name} must be a Python number with a ProjectedLogits side; got "
                f"{type(value).__module__}.{type(value).__qualname__}"
            )
    return temperature, beta


def divergence(
    kind: str,
    p: Any,
    q: Any,
    *,
    axis: Any,
    inputs: Any,
    base: Any,
    reduction: str,
    keepdims: Any,
    temperature: Any,
    where: Any,
    beta: Any = None,
) -> Any:
    """``kind`` ("kl", "ce", "js") between two sides, one or both a ``ProjectedLogits``.

    The entry point from ``_math.sources``; see ``ProjectedLogits`` for the
    conventions.  ``beta`` in (0, 1) is the generalised JSD, 0 and 1 its KL
    limits, ``None`` the ordinary JSD.
    """
    temperature, beta = _check_options(kind, axis, inputs, temperature, beta)
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    keepdims = _args.check_bool("keepdims", keepdims)
    log_base = _args.log_of_base(base)
    if kind == "js" and beta in (0.0, 1.0):  # the limits: KL(p || q), KL(q || p)
        if beta == 1.0:
            p, q = q, p
        kind, beta = "kl", None
    sp, ap, np_ = _calls.plan_side(p, 0, "p")
    sq, aq, nq = _calls.plan_side(q, sp.count, "q")
    batch = _batch(p, q)
    return _calls.run_divergence(
        kind, (sp, sq), ap + aq, np_ + nq, batch, temperature, beta, where, reduction,
        keepdims, log_base,
    )  # fmt: skip


def _batch(p: Any, q: Any) -> tuple[int, ...]:
    bp = p.batch_shape if isinstance(p, ProjectedLogits) else tuple(_args.shape_of(p)[:-1])
    bq = q.batch_shape if isinstance(q, ProjectedLogits) else tuple(_args.shape_of(q)[:-1])
    if bp != bq:
        raise ValueError(
            "p and q must have one batch shape (the logits' shape without the vocabulary "
            f"axis); got {bp} and {bq}"
        )
    return bp  # type: ignore[return-value]
