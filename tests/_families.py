"""The families and pairs of kl_backends.distributions, as test data.

For each family: a generator of float64 parameters (ranges chosen so that the
cross-family pairs are mostly finite), how to build it in kl_backends, in
torch.distributions and in TFP (``None`` where that library lacks the family),
and an independent reference density: SciPy's ``scipy.stats`` (or a density
written here) for numerical integration of p log(p / q).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, stats
from scipy.special import rel_entr

import kl_backends.distributions as D


@dataclass(frozen=True)
class Family:
    gen: Callable[[Any, int], dict[str, np.ndarray]]
    ours: Callable[[dict[str, Any]], Any]
    torch: Callable[[Any, dict[str, Any]], Any] | None = None
    tfp: Callable[[Any, dict[str, Any]], Any] | None = None
    # Reference: a frozen scipy.stats distribution (or object with logpdf/pdf/support) per element.
    scipy: Callable[[dict[str, float]], Any] | None = None
    discrete: int = 0  # > 0: sum the reference over 0 .. discrete - 1
    event: int = 0  # number of event axes


def _u(lo: float, hi: float) -> Callable[[Any, int], np.ndarray]:
    return lambda rng, n: rng.uniform(lo, hi, n)


def _cb_logpdf(lam: float) -> Any:
    x = 1 - 2 * lam
    log_c = math.log(2 * math.atanh(x) / x) if abs(x) > 1e-12 else math.log(2)

    class _CB:
        def logpdf(self, t: float) -> float:
            return log_c + t * math.log(lam) + (1 - t) * math.log1p(-lam)

        def pdf(self, t: float) -> float:
            return math.exp(self.logpdf(t))

        def support(self) -> tuple[float, float]:
            return (0.0, 1.0)

    return _CB()


FAMILIES: dict[str, Family] = {
    "Normal": Family(
        lambda r, n: {"loc": r.normal(size=n), "scale": r.uniform(0.5, 2, n)},
        lambda d: D.Normal(d["loc"], d["scale"]),
        lambda T, d: T.Normal(d["loc"], d["scale"]),
        lambda tfd, d: tfd.Normal(d["loc"], d["scale"]),
        lambda d: stats.norm(d["loc"], d["scale"]),
    ),
    "LogNormal": Family(
        lambda r, n: {"loc": r.normal(size=n) * 0.5, "scale": r.uniform(0.5, 1.5, n)},
        lambda d: D.LogNormal(d["loc"], d["scale"]),
        lambda T, d: T.LogNormal(d["loc"], d["scale"]),
        lambda tfd, d: tfd.LogNormal(d["loc"], d["scale"]),
        lambda d: stats.lognorm(s=d["scale"], scale=math.exp(d["loc"])),
    ),
    "HalfNormal": Family(
        lambda r, n: {"scale": r.uniform(0.5, 2, n)},
        lambda d: D.HalfNormal(d["scale"]),
        lambda T, d: T.HalfNormal(d["scale"]),
        lambda tfd, d: tfd.HalfNormal(d["scale"]),
        lambda d: stats.halfnorm(scale=d["scale"]),
    ),
    "Laplace": Family(
        lambda r, n: {"loc": r.normal(size=n), "scale": r.uniform(0.5, 2, n)},
        lambda d: D.Laplace(d["loc"], d["scale"]),
        lambda T, d: T.Laplace(d["loc"], d["scale"]),
        lambda tfd, d: tfd.Laplace(d["loc"], d["scale"]),
        lambda d: stats.laplace(d["loc"], d["scale"]),
    ),
    "Gumbel": Family(
        lambda r, n: {"loc": r.normal(size=n), "scale": r.uniform(0.5, 2, n)},
        lambda d: D.Gumbel(d["loc"], d["scale"]),
        lambda T, d: T.Gumbel(d["loc"], d["scale"]),
        lambda tfd, d: tfd.Gumbel(d["loc"], d["scale"]),
        lambda d: stats.gumbel_r(d["loc"], d["scale"]),
    ),
    "Cauchy": Family(
        lambda r, n: {"loc": r.normal(size=n), "scale": r.uniform(0.5, 2, n)},
        lambda d: D.Cauchy(d["loc"], d["scale"]),
        lambda T, d: T.Cauchy(d["loc"], d["scale"]),
        lambda tfd, d: tfd.Cauchy(d["loc"], d["scale"]),
        lambda d: stats.cauchy(d["loc"], d["scale"]),
    ),
    "Uniform": Family(
        lambda r, n: (lambda lo: {"low": lo, "high": lo + r.uniform(0.1, 0.6, n)})(
            r.uniform(0.05, 0.3, n)
        ),
        lambda d: D.Uniform(d["low"], d["high"]),
        lambda T, d: T.Uniform(d["low"], d["high"]),
        lambda tfd, d: tfd.Uniform(d["low"], d["high"]),
        lambda d: stats.uniform(d["low"], d["high"] - d["low"]),
    ),
    "Exponential": Family(
        lambda r, n: {"rate": r.uniform(0.5, 3, n)},
        lambda d: D.Exponential(d["rate"]),
        lambda T, d: T.Exponential(d["rate"]),
        lambda tfd, d: tfd.Exponential(d["rate"]),
        lambda d: stats.expon(scale=1 / d["rate"]),
    ),
    "Gamma": Family(
        lambda r, n: {"concentration": r.uniform(1.2, 4, n), "rate": r.uniform(0.5, 3, n)},
        lambda d: D.Gamma(d["concentration"], d["rate"]),
        lambda T, d: T.Gamma(d["concentration"], d["rate"]),
        lambda tfd, d: tfd.Gamma(d["concentration"], d["rate"]),
        lambda d: stats.gamma(d["concentration"], scale=1 / d["rate"]),
    ),
    "Chi2": Family(
        lambda r, n: {"df": r.uniform(2.5, 8, n)},
        lambda d: D.Chi2(d["df"]),
        lambda T, d: T.Chi2(d["df"]),
        lambda tfd, d: tfd.Chi2(d["df"]),
        lambda d: stats.chi2(d["df"]),
    ),
    "InverseGamma": Family(
        lambda r, n: {"concentration": r.uniform(1.5, 4, n), "rate": r.uniform(0.5, 3, n)},
        lambda d: D.InverseGamma(d["concentration"], d["rate"]),
        lambda T, d: T.InverseGamma(d["concentration"], d["rate"]),
        lambda tfd, d: tfd.InverseGamma(d["concentration"], d["rate"]),
        lambda d: stats.invgamma(d["concentration"], scale=d["rate"]),
    ),
    "Beta": Family(
        lambda r, n: {
            "concentration1": r.uniform(1.2, 4, n),
            "concentration0": r.uniform(1.2, 4, n),
        },
        lambda d: D.Beta(d["concentration1"], d["concentration0"]),
        lambda T, d: T.Beta(d["concentration1"], d["concentration0"]),
        lambda tfd, d: tfd.Beta(d["concentration1"], d["concentration0"]),
        lambda d: stats.beta(d["concentration1"], d["concentration0"]),
    ),
    "Pareto": Family(
        lambda r, n: {"scale": r.uniform(0.01, 0.04, n), "alpha": r.uniform(2.5, 5, n)},
        lambda d: D.Pareto(d["scale"], d["alpha"]),
        lambda T, d: T.Pareto(d["scale"], d["alpha"]),
        lambda tfd, d: tfd.Pareto(d["alpha"], d["scale"]),
        lambda d: stats.pareto(d["alpha"], scale=d["scale"]),
    ),
    "Weibull": Family(
        lambda r, n: {"scale": r.uniform(0.5, 2, n), "concentration": r.uniform(0.8, 3, n)},
        lambda d: D.Weibull(d["scale"], d["concentration"]),
        lambda T, d: T.Weibull(d["scale"], d["concentration"]),
        lambda tfd, d: tfd.Weibull(d["concentration"], d["scale"]),
        lambda d: stats.weibull_min(d["concentration"], scale=d["scale"]),
    ),
    "VonMises": Family(
        lambda r, n: {"loc": r.uniform(-3, 3, n), "concentration": r.uniform(0.2, 8, n)},
        lambda d: D.VonMises(d["loc"], d["concentration"]),
        lambda T, d: T.VonMises(d["loc"], d["concentration"]),
        lambda tfd, d: tfd.VonMises(d["loc"], d["concentration"]),
        None,  # integrated on the circle in the test
    ),
    "ContinuousBernoulli": Family(
        lambda r, n: {"probs": r.uniform(0.05, 0.95, n)},
        lambda d: D.ContinuousBernoulli(d["probs"]),
        lambda T, d: T.ContinuousBernoulli(d["probs"]),
        lambda tfd, d: tfd.ContinuousBernoulli(probs=d["probs"]),
        lambda d: _cb_logpdf(d["probs"]),
    ),
    "Poisson": Family(
        lambda r, n: {"rate": r.uniform(0.5, 3, n)},
        lambda d: D.Poisson(d["rate"]),
        lambda T, d: T.Poisson(d["rate"]),
        lambda tfd, d: tfd.Poisson(d["rate"]),
        lambda d: stats.poisson(d["rate"]),
        discrete=80,
    ),
    "Bernoulli": Family(
        lambda r, n: {"probs": r.uniform(0.05, 0.95, n)},
        lambda d: D.Bernoulli(d["probs"]),
        lambda T, d: T.Bernoulli(d["probs"]),
        lambda tfd, d: tfd.Bernoulli(probs=d["probs"]),
        lambda d: stats.bernoulli(d["probs"]),
        discrete=2,
    ),
    "Binomial": Family(
        lambda r, n: {"total_count": np.full(n, 7.0), "probs": r.uniform(0.05, 0.95, n)},
        lambda d: D.Binomial(d["total_count"], d["probs"]),
        lambda T, d: T.Binomial(d["total_count"], d["probs"]),
        lambda tfd, d: tfd.Binomial(d["total_count"], probs=d["probs"]),
        lambda d: stats.binom(int(d["total_count"]), d["probs"]),
        discrete=8,
    ),
    "Geometric": Family(
        lambda r, n: {"probs": r.uniform(0.2, 0.95, n)},
        lambda d: D.Geometric(d["probs"]),
        lambda T, d: T.Geometric(d["probs"]),
        lambda tfd, d: tfd.Geometric(probs=d["probs"]),
        lambda d: stats.geom(d["probs"], loc=-1),
        discrete=400,
    ),
    "Categorical": Family(
        lambda r, n: {"probs": r.dirichlet(np.ones(5), n)},
        lambda d: D.Categorical(d["probs"]),
        lambda T, d: T.Categorical(d["probs"]),
        lambda tfd, d: tfd.Categorical(probs=d["probs"]),
        event=1,
    ),
    "OneHotCategorical": Family(
        lambda r, n: {"logits": r.normal(size=(n, 5))},
        lambda d: D.OneHotCategorical(logits=d["logits"]),
        lambda T, d: T.OneHotCategorical(logits=d["logits"]),
        lambda tfd, d: tfd.OneHotCategorical(logits=d["logits"]),
        event=1,
    ),
    "Dirichlet": Family(
        lambda r, n: {"concentration": r.uniform(0.5, 4, (n, 4))},
        lambda d: D.Dirichlet(d["concentration"]),
        lambda T, d: T.Dirichlet(d["concentration"]),
        lambda tfd, d: tfd.Dirichlet(d["concentration"]),
        event=1,
    ),
    "MultivariateNormal": Family(
        lambda r, n: {"loc": r.normal(size=(n, 4)), "scale_tril": _tril(r, n, 4)},
        lambda d: D.MultivariateNormal(d["loc"], scale_tril=d["scale_tril"]),
        lambda T, d: T.MultivariateNormal(d["loc"], scale_tril=d["scale_tril"]),
        lambda tfd, d: tfd.MultivariateNormalTriL(d["loc"], d["scale_tril"]),
        event=1,
    ),
    "LowRankMultivariateNormal": Family(
        lambda r, n: {
            "loc": r.normal(size=(n, 4)),
            "cov_factor": r.normal(size=(n, 4, 2)),
            "cov_diag": r.uniform(0.5, 2, (n, 4)),
        },
        lambda d: D.LowRankMultivariateNormal(d["loc"], d["cov_factor"], d["cov_diag"]),
        lambda T, d: T.LowRankMultivariateNormal(d["loc"], d["cov_factor"], d["cov_diag"]),
        None,
        event=1,
    ),
    "Independent": Family(
        lambda r, n: {"loc": r.normal(size=(n, 3)), "scale": r.uniform(0.5, 2, (n, 3))},
        lambda d: D.Independent(D.Normal(d["loc"], d["scale"]), 1),
        lambda T, d: T.Independent(T.Normal(d["loc"], d["scale"]), 1),
        lambda tfd, d: tfd.Independent(tfd.Normal(d["loc"], d["scale"]), 1),
        event=1,
    ),
}


def _tril(rng: Any, n: int, d: int) -> np.ndarray:
    a = rng.normal(size=(n, d, d)) * 0.3
    low = np.tril(a, -1) + np.eye(d) * rng.uniform(0.5, 1.5, (n, 1, d))
    return low


def pairs() -> list[tuple[str, str]]:
    """Every registered pair whose two types are families above."""
    return [(a, b) for a, b in D.registered_pairs() if a in FAMILIES and b in FAMILIES]


INFINITE = {
    (a, b)
    for a, qs in {
        "Normal": ("Beta", "ContinuousBernoulli", "Exponential", "Gamma", "Pareto", "Uniform"),
        "Laplace": ("Beta", "ContinuousBernoulli", "Exponential", "Gamma", "Pareto", "Uniform"),
        "Gumbel": ("Beta", "ContinuousBernoulli", "Exponential", "Gamma", "Pareto", "Uniform"),
        "Exponential": ("Beta", "ContinuousBernoulli", "Pareto", "Uniform"),
        "Gamma": ("Beta", "ContinuousBernoulli", "Pareto", "Uniform"),
        "Pareto": ("Beta", "ContinuousBernoulli", "Uniform"),
        "Beta": ("Pareto",),
        "ContinuousBernoulli": ("Pareto",),
        "Poisson": ("Bernoulli", "Binomial"),
    }.items()
    for b in qs
}


def element(params: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    return {k: v[i] for k, v in params.items()}


def reference(
    pname: str, qname: str, pp: dict[str, np.ndarray], qq: dict[str, np.ndarray]
) -> np.ndarray:
    """An independent float64 KL per batch element: integration or a sum, with SciPy's densities."""
    n = len(next(iter(pp.values())))
    return np.array(
        [_reference_one(pname, qname, element(pp, i), element(qq, i)) for i in range(n)]
    )


