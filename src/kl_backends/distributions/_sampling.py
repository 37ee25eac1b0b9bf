"""The entry points ``log_prob`` and ``sample``, and the random numbers of the samplers.

``log_prob(d, x)`` is the log-density (or log-mass) of ``x`` under ``d``;
``sample(d, n, seed)`` draws ``n`` samples, shaped ``[n, *batch, *event]``.
The random numbers come from the parameters' own library through two
backend hooks, ``Backend.rng(seed, like)`` (the library's generator: a NumPy
``Generator``, a ``torch.Generator``, a JAX key, a TensorFlow stateless seed)
and ``Backend.draw(state, kind, shape, like, *params)`` (uniform, normal,
standard gamma, Poisson, binomial); the transforms below turn them into
samples of each family (its ``_sample`` method), so the samples stay in that
library and on its device.

Reparameterised families (``x = g(eps, theta)``: every continuous family
here, the gamma-based ones through the frameworks' implicit-gradient gamma
samplers) carry gradients from ``x`` to the parameters.  Discrete families,
and the component choice of a mixture, cannot: each sampler also returns the
log-probability of its discrete choices (``score``, ``None`` when there are
none), which ``monte_carlo_kl`` uses for the score-function term of its
gradient.
"""

from __future__ import annotations

from typing import Any

from kl_backends._math import common as _common
from kl_backends.distributions._base import Distribution, leaves
from kl_backends.distributions._helpers import backend, scalar
from kl_backends.distributions._registry import (
    _LOG_PROB,
    _SAMPLE,
    log_prob_of,
    sample_from,
    to_container,
)

__all__ = [
    "Stream",
    "batch_shape",
    "event_ndims",
    "log_prob",
    "sample",
    "sample_with_score",
    "supported_families",
]


class Stream:
    """Random numbers of one library from one seed, in ``like``'s dtype and on its device."""

    def __init__(self, seed: Any, like: Any) -> None:
        self.be = backend(like)
        self.xp = self.be.xp
        self.like = like
        self.state = self.be.rng(seed, like)

    def _draw(self, kind: str, shape: tuple[Any, ...], *params: Any) -> Any:
        out, self.state = self.be.draw(self.state, kind, shape, self.like, *params)
        return out

    def uniform(self, shape: tuple[Any, ...]) -> Any:
        """Uniform on (0, 1): the library's [0, 1) with 0 moved to the smallest normal."""
        u = self._draw("uniform", shape)
        tiny = self.xp.finfo(self.like.dtype).smallest_normal
        return self.xp.maximum(u, scalar(self.xp, tiny, u))

    def normal(self, shape: tuple[Any, ...]) -> Any:
        return self._draw("normal", shape)

    def gamma(self, alpha: Any, shape: tuple[Any, ...]) -> Any:
        """Gamma(alpha, 1), differentiable in ``alpha`` where the library is (implicit gradients)."""
        return self._draw("gamma", shape, self.xp.broadcast_to(alpha, shape))

    def poisson(self, rate: Any, shape: tuple[Any, ...]) -> Any:
        return self._draw(
            "poisson", shape, self.be.stop_gradient(self.xp.broadcast_to(rate, shape))
        )

    def binomial(self, count: Any, probs: Any, shape: tuple[Any, ...]) -> Any:
        xp, sg = self.xp, self.be.stop_gradient
        return self._draw(
            "binomial", shape, sg(xp.broadcast_to(count, shape)), sg(xp.broadcast_to(probs, shape))
        )


def event_ndims(d: Any) -> int:
    """Number of event axes of ``d``'s samples (0 for scalar families and Categorical's index)."""
    return d._event_ndims()  # type: ignore[no-any-return]


def log_prob(d: Any, x: Any, /) -> Any:
    r"""Log-density (continuous) or log-mass (discrete) of ``x`` under ``d``, in nats.

    Parameters
    ----------
    d
        A kl_backends container or a ``torch.distributions`` /
        ``tfp.distributions`` / distrax / numpyro object of a supported family.
    x : array_like
        Shape ``[..., *batch, *event]``: values broadcasting against ``d``'s
        batch shape (Python numbers and lists become arrays of the
        parameters' library).  ``Categorical`` takes the category index,
        ``OneHotCategorical`` one-hot vectors.

    Returns
    -------
    array
        ``x``'s broadcast shape without the event axes, in the parameters'
        library and dtype: :math:`\log d(x)`, ``-inf`` outside the support.

    Raises
    ------
    NotImplementedError
        ``d`` is another library's distribution of a family not read here.
    TypeError
        ``d`` is not a distribution.

    Notes
    -----
    :math:`\log d(x)` for a density (continuous families) or a probability
    mass (discrete ones), computed in log space (no underflow for far
    tails).  Python-number parameters take ``x``'s library and dtype, so
    ``log_prob(Normal(0.0, 1.0), x)`` scores torch samples in torch.

    See Also
    --------
    sample, entropy

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Normal, log_prob
    >>> print(np.round(log_prob(Normal(0.0, 1.0), np.array([0.0, 1.0])), 6))
    [-0.918939 -1.418939]
    """
    d = _readable(d)
    return log_prob_of(d, x)


