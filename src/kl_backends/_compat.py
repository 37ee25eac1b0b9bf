"""Dispatch: which array library do the inputs come from, and its namespace.

This is the only module that imports ``array_api_compat``, and no module of
kl_backends imports a framework at import time.  A framework (torch,
tensorflow, jax, dask, cupy, ...) is consulted only through ``sys.modules``:
if it has not been imported, the user cannot have handed us one of its arrays,
so there is nothing to check.  This keeps ``import kl_backends`` cheap and
means that installing kl_backends never makes a framework load behind the
user's back (the same rule as array-api-compat's ``is_*_array`` helpers and
einops' backends).
"""

from __future__ import annotations

import sys
from typing import Any

import array_api_compat
from array_api_compat import (
    is_cupy_array,
    is_dask_array,
    is_jax_array,
    is_numpy_array,
    is_torch_array,
)

__all__ = [
    "array_namespace",
    "device_of",
    "is_dask_array",
    "is_jax_array",
    "is_tensorflow_array",
    "is_torch_array",
    "namespace_and_arrays",
    "quiet_log",
    "values_unavailable",
    "library_name",
]

_PYTHON_VALUES = (bool, int, float, complex, list, tuple)


def is_tensorflow_array(x: object) -> bool:
    """True for a TensorFlow ``Tensor`` or ``Variable``; never imports TensorFlow."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    return isinstance(x, (tf.Tensor, tf.Variable))


def library_name(x: object) -> str:
    """A short, readable name of the library that ``x`` belongs to."""
    if is_numpy_array(x):
        return "numpy"
    if is_torch_array(x):
        return "torch"
    if is_jax_array(x):
        return "jax"
    if is_dask_array(x):
        return "dask"
    if is_cupy_array(x):
        return "cupy"
    if is_tensorflow_array(x):
        return "tensorflow"
    return type(x).__module__.split(".")[0]


def _type_name(x: object) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _is_python_value(x: object) -> bool:
    return isinstance(x, _PYTHON_VALUES)


def _is_supported_array(x: object) -> bool:
    return is_tensorflow_array(x) or array_api_compat.is_array_api_obj(x)


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace for arrays that all come from one library.

    TensorFlow gets kl_backends' own adapter (array-api-compat has none);
    everything else goes through ``array_api_compat.array_namespace``.
    """
    if any(is_tensorflow_array(x) for x in arrays):
        from kl_backends import _tensorflow

        return _tensorflow.namespace()
    return array_api_compat.array_namespace(*arrays)


def device_of(x: Any) -> Any:
    """The device of ``x``, or ``None`` where it cannot be told (tracers)."""
    if is_tensorflow_array(x):
        return x.device or None
    try:
        return array_api_compat.device(x)
    except Exception:  # jax tracers and other abstract values carry no device
        return None


def namespace_and_arrays(
    *args: Any, names: tuple[str, ...]
) -> tuple[Any, list[Any]]:
    """Resolve the namespace of ``args`` and turn Python values into its arrays.

    Python scalars, lists and tuples take the library, device and (floating)
    dtype of the array arguments; when every argument is plain Python they
    become NumPy arrays.

    Raises
    ------
    TypeError
        For an unsupported type, or for arrays of two different libraries.
    ValueError
        For arrays on two different devices.
    """
    arrays = []
    for name, x in zip(names, args):
        if _is_python_value(x):
            continue
        if not _is_supported_array(x):
            raise TypeError(
                f"{name} must be an array (NumPy, PyTorch, TensorFlow, JAX, Dask, "
                f"CuPy or any array-API library) or a Python number or list; "
                f"got {_type_name(x)}"
            )
        arrays.append((name, x))

    if not arrays:
        import numpy as np

        xp = array_api_compat.array_namespace(np.empty(0))
        return xp, [xp.asarray(x) for x in args]

    libraries = {library_name(x) for _, x in arrays}
    if len(libraries) > 1:
        described = " and ".join(f"{n}: {_type_name(x)}" for n, x in arrays)
        raise TypeError(
            f"{' and '.join(names)} must come from one array library; got {described}. "
            "Convert one of them first (for example with the other library's asarray)."
        )
    xp = array_namespace(*(x for _, x in arrays))

    devices = [(n, device_of(x)) for n, x in arrays]
    known = [(n, d) for n, d in devices if d is not None]
    if len(known) > 1 and any(d != known[0][1] for _, d in known[1:]):
        described = " and ".join(f"{n} on {d!r}" for n, d in known)
        raise ValueError(
            f"{' and '.join(names)} must be on one device; got {described}. "
            "Move one of them first."
        )

    template = arrays[0][1]
    dtype = template.dtype if _is_floating(xp, template.dtype) else None
    out = []
    for x in args:
        if _is_python_value(x):
            x = xp.asarray(x, dtype=dtype, device=device_of(template))
        out.append(x)
    return xp, out


def _is_floating(xp: Any, dtype: Any) -> bool:
    try:
        return bool(xp.isdtype(dtype, "real floating"))
    except Exception:  # dtypes outside the standard (bfloat16 on some versions)
        return "float" in str(dtype)


def values_unavailable(x: Any) -> str | None:
    """Why the values of ``x`` cannot be read right now, or ``None`` if they can.

    Reading values is what ``validate=True`` needs; under ``jax.jit``,
    ``tf.function`` and ``torch.compile``, on Dask (lazy) arrays and on
    PyTorch's ``meta`` device, there are no values to read.
    """
    if is_jax_array(x):
        jax = sys.modules["jax"]
        if isinstance(x, jax.core.Tracer):
            return "it is a JAX tracer (inside jax.jit, grad or vmap)"
        return None
    if is_dask_array(x):
        return "it is a lazy Dask array (reading values would compute the graph)"
    if is_torch_array(x):
        torch = sys.modules["torch"]
        if x.device.type == "meta":
            return "it is on PyTorch's meta device, which holds shapes only"
        if torch.compiler.is_compiling():
            return "it is being traced by torch.compile"
        return None
    if is_tensorflow_array(x):
        tf = sys.modules["tensorflow"]
        if not tf.executing_eagerly() or tf.is_symbolic_tensor(x):
            return "it is a symbolic TensorFlow tensor (inside tf.function)"
        return None
    if is_numpy_array(x) or is_cupy_array(x):
        return None
    if array_api_compat.is_lazy_array(x):
        return "its library evaluates lazily"
    return None


def quiet_log(xp: Any, x: Any) -> Any:
    """``xp.log(x)``; on Dask arrays without NumPy's warning for ``log(0) = -inf``.

    Dask runs NumPy's log when the graph is computed, outside any
    ``np.errstate`` of ours, so the quiet log goes into the graph itself.
    """
    if is_dask_array(x):
        return x.map_blocks(_numpy_quiet_log, dtype=x.dtype)
    return xp.log(x)


def _numpy_quiet_log(block: Any) -> Any:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(block)
