"""Batch shapes and parameter domains of the containers (array API only).

* ``batch_shape(d)``: the broadcast of the parameters' shapes less their event
  axes, with a ``ValueError`` naming both parameters (or both distributions)
  where shapes do not broadcast;
* ``sanitize(*dists)``: the containers with every value outside its
  ``Domain`` replaced by one inside (so that the closed forms run: no
  Cholesky factorisation of a negative variance), and a boolean array of the
  batch shape, ``False`` where a parameter lay outside; ``mask_invalid``
  puts NaN there in the result.  Elementwise tests and ``where``: no host
  synchronisation, so it runs under ``jax.jit``, ``tf.function`` and
  ``torch.compile``;
* ``validate(d, role)``: the eager check of ``validate=True``, which reads the
  values and raises ``ValueError`` naming the parameter and its domain.

The masks test what can be told elementwise.  For a ``positive_definite``
matrix that is: symmetric (within torch's tolerance) with a positive
diagonal; whether it has a Cholesky factor is checked only by
``validate``, and otherwise the closed form's factorisation decides (NumPy and
PyTorch raise for a matrix without one).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends.distributions._base import Distribution, Domain

__all__ = ["CHECKS", "batch_shape", "broadcast_batch", "mask_invalid", "sanitize", "validate"]


# --- the tests, per Domain.kind ------------------------------------------------------------
# Each takes (xp, backend, x) and returns a boolean array: elementwise for the scalar
# kinds, already reduced over the event axes for the vector and matrix kinds (_WHOLE).


def _real(xp: Any, be: Any, x: Any) -> Any:
    return x == x


def _positive(xp: Any, be: Any, x: Any) -> Any:
    return x > 0


def _nonnegative(xp: Any, be: Any, x: Any) -> Any:
    return x >= 0


def _unit_interval(xp: Any, be: Any, x: Any) -> Any:
    return (x >= 0) & (x <= 1)


def _half_open_unit_interval(xp: Any, be: Any, x: Any) -> Any:
    return (x > 0) & (x <= 1)


def _nonnegative_integer(xp: Any, be: Any, x: Any) -> Any:
    return xp.isfinite(x) & (x >= 0) & (xp.floor(x) == x)


def _probability_vector(xp: Any, be: Any, x: Any) -> Any:
    """Probabilities up to normalisation (torch normalises ``probs`` before its simplex test)."""
    ok = (x >= 0) & xp.isfinite(x)
    total = xp.sum(xp.where(ok, x, _common.scalar(be, 0.0, x)), axis=-1)  # no inf - inf
    return xp.all(ok, axis=-1) & (total > 0)


def _logits_vector(xp: Any, be: Any, x: Any) -> Any:
    """Unnormalised log-probabilities: -inf (probability 0) allowed, not all of them."""
    return xp.all((x == x) & (x < math.inf), axis=-1) & xp.any(x > -math.inf, axis=-1)


def _positive_diagonal(xp: Any, x: Any) -> Any:
    return xp.all(xp.linalg.diagonal(x) > 0, axis=-1)


def _lower_cholesky(xp: Any, be: Any, x: Any) -> Any:
    """Lower-triangular (zeros above the diagonal, no NaN below) with a positive diagonal."""
    ok = x == x
    n = _args.shape_of(x)[-1]
    if n is not None:
        r = xp.arange(n, device=be.device(x))
        above = xp.expand_dims(r, axis=0) > xp.expand_dims(r, axis=1)  # [i, j]: j > i
        ok = ok & ((x == 0) | ~above)
    return xp.all(ok, axis=(-2, -1)) & _positive_diagonal(xp, x)


def _positive_definite(xp: Any, be: Any, x: Any) -> Any:
    """Symmetric as torch's test (``isclose(x, x^T, atol=1e-6)``: equal infinities
    included, NaN never) with a positive diagonal: what can be told without a
    factorisation (``validate`` also factorises)."""
    xt = xp.matrix_transpose(x)
    finite = xp.isfinite(x) & xp.isfinite(xt)
    zero = _common.scalar(be, 0.0, x)
    a, b = xp.where(finite, x, zero), xp.where(finite, xt, zero)  # no inf - inf below
    close = finite & (xp.abs(a - b) <= 1e-6 + 1e-5 * xp.abs(b))
    return xp.all(close | (x == xt), axis=(-2, -1)) & _positive_diagonal(xp, x)


CHECKS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "real": _real,
    "positive": _positive,
    "nonnegative": _nonnegative,
    "unit_interval": _unit_interval,
    "half_open_unit_interval": _half_open_unit_interval,
    "nonnegative_integer": _nonnegative_integer,
    "probability_vector": _probability_vector,
    "logits_vector": _logits_vector,
    "lower_cholesky": _lower_cholesky,
    "positive_definite": _positive_definite,
}
_WHOLE = {"probability_vector", "logits_vector", "lower_cholesky", "positive_definite"}


def _check(xp: Any, be: Any, domain: Domain, x: Any) -> Any:
    """``domain``'s test on ``x``, reduced over its event axes: one value per batch element."""
    ok = CHECKS[domain.kind](xp, be, x)
    if domain.kind not in _WHOLE:
        ok = _all_last(xp, ok, domain.event_ndims)
    return ok


