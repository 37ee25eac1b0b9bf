"""Special functions of kl_backends.distributions: the generic array-API forms against SciPy,
and each framework's own function (``native_special``) against the generic form, values and
gradients, zeros, infinities and NaN included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sc

from conftest import need
from kl_backends._dispatch import backend_of
from kl_backends.distributions import special as S

GENERIC = {
    "lgamma": S._lgamma,
    "digamma": S._digamma,
    "erf": S._erf,
    "i0e": lambda xp, x: S._bessel_ie(xp, x, 0),
    "i1e": lambda xp, x: S._bessel_ie(xp, x, 1),
}
SCIPY = {"lgamma": sc.gammaln, "digamma": sc.psi, "erf": sc.erf, "i0e": sc.i0e, "i1e": sc.i1e}

POSITIVE = np.concatenate(
    [
        np.logspace(-8, 3, 300),
        np.linspace(0.5, 30, 300),
        [1.0, 2.0, 9.999, 10.0, 10.001, 1e10, 1e30],
    ]
)
REAL = np.concatenate([np.linspace(-6, 6, 601), [2.4999, 2.5, 2.5001, 40.0, -40.0, 1e-10, 0.0]])
BESSEL = np.concatenate(
    [
        np.linspace(0, 60, 601),
        np.logspace(-8, 4, 100),
        [19.999, 20.0, 20.001],
        -np.linspace(0, 50, 26),
    ]
)
DOMAIN = {"lgamma": POSITIVE, "digamma": POSITIVE, "erf": REAL, "i0e": BESSEL, "i1e": BESSEL}


def _xps():
    return need("array_api_strict")


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_against_scipy_float64(name: str) -> None:
    xps = _xps()
    x = DOMAIN[name]
    got = np.asarray(GENERIC[name](xps, xps.asarray(x)))
    expected = SCIPY[name](x)
    # Relative accuracy, except near the zeros of lgamma (1, 2) and digamma (1.4616...),
    # where the absolute error (~1e-15) is what a float64 computation can give.
    atol = {"lgamma": 1e-14, "digamma": 2e-15}.get(name, 0.0)
    np.testing.assert_allclose(got, expected, rtol=2e-14, atol=atol)


def test_generic_special_values() -> None:
    xps = _xps()
    a = xps.asarray([0.0, -1.0, math.nan, math.inf])
    lg = np.asarray(S._lgamma(xps, a))
    assert lg[0] == math.inf and np.isnan(lg[1]) and np.isnan(lg[2]) and lg[3] == math.inf
    dg = np.asarray(S._digamma(xps, a))
    assert dg[0] == -math.inf and np.isnan(dg[1]) and np.isnan(dg[2]) and dg[3] == math.inf
    e = np.asarray(S._erf(xps, xps.asarray([math.inf, -math.inf, 0.0])))
    np.testing.assert_array_equal(e, [1.0, -1.0, 0.0])
    b = np.asarray(S._bessel_ie(xps, xps.asarray([0.0, math.inf, -math.inf]), 0))
    np.testing.assert_array_equal(b, [1.0, 0.0, 0.0])
    b1 = np.asarray(S._bessel_ie(xps, xps.asarray([0.0, math.inf, -math.inf]), 1))
    np.testing.assert_array_equal(b1, [0.0, 0.0, -0.0])
    assert float(S.log_i0e(xps.asarray(0.0))) == 0.0
    np.testing.assert_allclose(
        np.asarray(S.betaln(xps.asarray([2.0, 0.5]), xps.asarray([3.0, 40.0]))),
        sc.betaln([2.0, 0.5], [3.0, 40.0]),
        rtol=1e-13,
    )


def test_generic_float32_in_float64() -> None:
    xps = _xps()
    x = POSITIVE[POSITIVE < 1e30].astype(np.float32)
    got = S.lgamma(xps.asarray(x))
    assert got.dtype == xps.float32
    ref = sc.gammaln(x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-7, atol=2e-7)


def test_native_special_choice() -> None:
    assert S.native_special("lgamma", np.ones(2)) is sc.gammaln
    assert S.native_special("cos", np.ones(2)) is None  # the array API's own
    xps = _xps()
    assert S.native_special("lgamma", xps.ones(2)) is None
    torch = need("torch")
    assert S.native_special("i0e", torch.ones(2)) is torch.special.i0e
    assert S.native_special("nonexistent", torch.ones(2)) is None


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_native_agrees_with_generic(backend, name: str) -> None:
    x = DOMAIN[name]
    x = x[np.abs(x) < 1e29]
    arr = backend.asarray(x)
    xp = backend_of(arr).xp
    native = getattr(S, name)(arr)
    assert backend_of(native).name == backend.name
    generic = GENERIC[name](xp, arr)
    atol = {"lgamma": 1e-14, "digamma": 2e-15}.get(name, 1e-300)
    np.testing.assert_allclose(
        backend.to_numpy(native), backend.to_numpy(generic), rtol=5e-14, atol=atol
    )


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_native_gradients_agree_with_generic(ad, dtype: str, name: str) -> None:
    from _gradients import grad

    x = {"lgamma": [0.3, 1.0, 2.5, 9.0, 11.0, 40.0], "digamma": [0.3, 1.0, 2.5, 9.0, 11.0, 40.0],
         "erf": [-3.0, -0.5, 0.0, 0.7, 2.4, 2.6, 5.0], "i0e": [0.0, 0.5, 3.0, 19.0, 21.0, 80.0, -2.0],
         "i1e": [0.0, 0.5, 3.0, 19.0, 21.0, 80.0, -2.0]}[name]  # fmt: skip
    arr = ad.asarray(x, dtype)
    (g_native,) = grad(ad, getattr(S, name), [arr])

    def generic(a):  # as S.<name> runs it where no native function exists: float32 in float64
        xp = backend_of(a).xp
        return xp.astype(GENERIC[name](xp, xp.astype(a, xp.float64)), a.dtype)

    (g_generic,) = grad(ad, generic, [arr])
    rtol = 1e-12 if dtype == "float64" else 2e-5
    if name == "digamma" and dtype == "float64":
        rtol = 1e-8  # PyTorch's trigamma (the native gradient) is accurate to ~5e-10 only
    np.testing.assert_allclose(g_native, g_generic, rtol=rtol, atol=rtol * 1e-2)
    assert np.isfinite(g_generic).all()
