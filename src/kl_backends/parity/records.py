"""The records of a parity case: ``Case`` (for ``kl_divergence``) and ``FunctionCase``.

Both are frozen: the cases themselves are module-level tuples of them
(``parity.cases``, ``parity.function_cases``, ``parity.families``).

>>> import numpy as np
>>> case = Case("halves", np.array([0.5, 0.5]), np.array([0.25, 0.75]))
>>> case, case.kinds
(Case(halves), ('probs', 'log_probs', 'logits'))
>>> [round(float(x), 4) for x in inputs_for(case, "log_probs")[0]]
[-0.6931, -0.6931]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["KINDS", "Case", "FunctionCase", "inputs_for"]

KINDS = ("probs", "log_probs", "logits")


@dataclass(frozen=True)
class Case:
    """One parity case.

    ``expected`` is a published value (checked within ``expected_atol``) for
    the kinds in ``expected_kinds``; ``clean`` marks cases on which every
    framework built-in must agree with the exact definition (no zeros, NaN or
    infinities, probabilities well above Keras' 1e-7 clip).
    """

    name: str
    p: np.ndarray
    q: np.ndarray
    kwargs: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = KINDS
    expected: Any = None
    expected_atol: float = 0.0
    expected_kinds: tuple[str, ...] = KINDS
    clean: bool = False
    source: str = ""

    def __repr__(self) -> str:
        return f"Case({self.name})"


@dataclass(frozen=True)
class FunctionCase:
    """A parity case for a function other than ``kl_divergence``.

    ``function`` names a public function of kl_backends; ``args`` are float64
    NumPy arrays; ``reference`` computes the float64 result from the values
    the backend holds (``_reference``); ``expected`` a published value.
    """

    name: str
    function: Any  # a name in kl_backends, or a callable (the families row group)
    args: tuple[np.ndarray, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    reference: Any = None
    expected: Any = None
    expected_atol: float = 0.0
    source: str = ""

    def __repr__(self) -> str:
        return f"FunctionCase({self.name})"


# Logits are log-probabilities shifted by a different constant per input: the
# normalising log-softmax must remove it.
_P_SHIFT, _Q_SHIFT = 3.25, -1.75


def inputs_for(case: Case, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The case's inputs in the form ``kind`` (probs, log_probs or logits)."""
    if case.kinds == ("logits",):
        return case.p, case.q
    if kind == "probs":
        return case.p, case.q
    with np.errstate(divide="ignore", invalid="ignore"):
        lp, lq = np.log(case.p), np.log(case.q)
    if kind == "log_probs":
        return lp, lq
    return lp + _P_SHIFT, lq + _Q_SHIFT


# Helpers that draw and shape the cases' inputs.


def dirichlet(rng: np.random.Generator, shape: tuple[int, ...], alpha: float = 1.0) -> np.ndarray:
    """Rows of ``shape[-1]`` probabilities drawn from Dirichlet(``alpha``)."""
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


def normalize(a: np.ndarray, axis: Any = -1) -> np.ndarray:
    """``a`` divided by its sum over ``axis``."""
    return a / a.sum(axis=axis, keepdims=True)


def normal_pdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """The density of N(``mean``, ``sd``²) at ``x``."""
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
