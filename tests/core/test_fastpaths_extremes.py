"""Every fast path, quick path and the generic code at the extremes of the conventions.

Negative ``p`` or ``q``, NaN (also next to a negative ``q``), infinities, ``p > 1``,
unnormalised rows and ratios ``p / q`` outside the normal range (subnormal, 0 or
overflowing), against ``scipy.special.rel_entr`` and ``mpmath`` with the README's
conventions: a term with ``p == 0`` is 0 whatever ``q`` is, a negative ``p`` or a
negative ``q`` under ``p > 0`` gives NaN.  XLA (JAX) and TensorFlow flush subnormals
to zero on CPU (documented): their reference flushes the inputs and the result.
"""

from __future__ import annotations

import os
from typing import Any

import mpmath
import numpy as np
import pytest
from scipy.special import entr, rel_entr

from kl_backends import cross_entropy, entropy, js_divergence, kl_divergence

nan, inf = np.nan, np.inf

#: (p, q) rows, padded to width 2 with the (0, 1) pair (a zero term).
ROWS = [
    ([-0.5], [0.0]),  # JAX's max(p, tiny) made this 353.85
    ([-0.5], [0.5]),
    ([0.5], [-0.5]),
    ([-0.5], [-0.5]),  # ratio 1: a finite term from two negatives
    ([0.0], [-0.5]),
    ([nan], [0.5]),
    ([0.5], [nan]),
    ([0.0], [nan]),
    ([0.0, -0.5], [nan, -0.5]),  # a NaN (zeroed under p == 0) next to a negative q
    ([-0.5, 0.0], [0.5, nan]),
    ([inf], [0.5]),
    ([0.5], [inf]),
    ([0.0], [inf]),
    ([inf], [inf]),
    ([-0.5], [inf]),
    ([-0.5], [-0.0]),
    ([0.5, 0.5], [-0.0, 1.0]),
    ([2.0], [0.5]),  # p > 1
    ([2.0, 3.0], [0.5, 7.0]),  # unnormalised
    ([2.22e-308], [1e15]),  # SciPy gh-20710: a subnormal ratio
    ([5e-324], [1e15]),
    ([1e-300], [1e15]),
    ([2.3e-308], [1e15]),
    ([1e-300, 1.0], [1e15, 1.0]),
    ([1e-300], [1e300]),  # the ratio underflows to 0
    ([5e-324], [0.5]),
    ([2.22e-308], [1e-300]),
    ([4.0], [1e-300]),  # the ratio overflows
    ([1e300], [1e-300]),
    ([1e-300], [1.01e-300]),  # nearly equal, tiny
    ([1e-38], [10.0]),  # float32: subnormal p
    ([1e-30], [1e10]),  # float32: subnormal ratio
    ([1e-35], [1e10]),
    ([1e-30, 1.0], [1e10, 1.0]),
]

#: Backends whose CPU kernels flush subnormals to zero (README, conventions).
FLUSHING = ("jax", "tensorflow")


