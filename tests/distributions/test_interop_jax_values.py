"""KL, entropy and cross-entropy of distrax and numpyro objects in kl_backends.distributions.

The readers in ``kl_backends/distributions/_readers/`` (distrax.py, numpyro.py) read them into
containers; the closed forms then compute in JAX.  Checked on random batches of
every registered pair whose two families the library offers:

* float64: equal to the library's own KL (``distrax.kl_divergence`` /
  ``numpyro.distributions.kl_divergence``, rtol 1e-10) where it has the pair, and
  always to our NumPy float64 containers on the same parameters (rtol 1e-12);
* a JAX array of the parameters' dtype (float32 too), under ``jax.jit`` and with
  ``jax.grad`` equal to our containers' gradients;
* ``entropy`` and ``cross_entropy`` of every family against our containers' and the
  library's own.

distrax 0.1.9 needs ``tfp-nightly``, which replaces the ``tensorflow-probability``
release of the main environment: these tests run in ``nox -s jax_distributions``
(``KL_BACKENDS_REQUIRE=distrax,numpyro`` makes a missing library an error there)
and skip elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

# The fixtures jax, distrax and numpyro (requested by name).
from _interop_jax_fixtures import distrax_module, jax_module, numpyro_module  # noqa: F401
from _interop_jax_refs import (
    BUILD,
    CASES,
    IN_LIBRARY,
    N,
    assert_kl,
    jax_params,
    library_kl,
    library_module,
    ours_kl,
    pair_params,
)

import kl_backends.distributions as D
from _families import FAMILIES

# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_float64(request, jax, lib: str, pname: str, qname: str) -> None:
    mod = library_module(request, lib)
    pp, qq = pair_params(pname, qname, seed=4)
    p = BUILD[lib][pname](mod, jax_params(jax, pp, "float64"))
    q = BUILD[lib][qname](mod, jax_params(jax, qq, "float64"))
    got = D.kl(p, q)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64
    assert got.shape == (N,)
    # atol: JAX's lgamma and digamma differ from SciPy's by a few ulps.
    assert_kl(got, ours_kl(pname, qname, pp, qq), rtol=1e-12, atol=1e-14)
    try:
        expected = library_kl(lib, mod, p, q)
    except NotImplementedError:
        assert (pname, qname) not in IN_LIBRARY[lib]
        return
    assert (pname, qname) in IN_LIBRARY[lib]
    assert_kl(got, expected, rtol=1e-10, atol=1e-13)


def _round(params: dict, dtype: str) -> dict:
    return {k: np.asarray(v, dtype).astype(np.float64) for k, v in params.items()}


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_float32(request, jax, lib: str, pname: str, qname: str) -> None:
    mod = library_module(request, lib)
    pp, qq = pair_params(pname, qname, seed=5)
    p = BUILD[lib][pname](mod, jax_params(jax, pp, "float32"))
    q = BUILD[lib][qname](mod, jax_params(jax, qq, "float32"))
    got = D.kl(p, q)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float32
    # The reference: float64 on the float32 values.
    expected = ours_kl(pname, qname, _round(pp, "float32"), _round(qq, "float32"))
    assert_kl(got, expected, rtol=1e-4, atol=1e-6)


def _differentiable(params: dict) -> list[str]:
    return sorted(k for k in params if k != "total_count")


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_jit_and_grad(request, jax, lib: str, pname: str, qname: str) -> None:
    """Under jax.jit, value and gradient equal our containers' (built from the same arrays)."""
    mod = library_module(request, lib)
    jnp = jax.numpy
    pp, qq = pair_params(pname, qname, seed=6)
    kp, kq = _differentiable(pp), _differentiable(qq)
    jp, jq = jax_params(jax, pp, "float64"), jax_params(jax, qq, "float64")

    def total(build_p: Any, build_q: Any) -> Any:
        def f(xp: dict, xq: dict) -> Any:
            return jnp.sum(D.kl(build_p({**jp, **xp}), build_q({**jq, **xq})))

        return f

    args = ({k: jp[k] for k in kp}, {k: jq[k] for k in kq})
    lib_fn = total(lambda d: BUILD[lib][pname](mod, d), lambda d: BUILD[lib][qname](mod, d))
    ours_fn = total(FAMILIES[pname].ours, FAMILIES[qname].ours)
    value, grads = jax.jit(jax.value_and_grad(lib_fn, argnums=(0, 1)))(*args)
    value_ours, grads_ours = jax.value_and_grad(ours_fn, argnums=(0, 1))(*args)
    if not math.isfinite(value_ours):
        assert value == value_ours
        return
    np.testing.assert_allclose(value, value_ours, rtol=1e-12)
    for g, g_ours in zip(grads, grads_ours):
        for k in g:
            assert np.isfinite(g[k]).all(), (k, g[k])
            a, b = np.asarray(g[k]), np.asarray(g_ours[k])
            if k == "scale_tril":  # the libraries ignore (mask) the upper triangle
                a, b = np.tril(a), np.tril(b)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=k)


ENTROPY = [
    pytest.param(lib, name, id=f"{lib}-{name}")
    for lib, table in BUILD.items()
    for name in sorted(table)
    if name not in ("Poisson", "Binomial")
]


@pytest.mark.parametrize(("lib", "name"), ENTROPY)
def test_entropy_and_cross_entropy(request, jax, lib: str, name: str) -> None:
    mod = library_module(request, lib)
    params = FAMILIES[name].gen(np.random.default_rng(14), N)
    d = BUILD[lib][name](mod, jax_params(jax, params, "float64"))
    got = D.entropy(d)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64
    np.testing.assert_allclose(got, D.entropy(FAMILIES[name].ours(params)), rtol=1e-12, atol=1e-14)
    try:
        theirs = d.entropy()
    except NotImplementedError:
        pass
    else:
        np.testing.assert_allclose(got, theirs, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(D.cross_entropy(d, d), got, rtol=1e-12, atol=1e-14)
