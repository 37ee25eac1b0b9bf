"""Targets (a backend on a device) and conversions, for ``kl_backends.testing``.

``Target``, ``available_targets``, ``to_backend`` and ``to_numpy`` are public
as ``kl_backends.testing``'s; the parity run and the pytest plugin use them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kl_backends._dispatch import backend_of
from kl_backends.backends import BACKENDS, ENV_VAR, Backend, select_installed

__all__ = ["Target", "available_targets", "prepare", "to_backend", "to_numpy"]


@dataclass(frozen=True)
class Target:
    """One backend on one device, e.g. ``torch:cuda:0`` or ``numpy:cpu``.

    Parameters
    ----------
    backend : str
        The backend's name: ``"numpy"``, ``"torch"``, ``"tensorflow"``,
        ``"jax"``, ``"dask"``, ``"array_api_strict"`` or ``"cupy"``.
    device : str
        One of the backend's devices as ``available_targets`` lists them
        (``"cpu"``, ``"cuda:0"``, ``"CPU:0"``, ``"gpu:0"``).

    Attributes
    ----------
    id : str
        ``"backend:device"``, also ``str(target)``.
    name : str
        The backend's name.
    impl : kl_backends.backends.Backend
        The backend behind the target.
    dtypes : tuple of str
        The floating dtypes the backend has (``"float32"``, ``"float64"``,
        and where present ``"float16"``, ``"bfloat16"``).
    namespace : namespace
        The backend's array-API namespace (kl_backends' adapter for
        TensorFlow); imports the library.

    Examples
    --------
    >>> from kl_backends.testing import Target
    >>> t = Target("numpy", "cpu")
    >>> t.id
    'numpy:cpu'
    >>> x = t.asarray([0.5, 0.25], "float32")
    >>> x.dtype.name, t.to_numpy(x).tolist()
    ('float32', [0.5, 0.25])
    """

    backend: str
    device: str

    @property
    def id(self) -> str:
        """``"backend:device"`` (``"torch:cuda:0"``)."""
        return f"{self.backend}:{self.device}"

    def __str__(self) -> str:
        return self.id

    @property
    def name(self) -> str:
        """The backend's name (``"torch"``)."""
        return self.backend

    @property
    def impl(self) -> Backend:
        """The ``kl_backends.backends.Backend`` behind this target."""
        return BACKENDS[self.backend]

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The floating dtypes this backend has, by name."""
        return self.impl.dtypes

    @property
    def namespace(self) -> Any:
        """The array-API namespace of this backend (kl_backends' adapter for TensorFlow)."""
        self.impl.load()
        return self.impl.xp

    def asarray(self, a: Any, dtype: str = "float64") -> Any:
        """``a`` as this backend's array of ``dtype`` on this device.

        Parameters
        ----------
        a : array_like
            Numbers of any shape (converted through float64 NumPy).
        dtype : str, default "float64"
            One of ``self.dtypes``.

        Returns
        -------
        array
            The backend's array, of ``a``'s shape.
        """
        return self.impl.asarray(np.asarray(a, dtype=np.float64), dtype, self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """float64 NumPy copy of ``x``, one of this backend's arrays (computes Dask)."""
        return self.impl.to_numpy(x)


def available_targets(
    names: str | Iterable[str] | None = None, source: str = ENV_VAR
) -> list[Target]:
    """Installed backends x their devices, optionally only the ``names`` given.

    Parameters
    ----------
    names : str or iterable of str, optional
        A comma-separated string or an iterable of backend names (``"all"``:
        every one), or entries ``backend:device`` (``"torch:cuda:0"``).
        Default: ``$KL_BACKENDS``, else all.
    source : str, default "KL_BACKENDS"
        Where the names came from, for the error messages (``"--backends"``).

    Returns
    -------
    list of Target
        In the order of ``kl_backends.backends.BACKENDS``, each backend's
        devices in its own order.  A backend selected by ``"all"`` or by
        default but not installed is left out.

    Raises
    ------
    ValueError
        An unknown backend; a backend named explicitly but not installed
        (the message gives the install command); a named device the backend
        does not have (``torch:cuda:0`` without CUDA).

    Examples
    --------
    >>> from kl_backends.testing import available_targets
    >>> available_targets("numpy")
    [Target(backend='numpy', device='cpu')]
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted_devices: dict[str, set[str]] = {}
    if names is not None:
        plain = []
        for entry in names:
            backend, _, device = entry.partition(":")
            plain.append(backend)
            if device:
                wanted_devices.setdefault(backend, set()).add(device)
        names = list(dict.fromkeys(plain))
    targets = []
    for impl in select_installed(names, source):
        devices = impl.devices()
        absent = sorted(wanted_devices.get(impl.name, set()) - set(devices))
        if absent:
            raise ValueError(
                f"device(s) {', '.join(absent)} of backend {impl.name} in {source} not "
                f"found on this machine; it has: {', '.join(devices)}. Name one of those "
                f"(e.g. {impl.name}:{devices[0]}), or the backend alone for all of them"
            )
        for dev in devices:
            if impl.name in wanted_devices and dev not in wanted_devices[impl.name]:
                continue
            targets.append(Target(impl.name, dev))
    return targets


def to_backend(x: Any, target: Target | str, dtype: str = "float64") -> Any:
    """Convert an array of any supported library to ``target``'s array of ``dtype``.

    Parameters
    ----------
    x : array_like
        An array of any supported library (or a nested list), any shape.
    target : Target or str
        A ``Target``, or ``"backend"`` / ``"backend:device"`` (the first
        device when none is given).
    dtype : str, default "float64"
        A floating dtype the target has.

    Returns
    -------
    array
        ``x``'s values, as the target's array of ``dtype`` on its device.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.testing import to_backend
    >>> to_backend(np.array([1, 2]), "numpy", "float32")
    array([1., 2.], dtype=float32)
    """
    if isinstance(target, str):
        backend, _, device = target.partition(":")
        target = Target(backend, device or BACKENDS[backend].devices()[0])
    return target.asarray(to_numpy(x), dtype)


def to_numpy(x: Any) -> np.ndarray:
    """float64 NumPy copy of an array of any supported library (computes Dask).

    Parameters
    ----------
    x : array_like
        An array of any supported library, on any device, or anything
        ``numpy.asarray`` takes.

    Returns
    -------
    numpy.ndarray
        float64, of ``x``'s shape, on the host.

    Examples
    --------
    >>> from kl_backends.testing import to_numpy
    >>> to_numpy([1, 2])
    array([1., 2.])
    """
    backend = backend_of(x)
    if backend is not None and backend.name in BACKENDS:
        return backend.to_numpy(x)
    return np.asarray(x, dtype=np.float64)


def prepare(a: Any) -> Any:
    """Floating arrays of any supported library as float64 NumPy; the rest as is."""
    if isinstance(a, np.ndarray):
        return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a
    backend = backend_of(a)
    if backend is not None and backend.name in BACKENDS:
        return to_numpy(a)
    return a
