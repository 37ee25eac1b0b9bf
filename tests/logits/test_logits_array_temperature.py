"""Temperature and beta of the logits path as arrays (0-d arrays of the inputs' library).

Values against float64 NumPy formulas, the ends of beta included; the checks made
eagerly; traced under ``jax.jit`` and ``tf.function`` (one compilation for a
schedule of values) and ``torch.compile``; gradients in the temperature and in
beta against central finite differences of the float64 formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
from _logits_refs import KINDS, random_logits, ref_js, ref_kl

from _gradients import grad
from conftest import need
from kl_backends import cross_entropy, js_divergence, kl_divergence

# --- temperature and beta as arrays ------------------------------------------------


def test_array_temperature_and_beta_values(backend) -> None:
    """0-d arrays of the inputs' library give the values of the float64 formulas, the ends
    of beta included, with -inf logits."""
    arr = lambda x: backend.asarray(x, "float64")  # noqa: E731
    t, s = random_logits()
    t[1, :2] = -np.inf
    for beta in (0.0, 0.3, 1.0):
        out = js_divergence(arr(t), arr(s), inputs="logits", temperature=arr(2.0), beta=arr(beta))
        np.testing.assert_allclose(backend.to_numpy(out), ref_js(t, s, beta, 2.0), rtol=1e-12)
    for fn, ref in ((kl_divergence, ref_kl), (cross_entropy, None)):
        out = fn(arr(t), arr(s), inputs="logits", temperature=arr(3))
        expected = fn(t, s, inputs="logits", temperature=3.0) if ref is None else ref(t, s, 3.0)
        np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)


def test_array_temperature_and_beta_checked_eagerly(backend) -> None:
    """An invalid value is an error where it can be read, and NaN where it cannot (a lazy
    array's value exists only when the result is computed)."""
    arr = lambda x: backend.asarray(x, "float64")  # noqa: E731
    t, s = random_logits()
    tt, ss = arr(t), arr(s)
    bad_temperatures, bad_betas = (0.0, -1.0, np.inf, np.nan), (-0.1, 1.5, np.nan)
    if backend.impl.lazy:  # (NumPy may warn as it computes the NaN: not an error here)
        for bad in bad_temperatures:
            out = kl_divergence(tt, ss, inputs="logits", temperature=arr(bad))
            with np.errstate(all="ignore"):
                assert np.isnan(backend.to_numpy(out)).all(), bad
        for bad in bad_betas:
            out = js_divergence(tt, ss, inputs="logits", beta=arr(bad))
            with np.errstate(all="ignore"):
                assert np.isnan(backend.to_numpy(out)).all(), bad
        bad_temperatures = bad_betas = ()
    for bad in bad_temperatures:
        with pytest.raises(ValueError, match="temperature must be finite and positive"):
            kl_divergence(tt, ss, inputs="logits", temperature=arr(bad))
    for bad in bad_betas:
        with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
            js_divergence(tt, ss, inputs="logits", beta=arr(bad))
    with pytest.raises(ValueError, match="temperature must be a Python number or a 0-d array"):
        kl_divergence(tt, ss, inputs="logits", temperature=arr([2.0]))
    with pytest.raises(TypeError, match="with a real dtype"):
        kl_divergence(tt, ss, inputs="logits", temperature=arr(2.0) > 0)
    # A 0-d array of another library than the inputs'.
    if isinstance(tt, np.ndarray):
        other = need("array_api_strict").asarray(2.0)
    else:
        other = np.asarray(2.0)
    with pytest.raises(TypeError, match=r"Pass float\(temperature\)"):
        kl_divergence(tt, ss, inputs="logits", temperature=other)


def test_jax_jit_traced_temperature_and_beta() -> None:
    """Traced under jax.jit: one compilation for a schedule of values; an invalid traced
    value gives NaN (it cannot be read there)."""
    jax = need("jax")
    jnp = jax.numpy
    t, s = random_logits()
    tt, ss = jnp.asarray(t), jnp.asarray(s)

    @jax.jit
    def f(temperature, beta):
        return js_divergence(tt, ss, inputs="logits", temperature=temperature, beta=beta)

    @jax.jit
    def g(temperature):
        return kl_divergence(tt, ss, inputs="logits", temperature=temperature, reduction="sum")

    for temperature, beta in ((1.0, 0.0), (2.0, 0.3), (0.5, 1.0), (3.0, 0.9)):
        np.testing.assert_allclose(
            f(temperature, beta), ref_js(t, s, beta, temperature), rtol=1e-12
        )
        np.testing.assert_allclose(g(temperature), ref_kl(t, s, temperature).sum(), rtol=1e-12)
    assert f._cache_size() == 1 and g._cache_size() == 1
    assert np.isnan(f(-1.0, 0.5)).all() and np.isnan(f(2.0, 1.5)).all()
    # d/dT by JAX through the division (kernel path), against finite differences.
    h = 1e-6
    fd = (ref_kl(t, s, 2.0 + h).sum() - ref_kl(t, s, 2.0 - h).sum()) / (2 * h)
    np.testing.assert_allclose(jax.jit(jax.grad(g))(2.0), fd, rtol=1e-6)


def test_jax_beta_gradient() -> None:
    """d/dbeta of the generalised JSD for 0 < beta < 1 (documented: NaN at the ends), by
    JAX through the generic code: central finite differences of the float64 formula."""
    jax = need("jax")
    t, s = random_logits()
    tt, ss = jax.numpy.asarray(t), jax.numpy.asarray(s)

    def f(beta):
        return js_divergence(tt, ss, inputs="logits", beta=beta, temperature=2.0, reduction="sum")

    h = 1e-6
    for beta in (0.1, 0.5, 0.8):
        fd = (ref_js(t, s, beta + h, 2.0).sum() - ref_js(t, s, beta - h, 2.0).sum()) / (2 * h)
        np.testing.assert_allclose(jax.jit(jax.grad(f))(beta), fd, rtol=1e-6)


def test_tf_function_tensor_temperature() -> None:
    tf = need("tensorflow")
    t, s = random_logits()
    tt, ss = tf.constant(t), tf.constant(s)
    traces = []

    @tf.function
    def f(temperature, beta):
        traces.append(1)
        return js_divergence(tt, ss, inputs="logits", temperature=temperature, beta=beta)

    for temperature, beta in ((1.0, 0.0), (2.0, 0.3), (0.5, 1.0)):
        out = f(tf.constant(temperature, tf.float64), tf.constant(beta, tf.float64))
        np.testing.assert_allclose(out.numpy(), ref_js(t, s, beta, temperature), rtol=1e-12)
    assert len(traces) == 1
    assert np.isnan(f(tf.constant(-1.0, tf.float64), tf.constant(0.5, tf.float64)).numpy()).all()


@pytest.mark.parametrize("kind", ["kl", "js-0.3"])
def test_temperature_gradient(ad, dtype, kind) -> None:
    """d/dT of the loss (kernel path for KL, generic for the JSD), -inf logits included:
    central finite differences of the float64 formula."""
    t, s = random_logits()
    t[1, :2] = -np.inf
    fn = KINDS[kind]

    def ref(temperature):
        vals = ref_kl(t, s, temperature) if kind == "kl" else ref_js(t, s, 0.3, temperature)
        return vals.sum()

    h = 1e-6
    expected = (ref(2.0 + h) - ref(2.0 - h)) / (2 * h)
    tt, ss = ad.asarray(t, dtype), ad.asarray(s, dtype)
    (got,) = grad(
        ad, lambda T: fn(tt, ss, temperature=T, reduction="sum"), [ad.asarray(2.0, dtype)]
    )
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == "float64" else 1e-4)


