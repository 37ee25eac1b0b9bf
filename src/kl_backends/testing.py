"""Cross-framework parity checking for your own array-API code.

Run a function on every installed array library and device and prove that the
results agree with a reference: what kl_backends' own test suite does, for your
losses, metrics and models.

>>> import numpy as np
>>> from kl_backends.testing import array_namespace, assert_backends_agree
>>> def my_loss(p, q):  # written against the array API
...     xp = array_namespace(p, q)  # kl_backends' adapter on TensorFlow
...     return xp.sum((p - q) ** 2, axis=-1)
>>> rows = assert_backends_agree(my_loss, np.eye(3), np.ones((3, 3)) / 3,
...                              targets="numpy", dtypes=["float32", "float64"])
>>> [(r.target, r.dtype) for r in rows]
[('numpy:cpu', 'float32'), ('numpy:cpu', 'float64')]

Backends: numpy, array_api_strict, torch (cpu, cuda:N), tensorflow (CPU:0,
GPU:N), jax (cpu, gpu:N), cupy (cuda:N) and dask, each only if installed;
nothing is imported until used.  ``check_backends`` and
``assert_backends_agree`` turn on JAX's ``jax_enable_x64`` while they run (so
that float64 can be checked) and restore it afterwards; ``Target.asarray``
outside them gives float32 for float64 on JAX unless you enable x64 yourself.

array-api-compat has no TensorFlow namespace.  A function that takes its
namespace from ``array_namespace`` here (or from an ``xp`` keyword argument,
which the checks fill in) runs on TensorFlow through kl_backends' adapter.
One that calls ``array_api_compat.array_namespace`` raises on TensorFlow
tensors: unless TensorFlow was named in ``targets``, those rows are skipped
(``Agreement.skipped``), not failed, and their message says how to include it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kl_backends import _dispatch
from kl_backends.parity import checking as _checking
from kl_backends.parity.compare import TOLERANCES
from kl_backends.parity.report import Agreement, format_table
from kl_backends.parity.targets import Target, available_targets, prepare, to_backend, to_numpy

# Reprs, pickles and error messages name the class by its public home.
Target.__module__ = __name__

__all__ = [
    "TOLERANCES",
    "Agreement",
    "Target",
    "array_namespace",
    "assert_backends_agree",
    "available_targets",
    "check_backends",
    "format_table",
    "to_backend",
    "to_numpy",
]


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays``, TensorFlow's included.

    Like ``array_api_compat.array_namespace``, but for TensorFlow tensors it
    returns kl_backends' adapter (array-api-compat has none), so that a
    function written with it runs on every backend ``check_backends`` knows.

    Parameters
    ----------
    *arrays : array or Python number
        Arrays of one library (NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or
        any array-API library), any shapes; Python numbers are ignored.

    Returns
    -------
    namespace
        ``array_api_compat``'s namespace for NumPy, PyTorch, JAX, Dask and
        CuPy; the library's own for other array-API libraries; kl_backends'
        adapter for TensorFlow.  Only Python numbers: NumPy's.

    Raises
    ------
    TypeError
        No argument; an argument that is not an array; arrays of two
        libraries.
    ValueError
        Arrays on two different devices.

    Notes
    -----
    The TensorFlow adapter covers the subset of the array API listed in
    ``kl_backends.backends.tensorflow``: creation (``asarray``, ``ones``,
    ``eye``, ``arange``), the usual elementwise functions (``log``, ``exp``,
    ``sqrt``, ``where``, ``maximum``, ...), reductions (``sum``, ``mean``,
    ``max``, ``std``, ...) and ``linalg.cholesky``/``solve``.  Operators are
    TensorFlow's own (elementwise, no implicit dtype promotion).

    See Also
    --------
    check_backends : runs a function on every backend.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.testing import array_namespace
    >>> p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    >>> xp = array_namespace(p, q)
    >>> round(float(xp.sum(p * xp.log(p / q))), 6)
    0.143841
    """
    if not arrays:
        raise TypeError("array_namespace needs at least one array")
    names = tuple(f"arrays[{i}]" for i in range(len(arrays)))
    backend, _ = _dispatch.resolve(*arrays, names=names)
    return backend.xp


