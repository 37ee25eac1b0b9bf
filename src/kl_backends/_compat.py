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

import contextlib
import sys
from typing import Any

import array_api_compat

__all__ = [
    "array_namespace",
    "cholesky",
    "device_of",
    "is_dask_array",
    "is_jax_array",
    "is_tensorflow_array",
    "is_torch_array",
    "library_name",
    "namespace_and_arrays",
    "quiet_log",
    "quiet_numpy",
    "solve_triangular",
    "values_unavailable",
]

_PYTHON_VALUES = (bool, int, float, complex, list, tuple)


# Known libraries: (name, module in sys.modules, array types, namespace loader).  Checked with plain isinstance: array-api-compat's is_*_array helpers
# go through an lru_cache, which torch.compile warns about when it traces them.
def _numpy_namespace() -> Any:
    import array_api_compat.numpy as xp

    return xp


def _torch_namespace() -> Any:
    # A plain import statement: torch.compile traces it, not importlib calls.
    import array_api_compat.torch as xp

    return xp


def _jax_namespace() -> Any:
    import jax.numpy as xp  # JAX's own namespace is array-API compliant

    return xp


def _dask_namespace() -> Any:
    import array_api_compat.dask.array as xp

    return xp


def _cupy_namespace() -> Any:
    import array_api_compat.cupy as xp

    return xp


def _tensorflow_namespace() -> Any:
    from kl_backends import _tensorflow

    return _tensorflow.namespace()


_KNOWN: tuple[tuple[str, str, tuple[str, ...], Any], ...] = (
    ("numpy", "numpy", ("ndarray", "generic"), _numpy_namespace),
    ("torch", "torch", ("Tensor",), _torch_namespace),
    ("jax", "jax", ("Array",), _jax_namespace),
    ("dask", "dask.array", ("Array",), _dask_namespace),
    ("cupy", "cupy", ("ndarray",), _cupy_namespace),
    ("tensorflow", "tensorflow", ("Tensor", "Variable"), _tensorflow_namespace),
)


_BY_TYPE: dict[type, tuple[str, Any] | None] = {}


def _known_library(x: object) -> tuple[str, Any] | None:
    """(name, namespace loader) of a known library's array, else None (cached by type)."""
    cls = type(x)
    try:
        return _BY_TYPE[cls]
    except KeyError:
        pass
    found = _lookup_library(x)
    if found is not None or cls.__module__.split(".")[0] not in {
        k[1].split(".")[0] for k in _KNOWN
    }:
        _BY_TYPE[cls] = found  # a known library's module not imported yet is not cached
    return found


def _lookup_library(x: object) -> tuple[str, Any] | None:
    for name, module, types, namespace in _KNOWN:
        mod = sys.modules.get(module)
        if mod is not None and isinstance(x, tuple(getattr(mod, t) for t in types)):
            return name, namespace
    return None


def is_torch_array(x: object) -> bool:
    return _is_known(x, "torch")


def is_jax_array(x: object) -> bool:
    return _is_known(x, "jax")


def is_dask_array(x: object) -> bool:
    return _is_known(x, "dask")


def is_tensorflow_array(x: object) -> bool:
    """True for a TensorFlow ``Tensor`` or ``Variable``; never imports TensorFlow."""
    return _is_known(x, "tensorflow")


def _is_known(x: object, name: str) -> bool:
    known = _known_library(x)
    return known is not None and known[0] == name


def library_name(x: object) -> str:
    """A short, readable name of the library that ``x`` belongs to."""
    known = _known_library(x)
    if known is not None:
        return known[0]
    return type(x).__module__.split(".")[0]


def _type_name(x: object) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _is_python_value(x: object) -> bool:
    return isinstance(x, _PYTHON_VALUES)