def _all_last(xp: Any, x: Any, n: int) -> Any:
    """``all`` over the last ``n`` axes (fewer where ``x`` has fewer: it broadcasts there)."""
    n = min(n, len(_args.shape_of(x)))
    return xp.all(x, axis=tuple(range(-n, 0))) if n else x


# --- walking the containers ----------------------------------------------------------------


def _params(d: Any, path: str) -> Iterator[tuple[Any, str, str, Any]]:
    """(container, parameter name, path for messages, value) of ``d`` and what it is made of."""
    if not isinstance(d, Distribution):
        return
    parts = d._parts()
    for name, (part, _) in parts.items():
        yield from _params(part, f"{path}.{name}")
    if not parts:
        for name, value in d.params().items():
            yield d, name, f"{path}.{name}", value


def batch_shape(d: Any, path: str = "d") -> tuple[int | None, ...]:
    """The batch shape of a container (``path`` names it in errors: ``"p"``, ``"q"``).

    Raises
    ------
    ValueError
        Parameters whose batch shapes do not broadcast (the message names
        both), an ``Independent`` reinterpreting more axes than its base
        distribution has, a mixture whose components have no batch axis.
    """
    return d._batch_shape(path)  # type: ignore[no-any-return]


def broadcast_batch(p: Any, q: Any) -> tuple[int | None, ...]:
    """The broadcast batch shape of p and q, or ``ValueError`` naming both shapes."""
    bp, bq = batch_shape(p, "p"), batch_shape(q, "q")
    try:
        return _args.broadcast_shape(bp, bq)
    except ValueError:
        raise ValueError(
            f"the batch shapes of p ({type(p).__name__}) and q ({type(q).__name__}) must "
            f"broadcast to one shape; got p's {bp} and q's {bq}. Give them equal sizes or "
            "size 1 on each batch axis (for example x[:, None] to add an axis)."
        ) from None


# --- the masks -------------------------------------------------------------------------------

#: A value inside each domain, put in place of the values outside it before the closed forms
#: run (a factorisation there would raise on them); "eye": the identity matrix.
_SAFE: dict[str, Any] = {
    "real": 0.0,
    "positive": 1.0,
    "nonnegative": 1.0,
    "unit_interval": 0.5,
    "half_open_unit_interval": 0.5,
    "nonnegative_integer": 1.0,
    "probability_vector": 1.0,
    "logits_vector": 0.0,
    "lower_cholesky": "eye",
    "positive_definite": "eye",
}


