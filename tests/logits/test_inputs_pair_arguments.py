"""``inputs=(of p, of q)`` with the other keywords, and its errors.

Densities and log-densities on a grid (``kl_from_densities``: the trapezoid rule and
the normals' closed form), ``validate=`` checking each side in its kind, and errors
that name the allowed values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _inputs_pair_refs import base_logits, ref_value
from _logits_refs import log_softmax

from kl_backends import cross_entropy, entropy, js_divergence, kl_divergence, kl_from_densities

# --- other keywords: grid, validate; errors -------------------------------------------


def test_grid_with_densities_and_log_densities() -> None:
    x = np.linspace(-6, 8, 2001)
    p = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    lq = -0.5 * ((x - 2) / 1.5) ** 2 - math.log(1.5 * math.sqrt(2 * math.pi))
    # Trapezoid rule of p log(p / q) on the grid, and the closed form for normals.
    want = np.trapezoid(p * (np.log(p) - lq), x)
    for kinds, a, b in (
        (("probs", "log_probs"), p, lq),
        (("log_probs", "probs"), np.log(p), np.exp(lq)),
    ):
        out = kl_from_densities(a, b, inputs=kinds, x=x)
        np.testing.assert_allclose(out, want, rtol=1e-12)
        np.testing.assert_allclose(
            kl_from_densities(a, b, inputs=kinds, dx=x[1] - x[0]), want, rtol=1e-10
        )
    closed = math.log(1.5) + (1 + 4) / (2 * 1.5**2) - 0.5
    np.testing.assert_allclose(want, closed, rtol=1e-4)
    with pytest.raises(ValueError, match="kl_from_densities takes inputs='probs'"):
        kl_from_densities(p, lq, inputs=("probs", "logits"), x=x)


def test_validate_checks_each_side_in_its_kind() -> None:
    zp, zq = base_logits()
    p, z = np.exp(log_softmax(zp[[0, 5]])), zq[[0, 5]]
    out = kl_divergence(p, z, inputs=("probs", "logits"), validate=True)
    np.testing.assert_allclose(out, ref_value("kl", p, z, ("probs", "logits")), rtol=1e-12)
    with pytest.raises(ValueError, match="p does not sum to 1"):
        kl_divergence(p * 2, z, inputs=("probs", "logits"), validate=True)
    with pytest.raises(ValueError, match="q has log-probabilities above 0"):
        kl_divergence(p, z, inputs=("probs", "log_probs"), validate=True)


def test_errors_name_the_allowed_values() -> None:
    p, z = np.full((2, 3), 1 / 3), np.zeros((2, 3))
    allowed = r"'probs', 'log_probs', 'logits'"
    for fn in (kl_divergence, cross_entropy, js_divergence):
        with pytest.raises(ValueError, match=r"or a pair of them.*length 3"):
            fn(p, z, inputs=("probs", "logits", "logits"))
        with pytest.raises(ValueError, match=r"or a pair of them.*length 1"):
            fn(p, z, inputs=("probs",))
        with pytest.raises(
            ValueError,
            match=f"inputs\\[1\\] \\(the inputs of q\\) must be one of {allowed}; got 'logit'",
        ):
            fn(p, z, inputs=("probs", "logit"))
        with pytest.raises(ValueError, match=f"inputs\\[0\\].*must be one of {allowed}; got 1"):
            fn(p, z, inputs=(1, "logits"))
        with pytest.raises(ValueError, match=f"inputs must be one of {allowed}"):
            fn(p, z, inputs="prob")
        with pytest.raises(ValueError, match="or a pair of them"):
            fn(p, z, inputs={"probs", "logits"})
        with pytest.raises(ValueError, match="temperature applies to logits"):
            fn(p, np.log(p), inputs=("probs", "log_probs"), temperature=2.0)
    with pytest.raises(ValueError, match=f"inputs must be one of {allowed}"):
        entropy(p, inputs=("probs", "logits"))
    with pytest.raises(ValueError, match="at least one logit per distribution"):
        kl_divergence(np.zeros((2, 0)), np.zeros((2, 0)), inputs=("probs", "logits"))
