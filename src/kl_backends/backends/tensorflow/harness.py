"""TensorFlow for the parity harness: loading quietly, devices, conversions,
``tf.function``, built-in KLs.

Importing this module imports no framework.
"""

from __future__ import annotations

import os
from typing import Any

from kl_backends.backends._base import Builtin
from kl_backends.backends.tensorflow import adapter

__all__ = ["BUILTINS", "asarray", "devices", "load", "to_numpy"]


def load() -> Any:
    # The harness compiles one tf.function per case on purpose: TensorFlow's
    # C++ start-up chatter and retracing warnings would bury the report.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = adapter._load()
    tf.get_logger().setLevel("ERROR")
    return tf


def devices() -> list[str]:
    tf = load()
    gpus = tf.config.list_logical_devices("GPU")
    return ["CPU:0"] + [d.name.split("device:")[-1] for d in gpus]


def asarray(a: Any, dtype: str, device: str = "CPU:0") -> Any:
    import numpy as np

    tf = load()
    with tf.device("CPU:0" if device == "cpu" else device):
        return tf.cast(tf.constant(np.asarray(a, dtype=np.float64)), getattr(tf, dtype))


def to_numpy(x: Any) -> Any:
    tf = load()
    return tf.cast(x, tf.float64).numpy()


def _tfp_categorical(p: Any, q: Any) -> Any:
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.kl_divergence(tfd.Categorical(probs=p), tfd.Categorical(probs=q))


def _keras_kl(p: Any, q: Any) -> Any:
    # (y_true, y_pred) = (p, q); both clipped to [1e-7, 1] first.  tf.keras is
    # Keras 3 on TF >= 2.16, where the function is only exported as ``kld``.
    return adapter._load().keras.losses.kld(p, q)


def _tf_keras_kl(p: Any, q: Any) -> Any:
    import tf_keras

    return tf_keras.losses.kl_divergence(p, q)


BUILTINS = (
    Builtin(
        "tfp.distributions.kl_divergence(Categorical)",
        "tensorflow_probability",
        _tfp_categorical,
    ),
    Builtin("tf.keras.losses.kld(p, q)", "keras", _keras_kl),
    Builtin("tf_keras.losses.kl_divergence(p, q)", "tf_keras", _tf_keras_kl),
)
