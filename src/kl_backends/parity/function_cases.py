"""The parity cases of the functions other than ``kl_divergence`` on probabilities.

Closed forms (normal, multivariate normal, the VAE latent loss, Bernoulli,
exponential, Poisson), Jensen-Shannon, rows of logits (distillation: masks,
temperature, beta) and the grid integral with ``dx``; each with its float64
reference from ``parity.reference`` and, where one was published, the value.
A module-level tuple of frozen records; the random inputs are drawn once, in
a fixed order, from one generator.

>>> [c.name for c in CLOSED_FORM_CASES[:2]]
['normal-published', 'normal-tfp-vector']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kl_backends.parity import reference as ref
from kl_backends.parity.records import FunctionCase, dirichlet, normal_pdf

__all__ = ["CLOSED_FORM_CASES"]


def _mvn(mp: Any, mq: Any, cov_p: Any, cov_q: Any) -> Any:
    return ref.reference_mvn(mp, mq, cov_p, cov_q)


def _mvn_diag_p(mp: Any, mq: Any, var_p: Any, cov_q: Any) -> Any:
    return ref.reference_mvn(mp, mq, np.eye(3) * var_p, cov_q)


def _grid(p: Any, q: Any, dx: Any) -> Any:
    return ref.reference_grid(p, q, dx)


def _logits_rows(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Teacher and student logits: -inf logits, a row of one possible event, NaN and +inf."""
    teacher, student = rng.normal(size=(6, 33)) * 3, rng.normal(size=(6, 33)) * 3
    teacher[1, :4] = -np.inf
    teacher[2, :], student[2, :] = -np.inf, -np.inf
    teacher[2, 5], student[2, 5] = 1.0, -2.0
    teacher[3, 2], student[3, 7] = np.nan, np.inf
    return teacher, student


# --- the inputs, drawn in this order (the order fixes the values) ---------------------
_a = np.asarray
_rng = np.random.default_rng(7)
_CQ = np.array([[2.0, 0.5], [0.5, 1.0]])
_QM = np.linalg.qr(_rng.normal(size=(4, 3, 3)))[0]
_SPD = (_QM * np.array([2.0, 1.0, 0.3])) @ np.swapaxes(_QM, -1, -2)
_MVN_MP, _MVN_MQ = _rng.normal(size=(4, 3)), _rng.normal(size=(4, 3))
_VAE_MU, _VAE_LOG_VAR = _rng.normal(size=(6, 4)), _rng.normal(size=(6, 4)) * 0.5
_JS_P, _JS_Q = dirichlet(_rng, (5, 8)), dirichlet(_rng, (5, 8))
_TEACHER, _STUDENT = _logits_rows(_rng)
_ROWS = np.array([True, True, True, False, True, True])  # row 3, with NaN and +inf, masked
_X = np.arange(-10, 10, 0.001)
del _rng


@dataclass(frozen=True)
class _Logits:
    """One row-of-logits case, run with ``reduction="none"`` and ``"mean"``."""

    name: str
    function: str
    kind: str  # of ``reference.reference_logits``
    extra: dict[str, Any] = field(default_factory=dict)


#: Rows of logits (issue 11).
_LOGITS: tuple[_Logits, ...] = (
    _Logits("logits-kd-T2-mask", "kl_divergence", "kl", {"temperature": 2.0}),
    _Logits("logits-ce-mask", "cross_entropy", "ce"),
    _Logits(
        "logits-gjsd-beta0.1-T2-mask", "js_divergence", "js", {"beta": 0.1, "temperature": 2.0}
    ),
    _Logits("logits-gjsd-beta0.5-mask", "js_divergence", "js", {"beta": 0.5}),
    _Logits("logits-gjsd-beta0.9-mask", "js_divergence", "js", {"beta": 0.9}),
    _Logits("logits-jsd-mask", "js_divergence", "js"),
)

