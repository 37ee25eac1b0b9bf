"""The registry: every pair torch and TFP reach (their subclass relations included), batch shapes, errors.

* the pairs come from the peers' own registries (``torch.distributions.kl._dispatch_kl``
  over ``_KL_REGISTRY``, TFP's ``kullback_leibler._registered_kl`` over ``_DIVERGENCES``),
  looked up for every two families of ``_families``, and their KL computed by the peer in
  the test is the oracle: a pair they support is tested because they support it;
* pairs reached only through ``Chi2``/``Exponential`` as ``Gamma`` (the peers' subclass
  relations) against numerical integration;
* every result has the broadcast batch shape of p and q (``np.broadcast_shapes``), with
  the peer's values on explicitly broadcast parameters;
* errors: unregistered pairs name ``monte_carlo_kl``, shapes that do not broadcast are
  both named.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import kl_backends.distributions as D
from _families import FAMILIES, INFINITE, pairs, reference
from conftest import need

N = 3
#: torch's own subclasses of a family here (torch's registry reaches them by subclassing).
TORCH_EXTRA = {
    "OneHotCategoricalStraightThrough": (
        lambda r, n: {"logits": r.normal(size=(n, 5))},
        lambda T, d: T.OneHotCategoricalStraightThrough(logits=d["logits"]),
    ),
}


def _params(name: str, seed: int, n: int = N) -> dict[str, np.ndarray]:
    gen = FAMILIES[name].gen if name in FAMILIES else TORCH_EXTRA[name][0]
    return gen(np.random.default_rng([seed, *map(ord, name)]), n)


def _assert_kl(got: Any, expected: Any, rtol: float, what: Any) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, what
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected), err_msg=str(what))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=1e-13, err_msg=str(what))


# --- every pair torch reaches ------------------------------------------------------------------

TORCH_NAMES = sorted([n for n, f in FAMILIES.items() if f.torch is not None] + list(TORCH_EXTRA))


def _torch_dist(T: Any, torch: Any, name: str, params: dict[str, np.ndarray]) -> Any:
    build = FAMILIES[name].torch if name in FAMILIES else TORCH_EXTRA[name][1]
    return build(T, {k: torch.tensor(v) for k, v in params.items()})


def _torch_kl(T: Any, p: Any, q: Any) -> Any:
    """torch's KL, or ``None`` where its registry has no pair for the two types."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # torch's "Ambiguous kl_divergence"
        if T.kl._dispatch_kl(type(p), type(q)) is NotImplemented:
            return None
        try:
            return T.kl_divergence(p, q)
        except NotImplementedError:  # matched a generic pair that refuses these two types
            return None


@pytest.mark.parametrize("pname", TORCH_NAMES)
def test_every_pair_torch_reaches(pname: str) -> None:
    torch = need("torch")
    T = torch.distributions
    tested = []
    for qname in TORCH_NAMES:
        pp, qq = _params(pname, 1), _params(qname, 2)
        tp, tq = _torch_dist(T, torch, pname, pp), _torch_dist(T, torch, qname, qq)
        expected = _torch_kl(T, tp, tq)
        if expected is None:
            continue
        got = D.kl(tp, tq)  # raises NotImplementedError for a pair torch has and we lack
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64, qname
        _assert_kl(got.numpy(), expected.numpy(), 1e-10, (pname, qname))
        tested.append(qname)
    # Every pair torch registers for two of these families is among those tested.
    registered = {(p.__name__, q.__name__) for p, q in T.kl._KL_REGISTRY}
    for qname in TORCH_NAMES:
        if (pname, qname) in registered and (pname, qname) not in NOT_COMPUTED_BY_TORCH:
            assert qname in tested, (pname, qname)


#: torch registers these but raises for them (a generic pair: the transforms differ).
NOT_COMPUTED_BY_TORCH: set[tuple[str, str]] = set()


