"""kl_backends.distributions with tiny probabilities, against mpmath.

Bernoulli, Binomial, Geometric (from probabilities and from logits, and their
entropies) and ContinuousBernoulli near 0 and near 1.
"""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import pytest
from _mpmath_kl import check_value, float_kl

import kl_backends.distributions as D

# --- tiny probabilities ------------------------------------------------------------------------

TINY = [(1e-12, 1e-10), (1e-10, 1e-12), (1e-300, 1e-200), (0.3, 0.3 + 1e-9), (1e-8, 0.5)]


def _mp_bernoulli(p: Any, q: Any) -> Any:
    t1 = 0 if p == 0 else p * mp.log(p / q)
    return t1 + (1 - p) * (mp.log1p(-p) - mp.log1p(-q))


@pytest.mark.parametrize(("a", "b"), TINY)
def test_tiny_probabilities_bernoulli_binomial_geometric(a: float, b: float) -> None:
    """Bernoulli, Binomial (n times it) and Geometric (it over p), against mpmath."""
    pa, pb = mp.mpf(a), mp.mpf(b)
    bern = _mp_bernoulli(pa, pb)
    check_value(
        float_kl(D.Bernoulli(probs=a), D.Bernoulli(probs=b)), bern, np.float64, 1e-13, "Bernoulli"
    )
    got = float_kl(D.Binomial(7.0, probs=a), D.Binomial(7.0, probs=b))
    check_value(got, 7 * bern, np.float64, 1e-13, "Binomial")
    geom = mp.log(pa / pb) + (1 - pa) / pa * (mp.log1p(-pa) - mp.log1p(-pb))
    check_value(
        float_kl(D.Geometric(probs=a), D.Geometric(probs=b)), geom, np.float64, 1e-13, "Geometric"
    )
    if 1e-30 < a < 0.1 and 1e-30 < b < 0.1:  # logits of tiny probabilities: log p - log(1 - p)
        la, lb = (float(mp.log(x) - mp.log1p(-x)) for x in (pa, pb))
        got = float_kl(D.Bernoulli(logits=la), D.Bernoulli(logits=lb))
        check_value(got, bern, np.float64, 1e-9, "Bernoulli from logits")  # the logits' rounding
    # the entropies share the (1 - p) log(1 - p) term
    h = -(pa * mp.log(pa) + (1 - pa) * mp.log1p(-pa))
    np.testing.assert_allclose(float(D.entropy(D.Bernoulli(probs=a))), float(h), rtol=1e-14)
    np.testing.assert_allclose(float(D.entropy(D.Geometric(probs=a))), float(h / pa), rtol=1e-14)


def _mp_cb(lam: Any) -> tuple[Any, Any, Any]:
    """(log C, mean, logit) of ContinuousBernoulli(lam) in mpmath."""
    x = 1 - 2 * lam
    log_c = mp.log(2 * mp.atanh(x) / x)
    mean = lam / (2 * lam - 1) + 1 / (2 * mp.atanh(x))
    return log_c, mean, mp.log(lam) - mp.log1p(-lam)


@pytest.mark.parametrize(("a", "b"), [(1e-12, 1e-10), (1e-10, 0.3), (0.3, 1e-12), (1e-6, 1e-5)])
def test_tiny_probabilities_continuous_bernoulli(a: float, b: float) -> None:
    (cp, mp_, gp), (cq, _, gq) = _mp_cb(mp.mpf(a)), _mp_cb(mp.mpf(b))
    exact = mp_ * (gp - gq) + cp - cq + mp.log1p(-mp.mpf(a)) - mp.log1p(-mp.mpf(b))
    got = float_kl(D.ContinuousBernoulli(probs=a), D.ContinuousBernoulli(probs=b))
    check_value(got, exact, np.float64, 1e-12, "ContinuousBernoulli")
    # near 1 (the oracle takes the rounded float64 parameters 1 - a, 1 - b)
    la, lb = mp.mpf(1 - a), mp.mpf(1 - b)
    got = float_kl(D.ContinuousBernoulli(probs=1 - a), D.ContinuousBernoulli(probs=1 - b))
    (cp, mp_, gp), (cq, _, gq) = _mp_cb(la), _mp_cb(lb)
    exact = mp_ * (gp - gq) + cp - cq + mp.log1p(-la) - mp.log1p(-lb)
    check_value(got, exact, np.float64, 1e-12, "ContinuousBernoulli near 1")
