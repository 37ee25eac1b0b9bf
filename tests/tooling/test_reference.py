"""The float64 reference itself, checked against SciPy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import log_softmax, rel_entr

from kl_backends.parity.cases import CASES, inputs_for
from kl_backends.parity.reference import reference_kl


@pytest.mark.parametrize("case", [c for c in CASES if c.kinds[0] == "probs"], ids=repr)
def test_reference_matches_scipy_rel_entr(case) -> None:
    kw = case.kwargs
    axis = kw.get("axis", -1)
    with np.errstate(invalid="ignore"):
        expected = rel_entr(*np.broadcast_arrays(case.p, case.q)).sum(
            axis=axis, keepdims=kw.get("keepdims", False)
        )
    if kw.get("reduction") == "sum":
        expected = expected.sum(keepdims=kw.get("keepdims", False))
    elif kw.get("reduction") == "mean":
        expected = expected.mean(keepdims=kw.get("keepdims", False))
    if kw.get("base") is not None:
        expected = expected / math.log(kw["base"])
    got = reference_kl(case.p, case.q, **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", [c for c in CASES if "logits" in c.kinds], ids=repr)
def test_reference_logits_match_scipy_log_softmax(case) -> None:
    axis = case.kwargs.get("axis", -1)
    lp, lq = inputs_for(case, "logits")
    lp, lq = np.broadcast_arrays(lp, lq)
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = log_softmax(lp, axis=axis), log_softmax(lq, axis=axis)
        terms = np.where(a == -np.inf, 0.0, np.exp(a) * (a - b))
    kw = {k: v for k, v in case.kwargs.items() if k != "reduction"}
    expected = terms.sum(axis=axis, keepdims=kw.get("keepdims", False))
    if kw.get("base") is not None:
        expected = expected / math.log(kw["base"])
    got = reference_kl(lp, lq, inputs="logits", **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def test_reference_conventions() -> None:
    assert reference_kl([0.0, 1.0], [0.0, 1.0]) == 0.0  # 0 log 0/0 = 0
    assert reference_kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert math.isnan(reference_kl([math.nan, 1.0], [0.5, 0.5]))
    assert reference_kl([-math.inf, 0.0], [0.0, -math.inf], inputs="log_probs") == math.inf
    # Kullback's example by hand.
    by_hand = 0.36 * math.log(0.36 * 3) + 0.48 * math.log(0.48 * 3) + 0.16 * math.log(0.16 * 3)
    assert reference_kl([0.36, 0.48, 0.16], [1 / 3] * 3) == pytest.approx(by_hand, rel=1e-15)
