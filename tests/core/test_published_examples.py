"""The published worked examples of discrete KL, on every backend.

Three documents: a TensorFlow question ("Is there a built-in KL divergence loss
function in TensorFlow?"), a tutorial's sums over pdf values, and a discrete
example (bits vs nats, ``F.kl_div``, ``kl_categorical``).  The numbers they
print are the expected values, to the precision they were printed with.  (The Gaussian, VAE, grid-integral and fitting
examples belong to the closed-form and continuous-KL functions.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence


def _normal_pdf(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


# --- the TensorFlow question: "Is there a built-in KL divergence loss function?" -----


def test_tf_question_two_categoricals(backend) -> None:
    a = np.array([[0.25, 0.1, 0.65], [0.8, 0.15, 0.05]])
    b = np.array([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]])
    got = backend.to_numpy(kl_divergence(backend.asarray(a), backend.asarray(b)))
    np.testing.assert_allclose(got, [0.88995184, 1.08808468], atol=5e-9)
    # "You would get the same result with np.sum(a * np.log(a / b), axis=1)"
    np.testing.assert_allclose(got, np.sum(a * np.log(a / b), axis=1), rtol=1e-14)


def test_tf_question_zero_in_p_is_not_nan(backend) -> None:
    a = np.array([[0.25, 0.1, 0.65], [0.8, 0.2, 0.0]])
    b = np.array([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05]])
    got = backend.to_numpy(kl_divergence(backend.asarray(a), backend.asarray(b)))
    # "0 * log(0 / b) should contribute as zero": no epsilon needed.
    expected = 0.8 * math.log(0.8 / 0.15) + 0.2 * math.log(0.2 / 0.8)
    np.testing.assert_allclose(got[1], expected, rtol=1e-14)
    # "if there are some zeros in b, you will get inf": yes, and only there.
    b0 = np.array([[0.7, 0.2, 0.1], [0.2, 0.8, 0.0]])
    a0 = np.array([[0.25, 0.1, 0.65], [0.8, 0.1, 0.1]])
    got0 = backend.to_numpy(kl_divergence(backend.asarray(a0), backend.asarray(b0)))
    assert np.isfinite(got0[0]) and got0[1] == math.inf


def test_tf_question_logits_and_cross_entropy_identity(backend) -> None:
    """KL = H(p, q) - H(p): answers 2, 3 and 5, from logits."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 1000)), rng.normal(size=(4, 1000))
    got = backend.to_numpy(kl_divergence(backend.asarray(a), backend.asarray(b), inputs="logits"))
    la = a - np.log(np.exp(a).sum(-1, keepdims=True))
    lb = b - np.log(np.exp(b).sum(-1, keepdims=True))
    pa = np.exp(la)
    cross, ent = -(pa * lb).sum(-1), -(pa * la).sum(-1)
    np.testing.assert_allclose(got, cross - ent, rtol=1e-10)


def test_tf_question_shapes_none_by_1000() -> None:
    """The question's setting: [None, 1000] tensors inside a tf.function."""
    tf = need("tensorflow")
    f = tf.function(
        lambda a, b: kl_divergence(a, b),
        input_signature=[tf.TensorSpec([None, 1000], tf.float32)] * 2,
    )
    rng = np.random.default_rng(1)
    pa, pb = rng.dirichlet(np.ones(1000), 3), rng.dirichlet(np.ones(1000), 3)
    got = f(tf.constant(pa, tf.float32), tf.constant(pb, tf.float32)).numpy()
    np.testing.assert_allclose(got, (pa * np.log(pa / pb)).sum(-1), rtol=2e-5)


# --- the tutorial's discrete sums over pdf values ------------------------------------


