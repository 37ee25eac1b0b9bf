"""Shared by the Monte Carlo tests: parameters of the test families, a two-component
normal mixture (the object under test and its SciPy density) and KL by numerical
integration (``scipy.integrate.quad``), the reference for pairs without a closed form.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, stats
from scipy.special import log_softmax

import kl_backends.distributions as D
from _families import FAMILIES

#: Batch size of the test families' parameters.
N = 4


def family_params(name: str, seed: int = 0) -> dict:
    return FAMILIES[name].gen(np.random.default_rng([seed, *map(ord, name)]), N)


def mixture(conv=np.asarray, logits=(0.1, -0.3), locs=(-1.0, 2.0), scales=(0.5, 1.0)):
    return D.MixtureSameFamily(
        D.Categorical(logits=conv(np.array(logits))),
        D.Normal(conv(np.array(locs)), conv(np.array(scales))),
    )


def mixture_pdf(logits, locs, scales):
    w = np.exp(log_softmax(np.asarray(logits)))
    return lambda x: sum(wi * stats.norm.pdf(x, m, s) for wi, m, s in zip(w, locs, scales))


def quad_kl(p_pdf, q_logpdf, lo=-30.0, hi=30.0) -> float:
    def f(x: float) -> float:
        px = p_pdf(x)
        return 0.0 if px < 1e-300 else px * (math.log(px) - q_logpdf(x))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(f, lo, hi, epsabs=1e-13, epsrel=1e-11, limit=400)[0]
