"""The array libraries kl_backends knows: one module, one ``Backend`` object, per framework.

``BACKENDS`` lists them in the order dispatch tries them; ``backend_of`` (in
``kl_backends._dispatch``) picks one per array type.  Importing this package
imports no framework: each module imports its framework only once that
framework's arrays have arrived (or the parity harness asks for it).

Adding a framework is adding one module here with a ``Backend`` subclass
(see ``_base.py`` for the hooks and their defaults) and one entry below.

Selecting backends (``KL_BACKENDS``, ``kl-backends parity --backends``, the
pytest plugin's ``--xp-backends``, ``kl_backends.testing``) goes through
``select``, the one rule for unknown names and for names that are selected
but not installed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from typing import Any

from kl_backends.backends._base import Backend, Builtin
from kl_backends.backends.array_api import ArrayAPI, ArrayApiStrict, CuPy
from kl_backends.backends.dask import Dask
from kl_backends.backends.jax import Jax
from kl_backends.backends.numpy import NumPy
from kl_backends.backends.tensorflow import TensorFlow
from kl_backends.backends.torch import Torch

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "ArrayAPI",
    "Backend",
    "Builtin",
    "installed_backends",
    "mark_public",
    "select",
    "select_installed",
]

#: Environment variable that selects backends: comma-separated names, or "all".
ENV_VAR = "KL_BACKENDS"

BACKENDS: dict[str, Backend] = {
    b.name: b for b in (NumPy(), ArrayApiStrict(), Torch(), TensorFlow(), Jax(), Dask(), CuPy())
}


def select(spec: str | Iterable[str] | None = None, source: str = ENV_VAR) -> list[Backend]:
    """The backends named by ``spec`` (default: ``$KL_BACKENDS``, else all).

    ``spec`` is a comma-separated string or an iterable of names; ``"all"``
    means every known backend.  An unknown name raises ``ValueError`` naming
    ``source`` (where the user typed it).  Whether each is installed is not
    checked here: see ``missing_message``.
    """
    if spec is None:
        spec = os.environ.get(ENV_VAR, "all")
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if not names or names == ["all"]:
        return list(BACKENDS.values())
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(
            f"unknown backend name(s) {unknown} in {source}; "
            f"known: {', '.join(BACKENDS)} (or 'all')"
        )
    return [BACKENDS[n] for n in dict.fromkeys(names)]


def select_installed(
    spec: str | Iterable[str] | None = None, source: str = ENV_VAR
) -> list[Backend]:
    """``select``, then the one rule for backends that are not installed.

    Named explicitly (``"torch,jax"``) and not installed: ``ValueError`` with
    the install command for each.  Selected by ``"all"`` (or by default): left
    out, since nobody asked for that one in particular.
    """
    chosen = select(spec, source)
    if spec is None:
        spec = os.environ.get(ENV_VAR, "all")
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    explicit = [n for n in names if n] not in ([], ["all"])
    missing = [b for b in chosen if not b.installed()]
    if explicit and missing:
        hints = "; ".join(f"{b.name}: {b.install_hint()}" for b in missing)
        raise ValueError(f"backend(s) selected in {source} but not installed: {hints}")
    return [b for b in chosen if b not in missing]


@functools.cache
def installed_backends() -> list[Backend]:
    return [b for b in BACKENDS.values() if b.installed()]


def mark_public(*functions: Callable[..., Any]) -> None:
    """Set each backend's ``function_attributes`` on kl_backends' public functions.

    Touches no framework: the attributes are plain values that a library's tracer
    looks for when it meets the function (TensorFlow's AutoGraph leaves a function
    that has ``autograph_info__`` unconverted, as it leaves TensorFlow's own).
    """
    attributes = [a for b in BACKENDS.values() for a in b.function_attributes]
    for fn in functions:
        for name, value in attributes:
            setattr(fn, name, value)