def _is_supported_array(x: object) -> bool:
    return _known_library(x) is not None or array_api_compat.is_array_api_obj(x)


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace for arrays that all come from one library.

    TensorFlow gets kl_backends' own adapter (array-api-compat has none);
    the other known libraries get array-api-compat's namespace for them, and
    anything else ``array_api_compat.array_namespace``.
    """
    known = {_known_library(x) for x in arrays}
    if len(known) == 1:
        (only,) = known
        if only is not None:
            return only[1]()
    return array_api_compat.array_namespace(*arrays)


def device_of(x: Any) -> Any:
    """The device of ``x``, or ``None`` where it cannot be told (tracers)."""
    known = _known_library(x)
    if known is not None and known[0] in ("torch", "tensorflow"):
        return x.device or None
    try:
        return array_api_compat.device(x)
    except Exception:  # jax tracers and other abstract values carry no device
        return None


def namespace_and_arrays(*args: Any, names: tuple[str, ...]) -> tuple[Any, list[Any]]:
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

    devices = (
        [(n, device_of(x)) for n, x in arrays] if len(arrays) > 1 and libraries != {"numpy"} else []
    )  # NumPy arrays are all on the CPU
    known = [(n, d) for n, d in devices if d is not None]
    if len(known) > 1 and any(d != known[0][1] for _, d in known[1:]):
        described = " and ".join(f"{n} on {d!r}" for n, d in known)
        raise ValueError(
            f"{' and '.join(names)} must be on one device; got {described}. Move one of them first."
        )

    if len(arrays) == len(args):
        return xp, list(args)
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
    if library_name(x) in ("numpy", "cupy"):
        return None
    if array_api_compat.is_lazy_array(x):
        return "its library evaluates lazily"
    return None


def solve_triangular(xp: Any, a: Any, b: Any) -> Any:
    """Solve ``a @ x = b`` for lower-triangular ``a`` ``[..., d, d]``, ``b`` ``[..., d, k]``.

    The array API has no triangular solve: PyTorch, JAX and TensorFlow use
    their own (O(d^2) per right-hand side); every other library uses the
    standard's ``linalg.solve``, which gives the same result by LU.  The
    tests check the fast paths against ``linalg.solve``.
    """
    name = library_name(a)
    if name == "torch":
        import torch

        return torch.linalg.solve_triangular(a, b, upper=False)
    if name == "jax":
        import jax.scipy.linalg

        return jax.scipy.linalg.solve_triangular(a, b, lower=True)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.linalg.triangular_solve(a, b, lower=True)
    if name == "dask":
        return _dask_batched(_numpy_solve, a, b)
    return xp.linalg.solve(a, b)


def cholesky(xp: Any, x: Any) -> Any:
    """Lower Cholesky factor, batched; blockwise NumPy on Dask (whose own is 2-D only)."""
    if library_name(x) == "dask":
        return _dask_batched(_numpy_cholesky, x)
    return xp.linalg.cholesky(x)


def _numpy_cholesky(a: Any) -> Any:
    import numpy as np

    return np.linalg.cholesky(a)


def _numpy_solve(a: Any, b: Any) -> Any:
    import numpy as np

    return np.linalg.solve(a, b)


def _dask_batched(fn: Any, *arrays: Any) -> Any:
    """Apply a batched NumPy linear-algebra ``fn`` block by block, lazily.

    Every argument has the same batch axes (they keep their chunks, aligned
    by ``blockwise``) and one matrix in its last two axes (rechunked whole).
    The matrices share their row count; their column counts may differ, and
    the result has the last argument's.
    """
    import dask.array as da

    ndim = arrays[0].ndim
    batch, row = tuple(range(ndim - 2)), ndim - 2
    args: list[Any] = []
    for i, x in enumerate(arrays):
        args += [x.rechunk({ndim - 2: -1, ndim - 1: -1}), (*batch, row, ndim + i)]
    out_index = (*batch, row, ndim + len(arrays) - 1)
    return da.blockwise(fn, out_index, *args, dtype=arrays[0].dtype, concatenate=True)


def quiet_numpy(*xs: Any) -> Any:
    """A context that silences NumPy's divide/invalid warnings for NumPy-backed inputs.

    Entered when every argument is a NumPy or array-api-strict array, a Python
    value or None; for other libraries it does nothing (and stays out of the
    way of torch.compile, which cannot trace ``np.errstate``).  Dask computes
    later, outside any context: ``quiet_log`` covers it.
    """
    libraries = {library_name(x) for x in xs if x is not None and not _is_python_value(x)}
    if libraries <= {"numpy", "array_api_strict"}:
        import numpy as np

        return np.errstate(divide="ignore", invalid="ignore")
    return contextlib.nullcontext()


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
