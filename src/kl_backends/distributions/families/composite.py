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
from kl_backends.distributions.families.discrete import (
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
    """``base_dist`` with its rightmost ``reinterpreted_batch_ndims`` batch axes as event axes."""

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
    """A mixture over the rightmost batch axis of ``component_distribution``.

    ``mixture_distribution`` is a ``Categorical`` over K components (its
    ``probs`` or ``logits`` have shape ``[..., K]``) and ``component_distribution``
    any container whose batch shape ends in K, as ``torch.distributions`` and
    TFP's ``MixtureSameFamily``.  No closed-form KL exists between mixtures:
    ``kl_backends.distributions.monte_carlo_kl`` estimates it.
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
