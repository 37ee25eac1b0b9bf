"""PyTorch: recognition, namespace, devices, and the wiring of its hooks.

Nothing here imports torch until a tensor has arrived (``owns`` consults
``sys.modules``); ``_load`` then binds the module-level ``torch`` and imports
the role modules that import it: ``kernels`` (the probabilities kernel and
its ``autograd.Function``), ``logits`` (rows of logits), ``custom`` (``custom_vjp``), ``random`` (its
generator) and ``ops`` (a custom operator).  ``harness`` serves the parity
harness: devices, conversions, ``torch.compile``, built-in KLs.  On CUDA
tensors, with Triton installed, eager calls run the Triton kernels of
``triton`` (``_triton``; imported only then) instead.
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends._lib.policy import quick_admits
from kl_backends.backends._base import Backend, Builtin
from kl_backends.backends.torch import harness as _harness
from kl_backends.backends.torch import transforms as _transforms
from kl_backends.backends.torch import triton as _triton_kernels

__all__ = ["Torch"]

torch: Any = None  # bound by _load() once a tensor has arrived
_kernels: Any = None  # the role modules that import torch, imported by _load()
_logits: Any = None
_random: Any = None
_ops: Any = None
_custom: Any = None


def _load() -> None:
    global torch, _kernels, _logits, _random, _ops, _custom
    if _ops is None:
        # Import statements, which torch.compile runs (it cannot trace a class definition).
        import torch as torch_module

        from kl_backends.backends.torch import custom, kernels, logits, ops, random

        torch, _kernels, _logits, _random = torch_module, kernels, logits, random
        _ops, _custom = ops, custom


def _triton(x: Any) -> Any:
    """The Triton kernels' module for ``x`` (``"probs"`` or ``"logits"`` on ``.probs``,
    ``.logits``), or ``None``: eager calls on a CUDA tensor with Triton installed (or
    forced, for tests), never under ``torch.compile`` or ``torch.func`` transforms."""
    if (
        torch.compiler.is_compiling()
        or torch._C._are_functorch_transforms_active()
        or not _triton_kernels.use(x)
    ):
        return None
    from kl_backends.backends.torch.triton import logits, probs

    return {"probs": probs, "logits": logits}


def _same_device(p: Any, q: Any) -> bool:
    return bool(p.device == q.device)


class Torch(Backend):
    name = module = distribution = extra = "torch"
    array_types = ("Tensor",)
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "torch.compile"
    autodiff = True
    transforms = _transforms
    cost = 3

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

    def detach(self, x: Any) -> Any:
        return x.detach()

    def raise_when_run(self, error: Exception, like: Any) -> Any:
        """Under ``torch.compile``: ``like`` made to depend on an operator that raises
        ``error`` when the compiled code runs (an exception raised while tracing with
        ``fullgraph=True`` would reach the caller as Dynamo's ``Unsupported``)."""
        if not torch.compiler.is_compiling():
            raise error
        return like + _ops.raise_error(like.detach(), type(error).__name__, str(error))

    def solve_triangular(self, a: Any, b: Any) -> Any:
        return torch.linalg.solve_triangular(a, b, upper=False)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any:
        if p.dtype == torch.float32 and p.shape == q.shape:
            kernels = _triton(p)
            if kernels is not None:
                return kernels["probs"].kl_last_axis(p, q)
        if p.device.type != "cpu" or torch._C._are_functorch_transforms_active():
            return None  # the generic code: Inductor fuses it; functorch batches it
        if torch.compiler.is_compiling():
            return _kernels.compiled_sums(p, q)  # (None: the generic code)
        return _kernels.kl_last_axis(p, q, functools.partial(exact, self))

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        if not quick_admits(p, q, (torch.float32, torch.float64), _same_device):
            return None
        return self.kl_last_axis(p, q, exact)

    def logits_rows(self, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
        if a.dtype == b.dtype and a.dtype in (torch.float32, torch.float16, torch.bfloat16):
            kernels = _triton(a)
            if kernels is not None:
                return kernels["logits"].logits_rows(spec, a, b, mask, (self, spec, generic))
        return _logits.logits_rows(self, spec, a, b, mask, generic)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def custom_vjp(self, forward: Any, backward: Any) -> Any:
        _load()
        return _custom.custom_vjp(forward, backward)

    def rng(self, seed: Any, like: Any) -> Any:
        """A ``torch.Generator`` on ``like``'s device (one given is used as it is)."""
        return _random.rng(seed, like)

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        return _random.draw(state, kind, shape, like, *params)

    def special(self, name: str) -> Any:
        _load()
        names = {
            "lgamma": torch.lgamma,
            "digamma": torch.digamma,
            "erf": torch.erf,
            "i0e": torch.special.i0e,
            "i1e": torch.special.i1e,
        }
        return names.get(name)

    # -- harness -----------------------------------------------------------
    def devices(self) -> list[str]:
        return _harness.devices()

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        return _harness.asarray(a, dtype, device)

    def to_numpy(self, x: Any) -> Any:
        return _harness.to_numpy(x)

    def compile(self, fn: Any, *, convert: bool = True) -> Any:
        return _harness.compile(fn)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return _harness.BUILTINS
