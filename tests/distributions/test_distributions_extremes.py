"""kl_backends.distributions at the extremes: scale ratios, tiny probabilities, exact zeros.

* every registered pair between scale families, with p's or q's scale moved by 1e-30 .. 1e30,
  in float64 and float32, against the closed form written here in mpmath at 50 digits
  (``-H(p) - E_p[log q]`` from p's moments): a KL that float can hold is finite and accurate,
  one beyond float's range is ``+inf``, never NaN;
* both distributions scaled together (the KL does not change) against torch.distributions
  at unit scale, float64 and float32;
* tiny probabilities (Bernoulli, Binomial, Geometric, Categorical, ContinuousBernoulli)
  against mpmath;
* ``kl(p, p)`` is exactly 0 for every family and no KL is negative from rounding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np
import pytest

import kl_backends.distributions as D
from conftest import need

mp.mp.dps = 50
EG = mp.euler
SCALES = (1e-30, 1e-20, 1e-10, 1e10, 1e20, 1e30)


# --- the families in mpmath: entropy and the moments that log q needs ------------------------


class _Moments:
    """Entropy and moments of p in mpmath (only those a pair needs)."""

    def __init__(self, h: Any, mean: Any = None, var: Any = None, **more: Any) -> None:
        self.h, self.mean, self.var = h, mean, var
        self.elog = more.get("elog")  # E[log x]
        self.mexp = more.get("mexp")  # t -> E[exp(-t x)]
        self.mabs = more.get("mabs")  # c -> E|x - c|
        self.mpow = more.get("mpow")  # k -> E[x^k]
        self.einv = more.get("einv")  # E[1/x]
        self.support = more.get("support", (-mp.inf, mp.inf))


def _m_normal(m: Any, s: Any) -> _Moments:
    def mabs(c: Any) -> Any:
        d = m - c
        return s * mp.sqrt(2 / mp.pi) * mp.exp(-(d**2) / (2 * s**2)) + d * mp.erf(
            d / (s * mp.sqrt(2))
        )

    return _Moments(
        mp.log(2 * mp.pi * mp.e * s**2) / 2,
        m,
        s**2,
        mexp=lambda t: mp.exp(-t * m + t**2 * s**2 / 2),
        mabs=mabs,
    )


def _m_laplace(m: Any, b: Any) -> _Moments:
    return _Moments(
        1 + mp.log(2 * b),
        m,
        2 * b**2,
        mabs=lambda c: abs(m - c) + b * mp.exp(-abs(m - c) / b),
    )


def _m_gumbel(m: Any, s: Any) -> _Moments:
    return _Moments(
        mp.log(s) + 1 + EG,
        m + s * EG,
        mp.pi**2 * s**2 / 6,
        mexp=lambda t: mp.exp(-t * m) * mp.gamma(1 + t * s),
    )


def _m_uniform(lo: Any, hi: Any) -> _Moments:
    w = hi - lo

    def xlogx(x: Any) -> Any:
        return 0 if x == 0 else x * mp.log(x)

    return _Moments(
        mp.log(w),
        (lo + hi) / 2,
        w**2 / 12,
        elog=(xlogx(hi) - xlogx(lo)) / w - 1 if lo >= 0 else None,
        mexp=lambda t: mp.exp(-t * lo) * -mp.expm1(-t * w) / (t * w),
        support=(lo, hi),
    )


def _m_gamma(a: Any, b: Any) -> _Moments:
    return _Moments(
        a - mp.log(b) + mp.loggamma(a) + (1 - a) * mp.digamma(a),
        a / b,
        a / b**2,
        elog=mp.digamma(a) - mp.log(b),
        mexp=lambda t: (1 + t / b) ** (-a),
        support=(0, mp.inf),
    )


def _m_exponential(r: Any) -> _Moments:
    return _m_gamma(mp.mpf(1), r)


def _m_inversegamma(a: Any, b: Any) -> _Moments:
    return _Moments(
        a + mp.log(b) + mp.loggamma(a) - (1 + a) * mp.digamma(a),
        elog=mp.log(b) - mp.digamma(a),
        einv=a / b,
        support=(0, mp.inf),
    )


def _m_pareto(s: Any, a: Any) -> _Moments:
    return _Moments(
        mp.log(s / a) + 1 / a + 1,
        a * s / (a - 1),
        s**2 * a / ((a - 1) ** 2 * (a - 2)),
        elog=mp.log(s) + 1 / a,
        support=(s, mp.inf),
    )


def _m_weibull(lam: Any, k: Any) -> _Moments:
    return _Moments(
        EG * (1 - 1 / k) + mp.log(lam / k) + 1,
        lam * mp.gamma(1 + 1 / k),
        elog=mp.log(lam) - EG / k,
        mpow=lambda j: lam**j * mp.gamma(1 + j / k),
        support=(0, mp.inf),
    )


def _m_beta(a: Any, b: Any) -> _Moments:
    s = a + b
    return _Moments(
        mp.log(mp.beta(a, b)) - (a - 1) * mp.digamma(a) - (b - 1) * mp.digamma(b)
        + (s - 2) * mp.digamma(s),
        a / s,
        a * b / (s**2 * (s + 1)),
        elog=mp.digamma(a) - mp.digamma(s),
        support=(0, 1),
    )  # fmt: skip


def _m_halfnormal(s: Any) -> _Moments:
    return _Moments(mp.log(mp.pi * mp.e * s**2 / 2) / 2, mpow=lambda j: s**2 if j == 2 else None)


# -E_p[log q(x)] for each q family, from p's moments.
def _ce_normal(p: _Moments, loc: Any, s: Any) -> Any:
    return mp.log(2 * mp.pi) / 2 + mp.log(s) + ((p.mean - loc) ** 2 + p.var) / (2 * s**2)


def _ce_laplace(p: _Moments, loc: Any, b: Any) -> Any:
    return mp.log(2 * b) + p.mabs(loc) / b


def _ce_gumbel(p: _Moments, loc: Any, s: Any) -> Any:
    return mp.log(s) + (p.mean - loc) / s + mp.exp(loc / s) * p.mexp(1 / s)


def _ce_gamma(p: _Moments, a: Any, b: Any) -> Any:
    if p.support[0] < 0:
        return mp.inf
    return mp.loggamma(a) - a * mp.log(b) - (a - 1) * p.elog + b * p.mean


def _ce_exponential(p: _Moments, r: Any) -> Any:
    if p.support[0] < 0:
        return mp.inf
    return r * p.mean - mp.log(r)


def _ce_inversegamma(p: _Moments, a: Any, b: Any) -> Any:
    return mp.loggamma(a) - a * mp.log(b) + (a + 1) * p.elog + b * p.einv


def _ce_pareto(p: _Moments, s: Any, a: Any) -> Any:
    if p.support[0] < s:
        return mp.inf
    return -mp.log(a) - a * mp.log(s) + (a + 1) * p.elog


def _ce_uniform(p: _Moments, lo: Any, hi: Any) -> Any:
    if p.support[0] < lo or p.support[1] > hi:
        return mp.inf
    return mp.log(hi - lo)


def _ce_weibull(p: _Moments, lam: Any, k: Any) -> Any:
    return -mp.log(k / lam) - (k - 1) * (p.elog - mp.log(lam)) + p.mpow(k) / lam**k


def _ce_halfnormal(p: _Moments, s: Any) -> Any:
    return -mp.log(mp.sqrt(2 / mp.pi) / s) + p.mpow(2) / (2 * s**2)


def _cauchy(pp: tuple, qq: tuple) -> Any:
    (mp_, sp), (mq, sq) = pp, qq
    return mp.log(((sp + sq) ** 2 + (mp_ - mq) ** 2) / (4 * sp * sq))


def _poisson(pp: tuple, qq: tuple) -> Any:
    (a,), (b,) = pp, qq
    return a * mp.log(a / b) - a + b


MOMENTS: dict[str, Callable[..., _Moments]] = {
    "Normal": _m_normal,
    "LogNormal": _m_normal,  # the KL of the logs
    "Laplace": _m_laplace,
    "Gumbel": _m_gumbel,
    "Uniform": _m_uniform,
    "Gamma": _m_gamma,
    "Exponential": _m_exponential,
    "InverseGamma": _m_inversegamma,
    "Pareto": _m_pareto,
    "Weibull": _m_weibull,
    "Beta": _m_beta,
    "HalfNormal": _m_halfnormal,
}
CROSS_ENTROPY: dict[str, Callable[..., Any]] = {
    "Normal": _ce_normal,
    "LogNormal": _ce_normal,
    "Laplace": _ce_laplace,
    "Gumbel": _ce_gumbel,
    "Gamma": _ce_gamma,
    "Exponential": _ce_exponential,
    "InverseGamma": _ce_inversegamma,
    "Pareto": _ce_pareto,
    "Uniform": _ce_uniform,
    "Weibull": _ce_weibull,
    "HalfNormal": _ce_halfnormal,
}


def mp_kl(pname: str, qname: str, pp: tuple, qq: tuple) -> Any:
    """KL(p || q) in mpmath at 50 digits."""
    if pname == qname == "Cauchy":
        return _cauchy(pp, qq)
    if pname == qname == "Poisson":
        return _poisson(pp, qq)
    p = MOMENTS[pname](*pp)
    return CROSS_ENTROPY[qname](p, *qq) - p.h


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


def _kl(p: Any, q: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return float(D.kl(p, q))


def _check(got: float, exact: Any, dtype: Any, rtol: float, what: str) -> None:
    """``got`` is ``exact`` rounded (``+inf`` beyond the dtype's range), within ``rtol``."""
    big = float(np.finfo(dtype).max)
    if exact == mp.inf or exact > big:
        assert got == math.inf, f"{what}: {got!r}, exact {mp.nstr(exact, 17)} (+inf in {dtype})"
        return
    assert math.isfinite(got), f"{what}: {got!r}, exact {mp.nstr(exact, 17)}"
    assert got >= 0, f"{what}: negative {got!r}"
    err = abs(mp.mpf(got) - exact)
    assert err <= rtol * abs(exact) + 1e-300, (
        f"{what}: {got!r}, exact {mp.nstr(exact, 17)}, relative error {mp.nstr(err / exact, 3)}"
    )


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
        got = _kl(_build(pname, pv, dtype), _build(qname, qv, dtype))
        _check(got, exact, dtype, rtol, f"KL({pname}{pv} || {qname}{qv})")


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
        np.testing.assert_allclose(_kl(p, q), float(T.kl_divergence(tp, tq)), rtol=1e-14)
    # float32 at 1e-30 and 1e30, where the KL is that of unit scale (x -> c x keeps it)
    f32 = np.float32
    ref = float(mp_kl("Cauchy", "Cauchy", (mp.mpf(0), mp.mpf(1)), (mp.mpf(1), mp.mpf(2))))
    got = _kl(D.Cauchy(f32(0), f32(1e-30)), D.Cauchy(f32(1e-30), f32(2e-30)))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    ref = float(T.kl_divergence(T.Laplace(*t(0, 1)), T.Normal(*t(0.5, 2))))
    got = _kl(D.Laplace(f32(0), f32(1e30)), D.Normal(f32(5e29), f32(2e30)))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    exact = mp_kl("Weibull", "Weibull", (mp.mpf(1), mp.mpf(2)), (mp.mpf("1e20"), mp.mpf(3)))
    _check(_kl(D.Weibull(1.0, 2.0), D.Weibull(1e20, 3.0)), exact, np.float64, 1e-14, "Weibull")


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
            got = _kl(p, q)
            what = f"KL({pname} || {qname}) at scale {c:g} in {dtype.__name__}"
            if math.isinf(ref):
                assert got == math.inf, f"{what}: {got!r}"
            else:
                np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-15, err_msg=what)


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
    _check(_kl(D.Bernoulli(probs=a), D.Bernoulli(probs=b)), bern, np.float64, 1e-13, "Bernoulli")
    got = _kl(D.Binomial(7.0, probs=a), D.Binomial(7.0, probs=b))
    _check(got, 7 * bern, np.float64, 1e-13, "Binomial")
    geom = mp.log(pa / pb) + (1 - pa) / pa * (mp.log1p(-pa) - mp.log1p(-pb))
    _check(_kl(D.Geometric(probs=a), D.Geometric(probs=b)), geom, np.float64, 1e-13, "Geometric")
    if 1e-30 < a < 0.1 and 1e-30 < b < 0.1:  # logits of tiny probabilities: log p - log(1 - p)
        la, lb = (float(mp.log(x) - mp.log1p(-x)) for x in (pa, pb))
        got = _kl(D.Bernoulli(logits=la), D.Bernoulli(logits=lb))
        _check(got, bern, np.float64, 1e-9, "Bernoulli from logits")  # the logits' rounding
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
    got = _kl(D.ContinuousBernoulli(probs=a), D.ContinuousBernoulli(probs=b))
    _check(got, exact, np.float64, 1e-12, "ContinuousBernoulli")
    # near 1 (the oracle takes the rounded float64 parameters 1 - a, 1 - b)
    la, lb = mp.mpf(1 - a), mp.mpf(1 - b)
    got = _kl(D.ContinuousBernoulli(probs=1 - a), D.ContinuousBernoulli(probs=1 - b))
    (cp, mp_, gp), (cq, _, gq) = _mp_cb(la), _mp_cb(lb)
    exact = mp_ * (gp - gq) + cp - cq + mp.log1p(-la) - mp.log1p(-lb)
    _check(got, exact, np.float64, 1e-12, "ContinuousBernoulli near 1")


