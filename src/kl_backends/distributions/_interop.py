"""Reading the frameworks' own distribution objects into containers.

The readers are in ``kl_backends.distributions._readers``, one module per
library (``torch.distributions``, ``tfp.distributions``, distrax, numpyro),
chosen by the root of the object's module and cached by type.  A library is
consulted only for its own objects, so nothing here imports one.  The
parameters stay tensors of their framework, so the closed forms compute there:
the result, its dtype, device and gradient stay in that framework.
"""

from __future__ import annotations

from typing import Any

from kl_backends.distributions._base import Distribution
from kl_backends.distributions._readers import reader_for

__all__ = ["to_container"]


def to_container(obj: Any) -> Any:
    """A kl_backends container for ``obj``, or ``None`` if no reader knows it.

    >>> from kl_backends.distributions import Normal
    >>> d = Normal(0.0, 1.0)
    >>> to_container(d) is d, to_container(object()) is None
    (True, True)
    """
    if isinstance(obj, Distribution):
        return obj
    read = reader_for(type(obj))
    return None if read is None else read(obj)
