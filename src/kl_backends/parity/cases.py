"""The parity cases: worked examples, published values, and edge cases.

Each case holds float64 NumPy inputs as probabilities (or, for logits-only
cases, logits) and the keywords to call ``kl_divergence`` with.  ``inputs_for``
turns a probability case into its ``log_probs`` and ``logits`` forms, so that
one case checks all three input kinds.  Where a value was published (in the
worked examples or in the literature) it is recorded with the
precision it was published to.

``CASES`` are the ``kl_divergence`` cases; ``FUNCTION_CASES`` those of the
other functions (``parity.function_cases``) and the families row group
(``parity.families``).  Both are module-level tuples of frozen records; the
random inputs are drawn once, in a fixed order, from one generator.

Used by ``kl-backends parity`` and by the test suite.

>>> CASES[0], CASES[0].expected_atol
(Case(tf-qa-categorical), 5e-09)
>>> FUNCTION_CASES[0]
FunctionCase(normal-published)
"""

from __future__ import annotations

import math

import numpy as np

from kl_backends.parity.families import FAMILY_CASES
from kl_backends.parity.function_cases import CLOSED_FORM_CASES
from kl_backends.parity.records import (
    KINDS,
    Case,
    FunctionCase,
    dirichlet,
    inputs_for,
    normal_pdf,
    normalize,
)

__all__ = ["CASES", "FUNCTION_CASES", "KINDS", "Case", "FunctionCase", "inputs_for"]


def _zeros_in_p(pz: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pz = pz.copy()
    pz[mask] = 0.0
    pz[:, 0] += 1e-3  # no all-zero row
    return normalize(pz)


def _zeros_where_p_is(qz: np.ndarray, pz: np.ndarray) -> np.ndarray:
    qz = qz.copy()
    qz[pz == 0] = 0.0  # q is zero exactly where p is (and more)
    qz[:, 1][pz[:, 1] == 0] = 0.0
    return normalize(qz)


def _with(a: np.ndarray, index: tuple[int, int], value: float) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


def _neg_inf_log_probs(lp: np.ndarray, lq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lp, lq = lp.copy(), lq.copy()
    lp[0, :3] = -math.inf
    lq[0, :3] = -math.inf
    lp[1, 4] = -math.inf
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = lq - np.log(np.exp(lq).sum(-1, keepdims=True))
    return np.exp(lp), np.exp(lq)


# --- the inputs, drawn in this order (the order fixes the values) ---------------------
_rng = np.random.default_rng(20261122)
_TF_P = np.array([[0.25, 0.1, 0.65], [0.8, 0.15, 0.05]])
_TF_Q = np.array([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]])
_TF_P0 = np.array([[0.25, 0.1, 0.65], [0.8, 0.2, 0.0]])
_TF_Q0 = np.array([[0.7, 0.2, 0.1], [0.15, 0.85, 0.0]])
_NOTE_P, _NOTE_Q = np.array([0.4, 0.4, 0.2]), np.array([0.5, 0.1, 0.4])
_LOGITS_P = _rng.normal(size=(8, 10)) * 2
_LOGITS_Q = _rng.normal(size=(8, 10)) * 2
_KULLBACK, _UNIFORM = np.array([0.36, 0.48, 0.16]), np.full(3, 1 / 3)
_X = np.arange(-10, 10, 0.001)
_G0, _G2, _G54 = normal_pdf(_X, 0, 2), normal_pdf(_X, 2, 2), normal_pdf(_X, 5, 4)
_GRID_NOTE = "the grid example: np.sum(p * log(p / q)) over pdf values on np.arange(-10, 10, 0.001)"
_BATCH_P, _BATCH_Q = dirichlet(_rng, (16, 100)), dirichlet(_rng, (16, 100))
_NEAR = dirichlet(_rng, (4, 50), 5.0)
_NEAR_Q = normalize(_NEAR * (1 + 1e-3 * _rng.normal(size=_NEAR.shape)))
_SAME = dirichlet(_rng, (3, 20))
_PZ = _zeros_in_p(dirichlet(_rng, (6, 12)), _rng.random((6, 12)) < 0.3)
_PZ_Q = dirichlet(_rng, (6, 12))
_QZ = _zeros_where_p_is(dirichlet(_rng, (6, 12)), _PZ)
_PINF = dirichlet(_rng, (3, 5))
_QINF = normalize(_with(dirichlet(_rng, (3, 5)), (1, 2), 0.0))
_PN = _with(dirichlet(_rng, (4, 6)), (2, 3), math.nan)
_PN_Q = dirichlet(_rng, (4, 6))
_QN = _with(dirichlet(_rng, (4, 6)), (0, 0), math.nan)
_QN_P = dirichlet(_rng, (4, 6))
_LP_INF, _LQ_INF = _neg_inf_log_probs(
    np.log(dirichlet(_rng, (5, 7))), np.log(dirichlet(_rng, (5, 7)))
)
_BIG = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, 1000.0, 500.0]])
_BIG_Q = np.array([[-1000.0, 1000.0, 0.0, 998.0], [1000.0, -999.0, 999.5, -1000.0]])
_P3D = dirichlet(_rng, (60,)).reshape(3, 4, 5)
_Q3D = dirichlet(_rng, (60,)).reshape(3, 4, 5)
_EV = normalize(_rng.random((3, 4, 5)), axis=(1, 2))
_EV_Q = normalize(_rng.random((3, 4, 5)), axis=(1, 2))
_A0D = normalize(_rng.random((5, 3, 2)), axis=0)
_A0D_Q = normalize(_rng.random((5, 3, 2)), axis=0)
_BP = np.broadcast_to(dirichlet(_rng, (6,)), (5, 6)).copy()
_BP_Q = dirichlet(_rng, (5, 6))
_RB, _RB_Q = dirichlet(_rng, (7, 9)), dirichlet(_rng, (7, 9))
del _rng

