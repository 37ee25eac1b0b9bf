"""Parameters outside their domain: NaN from kl/entropy/cross_entropy, ValueError with validate=True.

The oracle of which values are invalid is ``torch.distributions`` itself: a
distribution built with ``validate_args=True`` raising (its ``arg_constraints``,
and the extra checks some families make in ``__init__``), row by row.  The one
deliberate difference: ``VonMises.concentration`` may be 0 (the uniform
distribution on the circle), where TFP's ``VonMises(validate_args=True)`` is
the oracle.

For every family (and the parameterisations FAMILIES does not use: logits,
covariance and precision matrices), each parameter in turn takes values at and
around the edges of the domains (and inside vectors and matrices, entries of
them); every such row is one batch element of one ``kl`` call on each backend.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import kl_backends.distributions as D
from _families import FAMILIES
from conftest import need

CANDIDATES = (-2.0, -0.0, 0.0, 0.5, 1.0, 2.5, math.inf, -math.inf, math.nan)


@dataclass(frozen=True)
class Variant:
    ours: Callable[[dict[str, Any]], Any]
    torch: Callable[[Any, dict[str, Any]], Any]
    base: dict[str, np.ndarray]


def _base(name: str) -> dict[str, np.ndarray]:
    return {k: v[0] for k, v in FAMILIES[name].gen(np.random.default_rng(11), 1).items()}


def _variants() -> dict[str, Variant]:
    out = {
        name: Variant(fam.ours, fam.torch, _base(name))
        for name, fam in FAMILIES.items()
        if fam.torch is not None
    }
    logit = {"logits": np.float64(-0.4)}
    for name in ("Bernoulli", "Geometric", "ContinuousBernoulli"):
        out[f"{name}(logits)"] = Variant(
            lambda d, name=name: getattr(D, name)(logits=d["logits"]),
            lambda T, d, name=name: getattr(T, name)(logits=d["logits"]),
            logit,
        )
    out["Binomial(logits)"] = Variant(
        lambda d: D.Binomial(d["total_count"], logits=d["logits"]),
        lambda T, d: T.Binomial(d["total_count"], logits=d["logits"]),
        {"total_count": np.float64(7.0), **logit},
    )
    out["Categorical(logits)"] = Variant(
        lambda d: D.Categorical(logits=d["logits"]),
        lambda T, d: T.Categorical(logits=d["logits"]),
        {"logits": np.array([0.3, -1.0, 2.0])},
    )
    out["OneHotCategorical(probs)"] = Variant(
        lambda d: D.OneHotCategorical(probs=d["probs"]),
        lambda T, d: T.OneHotCategorical(probs=d["probs"]),
        {"probs": np.array([0.2, 0.5, 0.3])},
    )
    tril = _base("MultivariateNormal")
    cov = tril["scale_tril"] @ tril["scale_tril"].T
    for kind, matrix in (("covariance_matrix", cov), ("precision_matrix", np.linalg.inv(cov))):
        out[f"MultivariateNormal({kind})"] = Variant(
            lambda d, kind=kind: D.MultivariateNormal(d["loc"], **{kind: d[kind]}),
            lambda T, d, kind=kind: T.MultivariateNormal(d["loc"], **{kind: d[kind]}),
            {"loc": tril["loc"], kind: matrix},
        )
    return out


VARIANTS = _variants()


def _rows(base: dict[str, np.ndarray]) -> Iterator[tuple[str, dict[str, np.ndarray], bool]]:
    """(parameter, parameters, at an edge) with one parameter, or one entry of it, at each
    candidate; "at an edge": 0 or 1, or a whole vector changed."""
    for name, value in base.items():
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            places: list[tuple[int, ...]] = [()]
        elif value.ndim == 1:
            places = [(0,)]
        else:  # a diagonal entry, one above and one below the diagonal
            places = [(0, 0), (0, 1), (1, 0)]
        for place in places:
            for c in CANDIDATES:
                changed = value.copy()
                changed[place] = c
                yield name, {**base, name: changed}, c in (0.0, 1.0)
        if value.ndim == 2:  # symmetric changes (covariance, precision): not PD when large
            for c in (-3.0, 3.0, math.nan):
                changed = value.copy()
                changed[0, 1] = changed[1, 0] = c
                yield name, {**base, name: changed}, False
        if value.ndim == 1:
            yield name, {**base, name: np.zeros_like(value)}, True
            yield name, {**base, name: np.full_like(value, -math.inf)}, True


class _Validating:
    """``torch.distributions`` with ``validate_args=True`` on every constructor.

    (Passed explicitly: ``ContinuousBernoulli`` checks ``probs`` only then, before
    clamping them.)
    """

    def __init__(self, T: Any) -> None:
        self._T = T

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._T, name), validate_args=True)


def _torch_rejects(variant: str, params: dict[str, np.ndarray]) -> bool:
    torch = need("torch")
    if variant == "VonMises":  # torch's loc, TFP's concentration
        base = VARIANTS[variant].base["concentration"]
        loc_only = {**params, "concentration": base}
        return _tfp_rejects_vonmises(params) or _torch_rejects("VonMises(loc)", loc_only)
    build = VARIANTS[variant.split("(")[0] if variant == "VonMises(loc)" else variant].torch
    tensors = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build(_Validating(torch.distributions), tensors)
    except ValueError:  # a constraint (arg_constraints, or __init__'s own check) fails
        return True
    except RuntimeError:  # torch factorised before validating (LowRankMultivariateNormal):
        return _breaks_arg_constraints(torch, variant, tensors)  # its constraints decide
    return False


def _breaks_arg_constraints(torch: Any, variant: str, tensors: dict[str, Any]) -> bool:
    constraints = torch.distributions.constraints
    declared = getattr(getattr(torch.distributions, _family(variant)), "arg_constraints", None)
    if isinstance(declared, dict):
        for key, constraint in declared.items():
            if key in tensors and not constraints.is_dependent(constraint):
                if not bool(constraint.check(tensors[key]).all()):
                    return True
    return False


def _tfp_rejects_vonmises(params: dict[str, np.ndarray]) -> bool:
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    try:
        tfd.VonMises(
            tf.constant(params["loc"], tf.float64),
            tf.constant(params["concentration"], tf.float64),
            validate_args=True,
        )
    except (ValueError, tf.errors.InvalidArgumentError):
        return True
    return False


@functools.cache
def _table(variant: str) -> tuple[list[str], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The rows of a variant stacked into one batch, which of them the oracle rejects, and
    which go into the batch of the backend test: the invalid ones the elementwise masks see
    (all but symmetric matrices without a Cholesky factor, which only ``validate=True``
    reads), and the valid ones inside the domain (finite, off its edges: values there are
    each closed form's own business, tested with the closed forms)."""
    rows = list(_rows(VARIANTS[variant].base))
    names = [name for name, _, _ in rows]
    stacked = {k: np.stack([np.asarray(r[k], np.float64) for _, r, _ in rows]) for k in rows[0][1]}
    rejected = np.array([_torch_rejects(variant, r) for _, r, _ in rows])
    batched = np.array(
        [
            _visible(r) if bad else not edge and all(np.isfinite(v).all() for v in r.values())
            for (_, r, edge), bad in zip(rows, rejected)
        ]
    )
    return names, stacked, rejected, batched


