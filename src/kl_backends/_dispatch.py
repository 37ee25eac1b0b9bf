"""Dispatch: which backend the inputs belong to, once per call, and Python values into arrays.

``backend_of(x)`` finds the ``Backend`` of an array (``kl_backends.backends``),
cached by type; ``resolve`` checks that all arguments come from one library
and one device and turns Python numbers and lists into that library's arrays.
The math receives the backend and asks it, never the library's name, for
anything outside the array API.

No framework is imported here: a framework's arrays are recognised through
``sys.modules`` (if it has not been imported, the user cannot have handed us
one of its arrays), the same rule as array-api-compat's ``is_*_array``
helpers and einops' backends.  This keeps ``import kl_backends`` cheap.

``QUICK`` is the quick front end of ``kl_divergence(p, q)`` with every
keyword at its default: the exact array type -> its backend's ``quick``,
registered the first time the general path has seen concrete arrays of that
type.  A quick function returns ``None`` for anything it does not handle
(other dtypes or shapes, mixed devices, 0-d inputs), and the general path
takes over, with its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat

from kl_backends.backends import BACKENDS, ArrayAPI, Backend

__all__ = ["QUICK", "backend_of", "register_quick", "resolve"]

_PYTHON_VALUES = (bool, int, float, complex, list, tuple)
_KNOWN_PACKAGES = {b.module.split(".")[0] for b in BACKENDS.values()}
_BY_TYPE: dict[type, Backend | None] = {}

#: Exact array type -> quick function ``(p, q, exact) -> result or None``.
QUICK: dict[type, Callable[[Any, Any, Callable[..., Any]], Any]] = {}


def backend_of(x: object) -> Backend | None:
    """The backend of an array, or ``None`` for anything that is not one (cached by type)."""
    cls = type(x)
    try:
        return _BY_TYPE[cls]
    except KeyError:
        pass
    found = _lookup(x)
    if found is not None or cls.__module__.split(".")[0] not in _KNOWN_PACKAGES:
        _BY_TYPE[cls] = found  # a known library not imported yet is not cached
    return found


def _lookup(x: object) -> Backend | None:
    for backend in BACKENDS.values():
        if backend.owns(x):
            return backend
    if array_api_compat.is_array_api_obj(x):
        return ArrayAPI(array_api_compat.array_namespace(x), type(x).__module__.split(".")[0])
    return None


def register_quick(backend: Backend, x: Any) -> None:
    """Let the next default call with arrays of ``type(x)`` go the quick way, if it can."""
    kind = type(x)
    if kind in QUICK or type(backend).quick is Backend.quick:
        return
    if backend.values_unavailable(x) is not None:
        return  # tracers, symbolic and lazy arrays keep the general path
    QUICK[kind] = backend.quick


def _type_name(x: object) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _unsupported(name: str, x: object) -> TypeError:
    hint = ""
    if type(x).__module__.split(".")[0] == "pandas":
        hint = f" Convert it with {name}.to_numpy() first."
    elif isinstance(x, str):
        hint = " Strings are not numbers: convert them first."
    elif hasattr(x, "__array__"):
        hint = f" Convert it with numpy.asarray({name}) first."
    return TypeError(
        f"{name} must be an array (NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any "
        f"array-API library) or a Python number or list of numbers; got {_type_name(x)}.{hint}"
    )


def _python_to_numpy(name: str, x: Any) -> Any:
    """A Python number or (nested) list as a NumPy array; strings and objects refused."""
    import numpy as np

    try:
        a = np.asarray(x)
    except ValueError as exc:  # ragged lists
        raise ValueError(f"{name} is not a rectangular list of numbers: {exc}") from None
    if a.dtype.kind not in "biufc":
        raise TypeError(
            f"{name} must hold numbers; got a Python list of {a.dtype.kind!r}-kind values "
            f"(dtype {a.dtype}). Strings and other objects are not converted: "
            "convert them to numbers first."
        )
    return a


def resolve(*args: Any, names: tuple[str, ...]) -> tuple[Backend, list[Any]]:
    """The backend of ``args`` and the arguments as its arrays.

    Python numbers and lists take the library, device and (floating) dtype of
    the array arguments; when every argument is plain Python they become
    NumPy arrays.

    Raises
    ------
    TypeError
        For an unsupported type, Python values that are not numbers, or
        arrays of two different libraries.
    ValueError
        For arrays on two different devices.
    """
    found: list[tuple[str, Any, Backend]] = []
    for name, x in zip(names, args):
        if isinstance(x, _PYTHON_VALUES):
            continue
        backend = backend_of(x)
        if backend is None:
            raise _unsupported(name, x)
        found.append((name, backend.coerce(name, x), backend))

    if not found:
        numpy = BACKENDS["numpy"]
        return numpy, [_python_to_numpy(n, x) for n, x in zip(names, args)]

    backend = found[0][2]
    if any(b is not backend for _, _, b in found[1:]):
        described = " and ".join(f"{n}: {_type_name(x)}" for n, x, _ in found)
        raise TypeError(
            f"{' and '.join(names)} must come from one array library; got {described}. "
            "Convert one of them first (for example with the other library's asarray)."
        )
    xp = backend.xp
    device = backend.device(found[0][1])
    if len(found) > 1:
        devices = [(n, backend.device(x)) for n, x, _ in found]
        known = [(n, d) for n, d in devices if d is not None]
        if any(d != known[0][1] for _, d in known[1:]):
            described = " and ".join(f"{n} on {d!r}" for n, d in known)
            raise ValueError(
                f"{' and '.join(names)} must be on one device; got {described}. "
                "Move one of them first."
            )
    if len(found) == len(args):
        return backend, [x for _, x, _ in found]
    template = found[0][1]
    dtype = template.dtype if _is_floating(xp, template.dtype) else None
    arrays = iter(x for _, x, _ in found)
    out = []
    for name, x in zip(names, args):
        if isinstance(x, _PYTHON_VALUES):
            _python_to_numpy(name, x)  # refuses strings and objects before xp.asarray parses them
            out.append(xp.asarray(x, dtype=dtype, device=device))
        else:
            out.append(next(arrays))
    return backend, out


def _is_floating(xp: Any, dtype: Any) -> bool:
    try:
        return bool(xp.isdtype(dtype, "real floating"))
    except Exception:  # dtypes outside the standard (bfloat16 on some versions)
        return "float" in str(dtype)
