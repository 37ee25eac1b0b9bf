"""The public API: dispatch, conversions, errors, keywords, properties, validation."""

from __future__ import annotations

import inspect
import math
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kl_backends
from conftest import need
from kl_backends import kl_divergence
from kl_backends._dispatch import backend_of
from kl_backends.parity.compare import TOLERANCES
from kl_backends.parity.reference import reference_kl

RNG = np.random.default_rng(11)
P = RNG.dirichlet(np.ones(8), size=(3, 4))
Q = RNG.dirichlet(np.ones(8), size=(3, 4))


# --- import isolation ------------------------------------------------------------------


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_touches_no_framework() -> None:
    out = _run("""
        import sys
        import kl_backends
        import kl_backends.parity.cli
        import numpy as np
        kl_backends.kl_divergence(np.array([0.5, 0.5]), [0.25, 0.75])
        kl_backends.kl_divergence([0.5, 0.5], [0.25, 0.75], inputs="logits")
        heavy = ("torch", "tensorflow", "jax", "dask", "cupy", "keras", "array_api_strict")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    assert out == "[]"


def test_tensorflow_global_behaviour_untouched() -> None:
    need("tensorflow")
    out = _run("""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import tensorflow as tf
        import kl_backends
        kl_backends.kl_divergence(tf.constant([0.5, 0.5]), tf.constant([0.25, 0.75]))
        # experimental_enable_numpy_behavior() would add NumPy methods to tensors.
        print(hasattr(tf.constant([1.0]), "reshape"), hasattr(tf.constant([1.0]), "T"))
    """)
    assert out == "False False"


def test_jax_default_config_float32() -> None:
    """Without x64 (JAX's default) float32 stays float32, with no warning."""
    need("jax")
    out = _run("""
        import warnings
        warnings.simplefilter("error")
        import jax.numpy as jnp
        import kl_backends
        r = kl_backends.kl_divergence(jnp.asarray([0.36, 0.48, 0.16]), jnp.full(3, 1 / 3))
        r2 = kl_backends.kl_divergence([0.36, 0.48, 0.16], jnp.full(3, 1 / 3))
        print(r.dtype, r2.dtype, f"{float(r):.6f}")
    """)
    assert out == "float32 float32 0.085300"


# --- dispatch and conversions ----------------------------------------------------------


def test_python_lists_become_numpy() -> None:
    out = kl_divergence([0.36, 0.48, 0.16], [1 / 3, 1 / 3, 1 / 3])
    # A 0-d result is a NumPy scalar, as NumPy's own reductions return.
    assert isinstance(out, (np.ndarray, np.generic)) and out.dtype == np.float64
    assert out == pytest.approx(0.0852996013, abs=1e-10)


def test_python_values_take_the_other_arguments_library(backend) -> None:
    q = backend.asarray([0.5, 0.1, 0.4], "float32")
    out = kl_divergence([0.4, 0.4, 0.2], q)
    assert backend_of(out).name == backend.name
    assert backend.impl.dtype_name(out) == "float32"
    np.testing.assert_allclose(backend.to_numpy(out), 0.3266, atol=5e-5)
    out2 = kl_divergence(backend.asarray([0.4, 0.4, 0.2], "float64"), [0.5, 0.1, 0.4], base=2)
    assert backend.impl.dtype_name(out2) == "float64"
    np.testing.assert_allclose(backend.to_numpy(out2), 0.4712, atol=5e-5)


def test_two_libraries_is_a_type_error() -> None:
    torch = need("torch")
    with pytest.raises(TypeError, match=r"one array library.*numpy\.ndarray.*torch\.Tensor"):
        kl_divergence(np.array([0.5, 0.5]), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("bad", ["abc", {"a": 1}, None, object()], ids=lambda v: type(v).__name__)
def test_unsupported_type_is_named(bad) -> None:
    with pytest.raises(TypeError, match=type(bad).__qualname__):
        kl_divergence(bad, [0.5, 0.5])


def test_different_devices_name_both() -> None:
    torch = need("torch")
    with pytest.raises(ValueError, match=r"one device.*cpu.*meta"):
        kl_divergence(torch.tensor([0.5, 0.5]), torch.empty(2, device="meta"))


def test_result_stays_on_device_and_library(backend) -> None:
    p = backend.asarray(P, "float32")
    out = kl_divergence(p, backend.asarray(Q, "float32"))
    assert backend_of(out).name == backend.name
    assert backend.impl.device(out) == backend.impl.device(p)


# --- dtypes ------------------------------------------------------------------------------


def test_integer_inputs_promote_to_default_float() -> None:
    assert kl_divergence(np.array([1, 0]), np.array([1, 0])).dtype == np.float64
    torch = need("torch")
    out = kl_divergence(torch.tensor([1, 0]), torch.tensor([1, 0]))
    assert out.dtype == torch.get_default_dtype() and out == 0


def test_mixed_float_dtypes_promote(backend) -> None:
    # (TensorFlow itself never mixes dtypes; the adapter promotes as the standard says.)
    p = backend.asarray(P, "float32")
    q = backend.asarray(Q, "float64")
    out = kl_divergence(p, q)
    assert backend.impl.dtype_name(out) == "float64"


def test_complex_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="complex"):
        kl_divergence(np.array([0.5 + 0j, 0.5]), np.array([0.5, 0.5]))


# --- keywords and their errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": "prob"}, "inputs must be one of 'probs', 'log_probs', 'logits'"),
        ({"reduction": "batchmean"}, "reduction must be one of 'none', 'sum', 'mean'"),
        ({"axis": 3}, "axis 3 is out of range.*-3 to 2"),
        ({"axis": (0, -3)}, "repeated"),
        ({"axis": 1.0}, "axis must be an int"),
        ({"axis": ()}, "axis must be an int"),
        ({"axis": True}, "axis must be an int"),
        ({"base": 1}, "base must be None"),
        ({"base": 0}, "base must be None"),
        ({"base": -2}, "base must be None"),
        ({"base": math.inf}, "base must be None"),
        ({"base": "2"}, "base must be None"),
        ({"base": True}, "base must be None"),
    ],
)
def test_bad_keywords(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        kl_divergence(P, Q, **kwargs)


def test_shapes_that_do_not_broadcast_name_both() -> None:
    with pytest.raises(ValueError, match=r"p\.shape=\(3, 4, 8\) and q\.shape=\(5, 8\)"):
        kl_divergence(P, np.ones((5, 8)) / 8)


def test_broadcasting(backend) -> None:
    p1 = RNG.dirichlet(np.ones(8))
    out = kl_divergence(backend.asarray(p1), backend.asarray(Q))
    np.testing.assert_allclose(backend.to_numpy(out), reference_kl(p1, Q), rtol=1e-12)
    # logits broadcast first, then normalise over the broadcast event axis.
    col = RNG.normal(size=(3, 4, 1))
    logits = RNG.normal(size=(3, 4, 8))
    out = kl_divergence(backend.asarray(col), backend.asarray(logits), inputs="logits")
    np.testing.assert_allclose(
        backend.to_numpy(out), reference_kl(col, logits, inputs="logits"), rtol=1e-12
    )


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_shapes(reduction, keepdims) -> None:
    out = kl_divergence(P, Q, reduction=reduction, keepdims=keepdims)
    ref = reference_kl(P, Q, reduction=reduction, keepdims=keepdims)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_mean_is_torch_batchmean() -> None:
    torch = need("torch")
    p, q = torch.tensor(P.reshape(-1, 8)), torch.tensor(Q.reshape(-1, 8))
    np.testing.assert_allclose(
        kl_divergence(p, q, reduction="mean"),
        torch.nn.functional.kl_div(q.log(), p, reduction="batchmean"),
        rtol=1e-13,
    )


# --- properties, on every backend ---------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_properties(backend, dtype) -> None:
    rtol, atol = TOLERANCES[dtype]
    p, q = backend.asarray(P, dtype), backend.asarray(Q, dtype)
    # KL(p, p) = 0 exactly; KL >= 0.
    np.testing.assert_array_equal(backend.to_numpy(kl_divergence(p, p)), 0.0)
    assert (backend.to_numpy(kl_divergence(p, q)) >= 0).all()
    assert (backend.to_numpy(kl_divergence(q, p)) >= 0).all()
    # Asymmetry.
    assert not np.allclose(
        backend.to_numpy(kl_divergence(p, q)), backend.to_numpy(kl_divergence(q, p))
    )
    # axis=k equals moving k last.
    for k in (0, 1):
        moved_p, moved_q = np.moveaxis(P, -1, k), np.moveaxis(Q, -1, k)
        a = kl_divergence(backend.asarray(moved_p, dtype), backend.asarray(moved_q, dtype), axis=k)
        np.testing.assert_allclose(
            backend.to_numpy(a), backend.to_numpy(kl_divergence(p, q)), rtol=rtol, atol=atol
        )
    # bits = nats / ln 2; the three input kinds agree.
    nats = backend.to_numpy(kl_divergence(p, q))
    np.testing.assert_allclose(
        backend.to_numpy(kl_divergence(p, q, base=2)), nats / math.log(2), rtol=rtol, atol=atol
    )
    lp, lq = backend.asarray(np.log(P), dtype), backend.asarray(np.log(Q), dtype)
    np.testing.assert_allclose(
        backend.to_numpy(kl_divergence(lp, lq, inputs="log_probs")),
        nats,
        rtol=rtol * 10,
        atol=atol * 10,
    )
    np.testing.assert_allclose(
        backend.to_numpy(kl_divergence(lp + 5.0, lq - 7.0, inputs="logits")),
        nats,
        rtol=rtol * 10,
        atol=atol * 10,
    )


def test_nan_stays_in_its_distribution(backend) -> None:
    p = P.copy()
    p[1, 2, 3] = math.nan
    q = Q.copy()
    q[0, 0, 0] = math.nan
    out = backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q)))
    expected_nan = np.zeros((3, 4), bool)
    expected_nan[1, 2] = expected_nan[0, 0] = True
    np.testing.assert_array_equal(np.isnan(out), expected_nan)
    np.testing.assert_allclose(out[~expected_nan], reference_kl(P, Q)[~expected_nan], rtol=1e-12)


