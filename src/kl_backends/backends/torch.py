"""PyTorch: recognition, namespace, device handling, the KL kernels and their exact gradients,
the quick path, ``torch.compile`` for the harness, built-ins.

Nothing here imports torch until a tensor has arrived (``owns`` consults
``sys.modules``); ``_load`` then binds the module-level ``torch`` and defines
the ``autograd.Function`` classes once.

Forward of ``kl_last_axis``, chosen by size and context (each eager kernel is
a pass over memory, and a fresh large temporary costs page faults on CPU):

* up to ``SMALL`` elements, eagerly: ``xlogy(p, p) - xlogy(p, q)``, three
  kernels (``xlogy`` is 0 where ``p == 0``, ``+inf`` where ``q == 0 < p``);
* larger, on CPU: ``p / q + tiny``, ``log``, ``* p`` and a row sum in one
  reused buffer of ``BLOCK`` elements, the zero fix only for blocks whose
  sums hold a NaN (``_cpu_blocks``);
* larger, elsewhere (GPU, meta): the same kernels on the whole array, the
  NaN of ``0 * log(0 / q)`` set to 0 and a row guard from the row minima of
  ``p`` and ``q`` restoring NaN for rows with NaN or negative entries
  (``_guarded``);
* under ``torch.compile`` and ``torch.func`` transforms: ``where(p == 0, 0,
  p * log(p / q))``, which Inductor fuses into one loop and functorch can
  batch.

With a gradient wanted, an ``autograd.Function`` whose backward is the exact
``log(p / q) + 1`` and ``-p / q`` (0 where ``p == 0``), itself written with
safe substitutions so that it can be differentiated again (Hessian-vector
products).

Invalid inputs: a NaN ``q`` under ``p == 0`` gives NaN on the small and
guarded paths, and a negative ``q`` under ``p == 0`` on the guarded path,
where the generic code gives 0 for that term.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends.backends._base import SMALL, Backend, Builtin, fast_paths_enabled

__all__ = ["Torch"]

#: Elements per block of the blocked eager forward on CPU (1 MB of float32):
#: 256K measured fastest on a 2-core AVX-512 machine (32K: 2.3x slower).
BLOCK = 1 << 18

torch: Any = None  # bound by _load() once a tensor has arrived
_EagerKL: Any = None
_FusedKL: Any = None


def _load() -> None:
    global torch, _EagerKL, _FusedKL
    if _FusedKL is not None:
        return
    import torch as torch_module

    torch = torch_module

    class EagerKL(torch.autograd.Function):
        """``_eager_sum`` forward, exact backward (used when a gradient is wanted)."""

        @staticmethod
        def forward(p: Any, q: Any) -> Any:
            return _eager_sum(p, q)

        setup_context = staticmethod(_setup_context)
        backward = staticmethod(_backward)

    class FusedKL(torch.autograd.Function):
        """One ``where`` that Inductor fuses into one loop and functorch can batch."""

        generate_vmap_rule = True

        @staticmethod
        def forward(p: Any, q: Any) -> Any:
            return _fused_sum(p, q)

        setup_context = staticmethod(_setup_context)
        backward = staticmethod(_backward)

    _EagerKL, _FusedKL = EagerKL, FusedKL


def _setup_context(ctx: Any, inputs: tuple[Any, Any], output: Any) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx: Any, g: Any) -> tuple[Any, Any]:
    """Exact: d/dp = log(p/q) + 1, d/dq = -p/q (-inf where q = 0 < p); 0 where p = 0.

    ``p`` and ``q`` are replaced by 1 where ``p == 0`` before the division, so
    that differentiating this backward again (a Hessian-vector product) sends
    no ``0 * inf`` into the discarded branch.
    """
    p, q = ctx.saved_tensors
    zero = p == 0
    p_s, q_s = torch.where(zero, 1.0, p), torch.where(zero, 1.0, q)
    g = g.unsqueeze(-1)
    gp = gq = None
    if ctx.needs_input_grad[0]:
        gp = torch.where(zero, 0.0, torch.log(p_s / q_s) + 1) * g
    if ctx.needs_input_grad[1]:
        gq = torch.where(zero, 0.0, -p_s / q_s) * g
    return gp, gq


def _fused_sum(p: Any, q: Any) -> Any:
    return torch.where(p == 0, 0.0, p * torch.log(p / q)).sum(-1)


def _eager_sum(p: Any, q: Any) -> Any:
    """Sum over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype."""
    if p.numel() <= SMALL:
        return torch.xlogy(p, p).sub_(torch.xlogy(p, q)).sum(-1)
    n = p.shape[-1]
    rows = p.numel() // n
    p2, q2 = p.reshape(rows, n), q.reshape(rows, n)
    if p.device.type == "cpu":
        return _cpu_blocks(p2, q2).reshape(p.shape[:-1])
    return _guarded(p2, q2).reshape(p.shape[:-1])


def _cpu_blocks(p: Any, q: Any) -> Any:
    """``[rows, n]`` on CPU: blocks of ``BLOCK`` elements in one reused buffer.

    Per block ``p / q + tiny``, ``log``, ``* p`` in place and a row sum: four
    passes, the block staying in cache.  Adding ``tiny`` (the smallest normal
    number) keeps ``log`` off 0 where ``p == 0 < q`` (PyTorch's CPU ``log`` is
    10x slower on arrays holding 0, inf or NaN) and changes no ratio above
    ``1e-31`` (float32); a negative ratio stays negative (NaN).  The only
    NaN terms left are ``p == 0 == q``, NaN inputs and negative values, so a
    block whose row sums hold a NaN gets its ``p == 0`` terms set to 0 and is
    summed again (CPU values are read here: no device synchronisation).
    """
    rows, n = p.shape
    tiny = torch.full((), torch.finfo(p.dtype).tiny, dtype=p.dtype)
    out = torch.zeros(rows, dtype=p.dtype)
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    buf = torch.empty(height * width, dtype=p.dtype)
    for r0 in range(0, rows, height):
        r1 = min(r0 + height, rows)
        for c0 in range(0, n, width):
            pb, qb = p[r0:r1, c0 : c0 + width], q[r0:r1, c0 : c0 + width]
            t = buf[: pb.numel()].view(pb.shape)
            torch.addcdiv(tiny, pb, qb, out=t)  # tiny + p / q in one pass
            t.log_().mul_(pb)
            sums = t.sum(1)
            if sums.isnan().any():
                t.masked_fill_(pb == 0, 0.0)  # 0 log(0/q) = 0, q = 0 included
                sums = t.sum(1)
            out[r0:r1] += sums
    return out


def _guarded(p: Any, q: Any) -> Any:
    """``[rows, n]`` elsewhere (GPU, meta): no value is read, so the zero fix is blind.

    ``p / q``, ``log``, ``* p`` in place, ``nan_to_num_`` for the NaN of
    ``0 * log(0 / q)``, and the rows with a NaN or negative entry (which that
    would hide) made NaN again from the row minima of ``p`` and ``q``.
    """
    t = torch.div(p, q)
    t.log_().mul_(p).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
    low = torch.minimum(torch.amin(p, 1), torch.amin(q, 1))
    return torch.where(low >= 0, t.sum(1), math.nan)


class Torch(Backend):
    name = module = distribution = extra = "torch"
    array_types = ("Tensor",)
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "torch.compile"
    autodiff = True

    def _namespace(self) -> Any:
        # A plain import statement: torch.compile traces it, not importlib calls.
        import array_api_compat.torch as xp

        _load()
        return xp

    def device(self, x: Any) -> Any:
        return x.device

    def values_unavailable(self, x: Any) -> str | None:
        if x.device.type == "meta":
            return "it is on PyTorch's meta device, which holds shapes only"
        if torch.compiler.is_compiling():
            return "it is being traced by torch.compile"
        return None

    def solve_triangular(self, a: Any, b: Any) -> Any:
        return torch.linalg.solve_triangular(a, b, upper=False)

    def kl_last_axis(self, p: Any, q: Any) -> Any:
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return _FusedKL.apply(p, q)
        if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
            return _EagerKL.apply(p, q)
        return _eager_sum(p, q)

    def quick(self, p: Any, q: Any) -> Any:
        dtype = p.dtype
        if (
            dtype != q.dtype
            or (dtype != torch.float32 and dtype != torch.float64)
            or p.shape != q.shape
            or not p.ndim
            or p.device != q.device
            or not fast_paths_enabled()
        ):
            return None
        return self.kl_last_axis(p, q)

    # -- harness -----------------------------------------------------------
    def devices(self) -> list[str]:
        torch = self.load()
        found = ["cpu"]
        if torch.cuda.is_available():
            found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return found

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import numpy as np

        torch = self.load()
        return torch.from_numpy(np.array(a, dtype=np.float64)).to(  # a writable copy
            device=device, dtype=getattr(torch, dtype)
        )

    def to_numpy(self, x: Any) -> Any:
        torch = self.load()
        return x.detach().to("cpu", torch.float64).numpy()

    def compile(self, fn: Any) -> Any:
        return self.load().compile(fn, fullgraph=True, dynamic=False)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return (
            Builtin("F.kl_div(q.log(), p).sum(-1)", "torch", _kl_div),
            Builtin("F.kl_div(q.log(), p.log(), log_target=True)", "torch", _kl_div_log_target),
            Builtin("torch.distributions.kl_divergence(Categorical)", "torch", _distributions),
        )


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
