"""Every worked example (KL in TensorFlow, the grid tutorial, the discrete note), on every installed backend it applies to.

    python examples/worked_examples.py            # prints one block per backend

KL in TensorFlow (Categorical, zeros, logits, VAE latent loss, Normal vs
Normal), the tutorial (continuous KL from pdf values on a grid, asymmetry; the
gradient-descent fit is examples/fit_gaussian.py) and the note (discrete, bits vs
nats, samples, 1-D and multivariate Gaussians, F.kl_div's order, kl_categorical).
"""

from __future__ import annotations

import math

import numpy as np

import kl_backends as kb
from kl_backends.testing import available_targets


def _pdf(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def examples(target) -> dict[str, tuple[float | list[float], object]]:
    """name -> (published value, what kl_backends computes) on ``target``."""
    f, out = target.asarray, {}
    a = [[0.25, 0.1, 0.65], [0.8, 0.15, 0.05]]
    b = [[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]]
    out["000 Categorical KL(a || b)"] = ([0.88995184, 1.08808468], kb.kl_divergence(f(a), f(b)))
    a0 = [[0.25, 0.1, 0.65], [0.8, 0.2, 0.0]]
    out["000 zero in p: finite, not NaN"] = (
        [0.88995184, 0.8 * math.log(0.8 / 0.15) + 0.2 * math.log(0.2 / 0.8)],
        kb.kl_divergence(f(a0), f(b)),
    )
    out["000 from logits = H(p,q) - H(p)"] = (
        [0.88995184, 1.08808468],
        kb.kl_divergence(f(np.log(a) + 1), f(np.log(b)), inputs="logits"),
    )
    out["000 KL(N(0,1) || N(1,2))"] = (0.44314718, kb.kl_normal(f(0.0), f(1.0), f(1.0), f(2.0)))
    mn, sd = np.array([[0.5, -1.0]]), np.array([[0.1, -0.3]])  # sd is a log-sd in that example
    latent = -0.5 * np.sum(1.0 + 2.0 * sd - mn**2 - np.exp(2.0 * sd), 1)
    out["000 VAE latent loss"] = (latent.tolist(), kb.kl_standard_normal(f(mn), f(2 * sd)))
    x = np.arange(-10, 10, 0.001)
    p, q, q54 = _pdf(x, 0, 2), _pdf(x, 2, 2), _pdf(x, 5, 4)
    out["001 sum over pdf values (the example's 500)"] = (500.0, kb.kl_divergence(f(p), f(q)))
    out["001 with dx: the real KL, 0.5"] = (0.5, kb.kl_from_densities(f(p), f(q), dx=0.001))
    out["001 KL(P || N(5,4)) with dx"] = (
        math.log(2) + (4 + 25) / 32 - 0.5,
        kb.kl_from_densities(f(p), f(q54), dx=0.001),
    )
    out["001 KL(N(5,4) || P), truncated grid"] = (
        float(np.trapezoid(q54 * np.log(q54 / p), x)),
        kb.kl_from_densities(f(q54), f(p), dx=0.001),
    )
    out["002 D(P || Q) in bits"] = (
        0.4712,
        kb.kl_divergence(f([0.4, 0.4, 0.2]), f([0.5, 0.1, 0.4]), base=2),
    )
    out["002 F.kl_div(q.log(), p, 'sum') in nats"] = (
        0.3266,
        kb.kl_divergence(f([0.4, 0.4, 0.2]), f([0.5, 0.1, 0.4])),
    )
    out["002 from samples {1,1,2,2,3} vs ..."] = (
        0.4712,
        kb.kl_from_counts(f([2, 2, 1]), f([5, 1, 4]), base=2),
    )
    out["002 1-D Gaussian formula"] = (
        math.log(3 / 1) + (1 + 4) / 18 - 0.5,
        kb.kl_normal(f(0.0), f(1.0), f(2.0), f(3.0)),
    )
    out["002 multivariate (diagonal) formula"] = (
        # 1/2 [log(det S2 / det S1) - d + tr(S2^-1 S1) + (m2 - m1)^T S2^-1 (m2 - m1)]
        0.5 * (math.log(8 / 1) - 3 + (1 + 0.5 + 0.25) + (1 + 0.5 + 0.25)),
        kb.kl_multivariate_normal(
            f(np.zeros(3)), f(np.ones(3)), var_p=f([1.0, 1.0, 1.0]), var_q=f([1.0, 2.0, 4.0])
        ),
    )
    rng = np.random.default_rng(0)
    pl, ql = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))
    lp = pl - np.log(np.exp(pl).sum(-1, keepdims=True))
    lq = ql - np.log(np.exp(ql).sum(-1, keepdims=True))
    out["002 kl_categorical(p_logit, q_logit)"] = (
        float(np.mean(np.sum(np.exp(lp) * (lp - lq), 1))),
        kb.kl_divergence(f(pl), f(ql), inputs="logits", reduction="mean"),
    )
    return out


def run(targets=None, tol: float = 5e-5) -> bool:
    ok = True
    for target in targets or available_targets():
        print(f"\n== {target.id}")
        with target.impl.harness():  # float64 on JAX too
            for name, (published, got) in examples(target).items():
                value = target.to_numpy(got)
                good = np.allclose(value, published, atol=tol, rtol=1e-6)
                ok &= bool(good)
                shown = np.array2string(np.asarray(value), precision=8)
                print(f"  {'OK  ' if good else 'FAIL'} {name:42s} {shown}")
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if run() else 1)