def sample_with_score(d: Any, n: int, seed: Any) -> tuple[Any, Any]:
    """``n`` samples of ``d`` and the log-probability of their discrete choices (or ``None``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of samples must be an int >= 1; got {n!r}")
    d = _readable(d)
    like = _first_array(d)
    return sample_from(d, Stream(seed, like), n)


def _readable(d: Any, name: str = "d") -> Any:
    """A container for ``d`` (read from a framework's own distribution object), or ``d``."""
    if isinstance(d, Distribution):
        return d
    c = to_container(d)
    if c is None:
        t = type(d)
        if callable(getattr(d, "log_prob", None)) and callable(getattr(d, "sample", None)):
            # A distribution object of some library, but of a family not read here.
            raise NotImplementedError(
                f"{name} is a {t.__module__}.{t.__qualname__}: its family is not supported "
                "(no sampler and log-density here; a subclass defined outside its library is "
                f"not read either). Supported families: {', '.join(supported_families())}, "
                "as kl_backends.distributions containers or the same families of "
                "torch.distributions, tfp.distributions, distrax or numpyro. For another family "
                "use its library's own sample and log_prob; register a closed-form KL with "
                "@kl_backends.distributions.register_kl(TypeP, TypeQ)."
            )
        raise TypeError(
            f"{name} must be a kl_backends.distributions container or a torch.distributions, "
            f"tfp.distributions, distrax or numpyro object; got {t.__name__}"
        )
    return c


def supported_families() -> list[str]:
    """The names of the families with both a sampler and a log-density, sorted."""
    return sorted(t.__name__ for t in _SAMPLE if t in _LOG_PROB)


def sample(d: Any, n: int, seed: Any) -> Any:
    r"""Draw ``n`` samples of ``d`` in the parameters' library, on their device.

    Parameters
    ----------
    d
        A kl_backends container or a ``torch.distributions`` /
        ``tfp.distributions`` / distrax / numpyro object of a supported family
        (every family but ``VonMises``).
    n : int
        The number of samples, >= 1.
    seed
        An ``int``, or the library's own generator: a NumPy ``Generator``, a
        ``torch.Generator`` (on the parameters' device), a JAX PRNG key, or a
        TensorFlow stateless seed (an int tensor of shape ``[2]``).  The same
        seed gives the same samples.

    Returns
    -------
    array
        Shape ``[n, *batch, *event]``, in the parameters' library, dtype and
        device.

    Raises
    ------
    ValueError
        ``n`` is not an int >= 1.
    NotImplementedError
        The family has no sampler (``VonMises``), or another library's
        distribution of a family not read here.
    TypeError
        ``d`` is not a distribution.

    Notes
    -----
    The random numbers come from the parameters' own library (its generator
    and device), transformed into each family's samples.  Continuous
    families are reparameterised, :math:`x = g(\varepsilon, \theta)`, so
    gradients flow from the samples to the parameters (the gamma family
    through the frameworks' implicit-gradient samplers); discrete draws
    carry no gradient.

    See Also
    --------
    log_prob, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Normal, sample
    >>> x = sample(Normal(np.zeros(3), 1.0), 100_000, seed=0)
    >>> x.shape
    (100000, 3)
    >>> bool(np.all(np.abs(x.mean(axis=0)) < 0.02))  # the mean, 0, within 6 standard errors
    True
    """
    return sample_with_score(d, n, seed)[0]


def _first_array(d: Any) -> Any:
    """A working-dtype array of ``d``'s library (NumPy float64 for Python numbers)."""
    arrays = leaves(d) or [0.0]
    names = tuple(f"parameter{i}" for i in range(len(arrays)))
    return _common.prepare(*arrays, names=names)[2][0]


def batch_shape(d: Any) -> tuple[Any, ...]:
    """The batch shape of a container: its parameters' broadcast shape less the event axes."""
    return d._batch_shape()  # type: ignore[no-any-return]