def _visible(params: dict[str, np.ndarray]) -> bool:
    for key in ("covariance_matrix", "precision_matrix"):
        m = params.get(key)
        if (
            m is not None
            and np.isfinite(m).all()
            and np.allclose(m, m.T)
            and (np.diag(m) > 0).all()
        ):
            return bool(np.linalg.eigvalsh(m)[0] > 0)
    return True


def _family(variant: str) -> str:
    """The container class a variant's messages name (Independent: its base's)."""
    return "Normal" if variant == "Independent" else variant.split("(")[0]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_oracle_rejects_something(variant: str) -> None:
    """Each parameter has values the oracle rejects and values it accepts."""
    names, _, rejected, _ = _table(variant)
    for name in set(names):
        mine = np.array([n == name for n in names])
        assert rejected[mine].any(), (variant, name)
        assert not rejected[mine].all(), (variant, name)


ROWS = 64  # every batch padded to this size (valid rows): fewer shapes for JAX to compile
#: Where each op compiles (JAX) or builds a graph (Dask), the end-to-end check runs on one
#: variant per structure (the masks themselves are checked for every variant).
#: Dask: the factorisations (NumPy's, which raise) included; JAX's give NaN without raising.
SLOW = {
    "jax": ("Gamma", "Uniform", "Categorical(logits)"),
    "dask": (
        "Gamma",
        "Uniform",
        "Categorical(logits)",
        "MultivariateNormal(covariance_matrix)",
        "LowRankMultivariateNormal",
        "Independent",
    ),
}


