"""Parity with each framework's own KL, and the documented ways each one differs.

Each test spells out the built-in's argument convention.  Where a built-in
departs from the exact definition, the test asserts the departure (so that a
change in the framework is noticed) instead of skipping; docs/guides/conventions.md lists them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence
from kl_backends.parity.reference import reference_kl

RNG = np.random.default_rng(7)
P = RNG.dirichlet(np.ones(20), size=6)
Q = RNG.dirichlet(np.ones(20), size=6)
EXACT = reference_kl(P, Q)
# Zeros: row 0 has p = 0 where q > 0 and where q = 0; row 1 p = 0 where q > 0
# only; row 2 also has q = 0 where p > 0.  Exact: [ln 2, ln 2, inf].
PZ = np.array([[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
QZ = np.array([[0.25, 0.25, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.0, 0.5, 0.0]])
EXACT_Z = reference_kl(PZ, QZ)
LN2 = math.log(2)


def test_zero_rows_exact_values() -> None:
    np.testing.assert_allclose(EXACT_Z, [LN2, LN2, math.inf], rtol=1e-15)
    np.testing.assert_allclose(kl_divergence(PZ, QZ), EXACT_Z, rtol=1e-15)


# --- SciPy --------------------------------------------------------------------------


def test_scipy_rel_entr_and_entropy() -> None:
    from scipy.special import rel_entr
    from scipy.stats import entropy

    # rel_entr(x, y) = x log(x / y) elementwise, same order as ours.
    np.testing.assert_allclose(kl_divergence(P, Q), rel_entr(P, Q).sum(-1), rtol=1e-13)
    np.testing.assert_allclose(kl_divergence(PZ, QZ), rel_entr(PZ, QZ).sum(-1), rtol=1e-13)
    # entropy(pk, qk) normalises pk and qk first, then sums rel_entr.
    np.testing.assert_allclose(kl_divergence(P, Q), entropy(P, Q, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(kl_divergence(P, Q), entropy(2 * P, 3 * Q, axis=-1), rtol=1e-13)
    # Difference: rel_entr gives +inf for a negative x, we give NaN.
    assert rel_entr(-0.1, 0.5) == math.inf
    with np.errstate(invalid="ignore"):
        assert math.isnan(kl_divergence([-0.1, 1.1], [0.5, 0.5]))


# --- PyTorch ------------------------------------------------------------------------


def test_torch_kl_div_conventions() -> None:
    torch = need("torch")
    F = torch.nn.functional
    p, q = torch.tensor(P), torch.tensor(Q)
    ours = kl_divergence(p, q)
    # F.kl_div(input, target): input = log q (log space), target = p: reversed order.
    np.testing.assert_allclose(F.kl_div(q.log(), p, reduction="none").sum(-1), ours, rtol=1e-13)
    # reduction="batchmean" is our reduction="mean"; "sum" is "sum".
    np.testing.assert_allclose(
        F.kl_div(q.log(), p, reduction="batchmean"),
        kl_divergence(p, q, reduction="mean"),
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        F.kl_div(q.log(), p, reduction="sum"), kl_divergence(p, q, reduction="sum"), rtol=1e-13
    )
    # Difference: F.kl_div's default reduction="mean" divides by the number of
    # elements (6 * 20 here), not by the number of distributions: not KL.
    # PyTorch warns about it itself.
    with pytest.warns(UserWarning, match="batchmean"):
        default = F.kl_div(q.log(), p)
    np.testing.assert_allclose(
        default, kl_divergence(p, q, reduction="sum") / p.numel(), rtol=1e-13
    )
    assert not np.isclose(default, kl_divergence(p, q, reduction="mean"))
    # Passing the arguments in the natural order is silently wrong.
    assert not np.allclose(F.kl_div(p.log(), q, reduction="none").sum(-1), ours)
    # log_target=True: both in log space.
    np.testing.assert_allclose(
        F.kl_div(q.log(), p.log(), reduction="none", log_target=True).sum(-1),
        kl_divergence(p.log(), q.log(), inputs="log_probs"),
        rtol=1e-13,
    )


def test_torch_kl_div_zeros() -> None:
    torch = need("torch")
    F = torch.nn.functional
    p, q = torch.tensor(PZ), torch.tensor(QZ)
    np.testing.assert_allclose(kl_divergence(p, q), EXACT_Z)
    # Difference: a term with p = 0 and q = 0 is NaN (0 * log 0 - 0 * (-inf)),
    # so rows 0 and 2 are NaN; only row 1 (p = 0 where q > 0) is right.
    got = F.kl_div(q.log(), p, reduction="none").sum(-1).numpy()
    assert np.isnan(got[[0, 2]]).all()
    np.testing.assert_allclose(got[1], LN2, rtol=1e-15)
    # With log_target=True every row with a p = 0 (log p = -inf) is NaN.
    lt = F.kl_div(q.log(), p.log(), reduction="none", log_target=True).sum(-1).numpy()
    assert np.isnan(lt).all()
    np.testing.assert_allclose(kl_divergence(p.log(), q.log(), inputs="log_probs"), EXACT_Z)


def test_torch_distributions_categorical() -> None:
    torch = need("torch")
    from torch.distributions import Categorical
    from torch.distributions import kl_divergence as td_kl

    np.testing.assert_allclose(
        td_kl(Categorical(probs=torch.tensor(P)), Categorical(probs=torch.tensor(Q))),
        EXACT,
        rtol=1e-12,
    )
    # Categorical handles p = 0 and q = 0 as rel_entr does.
    np.testing.assert_allclose(
        td_kl(Categorical(probs=torch.tensor(PZ)), Categorical(probs=torch.tensor(QZ))), EXACT_Z
    )
    # It also normalises: Categorical(probs=2p) is p; ours takes probabilities as given.
    np.testing.assert_allclose(
        td_kl(Categorical(probs=torch.tensor(2 * P)), Categorical(probs=torch.tensor(Q))),
        EXACT,
        rtol=1e-12,
    )


# --- TensorFlow ---------------------------------------------------------------------


def test_tfp_categorical() -> None:
    tf = need("tensorflow")
    tfp = need("tensorflow_probability")
    tfd = tfp.distributions
    # tfp.distributions.kl_divergence succeeds tf.distributions.kl_divergence (TF 1).
    got = tfd.kl_divergence(
        tfd.Categorical(probs=tf.constant(P)), tfd.Categorical(probs=tf.constant(Q))
    )
    np.testing.assert_allclose(got, EXACT, rtol=1e-12)
    np.testing.assert_allclose(kl_divergence(tf.constant(P), tf.constant(Q)), EXACT, rtol=1e-13)
    # The TensorFlow question's complaint (NaN at a zero of p, TF 1.8) is fixed in TFP 0.25:
    # zeros follow rel_entr's conventions, as ours do.
    got_z = tfd.kl_divergence(
        tfd.Categorical(probs=tf.constant(PZ)), tfd.Categorical(probs=tf.constant(QZ))
    ).numpy()
    np.testing.assert_allclose(got_z, EXACT_Z, rtol=1e-12)
    np.testing.assert_allclose(kl_divergence(tf.constant(PZ), tf.constant(QZ)), EXACT_Z)


@pytest.mark.parametrize("module", ["keras", "tf_keras"])
def test_keras_kl_divergence_clips(module: str) -> None:
    tf = need("tensorflow")
    if module == "keras":
        loss, clip = tf.keras.losses.kld, 1e-7  # Keras 3 (tf.keras on TF >= 2.16)
    else:
        loss, clip = need("tf_keras").losses.kl_divergence, 1e-7
    # (y_true, y_pred) = (p, q); agrees where every probability is >= 1e-7.
    np.testing.assert_allclose(loss(tf.constant(P), tf.constant(Q)), EXACT, rtol=1e-6)
    # Difference: both arguments are clipped to [1e-7, 1] first.
    pc, qc = np.clip(PZ, clip, 1), np.clip(QZ, clip, 1)
    clipped = (pc * np.log(pc / qc)).sum(-1)
    got = np.asarray(loss(tf.constant(PZ), tf.constant(QZ)))
    np.testing.assert_allclose(got, clipped, rtol=1e-6)
    # So p = 0 terms are not 0 (row 1 is off by 1.5e-6) and q = 0 with p > 0
    # gives a finite 7.71 instead of inf.
    assert abs(got[1] - LN2) > 1e-6
    assert np.isfinite(got[2]) and EXACT_Z[2] == math.inf


# --- JAX / optax --------------------------------------------------------------------


def test_optax_kl_divergence() -> None:
    jnp = need("jax").numpy
    optax = need("optax")
    p, q = jnp.asarray(P), jnp.asarray(Q)
    # kl_divergence(log_predictions, targets) = (log q, p): reversed, q in log space.
    np.testing.assert_allclose(optax.losses.kl_divergence(jnp.log(q), p), EXACT, rtol=1e-12)
    np.testing.assert_allclose(
        optax.losses.kl_divergence_with_log_targets(jnp.log(q), jnp.log(p)), EXACT, rtol=1e-12
    )
    pz, qz = jnp.asarray(PZ), jnp.asarray(QZ)
    # Difference: p = 0 with q = 0 gives NaN (0 * -inf), rows 0 and 2; and with
    # log targets every p = 0 is NaN.
    got = np.asarray(optax.losses.kl_divergence(jnp.log(qz), pz))
    assert np.isnan(got[[0, 2]]).all()
    np.testing.assert_allclose(got[1], LN2, rtol=1e-15)
    lt = optax.losses.kl_divergence_with_log_targets(jnp.log(qz), jnp.log(pz))
    assert np.isnan(np.asarray(lt)).all()
    np.testing.assert_allclose(kl_divergence(pz, qz), EXACT_Z)


def test_optax_gradient_wrt_targets_is_nan_at_zero() -> None:
    jax = need("jax")
    jnp = jax.numpy
    optax = need("optax")
    p = jnp.asarray([0.5, 0.5, 0.0])
    q = jnp.asarray([0.25, 0.25, 0.5])
    # Difference: optax's where(targets == 0, 0, log(targets)) sends 0 * inf = NaN
    # into the gradient with respect to the targets at a zero.
    g_optax = jax.grad(lambda t: optax.losses.kl_divergence(jnp.log(q), t))(p)
    assert math.isnan(g_optax[2])
    g_ours = jax.grad(lambda t: kl_divergence(t, q))(p)
    assert np.isfinite(np.asarray(g_ours)).all()
    np.testing.assert_allclose(g_ours[:2], np.log(0.5 / 0.25) + 1, rtol=1e-6)
