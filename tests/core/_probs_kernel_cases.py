"""Edge rows and the comparison shared by the tests of the compiled probabilities kernel
under ``torch.compile`` (test_compiled_kernel.py) and ``jax.jit`` (test_compiled_kernel_jax.py)."""

from __future__ import annotations

import numpy as np

#: (p, q) pairs placed among ordinary entries: every convention of the generic code
#: ("tiny": a subnormal of the dtype).
PAIRS = [
    (0.0, 0.5), (0.0, 0.0), (0.0, float("nan")), (0.0, -1.0), (0.5, 0.0), (0.5, -0.0),
    (float("nan"), 0.5), (0.5, float("nan")), (-0.1, 0.5), (0.5, -0.1),
    (float("inf"), 0.5), (float("inf"), float("inf")), (0.5, float("inf")),
    ("tiny", 0.5), (0.5, "tiny"), ("tiny", "tiny"), (1.0, 1e-30), (1e-30, 1.0),
]  # fmt: skip


def edge_rows(width: int, tiny: float | None, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``[rows, width]`` ``p`` and ``q``: ordinary rows, then one row per pair of
    ``PAIRS`` at the start, in the middle and at the end of a row (a chunk's first
    element, an inner one, the padded tail); ``tiny=None`` leaves out the pairs with a
    subnormal."""
    pairs = [pq for pq in PAIRS if tiny is not None or "tiny" not in pq]
    rng = np.random.default_rng(seed)
    n = len(pairs)
    p = rng.dirichlet(np.ones(width), size=4 + 3 * n)
    q = rng.dirichlet(np.ones(width), size=4 + 3 * n)
    for i, (a, b) in enumerate(pairs):
        for k, col in enumerate((0, width // 2, width - 1)):
            p[4 + 3 * i + k, col] = tiny if a == "tiny" else a
            q[4 + 3 * i + k, col] = tiny if b == "tiny" else b
    return p, q


def assert_same(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """The same NaN, +inf and -inf entries, and the finite ones within ``rtol``."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=0)