def _reference_one(pname: str, qname: str, p: dict[str, Any], q: dict[str, Any]) -> float:
    # quad's "roundoff detected" warnings: the comparison at rtol 1e-8 judges the result.
    with np.errstate(over="ignore", under="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return _reference_one_quiet(pname, qname, p, q)


def _reference_one_quiet(pname: str, qname: str, p: dict[str, Any], q: dict[str, Any]) -> float:
    if (pname, qname) in INFINITE:
        return math.inf
    fp, fq = FAMILIES[pname], FAMILIES[qname]
    if pname == qname == "VonMises":
        dp = stats.vonmises(p["concentration"], loc=p["loc"])
        dq = stats.vonmises(q["concentration"], loc=q["loc"])
        f = lambda x: dp.pdf(x) * (dp.logpdf(x) - dq.logpdf(x))  # noqa: E731
        return integrate.quad(
            f, p["loc"] - math.pi, p["loc"] + math.pi, epsabs=1e-14, epsrel=1e-12
        )[0]
    if fp.event:
        return _reference_multivariate(pname, p, q)
    dp, dq = fp.scipy(p), fq.scipy(q)
    if fp.discrete:
        k = np.arange(fp.discrete, dtype=float)
        lp, lq = dp.logpmf(k), dq.logpmf(k)
        pk = np.exp(lp)
        if np.any((pk > 0) & np.isneginf(lq)):
            return math.inf
        return float(np.sum(np.where(pk > 0, pk * (lp - np.where(np.isneginf(lq), 0, lq)), 0.0)))
    lo, hi = dp.support()
    qlo, qhi = dq.support()
    if lo < qlo or hi > qhi:
        return math.inf

    def f(x: float) -> float:
        lp = float(dp.logpdf(x))
        if lp < -700:  # p's density underflows: the term is 0 (q's log may be -inf here)
            return 0.0
        return math.exp(lp) * (lp - float(dq.logpdf(x)))

    if math.isfinite(lo) and math.isfinite(hi):
        return integrate.quad(f, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    # Infinite support: E_p[log p - log q] with x = ppf(u), u uniform on (0, 1).

    def g(u: float) -> float:
        x = float(dp.ppf(u))
        return float(dp.logpdf(x)) - float(dq.logpdf(x))

    return sum(
        integrate.quad(g, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        for a, b in ((0.0, 0.5), (0.5, 1.0))
    )


def _reference_multivariate(name: str, p: dict[str, Any], q: dict[str, Any]) -> float:
    from scipy.special import digamma, gammaln, log_softmax

    if name == "Categorical":
        a, b = p["probs"] / p["probs"].sum(), q["probs"] / q["probs"].sum()
        return float(np.sum(rel_entr(a, b)))
    if name == "OneHotCategorical":
        a, b = np.exp(log_softmax(p["logits"])), np.exp(log_softmax(q["logits"]))
        return float(np.sum(rel_entr(a, b)))
    if name == "Dirichlet":
        a, b = p["concentration"], q["concentration"]
        return float(
            gammaln(a.sum())
            - gammaln(b.sum())
            - np.sum(gammaln(a) - gammaln(b))
            + np.sum((a - b) * (digamma(a) - digamma(a.sum())))
        )
    if name == "Independent":
        return float(
            np.sum(
                np.log(q["scale"] / p["scale"])
                + (p["scale"] ** 2 + (p["loc"] - q["loc"]) ** 2) / (2 * q["scale"] ** 2)
                - 0.5
            )
        )
    cp, cq = _cov(name, p), _cov(name, q)
    return _ref_mvn(p["loc"], q["loc"], cp, cq)


def _cov(name: str, d: dict[str, Any]) -> np.ndarray:
    if "scale_tril" in d:
        return d["scale_tril"] @ d["scale_tril"].T
    return d["cov_factor"] @ d["cov_factor"].T + np.diag(d["cov_diag"])


def _ref_mvn(mp: np.ndarray, mq: np.ndarray, cp: np.ndarray, cq: np.ndarray) -> float:
    """Textbook formula with an explicit inverse and determinants."""
    iq = np.linalg.inv(cq)
    dm = mq - mp
    return 0.5 * float(
        np.trace(iq @ cp)
        + dm @ iq @ dm
        - len(mp)
        + np.linalg.slogdet(cq)[1]
        - np.linalg.slogdet(cp)[1]
    )


def mixed_reference(pname: str, qname: str, pp: dict[str, Any], qq: dict[str, Any]) -> np.ndarray:
    """``reference`` for the cross pairs between MultivariateNormal and its low-rank form."""
    n = len(pp["loc"])
    return np.array(
        [
            _ref_mvn(
                pp["loc"][i], qq["loc"][i], _cov(pname, element(pp, i)), _cov(qname, element(qq, i))
            )
            for i in range(n)
        ]
    )