def test_tutorial_grid_sum_is_500(backend) -> None:
    x = np.arange(-10, 10, 0.001)
    p, q = _normal_pdf(x, 0, 2), _normal_pdf(x, 2, 2)
    got = float(backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q))))
    # The tutorial's title: 'KL(P||Q) = %1.3f' -> 500.000 (it sums pdf values
    # without dx, so this is 1000 x the continuous KL of 0.5).
    assert f"{got:1.3f}" == "500.000"
    # The asymmetry example: KL(P||Q) and KL(Q||P) for Q = N(5, 4) differ.
    q54 = _normal_pdf(x, 5, 4)
    pq = float(backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q54))))
    qp = float(backend.to_numpy(kl_divergence(backend.asarray(q54), backend.asarray(p))))
    with np.errstate(divide="ignore", invalid="ignore"):
        by_hand = lambda p, q: np.sum(np.where(p != 0, p * np.log(p / q), 0))  # noqa: E731
    np.testing.assert_allclose([pq, qp], [by_hand(p, q54), by_hand(q54, p)], rtol=1e-12)
    assert pq > got and qp != pq


# --- the discrete example: bits vs nats, F.kl_div, kl_categorical --------------------


def test_discrete_example_bits_and_nats(backend) -> None:
    p = backend.asarray([0.4, 0.4, 0.2], "float32")
    q = backend.asarray([0.5, 0.1, 0.4], "float32")
    # (p*torch.log2(p/q)).sum() -> tensor(0.4712); the hand computation says 0.47.
    assert f"{float(backend.to_numpy(kl_divergence(p, q, base=2))):.4f}" == "0.4712"
    # F.kl_div(q.log(), p, reduction='sum') -> tensor(0.3266): the same KL in nats.
    assert f"{float(backend.to_numpy(kl_divergence(p, q))):.4f}" == "0.3266"


def test_discrete_example_samples_as_distributions() -> None:
    """p = {1,1,2,2,3}, q = {1,1,1,1,1,2,3,3,3,3}: the empirical distributions."""
    p_samples, q_samples = [1, 1, 2, 2, 3], [1, 1, 1, 1, 1, 2, 3, 3, 3, 3]
    support = [1, 2, 3]
    p = [p_samples.count(v) / len(p_samples) for v in support]
    q = [q_samples.count(v) / len(q_samples) for v in support]
    assert p == [0.4, 0.4, 0.2] and q == [0.5, 0.1, 0.4]
    assert kl_divergence(p, q, base=2) == pytest.approx(0.4712, abs=5e-5)


def test_discrete_example_kl_div_argument_order() -> None:
    torch = need("torch")
    F = torch.nn.functional
    p = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float32)
    q = torch.tensor([0.5, 0.1, 0.4], dtype=torch.float32)
    # kl_div(q.log(), p) computes KL(p || q): reversed order, q in log space.
    assert torch.allclose(F.kl_div(q.log(), p, reduction="sum"), kl_divergence(p, q))


def test_discrete_example_kl_categorical(backend) -> None:
    """kl_categorical(p_logit, q_logit): mean over the batch of KL from logits."""
    rng = np.random.default_rng(2)
    p_logit, q_logit = rng.normal(size=(16, 10)), rng.normal(size=(16, 10))
    got = kl_divergence(
        backend.asarray(p_logit), backend.asarray(q_logit), inputs="logits", reduction="mean"
    )
    # The example's function, in NumPy.
    lp = p_logit - np.log(np.exp(p_logit).sum(-1, keepdims=True))
    lq = q_logit - np.log(np.exp(q_logit).sum(-1, keepdims=True))
    expected = np.mean(np.sum(np.exp(lp) * (lp - lq), 1))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12)


def test_discrete_example_kl_categorical_in_torch() -> None:
    torch = need("torch")
    F = torch.nn.functional

    def kl_categorical(p_logit, q_logit):  # verbatim from the example
        p = F.softmax(p_logit, dim=-1)
        _kl = torch.sum(p * (F.log_softmax(p_logit, dim=-1) - F.log_softmax(q_logit, dim=-1)), 1)
        return torch.mean(_kl)

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g)
    torch.testing.assert_close(
        kl_divergence(a, b, inputs="logits", reduction="mean"), kl_categorical(a, b)
    )
