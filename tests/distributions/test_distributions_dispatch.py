"""kl_backends.distributions: dispatch, registration, containers, import and docstrings.

Unsupported pairs name both types and list the registered ones; ``register_kl`` for
a user pair and subclass dispatch; the containers' argument errors; importing the
package touches no framework; the docstring examples run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import kl_backends.distributions as D
from conftest import need

# --- registry, errors, containers --------------------------------------------------------------


def test_unsupported_pair_names_both_types_and_lists_pairs() -> None:
    with pytest.raises(
        NotImplementedError,
        match=r"p: kl_backends\.distributions\.VonMises and q: .*Normal.*Beta-Beta",
    ):
        D.kl(D.VonMises(0.0, 1.0), D.Normal(0.0, 1.0))
    with pytest.raises(NotImplementedError, match=r"no closed-form entropy for .*Poisson"):
        D.entropy(D.Poisson(1.0))
    with pytest.raises(NotImplementedError, match="reinterpreted_batch_ndims"):
        D.kl(
            D.Independent(D.Normal(np.zeros((2, 2)), 1.0), 1),
            D.Independent(D.Normal(np.zeros((2, 2)), 1.0), 2),
        )


def test_register_kl_user_pair_and_subclass_dispatch() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class PointMass:
        loc: float

    @D.register_kl(PointMass, D.Normal)
    def _point_normal(p, q):
        return float("inf")

    try:
        assert D.kl(PointMass(0.0), D.Normal(0.0, 1.0)) == math.inf
        assert ("PointMass", "Normal") in D.registered_pairs()

        @dataclass(frozen=True)
        class MyNormal(D.Normal):
            pass

        # A subclass uses its parent's pair until it registers a more specific one.
        assert D.kl(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)) == pytest.approx(0.4431471806)

        @D.register_kl(MyNormal, D.Normal)
        def _mine(p, q):
            return -1.0

        assert D.kl(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)) == -1.0
    finally:
        from kl_backends.distributions import _registry

        for key in [k for k in _registry._KL if k[0].__name__ in ("PointMass", "MyNormal")]:
            del _registry._KL[key]
        _registry._MEMO.clear()
    assert len(D.registered_pairs()) == 93


def test_container_errors() -> None:
    with pytest.raises(ValueError, match="exactly one of probs and logits; got both"):
        D.Bernoulli(0.5, 0.0)
    with pytest.raises(ValueError, match="exactly one of probs and logits; got neither"):
        D.Categorical()
    with pytest.raises(ValueError, match="exactly one of covariance_matrix"):
        D.MultivariateNormal(np.zeros(2))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims must be an int"):
        D.Independent(D.Normal(0.0, 1.0), -1)
    with pytest.raises(TypeError, match="must come from one array library"):
        D.kl(D.Normal(np.zeros(2), 1.0), D.Normal(_torch_zeros(), 1.0))


def _torch_zeros():
    return need("torch").zeros(2, dtype=need("torch").float64)


def test_import_touches_no_framework() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import kl_backends.distributions as D
        import numpy as np
        D.kl(D.Beta(np.array([2.0]), 3.0), D.Beta(1.0, 1.0))
        heavy = ("torch", "tensorflow", "jax", "dask", "cupy", "keras", "array_api_strict",
                 "tensorflow_probability")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docstring_examples() -> None:
    import doctest

    from kl_backends.distributions import _monte_carlo, _registry

    saved = dict(_registry._KL)
    try:
        for module in (D, _registry, _monte_carlo):
            result = doctest.testmod(module)
            assert result.attempted >= 1 and result.failed == 0, module
    finally:  # the register_kl example registers a pair
        _registry._KL.clear()
        _registry._KL.update(saved)
        _registry._MEMO.clear()
