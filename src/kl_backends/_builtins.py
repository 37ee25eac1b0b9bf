"""The frameworks' own KL functions, each called with its own convention.

Every entry computes KL(p || q) per distribution over the last axis from
probabilities ``p`` and ``q`` of its backend, so that ``kl-backends parity``
can put them beside kl_backends and the reference.  The argument order and
input space of each is spelled out here, because that is where users trip.

Where a built-in departs from the exact definition (zeros, clipping, NaN
gradients), it is only compared on "clean" inputs here; the test suite
asserts each documented difference (tests/test_builtins.py) and README.md
lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BUILTINS", "Builtin"]


@dataclass(frozen=True)
class Builtin:
    name: str
    backend: str
    requires: str  # module that must be importable
    fn: Callable[[Any, Any], Any]


def _scipy_rel_entr(p: Any, q: Any) -> Any:
    from scipy.special import rel_entr

    return rel_entr(p, q).sum(axis=-1)


def _scipy_entropy(p: Any, q: Any) -> Any:
    from scipy.stats import entropy

    return entropy(p, q, axis=-1)  # normalises p and q first


def _torch_kl_div(p: Any, q: Any) -> Any:
    import torch.nn.functional as F

    # Reversed order, q in log space; "batchmean"/"sum" for scalars, "none" + sum here.
    return F.kl_div(q.log(), p, reduction="none").sum(-1)


def _torch_kl_div_log_target(p: Any, q: Any) -> Any:
    import torch.nn.functional as F

    return F.kl_div(q.log(), p.log(), reduction="none", log_target=True).sum(-1)


def _torch_distributions(p: Any, q: Any) -> Any:
    from torch.distributions import Categorical, kl_divergence

    return kl_divergence(Categorical(probs=p), Categorical(probs=q))


def _tfp_categorical(p: Any, q: Any) -> Any:
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.kl_divergence(tfd.Categorical(probs=p), tfd.Categorical(probs=q))


def _keras_kl(p: Any, q: Any) -> Any:
    import tensorflow as tf

    # (y_true, y_pred) = (p, q); both clipped to [1e-7, 1] first.  tf.keras is
    # Keras 3 on TF >= 2.16, where the function is only exported as ``kld``.
    return tf.keras.losses.kld(p, q)


def _tf_keras_kl(p: Any, q: Any) -> Any:
    import tf_keras

    return tf_keras.losses.kl_divergence(p, q)


def _optax_kl(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    # (log_predictions, targets) = (log q, p).
    return optax.losses.kl_divergence(jnp.log(q), p)


def _optax_kl_log_targets(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    return optax.losses.kl_divergence_with_log_targets(jnp.log(q), jnp.log(p))


def _jax_rel_entr(p: Any, q: Any) -> Any:
    import jax.scipy.special as jss

    return jss.rel_entr(p, q).sum(axis=-1)


BUILTINS: tuple[Builtin, ...] = (
    Builtin("scipy.special.rel_entr(p, q).sum(-1)", "numpy", "scipy", _scipy_rel_entr),
    Builtin("scipy.stats.entropy(p, q)", "numpy", "scipy", _scipy_entropy),
    Builtin("F.kl_div(q.log(), p).sum(-1)", "torch", "torch", _torch_kl_div),
    Builtin(
        "F.kl_div(q.log(), p.log(), log_target=True)", "torch", "torch", _torch_kl_div_log_target
    ),
    Builtin(
        "torch.distributions.kl_divergence(Categorical)", "torch", "torch", _torch_distributions
    ),
    Builtin(
        "tfp.distributions.kl_divergence(Categorical)",
        "tensorflow",
        "tensorflow_probability",
        _tfp_categorical,
    ),
    Builtin("tf.keras.losses.kld(p, q)", "tensorflow", "keras", _keras_kl),
    Builtin("tf_keras.losses.kl_divergence(p, q)", "tensorflow", "tf_keras", _tf_keras_kl),
    Builtin("optax.losses.kl_divergence(log q, p)", "jax", "optax", _optax_kl),
    Builtin("optax.losses.kl_divergence_with_log_targets", "jax", "optax", _optax_kl_log_targets),
    Builtin("jax.scipy.special.rel_entr(p, q).sum(-1)", "jax", "jax", _jax_rel_entr),
)
