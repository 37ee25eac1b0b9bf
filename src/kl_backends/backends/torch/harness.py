"""PyTorch for the parity harness: devices, conversions, ``torch.compile``, built-in KLs.

Importing this module imports no framework; each function imports torch.
"""

from __future__ import annotations

from typing import Any

from kl_backends.backends._base import Builtin

__all__ = ["BUILTINS", "asarray", "compile", "devices", "to_numpy"]


def devices() -> list[str]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return found


def asarray(a: Any, dtype: str, device: str = "cpu") -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.array(a, dtype=np.float64)).to(  # a writable copy
        device=device, dtype=getattr(torch, dtype)
    )


def to_numpy(x: Any) -> Any:
    import torch

    return x.detach().to("cpu", torch.float64).numpy()


def compile(fn: Any) -> Any:
    import torch

    return torch.compile(fn, fullgraph=True, dynamic=False)


def _kl_div(p: Any, q: Any) -> Any:
    import torch.nn.functional as F

    # Reversed order, q in log space; "batchmean"/"sum" for scalars, "none" + sum here.
    return F.kl_div(q.log(), p, reduction="none").sum(-1)


def _kl_div_log_target(p: Any, q: Any) -> Any:
    import torch.nn.functional as F

    return F.kl_div(q.log(), p.log(), reduction="none", log_target=True).sum(-1)


def _distributions(p: Any, q: Any) -> Any:
    from torch.distributions import Categorical, kl_divergence

    return kl_divergence(Categorical(probs=p), Categorical(probs=q))


BUILTINS = (
    Builtin("F.kl_div(q.log(), p).sum(-1)", "torch", _kl_div),
    Builtin("F.kl_div(q.log(), p.log(), log_target=True)", "torch", _kl_div_log_target),
    Builtin("torch.distributions.kl_divergence(Categorical)", "torch", _distributions),
)
