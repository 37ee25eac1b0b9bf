"""PyTorch's random numbers for sampling: a ``torch.Generator`` and its draws."""

from __future__ import annotations

from typing import Any

import torch

from kl_backends._lib.policy import seed_kind

__all__ = ["draw", "rng"]


def rng(seed: Any, like: Any) -> Any:
    """A ``torch.Generator`` on ``like``'s device (one given is used as it is)."""

    def is_generator(s: Any) -> bool:
        return isinstance(s, torch.Generator)

    if seed_kind(seed, "a torch.Generator", is_generator) == "state":
        return seed
    return torch.Generator(device=like.device).manual_seed(seed)


def draw(state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
    """``(numbers, state)``: see ``Backend.draw``."""
    kw = {"generator": state}
    if kind == "uniform":
        return torch.rand(shape, dtype=like.dtype, device=like.device, **kw), state
    if kind == "normal":
        return torch.randn(shape, dtype=like.dtype, device=like.device, **kw), state
    if kind == "gamma":  # differentiable in alpha (torch's implicit reparameterisation)
        return torch._standard_gamma(params[0], **kw), state
    if kind == "poisson":
        return torch.poisson(params[0].contiguous(), **kw), state
    if kind == "binomial":
        return torch.binomial(params[0].contiguous(), params[1].contiguous(), **kw), state
    raise ValueError(f"unknown kind of random numbers {kind!r}")
