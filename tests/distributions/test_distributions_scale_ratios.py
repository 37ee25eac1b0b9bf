"""kl_backends.distributions at extreme scales, against mpmath and torch.distributions.

* every registered pair between scale families, with p's or q's scale moved by 1e-30 .. 1e30,
  in float64 and float32, against the closed form in mpmath at 50 digits
  (``-H(p) - E_p[log q]`` from p's moments): a KL that float can hold is finite and accurate,
  one beyond float's range is ``+inf``, never NaN;
* both distributions scaled together (the KL does not change) against torch.distributions
  at unit scale, float64 and float32;
* the reported values, cross-entropy at extreme scales, VonMises at concentrations up to 1e15.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from _mpmath_kl import (
    CROSS_ENTROPY,
    MOMENTS,
    ce_gamma,
    ce_normal,
    check_value,
    float_kl,
    m_gamma,
    m_normal,
    mp_kl,
)

import kl_backends.distributions as D
from conftest import need

SCALES = (1e-30, 1e-20, 1e-10, 1e10, 1e20, 1e30)


# --- the scale families: unit parameters and where their scale goes ------------------------

# name: (parameters at unit scale, how scale c enters, builder)
SCALED: dict[str, tuple[tuple[float, ...], Callable[[tuple, float], tuple], Callable]] = {
    "Normal": ((0.3, 1.2), lambda v, c: (v[0] * c, v[1] * c), D.Normal),
    "Laplace": ((0.2, 0.9), lambda v, c: (v[0] * c, v[1] * c), D.Laplace),
    "Gumbel": ((0.1, 1.1), lambda v, c: (v[0] * c, v[1] * c), D.Gumbel),
    "Cauchy": ((0.5, 1.5), lambda v, c: (v[0] * c, v[1] * c), D.Cauchy),
    "HalfNormal": ((1.3,), lambda v, c: (v[0] * c,), D.HalfNormal),
    "Uniform": ((1.2, 2.5), lambda v, c: (v[0] * c, v[1] * c), D.Uniform),
    "Exponential": ((1.3,), lambda v, c: (v[0] / c,), D.Exponential),
    "Gamma": ((2.5, 1.5), lambda v, c: (v[0], v[1] / c), D.Gamma),
    "InverseGamma": ((2.5, 1.5), lambda v, c: (v[0], v[1] * c), D.InverseGamma),
    "Pareto": ((1.5, 3.5), lambda v, c: (v[0] * c, v[1]), D.Pareto),
    "Weibull": ((1.4, 1.7), lambda v, c: (v[0] * c, v[1]), D.Weibull),
    "Poisson": ((1.3,), lambda v, c: (v[0] * c,), D.Poisson),
    "LogNormal": ((0.3, 1.2), lambda v, c: (v[0], v[1] * c), D.LogNormal),  # shape, not scale
}
# q's unit parameters (different from p's, so that no pair is trivially 0)
Q_UNIT = {
    "Normal": (0.9, 0.7), "Laplace": (-0.4, 1.6), "Gumbel": (0.6, 0.8), "Cauchy": (-0.2, 0.6),
    "HalfNormal": (0.8,), "Uniform": (0.5, 3.0), "Exponential": (0.6,), "Gamma": (1.7, 0.8),
    "InverseGamma": (3.5, 2.5), "Pareto": (1.0, 2.5), "Weibull": (2.0, 1.2), "Poisson": (0.6,),
    "LogNormal": (0.9, 0.7),
}  # fmt: skip
P_ONLY = {"Beta": (D.Beta, (2.5, 1.5))}  # p families without a scale (against scaled q)


def _ratio_cases() -> list[tuple[str, str, str]]:
    out = []
    for pname, qname in D.registered_pairs():
        if qname not in SCALED or (pname not in SCALED and pname not in P_ONLY):
            continue
        if qname not in CROSS_ENTROPY and pname != qname:
            continue
        if pname not in MOMENTS and pname != qname:
            continue
        sides = ("q",) if pname in P_ONLY else ("p", "q", "opposite")
        out += [(pname, qname, side) for side in sides]
    return out


RATIO_CASES = _ratio_cases()


def _build(name: str, values: tuple, dtype: Any) -> Any:
    ctor = SCALED[name][2] if name in SCALED else P_ONLY[name][0]
    return ctor(*(np.asarray(v, dtype=dtype) for v in values))


def _unit(name: str, side: str) -> tuple:
    if name in P_ONLY:
        return P_ONLY[name][1]
    return SCALED[name][0] if side == "p" else Q_UNIT[name]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("pname", "qname", "side"), RATIO_CASES, ids=lambda x: str(x))
def test_scale_ratio_against_mpmath(pname: str, qname: str, side: str, dtype: Any) -> None:
    """One side's scale moved by 1e-30 .. 1e30 (or p's by 1/c and q's by c): finite and
    accurate, or +inf beyond the float range."""
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for c in SCALES:
        pv, qv = _unit(pname, "p"), _unit(qname, "q")
        if side in ("p", "opposite"):
            pv = SCALED[pname][1](pv, 1 / c if side == "opposite" else c)
        if side in ("q", "opposite"):
            qv = SCALED[qname][1](qv, c)
        # the oracle sees the parameters as rounded to the dtype
        pv = tuple(float(np.asarray(v, dtype=dtype)) for v in pv)
        qv = tuple(float(np.asarray(v, dtype=dtype)) for v in qv)
        exact = mp_kl(pname, qname, tuple(map(mp.mpf, pv)), tuple(map(mp.mpf, qv)))
        got = float_kl(_build(pname, pv, dtype), _build(qname, qv, dtype))
        check_value(got, exact, dtype, rtol, f"KL({pname}{pv} || {qname}{qv})")


def test_issue_values() -> None:
    """The reported values, against torch.distributions and mpmath."""
    torch = need("torch")
    T = torch.distributions

    def t(*v: float) -> Any:
        return [torch.tensor(x, dtype=torch.float64) for x in v]

    cases = [
        (D.Normal(0.0, 1.0), D.Normal(0.0, 1e10), T.Normal(*t(0, 1)), T.Normal(*t(0, 1e10))),
        (D.Normal(0.0, 1.0), D.Normal(0.0, 1e20), T.Normal(*t(0, 1)), T.Normal(*t(0, 1e20))),
        (D.Normal(0.0, 1e-30), D.Normal(0.0, 1e30), T.Normal(*t(0, 1e-30)), T.Normal(*t(0, 1e30))),
        (D.Gamma(2.0, 1e50), D.Gamma(2.0, 1.0), T.Gamma(*t(2, 1e50)), T.Gamma(*t(2, 1))),
    ]
    for p, q, tp, tq in cases:
        np.testing.assert_allclose(float_kl(p, q), float(T.kl_divergence(tp, tq)), rtol=1e-14)
    # float32 at 1e-30 and 1e30, where the KL is that of unit scale (x -> c x keeps it)
    f32 = np.float32
    ref = float(mp_kl("Cauchy", "Cauchy", (mp.mpf(0), mp.mpf(1)), (mp.mpf(1), mp.mpf(2))))
    got = float_kl(D.Cauchy(f32(0), f32(1e-30)), D.Cauchy(f32(1e-30), f32(2e-30)))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    ref = float(T.kl_divergence(T.Laplace(*t(0, 1)), T.Normal(*t(0.5, 2))))
    got = float_kl(D.Laplace(f32(0), f32(1e30)), D.Normal(f32(5e29), f32(2e30)))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    exact = mp_kl("Weibull", "Weibull", (mp.mpf(1), mp.mpf(2)), (mp.mpf("1e20"), mp.mpf(3)))
    check_value(
        float_kl(D.Weibull(1.0, 2.0), D.Weibull(1e20, 3.0)), exact, np.float64, 1e-14, "Weibull"
    )


JOINT = {n for n in SCALED if n not in ("Poisson", "LogNormal")}  # scaling x scales both
JOINT_PAIRS = [(a, b) for a, b in D.registered_pairs() if a in JOINT and b in JOINT]


def _torch_kl(pname: str, qname: str, pv: tuple, qv: tuple) -> float | None:
    """torch.distributions' float64 KL, or None where torch lacks the pair."""
    torch = need("torch")
    T = torch.distributions

    def build(name: str, v: tuple) -> Any:
        return getattr(T, name)(*(torch.tensor(x, dtype=torch.float64) for x in v))

    try:
        return float(T.kl_divergence(build(pname, pv), build(qname, qv)))
    except NotImplementedError:
        return None


