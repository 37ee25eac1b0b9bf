"""Gradients of kl_backends.distributions' closed forms on every autodiff backend.

Finite (and zero, for the smooth families) at identical distributions; finite at
the edges of the parameter domains.
"""

from __future__ import annotations

import numpy as np
import pytest
from _distributions_refs import SAME, pair_params

import kl_backends.distributions as D
from _families import FAMILIES

# --- gradients ------------------------------------------------------------------------------

# Parameters at the edges of their domains (and ordinary ones) per same-family pair.
EDGES = {
    "Bernoulli": ({"probs": [0.0, 1.0, 0.3]}, {"probs": [0.5, 0.5, 0.3]}),
    "Geometric": ({"probs": [1.0, 0.5, 0.3]}, {"probs": [0.5, 0.5, 0.3]}),
    "Categorical": ({"probs": [[0.5, 0.5, 0.0]]}, {"probs": [[0.25, 0.25, 0.5]]}),
    "Poisson": ({"rate": [0.0, 2.0]}, {"rate": [3.0, 2.0]}),
    "VonMises": ({"loc": [0.0, 1.0], "concentration": [0.0, 1e-3]}, {"loc": [1.0, 1.0], "concentration": [0.0, 50.0]}),
    "ContinuousBernoulli": ({"probs": [0.5, 0.5 + 1e-9, 0.3]}, {"probs": [0.5, 0.5, 0.5]}),
    "Uniform": ({"low": [0.0, 0.2], "high": [1.0, 0.5]}, {"low": [0.0, 0.0], "high": [1.0, 1.0]}),
    "Beta": ({"concentration1": [1e-3, 1.0], "concentration0": [1.0, 1e3]}, {"concentration1": [1.0, 1.0], "concentration0": [1.0, 1.0]}),
    "Gamma": ({"concentration": [1e-3, 1e3], "rate": [1.0, 1.0]}, {"concentration": [1.0, 1.0], "rate": [1.0, 1.0]}),
}  # fmt: skip
_SMOOTH = {"Normal", "LogNormal", "HalfNormal", "Gumbel", "Gamma", "Chi2", "InverseGamma", "Beta",
           "Weibull", "VonMises", "Exponential", "Poisson", "Bernoulli", "Geometric", "Binomial",
           "Categorical", "OneHotCategorical", "Dirichlet", "Independent", "Cauchy",
           "ContinuousBernoulli"}  # fmt: skip


def _grads(ad, dtype, pname, qname, pp, qq):
    from _gradients import grad

    keys_p, keys_q = list(pp), list(qq)
    arrays = [ad.asarray(np.asarray(v, float), dtype) for v in (*pp.values(), *qq.values())]

    def fn(*xs):
        dp = FAMILIES[pname].ours(dict(zip(keys_p, xs[: len(keys_p)])))
        dq = FAMILIES[qname].ours(dict(zip(keys_q, xs[len(keys_p) :])))
        return D.kl(dp, dq)

    return grad(ad, fn, arrays)


@pytest.mark.parametrize(("pname", "qname"), SAME, ids=[a for a, _ in SAME])
def test_gradients_finite_at_identical(ad, dtype: str, pname: str, qname: str) -> None:
    if pname == "Binomial":  # total_count is not differentiable
        _binomial_grads(ad, dtype)
        return
    pp, _ = pair_params(pname, qname)
    grads = _grads(ad, dtype, pname, qname, pp, pp)
    for g in grads:
        assert np.isfinite(g).all(), (pname, g)
        if pname in _SMOOTH:  # KL has its minimum at q = p: zero gradient there
            np.testing.assert_allclose(g, 0.0, atol=1e-4 if dtype == "float32" else 1e-10)


def _binomial_grads(ad, dtype):
    from _gradients import grad

    p = ad.asarray([0.3, 0.0, 1.0], dtype)
    (g,) = grad(
        ad,
        lambda a: D.kl(D.Binomial(7.0, a), D.Binomial(7.0, ad.asarray([0.3, 0.5, 0.5], dtype))),
        [p],
    )
    assert np.isfinite(g).all()


@pytest.mark.parametrize("name", sorted(EDGES))
def test_gradients_finite_at_edges(ad, dtype: str, name: str) -> None:
    pp, qq = EDGES[name]
    for g in _grads(ad, dtype, name, name, pp, qq):
        assert np.isfinite(g).all(), (name, g)


def test_gradients_finite_uniform_beta_edge(ad, dtype: str) -> None:
    from _gradients import grad

    args = [ad.asarray(v, dtype) for v in ([0.0, 0.2], [1.0, 0.5], [1.0, 2.0], [1.0, 3.0])]
    for g in grad(ad, lambda lo, hi, a, b: D.kl(D.Uniform(lo, hi), D.Beta(a, b)), args):
        assert np.isfinite(g).all()
