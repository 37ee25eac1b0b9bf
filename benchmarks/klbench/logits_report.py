"""The logits benchmark's report: the Markdown table and the plot over V."""

from __future__ import annotations

from .common import fmt_s

LOGITS_PEERS = {
    "torch": "F.kl_div(log_softmax) + backward (eager)",
    "jax": "optax kl_divergence_with_log_targets, jit(grad)",
    "tensorflow": "the TF formula, tf.function + GradientTape",
}
LOGITS_TARGETS = {"torch": 0.8, "jax": 1.0, "tensorflow": 1.0}
#: Issue 18: ours / floor <= 4 (aim 2) for these backends, float32 at the two sizes.
FLOOR_TARGET, FLOOR_AIM = 4.0, 2.0
FLOOR_BACKENDS = ("torch", "jax")


def _floor_cell(r: dict) -> str:
    if "ours_over_floor" not in r:
        return " | |"
    ratio = r["ours_over_floor"]
    cell = f"{ratio:.2f}"
    if "ours_over_floor_alloc" in r:
        cell += f" ({r['ours_over_floor_alloc']:.2f})"
    target = ""
    if (
        r["backend"] in FLOOR_BACKENDS
        and r["dtype"] == "float32"
        and not r["size"].startswith(("sweep", "gpu"))
    ):
        met = "met" if ratio <= FLOOR_TARGET else "MISSED"
        aim = "met" if ratio <= FLOOR_AIM else "missed"
        target = f"<= {FLOOR_TARGET:g} ({met}); aim {FLOOR_AIM:g} ({aim})"
    return f" {fmt_s(r['floor_s'])} | {cell} | {target}"


def _line(r: dict) -> str:
    if "error" in r:
        return (
            f"| {r['backend']} | {r['shape']} | {r['dtype']} | | error: {r['error']} "
            "| | | | | | | | |"
        )
    target = 1.2 if r["size"].endswith("-liger") else LOGITS_TARGETS[r["backend"]]
    met = "met" if r["ratio"] <= target else "MISSED"
    is_target = (r["dtype"] == "float32" and not r["size"].startswith(("sweep", "gpu"))) or r[
        "size"
    ].endswith("-liger")
    peak_o = f"{r['peak_ours']:.2f}" if "peak_ours" in r else ""
    peak_p = f"{r['peak_peer']:.2f}" if "peak_peer" in r else ""
    return (
        f"| {r['backend']}:{r.get('device', 'cpu')} | {tuple(r['shape'])} | {r['dtype']} "
        f"| {r.get('peer') or LOGITS_PEERS[r['backend']]} "
        f"| {fmt_s(r['ours_s'])} | {fmt_s(r['peer_s'])} | {r['ratio']:.2f} | "
        f"{f'<= {target} ({met})' if is_target else ''} |{_floor_cell(r)} "
        f"| {peak_o} | {peak_p} |"
    )


def logits_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "## Logits: KL(teacher || student) + gradient wrt the student",
        "",
        f"{meta['machine']}, {meta['date']}; ours and the peer timed interleaved in one process "
        "(median of each); peak extra memory in units of one input (PyTorch: every tensor "
        "created during forward and backward, the gradient included; JAX: XLA's temporary "
        "buffers of the compiled jit(grad)).",
        "",
        "The floor, timed in the same rounds: read both logits once, write one gradient-sized "
        "array (PyTorch `torch.sub(s, t, out=g)` into a reused `g`; JAX `jit(lambda s, t: s - "
        "t)`; TF `tf.function` of `s - t`). `/ floor`: ours over the floor; in parentheses "
        "(PyTorch) over `s - t` into a fresh tensor, whose page faults a new gradient also "
        "pays. Targets (issue 18, float32, PyTorch eager and JAX jit(grad)): <= 4x the floor, "
        "aim 2x.",
        "",
        "| backend | shape | dtype | peer | ours | peer time | ratio | target | floor | "
        "/ floor | floor target | peak ours | peak peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_line(r) for r in rows]
    return "\n".join(lines) + "\n"


def logits_plot(rows: list[dict], path: str, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in rows if r["size"].startswith("sweep") and "error" not in r]
    if not sweep:
        return
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    for name in sorted({r["backend"] for r in sweep}):
        rs = sorted((r for r in sweep if r["backend"] == name), key=lambda r: r["shape"][1])
        v = [r["shape"][1] for r in rs]
        ax_t.plot(v, [r["ours_s"] * 1e3 for r in rs], "o-", label=f"{name}: kl_backends")
        ax_t.plot(v, [r["peer_s"] * 1e3 for r in rs], "s--", label=f"{name}: peer")
        if all("peak_ours" in r for r in rs):
            ax_m.plot(v, [r["peak_ours"] for r in rs], "o-", label=f"{name}: kl_backends")
            ax_m.plot(v, [r["peak_peer"] for r in rs], "s--", label=f"{name}: peer")
    ax_t.set(
        xlabel="vocabulary size V",
        ylabel="ms per KL + gradient",
        title=f"[{sweep[0]['shape'][0]}, V] float32",  # N of the sweep
        xscale="log",
        yscale="log",
    )
    ax_m.set(xlabel="vocabulary size V", ylabel="peak extra memory (inputs)", xscale="log")
    for ax in (ax_t, ax_m):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"KL between logits, with the student gradient -- {machine}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
