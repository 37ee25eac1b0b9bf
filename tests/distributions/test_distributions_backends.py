"""kl_backends.distributions on every backend, float32 and float64, lazy and compiled.

Every registered pair on every backend (float32 within 1e-4 of float64 on the same
rounded inputs, the result on the input's backend and dtype); Python numbers and
broadcasting; Dask stays lazy; the same-family pairs under ``jax.jit`` and
``tf.function``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _distributions_refs import PAIRS, SAME, assert_kl, convert, pair_params

import kl_backends.distributions as D
from _families import FAMILIES, reference
from conftest import need
from kl_backends._dispatch import backend_of

# --- every backend, float32 and float64 -----------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_pair_on_backend(backend, dtype: str) -> None:
    rtol = {"float32": 1e-4, "float64": 1e-12}[dtype]
    for pname, qname in PAIRS:
        pp, qq = pair_params(pname, qname, seed=3)
        # The reference: float64 NumPy on the values the backend holds (rounded to dtype).
        pr = convert(pp, lambda a: backend.impl.round_trip(a, dtype))
        qr = convert(qq, lambda a: backend.impl.round_trip(a, dtype))
        expected = D.kl(FAMILIES[pname].ours(pr), FAMILIES[qname].ours(qr))
        got = D.kl(
            FAMILIES[pname].ours(convert(pp, lambda a: backend.asarray(a, dtype))),
            FAMILIES[qname].ours(convert(qq, lambda a: backend.asarray(a, dtype))),
        )
        assert backend_of(got).name == backend.name, (pname, qname)
        assert backend.impl.dtype_name(got) == dtype, (pname, qname)
        try:
            assert_kl(
                backend.to_numpy(got),
                expected,
                rtol=rtol,
                atol=1e-6 if dtype == "float32" else 1e-14,
            )
        except AssertionError as exc:
            raise AssertionError(f"{pname}-{qname} on {backend} {dtype}: {exc}") from None


def test_python_numbers_and_broadcasting() -> None:
    got = D.kl(D.Beta(2.0, 3.0), D.Beta(np.array([[2.0], [1.0]]), np.array([3.0, 1.0])))
    assert got.shape == (2, 2)
    assert got[0, 0] == 0.0
    expected = reference("Beta", "Beta", {"concentration1": np.full(2, 2.0), "concentration0": np.full(2, 3.0)},
                         {"concentration1": np.array([1.0, 1.0]), "concentration0": np.array([3.0, 1.0])})  # fmt: skip
    np.testing.assert_allclose(got[1], expected, rtol=1e-9)


# --- laziness and compilation ------------------------------------------------------------------


def test_dask_stays_lazy() -> None:
    dask = need("dask")
    da = need("dask.array")

    def forbid(*args, **kwargs):
        raise AssertionError("computed")

    rng = np.random.default_rng(9)
    a, b = rng.uniform(0.5, 3, 40), rng.uniform(0.5, 3, 40)
    x, y = da.from_array(a, chunks=10), da.from_array(b, chunks=10)
    with dask.config.set(scheduler=forbid):
        outs = [
            D.kl(D.Beta(x, y), D.Beta(y, x)),
            D.kl(D.VonMises(x, y), D.VonMises(y, x)),
            D.kl(D.Uniform(x * 0.1, x), D.Gamma(y, x)),
        ]
    np.testing.assert_allclose(
        outs[0].compute(), D.kl(D.Beta(a, b), D.Beta(b, a)), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        outs[1].compute(), D.kl(D.VonMises(a, b), D.VonMises(b, a)), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_same_family_pairs_compiled(name: str) -> None:
    from kl_backends.backends import BACKENDS

    backend = BACKENDS[name]
    need(backend.module)
    for pname, qname in SAME:
        pp, qq = pair_params(pname, qname, seed=4)
        keys_p, keys_q = list(pp), list(qq)

        def fn(*xs, pname=pname, keys_p=keys_p, keys_q=keys_q):
            return D.kl(
                FAMILIES[pname].ours(dict(zip(keys_p, xs[: len(keys_p)]))),
                FAMILIES[pname].ours(dict(zip(keys_q, xs[len(keys_p) :]))),
            )

        args = [backend.asarray(v, "float64") for v in (*pp.values(), *qq.values())]
        got = backend.to_numpy(backend.compile(fn)(*args))
        assert_kl(
            got, D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq)), rtol=1e-12, atol=1e-14
        )