def test_logits_of_1000_are_exact() -> None:
    a = np.array([1000.0, -1000.0, 0.0])
    b = np.array([-1000.0, 1000.0, 0.0])
    # p = (1, 0, 0), q = (0, 1, 0) to double precision: KL = 0 - (-2000) = 2000.
    assert kl_divergence(a, b, inputs="logits") == pytest.approx(2000.0, rel=1e-15)
    assert kl_divergence(
        np.float32(1) * a.astype(np.float32), b.astype(np.float32), inputs="logits"
    ) == pytest.approx(2000.0, rel=1e-7)


# --- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "kwargs", "match"),
    [
        ([0.5, math.nan, 0.5], {}, "p contains NaN"),
        ([1.2, -0.2], {}, "negative probabilities"),
        ([0.5, 0.6], {}, "does not sum to 1"),
        ([0.1, -0.1], {"inputs": "log_probs"}, "above 0"),
        ([-0.1, -5.0], {"inputs": "log_probs"}, "does not sum to 1"),
        ([math.inf, 0.0], {"inputs": "logits"}, r"\+inf logits"),
    ],
)
def test_validate_rejects(p, kwargs, match) -> None:
    q = [0.5, 0.5] if len(p) == 2 else [0.3, 0.3, 0.4]
    if kwargs.get("inputs") == "log_probs":
        q = list(np.log(q))
    with pytest.raises(ValueError, match=match):
        kl_divergence(p, q, validate=True, **kwargs)


