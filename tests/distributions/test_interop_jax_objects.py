"""Which distrax and numpyro objects are read, and what is said about the others.

Unsupported pairs and user subclasses named in the errors, the libraries' own
subclasses read, NumPy and Python parameters giving JAX results, the two libraries
mixed in one pair, no framework imported to read a foreign object, and README's
distrax/numpyro block.

distrax 0.1.9 needs ``tfp-nightly``, which replaces the ``tensorflow-probability``
release of the main environment: these tests run in ``nox -s jax_distributions``
(``KL_BACKENDS_REQUIRE=distrax,numpyro`` makes a missing library an error there)
and skip elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

# The fixtures jax, distrax and numpyro (requested by name).
from _interop_jax_fixtures import distrax_module, jax_module, numpyro_module  # noqa: F401
from _interop_jax_refs import container

import kl_backends.distributions as D

# --- errors, subclasses, mixing, entropy ------------------------------------------------------


def test_unsupported_pairs_name_both_types(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    x = jnp.asarray([0.5, 2.0])
    cases = [
        (numpyro.StudentT(3.0, x), numpyro.Normal(x, 1.0), "StudentT", "Normal"),  # not read
        (numpyro.VonMises(x, 1.0), numpyro.Normal(x, 1.0), "VonMises", "Normal"),  # no pair
        (distrax.Logistic(x, 1.0), distrax.Normal(x, 1.0), "Logistic", "Normal"),
        (distrax.VonMises(x, 1.0), numpyro.Normal(x, 1.0), "VonMises", "Normal"),
    ]
    for p, q, a, b in cases:
        with pytest.raises(NotImplementedError) as info:
            D.kl(p, q)
        message = str(info.value)
        assert f"p: {type(p).__module__}.{a}" in message
        assert f"q: {type(q).__module__}.{b}" in message
    with pytest.raises(NotImplementedError, match=r"no closed-form entropy for numpyro\."):
        D.entropy(numpyro.StudentT(3.0, x))


def test_user_subclass_is_not_read(jax, distrax, numpyro) -> None:
    class MyNormal(numpyro.Normal):
        pass

    class MyDistraxNormal(distrax.Normal):
        pass

    x = jax.numpy.asarray([0.5, 2.0])
    for cls in (MyNormal, MyDistraxNormal):
        assert container(cls(x, 1.0)) is None
        with pytest.raises(NotImplementedError, match=cls.__qualname__):
            D.kl(cls(x, 1.0), cls(x, 2.0))


def test_library_subclasses_read(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    c = container(
        distrax.LogStddevNormal(jnp.asarray([0.0, 1.0]), jnp.log(jnp.asarray([1.0, 2.0])))
    )
    assert type(c) is D.Normal
    np.testing.assert_allclose(c.scale, [1.0, 2.0], rtol=1e-15)
    p = numpyro.BetaProportion(jnp.asarray([0.3, 0.6]), jnp.asarray([5.0, 10.0]))
    q = numpyro.Beta(2.0, 3.0)
    assert type(container(p)) is D.Beta
    np.testing.assert_allclose(D.kl(p, q), numpyro.kl_divergence(p, q), rtol=1e-10)
    c = container(numpyro.Chi2(jnp.asarray(3.0)))
    assert type(c) is D.Chi2


def test_numpy_and_python_parameters_give_jax(jax, distrax, numpyro) -> None:
    """The libraries keep NumPy arrays and Python numbers as given; the result is JAX."""
    pairs_ = [
        (numpyro.Normal(0.0, 1.0), numpyro.Normal(np.array([1.0, 2.0]), 2.0)),
        (distrax.Normal(np.array([0.0, 1.0]), np.array([1.0, 2.0])), distrax.Normal(1.0, 2.0)),
        (numpyro.Binomial(7, probs=np.array([0.3, 0.6])), numpyro.Binomial(7, probs=0.5)),
    ]
    for p, q in pairs_:
        got = D.kl(p, q)
        assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64, (p, got)
    np.testing.assert_allclose(
        D.kl(*pairs_[2]),
        D.kl(D.Binomial(7.0, np.array([0.3, 0.6])), D.Binomial(7.0, 0.5)),
        rtol=1e-12,
    )


def test_libraries_mix(jax, distrax, numpyro) -> None:
    x = jax.numpy.asarray([0.5, 2.0])
    got = D.kl(numpyro.Normal(x, 1.0), distrax.Normal(1.0, x))
    np.testing.assert_allclose(
        got, numpyro.kl_divergence(numpyro.Normal(x, 1.0), numpyro.Normal(1.0, x))
    )


def test_import_reads_nothing(jax) -> None:
    """``import kl_backends`` and reading a non-distribution import no framework."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import kl_backends, kl_backends.distributions
        from kl_backends.distributions._interop import to_container
        assert to_container(object()) is None
        print(sorted(m for m in ("jax", "distrax", "numpyro", "tensorflow_probability")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_block(jax, distrax, numpyro) -> None:
    """README's distrax/numpyro block (skipped by test_docs.py) runs and says what it claims."""
    import re
    from pathlib import Path

    blocks = re.findall(
        r"```python\n(.*?)```", (Path(__file__).parents[2] / "README.md").read_text(), re.S
    )
    (code,) = [b for b in blocks if b.startswith("# needs: distrax, numpyro")]
    before = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", False)  # as in a fresh interpreter
    try:
        checked = 0
        namespace: dict = {}
        for line in code.splitlines():
            statement, sep, comment = line.partition("  # ")
            value = re.match(r"(\[[^\]]*\])", comment.strip()) if sep else None
            if value:
                got = eval(statement, namespace)
                assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float32, line
                np.testing.assert_allclose(got, eval(value.group(1)), atol=5e-5, err_msg=line)
                checked += 1
            else:
                exec(line, namespace)
    finally:
        jax.config.update("jax_enable_x64", before)
    assert checked == 3
