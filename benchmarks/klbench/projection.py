"""KL from hidden states (``kl_backends.ProjectedLogits``) against the materialised path.

    python -m benchmarks.klbench.projection            # from the repository root
    python -m benchmarks.klbench.projection --quick    # N = 1024, one round (a smoke run)

Writes ``benchmarks/results/projection.{json,md}``.  On PyTorch CPU, float32,
N = 4096 rows, H = 1024, V = 32000: forward KL(teacher || student) with
gradients for the student's hidden states and LM head, both sides given as a
projection,

* ours: ``kl_divergence(ProjectedLogits(h_t, W_t), ProjectedLogits(h_s, W_s),
  inputs="logits", reduction="mean")`` and ``backward()``;
* materialised: ``log_softmax`` of both projections (the teacher's without a
  graph), ``F.kl_div(student, teacher, log_target=True,
  reduction="batchmean")`` and ``backward()``.

Time: the median of interleaved rounds (ours, then materialised), in one
process, so that load on the machine slows both.  Memory: the peak bytes of the
tensor storages created during one forward and backward (``common.TorchPeak``,
a dispatch mode counting each new storage until its last tensor is gone; the
inputs are not counted, the gradients are).  Accuracy: bfloat16 inputs
(N = 512, the other sizes as above), the gradients of the student's hidden
states and head against float64 autodiff of the materialised formula on the
same bfloat16-rounded values, as relative Frobenius norms; the same for the
materialised path in bfloat16 (the logits rounded to bfloat16 by the matmul).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

from .common import RESULTS, TorchPeak, interleaved, log, meta, write_results

N, H, V = 4096, 1024, 32000
ERROR_ROWS = 512


def _inputs(n: int, dtype: Any, seed: int = 0) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    scale = H**-0.5

    def normal(*shape: int, s: float = 1.0) -> Any:
        return (torch.randn(*shape, generator=g) * s).to(dtype)

    w = normal(V, H, s=scale * 4)
    return {
        "ht": normal(n, H),
        "wt": w,
        "hs": normal(n, H),
        "ws": (w.float() + normal(V, H, s=scale * 2).float()).to(dtype),
    }


def ours_loss(x: dict[str, Any], hs: Any, ws: Any) -> Any:
    import kl_backends as klb

    teacher = klb.ProjectedLogits(x["ht"], x["wt"])
    student = klb.ProjectedLogits(hs, ws)
    return klb.kl_divergence(teacher, student, inputs="logits", reduction="mean")


def materialised_loss(x: dict[str, Any], hs: Any, ws: Any) -> Any:
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        lt = torch.log_softmax(x["ht"] @ x["wt"].T, dim=-1)
    ls = torch.log_softmax(hs @ ws.T, dim=-1)
    return F.kl_div(ls, lt, log_target=True, reduction="batchmean")


def _step(loss: Any, x: dict[str, Any]) -> Any:
    hs = x["hs"].detach().requires_grad_(True)
    ws = x["ws"].detach().requires_grad_(True)
    loss(x, hs, ws).backward()
    return hs.grad, ws.grad


def _peak(loss: Any, x: dict[str, Any]) -> int:
    import gc

    gc.collect()
    with TorchPeak(*x.values()) as mode:
        _step(loss, x)
    return int(mode.peak)


def _errors() -> dict[str, Any]:
    """Relative norm errors of bfloat16 gradients against float64 (same rounded inputs)."""
    import torch

    x16 = _inputs(ERROR_ROWS, torch.bfloat16, seed=1)
    x64 = {k: v.double() for k, v in x16.items()}
    ref = _step(materialised_loss, x64)

    def rel(got: Any) -> list[float]:
        return [float((g.double() - r).norm() / r.norm()) for g, r in zip(got, ref)]

    return {"ours": rel(_step(ours_loss, x16)), "materialised": rel(_step(materialised_loss, x16))}


def run(n: int, rounds: int) -> dict[str, Any]:
    import torch

    x = _inputs(n, torch.float32)
    log(f"values: ours against the materialised path, N={n}")
    a, b = ours_loss(x, x["hs"], x["ws"]), materialised_loss(x, x["hs"], x["ws"])
    value_diff = float(abs(a - b) / abs(b))
    log("time (interleaved rounds)")
    t_ours, t_mat = interleaved(
        lambda: _step(ours_loss, x), lambda: _step(materialised_loss, x), lambda o: o, rounds
    )
    log("peak memory")
    m_ours, m_mat = _peak(ours_loss, x), _peak(materialised_loss, x)
    log("bfloat16 gradient errors")
    errors = _errors()
    return {
        "shape": {"N": n, "H": H, "V": V, "dtype": "float32", "error_rows": ERROR_ROWS},
        "value_rel_diff": value_diff,
        "seconds": {"ours": t_ours, "materialised": t_mat},
        "time_ratio": statistics.median(t_ours) / statistics.median(t_mat),
        "peak_bytes": {"ours": m_ours, "materialised": m_mat},
        "memory_ratio": m_ours / m_mat,
        "bf16_grad_rel_error": errors,
        "threads": torch.get_num_threads(),
    }


def markdown(r: dict[str, Any], machine: str) -> str:
    s, e = r["shape"], r["bf16_grad_rel_error"]
    med = {k: statistics.median(v) for k, v in r["seconds"].items()}
    mb = {k: v / 2**20 for k, v in r["peak_bytes"].items()}
    rows = [
        "| | ours (`ProjectedLogits`) | materialised | ratio | target |",
        "|---|---|---|---|---|",
        f"| time, forward + backward (median) | {med['ours']:.2f} s | "
        f"{med['materialised']:.2f} s | {r['time_ratio']:.2f}x | <= 1.3x |",
        f"| peak extra memory | {mb['ours']:.0f} MiB | {mb['materialised']:.0f} MiB | "
        f"{r['memory_ratio']:.2f} | <= 0.25 |",
        f"| bf16 gradient error, hidden states | {e['ours'][0]:.1e} | "
        f"{e['materialised'][0]:.1e} | | <= 1e-2 |",
        f"| bf16 gradient error, LM head | {e['ours'][1]:.1e} | "
        f"{e['materialised'][1]:.1e} | | <= 1e-2 |",
    ]
    return "\n".join(
        [
            "# KL from hidden states: `ProjectedLogits` against the materialised path",
            "",
            f"PyTorch CPU ({machine}, {r['threads']} threads), float32, N = {s['N']}, "
            f"H = {s['H']}, V = {s['V']}: forward KL(teacher || student), gradients for the "
            "student's hidden states and LM head. Materialised: `log_softmax` of both "
            "projections, `F.kl_div(log_target=True)`, backward. Peak extra memory: the "
            "tensor storages created during one forward and backward (`TorchPeak`; "
            "gradients included, inputs not). bf16 errors: relative Frobenius norm of the "
            f"gradients against float64 on the same rounded inputs, N = {s['error_rows']}. "
            f"Values agree to {r['value_rel_diff']:.1e} (relative).",
            "",
            *rows,
            "",
            f"Generated by `python -m benchmarks.klbench.projection` "
            f"({len(r['seconds']['ours'])} interleaved rounds).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=1024, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()
    start = time.time()
    n, rounds = (1024, 1) if args.quick else (N, args.rounds)
    machine = platform.processor() or platform.machine()
    r = run(n, rounds)
    data = {"meta": meta(machine, start), "result": r}
    md = markdown(r, machine)
    print(md)
    if not args.quick:
        write_results(args.out, "projection", data, md)
        log(f"wrote {os.path.join(args.out, 'projection.md')}")


if __name__ == "__main__":
    main()
