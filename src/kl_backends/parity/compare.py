"""Comparing results against the float64 reference, with tolerances by dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TOLERANCES", "Comparison", "compare"]

TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-10, 1e-12),
    "float32": (5e-5, 2e-6),
    "float16": (1.5e-3, 2e-5),
    "bfloat16": (1e-2, 2e-5),
}
"""The default ``(rtol, atol)`` of the checks, by the dtype the inputs were cast to.

A result passes where ``|got - ref| <= atol + rtol * |ref|`` elementwise
(``kl_backends.testing.check_backends``; ``rtol=`` and ``atol=`` override
these).  float64 is held to near machine precision.  float32 allows sums of
up to 20,000 terms accumulated in float32 (XLA's CPU reductions are
sequential).  float16 and bfloat16 results are computed in float32 and
rounded to their own dtype once (half an ulp: 2**-11 and 2**-8 relative).

Examples
--------
>>> from kl_backends.testing import TOLERANCES
>>> TOLERANCES["float32"]
(5e-05, 2e-06)
"""


@dataclass(frozen=True)
class Comparison:
    """The verdict, the largest errors, and the error that was judged.

    ``used`` is the largest ``|got - ref| / (atol + rtol |ref|)`` (at most 1
    passes; inf for misplaced NaN or inf).  At that element, ``bound`` is the
    tolerance that dominates there (``"rtol"`` where ``rtol |ref| >= atol``,
    else ``"atol"``), ``tol`` its value, and ``judged`` the error in its
    units: relative for ``"rtol"``, absolute for ``"atol"``.  A large
    ``max_abs`` beside OK is then explained (a large reference judged by
    ``rtol``), and so is a zero result against a tiny reference (judged by
    ``atol``, not by a relative error of 1).
    """

    ok: bool
    max_abs: float
    max_rel: float
    message: str = ""
    used: float = 0.0
    judged: float = 0.0
    bound: str = ""
    tol: float = 0.0

    def describe(self) -> str:
        """``"2.10e-04 rel <= rtol 1e-02"``: the judged error and its bound."""
        if not self.bound:
            return "-"
        if not math.isfinite(self.used):
            return "NaN/inf misplaced"
        kind = "rel" if self.bound == "rtol" else "abs"
        sign = "<=" if self.used <= 1 else ">"
        return f"{self.judged:.2e} {kind} {sign} {self.bound} {self.tol:g}"


def compare(
    got: np.ndarray,
    ref: np.ndarray,
    dtype: str,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> Comparison:
    """Compare ``got`` with ``ref`` elementwise.

    NaN must be NaN in the same places and infinities equal (sign included);
    finite values must satisfy ``|got - ref| <= atol + rtol * |ref|``, with
    ``rtol`` and ``atol`` defaulting to ``TOLERANCES[dtype]``.
    """
    default_rtol, default_atol = TOLERANCES[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return Comparison(
            False, np.inf, np.inf, f"shape {got.shape} != reference {ref.shape}", np.inf
        )
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    if (nan_got != nan_ref).any():
        return Comparison(
            False,
            np.inf,
            np.inf,
            f"NaN at {np.argwhere(nan_got).tolist()}, "
            f"reference NaN at {np.argwhere(nan_ref).tolist()}",
            np.inf,
        )
    inf_got, inf_ref = np.isinf(got), np.isinf(ref)
    if (inf_got != inf_ref).any() or (got[inf_ref] != ref[inf_ref]).any():
        return Comparison(
            False,
            np.inf,
            np.inf,
            f"inf at {np.argwhere(inf_got).tolist()}, "
            f"reference inf at {np.argwhere(inf_ref).tolist()}",
            np.inf,
        )
    finite = np.isfinite(ref)
    if not finite.any():
        return Comparison(True, 0.0, 0.0)
    err = np.abs(got[finite] - ref[finite])
    scale = np.abs(ref[finite])
    max_abs = float(err.max())
    # Relative error only where the relative tolerance is the binding one.
    relevant = scale * rtol >= atol
    max_rel = float((err[relevant] / scale[relevant]).max()) if relevant.any() else 0.0
    allowed = atol + rtol * scale
    ratio = err / allowed if (allowed > 0).all() else np.where(err == 0, 0.0, err / allowed)
    k = int(np.argmax(ratio))
    by_rtol = bool(rtol * scale[k] >= atol) and scale[k] > 0
    used = float(ratio[k])
    bound, tol = ("rtol", rtol) if by_rtol else ("atol", atol)
    judged = float(err[k] / scale[k]) if by_rtol else float(err[k])
    bad = err > allowed
    if bad.any():
        i = int(np.argmax(bad))
        return Comparison(
            False,
            max_abs,
            max_rel,
            f"got {got[finite][i]!r}, reference {ref[finite][i]!r} "
            f"(rtol={rtol}, atol={atol} for {dtype})",
            used,
            judged,
            bound,
            tol,
        )
    return Comparison(True, max_abs, max_rel, "", used, judged, bound, tol)