# --- exact zeros and no negative values ------------------------------------------------------


def _families() -> Any:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from _families import FAMILIES

    return FAMILIES


SAME = [a for a, b in D.registered_pairs() if a == b]


@pytest.mark.parametrize("name", SAME)
def test_identical_exactly_zero_and_nearly_identical_not_negative(name: str) -> None:
    """kl(p, p) == 0 exactly (KL(p || p) = 0); a few ulps apart, KL >= 0 (never -1e-16)."""
    fam = _families()[name]
    rng = np.random.default_rng([7, *map(ord, name)])
    params = fam.gen(rng, 256)
    p = fam.ours(params)
    same = np.asarray(D.kl(p, fam.ours({k: v.copy() for k, v in params.items()})))
    assert np.all(same == 0), f"{name}: kl(p, p) = {same[same != 0][:5]}"
    for ulps in (1, 4, 64):
        moved = {
            k: v if k == "total_count" else v * (1 + ulps * 2.0**-52 * rng.standard_normal(v.shape))
            for k, v in params.items()
        }
        near = np.asarray(D.kl(p, fam.ours(moved)))
        assert np.all(near >= 0), f"{name}: negative KL {near[near < 0][:5]}"


def test_lowrank_identical_from_the_report() -> None:
    """The reported LowRankMultivariateNormal gave -1.78e-15 for kl(L, L); MultivariateNormal too."""
    loc = np.array([0.0, 0.0])
    w, dg = np.array([[0.3], [-1.7]]), np.array([2.0, 0.25])
    low = D.LowRankMultivariateNormal(loc, w, dg)
    assert float(D.kl(low, low)) == 0.0
    full = D.MultivariateNormal(loc, covariance_matrix=w @ w.T + np.diag(dg))
    assert float(D.kl(full, full)) == 0.0
    # the cross pairs between the two forms of one distribution: >= 0 and within rounding of 0
    for a, b in ((low, full), (full, low)):
        got = float(D.kl(a, b))
        assert 0.0 <= got < 1e-14


