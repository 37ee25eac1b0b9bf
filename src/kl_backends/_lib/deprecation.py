"""Deprecated names: an old public name that still works and says which one replaces it."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["alias"]


def alias(function: Callable[..., Any], old_name: str) -> Callable[..., Any]:
    """``function`` under its former name ``old_name``, with a ``DeprecationWarning``.

    The warning names the new public name (``kl_backends.<function's name>``)
    and points at the caller's line.  The values are the new function's.

    >>> import warnings
    >>> def new(a):
    ...     return 2 * a
    >>> old = alias(new, "old")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = old(3)
    >>> value, caught[0].category.__name__
    (6, 'DeprecationWarning')
    """
    new_name = function.__name__
    message = (
        f"{old_name} is deprecated and will be removed; use kl_backends.{new_name} "
        "(same arguments, same values)"
    )

    @functools.wraps(function)
    def deprecated(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return function(*args, **kwargs)

    deprecated.__name__ = deprecated.__qualname__ = old_name
    deprecated.__doc__ = (
        f"Deprecated alias of ``{new_name}``: the same function, with a "
        f"``DeprecationWarning``.\n\n.. deprecated::\n    Use ``kl_backends.{new_name}``.\n"
    )
    return deprecated
