"""The tutorial's last example: fit a Gaussian's mean and variance by gradient descent on KL.

The same kl_backends call is the loss on PyTorch, JAX and TensorFlow:

    kl_from_densities(p, q, dx=dx)  # continuous KL of densities on the grid

p is N(0, variance 4) on the grid np.arange(-10, 10, 0.001) (the tutorial's "mean 0 and
variance 2" is scipy's scale=2, i.e. standard deviation 2); q is N(mu, sigma2) with
trainable mu and log(sigma2).  Minimising KL(p || q) recovers mean 0 and variance 4.

    python examples/fit_gaussian.py                 # all three frameworks, saves fit_gaussian.png
    python examples/fit_gaussian.py --steps 60 --backends torch
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from kl_backends import kl_from_densities

X = np.arange(-10, 10, 0.001)
DX = 0.001
P = np.exp(-0.5 * (X / 2.0) ** 2) / (2.0 * math.sqrt(2 * math.pi))  # N(0, 4)
START = (3.0, math.log(9.0))  # mean 3, variance 9


def _density(xp, x, mu, log_var):
    return xp.exp(-0.5 * (x - mu) ** 2 / xp.exp(log_var) - 0.5 * log_var) / math.sqrt(2 * math.pi)


def fit_torch(steps: int, lr: float) -> tuple[float, float, list[float]]:
    import torch

    x, p = torch.tensor(X), torch.tensor(P)
    mu = torch.tensor(START[0], requires_grad=True, dtype=torch.float64)
    log_var = torch.tensor(START[1], requires_grad=True, dtype=torch.float64)
    opt = torch.optim.Adam([mu, log_var], lr=lr)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        q = torch.exp(-0.5 * (x - mu) ** 2 / torch.exp(log_var) - 0.5 * log_var) / math.sqrt(
            2 * math.pi
        )
        loss = kl_from_densities(p, q, dx=DX)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    return float(mu.detach()), float(torch.exp(log_var.detach())), history


def fit_jax(steps: int, lr: float) -> tuple[float, float, list[float]]:
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)
    x, p = jnp.asarray(X), jnp.asarray(P)

    def loss_fn(params):
        q = _density(jnp, x, params["mu"], params["log_var"])
        return kl_from_densities(p, q, dx=DX)

    params = {"mu": jnp.asarray(START[0]), "log_var": jnp.asarray(START[1])}
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    history = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        history.append(float(loss))
    return float(params["mu"]), float(jnp.exp(params["log_var"])), history


def fit_tensorflow(steps: int, lr: float) -> tuple[float, float, list[float]]:
    import tensorflow as tf

    x, p = tf.constant(X), tf.constant(P)
    mu = tf.Variable(START[0], dtype=tf.float64)
    log_var = tf.Variable(START[1], dtype=tf.float64)
    opt = tf.keras.optimizers.Adam(learning_rate=lr)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            q = tf.exp(-0.5 * (x - mu) ** 2 / tf.exp(log_var) - 0.5 * log_var) / math.sqrt(
                2 * math.pi
            )
            loss = kl_from_densities(p, q, dx=DX)
        opt.apply_gradients(zip(tape.gradient(loss, [mu, log_var]), [mu, log_var]))
        return loss

    history = [float(step()) for _ in range(steps)]
    return float(mu.numpy()), float(tf.exp(log_var).numpy()), history


FITS = {"torch": fit_torch, "jax": fit_jax, "tensorflow": fit_tensorflow}


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(X, P, lw=4, color="k", alpha=0.3, label="p = N(0, 4)")
    start = np.exp(-0.5 * (X - START[0]) ** 2 / math.exp(START[1])) / math.sqrt(
        2 * math.pi * math.exp(START[1])
    )
    left.plot(X, start, ":", color="gray", label="start: N(3, 9)")
    for name, (mu, var, history) in results.items():
        q = np.exp(-0.5 * (X - mu) ** 2 / var) / math.sqrt(2 * math.pi * var)
        left.plot(X, q, "--", label=f"{name}: N({mu:.3f}, {var:.3f})")
        right.plot(history, label=name)
    left.set_title("fit of q to p by minimising KL(p || q)")
    left.legend(fontsize=8)
    right.set_yscale("symlog", linthresh=1e-10)  # the grid's truncation ends a hair below 0
    right.set_title("KL(p || q) during gradient descent (Adam)")
    right.set_xlabel("step")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--backends", default="torch,jax,tensorflow")
    parser.add_argument("--plot", default="fit_gaussian.png")
    args = parser.parse_args(argv)
    results = {}
    for name in args.backends.split(","):
        mu, var, history = FITS[name](args.steps, args.lr)
        results[name] = (mu, var, history)
        print(f"{name:10s} mean {mu:+.4f}  variance {var:.4f}  final KL {history[-1]:.2e}")
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}")
    return results


if __name__ == "__main__":
    main()
