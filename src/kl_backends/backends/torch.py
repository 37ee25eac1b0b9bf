"""PyTorch: recognition, namespace, device handling, the KL kernels and their exact gradients,
the quick path, ``torch.compile`` for the harness, built-ins.

Nothing here imports torch until a tensor has arrived (``owns`` consults
``sys.modules``); ``_load`` then binds the module-level ``torch`` and imports
``_torch_functions`` (the ``autograd.Function``).

Forward of ``kl_last_axis``:

* eagerly on CPU, up to ``SMALL`` elements: ``xlogy(p, p) - xlogy(p, q)``,
  three kernels (``_small``);
* eagerly on CPU, larger: ``p / q``, ``log``, ``* p`` and a row sum in one reused
  buffer of at most ``BLOCK`` elements, the zero fix only for blocks whose
  sums hold a NaN, and the rows this fast form cannot be trusted with
  (non-finite sums, negative ``q``, nearly equal float64 distributions)
  recomputed by the generic code (``_cpu_blocks``);
* elsewhere (GPU, meta), under ``torch.compile`` and under ``torch.func``
  transforms, where no value may be read: no kernel; the generic code, which
  Inductor fuses into one loop and functorch batches, is exact there.

With a gradient wanted, an ``autograd.Function`` whose backward is the exact
``log(p / q) + 1`` and ``-p / q`` (0 where ``p == 0``), itself written with
safe substitutions so that it can be differentiated again (Hessian-vector
products).
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends.backends._base import (
    SMALL,
    Backend,
    Builtin,
    fast_paths_enabled,
)
from kl_backends.backends.numpy import EXACT_BELOW

__all__ = ["Torch"]

#: Elements per block of the blocked eager forward on CPU (1 MB of float32):
#: 256K measured fastest on a 2-core AVX-512 machine (32K: 2.3x slower).
BLOCK = 1 << 18

torch: Any = None  # bound by _load() once a tensor has arrived
_functions: Any = None  # backends/_torch_functions.py, imported by _load()
_ops: Any = None  # backends/_torch_ops.py (custom operators), imported by _load()


def _load() -> None:
    global torch, _functions, _ops
    if _functions is None:
        # Import statements, which torch.compile runs (it cannot trace a class definition).
        import torch as torch_module

        from kl_backends.backends import _torch_functions, _torch_ops

        torch, _functions, _ops = torch_module, _torch_functions, _torch_ops


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*inputs)
    ctx.save_for_forward(*inputs)


def _safe(p: Any, q: Any) -> tuple[Any, Any, Any]:
    """``p == 0`` and ``p``, ``q`` with 1 there: no ``0 * inf`` in any derivative."""
    zero = p == 0
    return zero, torch.where(zero, 1.0, p), torch.where(zero, 1.0, q)


def _log_ratio(p: Any, q: Any) -> Any:
    """``log(p / q)``; ``log p - log q`` where the ratio leaves the normal range.

    A subnormal ``p / q`` (``p = 1e-300, q = 1e15``) keeps fewer digits, and one
    that underflows to 0 would give ``-inf``: there the difference of the logs is
    exact.
    """
    r = p / q
    normal = (r >= torch.finfo(r.dtype).tiny) & (r < float("inf"))
    return torch.where(normal, torch.log(r), torch.log(p) - torch.log(q))


def _jvp(ctx: Any, dp: Any, dq: Any) -> Any:
    """Forward mode (``torch.func.jvp``, ``hessian``): the exact directional derivative."""
    p, q = ctx.saved_tensors
    zero, p_s, q_s = _safe(p, q)
    d = 0.0
    if dp is not None:
        d = d + dp * (_log_ratio(p_s, q_s) + 1)
    if dq is not None:
        d = d - dq * (p_s / q_s)
    return torch.where(zero, 0.0, d).sum(-1)


def _backward(ctx: Any, g: Any) -> tuple[Any, Any]:
    """Exact: d/dp = log(p/q) + 1, d/dq = -p/q (-inf where q = 0 < p); 0 where p = 0.

    ``p`` and ``q`` are replaced by 1 where ``p == 0`` before the division, so
    that differentiating this backward again (a Hessian-vector product) sends
    no ``0 * inf`` into the discarded branch.
    """
    p, q = ctx.saved_tensors
    zero, p_s, q_s = _safe(p, q)
    g = g.unsqueeze(-1)
    gp = gq = None
    if ctx.needs_input_grad[0]:
        gp = torch.where(zero, 0.0, _log_ratio(p_s, q_s) + 1) * g
    if ctx.needs_input_grad[1]:
        gq = torch.where(zero, 0.0, -p_s / q_s) * g
    return gp, gq


def _eager_sum(p: Any, q: Any, exact: Any) -> Any:
    """Sum over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype.

    ``exact(p_rows, q_rows)`` is the generic code, for the rows the CPU kernel
    cannot be trusted with.
    """
    if p.numel() <= SMALL:
        return _small(p, q, exact)
    n = p.shape[-1]
    if n == 0 or p.numel() == 0:
        return p.sum(-1)
    rows = p.numel() // n
    return _cpu_blocks(p.reshape(rows, n), q.reshape(rows, n), exact).reshape(p.shape[:-1])


def _small(p: Any, q: Any, exact: Any) -> Any:
    """Up to ``SMALL`` elements on CPU, where per-call overhead rules: ``xlogy(p, p) -
    xlogy(p, q)``, three kernels, with ``rel_entr``'s conventions built in (0 where
    ``p == 0``, ``+inf`` where ``q`` is 0 or ``-0.0`` under ``p > 0``, NaN for negative
    values) and no ratio to over- or underflow.  Its weaknesses go to ``exact``:
    ``xlogy(0, nan)`` is NaN (a row sum that is NaN: the generic code's term is 0 where
    ``p == 0``), subnormal results (each product rounded to the subnormal grid) and, in
    float64, cancellation between the two logs for nearly equal distributions (a sum
    not above ``1e12 eps`` times the terms' magnitudes)."""
    a, b = torch.xlogy(p, p), torch.xlogy(p, q)
    sums = (a - b).sum(-1)
    if not sums.numel():
        return sums
    size = sums.abs()
    tiny = torch.finfo(p.dtype).tiny
    bad = None
    if not float(size.amin()) >= tiny:  # (amin is NaN if a sum is)
        # A NaN, or a subnormal sum (rounded twice); 0 and inf are exact.
        bad = ~(size >= tiny) & (size != 0)
    if p.dtype == torch.float64:
        near = size < 2.0**-52 * 1e12 * (a.abs() + b.abs()).sum(-1)
        bad = near if bad is None else bad | near
    if bad is not None and bool(bad.any()):
        sums[bad] = exact(p[bad], q[bad])
    return sums


def _cpu_blocks(p: Any, q: Any, exact: Any) -> Any:
    """``[rows, n]`` on CPU: blocks of at most ``BLOCK`` elements in one reused buffer.

    Per block ``p / q``, ``log``, a ``min``, ``* p`` in place and a row sum: five
    passes, the block staying in cache.  Where the log ratios reach below
    ``log(tiny)`` (zeros in ``p``, whose log ratios are ``-inf`` or NaN, a NaN, or a
    ratio below the normal range) the ``p == 0`` log ratios are set to 0 (``0 log(0/q)
    = 0``, ``q = 0`` included) and the rows with one still below are marked.  Then
    the rows this form cannot be trusted with (NumPy's rule:
    ``kl_backends.backends.numpy``'s ``_untrusted``: non-finite sums, a negative
    ``q``, a ratio ``p / q`` below the normal range under ``p > 0``, float64 sums
    small against ``sum p``) are recomputed by ``exact``.  CPU values are read here:
    no device synchronisation.
    """
    import math

    rows, n = p.shape
    float64 = p.dtype == torch.float64
    low = math.log(torch.finfo(p.dtype).tiny)
    out = torch.zeros(rows, dtype=p.dtype)
    suspect = torch.zeros(rows, dtype=torch.bool)
    sum_p = torch.zeros(rows, dtype=p.dtype) if float64 else None
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    buf = torch.empty(min(height, rows) * width, dtype=p.dtype)
    for r0 in range(0, rows, height):
        r1 = min(r0 + height, rows)
        for c0 in range(0, n, width):
            pb, qb = p[r0:r1, c0 : c0 + width], q[r0:r1, c0 : c0 + width]
            t = buf[: pb.numel()].view(pb.shape)
            torch.div(pb, qb, out=t)
            t.log_()
            if not bool(t.amin() >= low):  # NaN propagates: taken then too
                t.masked_fill_(pb == 0, 0.0)
                suspect[r0:r1] |= (t < low).any(1)
            out[r0:r1] += t.mul_(pb).sum(1)
            if not bool(qb.amin() >= 0):  # rare (a NaN too, which could hide a negative q)
                suspect[r0:r1] |= (qb < 0).any(1)
            if sum_p is not None:
                sum_p[r0:r1] += pb.sum(1)
    bad = suspect | ~out.isfinite()
    if sum_p is not None:
        bad |= out.abs() < EXACT_BELOW * sum_p
    if bool(bad.any()):
        out[bad] = exact(p[bad], q[bad])
    return out


# --- rows of logits (``logits_rows``) ------------------------------------------------
#
# KL, cross-entropy and generalised JSD between ``[N, V]`` logits
# (``kl_backends._math.logits``):
#
# * eager, CPU, KL and cross-entropy (``LogitsRows``): each block's ``log_softmax``
#   (PyTorch's fused kernel) into reused buffers, the row values, and -- when an
#   input needs a gradient -- that gradient (for the second input
#   ``softmax(b/T) - softmax(a/T)``) written straight into the gradient tensor
#   while the block is in cache.  The backward scales it by the row cotangent and
#   ``1/T`` in place and hands it over (a second backward, with
#   ``retain_graph=True``, recomputes it).  Peak extra memory: the gradient plus
#   a few ``[block, V]`` float32 buffers.  Rows whose value comes out NaN
#   (``-inf`` logits, invalid rows) are redone with the generic conventions;
# * elsewhere (JSD, GPUs, the ``meta`` device): the generic block functions
#   forward, and their closed-form gradients recomputed block by block in the
#   backward (no host synchronisation);
# * under ``torch.compile`` (``TracedLogitsRows``): the same in one block (Dynamo
#   traces it into the graph; Inductor fuses the elementwise work).
#
# Gradients only for the inputs that need one; float16/bfloat16 blocks work in
# float32 and the gradient comes back in the input dtype.
#
# Higher orders: a backward with ``create_graph=True`` (Hessians, Hessian- and
# Fisher-vector products, double backward) returns autograd's gradient of the
# generic block code recomputed from the saved inputs, a graph that can be
# differentiated again (``_graph_backward``); forward mode
# (``torch.autograd.forward_ad``) is the generic code's jvp (``_jvp_rows``).
# Under ``torch.func`` transforms (``vmap``, ``grad``, ``jacrev``/``jacfwd``,
# ``hessian``, ``jvp``) no kernel: the generic code, which functorch batches
# and differentiates to any order.  Under ``torch.compile``, a second
# derivative is refused by torch itself (AOTAutograd has no double backward).


def _logits() -> Any:
    from kl_backends._math import logits

    return logits


#: Elements per row block on CPU (16 MB of float32 per temporary): with many
#: smaller blocks the per-kernel fork/join of the intra-op threads dominates on
#: a busy 2-core machine (2^18: 7x slower than 2^22 at [256, 128256]).
LOGITS_BLOCK = 1 << 22


def _blocks(a: Any) -> list[tuple[int, int]]:
    n, v = a.shape
    if torch.compiler.is_compiling() or a.device.type == "meta":
        return [(0, n)]
    step = _logits().row_block(n, v, LOGITS_BLOCK) or n
    return [(i, min(i + step, n)) for i in range(0, max(n, 1), step)]


def _block_in(x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any) -> Any:
    x = x[i:j].to(work)
    if mask is not None:
        x = torch.where(mask[i:j, None], x, 0.0)
    if temperature is not None:
        x = x / temperature
    return x


def _generic_rows(options: tuple[Any, ...], a: Any, b: Any, mask: Any) -> Any:
    """The per-row values by the generic block code: plain torch operations, which autograd
    and ``torch.func`` differentiate to any order."""
    be, kind, beta, temperature, work = options
    blocked = not torch.compiler.is_compiling() and a.device.type != "meta"
    return _logits().generic_rows(be, kind, beta, a, b, mask, temperature, True, work, blocked)


def _graph_backward(
    options: tuple[Any, ...], a: Any, b: Any, mask: Any, g: Any, need: tuple[bool, bool]
) -> tuple[Any, Any]:
    """The backward under ``create_graph=True`` (Hessians, Hessian-vector and Fisher-vector
    products, gradient penalties): autograd's gradient of the generic block code, a graph
    in ``a``, ``b`` and ``g`` that can be differentiated again.  (The first-order backward
    has no graph: its gradient is computed in place, or in the forward.)"""
    wrt = [x for x, wanted in zip((a, b), need) if wanted]
    with torch.enable_grad():
        vals = _generic_rows(options, a, b, mask)
        grads = iter(torch.autograd.grad(vals, wrt, g, create_graph=True, allow_unused=True))
    out = [next(grads) if wanted else None for wanted in need]
    return tuple(  # type: ignore[return-value]
        torch.zeros_like(x) if wanted and d is None else d
        for x, wanted, d in zip((a, b), need, out)
    )


def _jvp_rows(options: tuple[Any, ...], a: Any, b: Any, mask: Any, da: Any, db: Any) -> Any:
    """Forward mode (``torch.autograd.forward_ad``): ``sum(d/da * da) + sum(d/db * db)`` per
    row, the per-row gradients being autograd's of the generic block code (each row's value
    depends on its own row only).  Not differentiable again: PyTorch has no nested
    forward mode."""
    x, y = a.detach().requires_grad_(da is not None), b.detach().requires_grad_(db is not None)
    with torch.enable_grad():
        vals = _generic_rows(options, x, y, mask)
        wrt = [v for v in (x, y) if v.requires_grad]
        grads = iter(torch.autograd.grad(vals, wrt, torch.ones_like(vals)) if wrt else ())
    out = torch.zeros_like(vals)
    for d in (da, db):
        if d is not None:
            out = out + (next(grads) * d).sum(-1)
    return out


def _eager_cpu(a: Any) -> bool:
    return a.device.type == "cpu" and not torch.compiler.is_compiling()


class _Buffers:
    """Reused ``[block, V]`` buffers, made on first use (a fresh large CPU temporary costs
    page faults, and every kernel launch a fork/join of the intra-op threads)."""

    def __init__(self, rows: int, width: int, work: Any, device: Any) -> None:
        self.shape = (rows, width)
        self.work = work
        self.device = device
        self._made: dict[int, Any] = {}

    def get(self, k: int, n: int) -> Any:
        buf = self._made.get(k)
        if buf is None:
            buf = self._made[k] = torch.empty(self.shape, dtype=self.work, device=self.device)
        return buf[:n]


def _block_into(
    x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any, buf: Any
) -> Any:
    """``_block_in`` written into ``buf`` (no fresh temporary), or a view when nothing changes."""
    x = x[i:j]
    if x.dtype == work and mask is None and temperature is None:
        return x
    buf.copy_(x)
    if mask is not None:
        buf.masked_fill_(~mask[i:j, None], 0.0)
    if temperature is not None:
        buf.div_(temperature)
    return buf


def _fast_block(be: Any, kind: str, ab: Any, bb: Any, ga: Any, gb: Any, bufs: _Buffers) -> Any:
    """KL or cross-entropy rows of one block; unscaled gradients into ``ga``/``gb`` slices."""
    n = ab.shape[0]
    lp = torch._log_softmax(ab, -1, False, out=bufs.get(2, n))
    lq = torch._log_softmax(bb, -1, False, out=bufs.get(3, n))
    p = torch.exp(lp, out=bufs.get(4, n))
    if kind == "kl":
        d = lp.sub_(lq)  # lp - lq, in lp's buffer
        vals = torch.mul(p, d, out=bufs.get(5, n)).sum(-1)
    else:
        vals = torch.mul(p, lq, out=lp).sum(-1).neg_()
    bad = torch.isnan(vals)
    any_bad = bool(bad.any())
    if any_bad:  # -inf logits or invalid rows: the generic conventions
        vals[bad] = _logits().forward_block(be, kind, None, ab[bad], bb[bad])
    if ga is not None:
        # KL: p (lp - lq - KL); cross-entropy: -p (lq + H)
        if kind == "kl":
            inner = torch.sub(d, vals[:, None], out=bufs.get(5, n))
            inner = torch.where(p == 0, 0.0, inner) if any_bad else inner
        else:
            inner = torch.add(lq, vals[:, None], out=lp).neg_()
        if ga.dtype == inner.dtype:
            torch.mul(inner, p, out=ga)
        else:
            ga.copy_(inner.mul_(p))
    if gb is not None:
        q = lq.exp_()
        if gb.dtype == q.dtype:
            torch.sub(q, p, out=gb)
        else:
            gb.copy_(q.sub_(p))
    if any_bad and (ga is not None or gb is not None):
        one = torch.ones_like(vals[bad])
        need = (ga is not None, gb is not None)
        da, db = _logits().backward_block(be, kind, None, ab[bad], bb[bad], vals[bad], one, need)
        if ga is not None:
            ga[bad] = da.to(ga.dtype)
        if gb is not None:
            gb[bad] = db.to(gb.dtype)
    return vals


class Torch(Backend):
    name = module = distribution = extra = "torch"
    array_types = ("Tensor",)
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "torch.compile"
    autodiff = True
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
        if (
            p.device.type != "cpu"
            or torch.compiler.is_compiling()
            or torch._C._are_functorch_transforms_active()
        ):
            return None  # the generic code: Inductor fuses it; functorch batches it
        rows = functools.partial(exact, self)
        if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
            return _functions.EagerKL.apply(p, q, rows)
        return _eager_sum(p, q, rows)

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
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
        return self.kl_last_axis(p, q, exact)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def rng(self, seed: Any, like: Any) -> Any:
        """A ``torch.Generator`` on ``like``'s device (one given is used as it is)."""
        if isinstance(seed, torch.Generator):
            return seed
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int or a torch.Generator; got {type(seed).__name__}")
        return torch.Generator(device=like.device).manual_seed(seed)

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
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

    def read_distribution(self, obj: Any) -> Any:
        """A container for a ``torch.distributions`` object (its tensors, not copies)."""
        import sys

        from kl_backends.distributions import _containers as C
        from kl_backends.distributions._interop import PROBS_OR_LOGITS, SAME_NAMES, fields_of

        dists = sys.modules.get("torch.distributions")
        if dists is None or not isinstance(obj, dists.Distribution):
            return None
        if type(obj).__module__.split(".")[:2] != ["torch", "distributions"]:
            return None  # a user's subclass: its own registration, not ours
        # torch's own subclasses (OneHotCategoricalStraightThrough) as their nearest
        # family here, as torch's KL registry reaches them.
        known = {"Chi2", "Binomial", "MultivariateNormal", "Independent", "MixtureSameFamily"}
        name = next(
            (
                c.__name__
                for c in type(obj).__mro__
                if c.__module__.startswith("torch.distributions")
                and (
                    c.__name__ in SAME_NAMES or c.__name__ in PROBS_OR_LOGITS or c.__name__ in known
                )
            ),
            type(obj).__name__,
        )

        def probs_or_logits(d: Any) -> dict[str, Any]:
            # The parameter it was built from (torch computes the other one lazily).
            return {"logits": d.logits} if "logits" in vars(d) else {"probs": d.probs}

        if name == "Chi2":
            return C.Chi2(obj.df)
        if name in SAME_NAMES:
            cls = SAME_NAMES[name]
            return cls(**{f: getattr(obj, f) for f in fields_of(cls)})
        if name == "Binomial":
            return C.Binomial(obj.total_count, **probs_or_logits(obj))
        if name in PROBS_OR_LOGITS:
            base = obj._categorical if name == "OneHotCategorical" else obj
            return PROBS_OR_LOGITS[name](**probs_or_logits(base))
        if name == "MultivariateNormal":
            return C.MultivariateNormal(obj.loc, scale_tril=obj._unbroadcasted_scale_tril)
        if name == "Independent":
            base = self.read_distribution(obj.base_dist)
            return None if base is None else C.Independent(base, obj.reinterpreted_batch_ndims)
        if name == "MixtureSameFamily":
            mix = self.read_distribution(obj.mixture_distribution)
            comp = self.read_distribution(obj.component_distribution)
            return None if mix is None or comp is None else C.MixtureSameFamily(mix, comp)
        return None

    # -- harness -----------------------------------------------------------
    def logits_rows(
        self, kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any
    ) -> Any:
        if torch._C._are_functorch_transforms_active():
            # torch.func (vmap, grad, jacrev, jacfwd, hessian, jvp): the generic code, which
            # functorch batches and differentiates to any order (the kernel reads values).
            return None
        options = (self, kind, beta, temperature, work)
        if torch.compiler.is_compiling():
            return _functions.TracedLogitsRows.apply(a, b, mask, options)
        return _functions.LogitsRows.apply(a, b, mask, options)[0]

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
