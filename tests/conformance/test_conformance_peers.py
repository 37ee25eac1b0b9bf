"""Every pair torch.distributions and TFP register, against the peer, with extreme parameters.

The pairs come from the peers' registries (``_peers.peer_pairs``), not from a
list: a pair a peer registers tomorrow is tested the day it appears, subclass
pairs included (torch's ``Chi2`` is a ``Gamma``: ``Chi2``-``Exponential`` is
tested because torch registers ``Gamma``-``Exponential``).

* The peer's objects go straight into ``kl_backends.distributions.kl``; float64
  agrees with the peer's own ``kl_divergence`` to rtol 1e-10 on hypothesis-drawn
  batches, and identical distributions give exactly 0 (the definition).
* Extreme scales, 1e-30 .. 1e30: KL is invariant under x -> a x, so the KL of
  the scaled pair equals the peer's KL of the unscaled one (scaled where the
  family is closed under scaling), on every backend and dtype.
* Near-boundary shapes (concentrations 1e-3 .. 1e6, probabilities within 1e-12 of
  0 and 1) against mpmath at 50 digits, where torch's float64 itself cancels.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from _peers import SCALE, peer_pairs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import kl_backends.distributions as D
from _families import FAMILIES
from _families import reference as quadrature
from conftest import need

TORCH_PAIRS = peer_pairs("torch")
TFP_PAIRS = peer_pairs("tfp")
ALL_PAIRS = sorted(set(TORCH_PAIRS) | set(TFP_PAIRS))
N = 4
# No shrinking: a failure is reported with its first example (the suite stays fast
# while defects are open); derandomized, so the examples are the same on every run.
FEW = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _ids(pairs):
    return [f"{a}-{b}" for a, b in pairs]


def _pairs_or_placeholder(pairs, lib):
    """The pairs; without the peer installed, one placeholder that skips or fails via need()."""
    return pairs or [pytest.param(None, None, id=f"{lib}-not-installed")]


@st.composite
def batches(draw, pname: str, qname: str):
    """A batch of N parameter sets for p and q from the families' generators; row 0 of q
    is p's when the families match (identical distributions)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if pname == qname:
        qq = {k: np.concatenate([pp[k][:1], v[1:]]) for k, v in qq.items()}
    return pp, qq


def assert_kl(got, expected, rtol: float, atol: float = 0.0, what: str = "") -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected), err_msg=f"inf: {what}")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"nan: {what}")
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=atol, err_msg=what)


def _torch_objects(torch, pname, qname, pp, qq):
    T = torch.distributions
    conv = lambda d: {k: torch.tensor(v, dtype=torch.float64) for k, v in d.items()}  # noqa: E731
    return FAMILIES[pname].torch(T, conv(pp)), FAMILIES[qname].torch(T, conv(qq))


def _tfp_objects(tfd, pname, qname, pp, qq):
    tf = need("tensorflow")
    conv = lambda d: {k: tf.constant(v, tf.float64) for k, v in d.items()}  # noqa: E731
    return FAMILIES[pname].tfp(tfd, conv(pp)), FAMILIES[qname].tfp(tfd, conv(qq))


def peer_kl(pname: str, qname: str, pp: dict, qq: dict) -> np.ndarray | None:
    """The peer's float64 KL (torch where it registers the pair, else TFP), or None."""
    if (pname, qname) in TORCH_PAIRS:
        torch = need("torch")
        tp, tq = _torch_objects(torch, pname, qname, pp, qq)
        try:
            return torch.distributions.kl_divergence(tp, tq).numpy()
        except NotImplementedError:
            pass
    if (pname, qname) in TFP_PAIRS:
        tfd = need("tensorflow_probability").distributions
        tp, tq = _tfp_objects(tfd, pname, qname, pp, qq)
        try:
            return np.asarray(tfd.kl_divergence(tp, tq))
        except NotImplementedError:
            pass
    return None


def _identical_rows_are_zero(got, pname, qname) -> None:
    if pname == qname:
        assert np.asarray(got, dtype=float)[0] == 0.0, f"KL(p || p) = {got[0]!r}, not 0"


# --- the peer's own objects, float64 ---------------------------------------------------------


@pytest.mark.parametrize(("pname", "qname"), _pairs_or_placeholder(TORCH_PAIRS, "torch"),
                         ids=_ids(TORCH_PAIRS) or None)  # fmt: skip