def test_validate_tolerance_scales_with_dtype() -> None:
    p = np.array([0.5, 0.5 + 1e-5])
    q = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match=r"tolerance 1\.49e-08"):
        kl_divergence(p, q, validate=True)
    kl_divergence(p.astype(np.float32), q.astype(np.float32), validate=True)  # sqrt(eps32)


def test_validate_accepts_valid_input(backend) -> None:
    p, q = backend.asarray(P), backend.asarray(Q)
    if backend.impl.lazy:
        with pytest.raises(ValueError, match="lazy"):
            kl_divergence(p, q, validate=True)
        return
    np.testing.assert_allclose(
        backend.to_numpy(kl_divergence(p, q, validate=True)), reference_kl(P, Q), rtol=1e-12
    )


def test_validate_refuses_under_jax_jit() -> None:
    jax = need("jax")
    f = jax.jit(lambda p, q: kl_divergence(p, q, validate=True))
    with pytest.raises(ValueError, match="JAX tracer"):
        f(jax.numpy.asarray(P), jax.numpy.asarray(Q))


def test_validate_refuses_under_tf_function() -> None:
    tf = need("tensorflow")
    f = tf.function(lambda p, q: kl_divergence(p, q, validate=True))
    with pytest.raises(ValueError, match=r"tf\.function"):
        f(tf.constant(P), tf.constant(Q))


def test_validate_refuses_on_meta() -> None:
    torch = need("torch")
    with pytest.raises(ValueError, match="meta device"):
        kl_divergence(
            torch.empty(2, 3, device="meta"), torch.empty(2, 3, device="meta"), validate=True
        )


# --- the public names and their docstrings ----------------------------------------------


_SECTIONS = ("Parameters", "Returns", "Raises", "See Also", "Notes", "Examples")


@pytest.mark.parametrize(
    "name", [n for n in kl_backends.__all__ if inspect.isfunction(getattr(kl_backends, n))]
)
def test_public_function_docstring_is_complete(name) -> None:
    """numpydoc sections in order, and every parameter of the signature in Parameters."""
    function = getattr(kl_backends, name)
    doc = inspect.getdoc(function)
    sections = re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, re.MULTILINE)
    assert sections == list(_SECTIONS), (name, sections)
    block = doc.split("Parameters\n----------\n", 1)[1].split("\nReturns\n", 1)[0]
    documented = {
        part.strip()
        for line in block.splitlines()
        if line and not line.startswith(" ")
        for part in line.split(" : ")[0].split(",")
    }
    assert documented == set(inspect.signature(function).parameters), name
    assert "as in kl_divergence" not in doc


def test_deprecated_aliases_are_importable_but_not_public() -> None:
    from kl_backends import generalized_kl, kl_knn  # noqa: F401

    assert {"generalized_kl", "kl_knn"}.isdisjoint(kl_backends.__all__)
    expected = {
        "kl_from_densities",
        "kl_from_counts",
        "kl_from_samples",
        "kl_from_samples_knn",
        "generalized_kl_divergence",
    }
    assert expected <= set(kl_backends.__all__)