def _batch(backend, variant: str) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """p's rows on ``backend`` (padded with the valid base), the base, which rows are invalid."""
    _, stacked, rejected, batched = _table(variant)
    base = VARIANTS[variant].base
    n = int(batched.sum())
    rows = {
        k: backend.asarray(
            np.concatenate([v[batched], np.broadcast_to(base[k], (ROWS - n, *v.shape[1:]))])
        )
        for k, v in stacked.items()
    }
    one = {k: backend.asarray(np.asarray(v, np.float64)) for k, v in base.items()}
    bad = np.concatenate([rejected[batched], np.zeros(ROWS - n, bool)])
    assert bad.any() and not bad.all(), variant
    return rows, one, bad


def test_masks_agree_with_the_oracle_on_every_backend(backend) -> None:
    """The elementwise masks: False exactly where the oracle rejects (every variant)."""
    from kl_backends.distributions import _domains

    for variant in sorted(VARIANTS):
        rows, _, bad = _batch(backend, variant)
        _, ok = _domains.sanitize(VARIANTS[variant].ours(rows))
        np.testing.assert_array_equal(
            ~backend.to_numpy(ok).astype(bool), bad, err_msg=f"{variant} on {backend}"
        )


def test_invalid_parameters_give_nan_on_every_backend(backend) -> None:
    for variant in sorted(VARIANTS):
        if backend.name in SLOW and variant not in SLOW[backend.name]:
            continue
        build = VARIANTS[variant].ours
        rows, one, bad = _batch(backend, variant)
        for p, q in ((build(rows), build(one)), (build(one), build(rows))):
            got = backend.to_numpy(D.kl(p, q))
            assert got.shape == (ROWS,), variant
            np.testing.assert_array_equal(
                np.isnan(got[bad]), True, err_msg=f"{variant} on {backend}: kl"
            )
        try:
            h = backend.to_numpy(D.entropy(build(rows)))
        except NotImplementedError:
            continue
        np.testing.assert_array_equal(np.isnan(h[bad]), True, err_msg=f"{variant}: entropy")
        ce = backend.to_numpy(D.cross_entropy(build(rows), build(one)))
        np.testing.assert_array_equal(np.isnan(ce[bad]), True, err_msg=f"{variant}: cross")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_validate_raises_exactly_where_the_oracle_rejects(variant: str) -> None:
    names, stacked, rejected, _ = _table(variant)
    rows = [{k: v[i] for k, v in stacked.items()} for i in range(len(names))]
    build = VARIANTS[variant].ours
    one = build(VARIANTS[variant].base)
    family = _family(variant)
    for i, name in enumerate(names):
        d = build(rows[i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if not rejected[i]:
                try:
                    D.kl(d, one, validate=True)
                    D.kl(one, d, validate=True)
                except (ValueError, np.linalg.LinAlgError) as exc:
                    # An infinite entry (valid): the closed form's own business, not validate's.
                    assert " must be " not in str(exc), str(exc)
                    assert not all(np.isfinite(v).all() for v in rows[i].values())
                continue
            for p, q, side in ((d, one, "p"), (one, d, "q")):
                with pytest.raises(ValueError, match=rf"{family}\.") as info:
                    D.kl(p, q, validate=True)
                message = str(info.value)
                assert name in message and f"in {side}" in message, message
            if not _visible(rows[i]):  # no Cholesky factor: never a silent number without it
                try:
                    out = D.kl(d, one)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                assert not np.isfinite(out), (variant, i)


def test_validate_messages() -> None:
    with pytest.raises(ValueError, match=r"^Gamma\.rate must be > 0; got -1\.0 \(in q\.rate\)$"):
        D.kl(D.Gamma(2.0, 1.0), D.Gamma(2.0, -1.0), validate=True)
    with pytest.raises(
        ValueError, match=r"Pareto\.scale must be > 0; got -2\.0 at batch index \(1,\) \(in p"
    ):
        D.kl(D.Pareto(np.array([1.0, -2.0]), 2.0), D.Pareto(1.0, 3.0), validate=True)
    with pytest.raises(ValueError, match=r"Uniform\.low must be < Uniform\.high; got low=1\.0"):
        D.entropy(D.Uniform(1.0, 0.5), validate=True)
    with pytest.raises(ValueError, match=r"Normal\.scale must be > 0.*in p\.base_dist\.scale"):
        D.kl(
            D.Independent(D.Normal(np.zeros(3), np.array([1.0, 0.0, 1.0])), 1),
            D.Independent(D.Normal(0.0, np.ones(3)), 1),
            validate=True,
        )
    with pytest.raises(ValueError, match=r"Categorical\.probs must be >= 0 and finite"):
        D.cross_entropy(
            D.Categorical(np.array([0.5, -0.5, 1.0])), D.Categorical(np.ones(3)), validate=True
        )
    with pytest.raises(TypeError, match="validate must be True or False"):
        D.kl(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0), validate="yes")


def test_issue_examples_give_nan() -> None:
    """Values that were plausible numbers (even negative KLs) for invalid parameters."""
    assert math.isnan(D.kl(D.Pareto(-1.0, 2.0), D.Pareto(-2.0, 3.0)))
    assert math.isnan(D.kl(D.VonMises(0.0, -1.0), D.VonMises(0.0, -2.0)))
    assert math.isnan(D.kl(D.Cauchy(0.0, -1.0), D.Cauchy(0.0, 1.0)))
    for cls in (D.Gamma, D.Laplace, D.Gumbel):
        assert math.isnan(D.kl(cls(1.0, -1.0), cls(1.0, -2.0))), cls
    assert math.isnan(D.kl(D.Weibull(-1.0, 2.0), D.Weibull(-2.0, 2.0)))
    assert math.isnan(D.kl(D.Uniform(1.0, 0.0), D.Uniform(1.0, 0.0)))
    assert math.isnan(D.kl(D.Beta(-0.5, 2.0), D.Beta(1.0, 1.0)))


def test_masks_need_no_host_sync_under_jit() -> None:
    """NaN for invalid parameters inside jax.jit: no value is read (tf.function runs the
    same code in test_distributions.py::test_same_family_pairs_compiled)."""
    jax = need("jax")
    a = np.array([2.0, 2.0, -2.0])
    b = np.array([1.0, -1.0, 1.0])

    def fn(a, b):
        return D.kl(D.Gamma(a, b), D.Gamma(a, 2 * b))

    got = np.asarray(jax.jit(fn)(a, b))
    # KL(Gamma(2, 1) || Gamma(2, 2)) = 2 (log 2 ... ): SciPy's quadrature as the oracle
    from scipy import integrate, stats

    p, q = stats.gamma(2.0, scale=1.0), stats.gamma(2.0, scale=0.5)
    exact = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), 0, np.inf)[0]
    assert got[0] == pytest.approx(exact, rel=1e-10)
    assert np.isnan(got[1:]).all()
    with pytest.raises(ValueError, match="validate=True needs the values"):
        jax.jit(lambda a, b: D.kl(D.Gamma(a, b), D.Gamma(2.0, 1.0), validate=True))(a, b)


def test_gradients_flow_at_valid_elements() -> None:
    torch = need("torch")
    a = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    out = D.kl(D.Gamma(a, 1.0), D.Gamma(3.0, 1.0))
    out[0].backward()
    # d/da KL(Gamma(a, 1) || Gamma(3, 1)) = (a - 3) psi'(a), from SciPy
    from scipy.special import polygamma

    assert a.grad[0].item() == pytest.approx((2.0 - 3.0) * polygamma(1, 2.0), rel=1e-8)
    assert a.grad[1].item() == 0.0
