"""Row-wise KL on every installed backend: kl_backends against every built-in, the naive
formula and the memory floors, in one process and one run.

    python benchmarks/bench_kl.py                      # writes benchmarks/results/bench.{json,md,png}
    python benchmarks/bench_kl.py --quick              # tiny and medium only, fewer repeats
    python benchmarks/bench_kl.py --logits             # logits: results/logits.{json,md,png}
    nox -s bench

Sizes: tiny [32, 10], medium [4096, 1000], wide [16, 1_000_000] (on a GPU also
[65536, 1000] and [1_000_000, 1000]); float32 and float64; eager and compiled
(jax.jit, tf.function(jit_compile=True), torch.compile).  For each: warm-up (the
first call, with any compilation, is timed apart), synchronisation per backend
(block_until_ready, torch.cuda.synchronize, .numpy()), fresh random inputs without
zeros, repeated timings with median and interquartile range, and every variant
checked against a float64 reference before it is timed.  NumPy variants also get
their peak extra memory per call (tracemalloc).

The code is in ``klbench/``: ``common`` (timing, memory, results files),
``probabilities`` and ``probabilities_report``, ``logits`` and ``logits_report``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from klbench.common import RESULTS
from klbench.logits import logits_main, run_logits
from klbench.logits_report import logits_markdown, logits_plot
from klbench.probabilities import SIZES, Timing, run
from klbench.probabilities_report import main as probabilities_main
from klbench.probabilities_report import markdown, plot, replot, targets

__all__ = [
    "RESULTS",
    "SIZES",
    "Timing",
    "logits_main",
    "logits_markdown",
    "logits_plot",
    "main",
    "markdown",
    "plot",
    "replot",
    "run",
    "run_logits",
    "targets",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default=None, help="default: every installed one")
    parser.add_argument("--quick", action="store_true", help="tiny and medium, short budget")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per variant")
    parser.add_argument("--no-torch-compile", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument(
        "--logits", action="store_true", help="the logits section only (logits.{json,md,png})"
    )
    args = parser.parse_args()
    if args.logits:
        logits_main(args)
        return
    names = (
        args.backends.split(",")
        if args.backends
        else [n for n in ("numpy", "torch", "tensorflow", "jax") if importlib.util.find_spec(n)]
    )
    probabilities_main(args, names)


if __name__ == "__main__":
    main()