_CLOSED_FORMS: tuple[FunctionCase, ...] = (
    FunctionCase(
        "normal-published",
        "kl_normal",
        (_a(0.0), _a(1.0), _a(1.0), _a(2.0)),
        reference=ref.reference_normal,
        expected=0.4431471806,
        expected_atol=1e-10,
        source="KL(N(0,1) || N(1,2)), the tfd example",
    ),
    FunctionCase(
        "normal-tfp-vector",
        "kl_normal",
        (_a(3.0), _a([1, 2, 3, 1.5, 2.5, 3.5]), _a(-3.0), _a([0.5, 1, 1.5, 2, 2.5, 3])),
        reference=ref.reference_normal,
        expected=np.array([72.80685282, 18.80685282, 8.80685282, 4.56893207, 2.88, 2.02640488]),
        expected_atol=5e-9,
        source="TFP's NormalNormal test",
    ),
    FunctionCase(
        "mvn-published",
        "kl_multivariate_normal",
        (_a([0.0, 0.0]), _a([1.0, 1.0])),
        {"cov_p": np.eye(2), "cov_q": _CQ},
        reference=_mvn,
        expected=0.7083793225,
        expected_atol=1e-10,
    ),
    FunctionCase(
        "mvn-published-reversed",
        "kl_multivariate_normal",
        (_a([1.0, 1.0]), _a([0.0, 0.0])),
        {"cov_p": _CQ, "cov_q": np.eye(2)},
        reference=_mvn,
        expected=1.2201921060,
        expected_atol=1e-10,
    ),
    FunctionCase(
        "mvn-diag-vs-isotropic",
        "kl_multivariate_normal",
        (np.zeros(3), np.ones(3)),
        {"var_p": _a([1.0, 2.0, 3.0]), "cov_q": 2 * np.eye(3)},
        reference=_mvn_diag_p,
        expected=0.8938410362,
        expected_atol=1e-10,
    ),
    FunctionCase(
        "mvn-random-batch",
        "kl_multivariate_normal",
        (_MVN_MP, _MVN_MQ),
        {"cov_p": _SPD, "cov_q": _SPD[::-1].copy()},
        reference=_mvn,
    ),
    FunctionCase(
        "vae-latent-loss",
        "kl_standard_normal",
        (_VAE_MU, _VAE_LOG_VAR),
        reference=ref.reference_vae,
        source="the TensorFlow Q&A: -0.5 * sum(1 + log_var - mu^2 - exp(log_var))",
    ),
    FunctionCase(
        "bernoulli",
        "kl_bernoulli",
        (_a([0.0, 1.0, 0.3, 0.9]), _a([0.5, 0.5, 0.6, 0.2])),
        reference=ref.reference_bernoulli,
    ),
    FunctionCase(
        "exponential-published",
        "kl_exponential",
        (_a(0.2), _a(0.4)),
        reference=ref.reference_exponential,
        expected=0.3068528194,
        expected_atol=1e-10,
        source="1 - ln 2",
    ),
    FunctionCase(
        "poisson",
        "kl_poisson",
        (_a([2.0, 0.0, 5.0]), _a([1.0, 3.0, 5.5])),
        reference=ref.reference_poisson,
    ),
    FunctionCase(
        "js-published",
        "js_divergence",
        (_a([1.0, 0.0]), _a([0.5, 0.5])),
        reference=ref.reference_js,
        expected=0.4645014040**2,
        expected_atol=1e-10,
        source="scipy jensenshannon([1,0],[.5,.5]) = 0.4645014040, squared",
    ),
    FunctionCase("js-random", "js_divergence", (_JS_P, _JS_Q), reference=ref.reference_js),
)

_LOGITS_CASES: tuple[FunctionCase, ...] = tuple(
    FunctionCase(
        f"{row.name}-{reduction}",
        row.function,
        (_TEACHER, _STUDENT),
        {"inputs": "logits", "where": _ROWS, "reduction": reduction, **row.extra},
        reference=functools.partial(ref.reference_logits, kind=row.kind),
        source="float64 log-softmax formulas (parity/reference.py)",
    )
    for row in _LOGITS
    for reduction in ("none", "mean")
)

_GRID_INTEGRAL = FunctionCase(
    "grid-integral",
    "kl_from_densities",
    (normal_pdf(_X, 0, 2), normal_pdf(_X, 2, 2)),
    {"dx": 0.001},
    reference=_grid,
    expected=0.5,
    expected_atol=1e-6,
    source="the grid example with dx: the continuous KL, 0.5 (not 500)",
)

CLOSED_FORM_CASES: tuple[FunctionCase, ...] = (*_CLOSED_FORMS, *_LOGITS_CASES, _GRID_INTEGRAL)
