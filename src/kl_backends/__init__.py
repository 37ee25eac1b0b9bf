"""kl_backends: Kullback-Leibler divergence, once, correctly, on every array library.

``kl_divergence(p, q)`` takes NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or
any array-API arrays and returns KL(p || q) in the same library, on the same
device.  Importing kl_backends imports no framework: one is touched only when
its arrays arrive.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from kl_backends._closed_forms import (
    kl_bernoulli,
    kl_exponential,
    kl_multivariate_normal,
    kl_normal,
    kl_poisson,
    kl_standard_normal,
)
from kl_backends._divergence import kl_divergence

try:
    __version__ = version("kl_backends")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "kl_bernoulli",
    "kl_divergence",
    "kl_exponential",
    "kl_multivariate_normal",
    "kl_normal",
    "kl_poisson",
    "kl_standard_normal",
]
