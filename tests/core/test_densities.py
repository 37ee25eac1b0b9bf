"""``kl_from_densities``: continuous KL from densities on a grid (the trapezoid rule).

References are independent: the closed form of KL between two normals, SciPy's
``integrate.quad`` of ``p log(p / q)`` and ``integrate.trapezoid`` of
``special.rel_entr`` on the same grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import rel_entr

from conftest import need
from kl_backends import kl_from_densities
from kl_backends._dispatch import backend_of


def _np(on, x):
    assert backend_of(x).name == on.name
    return on.to_numpy(x)


def normal_kl(m1: float, s1: float, m2: float, s2: float) -> float:
    """KL(N(m1, s1^2) || N(m2, s2^2)), the textbook closed form."""
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


X = np.linspace(-20.0, 22.0, 8401)  # covers N(0, 2) and N(1, 3) far into their tails
P, Q = stats.norm.pdf(X, 0, 2), stats.norm.pdf(X, 1, 3)
WANT = normal_kl(0, 2, 1, 3)


def test_normals_against_the_closed_form(backend) -> None:
    f = backend.asarray
    by_dx = kl_from_densities(f(P), f(Q), dx=float(X[1] - X[0]))
    by_x = kl_from_densities(f(P), f(Q), x=f(X))
    assert _np(backend, by_dx) == pytest.approx(WANT, rel=1e-6)
    assert _np(backend, by_x) == pytest.approx(WANT, rel=1e-6)
    logs = kl_from_densities(
        f(stats.norm.logpdf(X, 0, 2)), f(stats.norm.logpdf(X, 1, 3)), x=f(X), inputs="log_probs"
    )
    assert _np(backend, logs) == pytest.approx(WANT, rel=1e-6)


def test_beta_densities_against_quad(backend) -> None:
    """Beta(2, 3) against Beta(3, 2): both densities are 0 at the ends (0 log 0 = 0)."""
    x = np.linspace(0.0, 1.0, 20001)
    p, q = stats.beta.pdf(x, 2, 3), stats.beta.pdf(x, 3, 2)
    want, _ = integrate.quad(
        lambda t: (
            stats.beta.pdf(t, 2, 3) * math.log(stats.beta.pdf(t, 2, 3) / stats.beta.pdf(t, 3, 2))
        ),
        0,
        1,
        epsabs=1e-13,
    )
    got = _np(
        backend, kl_from_densities(backend.asarray(p), backend.asarray(q), x=backend.asarray(x))
    )
    assert np.isfinite(got)
    assert got == pytest.approx(want, abs=1e-7)
    # The trapezoid rule of scipy's rel_entr on the very grid: the same sum.
    assert got == pytest.approx(integrate.trapezoid(rel_entr(p, q), x), rel=1e-12)


def test_uneven_grid_is_scipys_trapezoid(backend) -> None:
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(-9, 9, 700))
    p, q = stats.norm.pdf(x, 0, 1.5), stats.norm.pdf(x, 0.5, 2)
    got = kl_from_densities(backend.asarray(p), backend.asarray(q), x=backend.asarray(x))
    want = integrate.trapezoid(rel_entr(p, q), x)
    np.testing.assert_allclose(_np(backend, got), want, rtol=1e-12)


def test_normalize_divides_each_density_by_its_integral(backend) -> None:
    x = np.linspace(-3, 3, 601)  # truncates both densities
    p, q = stats.norm.pdf(x, 0, 1), stats.norm.pdf(x, 0.5, 1.2)
    pn, qn = p / integrate.trapezoid(p, x), q / integrate.trapezoid(q, x)
    want = integrate.trapezoid(rel_entr(pn, qn), x)
    f = backend.asarray
    got = kl_from_densities(f(3 * p), f(5 * q), dx=0.01, normalize=True)
    np.testing.assert_allclose(_np(backend, got), want, rtol=1e-10)
    logs = kl_from_densities(
        f(np.log(3 * p)), f(np.log(5 * q)), dx=0.01, normalize=True, inputs="log_probs"
    )
    np.testing.assert_allclose(_np(backend, logs), want, rtol=1e-10)


def test_batches_axes_reductions_and_base(backend) -> None:
    locs = np.array([0.0, 0.5, -1.0])
    p = stats.norm.pdf(X[None, :], locs[:, None], 2)  # [3, n]
    q = stats.norm.pdf(X, 1, 3)  # [n], broadcast
    want = np.array([normal_kl(m, 2, 1, 3) for m in locs])
    f = backend.asarray
    dx = float(X[1] - X[0])
    np.testing.assert_allclose(_np(backend, kl_from_densities(f(p), f(q), dx=dx)), want, rtol=1e-6)
    along0 = kl_from_densities(f(p.T), f(q[:, None]), dx=dx, axis=0)
    np.testing.assert_allclose(_np(backend, along0), want, rtol=1e-6)
    kept = kl_from_densities(f(p), f(q), dx=dx, keepdims=True)
    assert tuple(kept.shape) == (3, 1)
    total = kl_from_densities(f(p), f(q), dx=dx, reduction="sum")
    assert _np(backend, total) == pytest.approx(want.sum(), rel=1e-6)
    mean_bits = kl_from_densities(f(p), f(q), dx=dx, reduction="mean", base=2)
    assert _np(backend, mean_bits) == pytest.approx(want.mean() / math.log(2), rel=1e-6)


def test_zeros_follow_rel_entr(backend) -> None:
    f = backend.asarray
    p, q = np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.5, 0.5])
    got = _np(backend, kl_from_densities(f(p), f(q), dx=1.0))
    want = integrate.trapezoid(rel_entr(p, q), dx=1.0)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    inf = _np(backend, kl_from_densities(f(q), f(p), dx=1.0))  # q > 0 where p == 0
    assert inf == math.inf


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [{}, {"dx": 0.1, "x": np.arange(4.0)}], ids=["neither", "both"])
def test_exactly_one_of_dx_and_x(grid) -> None:
    with pytest.raises(TypeError, match=r"exactly one of dx= .* and x= .*; got (neither|both)"):
        kl_from_densities(P[:4], Q[:4], **grid)


@pytest.mark.parametrize("inputs", ["logits", ("probs", "logits"), "densities"])
def test_inputs_are_densities_or_log_densities(inputs) -> None:
    with pytest.raises(ValueError, match="inputs"):
        kl_from_densities(P[:4], Q[:4], dx=0.1, inputs=inputs)


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="integrates along one axis"):
        kl_from_densities(np.ones((2, 3)), np.ones((2, 3)), dx=0.1, axis=(0, 1))
    with pytest.raises(ValueError, match="at least 2 points"):
        kl_from_densities([1.0], [1.0], dx=0.1)
    with pytest.raises(ValueError, match=r"x must be 1-D with one coordinate per grid point \(4\)"):
        kl_from_densities(P[:4], Q[:4], x=np.arange(5.0))
    with pytest.raises(ValueError, match="reduction"):
        kl_from_densities(P[:4], Q[:4], dx=0.1, reduction="batchmean")


def test_validate() -> None:
    dx = float(X[1] - X[0])
    out = kl_from_densities(P, Q, dx=dx, validate=True)
    assert float(out) == pytest.approx(WANT, rel=1e-6)
    with pytest.raises(ValueError, match="p does not integrate to 1"):
        kl_from_densities(2 * P, Q, dx=dx, validate=True)
    # normalize=True makes the integral irrelevant.
    norm = kl_from_densities(2 * P, Q, dx=dx, validate=True, normalize=True)
    assert float(norm) == pytest.approx(WANT, rel=1e-6)
    bad = Q.copy()
    bad[3] = -1e-3
    with pytest.raises(ValueError, match="q has negative or infinite densities"):
        kl_from_densities(P, bad, dx=dx, validate=True)
    bad[3] = math.nan
    with pytest.raises(ValueError, match="q contains NaN"):
        kl_from_densities(P, bad, dx=dx, validate=True)
    with pytest.raises(ValueError, match=r"p has log densities of \+inf"):
        kl_from_densities(
            np.full(4, math.inf), np.zeros(4), dx=0.1, inputs="log_probs", validate=True
        )


def test_under_jax_jit_with_an_array_step() -> None:
    jax = need("jax")
    jnp = jax.numpy
    f = jax.jit(lambda p, q, dx: kl_from_densities(p, q, dx=dx))
    got = f(jnp.asarray(P), jnp.asarray(Q), jnp.asarray(X[1] - X[0]))
    assert float(got) == pytest.approx(WANT, rel=1e-5)
