"""Host-side summary of one statistic's state (float64 NumPy): mean, SE, quantiles."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kl_backends.evaluation._sketch import Sketch, quantiles_from_counts
from kl_backends.evaluation.result import KLResult

__all__ = ["build", "summary"]


def _quantiles(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``np.quantile`` (linear), quietly: between two infinite values it is inf - inf."""
    with np.errstate(invalid="ignore"):
        out = np.quantile(values, qs)
    s = np.sort(values)
    ranks = np.asarray(qs) * (values.size - 1)
    lo, hi = s[np.floor(ranks).astype(int)], s[np.ceil(ranks).astype(int)]
    return np.where(lo == hi, lo, out)


def summary(
    host: dict[str, Any] | None,
    kept: np.ndarray | None,
    sketch: Sketch | None,
    qs: tuple[float, ...],
    omit_nan: bool,
) -> dict[str, Any]:
    """Mean, SE, std, extremes and quantiles of one statistic, in float64 on the host."""
    nan = math.nan
    if host is None:
        return {
            "n": 0,
            "nan": 0,
            "mean": nan,
            "sem": nan,
            "std": nan,
            "min": nan,
            "max": nan,
            "quantiles": {q: nan for q in qs},
            "method": "sketch",
        }
    n, n_nan = int(host["n"]), int(host["nan"])
    mean = float(host["s"] + host["s_c"]) / n if n else nan
    var = float(host["m2"] + host["m2_c"]) / (n - 1) if n > 1 else nan
    std = math.sqrt(var) if var >= 0 else nan
    sem = std / math.sqrt(n) if n > 1 else nan
    lo, hi = (float(host["min"]), float(host["max"])) if n else (nan, nan)
    if kept is not None:
        quantiles = (
            {q: float(v) for q, v in zip(qs, _quantiles(kept, qs))} if n else {q: nan for q in qs}
        )
        method = "exact"
    else:
        reps = sketch.representatives(lo, hi) if sketch is not None else None
        quantiles = quantiles_from_counts(host["hist"], reps, qs) if reps is not None else {}
        method = "sketch"
    if n_nan and not omit_nan:
        mean = sem = std = lo = hi = nan
        quantiles = {q: nan for q in qs}
    return {
        "n": n,
        "nan": n_nan,
        "mean": mean,
        "sem": sem,
        "std": std,
        "min": lo,
        "max": hi,
        "quantiles": quantiles,
        "method": method,
    }


def build(stats: Any, quantiles: Any, delta_p_quantiles: Any, omit_nan: bool) -> KLResult:
    """``KLStats.result``: the state to the host once, then float64 NumPy."""
    qs = tuple(float(q) for q in quantiles)
    dqs = tuple(float(q) for q in delta_p_quantiles)
    if any(not 0.0 <= q <= 1.0 for q in qs + dqs):
        raise ValueError(f"quantiles must lie in [0, 1]; got {qs + dqs}")
    host, kept = stats._host()
    kl = summary(host["kl"], kept["kl"], stats._kl_sketch, qs, omit_nan)
    out = {
        "count": kl["n"],
        "nan_count": kl["nan"],
        "mean": kl["mean"],
        "sem": kl["sem"],
        "std": kl["std"],
        "min": kl["min"],
        "max": kl["max"],
        "quantiles": kl["quantiles"],
        "quantile_method": kl["method"],
        "relative_accuracy": stats._kl_sketch.alpha,
    }
    top = host["top"]
    if top is not None and int(top["n"]):
        n = int(top["n"])
        p = int(top["same"]) / n
        dp = summary(host["dp"], kept["dp"], stats._dp_sketch, dqs, omit_nan)
        dp2 = summary(host["dp2"], None, None, (), omit_nan)
        rms = math.sqrt(dp2["mean"]) if dp2["mean"] >= 0 else math.nan
        out.update(
            logits_count=n,
            top1_agreement=p,
            top1_sem=math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else math.nan,
            delta_p_mean=dp["mean"],
            delta_p_sem=dp["sem"],
            delta_p_rms=rms,
            delta_p_rms_sem=0.5 / rms * dp2["sem"] if rms > 0 else math.nan,
            delta_p_min=dp["min"],
            delta_p_max=dp["max"],
            delta_p_quantiles=dp["quantiles"],
            delta_p_nan_count=dp["nan"],
            delta_p_of=next(iter(stats._of)) if len(stats._of) == 1 else "mixed",
        )
    return KLResult(**out)