def test_torch_subclass_pairs_of_the_issue() -> None:
    """torch's value for a pair it reaches by subclassing (Chi2 is a Gamma there)."""
    torch = need("torch")
    T = torch.distributions
    one, three = torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    expected = T.kl_divergence(T.Chi2(three), T.Exponential(one))
    assert D.kl(T.Chi2(three), T.Exponential(one)).item() == pytest.approx(
        expected.item(), rel=1e-14
    )
    assert D.kl(D.Chi2(3.0), D.Exponential(1.0)) == pytest.approx(expected.item(), rel=1e-14)


# --- every pair TFP reaches --------------------------------------------------------------------


def _tfp_mvn_params(r: Any, n: int) -> dict[str, np.ndarray]:
    return {
        "loc": r.normal(size=(n, 4)),
        "scale_diag": r.uniform(0.5, 1.5, (n, 4)),
        "factor": r.normal(size=(n, 4, 2)) * 0.5,
        "perturb": r.uniform(0.5, 1.5, (n, 2)),
    }


#: TFP's normals that FAMILIES does not build (its MultivariateNormalTriL it does).
TFP_EXTRA = {
    "MultivariateNormalFullCovariance": lambda tfd, d: tfd.MultivariateNormalFullCovariance(
        d["loc"], d["scale_diag"][..., None] * np.eye(4) + d["factor"] @ _mT(d["factor"])
    ),
    "MultivariateNormalDiagPlusLowRank": lambda tfd, d: tfd.MultivariateNormalDiagPlusLowRank(
        d["loc"], d["scale_diag"], d["factor"], d["perturb"]
    ),
    "MultivariateNormalDiag": lambda tfd, d: tfd.MultivariateNormalDiag(d["loc"], d["scale_diag"]),
}


def _mT(x: Any) -> Any:
    return np.swapaxes(x, -1, -2)


TFP_NAMES = sorted([n for n, f in FAMILIES.items() if f.tfp is not None] + list(TFP_EXTRA))


def _tfp_dist(tf: Any, tfd: Any, name: str, seed: int) -> Any:
    if name in TFP_EXTRA:
        params = _tfp_mvn_params(np.random.default_rng([seed, *map(ord, name)]), N)
        return TFP_EXTRA[name](tfd, {k: tf.constant(v) for k, v in params.items()})
    return FAMILIES[name].tfp(tfd, {k: tf.constant(v) for k, v in _params(name, seed).items()})


@pytest.mark.parametrize("pname", TFP_NAMES)
def test_every_pair_tfp_reaches(pname: str) -> None:
    tf = need("tensorflow")
    tfp = need("tensorflow_probability")
    tfd = tfp.distributions
    from tensorflow_probability.python.distributions import kullback_leibler

    for qname in TFP_NAMES:
        tp, tq = _tfp_dist(tf, tfd, pname, 1), _tfp_dist(tf, tfd, qname, 2)
        if kullback_leibler._registered_kl(type(tp), type(tq)) is None:
            continue
        try:
            expected = tfd.kl_divergence(tp, tq).numpy()
        except NotImplementedError:  # a generic pair refusing these two (their bijectors differ)
            continue
        got = D.kl(tp, tq)
        assert got.dtype == tf.float64, qname
        # TFP's ContinuousBernoulli KL is accurate to ~1e-4 (ours: test_distributions.py).
        rtol = 1e-3 if pname == "ContinuousBernoulli" else 1e-9
        _assert_kl(got.numpy(), expected, rtol, (pname, qname))


def test_tfp_subclass_pair_of_the_issue() -> None:
    """TFP's value for Weibull || Exponential (its Exponential is a Gamma)."""
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    c = tf.constant
    p = tfd.Weibull(concentration=c(2.0, tf.float64), scale=c(1.0, tf.float64))
    q = tfd.Exponential(c(0.5, tf.float64))
    expected = float(tfd.kl_divergence(p, q))
    assert float(D.kl(p, q)) == pytest.approx(expected, rel=1e-14)
    assert D.kl(D.Weibull(1.0, 2.0), D.Exponential(0.5)) == pytest.approx(expected, rel=1e-14)


