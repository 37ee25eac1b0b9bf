"""Distributions made of others: Independent and MixtureSameFamily.

``Independent`` reinterprets its base distribution's rightmost batch axes as
event axes: its KL, entropy and log-density are the base's, summed over them.
``MixtureSameFamily`` mixes the components of its ``component_distribution``
(the rightmost batch axis) with the weights of a ``Categorical``; no
closed-form KL exists between mixtures (``monte_carlo_kl`` estimates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._lib import args as _args
from kl_backends.distributions._api import entropy, kl
from kl_backends.distributions._base import Distribution
from kl_backends.distributions._helpers import (
    as_like,
    backend,
    broadcast_named,
    logsumexp,
    scalar,
    sum_last,
)
from kl_backends.distributions._registry import family, log_prob_of, register_kl, sample_from
from kl_backends.distributions.families.categorical import (
    Categorical,
    OneHotCategorical,
    categorical_log_probs,
    gumbel_max,
    one_hot,
)

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = ["Independent", "MixtureSameFamily"]


@family
@dataclass(frozen=True)
class Independent(Distribution):
    r"""``base_dist`` with its rightmost batch axes read as event axes.

    Parameters
    ----------
    base_dist : Distribution
        Any distribution of ``kl_backends.distributions``.
    reinterpreted_batch_ndims : int, default 1
        How many of ``base_dist``'s rightmost batch axes become event axes,
        >= 0 (``ValueError`` otherwise).

    Notes
    -----
    .. math:: p(x) = \prod_{i} p_{\text{base}}(x_i)

    over the reinterpreted axes: log-densities, entropies and KLs are the base
    distribution's summed over those axes.

    Batch shape: ``base_dist``'s less its rightmost
    ``reinterpreted_batch_ndims`` axes.

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Independent, Normal, kl
    >>> p = Independent(Normal(np.zeros(3), 1.0), 1)  # 3 independent coordinates
    >>> print(np.round(kl(p, Independent(Normal(np.ones(3), 2.0), 1)), 6))
    1.329442
    """

    base_dist: Any
    reinterpreted_batch_ndims: int = 1

    def __post_init__(self) -> None:
        n = self.reinterpreted_batch_ndims
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"reinterpreted_batch_ndims must be an int >= 0; got {n!r}")

    def _parts(self) -> dict[str, tuple[Distribution, int]]:
        return {"base_dist": (self.base_dist, self.reinterpreted_batch_ndims)}

    def _event_ndims(self) -> int:
        return self.reinterpreted_batch_ndims + self.base_dist._event_ndims()  # type: ignore[no-any-return]

    def _batch_shape(self, path: str = "d") -> tuple[int | None, ...]:
        base = self.base_dist._batch_shape(f"{path}.base_dist")
        n = self.reinterpreted_batch_ndims
        if n > len(base):
            raise ValueError(
                f"{path}: Independent.reinterpreted_batch_ndims is {n}, but its base "
                f"distribution ({type(self.base_dist).__name__}) has only {len(base)} batch "
                f"axes (batch shape {base}); give it at most {len(base)}"
            )
        return base[: len(base) - n]

    def _entropy(self) -> Any:
        out = entropy(self.base_dist)
        return sum_last(backend(out).xp, out, self.reinterpreted_batch_ndims)

    def _log_prob(self, x: Any) -> Any:
        lp = log_prob_of(self.base_dist, x)
        return sum_last(backend(lp).xp, lp, self.reinterpreted_batch_ndims)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        x, score = sample_from(self.base_dist, rs, n)
        if score is not None:
            score = sum_last(backend(score).xp, score, self.reinterpreted_batch_ndims)
        return x, score


@register_kl(Independent, Independent)
def kl_independent_independent(p: Any, q: Any) -> Any:
    """KL of the base distributions, summed over the reinterpreted (rightmost) axes."""
    n = p.reinterpreted_batch_ndims
    if n != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "KL between Independent distributions needs equal reinterpreted_batch_ndims; "
            f"got {n} and {q.reinterpreted_batch_ndims}"
        )
    out = kl(p.base_dist, q.base_dist)
    return sum_last(backend(out).xp, out, n)


@family
@dataclass(frozen=True)
class MixtureSameFamily(Distribution):
    r"""A mixture of K components of one family, weighted by a ``Categorical``.

    Parameters
    ----------
    mixture_distribution : Categorical
        The weights: ``probs`` or ``logits`` of shape ``[..., K]``.
    component_distribution : Distribution
        Any distribution whose batch shape ends in K (the components).

    Notes
    -----
    .. math:: p(x) = \sum_{k=1}^K \pi_k\, p_k(x)

    No closed-form KL or entropy exists between mixtures: ``kl`` raises
    ``NotImplementedError`` naming ``monte_carlo_kl``, which estimates it
    from samples (with a standard error).

    Batch shape: the component distribution's less its last axis; events are
    the components' events.

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Categorical, MixtureSameFamily, Normal, log_prob
    >>> mix = MixtureSameFamily(Categorical(probs=np.array([0.3, 0.7])),
    ...                         Normal(np.array([-1.0, 2.0]), np.array([0.5, 1.0])))
    >>> print(np.round(log_prob(mix, np.array([0.0, 2.0])), 6))
    [-2.656574 -1.275613]
    """

    mixture_distribution: Any
    component_distribution: Any

    def __post_init__(self) -> None:
        if not isinstance(self.mixture_distribution, Categorical) or isinstance(
            self.mixture_distribution, OneHotCategorical
        ):
            raise TypeError(
                "MixtureSameFamily's mixture_distribution must be a Categorical; got "
                f"{type(self.mixture_distribution).__name__}"
            )
        if not isinstance(self.component_distribution, Distribution):
            raise TypeError(
                "MixtureSameFamily's component_distribution must be a kl_backends "
                f"distribution; got {type(self.component_distribution).__name__}"
            )

    #: Said where no KL is registered for a mixture.
    _kl_note = "Mixtures have no closed-form KL. "

    def _parts(self) -> dict[str, tuple[Distribution, int]]:
        return {
            "mixture_distribution": (self.mixture_distribution, 0),
            "component_distribution": (self.component_distribution, 1),  # every component
        }

    def _event_ndims(self) -> int:
        return self.component_distribution._event_ndims()  # type: ignore[no-any-return]

    def _batch_shape(self, path: str = "d") -> tuple[int | None, ...]:
        mix = self.mixture_distribution._batch_shape(f"{path}.mixture_distribution")
        comp = self.component_distribution._batch_shape(f"{path}.component_distribution")
        if not comp:
            raise ValueError(
                f"{path}: MixtureSameFamily's component_distribution needs a batch axis of "
                "components (its last); it has batch shape ()"
            )
        return broadcast_named(
            [
                (f"{path}.mixture_distribution", mix),
                (f"{path}.component_distribution less its component axis", comp[:-1]),
            ],
            f"{path}'s mixture weights and components",
        )

    def _log_prob(self, x: Any) -> Any:
        xp, logw = categorical_log_probs(self.mixture_distribution)[:2]
        e = self.component_distribution._event_ndims()
        x = as_like(xp, x, logw)
        lpc = log_prob_of(self.component_distribution, xp.expand_dims(x, axis=-(e + 1)))  # [..., K]
        return logsumexp(xp, lpc + logw)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        """Every component's sample, then the one the mixing Categorical picks (static shapes)."""
        xp, logw = categorical_log_probs(self.mixture_distribution)[:2]
        xs, score_c = sample_from(self.component_distribution, rs, n)
        e = self.component_distribution._event_ndims()
        shape = _args.shape_of(xs)
        logw = xp.broadcast_to(logw, shape[1 : len(shape) - e])  # [*batch, K]
        k = _args.shape_of(logw)[-1]
        index = backend(logw).stop_gradient(gumbel_max(xp, logw, rs, n))  # [n, *batch]
        pick = one_hot(xp, index, k, logw)  # [n, *batch, K]
        axis = -(e + 1)
        wide = pick
        for _ in range(e):
            wide = xp.expand_dims(wide, axis=-1)
        x = xp.sum(xp.where(wide, xs, scalar(xp, 0.0, xs)), axis=axis)
        score = xp.sum(xp.where(pick, logw, scalar(xp, 0.0, logw)), axis=-1)
        if score_c is not None:
            score = score + xp.sum(xp.where(pick, score_c, scalar(xp, 0.0, score_c)), axis=-1)
        return x, score