def _table(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.zeros((len(ROWS), 2))
    q = np.ones((len(ROWS), 2))
    for i, (a, b) in enumerate(ROWS):
        p[i, : len(a)], q[i, : len(b)] = a, b
    with np.errstate(over="ignore", under="ignore"):
        return p.astype(dtype).astype(np.float64), q.astype(dtype).astype(np.float64)


def _flush(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.where(np.abs(x) < np.finfo(dtype).tiny, np.copysign(0.0, x), x)


def _reference(p: np.ndarray, q: np.ndarray, dtype: str, flushing: bool) -> np.ndarray:
    """``rel_entr`` summed with the README's conventions, in float64 (more than enough
    for float32 inputs; float64 rows here have one or two terms, each exact in
    ``rel_entr``, which takes ``log p - log q`` where ``p / q`` leaves the normal range)."""
    if flushing:
        p, q = _flush(p, dtype), _flush(q, dtype)
    with np.errstate(all="ignore"):
        t = rel_entr(p, q)
    t = np.where((p < 0) | ((q < 0) & (p > 0)), nan, t)
    t = np.where(p == 0, 0.0, t)
    out = t.sum(-1)
    return _flush(out, dtype) if flushing else out


def _generic(fn: Any) -> Any:
    os.environ["KL_BACKENDS_FASTPATHS"] = "0"
    try:
        return fn()
    finally:
        del os.environ["KL_BACKENDS_FASTPATHS"]


def _assert_matches(got: np.ndarray, want: np.ndarray, dtype: str, label: str) -> None:
    rtol = 1e-13 if dtype == "float64" else 4e-6
    atol = 4 * float(np.finfo(dtype).smallest_subnormal)
    for i, (g, w) in enumerate(zip(got, want)):
        row = ROWS[i % len(ROWS)]
        if np.isnan(w):
            ok = np.isnan(g)
        elif np.isinf(w):
            ok = g == w
        else:
            ok = abs(g - w) <= rtol * abs(w) + atol
        assert ok, f"{label}: row {row}: got {g!r}, want {w!r}"


@pytest.mark.parametrize("rows", [1, 600], ids=["small", "large"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_path_keeps_the_conventions(backend, dtype, rows, monkeypatch) -> None:
    """The quick front end, the general one (``keepdims``: the backend's kernel) and
    the generic code give the reference on every row, small and large (blocked)."""
    p, q = _table(dtype)
    want = np.tile(_reference(p, q, dtype, backend.name in FLUSHING), rows)
    a = backend.asarray(np.tile(p, (rows, 1)), dtype)
    b = backend.asarray(np.tile(q, (rows, 1)), dtype)
    paths = {
        "quick": lambda: kl_divergence(a, b),
        "general": lambda: kl_divergence(a, b, keepdims=True)[..., 0],
        "generic": lambda: _generic(lambda: kl_divergence(a, b, keepdims=True)[..., 0]),
    }
    with np.errstate(all="ignore"):
        for label, fn in paths.items():
            _assert_matches(backend.to_numpy(fn()), want, dtype, label)


SUBNORMAL_P = [5e-324, 2.22e-308, 1e-300]
EXTREME_Q = [1e15, 1e300, 1e-300]


@pytest.mark.parametrize("rows", [1, 500], ids=["small", "large"])  # 500: 18,000 elements
def test_ratios_outside_the_normal_range_match_rel_entr(backend, rows) -> None:
    """SciPy's gh-20710 case (p = 2.22e-308, q = 1e15: -1.6493212008074475e-305, not
    NumPy's former -1.6495793861837802e-305) and its neighbours, each alone in a row
    and next to an ordinary term, on the small and the blocked paths."""
    flushing = backend.name in FLUSHING
    pairs = [(a, b) for a in SUBNORMAL_P for b in EXTREME_Q]
    p = np.array([[a, 0.0] for a, _ in pairs] + [[a, 0.5] for a, _ in pairs])
    q = np.array([[b, 1.0] for _, b in pairs] + [[b, 0.25] for _, b in pairs])
    want = _reference(p, q, "float64", flushing)
    if not flushing:  # SciPy's own value for the pair
        assert want[pairs.index((2.22e-308, 1e15))] == -1.6493212008074475e-305
    a = backend.asarray(np.tile(p, (rows, 1)))
    b = backend.asarray(np.tile(q, (rows, 1)))
    got = backend.to_numpy(kl_divergence(a, b))
    for i, (g, w) in enumerate(zip(got, np.tile(want, rows))):
        assert abs(g - w) <= 1e-14 * abs(w) + 2e-323, (p[i % len(p)], q[i % len(q)], g, w)


def _mp_grad_p(p: float, q: float) -> float:
    """d/dp of p log(p / q): log(p / q) + 1, at 50 digits."""
    with mpmath.workdps(50):
        return float(mpmath.log(mpmath.mpf(p)) - mpmath.log(mpmath.mpf(q)) + 1)


@pytest.mark.parametrize("rows", [1, 10_000], ids=["small", "large"])
def test_gradient_at_a_subnormal_ratio(ad, dtype, rows, monkeypatch) -> None:
    """d/dp = log p - log q + 1 where ``p / q`` is subnormal or flushed to 0 (it was
    ``-inf`` on JAX and on TensorFlow's blocked path), on every path."""
    from _gradients import grad

    if dtype == "float32":
        p_row, q_row = [1e-30, 1.0 - 1e-30], [1e10, 0.5]
    else:
        p_row, q_row = [1e-300, 1.0 - 1e-300], [1e15, 0.5]
    pp = np.tile(np.array(p_row, dtype), (rows, 1))
    qq = np.tile(np.array(q_row, dtype), (rows, 1))
    want = [_mp_grad_p(float(a), float(b)) for a, b in zip(pp[0], qq[0])]
    a, b = ad.asarray(pp, dtype), ad.asarray(qq, dtype)
    for label, fn in {
        "fast": lambda: grad(ad, kl_divergence, [a, b]),
        "generic": lambda: _generic(lambda: grad(ad, kl_divergence, [a, b])),
    }.items():
        gp = fn()[0]
        np.testing.assert_allclose(gp[0], want, rtol=8 * np.finfo(dtype).eps, err_msg=label)
        np.testing.assert_allclose(gp[-1], want, rtol=8 * np.finfo(dtype).eps, err_msg=label)


def _mp_kl(p: list[float], q: list[float]) -> float:
    with mpmath.workdps(60):
        return float(sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / b) for a, b in zip(p, q)))


def _mp_js(p: list[float], q: list[float]) -> float:
    with mpmath.workdps(60):
        total = mpmath.mpf(0)
        for a, b in zip(p, q):
            a, b = mpmath.mpf(a), mpmath.mpf(b)
            m = (a + b) / 2
            total += (a * mpmath.log(a / m) + b * mpmath.log(b / m)) / 2
        return float(total)


# Nearly equal and tiny: the series held only for p + q above 2**-510 (float64).
TINY_NEAR = [([1e-300], [1.01e-300]), ([3e-200, 1e-200], [3.001e-200, 0.999e-200])]


@pytest.mark.parametrize("pair", TINY_NEAR, ids=["1e-300", "1e-200"])
def test_nearly_equal_tiny_values_keep_their_digits(backend, pair) -> None:
    """KL and JS of nearly equal values far below 1 (both sides normal numbers): the
    series, not ``log p - log q`` (which loses ``eps |log p| / |log(p / q)|``)."""
    p, q = pair
    a, b = backend.asarray(np.array(p)), backend.asarray(np.array(q))
    kl = float(backend.to_numpy(kl_divergence(a, b, reduction="sum")))
    js = float(backend.to_numpy(js_divergence(a, b)))
    np.testing.assert_allclose(kl, _mp_kl(p, q), rtol=1e-14)
    np.testing.assert_allclose(js, _mp_js(p, q), rtol=1e-14)


def test_nearly_equal_tiny_values_have_finite_gradients(ad, dtype) -> None:
    """The power-of-two scaling keeps the series' derivative finite down to the smallest
    normal sums (JAX forms ``(p + q)**-2``); the generic code, where it is used."""
    from _gradients import grad

    tiny = float(np.finfo(dtype).tiny)
    p = np.array([[4 * tiny, 0.5, 0.5 - 4 * tiny]], dtype)
    q = np.array([[4 * tiny, 0.5, 0.5 - 4 * tiny]], dtype)
    a, b = ad.asarray(p, dtype), ad.asarray(q, dtype)
    for fn in (kl_divergence, js_divergence):
        gp, gq = _generic(lambda fn=fn: grad(ad, fn, [a, b]))
        assert np.isfinite(gp).all() and np.isfinite(gq).all(), (fn.__name__, gp, gq)
        if fn is kl_divergence:  # log(p / q) + 1 = 1 and -p / q = -1 at p == q
            np.testing.assert_allclose(gp, 1.0, rtol=4 * np.finfo(dtype).eps)
            np.testing.assert_allclose(gq, -1.0, rtol=4 * np.finfo(dtype).eps)


def test_entropy_and_cross_entropy_at_the_extremes(backend) -> None:
    """``entropy`` against ``scipy.special.entr`` and ``cross_entropy`` against
    ``-p log q`` (0 where ``p == 0``; NaN for a negative ``p`` or a negative ``q``
    under ``p > 0``), with subnormal, huge, infinite and invalid values."""
    p, q = _table("float64")
    flushing = backend.name in FLUSHING
    if flushing:
        p, q = _flush(p, "float64"), _flush(q, "float64")
    a, b = backend.asarray(p), backend.asarray(q)
    with np.errstate(all="ignore"):
        h = entr(p)
        h = np.where(p < 0, nan, h).sum(-1)
        ce = np.where(p == 0, 0.0, -p * np.log(q))
        ce = np.where((p < 0) | ((q < 0) & (p > 0)), nan, ce).sum(-1)
        got_h = backend.to_numpy(entropy(a))
        got_ce = backend.to_numpy(cross_entropy(a, b))
    if flushing:
        h, ce = _flush(h, "float64"), _flush(ce, "float64")
    _assert_matches(got_h, h, "float64", "entropy")
    _assert_matches(got_ce, ce, "float64", "cross_entropy")
