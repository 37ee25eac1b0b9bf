"""kl_backends: Kullback-Leibler divergence, once, correctly, on every array library.

``kl_divergence(p, q)`` takes NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or
any array-API arrays and returns KL(p || q) in the same library, on the same
device.  Importing kl_backends imports no framework: one is touched only when
its arrays arrive.

Divergences of categorical distributions (probabilities, log-probabilities
or logits, over any event axes):

* ``kl_divergence``: KL(p || q);
* ``js_divergence``: the Jensen-Shannon divergence, and its skew form;
* ``cross_entropy``: H(p, q) = H(p) + KL(p || q);
* ``entropy``: H(p);
* ``generalized_kl_divergence``: KL of unnormalised non-negative measures.

Estimators, named after what you have:

* ``kl_from_densities``: densities on a grid (the trapezoid rule);
* ``kl_from_counts``: two histograms over the same bins;
* ``kl_from_samples``: two samples of discrete values;
* ``kl_from_samples_knn``: two samples of continuous values (k nearest
  neighbours).

Closed forms, the textbook and VAE shortcuts: ``kl_normal``,
``kl_standard_normal`` (the VAE's KL(N(mu, sigma^2) || N(0, I)) term),
``kl_multivariate_normal``, ``kl_bernoulli``, ``kl_exponential``,
``kl_poisson``.  ``kl_backends.distributions`` has distribution objects and
``kl_backends.distributions.kl`` for the general case.

Every function follows ``scipy.special.rel_entr``'s conventions
(``0 log 0 = 0``; ``p > 0`` where ``q == 0`` gives ``+inf``; NaN stays in
its own distribution), reads no values unless asked to (so it runs under
``jax.jit``, ``tf.function`` and ``torch.compile``) and has finite gradients
where probabilities are 0.

The former names ``generalized_kl`` and ``kl_knn``, and the keywords
``dx=``, ``x=``, ``normalize=`` of ``kl_divergence``, still work with a
``DeprecationWarning`` naming their replacement.

Examples
--------
>>> import numpy as np
>>> import kl_backends as klb
>>> p, q = np.array([0.4, 0.4, 0.2]), np.array([0.5, 0.1, 0.4])
>>> round(float(klb.kl_divergence(p, q)), 6)
0.326631
>>> round(float(klb.kl_normal(0.0, 1.0, 1.0, 2.0)), 6)
0.443147
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from types import FunctionType as _FunctionType

from kl_backends import distributions
from kl_backends._math.categorical import kl_divergence
from kl_backends._math.closed_forms import (
    kl_bernoulli,
    kl_exponential,
    kl_multivariate_normal,
    kl_normal,
    kl_poisson,
    kl_standard_normal,
)
from kl_backends._math.densities import kl_from_densities
from kl_backends._math.family import cross_entropy, entropy, generalized_kl_divergence
from kl_backends._math.family import generalized_kl as generalized_kl  # deprecated alias
from kl_backends._math.jensen_shannon import js_divergence
from kl_backends._math.penalties import kl_penalty
from kl_backends._math.projection import ProjectedLogits
from kl_backends._math.samples import kl_from_counts, kl_from_samples, kl_from_samples_knn
from kl_backends._math.samples import kl_knn as kl_knn  # deprecated alias
from kl_backends._math.topk import TopKLogProbs
from kl_backends.backends import mark_public as _mark_public
from kl_backends.evaluation import KLStats

try:
    __version__ = version("kl_backends")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "KLStats",
    "ProjectedLogits",
    "TopKLogProbs",
    "__version__",
    "cross_entropy",
    "distributions",
    "entropy",
    "generalized_kl_divergence",
    "js_divergence",
    "kl_bernoulli",
    "kl_divergence",
    "kl_exponential",
    "kl_from_counts",
    "kl_from_densities",
    "kl_from_samples",
    "kl_from_samples_knn",
    "kl_multivariate_normal",
    "kl_normal",
    "kl_penalty",
    "kl_poisson",
    "kl_standard_normal",
]

# Tracers take the public functions as they are (``Backend.function_attributes``).
_mark_public(
    *(
        _f
        for _f in globals().values()
        if isinstance(_f, _FunctionType) and _f.__module__.startswith("kl_backends")
    )
)