@pytest.mark.parametrize(("pname", "qname"), JOINT_PAIRS, ids=lambda x: str(x))
def test_joint_scale_invariance(pname: str, qname: str) -> None:
    """Both scaled by c (x -> c x): the KL of unit scale, from torch (mpmath where torch lacks it)."""
    pv, qv = SCALED[pname][0], Q_UNIT[qname]
    ref = _torch_kl(pname, qname, pv, qv)
    if ref is None:
        exact = mp_kl(pname, qname, tuple(map(mp.mpf, pv)), tuple(map(mp.mpf, qv)))
        ref = float(exact)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        for c in SCALES:
            p = _build(pname, SCALED[pname][1](pv, c), dtype)
            q = _build(qname, SCALED[qname][1](qv, c), dtype)
            got = float_kl(p, q)
            what = f"KL({pname} || {qname}) at scale {c:g} in {dtype.__name__}"
            if math.isinf(ref):
                assert got == math.inf, f"{what}: {got!r}"
            else:
                np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-15, err_msg=what)


def test_cross_entropy_at_extreme_scales() -> None:
    """cross_entropy = H(p) + KL: finite where mpmath's -E_p[log q] is representable."""
    for pv, qv in (((0.0, 1.0), (0.0, 1e20)), ((0.0, 1e-30), (0.0, 1e30))):
        exact = ce_normal(m_normal(*map(mp.mpf, pv)), *map(mp.mpf, qv))
        got = float(D.cross_entropy(D.Normal(*pv), D.Normal(*qv)))
        check_value(got, exact, np.float64, 1e-14, "cross_entropy(Normal, Normal)")
    exact = ce_gamma(m_gamma(mp.mpf(2), mp.mpf("1e50")), mp.mpf(2), mp.mpf(1))
    got = float(D.cross_entropy(D.Gamma(2.0, 1e50), D.Gamma(2.0, 1.0)))
    np.testing.assert_allclose(got, float(exact), rtol=1e-13)