_R = np.random.default_rng(3).uniform(0.1, 5.0, 256)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        (D.Exponential(_R), D.Gamma(1.0, _R)),
        (D.Gamma(1.0, _R), D.Exponential(_R)),
        (D.Chi2(2 * _R), D.Gamma(_R, 0.5)),
        (D.Gamma(_R, 0.5), D.Chi2(2 * _R)),
        (D.Weibull(_R, 1.0), D.Gamma(1.0, 1 / _R)),
        (D.Uniform(0.0, 1.0), D.Beta(1.0, 1.0)),
        (D.Uniform(0.0, 1.0), D.ContinuousBernoulli(0.5)),
        (D.ContinuousBernoulli(0.5), D.Uniform(0.0, 1.0)),
        (D.Beta(1.0, 1.0), D.ContinuousBernoulli(0.5)),
    ],
    ids=lambda d: type(d).__name__,
)
def test_cross_pairs_of_one_distribution_not_negative(p: Any, q: Any) -> None:
    """Two families describing one distribution: KL 0 (the identity) up to rounding, never < 0.

    (Weibull(l, 1) || Gamma(1, 1/l) gave -4.4e-16 for 109 of these 256 scales.)
    """
    got = np.asarray(D.kl(p, q))
    assert np.all(got >= 0) and np.all(got < 1e-14), got[got < 0][:5]


def test_cross_entropy_at_extreme_scales() -> None:
    """cross_entropy = H(p) + KL: finite where mpmath's -E_p[log q] is representable."""
    for pv, qv in (((0.0, 1.0), (0.0, 1e20)), ((0.0, 1e-30), (0.0, 1e30))):
        exact = _ce_normal(_m_normal(*map(mp.mpf, pv)), *map(mp.mpf, qv))
        got = float(D.cross_entropy(D.Normal(*pv), D.Normal(*qv)))
        _check(got, exact, np.float64, 1e-14, "cross_entropy(Normal, Normal)")
    exact = _ce_gamma(_m_gamma(mp.mpf(2), mp.mpf("1e50")), mp.mpf(2), mp.mpf(1))
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
    got = _kl(D.VonMises(0.3, kp), D.VonMises(1.1, kq))
    _check(got, exact, np.float64, 1e-12, f"VonMises({kp}) || VonMises({kq})")
    h = mp.log(2 * mp.pi * mp.besseli(0, a)) - a * ratio(a)
    np.testing.assert_allclose(float(D.entropy(D.VonMises(0.3, kp))), float(h), rtol=1e-13)
