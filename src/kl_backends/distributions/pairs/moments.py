"""The terms the cross-family pairs share: -E_p[log q] for q Normal, Gumbel, Gamma, Exponential.

Each finite pair is ``-H(p) - E_p[log q(x)]`` with the moments of p that
``log q`` needs (``E[x]``, ``E[x^2]``, ``E[log x]``, ``E[exp(-x/b)]``).
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    LOG_2PI,
    inf_where,
    log_ratio,
)

__all__ = ["kl_gumbel_q", "kl_normal_q", "neg_log_exponential", "neg_log_gamma"]


def _log_scale(xp: Any, scale: Any, s: Any) -> Any:
    """log(scale / s); log(scale) where p has no scale (``s is None``)."""
    return xp.log(scale) if s is None else log_ratio(xp, scale, s)


def kl_normal_q(xp: Any, h0: Any, s: Any, mean: Any, sd: Any, loc: Any, scale: Any) -> Any:
    """KL(p || N(loc, scale^2)) for p with entropy ``h0 + log s``, mean and standard deviation.

    ``-H(p) - E[log q] = -h0 + log(2 pi)/2 + log(scale / s) + (z^2 + v^2) / 2`` with
    ``z = (mean - loc) / scale``, ``v = sd / scale``: ratios first, so that scales near
    the ends of the float range (1e30 in float32) neither overflow nor cancel.
    """
    z = (mean - loc) / scale
    v = sd / scale
    return 0.5 * LOG_2PI - h0 + _log_scale(xp, scale, s) + 0.5 * (z * z) + 0.5 * (v * v)


def kl_gumbel_q(xp: Any, h0: Any, s: Any, mean: Any, log_e: Any, loc: Any, scale: Any) -> Any:
    """KL(p || Gumbel(loc, scale)) for p with entropy ``h0 + log s``, mean and
    ``log_e = log E[exp((loc - x) / scale)]`` (one exponent: no exp(loc/scale) to overflow alone).

    ``-H(p) - E[log q] = -h0 + log(scale / s) + (mean - loc) / scale + exp(log_e)``; +inf
    where ``exp(log_e)`` is (not ``inf - inf`` against a linear term of -inf).
    """
    e = xp.exp(log_e)
    out = -h0 + _log_scale(xp, scale, s) + (mean - loc) / scale + e
    return inf_where(xp, e == math.inf, out)


def neg_log_gamma(xp: Any, m1: Any, mlog: Any, a: Any, b: Any) -> Any:
    """-E[log Gamma(x; a, rate b)] from E[x] = m1 and E[log x] = mlog."""
    return S.lgamma(a) - a * xp.log(b) - (a - 1) * mlog + b * m1


def neg_log_exponential(xp: Any, m1: Any, rate: Any) -> Any:
    return rate * m1 - xp.log(rate)