_PROBS_LOGPROBS = ("probs", "log_probs")

CASES: tuple[Case, ...] = (
    # --- the TensorFlow Q&A (KL of two tf.distributions Categoricals) -------------------------------------------------
    Case(
        "tf-qa-categorical",
        _TF_P,
        _TF_Q,
        expected=np.array([0.88995184, 1.08808468]),
        expected_atol=5e-9,
        clean=True,
        source="the TensorFlow Q&A: tf.distributions.kl_divergence of two Categoricals",
    ),
    Case(
        "tf-qa-zero-in-p",
        _TF_P0,
        _TF_Q,
        source="the TensorFlow Q&A: a zero in p gives NaN in tf.distributions; here 0 * log(0/q) = 0",
    ),
    Case(
        "tf-qa-zero-in-q",
        _TF_P,
        _TF_Q0,
        expected=np.array([0.88995184, math.inf]),
        expected_atol=5e-9,
        source="the TensorFlow Q&A: a zero in q where p > 0 gives inf",
    ),
    # --- the discrete example: bits vs nats, F.kl_div ---------------------------
    Case(
        "note-bits",
        _NOTE_P,
        _NOTE_Q,
        {"base": 2},
        expected=0.4712,
        expected_atol=5e-5,
        clean=True,
        source="the discrete example: (p*torch.log2(p/q)).sum() = 0.4712",
    ),
    Case(
        "note-nats",
        _NOTE_P,
        _NOTE_Q,
        expected=0.3266,
        expected_atol=5e-5,
        clean=True,
        source="the discrete example: F.kl_div(q.log(), p, reduction='sum') = 0.3266",
    ),
    Case(
        "note-kl-categorical-logits",
        _LOGITS_P,
        _LOGITS_Q,
        {"reduction": "mean"},
        kinds=("logits",),
        clean=True,
        source="the discrete example: kl_categorical(p_logit, q_logit), mean over the batch",
    ),
    # --- published: Kullback (1959) via Wikipedia's worked example --------------------
    Case(
        "kullback-vs-uniform",
        _KULLBACK,
        _UNIFORM,
        expected=0.0852996013,
        expected_atol=1e-10,
        clean=True,
        source="Kullback's P = [.36, .48, .16] against uniform Q",
    ),
    Case(
        "kullback-uniform-vs",
        _UNIFORM,
        _KULLBACK,
        expected=0.0974550068,
        expected_atol=1e-10,
        clean=True,
        source="the same, reversed: KL is not symmetric",
    ),
    # --- densities on a grid, summed without dx -----------------------------
    Case(
        "grid-N(0,2)-N(2,2)",
        _G0,
        _G2,
        kinds=_PROBS_LOGPROBS,
        expected=500.0,
        expected_atol=5e-4,
        expected_kinds=_PROBS_LOGPROBS,
        source=_GRID_NOTE + ": that sum prints 500.000 (the continuous KL is 0.5)",
    ),
    Case("grid-N(0,2)-N(5,4)", _G0, _G54, kinds=_PROBS_LOGPROBS, source=_GRID_NOTE),
    Case(
        "grid-N(5,4)-N(0,2)",
        _G54,
        _G0,
        kinds=_PROBS_LOGPROBS,
        source=_GRID_NOTE + ", reversed",
    ),
    # --- random batches and edge cases ------------------------------------------------
    Case("random-batch", _BATCH_P, _BATCH_Q, clean=True, source="Dirichlet(1) batches"),
    Case(
        "nearly-equal",
        _NEAR,
        _NEAR_Q,
        clean=True,
        source="q a 1e-3 perturbation of p: KL ~ 1e-7, a cancellation test",
    ),
    Case(
        "identical",
        _SAME,
        _SAME,
        expected=np.zeros(3),
        expected_atol=0.0,
        expected_kinds=_PROBS_LOGPROBS,
        source="KL(p, p) = 0 exactly",
    ),
    Case("zeros-in-p", _PZ, _PZ_Q, source="30% zeros in p"),
    Case(
        "zeros-in-p-and-q",
        _PZ,
        _QZ,
        source="q = 0 wherever p = 0: those terms are 0, not NaN",
    ),
    Case("q-zero-where-p-positive", _PINF, _QINF, source="only row 1 is +inf"),
    Case("nan-in-one-row", _PN, _PN_Q, source="NaN stays in its own distribution"),
    Case("nan-in-q", _QN_P, _QN, source="NaN in q"),
    Case(
        "neg-inf-log-probs",
        _LP_INF,
        _LQ_INF,
        source="-inf log-probabilities in p, and in q at the same places",
    ),
    Case(
        "large-logits",
        _BIG,
        _BIG_Q,
        kinds=("logits",),
        source="logits of +-1000: no overflow, no loss of accuracy",
    ),
    Case("axis-tuple", _EV, _EV_Q, {"axis": (1, 2)}, clean=True, source="events over two axes"),
    Case(
        "axis-tuple-negative-keepdims",
        _EV,
        _EV_Q,
        {"axis": (-2, -1), "keepdims": True},
        clean=True,
        source="negative axes, keepdims",
    ),
    Case("axis-0", _A0D, _A0D_Q, {"axis": 0}, clean=True, source="event axis first"),
    Case(
        "single-distribution-all-axes",
        _P3D,
        _Q3D,
        {"axis": (0, 1, 2)},
        clean=True,
        source="one distribution over every axis",
    ),
    Case(
        "broadcast",
        _BP,
        _BP_Q,
        clean=True,
        source="p broadcast against a batch of q (given as shapes (6,) vs (5, 6) "
        "by the broadcast test)",
    ),
    Case("reduction-sum", _RB, _RB_Q, {"reduction": "sum"}, clean=True, source="reduction='sum'"),
    Case(
        "reduction-mean", _RB, _RB_Q, {"reduction": "mean"}, clean=True, source="reduction='mean'"
    ),
    Case(
        "reduction-mean-keepdims",
        _RB,
        _RB_Q,
        {"reduction": "mean", "keepdims": True},
        clean=True,
        source="reduction='mean', keepdims=True",
    ),
    Case("base-10", _RB, _RB_Q, {"base": 10}, clean=True, source="base 10"),
)

FUNCTION_CASES: tuple[FunctionCase, ...] = (*CLOSED_FORM_CASES, *FAMILY_CASES)