def test_tfp_low_rank_covariance_normal_is_read() -> None:
    """TFP's DiagPlusLowRankCovariance (no KL in TFP) against torch's low-rank normal."""
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    torch = need("torch")
    T = torch.distributions
    rng = np.random.default_rng(5)
    ps, qs = [_tfp_mvn_params(rng, N) for _ in range(2)]

    def tfp_one(d):
        return tfd.MultivariateNormalDiagPlusLowRankCovariance(
            tf.constant(d["loc"]), tf.constant(d["scale_diag"]), tf.constant(d["factor"])
        )

    def torch_one(d):
        t = {k: torch.tensor(v) for k, v in d.items()}
        return T.LowRankMultivariateNormal(t["loc"], t["factor"], t["scale_diag"])

    expected = T.kl_divergence(torch_one(ps), torch_one(qs)).numpy()
    np.testing.assert_allclose(D.kl(tfp_one(ps), tfp_one(qs)).numpy(), expected, rtol=1e-10)


# --- pairs reached through Chi2 / Exponential as Gamma -------------------------------------------

UNIVARIATE = [n for n, f in FAMILIES.items() if not f.event]
_AS_GAMMA = {"Chi2": "Gamma", "Exponential": "Gamma"}


def _reached() -> list[tuple[str, str]]:
    registered = set(D.registered_pairs())
    out = []
    for a in UNIVARIATE:
        for b in UNIVARIATE:
            if (a, b) in registered:
                continue
            try:
                D.kl(FAMILIES[a].ours(_params(a, 0, 1)), FAMILIES[b].ours(_params(b, 0, 1)))
            except NotImplementedError:
                continue
            out.append((a, b))
    return out


REACHED = _reached()


def test_reached_pairs_are_those_of_the_subclass_relations() -> None:
    """Exactly the pairs that replacing Chi2 or Exponential by Gamma (p, q or both) registers."""
    registered = set(D.registered_pairs())
    expected = {
        (a, b)
        for a in UNIVARIATE
        for b in UNIVARIATE
        if (a, b) not in registered
        and any(
            pair in registered
            for pair in (
                (_AS_GAMMA.get(a, a), b),
                (a, _AS_GAMMA.get(b, b)),
                (_AS_GAMMA.get(a, a), _AS_GAMMA.get(b, b)),
            )
        )
    }
    assert set(REACHED) == expected
    for pair in (("Chi2", "Exponential"), ("Beta", "Chi2"), ("Weibull", "Exponential")):
        assert pair in expected


@pytest.mark.parametrize(("pname", "qname"), REACHED, ids=[f"{a}-{b}" for a, b in REACHED])
def test_reached_pair_against_a_peer_or_integration(pname: str, qname: str) -> None:
    """torch's KL where its registry reaches the pair, else TFP's, else the integral."""
    fp, fq = FAMILIES[pname], FAMILIES[qname]
    pp, qq = _params(pname, 3), _params(qname, 4)
    got = D.kl(fp.ours(pp), fq.ours(qq))
    torch = need("torch")
    T = torch.distributions
    expected = _torch_kl(T, _torch_dist(T, torch, pname, pp), _torch_dist(T, torch, qname, qq))
    if expected is not None:
        expected = expected.numpy()
    elif fp.tfp is not None and fq.tfp is not None:
        expected = _tfp_kl(fp, fq, pp, qq)
    if expected is None:
        expected = reference(pname, qname, pp, qq)
    _assert_kl(got, expected, 1e-9, (pname, qname))
    cross = D.cross_entropy(fp.ours(pp), fq.ours(qq))
    np.testing.assert_allclose(cross, got + D.entropy(fp.ours(pp)), rtol=1e-12)


# --- batch shapes ------------------------------------------------------------------------------

ALL_PAIRS = pairs() + [p for p in REACHED if p not in pairs()]


