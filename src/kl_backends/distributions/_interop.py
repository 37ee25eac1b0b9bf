"""Reading ``torch.distributions`` and ``tfp.distributions`` objects into containers.

One converter per framework (each moves into ``backends/<framework>.py`` when
the backends layout lands); a framework is consulted only when it is already
imported (``sys.modules``), so nothing here imports one.  The parameters stay
tensors of their framework, so the closed forms compute there: the result,
its dtype, device and gradient stay in that framework.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["to_container"]


def to_container(obj: Any) -> Any:
    """A kl_backends container for ``obj``, or ``None`` if it is not a known distribution."""
    from kl_backends.distributions._containers import Distribution

    if isinstance(obj, Distribution):
        return obj
    for module, converter in _CONVERTERS:
        if module in sys.modules:
            found = converter(obj)
            if found is not None:
                return found
    return None


_CONVERTERS: list[tuple[str, Any]] = []