@FEW
@given(data=st.data())
def test_torch_registry_pair(pname, qname, data) -> None:
    torch = need("torch")
    if pname is None:
        pytest.fail("torch is installed but its KL registry gave no pair of our families")
    pp, qq = data.draw(batches(pname, qname))
    tp, tq = _torch_objects(torch, pname, qname, pp, qq)
    try:
        expected = torch.distributions.kl_divergence(tp, tq).numpy()
    except NotImplementedError:
        return  # torch's lookup found no closed form for this combination
    got = D.kl(tp, tq)  # torch objects in, a torch tensor out
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    assert_kl(got.numpy(), expected, rtol=1e-10, atol=1e-13, what=f"{pname}-{qname}")
    _identical_rows_are_zero(got.numpy(), pname, qname)


@pytest.mark.parametrize(("pname", "qname"), _pairs_or_placeholder(TFP_PAIRS, "tfp"),
                         ids=_ids(TFP_PAIRS) or None)  # fmt: skip
@FEW
@given(data=st.data())
def test_tfp_registry_pair(pname, qname, data) -> None:
    need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    if pname is None:
        pytest.fail("TFP is installed but its KL registry gave no pair of our families")
    pp, qq = data.draw(batches(pname, qname))
    tp, tq = _tfp_objects(tfd, pname, qname, pp, qq)
    try:
        expected = np.asarray(tfd.kl_divergence(tp, tq))
    except NotImplementedError:
        return
    got = D.kl(tp, tq)
    assert got.dtype == need("tensorflow").float64
    got = got.numpy()
    if "ContinuousBernoulli" in (pname, qname):
        # TFP's ContinuousBernoulli KL is off by up to ~1e-6 relative (its normaliser's
        # Taylor series away from 1/2): quadrature is the oracle there (at quad's 1e-8).
        reference = quadrature(pname, qname, pp, qq)
        assert_kl(expected, reference, rtol=1e-4, what="TFP itself")
        expected, rtol = reference, 1e-8
    else:
        rtol = 1e-10
    assert_kl(got, expected, rtol=rtol, atol=1e-13, what=f"{pname}-{qname}")
    _identical_rows_are_zero(got, pname, qname)


# --- extreme scales: KL(a X || a Y) = KL(X || Y), every backend and dtype ----------------------

SCALED = [(a, b) for a, b in ALL_PAIRS if a in SCALE and b in SCALE]


@pytest.mark.parametrize(("pname", "qname"), SCALED or [pytest.param(None, None, id="none")],
                         ids=_ids(SCALED) or None)  # fmt: skip
@FEW
@given(data=st.data(), exponent=st.integers(-30, 30))
def test_extreme_scales_float64(pname, qname, data, exponent) -> None:
    if pname is None:
        need("torch")
        pytest.fail("no scalable pair discovered")
    pp, qq = data.draw(batches(pname, qname))
    expected = peer_kl(pname, qname, pp, qq)
    if expected is None:
        return
    a = 10.0**exponent
    sp, sq = SCALE[pname](pp, a), SCALE[qname](qq, a)
    got = D.kl(FAMILIES[pname].ours(sp), FAMILIES[qname].ours(sq))
    assert_kl(got, expected, rtol=1e-10, atol=1e-12, what=f"{pname}-{qname} at x{a:g}")
    _identical_rows_are_zero(got, pname, qname)


#: float32 keeps 7 digits; the closed forms' cancellations (a difference of logs, of
#: digammas) lose some of them: rtol and atol relative to the KL's own size.
F32 = {"rtol": 2e-4, "atol": 2e-5}


@functools.cache  # the same parameters and peer KL for every backend, dtype and exponent
def _pair_case(pname: str, qname: str) -> tuple[dict, dict, np.ndarray | None]:
    rng = np.random.default_rng([7, *map(ord, pname + qname)])
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if pname == qname:
        qq = {k: np.concatenate([pp[k][:1], v[1:]]) for k, v in qq.items()}
    return pp, qq, peer_kl(pname, qname, pp, qq)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("exponent", [0, -30, 30])
