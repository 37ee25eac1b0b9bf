"""Cross-family pairs with a location-scale p (Normal, Laplace, Gumbel) and a location-scale q."""

from __future__ import annotations

import math
from typing import Any

from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    EULER,
    LOG_2PI,
    finish,
    nonnegative,
    prep,
)
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families import Gumbel, Laplace, Normal
from kl_backends.distributions.pairs.moments import kl_gumbel_q, kl_normal_q


@register_kl(Gumbel, Normal)
@nonnegative
def kl_gumbel_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    sd = (math.pi / math.sqrt(6)) * s
    return finish(xp, kl_normal_q(xp, 1 + EULER, s, m + s * EULER, sd, loc, scale), dtype)


@register_kl(Laplace, Normal)
@nonnegative
def kl_laplace_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    h0 = 1 + math.log(2)
    return finish(xp, kl_normal_q(xp, h0, s, m, math.sqrt(2) * s, loc, scale), dtype)


def _normal(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (m, s, *rest), dtype = prep(loc=p.loc, scale=p.scale, **q)
    return xp, dtype, m, s, -(0.5 * (1 + LOG_2PI) + xp.log(s)), rest


@register_kl(Normal, Gumbel)
@nonnegative
def kl_normal_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, m, s, _, (loc, scale) = _normal(p, loc_q=q.loc, scale_q=q.scale)
    z = s / scale
    # log E[exp((loc - x)/b)] = z^2/2 - (m - loc)/b for x ~ N(m, s^2); for z > 1 as
    # z (z/2 - (m - loc)/s), so that neither term overflows alone against the other
    log_e = xp.where(z < 1, 0.5 * (z * z) - (m - loc) / scale, z * (0.5 * z - (m - loc) / s))
    h0 = 0.5 * (1 + LOG_2PI)
    return finish(xp, kl_gumbel_q(xp, h0, s, m, log_e, loc, scale), dtype)


@register_kl(Normal, Laplace)
@nonnegative
def kl_normal_laplace(p: Any, q: Any) -> Any:
    """-H(p) + log(2 b) + E|x - loc| / b, E|x - loc| = s sqrt(2/pi) exp(-d^2/2s^2) + d erf(d / s sqrt 2)."""
    xp, dtype, m, s, neg_h, (loc, scale) = _normal(p, loc_q=q.loc, scale_q=q.scale)
    d = m - loc
    z = d / s
    mabs = s * math.sqrt(2 / math.pi) * xp.exp(-0.5 * z * z) + d * S.erf(z / math.sqrt(2))
    return finish(xp, neg_h + math.log(2) + xp.log(scale) + mabs / scale, dtype)