def sanitize(*dists: Any) -> tuple[list[Any], Any]:
    """``dists`` with each value outside its domain replaced by one inside, and the mask.

    Returns the containers (parameters as arrays of their library and dtype;
    Python values as arrays of that library, as the closed forms would take
    them) and a boolean array, ``True`` per batch element where every
    parameter lay in its domain (``None`` where there are no parameters).
    Elementwise tests and ``where`` only: no value is read.  The closed forms
    then run on valid parameters everywhere (a Cholesky factorisation never
    meets a negative variance), and their result is masked (``mask_invalid``).
    """
    items = [item for i, d in enumerate(dists) for item in _params(d, f"d{i}")]
    if not items:
        return list(dists), None
    be, arrays = _dispatch.resolve(
        *(v for *_, v in items), names=tuple(where for _, _, where, _ in items)
    )
    xp = be.xp
    table = {(id(c), name): (x, where) for (c, name, where, _), x in zip(items, arrays)}
    out, ok = [], None
    for d in dists:
        safe, valid = _sanitize(xp, be, d, table)
        out.append(safe)
        ok = _and(ok, valid)
    return out, ok


def _sanitize(xp: Any, be: Any, d: Any, table: dict[tuple[int, str], Any]) -> tuple[Any, Any]:
    if not isinstance(d, Distribution):
        return d, None
    parts = d._parts()
    if parts:
        changes, ok = {}, None
        for name, (part, axes) in parts.items():
            changes[name], valid = _sanitize(xp, be, part, table)
            if valid is not None:
                valid = _all_last(xp, valid, axes)  # every element of the part's extra axes
            ok = _and(ok, valid)
        return dataclasses.replace(d, **changes), ok  # type: ignore[type-var]
    given = d.params()
    changes = {}
    ok = None
    for name in given:
        x, where = table[id(d), name]
        domain = type(d).domains.get(name)
        if domain is None:
            changes[name] = x
            continue
        inside = CHECKS[domain.kind](xp, be, _floating(x, where))
        changes[name] = _replace(xp, be, x, inside, domain)
        if domain.kind not in _WHOLE:
            inside = _all_last(xp, inside, domain.event_ndims)
        ok = _and(ok, inside)
    for low, high in type(d).ordered:
        if low in given and high in given:
            ordered = table[id(d), low][0] < table[id(d), high][0]
            changes[low] = xp.where(ordered, changes[low], _common.scalar(be, 0.0, changes[low]))
            changes[high] = xp.where(ordered, changes[high], _common.scalar(be, 1.0, changes[high]))
            ok = _and(ok, ordered)
    return dataclasses.replace(d, **changes), ok  # type: ignore[type-var]


def _floating(x: Any, where: str) -> Any:
    """``x`` in a floating dtype for the tests (an integer ``total_count``)."""
    return _common.prepare(x, names=(where,))[2][0]


def _replace(xp: Any, be: Any, x: Any, inside: Any, domain: Domain) -> Any:
    """``x`` where ``inside``, the domain's safe value elsewhere."""
    safe = _SAFE[domain.kind]
    if domain.kind not in _WHOLE:
        return xp.where(inside, x, _common.scalar(be, safe, x))
    for _ in range(domain.event_ndims):
        inside = xp.expand_dims(inside, axis=-1)
    if safe == "eye":
        n = _args.shape_of(x)[-1]
        if n is None:
            return x  # unknown size: left as it is (the mask still gives NaN)
        return xp.where(inside, x, xp.eye(n, dtype=x.dtype, device=be.device(x)))
    return xp.where(inside, x, _common.scalar(be, safe, x))


def _and(a: Any, b: Any) -> Any:
    if a is None:
        return b
    return a if b is None else a & b