@pytest.mark.slow
def test_torch_compile_tensor_temperature() -> None:
    """torch.compile(fullgraph=True) with a tensor temperature: no recompilation per value,
    and an invalid value gives NaN (it cannot be read while compiling)."""
    torch = need("torch")
    torch._dynamo.reset()
    t, s = random_logits()
    tt, ss = torch.tensor(t), torch.tensor(s)

    def f(temperature):
        return kl_divergence(tt, ss, inputs="logits", temperature=temperature)

    # The PyTorch support is loaded by the first call that gets a tensor; a first trace
    # that loaded it would be compiled again on the next call (a guard on the loaded
    # state), whatever the values.  An eager call first, as the conventions guide says.
    f(torch.tensor(1.0, dtype=torch.float64))
    compiled = torch.compile(f, fullgraph=True, dynamic=False)
    from torch._dynamo.utils import counters

    counters.clear()
    for temperature in (1.0, 2.0, 0.5):
        out = compiled(torch.tensor(temperature, dtype=torch.float64))
        np.testing.assert_allclose(out.numpy(), ref_kl(t, s, temperature), rtol=1e-12)
    assert counters["stats"]["unique_graphs"] == 1
    assert torch.isnan(compiled(torch.tensor(-1.0, dtype=torch.float64))).all()