def check_backends(
    fn: Callable[..., Any],
    *args: Any,
    reference: Any = None,
    targets: Sequence[Target | str] | str | None = None,
    dtypes: Sequence[str] = ("float32", "float64"),
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> list[Agreement]:
    """Run ``fn`` on every target and dtype; one ``Agreement`` per run.

    Parameters
    ----------
    fn : callable
        The function to check, ``fn(*args, **kwargs)``, returning an array or
        a tuple or list of arrays of its inputs' library.  If it has a
        parameter named ``xp`` (and ``kwargs`` does not give one), each
        target's array-API namespace is passed as ``xp=``.
    *args
        Its positional arguments.  Floating NumPy arrays (or arrays of any
        supported library, read as float64 NumPy) are converted to each
        target and dtype; anything else is passed as it is.
    reference : array, tuple of arrays or callable, optional
        The expected result, or a callable computing it from the float64
        NumPy values each target held (``reference(*args, **kwargs)``).
        Default: ``fn`` itself on those float64 NumPy values.
    targets : str, sequence of str or Target, optional
        Backends and devices, as ``available_targets`` takes them; default
        ``$KL_BACKENDS``, else every installed backend.
    dtypes : sequence of str, default ("float32", "float64")
        Dtypes to run; a target without one of them skips it.
    rtol, atol : float, optional
        Tolerances; default ``TOLERANCES[dtype]``.
    **kwargs
        Keyword arguments passed to ``fn`` (and to a callable reference).

    Returns
    -------
    list of Agreement
        One per target x dtype the target has, in the targets' order; a
        failed run is a row with ``ok`` False and its ``message``.

    Raises
    ------
    ValueError
        From ``available_targets``: an unknown backend, or one named but not
        installed.

    Notes
    -----
    An output passes where ``|got - ref| <= atol + rtol * |ref|``, NaN and
    infinities in the same places (infinities of the same sign), shapes
    equal.  The reference is computed from the values the target held (after
    rounding to ``dtype``), so that the tolerance measures the computation,
    not the rounding of the inputs.  A result returned in another library
    than its inputs fails (it left the library).  An exception fails the row,
    except on a backend that array-api-compat has no namespace for
    (TensorFlow) and that ``targets`` did not name: that row is skipped
    (``Agreement.skipped``), with a message saying how to include it.

    See Also
    --------
    assert_backends_agree : raises with the table on a disagreement.
    array_namespace : the namespace to write ``fn`` with.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.testing import check_backends
    >>> def off(p, xp):  # the target's namespace arrives as xp
    ...     return xp.sum(p, axis=-1) * (1 + 1e-6)
    >>> rows = check_backends(off, np.ones((2, 3)), targets="numpy",
    ...                       reference=np.array([3.0, 3.0]))
    >>> [(r.dtype, r.ok) for r in rows]  # 1e-6 is within float32's tolerance only
    [('float32', True), ('float64', False)]
    """
    args64 = [prepare(a) for a in args]
    if isinstance(targets, str) or targets is None:
        resolved = available_targets(targets)
    else:
        resolved = [t if isinstance(t, Target) else _parse_target(t) for t in targets]
    xp = "xp" not in kwargs and _checking.takes_xp(fn)
    named = _checking.named_backends(targets)
    check = _checking.Check(fn, tuple(args64), kwargs, reference, rtol, atol, xp, named)
    rows = []
    for target in resolved:
        with target.impl.harness():  # e.g. JAX's x64 mode while checking, then as it was
            for dtype in dtypes:
                if dtype not in target.dtypes:
                    continue
                rows.append(_checking.run_one(check, target, dtype))
    return rows


def _parse_target(entry: str) -> Target:
    found = available_targets([entry])
    if not found:
        raise ValueError(f"no such target: {entry!r}")
    return found[0]


def assert_backends_agree(
    fn: Callable[..., Any],
    *args: Any,
    reference: Any = None,
    targets: Sequence[Target | str] | str | None = None,
    dtypes: Sequence[str] = ("float32", "float64"),
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> list[Agreement]:
    """Check ``fn`` on every target and dtype; raise on any disagreement.

    ``check_backends``, raising ``AssertionError`` with the table of every row
    when a row fails.

    Parameters
    ----------
    fn : callable
        The function to check, ``fn(*args, **kwargs)``, returning an array or
        a tuple or list of arrays of its inputs' library.  If it has a
        parameter named ``xp`` (and ``kwargs`` does not give one), each
        target's array-API namespace is passed as ``xp=``.
    *args
        Its positional arguments.  Floating NumPy arrays (or arrays of any
        supported library, read as float64 NumPy) are converted to each
        target and dtype; anything else is passed as it is.
    reference : array, tuple of arrays or callable, optional
        The expected result, or a callable computing it from the float64
        NumPy values each target held (``reference(*args, **kwargs)``).
        Default: ``fn`` itself on those float64 NumPy values.
    targets : str, sequence of str or Target, optional
        Backends and devices, as ``available_targets`` takes them; default
        ``$KL_BACKENDS``, else every installed backend.
    dtypes : sequence of str, default ("float32", "float64")
        Dtypes to run; a target without one of them skips it.
    rtol, atol : float, optional
        Tolerances; default ``TOLERANCES[dtype]``.
    **kwargs
        Keyword arguments passed to ``fn`` (and to a callable reference).

    Returns
    -------
    list of Agreement
        The rows (all ``ok``; skipped rows have ``skipped`` True).

    Raises
    ------
    AssertionError
        A row failed (the message names the failing targets and dtypes and
        shows ``format_table`` of every row), or no backend ran.
    ValueError
        From ``available_targets``: an unknown backend, or one named but not
        installed.

    Notes
    -----
    An output passes where ``|got - ref| <= atol + rtol * |ref|``, NaN and
    infinities in the same places (infinities of the same sign), shapes
    equal.  The reference is computed from the values the target held (after
    rounding to ``dtype``), so that the tolerance measures the computation,
    not the rounding of the inputs.  A result returned in another library
    than its inputs fails (it left the library).  An exception fails the row,
    except on a backend that array-api-compat has no namespace for
    (TensorFlow) and that ``targets`` did not name: that row is skipped
    (``Agreement.skipped``), with a message saying how to include it.

    See Also
    --------
    check_backends : the rows without raising.
    array_namespace : the namespace to write ``fn`` with.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.testing import array_namespace, assert_backends_agree
    >>> def my_kl(p, q):
    ...     xp = array_namespace(p, q)
    ...     return xp.sum(p * xp.log(p / q), axis=-1)
    >>> p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    >>> rows = assert_backends_agree(my_kl, p, q, targets=["numpy"],
    ...                              reference=np.array([0.5 * np.log(4 / 3)]))
    >>> [(r.target, r.dtype, r.ok) for r in rows]
    [('numpy:cpu', 'float32', True), ('numpy:cpu', 'float64', True)]
    """
    rows = check_backends(
        fn,
        *args,
        reference=reference,
        targets=targets,
        dtypes=dtypes,
        rtol=rtol,
        atol=atol,
        **kwargs,
    )
    if not rows:
        raise AssertionError("no backend ran: none of the targets is installed")
    bad = [r for r in rows if not r.ok]
    if bad:
        names = ", ".join(f"{r.target} {r.dtype}" for r in bad)
        raise AssertionError(
            f"{getattr(fn, '__name__', fn)} disagrees with the reference on {names}:\n"
            + format_table(rows)
        )
    return rows