def mask_invalid(out: Any, shape: tuple[int | None, ...], ok: Any) -> Any:
    """``out`` with the batch ``shape``, NaN where ``ok`` (from ``sanitize``) is ``False``.

    ``out`` that is not an array (a user's closed form returning a Python
    number) is returned as it is.
    """
    be = _dispatch.backend_of(out)
    if be is None:
        return out
    xp = be.xp
    try:
        target = _args.broadcast_shape(_args.shape_of(out), shape)
    except ValueError:
        target = _args.shape_of(out)  # a user's closed form with its own shape convention
    if ok is None:
        return _common.broadcast_to(xp, out, target)
    ok = _common.broadcast_to(xp, ok, _args.broadcast_shape(_args.shape_of(ok), target))
    return xp.where(ok, out, _common.scalar(be, math.nan, out))


# --- validate=True -----------------------------------------------------------------------------


def validate(d: Any, role: str) -> None:
    """Raise ``ValueError`` naming the first parameter of ``d`` outside its domain.

    Reads the values (host synchronisation): only for ``validate=True``.
    """
    from kl_backends.backends import BACKENDS

    numpy = BACKENDS["numpy"]
    np = numpy.xp
    for c, name, where, value in _params(d, role):
        domain = type(c).domains.get(name)
        if domain is None:
            continue
        x = _host(value, where)
        ok = _check(np, numpy, domain, x)
        if domain.kind == "positive_definite" and bool(np.all(ok)):
            ok = ok & _has_cholesky(x)
        if not bool(np.all(ok)):
            raise ValueError(
                f"{type(c).__name__}.{name} must be {domain.text}; got {_bad(np, x, ok)}"
                f" (in {where})"
            )
    seen: set[int] = set()
    for c, _, _, _ in _params(d, role):
        if id(c) in seen:
            continue
        seen.add(id(c))
        given = c.params()
        for low, high in type(c).ordered:
            if low in given and high in given:
                lo, hi = np.broadcast_arrays(
                    _host(given[low], f"{role}.{low}"), _host(given[high], f"{role}.{high}")
                )
                ok = lo < hi
                if not bool(np.all(ok)):
                    i = _first_bad(np, ok)
                    name = type(c).__name__
                    raise ValueError(
                        f"{name}.{low} must be < {name}.{high}; got {low}={lo[i].tolist()!r} "
                        f"and {high}={hi[i].tolist()!r}"
                        + (f" at batch index {i}" if i else "")
                        + f" (in {role})"
                    )


def _host(value: Any, where: str) -> Any:
    """A float64 NumPy copy of a parameter (Python values included)."""
    be, (x,) = _dispatch.resolve(value, names=(where,))
    why = be.values_unavailable(x)
    if why is not None:
        raise ValueError(
            f"validate=True needs the values of {where}, but {why}. Validate outside the "
            "traced or lazy computation, or pass validate=False (invalid parameters then "
            "give NaN)."
        )
    import numpy as np

    return np.asarray(be.to_numpy(be.detach(x)), dtype=np.float64)


def _has_cholesky(x: Any) -> Any:
    """Per matrix: whether LAPACK's Cholesky factorisation (torch's test) succeeds."""
    import numpy as np

    with np.errstate(all="ignore"):
        try:
            np.linalg.cholesky(x)
            return np.ones(x.shape[:-2], dtype=bool)
        except np.linalg.LinAlgError:
            pass
        out = np.ones(x.shape[:-2], dtype=bool)
        for index in np.ndindex(*x.shape[:-2]):
            try:
                np.linalg.cholesky(x[index])
            except np.linalg.LinAlgError:
                out[index] = False
    return out


def _first_bad(np: Any, ok: Any) -> tuple[int, ...]:
    """The index of the first ``False`` of ``ok`` (``()`` for a 0-d ``ok``)."""
    ok = np.asarray(ok)
    return tuple(int(i) for i in np.unravel_index(int(np.argmin(ok)), ok.shape))


def _bad(np: Any, x: Any, ok: Any) -> str:
    """The first offending value (a vector or matrix for those kinds) and its batch index."""
    index = _first_bad(np, ok)
    shown = repr(x[index].tolist())  # a value, or the event's vector or matrix
    return f"{shown} at batch index {index}" if index else shown