@pytest.mark.parametrize("kp", [1e8, 1e15])
@pytest.mark.parametrize("kq", [0.5, 3.0, 1e3, 1e12])
def test_vonmises_large_concentration(kp: float, kq: float) -> None:
    """VonMises at concentrations up to 1e15 (scale ~ 1/sqrt(k)) against mpmath's Bessel functions.

    ``k_p - A(k_p) k_p`` cancelled there (17.75 for 17.688 at 1e15).
    """

    def ratio(k: Any) -> Any:
        return mp.besseli(1, k) / mp.besseli(0, k)

    mp_, mq = mp.mpf(0.3), mp.mpf(1.1)
    a, b = mp.mpf(kp), mp.mpf(kq)
    exact = mp.log(mp.besseli(0, b) / mp.besseli(0, a)) + ratio(a) * (a - b * mp.cos(mp_ - mq))
    got = float_kl(D.VonMises(0.3, kp), D.VonMises(1.1, kq))
    check_value(got, exact, np.float64, 1e-12, f"VonMises({kp}) || VonMises({kq})")
    h = mp.log(2 * mp.pi * mp.besseli(0, a)) - a * ratio(a)
    np.testing.assert_allclose(float(D.entropy(D.VonMises(0.3, kp))), float(h), rtol=1e-13)