def _batched(name: str, seed: int, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Parameters with batch ``shape`` (events after it)."""
    flat = _params(name, seed, math.prod(shape))
    return {k: v.reshape(*shape, *v.shape[1:]) for k, v in flat.items()}


def _broadcast(params: dict[str, np.ndarray], shape: tuple[int, ...], event: int) -> dict:
    """Each parameter broadcast to the batch ``shape``, its event axes kept."""
    out = {}
    for k, v in params.items():
        tail = 0 if not event else 2 if k in ("scale_tril", "cov_factor") else 1
        out[k] = np.broadcast_to(v, (*shape, *v.shape[v.ndim - tail :]))
    return out


@pytest.mark.parametrize(("pname", "qname"), ALL_PAIRS, ids=[f"{a}-{b}" for a, b in ALL_PAIRS])
def test_result_has_the_broadcast_batch_shape(pname: str, qname: str) -> None:
    fp, fq = FAMILIES[pname], FAMILIES[qname]
    pp, qq = _batched(pname, 5, (2, 1)), _batched(qname, 6, (3,))
    shape = np.broadcast_shapes((2, 1), (3,))
    got = D.kl(fp.ours(pp), fq.ours(qq))
    assert np.shape(got) == shape
    # The values: those of explicitly broadcast parameters, from torch, else TFP, else the
    # integral.
    bp, bq = _broadcast(pp, shape, fp.event), _broadcast(qq, shape, fq.event)
    expected = None
    if fp.torch is not None and fq.torch is not None:
        torch = need("torch")
        T = torch.distributions
        tp = fp.torch(T, {k: torch.tensor(np.ascontiguousarray(v)) for k, v in bp.items()})
        tq = fq.torch(T, {k: torch.tensor(np.ascontiguousarray(v)) for k, v in bq.items()})
        found = _torch_kl(T, tp, tq)
        expected = None if found is None else found.numpy()
    if expected is None and fp.tfp is not None and fq.tfp is not None:
        expected = _tfp_kl(fp, fq, bp, bq)
    if expected is None:
        flat = lambda d: {k: v.reshape(-1, *v.shape[2:]) for k, v in d.items()}  # noqa: E731
        expected = reference(pname, qname, flat(bp), flat(bq)).reshape(shape)
    if (pname, qname) in INFINITE:
        assert np.isinf(got).all()
    _assert_kl(got, expected, 1e-9, (pname, qname))


def _tfp_kl(fp: Any, fq: Any, bp: dict, bq: dict) -> Any:
    """TFP's KL on these parameters, or ``None`` where its registry has no pair."""
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    from tensorflow_probability.python.distributions import kullback_leibler

    tp = fp.tfp(tfd, {k: tf.constant(np.ascontiguousarray(v)) for k, v in bp.items()})
    tq = fq.tfp(tfd, {k: tf.constant(np.ascontiguousarray(v)) for k, v in bq.items()})
    if kullback_leibler._registered_kl(type(tp), type(tq)) is None:
        return None
    try:
        return tfd.kl_divergence(tp, tq).numpy()
    except NotImplementedError:
        return None


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_entropy_has_the_batch_shape_of_all_parameters(name: str) -> None:
    fam = FAMILIES[name]
    params = _batched(name, 7, (3,))
    keys = list(params)
    params[keys[0]] = _batched(name, 8, (2, 1))[keys[0]]  # one parameter with other axes
    try:
        got = D.entropy(fam.ours(params))
    except NotImplementedError:
        return
    shape = np.broadcast_shapes((2, 1), (3,)) if len(keys) > 1 else (2, 1)
    assert np.shape(got) == shape
    if fam.torch is None:
        return
    torch = need("torch")
    T = torch.distributions
    b = _broadcast(params, shape, fam.event)
    t = fam.torch(T, {k: torch.tensor(np.ascontiguousarray(v)) for k, v in b.items()})
    try:
        expected = t.entropy().numpy()
    except NotImplementedError:  # torch has no VonMises entropy: the shape is checked above
        return
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-13)


def test_issue_shape_example() -> None:
    got = D.kl(D.Normal(np.zeros((2, 1)), 1.0), D.Beta(np.ones(3), np.ones(3)))
    assert got.shape == np.broadcast_shapes((2, 1), (3,)) and np.isinf(got).all()
    got = D.cross_entropy(D.Normal(np.zeros((2, 1)), 1.0), D.Beta(np.ones(3), np.ones(3)))
    assert got.shape == (2, 3)


