"""kl_backends: Kullback-Leibler divergence, once, correctly, on every array library.

``kl_divergence(p, q)`` takes NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or
any array-API arrays and returns KL(p || q) in the same library, on the same
device.  Importing kl_backends imports no framework: one is touched only when
its arrays arrive.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
from kl_backends._math.samples import kl_from_counts, kl_from_samples, kl_from_samples_knn
from kl_backends._math.samples import kl_knn as kl_knn  # deprecated alias

try:
    __version__ = version("kl_backends")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
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
    "kl_poisson",
    "kl_standard_normal",
]
