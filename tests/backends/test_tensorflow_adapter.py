"""The TensorFlow adapter: exactly the functions the math uses, with array-API semantics."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need

COVERED = {
    "float16", "bfloat16", "float32", "float64", "int64",
    "asarray", "astype", "result_type", "isdtype", "finfo", "__array_namespace_info__",
    "where", "log", "log1p", "exp", "expm1", "sqrt", "abs", "isnan",
    "minimum", "maximum", "zeros_like", "cos", "tan", "sign", "floor", "isfinite",
    "broadcast_to", "broadcast_arrays", "expand_dims", "eye", "ones", "arange", "concat",
    "reshape", "flip", "matrix_transpose", "sort", "unique_values", "argmax",
    "sum", "max", "mean", "any", "all", "std", "linalg",
}  # fmt: skip


@pytest.fixture
def tfx():
    tf = need("tensorflow")
    from kl_backends.backends.tensorflow import namespace

    return tf, namespace()


def test_covers_exactly_what_is_documented(tfx) -> None:
    _, xp = tfx
    public = {n for n in dir(xp) if not n.startswith("_")} | {"__array_namespace_info__"}
    assert public == COVERED
    from kl_backends.backends import tensorflow

    for name in COVERED - {"__array_namespace_info__"}:
        assert f"``{name}``" in tensorflow.__doc__


def test_promotion_and_dtypes(tfx) -> None:
    tf, xp = tfx
    f32, f64 = tf.constant([1.0], tf.float32), tf.constant([1.0], tf.float64)
    assert xp.result_type(f32, f64) == tf.float64
    assert xp.result_type(tf.constant([1], tf.int32), tf.constant([1], tf.int64)) == tf.int64
    assert xp.result_type(tf.float16, tf.bfloat16) == tf.float32
    assert xp.isdtype(tf.bfloat16, "real floating") and not xp.isdtype(tf.int32, "real floating")
    assert xp.isdtype(tf.int32, ("bool", "integral"))
    assert xp.finfo(tf.bfloat16).bits == 16 and xp.finfo(tf.float32).eps == np.finfo("f4").eps
    assert xp.__array_namespace_info__().default_dtypes()["real floating"] == tf.float32
    assert xp.astype(f32, tf.float64).dtype == tf.float64 and xp.astype(f32, tf.float32) is f32


def test_reductions_over_axis_tuples(tfx) -> None:
    tf, xp = tfx
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tf.constant(a)
    np.testing.assert_array_equal(xp.sum(t, axis=(0, 2)), a.sum(axis=(0, 2)))
    np.testing.assert_array_equal(xp.max(t, axis=(1,), keepdims=True), a.max(1, keepdims=True))
    np.testing.assert_array_equal(xp.mean(t), a.mean())
    assert bool(xp.any(t > 22)) and not bool(xp.any(t > 23))
    np.testing.assert_array_equal(
        xp.broadcast_to(tf.constant([1.0, 2.0]), (3, 2)), np.broadcast_to([1.0, 2.0], (3, 2))
    )
    np.testing.assert_array_equal(
        xp.where(t > 5, t, xp.asarray(0.0, dtype=tf.float64)), np.where(a > 5, a, 0.0)
    )
    assert xp.asarray(1.0, dtype=tf.float16, device="CPU:0").dtype == tf.float16


def test_monte_carlo_additions_match_numpy(tfx) -> None:
    tf, xp = tfx
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    t = tf.constant(a)
    for name in ("cos", "tan", "sign", "floor"):
        np.testing.assert_allclose(getattr(xp, name)(t), getattr(np, name)(a), rtol=1e-15)
    assert np.array_equal(xp.isfinite(tf.constant([1.0, np.inf, np.nan])), [True, False, False])
    np.testing.assert_allclose(xp.flip(t, axis=-1), np.flip(a, axis=-1))
    assert np.array_equal(xp.argmax(t, axis=-1), np.argmax(a, axis=-1))
    assert np.array_equal(xp.arange(4, dtype=tf.float64), np.arange(4.0))
    np.testing.assert_allclose(
        xp.std(t, axis=0, correction=1), np.std(a, axis=0, ddof=1), rtol=1e-14
    )
    np.testing.assert_allclose(xp.std(t, axis=(0, 1)), np.std(a), rtol=1e-14)
    assert np.array_equal(xp.all(t > -10, axis=1), np.all(a > -10, axis=1))
    b = xp.broadcast_arrays(tf.constant([[1.0], [2.0]]), tf.constant([1.0, 2.0, 3.0]))
    assert [tuple(x.shape) for x in b] == [(2, 3), (2, 3)]


def test_autograph_takes_the_library_as_it_is(tfx) -> None:
    """tf.function traces kl_backends without AutoGraph rewriting its source (seconds per
    call site otherwise): the public functions are AutoGraph artifacts and the package
    is on AutoGraph's do-not-convert list, as TensorFlow's own modules are."""
    tf, _ = tfx
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.impl import api, conversion

    import kl_backends as klb
    from kl_backends import distributions as kd

    for fn in (klb.kl_divergence, klb.js_divergence, klb.cross_entropy, kd.kl, kd.log_prob):
        assert api.is_autograph_artifact(fn), fn.__name__
    assert conversion.is_allowlisted(kd.Normal(0.0, 1.0)._log_prob)  # methods: the rule
    assert sum(rule.matches("kl_backends._math") for rule in config.CONVERSION_RULES) == 1
    # Values are those of the eager call, with AutoGraph on (tf.function's default).
    a = tf.constant([[0.25, 0.1, 0.65], [0.8, 0.15, 0.05]], tf.float64)
    b = tf.constant([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]], tf.float64)
    expected = np.sum(a.numpy() * np.log(a.numpy() / b.numpy()), axis=-1)
    np.testing.assert_allclose(tf.function(klb.kl_divergence)(a, b).numpy(), expected)
    wrapped = tf.function(lambda x, y: klb.js_divergence(x, y, inputs="logits", beta=0.3))
    m = 0.3 * tf.nn.softmax(a) + 0.7 * tf.nn.softmax(b)
    ref = (
        0.3 * tf.reduce_sum(tf.nn.softmax(a) * (tf.nn.log_softmax(a) - tf.math.log(m)), -1)
        + 0.7 * tf.reduce_sum(tf.nn.softmax(b) * (tf.nn.log_softmax(b) - tf.math.log(m)), -1)
    ) / (0.3 * 0.7)
    np.testing.assert_allclose(wrapped(a, b).numpy(), ref.numpy(), rtol=1e-12)