def test_batch_shapes_on_every_backend(backend) -> None:
    z21, o3 = backend.asarray(np.zeros((2, 1))), backend.asarray(np.ones(3))
    for got in (
        D.kl(D.Normal(z21, 1.0), D.Beta(o3, o3)),
        D.kl(D.Independent(D.Normal(z21, 1.0), 0), D.Independent(D.Normal(o3, 2.0), 0)),
        D.entropy(D.Gamma(z21 + 2.0, o3)),
    ):
        assert tuple(backend.to_numpy(got).shape) == (2, 3)


# --- errors ------------------------------------------------------------------------------------


def test_unregistered_pairs_name_monte_carlo_kl() -> None:
    with pytest.raises(NotImplementedError, match=r"VonMises.*Normal.*monte_carlo_kl"):
        D.kl(D.VonMises(0.0, 1.0), D.Normal(0.0, 1.0))
    mix = D.MixtureSameFamily(D.Categorical(np.ones(2)), D.Normal(np.zeros(2), 1.0))
    for p, q in ((mix, D.Normal(0.0, 1.0)), (D.Normal(0.0, 1.0), mix), (mix, mix)):
        with pytest.raises(NotImplementedError, match=r"Mixtures have no closed-form KL") as e:
            D.kl(p, q)
        assert "kl_backends.distributions.monte_carlo_kl(p, q" in str(e.value)
    with pytest.raises(NotImplementedError, match=r"p \(numpy.ndarray\) is not a distribution"):
        D.kl(np.zeros(3), D.Normal(0.0, 1.0))


def test_unregistered_torch_mixture_names_monte_carlo_kl() -> None:
    torch = need("torch")
    T = torch.distributions
    w = torch.ones(2, dtype=torch.float64)
    mix = T.MixtureSameFamily(T.Categorical(w), T.Normal(torch.zeros(2, dtype=torch.float64), 1.0))
    with pytest.raises(NotImplementedError, match=r"MixtureSameFamily.*monte_carlo_kl"):
        D.kl(mix, T.Normal(torch.zeros((), dtype=torch.float64), 1.0))


def _no_broadcast(*shapes: tuple[int, ...]) -> None:
    """The oracle: NumPy refuses to broadcast these shapes."""
    with pytest.raises(ValueError):
        np.broadcast_shapes(*shapes)


def test_batch_shapes_that_do_not_broadcast_name_both() -> None:
    _no_broadcast((2,), (3,))
    with pytest.raises(
        ValueError, match=r"batch shapes of p \(Normal\) and q \(Normal\).*\(2,\).*\(3,\)"
    ):
        D.kl(D.Normal(np.zeros(2), 1.0), D.Normal(np.zeros(3), 1.0))
    with pytest.raises(
        ValueError, match=r"p\.loc with batch shape \(2,\) and p\.scale with batch shape \(3,\)"
    ):
        D.kl(D.Normal(np.zeros(2), np.ones(3)), D.Normal(0.0, 1.0))
    with pytest.raises(
        ValueError,
        match=r"q \(MultivariateNormal\)'s parameters.*q\.loc.*\(2,\).*q\.scale_tril.*\(3,\)",
    ):
        D.kl(
            D.MultivariateNormal(np.zeros(4), scale_tril=np.eye(4)),
            D.MultivariateNormal(
                np.zeros((2, 4)), scale_tril=np.broadcast_to(np.eye(4), (3, 4, 4))
            ),
        )
    with pytest.raises(ValueError, match=r"d \(Gamma\)'s parameters.*\(2,\).*\(3,\)"):
        D.entropy(D.Gamma(np.ones(2), np.ones(3)))
    with pytest.raises(ValueError, match=r"reinterpreted_batch_ndims is 2.*only 1 batch"):
        D.kl(
            D.Independent(D.Normal(np.zeros(3), 1.0), 2),
            D.Independent(D.Normal(np.zeros(3), 1.0), 2),
        )
    torch = need("torch")
    T = torch.distributions
    a, b = torch.zeros(2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"p's \(2,\) and q's \(3,\)"):
        D.kl(T.Normal(a, 1.0), T.Normal(b, 1.0))
