"""The parity cases: seed examples, published values, and edge cases.

Each case holds float64 NumPy inputs as probabilities (or, for logits-only
cases, logits) and the keywords to call ``kl_divergence`` with.  ``inputs_for``
turns a probability case into its ``log_probs`` and ``logits`` forms, so that
one case checks all three input kinds.  Where a value was published (in the
project's seed documents or in the literature) it is recorded with the
precision it was published to.

Used by ``kl-backends parity`` and by the test suite.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CASES", "FUNCTION_CASES", "KINDS", "Case", "FunctionCase", "inputs_for"]

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


def _dirichlet(rng: np.random.Generator, shape: tuple[int, ...], alpha: float = 1.0) -> np.ndarray:
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


def _normalize(a: np.ndarray, axis: Any = -1) -> np.ndarray:
    return a / a.sum(axis=axis, keepdims=True)


def _normal_pdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _build() -> list[Case]:
    rng = np.random.default_rng(20261122)
    cases: list[Case] = []
    add = cases.append

    # --- seed 000: the TensorFlow Q&A -------------------------------------
    a = np.array([[0.25, 0.1, 0.65], [0.8, 0.15, 0.05]])
    b = np.array([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]])
    add(
        Case(
            "seed-tf-categorical",
            a,
            b,
            expected=np.array([0.88995184, 1.08808468]),
            expected_atol=5e-9,
            clean=True,
            source="seed 000: tf.distributions.kl_divergence of two Categoricals",
        )
    )
    a0 = np.array([[0.25, 0.1, 0.65], [0.8, 0.2, 0.0]])
    add(
        Case(
            "seed-tf-zero-in-p",
            a0,
            b,
            source="seed 000: a zero in p gives NaN in tf.distributions; here 0 * log(0/q) = 0",
        )
    )
    b0 = np.array([[0.7, 0.2, 0.1], [0.15, 0.85, 0.0]])
    add(
        Case(
            "seed-tf-zero-in-q",
            a,
            b0,
            expected=np.array([0.88995184, math.inf]),
            expected_atol=5e-9,
            source="seed 000: a zero in q where p > 0 gives inf",
        )
    )

    # --- seed 002: discrete example, bits vs nats, F.kl_div ---------------
    p3, q3 = np.array([0.4, 0.4, 0.2]), np.array([0.5, 0.1, 0.4])
    add(
        Case(
            "seed-note-bits",
            p3,
            q3,
            {"base": 2},
            expected=0.4712,
            expected_atol=5e-5,
            clean=True,
            source="seed 002: (p*torch.log2(p/q)).sum() = 0.4712",
        )
    )
    add(
        Case(
            "seed-note-nats",
            p3,
            q3,
            expected=0.3266,
            expected_atol=5e-5,
            clean=True,
            source="seed 002: F.kl_div(q.log(), p, reduction='sum') = 0.3266",
        )
    )
    logits_p = rng.normal(size=(8, 10)) * 2
    logits_q = rng.normal(size=(8, 10)) * 2
    add(
        Case(
            "seed-note-kl-categorical-logits",
            logits_p,
            logits_q,
            {"reduction": "mean"},
            kinds=("logits",),
            clean=True,
            source="seed 002: kl_categorical(p_logit, q_logit), mean over the batch",
        )
    )

    # --- published: Kullback (1959) via Wikipedia's worked example --------
    pk, uniform = np.array([0.36, 0.48, 0.16]), np.full(3, 1 / 3)
    add(
        Case(
            "kullback-vs-uniform",
            pk,
            uniform,
            expected=0.0852996013,
            expected_atol=1e-10,
            clean=True,
            source="Kullback's P = [.36, .48, .16] against uniform Q",
        )
    )
    add(
        Case(
            "kullback-uniform-vs",
            uniform,
            pk,
            expected=0.0974550068,
            expected_atol=1e-10,
            clean=True,
            source="the same, reversed: KL is not symmetric",
        )
    )

    # --- seed 001: densities on a grid, summed without dx ----------------
    x = np.arange(-10, 10, 0.001)
    g0, g2, g54 = _normal_pdf(x, 0, 2), _normal_pdf(x, 2, 2), _normal_pdf(x, 5, 4)
    grid_note = "seed 001: np.sum(p * log(p / q)) over pdf values on np.arange(-10, 10, 0.001)"
    add(
        Case(
            "seed-grid-N(0,2)-N(2,2)",
            g0,
            g2,
            kinds=("probs", "log_probs"),
            expected=500.0,
            expected_atol=5e-4,
            expected_kinds=("probs", "log_probs"),
            source=grid_note + ": the seed prints 500.000 (the continuous KL is 0.5)",
        )
    )
    add(Case("seed-grid-N(0,2)-N(5,4)", g0, g54, kinds=("probs", "log_probs"), source=grid_note))
    add(
        Case(
            "seed-grid-N(5,4)-N(0,2)",
            g54,
            g0,
            kinds=("probs", "log_probs"),
            source=grid_note + ", reversed",
        )
    )

    # --- random batches and edge cases -------------------------------------
    add(
        Case(
            "random-batch",
            _dirichlet(rng, (16, 100)),
            _dirichlet(rng, (16, 100)),
            clean=True,
            source="Dirichlet(1) batches",
        )
    )
    near = _dirichlet(rng, (4, 50), 5.0)
    add(
        Case(
            "nearly-equal",
            near,
            _normalize(near * (1 + 1e-3 * rng.normal(size=near.shape))),
            clean=True,
            source="q a 1e-3 perturbation of p: KL ~ 1e-7, a cancellation test",
        )
    )
    same = _dirichlet(rng, (3, 20))
    add(
        Case(
            "identical",
            same,
            same,
            expected=np.zeros(3),
            expected_atol=0.0,
            expected_kinds=("probs", "log_probs"),
            source="KL(p, p) = 0 exactly",
        )
    )

    pz = _dirichlet(rng, (6, 12))
    pz[rng.random(pz.shape) < 0.3] = 0.0
    pz[:, 0] += 1e-3  # no all-zero row
    pz = _normalize(pz)
    add(Case("zeros-in-p", pz, _dirichlet(rng, (6, 12)), source="30% zeros in p"))
    qz = _dirichlet(rng, (6, 12))
    qz[pz == 0] = 0.0  # q is zero exactly where p is (and more)
    qz[:, 1][pz[:, 1] == 0] = 0.0
    add(
        Case(
            "zeros-in-p-and-q",
            pz,
            _normalize(qz),
            source="q = 0 wherever p = 0: those terms are 0, not NaN",
        )
    )
    pinf = _dirichlet(rng, (3, 5))
    qinf = _dirichlet(rng, (3, 5))
    qinf[1, 2] = 0.0
    qinf = _normalize(qinf)
    add(Case("q-zero-where-p-positive", pinf, qinf, source="only row 1 is +inf"))
    pn = _dirichlet(rng, (4, 6))
    pn[2, 3] = math.nan
    add(
        Case(
            "nan-in-one-row",
            pn,
            _dirichlet(rng, (4, 6)),
            source="NaN stays in its own distribution",
        )
    )
    qn = _dirichlet(rng, (4, 6))
    qn[0, 0] = math.nan
    add(Case("nan-in-q", _dirichlet(rng, (4, 6)), qn, source="NaN in q"))
    lp = np.log(_dirichlet(rng, (5, 7)))
    lq = np.log(_dirichlet(rng, (5, 7)))
    lp[0, :3] = -math.inf
    lq[0, :3] = -math.inf
    lp[1, 4] = -math.inf
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = lq - np.log(np.exp(lq).sum(-1, keepdims=True))
    add(
        Case(
            "neg-inf-log-probs",
            np.exp(lp),
            np.exp(lq),
            source="-inf log-probabilities in p, and in q at the same places",
        )
    )

    big = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, 1000.0, 500.0]])
    bigq = np.array([[-1000.0, 1000.0, 0.0, 998.0], [1000.0, -999.0, 999.5, -1000.0]])
    add(
        Case(
            "large-logits",
            big,
            bigq,
            kinds=("logits",),
            source="logits of +-1000: no overflow, no loss of accuracy",
        )
    )

    p3d, q3d = _dirichlet(rng, (60,)).reshape(3, 4, 5), _dirichlet(rng, (60,)).reshape(3, 4, 5)
    ev = _normalize(rng.random((3, 4, 5)), axis=(1, 2))
    evq = _normalize(rng.random((3, 4, 5)), axis=(1, 2))
    add(Case("axis-tuple", ev, evq, {"axis": (1, 2)}, clean=True, source="events over two axes"))
    add(
        Case(
            "axis-tuple-negative-keepdims",
            ev,
            evq,
            {"axis": (-2, -1), "keepdims": True},
            clean=True,
            source="negative axes, keepdims",
        )
    )
    a0d = _normalize(rng.random((5, 3, 2)), axis=0)
    add(
        Case(
            "axis-0",
            a0d,
            _normalize(rng.random((5, 3, 2)), axis=0),
            {"axis": 0},
            clean=True,
            source="event axis first",
        )
    )
    add(
        Case(
            "single-distribution-all-axes",
            p3d,
            q3d,
            {"axis": (0, 1, 2)},
            clean=True,
            source="one distribution over every axis",
        )
    )
    bp = _dirichlet(rng, (6,))
    add(
        Case(
            "broadcast",
            np.broadcast_to(bp, (5, 6)).copy(),
            _dirichlet(rng, (5, 6)),
            clean=True,
            source="p broadcast against a batch of q (given as shapes (6,) vs (5, 6) "
            "by the broadcast test)",
        )
    )
    rb, rbq = _dirichlet(rng, (7, 9)), _dirichlet(rng, (7, 9))
    for reduction in ("sum", "mean"):
        add(
            Case(
                f"reduction-{reduction}",
                rb,
                rbq,
                {"reduction": reduction},
                clean=True,
                source=f"reduction='{reduction}'",
            )
        )
    add(
        Case(
            "reduction-mean-keepdims",
            rb,
            rbq,
            {"reduction": "mean", "keepdims": True},
            clean=True,
            source="reduction='mean', keepdims=True",
        )
    )
    add(Case("base-10", rb, rbq, {"base": 10}, clean=True, source="base 10"))
    return cases


CASES: tuple[Case, ...] = tuple(_build())


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


def _build_function_cases() -> list[FunctionCase]:
    from kl_backends.parity import reference as ref

    rng = np.random.default_rng(7)
    out: list[FunctionCase] = []
    add = out.append
    a = np.asarray
    add(
        FunctionCase(
            "normal-published",
            "kl_normal",
            (a(0.0), a(1.0), a(1.0), a(2.0)),
            reference=ref.reference_normal,
            expected=0.4431471806,
            expected_atol=1e-10,
            source="KL(N(0,1) || N(1,2)), the seed's tfd example",
        )
    )
    add(
        FunctionCase(
            "normal-tfp-vector",
            "kl_normal",
            (a(3.0), a([1, 2, 3, 1.5, 2.5, 3.5]), a(-3.0), a([0.5, 1, 1.5, 2, 2.5, 3])),
            reference=ref.reference_normal,
            expected=np.array([72.80685282, 18.80685282, 8.80685282, 4.56893207, 2.88, 2.02640488]),
            expected_atol=5e-9,
            source="TFP's NormalNormal test",
        )
    )
    cq = np.array([[2.0, 0.5], [0.5, 1.0]])
    add(
        FunctionCase(
            "mvn-published",
            "kl_multivariate_normal",
            (a([0.0, 0.0]), a([1.0, 1.0])),
            {"cov_p": np.eye(2), "cov_q": cq},
            reference=lambda mp, mq, cov_p, cov_q: ref.reference_mvn(mp, mq, cov_p, cov_q),
            expected=0.7083793225,
            expected_atol=1e-10,
        )
    )
    add(
        FunctionCase(
            "mvn-published-reversed",
            "kl_multivariate_normal",
            (a([1.0, 1.0]), a([0.0, 0.0])),
            {"cov_p": cq, "cov_q": np.eye(2)},
            reference=lambda mp, mq, cov_p, cov_q: ref.reference_mvn(mp, mq, cov_p, cov_q),
            expected=1.2201921060,
            expected_atol=1e-10,
        )
    )
    add(
        FunctionCase(
            "mvn-diag-vs-isotropic",
            "kl_multivariate_normal",
            (np.zeros(3), np.ones(3)),
            {"var_p": a([1.0, 2.0, 3.0]), "cov_q": 2 * np.eye(3)},
            reference=lambda mp, mq, var_p, cov_q: ref.reference_mvn(
                mp, mq, np.eye(3) * var_p, cov_q
            ),
            expected=0.8938410362,
            expected_atol=1e-10,
        )
    )
    qm, _ = np.linalg.qr(rng.normal(size=(4, 3, 3)))
    spd = (qm * np.array([2.0, 1.0, 0.3])) @ np.swapaxes(qm, -1, -2)
    add(
        FunctionCase(
            "mvn-random-batch",
            "kl_multivariate_normal",
            (rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
            {"cov_p": spd, "cov_q": spd[::-1].copy()},
            reference=lambda mp, mq, cov_p, cov_q: ref.reference_mvn(mp, mq, cov_p, cov_q),
        )
    )
    add(
        FunctionCase(
            "vae-latent-loss",
            "kl_standard_normal",
            (rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) * 0.5),
            reference=ref.reference_vae,
            source="seed 000: -0.5 * sum(1 + log_var - mu^2 - exp(log_var))",
        )
    )
    add(
        FunctionCase(
            "bernoulli",
            "kl_bernoulli",
            (a([0.0, 1.0, 0.3, 0.9]), a([0.5, 0.5, 0.6, 0.2])),
            reference=ref.reference_bernoulli,
        )
    )
    add(
        FunctionCase(
            "exponential-published",
            "kl_exponential",
            (a(0.2), a(0.4)),
            reference=ref.reference_exponential,
            expected=0.3068528194,
            expected_atol=1e-10,
            source="1 - ln 2",
        )
    )
    add(
        FunctionCase(
            "poisson",
            "kl_poisson",
            (a([2.0, 0.0, 5.0]), a([1.0, 3.0, 5.5])),
            reference=ref.reference_poisson,
        )
    )
    add(
        FunctionCase(
            "js-published",
            "js_divergence",
            (a([1.0, 0.0]), a([0.5, 0.5])),
            reference=ref.reference_js,
            expected=0.4645014040**2,
            expected_atol=1e-10,
            source="scipy jensenshannon([1,0],[.5,.5]) = 0.4645014040, squared",
        )
    )
    add(
        FunctionCase(
            "js-random",
            "js_divergence",
            (_dirichlet(rng, (5, 8)), _dirichlet(rng, (5, 8))),
            reference=ref.reference_js,
        )
    )
    # Rows of logits (distillation): -inf logits, a row of one possible event, a
    # masked row holding NaN and +inf, temperature, beta (issue 11).
    teacher, student = rng.normal(size=(6, 33)) * 3, rng.normal(size=(6, 33)) * 3
    teacher[1, :4] = -np.inf
    teacher[2, :], student[2, :] = -np.inf, -np.inf
    teacher[2, 5], student[2, 5] = 1.0, -2.0
    teacher[3, 2], student[3, 7] = np.nan, np.inf
    rows = np.array([True, True, True, False, True, True])
    for name, function, kind, extra in (
        ("logits-kd-T2-mask", "kl_divergence", "kl", {"temperature": 2.0}),
        ("logits-ce-mask", "cross_entropy", "ce", {}),
        ("logits-gjsd-beta0.1-T2-mask", "js_divergence", "js", {"beta": 0.1, "temperature": 2.0}),
        ("logits-gjsd-beta0.5-mask", "js_divergence", "js", {"beta": 0.5}),
        ("logits-gjsd-beta0.9-mask", "js_divergence", "js", {"beta": 0.9}),
        ("logits-jsd-mask", "js_divergence", "js", {}),
    ):
        for reduction in ("none", "mean"):
            kwargs = {"inputs": "logits", "where": rows, "reduction": reduction, **extra}
            add(
                FunctionCase(
                    f"{name}-{reduction}",
                    function,
                    (teacher, student),
                    kwargs,
                    reference=functools.partial(ref.reference_logits, kind=kind),
                    source="float64 log-softmax formulas (parity/reference.py)",
                )
            )
    x = np.arange(-10, 10, 0.001)
    add(
        FunctionCase(
            "seed-grid-integral",
            "kl_divergence",
            (_normal_pdf(x, 0, 2), _normal_pdf(x, 2, 2)),
            {"dx": 0.001},
            reference=lambda p, q, dx: ref.reference_grid(p, q, dx),
            expected=0.5,
            expected_atol=1e-6,
            source="seed 001 with dx: the continuous KL, 0.5 (not 500)",
        )
    )
    return out


def _all_function_cases() -> list[FunctionCase]:
    from kl_backends.parity.families import family_cases

    return [*_build_function_cases(), *family_cases()]


FUNCTION_CASES: tuple[FunctionCase, ...] = tuple(_all_function_cases())
