"""Shared by the tests of kl_backends.distributions' registered pairs.

The pairs of tests/_families.py (all of them, and the same-family ones), random
parameters of a pair (q covering [0, 1] where p lives there), and the comparison of
a KL with its reference (the same infinities, then the finite values).
"""

from __future__ import annotations

import numpy as np

from _families import FAMILIES, pairs

PAIRS = pairs()
SAME = [(a, b) for a, b in PAIRS if a == b]
N = 4


def pair_params(pname: str, qname: str, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, *map(ord, pname + qname)])
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if qname == "Uniform" and pname in ("Beta", "ContinuousBernoulli"):
        # q must cover [0, 1]: the exact cover, wider ones, and one that does not.
        qq = {"low": np.array([0.0, -0.3, -1.0, 0.1]), "high": np.array([1.0, 1.2, 1.0, 2.0])}
    if pname == "Uniform" and qname in ("Beta", "ContinuousBernoulli"):
        pp["low"][0], pp["high"][0] = 0.0, 1.0  # the whole of [0, 1]
    return pp, qq


def convert(params: dict, f) -> dict:
    return {k: f(v) for k, v in params.items()}


def assert_kl(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float = 0.0) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=atol)
