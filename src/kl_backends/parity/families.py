"""The families row group of the parity matrix: every registered pair of ``kl_backends.distributions``.

Two cases, one for the same-family pairs and one for the cross-family pairs,
each computing every pair on a small batch of fixed parameters (chosen so
that most cross pairs are finite; the infinite ones are checked as +inf) and
concatenating the results into one vector.  The reference is the same
closed forms in float64 NumPy, on the values the backend holds, with SciPy's
special functions where SciPy is installed; the closed forms themselves are
checked against torch.distributions, TFP and numerical integration in
``tests/distributions/``.

>>> [case.name for case in FAMILY_CASES]
['families-same', 'families-cross']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kl_backends import distributions as D
from kl_backends._dispatch import resolve
from kl_backends.parity.records import FunctionCase

__all__ = ["FAMILY_CASES", "family_cases"]

# Per family: parameter names and a batch of 3 values each (float64).
_PARAMS: dict[str, dict[str, list[Any]]] = {
    "Normal": {"loc": [0.0, -1.2, 0.7], "scale": [1.0, 0.6, 1.7]},
    "LogNormal": {"loc": [0.1, -0.4, 0.3], "scale": [0.8, 0.5, 1.2]},
    "HalfNormal": {"scale": [1.0, 0.6, 1.7]},
    "Laplace": {"loc": [0.2, -0.8, 1.1], "scale": [0.9, 1.4, 0.5]},
    "Gumbel": {"loc": [-0.3, 0.5, 1.0], "scale": [1.2, 0.7, 1.9]},
    "Cauchy": {"loc": [0.0, 1.5, -0.5], "scale": [1.0, 0.4, 2.0]},
    "Uniform": {"low": [0.1, 0.0, 0.25], "high": [0.6, 1.0, 0.3]},
    "Exponential": {"rate": [1.0, 2.5, 0.7]},
    "Gamma": {"concentration": [2.0, 1.3, 3.5], "rate": [1.5, 0.8, 2.2]},
    "Chi2": {"df": [3.0, 5.5, 2.5]},
    "InverseGamma": {"concentration": [2.5, 1.7, 3.0], "rate": [1.0, 2.0, 0.6]},
    "Beta": {"concentration1": [2.0, 1.5, 3.2], "concentration0": [3.0, 1.2, 2.4]},
    "Pareto": {"scale": [0.02, 0.03, 0.01], "alpha": [3.0, 2.6, 4.5]},
    "Weibull": {"scale": [1.0, 1.6, 0.7], "concentration": [1.5, 0.9, 2.8]},
    "VonMises": {"loc": [0.3, -2.0, 1.0], "concentration": [1.0, 6.0, 0.2]},
    "ContinuousBernoulli": {"probs": [0.3, 0.5, 0.8]},
    "Poisson": {"rate": [1.0, 2.5, 0.4]},
    "Bernoulli": {"probs": [0.3, 0.6, 0.9]},
    "Binomial": {"total_count": [6.0, 6.0, 6.0], "probs": [0.3, 0.6, 0.9]},
    "Geometric": {"probs": [0.3, 0.6, 0.9]},
    "Categorical": {"probs": [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]},
    "OneHotCategorical": {"logits": [[0.2, -1.0, 0.4], [1.0, 0.3, -0.1], [0.0, 0.0, 2.0]]},
    "Dirichlet": {"concentration": [[1.0, 2.0, 0.5], [3.0, 1.2, 2.0], [0.7, 0.7, 4.0]]},
    "MultivariateNormal": {
        "loc": [[0.0, 1.0], [0.5, -0.5], [1.0, 0.2]],
        "scale_tril": [
            [[1.0, 0.0], [0.3, 0.8]],
            [[0.7, 0.0], [-0.2, 1.1]],
            [[1.3, 0.0], [0.0, 0.6]],
        ],
    },
    "LowRankMultivariateNormal": {
        "loc": [[0.2, 0.8], [0.0, -0.3], [1.1, 0.4]],
        "cov_factor": [[[0.5], [0.2]], [[-0.3], [0.9]], [[0.1], [0.1]]],
        "cov_diag": [[1.0, 0.7], [0.4, 1.3], [0.9, 0.9]],
    },
}
# For q: shifted versions of p's parameters (Uniform q must cover Beta's and CB's [0, 1]).
_Q_PARAMS: dict[str, dict[str, list[Any]]] = {
    **{k: v for k, v in _PARAMS.items()},
    "Uniform": {"low": [0.0, -0.5, 0.05], "high": [1.0, 1.5, 0.9]},
}


@dataclass(frozen=True)
class _Pair:
    """One registered pair in a row group: its families and how many arrays each takes."""

    p: str
    q: str
    n_p: int
    n_q: int


def _build(name: str, arrays: list[Any]) -> Any:
    kwargs = dict(zip(_PARAMS[name], arrays))
    return getattr(D, name)(**kwargs)


def _shift(name: str, values: list[Any]) -> np.ndarray:
    """q's values: p's reversed along the batch, so that p != q."""
    return np.asarray(values, dtype=np.float64)[::-1].copy()


def _pairs(same: bool) -> list[tuple[str, str]]:
    return [
        (a, b)
        for a, b in D.registered_pairs()
        if a in _PARAMS and b in _PARAMS and (a == b) == same
    ]


def _case_arrays(pairs: list[tuple[str, str]]) -> tuple[list[np.ndarray], tuple[_Pair, ...]]:
    arrays: list[np.ndarray] = []
    layout: list[_Pair] = []
    for a, b in pairs:
        pa = [np.asarray(v, dtype=np.float64) for v in _PARAMS[a].values()]
        qa = [_shift(b, v) for v in _Q_PARAMS[b].values()]
        layout.append(_Pair(a, b, len(pa), len(qa)))
        arrays += pa + qa
    return arrays, tuple(layout)


def _function(layout: tuple[_Pair, ...]) -> Callable[..., Any]:
    def all_pairs(*arrays: Any) -> Any:
        out = []
        i = 0
        for pair in layout:
            p = _build(pair.p, list(arrays[i : i + pair.n_p]))
            q = _build(pair.q, list(arrays[i + pair.n_p : i + pair.n_p + pair.n_q]))
            i += pair.n_p + pair.n_q
            out.append(D.kl(p, q))
        xp = resolve(out[0], names=("out",))[0].xp
        return xp.concat(out)

    return all_pairs


def _family_case(same: bool, label: str) -> FunctionCase:
    pairs = _pairs(same)
    arrays, layout = _case_arrays(pairs)
    fn = _function(layout)
    return FunctionCase(
        label,
        fn,
        tuple(arrays),
        reference=fn,  # on float64 NumPy: the closed forms with SciPy's special functions
        source=f"{len(pairs)} pairs of kl_backends.distributions",
    )


#: The families row group: the same-family pairs, then the cross-family pairs.
FAMILY_CASES: tuple[FunctionCase, ...] = (
    _family_case(True, "families-same"),
    _family_case(False, "families-cross"),
)


def family_cases() -> list[FunctionCase]:
    """``FunctionCase`` objects for the families row group (same-family, cross-family)."""
    return list(FAMILY_CASES)