def test_every_pair_on_every_backend(backend, dtype, exponent) -> None:
    """Every discovered pair on this backend, against the peer's float64 KL at scale 1:
    at scale 1 (``exponent`` 0), and the pairs that scale at 1e+-30 (1e+-10 for float32,
    whose range ends at 3e38)."""
    if not ALL_PAIRS:
        need("torch")
        pytest.fail("no pair discovered")
    if dtype not in backend.dtypes:
        pytest.skip(f"{backend} has no {dtype}")
    failures, checked = [], 0
    for pname, qname in ALL_PAIRS:
        pp, qq, expected = _pair_case(pname, qname)
        if expected is None:
            continue
        if exponent == 0:
            scales = [1.0]
        elif pname in SCALE and qname in SCALE:
            scales = [10.0 ** (exponent if dtype == "float64" else exponent // 3)]
        else:
            continue  # this pair has no scale transformation: checked at scale 1
        checked += 1
        for a in scales:
            sp = SCALE[pname](pp, a) if a != 1.0 else pp
            sq = SCALE[qname](qq, a) if a != 1.0 else qq
            conv = lambda d: {k: backend.asarray(v, dtype) for k, v in d.items()}  # noqa: E731
            try:
                got = backend.to_numpy(
                    D.kl(FAMILIES[pname].ours(conv(sp)), FAMILIES[qname].ours(conv(sq)))
                )
                tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else F32
                assert_kl(got, expected, what=f"{pname}-{qname} x{a:g}", **tol)
                _identical_rows_are_zero(got, pname, qname)
            except Exception as exc:  # collect every pair's failure, then report them all
                msg = str(exc).strip().splitlines()[-1].split(". Registered pairs")[0]
                failures.append(f"{pname}-{qname} x{a:g}: {type(exc).__name__}: {msg[:160]}")
    assert checked >= (len(ALL_PAIRS) // 2 if exponent == 0 else len(SCALED) // 2), checked
    assert not failures, f"{len(failures)} pair(s) disagree on {backend} {dtype}:\n" + "\n".join(
        failures
    )


# --- near-boundary shapes against mpmath -----------------------------------------------------


def _mp():
    import mpmath

    mpmath.mp.dps = 50
    return mpmath


def _mp_gamma_gamma(a1, b1, a2, b2):
    mp = _mp()
    a1, b1, a2, b2 = map(mp.mpf, (a1, b1, a2, b2))
    return float(
        (a1 - a2) * mp.digamma(a1)
        - mp.loggamma(a1)
        + mp.loggamma(a2)
        + a2 * (mp.log(b1) - mp.log(b2))
        + a1 * (b2 - b1) / b1
    )


def _mp_beta_beta(a1, b1, a2, b2):
    mp = _mp()
    a1, b1, a2, b2 = map(mp.mpf, (a1, b1, a2, b2))
    lbeta = lambda a, b: mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)  # noqa: E731
    return float(
        lbeta(a2, b2)
        - lbeta(a1, b1)
        + (a1 - a2) * mp.digamma(a1)
        + (b1 - b2) * mp.digamma(b1)
        + (a2 - a1 + b2 - b1) * mp.digamma(a1 + b1)
    )


def _mp_bernoulli(p, q):
    mp = _mp()
    p, q = mp.mpf(p), mp.mpf(q)
    return float(p * mp.log(p / q) + (1 - p) * mp.log((1 - p) / (1 - q)))


def _mp_poisson(r1, r2):
    mp = _mp()
    r1, r2 = mp.mpf(r1), mp.mpf(r2)
    return float(r1 * mp.log(r1 / r2) - r1 + r2)


SHAPE = st.floats(-3, 6).map(lambda e: float(10.0**e))  # 1e-3 .. 1e6
PROB = st.floats(-27.6, 27.6).map(lambda t: float(1 / (1 + math.exp(-t))))  # 1e-12 .. 1 - 1e-12

BOUNDARY = {
    "Gamma": (
        st.tuples(SHAPE, SHAPE, SHAPE, SHAPE),
        lambda a1, b1, a2, b2: (D.Gamma(a1, b1), D.Gamma(a2, b2)),
        _mp_gamma_gamma,
    ),
    "Beta": (
        st.tuples(SHAPE, SHAPE, SHAPE, SHAPE),
        lambda a1, b1, a2, b2: (D.Beta(a1, b1), D.Beta(a2, b2)),
        _mp_beta_beta,
    ),
    "Bernoulli": (
        st.tuples(PROB, PROB),
        lambda p, q: (D.Bernoulli(probs=p), D.Bernoulli(probs=q)),
        _mp_bernoulli,
    ),
    "Poisson": (
        st.tuples(SHAPE, SHAPE),
        lambda r1, r2: (D.Poisson(r1), D.Poisson(r2)),
        _mp_poisson,
    ),
}


@pytest.mark.parametrize("family", sorted(BOUNDARY))
@settings(max_examples=8, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate))
@given(data=st.data())
def test_near_boundary_shapes_against_mpmath(family, data) -> None:
    """Shapes 1e-3 .. 1e6 and probabilities 1e-12 from 0 or 1, identical pairs included;
    torch's float64 cancels there (e.g. Gamma with concentrations 1e6), mpmath does not."""
    strategy, build, exact = BOUNDARY[family]
    args = data.draw(strategy)
    if data.draw(st.booleans()):  # identical distributions
        half = len(args) // 2
        args = args[:half] * 2
    got = float(D.kl(*build(*args)))
    expected = exact(*args)
    if args[: len(args) // 2] == args[len(args) // 2 :]:
        assert got == 0.0, (family, args, got)
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-15), (family, args, got, expected)
