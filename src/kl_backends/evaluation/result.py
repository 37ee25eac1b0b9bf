"""``KLResult``: what ``KLStats.result()`` returns, with its JSON and Markdown forms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KLResult", "quantile_name"]


def quantile_name(q: float) -> str:
    """``0.5`` -> ``"p50"``, ``0.999`` -> ``"p99.9"``.

    >>> quantile_name(0.5), quantile_name(0.999), quantile_name(0.001)
    ('p50', 'p99.9', 'p0.1')
    """
    return f"p{round(q * 100, 10):g}"


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)  # "inf", "-inf", "nan": JSON has no such numbers
    if isinstance(x, dict):
        return {quantile_name(k): _plain(v) for k, v in x.items()}
    return x


@dataclass(frozen=True)
class KLResult:
    """Summary statistics of per-token KL divergences (``KLStats.result()``).

    Attributes
    ----------
    count : int
        Tokens counted (excluded by ``where`` and NaN values not included).
    nan_count : int
        Tokens whose KL was NaN.  Where it is not 0, every statistic below is
        NaN unless the result was made with ``omit_nan=True``.
    mean, sem, std : float
        Mean KL (nats), its standard error ``std / sqrt(count)`` and the
        sample standard deviation (``ddof=1``); NaN for too few tokens.
    min, max : float
        The smallest and largest KL (exact).
    quantiles : dict of float to float
        KL quantiles, e.g. ``{0.5: ..., 0.9: ..., 0.99: ..., 0.999: ...}``:
        ``np.quantile``'s default ("linear") definition, as llama.cpp's.
    quantile_method : {"exact", "sketch"}
        "exact" when every value was kept (``KLStats(exact=True)`` and they
        fitted), "sketch" otherwise: each order statistic within a relative
        ``relative_accuracy`` (an absolute ``min_value`` near 0).
    relative_accuracy : float
        The sketch's bound (also given for exact results).
    logits_count : int
        Tokens fed as logits (``update_logits``): the denominator of the
        rates below; 0 when only per-token KL was fed (the rest is then None).
    top1_agreement, top1_sem : float or None
        Fraction of tokens whose most probable token (argmax) is the same
        under both models, and its standard error ``sqrt(p (1 - p) / (n - 1))``.
    delta_p_mean, delta_p_sem : float or None
        Mean change of the token's probability ``p_other - p_base`` and its
        standard error.
    delta_p_rms, delta_p_rms_sem : float or None
        ``sqrt(mean(delta_p**2))`` and its uncertainty
        ``sem(delta_p**2) / (2 rms)`` (llama.cpp's "RMS Δp").
    delta_p_min, delta_p_max : float or None
        Extremes of the probability change.
    delta_p_quantiles : dict of float to float
        Quantiles of the probability change (llama.cpp's list by default).
    delta_p_nan_count : int
        Tokens whose probability change was NaN (e.g. a target id outside the
        vocabulary).
    delta_p_of : str
        Whose probability changes: ``"target"`` (the ids given as
        ``targets``, llama.cpp's next token), ``"base top"`` (the base
        model's most probable token), ``"mixed"`` or ``""``.
    """

    count: int
    nan_count: int
    mean: float
    sem: float
    std: float
    min: float
    max: float
    quantiles: dict[float, float]
    quantile_method: str
    relative_accuracy: float
    logits_count: int = 0
    top1_agreement: float | None = None
    top1_sem: float | None = None
    delta_p_mean: float | None = None
    delta_p_sem: float | None = None
    delta_p_rms: float | None = None
    delta_p_rms_sem: float | None = None
    delta_p_min: float | None = None
    delta_p_max: float | None = None
    delta_p_quantiles: dict[float, float] = field(default_factory=dict)
    delta_p_nan_count: int = 0
    delta_p_of: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values.

        Quantile keys become names (``"p50"``, ``"p99.9"``); ``inf`` and NaN
        become the strings ``"inf"``, ``"-inf"``, ``"nan"``.

        Returns
        -------
        dict
            ``json.dumps`` writes it as it is.
        """
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}

    def to_markdown(self, title: str = "KL divergence") -> str:
        """The result as Markdown tables (KL, then top token and probability change).

        Parameters
        ----------
        title : str
            The heading of the first table's value column.

        Returns
        -------
        str
            Markdown, ending with a newline.
        """
        how = (
            "exact"
            if self.quantile_method == "exact"
            else f"sketch, within {100 * self.relative_accuracy:g}%"
        )
        rows = [
            ("tokens", f"{self.count}"),
            ("mean ± SE", f"{self.mean:.6f} ± {self.sem:.6f}"),
            ("std", f"{self.std:.6f}"),
        ]
        rows += [(f"{quantile_name(q)} ({how})", f"{v:.6f}") for q, v in self.quantiles.items()]
        rows += [("min", f"{self.min:.6f}"), ("max", f"{self.max:.6f}")]
        if self.nan_count:
            rows.append(("NaN tokens", f"{self.nan_count}"))
        out = [f"| statistic | {title} (nats) |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in rows]
        if self.logits_count and self.top1_agreement is not None:
            assert self.top1_sem is not None and self.delta_p_mean is not None
            assert self.delta_p_sem is not None and self.delta_p_rms is not None
            assert self.delta_p_rms_sem is not None
            assert self.delta_p_min is not None and self.delta_p_max is not None
            pct = [
                (
                    "same top token",
                    f"{100 * self.top1_agreement:.3f} ± {100 * self.top1_sem:.3f} %",
                ),
                ("mean Δp ± SE", f"{100 * self.delta_p_mean:.3f} ± {100 * self.delta_p_sem:.3f} %"),
                ("RMS Δp", f"{100 * self.delta_p_rms:.3f} ± {100 * self.delta_p_rms_sem:.3f} %"),
                ("min Δp", f"{100 * self.delta_p_min:.3f} %"),
            ]
            pct += [
                (f"{quantile_name(q)} Δp", f"{100 * v:.3f} %")
                for q, v in self.delta_p_quantiles.items()
            ]
            pct.append(("max Δp", f"{100 * self.delta_p_max:.3f} %"))
            if self.delta_p_nan_count:
                pct.append(("NaN Δp tokens", f"{self.delta_p_nan_count}"))
            of = {"target": "target token", "base top": "base model's top token"}
            head = f"Δp: probability of the {of.get(self.delta_p_of, 'token')}, other - base"
            out += ["", f"| statistic | {head} |", "|---|---|"]
            out += [f"| {k} | {v} |" for k, v in pct]
        return "\n".join(out) + "\n"
