"""``TopKLogProbs``: the exact (K+1)-bucket divergences of a cached top-k teacher.

References: float64 NumPy (and mpmath for tails near 0 and 1) written here, row by
row, from the definition (the K distinct unpadded ids and one tail bucket; the
student's tail summed directly over the ids outside the K); the dense path when
K = V; finite differences of the float64 reference for gradients.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp, rel_entr

from _gradients import grad
from conftest import need
from kl_backends import (
    ProjectedLogits,
    TopKLogProbs,
    cross_entropy,
    js_divergence,
    kl_divergence,
)

V, K = 7, 3
PAD = -1


# --- the float64 reference ------------------------------------------------------------


def snap_of(dtype):
    """Teacher tail masses at most this (rounding of a sum in the working dtype) are 0."""
    work = np.float64 if dtype == "float64" else np.float32
    return 16 * float(np.finfo(work).eps)


def ref_buckets(ids, lp, z, temperature=1.0, pad=PAD, snap=None):
    """(P, Q): the teacher's and the student's bucket probabilities of one row."""
    snap = snap_of("float64") if snap is None else snap
    lq = log_softmax(np.asarray(z, np.float64) / temperature)
    merged: dict[int, float] = {}
    for i, v in zip(np.asarray(ids).tolist(), np.asarray(lp, np.float64).tolist()):
        if i != pad:
            merged[i] = float(np.logaddexp(merged.get(i, -np.inf), v))
    keys = list(merged)
    with mpmath.workdps(50):  # the stored values' own tail, exactly
        p_tail = 1 - mpmath.fsum([mpmath.exp(merged[k]) for k in keys])
    outside = np.ones(lq.shape[0], bool)
    outside[keys] = False
    q_tail = float(np.sum(np.exp(lq[outside])))
    p = np.array([math.exp(merged[k]) for k in keys] + [float(p_tail)])
    if p[-1] <= snap:  # within rounding of a full top-K mass: renormalised, empty tail
        p = np.append(p[:-1] / (1 - float(p_tail)), 0.0)
    q = np.append(np.exp(lq[keys]), q_tail)
    return p, q


def ref_kind(kind, a, b, beta=None):
    if kind == "kl":
        return float(np.sum(rel_entr(a, b)))
    if kind == "ce":
        return float(np.sum(np.where(a > 0, -a * np.log(np.where(b > 0, b, 1)), 0))) + (
            math.inf if np.any((a > 0) & (b == 0)) else 0.0
        )
    if beta in (0.0, 1.0):  # the limits: forward and reverse KL
        return ref_kind("kl", *((a, b) if beta == 0.0 else (b, a)))
    bt = 0.5 if beta is None else beta
    m = bt * a + (1 - bt) * b
    j = (bt * np.sum(rel_entr(a, m)) + (1 - bt) * np.sum(rel_entr(b, m))) / (bt * (1 - bt))
    return float(j / 4 if beta is None else j)


def ref(kind, ids, lp, z, teacher_first=True, beta=None, temperature=1.0, pad=PAD, snap=None):
    """Per-row reference values, batch shape of ``ids``."""
    ids, lp, z = (np.asarray(x) for x in (ids, lp, z))
    batch = ids.shape[:-1]
    z = np.broadcast_to(z, (*batch, z.shape[-1]))
    out = np.empty(batch)
    for idx in np.ndindex(*batch):
        snap_ = snap_of("float64") if snap is None else snap
        p, q = ref_buckets(ids[idx], lp[idx], z[idx], temperature, pad, snap_)
        out[idx] = ref_kind(kind, *((p, q) if teacher_first else (q, p)), beta)
    return out


def data(seed=0):
    """Rows [2, 3] over V = 7 with K = 3: padding, a duplicate id, a -inf log-prob."""
    rng = np.random.default_rng(seed)
    full = log_softmax(rng.normal(size=(2, 3, V)) * 1.5, axis=-1)
    ids = np.stack([rng.permutation(V)[:K] for _ in range(6)]).reshape(2, 3, K)
    lp = np.take_along_axis(full, ids, -1)
    ids[0, 1, 2] = PAD  # a padded entry (its log-prob is ignored)
    lp[0, 1, 2] = 0.7
    ids[1, 0, 2] = ids[1, 0, 0]  # a duplicate: the mass of id ids[1,0,0] split in two
    lp[1, 0, 0], lp[1, 0, 2] = lp[1, 0, 0] - math.log(2), lp[1, 0, 0] - math.log(2)
    lp[1, 2, 1] = -np.inf  # a token of probability 0
    z = rng.normal(size=(2, 3, V)) * 2
    return ids, lp, z


def ints(backend, a):
    return backend.namespace.asarray(np.asarray(a).tolist())


def call(fn, teacher, z, teacher_first, **kw):
    return fn(teacher, z, **kw) if teacher_first else fn(z, teacher, **kw)


CASES = [("kl", True, None), ("kl", False, None), ("ce", True, None), ("ce", False, None),
         ("js", True, None), ("js", False, 0.3), ("js", True, 1.0)]  # fmt: skip
FUNCS = {"kl": kl_divergence, "ce": cross_entropy, "js": js_divergence}


@pytest.mark.parametrize(("kind", "teacher_first", "beta"), CASES)
def test_values_against_reference(backend, kind, teacher_first, beta) -> None:
    ids, lp, z = data()
    t = TopKLogProbs(ints(backend, ids), backend.asarray(lp), padding_id=PAD)
    kw = {"inputs": "logits"} if kind != "js" else {"inputs": "logits", "beta": beta}
    out = backend.to_numpy(call(FUNCS[kind], t, backend.asarray(z), teacher_first, **kw))
    bt = beta if kind == "js" else None
    expected = ref(kind, ids, lp, z, teacher_first, bt)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    assert np.all(out >= 0)


def test_full_k_equals_dense(backend) -> None:
    rng = np.random.default_rng(1)
    t_logits, z = rng.normal(size=(4, V)) * 2, rng.normal(size=(4, V)) * 2
    full = log_softmax(t_logits, axis=-1)
    ids = np.stack([rng.permutation(V) for _ in range(4)])
    t = TopKLogProbs(ints(backend, ids), backend.asarray(np.take_along_axis(full, ids, -1)))
    dense_t, zb = backend.asarray(full), backend.asarray(z)
    pairs = [
        (kl_divergence(t, zb, inputs="logits"),
         kl_divergence(dense_t, zb, inputs=("log_probs", "logits"))),
        (kl_divergence(zb, t, inputs="logits"),
         kl_divergence(zb, dense_t, inputs=("logits", "log_probs"))),
        (js_divergence(t, zb, inputs="logits", beta=0.2, temperature=2.0),
         js_divergence(dense_t, zb, inputs=("log_probs", "logits"), beta=0.2, temperature=2.0)),
    ]  # fmt: skip
    for ours, dense in pairs:
        np.testing.assert_allclose(backend.to_numpy(ours), backend.to_numpy(dense), rtol=1e-12)


def test_data_processing_and_non_negative() -> None:
    """Bucketing cannot increase KL: 0 <= ours <= the dense KL of the full distributions."""
    rng = np.random.default_rng(2)
    n, v = 200, 12
    t_logits = rng.normal(size=(n, v)) * rng.uniform(0.1, 4, size=(n, 1))
    z = rng.normal(size=(n, v)) * rng.uniform(0.1, 4, size=(n, 1))
    full = log_softmax(t_logits, axis=-1)
    for k in (1, 3, 8):
        ids = np.argsort(-full, axis=-1)[:, :k]
        t = TopKLogProbs(ids, np.take_along_axis(full, ids, -1))
        fwd, rev = kl_divergence(t, z, inputs="logits"), kl_divergence(z, t, inputs="logits")
        dense_f = kl_divergence(full, z, inputs=("log_probs", "logits"))
        dense_r = kl_divergence(z, full, inputs=("logits", "log_probs"))
        assert np.all(fwd >= 0) and np.all(rev >= 0)
        assert np.all(fwd <= dense_f * (1 + 1e-12)) and np.all(rev <= dense_r * (1 + 1e-12))
        assert np.any(fwd < 0.9 * dense_f)  # the inequality is not an equality


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tails_near_zero_and_one(backend, dtype) -> None:
    """Row 0: a student tail of 1e-12 (the complement 1 - sum q_k would cancel; exact from
    the logits); row 1: a teacher tail of 1e-9 (1e-3 in float32, whose sums round at
    1e-7); row 2: a teacher tail of 1 - 1e-13."""
    if dtype not in backend.dtypes:
        pytest.skip(f"{backend} has no {dtype}")
    ninf = -np.inf
    z = np.array([[0.0, 0.0, 0.0, -28.0, -29.0, -30.0], [1.0, 0.5, -1.0, 0.0, ninf, ninf],
                  [1.0, 0.5, -1.0, 0.0, ninf, ninf]])  # fmt: skip
    q_tail = float(np.sum(np.exp(z[0, 3:] - logsumexp(z[0]))))
    assert 1e-13 < q_tail < 1e-11
    ids = np.array([[0, 1, 2], [0, 1, PAD], [0, 1, PAD]])
    small = 1e-9 if dtype == "float64" else 1e-3
    lp = np.array([np.log([0.2, 0.2, 0.1]), [math.log(0.5), math.log1p(-0.5 - small), 0.0],
                   [-30.0, -31.0, 0.0]])  # fmt: skip
    lp_cast = np.asarray(lp, dtype).astype(np.float64)  # the saved values, as stored
    t = TopKLogProbs(ints(backend, ids), backend.asarray(lp, dtype), padding_id=PAD)
    zb = backend.asarray(z, dtype)
    for teacher_first in (True, False):
        out = backend.to_numpy(call(kl_divergence, t, zb, teacher_first, inputs="logits"))
        expected = ref("kl", ids, lp_cast, z, teacher_first, snap=snap_of(dtype))
        # float64: a tail of 1e-9 is 1 minus sums rounded at 1e-16, so about 1e-7 of
        # itself; its share of the value is smaller.
        np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == "float32" else 5e-8)


def test_empty_tails(backend) -> None:
    """Both tails empty: 0; teacher tail 0 against a student tail: finite; the reverse: +inf."""
    z = np.array([[0.0, 1.0, -np.inf, -np.inf], [0.0, 1.0, 2.0, 3.0]])
    ids = np.array([[1, 0], [1, 0]])
    lp = log_softmax(np.array([[0.5, 0.2], [0.5, 0.2]]), axis=-1)  # teacher tail 0
    t = TopKLogProbs(ints(backend, ids), backend.asarray(lp))
    zb = backend.asarray(z)
    fwd = backend.to_numpy(kl_divergence(t, zb, inputs="logits"))
    rev = backend.to_numpy(kl_divergence(zb, t, inputs="logits"))
    np.testing.assert_allclose(fwd, ref("kl", ids, lp, z), rtol=1e-12)
    assert np.isfinite(fwd).all() and rev[1] == np.inf and np.isfinite(rev[0])
    # teacher tail > 0, student tail empty: forward +inf (rel_entr's convention)
    t2 = TopKLogProbs(ints(backend, ids), backend.asarray(lp - 0.1))
    fwd2 = backend.to_numpy(kl_divergence(t2, zb, inputs="logits"))
    assert fwd2[0] == np.inf and np.isfinite(fwd2[1])


def test_padding_duplicates_and_invalid_rows() -> None:
    """The conventions, in NumPy (every backend computes padded and duplicated rows in
    test_values_against_reference)."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(1, V))
    lp3 = np.log(np.array([[0.3, 0.2, 0.1]]))

    def kl(ids, lp, pad=None):
        t = TopKLogProbs(np.asarray(ids), np.asarray(lp, np.float64), padding_id=pad)
        return kl_divergence(t, z, inputs="logits")

    base = kl([[4, 2, 6]], lp3)
    # a padded entry is dropped: equal to the teacher without it
    np.testing.assert_allclose(
        kl([[4, 2, 0]], [[*lp3[0, :2], 5.0]], pad=0), kl([[4, 2]], lp3[:, :2])
    )
    # a duplicate id carrying -inf changes nothing; a split one is merged
    np.testing.assert_allclose(kl([[4, 2, 6, 2]], [[*lp3[0], -np.inf]]), base, rtol=1e-14)
    half = lp3[0, 0] - math.log(2)
    np.testing.assert_allclose(kl([[4, 2, 6, 4]], [[half, *lp3[0, 1:], half]]), base, rtol=1e-14)
    # ids out of range, and probabilities summing beyond 1: NaN rows
    assert np.isnan(kl([[4, 2, V]], lp3)).all() and np.isnan(kl([[4, -3, 6]], lp3)).all()
    assert np.isnan(kl([[4, 2, 6]], np.log([[0.6, 0.5, 0.1]]))).all()
    # a sum above 1 by rounding only: renormalised, empty teacher tail
    full = log_softmax(rng.normal(size=(1, V)), axis=-1)
    out = kl(np.arange(V)[None], full + 1e-12)
    assert np.isfinite(out).all() and (out >= 0).all()


def test_where_and_reductions(backend) -> None:
    ids, clean, z = data(4)
    lp = clean.copy()
    lp[1, 1] = np.nan  # masked out: must not reach the result
    where = np.array([[True, False, True], [True, False, False]])
    t = TopKLogProbs(ints(backend, ids), backend.asarray(lp), padding_id=PAD)
    zb, wb = backend.asarray(z), backend.namespace.asarray(where.tolist())
    expected = np.where(where, ref("kl", ids, np.nan_to_num(lp, nan=0.0), z), 0.0)
    none = backend.to_numpy(kl_divergence(t, zb, inputs="logits", where=wb))
    np.testing.assert_allclose(none, expected, rtol=1e-12)
    mean = backend.to_numpy(kl_divergence(t, zb, inputs="logits", where=wb, reduction="mean"))
    np.testing.assert_allclose(mean, expected.sum() / where.sum(), rtol=1e-12)
    t = TopKLogProbs(ints(backend, ids), backend.asarray(clean), padding_id=PAD)
    kept = kl_divergence(t, zb, inputs="logits", keepdims=True)
    assert tuple(kept.shape) == (2, 3, 1)
    bits = backend.to_numpy(kl_divergence(t, zb, inputs="logits", base=2, reduction="sum"))
    np.testing.assert_allclose(bits, ref("kl", ids, clean, z).sum() / math.log(2), rtol=1e-12)


def test_temperature_and_axis(backend) -> None:
    ids, lp, z = data(5)
    t = TopKLogProbs(ints(backend, ids), backend.asarray(lp), padding_id=PAD)
    for temp in (0.5, 3.0):
        out = kl_divergence(t, backend.asarray(z), inputs="logits", temperature=temp)
        np.testing.assert_allclose(
            backend.to_numpy(out), ref("kl", ids, lp, z, temperature=temp), rtol=1e-12
        )
    moved = backend.asarray(np.moveaxis(z, -1, 0))  # vocabulary first
    if not backend.impl.permutes_axes:  # a namespace that cannot move axes: a clear error
        with pytest.raises(ValueError, match="last axis"):
            js_divergence(t, moved, inputs="logits", axis=0, beta=0.4)
        return
    out = js_divergence(t, moved, inputs="logits", axis=0, beta=0.4)
    np.testing.assert_allclose(backend.to_numpy(out), ref("js", ids, lp, z, beta=0.4), rtol=1e-12)


def _fd(f, z, h=1e-6):
    g = np.zeros_like(z)
    for i in np.ndindex(*z.shape):
        e = np.zeros_like(z)
        e[i] = h
        g[i] = (f(z + e) - f(z - e)) / (2 * h)
    return g


CASES_GRAD = (("kl", True, None), ("js", False, 0.3))


def test_gradients_against_finite_differences(ad, dtype) -> None:
    """Student gradients of the forward KL + JSD(student, teacher, beta=0.3), tempered,
    with padding, duplicates and an empty tail (K = V in one row)."""
    rng = np.random.default_rng(6)
    z = rng.normal(size=(3, 4)) * 1.5
    ids = np.array([[2, 0, PAD, 1], [3, 2, 1, 0], [1, 1, 3, PAD]])
    lp = np.log(np.array([[0.3, 0.2, 0.5, 0.1], [0.4, 0.3, 0.2, 0.1], [0.2, 0.2, 0.1, 0.3]]))
    t = TopKLogProbs(ints(ad, ids), ad.asarray(lp, dtype), padding_id=PAD)
    kws = [{"inputs": "logits", "temperature": 1.5, **({"beta": b} if k == "js" else {})}
           for k, _, b in CASES_GRAD]  # fmt: skip

    def loss(zz):
        parts = [call(FUNCS[k], t, zz, f, **kw) for (k, f, _), kw in zip(CASES_GRAD, kws)]
        return parts[0] + parts[1]

    (g,) = grad(ad, loss, [ad.asarray(z, dtype)])
    lp_stored = np.asarray(lp, dtype).astype(np.float64)
    snap = snap_of(dtype)

    def reference(zz):
        return sum(ref(k, ids, lp_stored, zz, f, b, 1.5, snap=snap).sum() for k, f, b in CASES_GRAD)

    assert np.isfinite(g).all()
    tol = 1e-7 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(g, _fd(reference, z), rtol=tol, atol=tol)


def test_compiled(jit_combo) -> None:
    """jax.jit / tf.function: the teacher built inside the compiled function."""
    on, dtype = jit_combo
    ids, lp, z = data(7)

    def f(ids_, lp_, z_):
        t = TopKLogProbs(ids_, lp_, padding_id=PAD)
        return kl_divergence(z_, t, inputs="logits", temperature=2.0)

    out = on.impl.compile(f, convert=False)(
        ints(on, ids), on.asarray(lp, dtype), on.asarray(z, dtype)
    )
    lp_stored = np.asarray(lp, dtype).astype(np.float64)
    expected = ref("kl", ids, lp_stored, z, False, temperature=2.0, snap=snap_of(dtype))
    tol = {"float64": 1e-12, "float32": 2e-5}.get(dtype, 3e-2)  # halves: float32 inside
    np.testing.assert_allclose(on.to_numpy(out), expected, rtol=tol)


# --- a projection student: only take and log_normalizer ----------------------------------


class StandIn:
    """The projection's contract (``take``, ``log_normalizer``) over ``hidden @ weight.T``."""

    _kl_source = "projection"

    def __init__(self, hidden, weight):
        self.hidden, self.weight = hidden, weight
        self.vocab_size, self.batch_shape = weight.shape[0], tuple(hidden.shape[:-1])
        self.dtype = hidden.dtype

    def _logits(self, temperature):
        z = self.hidden @ self.weight.T
        return z if temperature is None else z / temperature

    def take(self, ids, temperature=None):
        import torch

        return torch.take_along_dim(self._logits(temperature), ids, dim=-1)

    def log_normalizer(self, temperature=None):
        import torch

        return torch.logsumexp(self._logits(temperature), dim=-1)


def test_projection_student_values_and_gradients() -> None:
    torch = need("torch")
    rng = np.random.default_rng(8)
    h, w = rng.normal(size=(2, 3, 5)), rng.normal(size=(V, 5))
    ids, lp, _ = data(8)
    hidden = torch.tensor(h, requires_grad=True)
    weight = torch.tensor(w)
    t = TopKLogProbs(torch.tensor(ids), torch.tensor(lp), padding_id=PAD)
    for first in (True, False):
        out = call(js_divergence, t, StandIn(hidden, weight), first, inputs="logits", beta=0.2)
        np.testing.assert_allclose(
            out.detach().numpy(), ref("js", ids, lp, h @ w.T, first, 0.2), rtol=1e-11
        )
    loss = kl_divergence(t, StandIn(hidden, weight), inputs="logits", temperature=2.0).sum()
    (g,) = torch.autograd.grad(loss, [hidden])
    dense_h = hidden.detach().clone().requires_grad_(True)
    dense = kl_divergence(t, dense_h @ weight.T, inputs="logits", temperature=2.0).sum()
    (gd,) = torch.autograd.grad(dense, [dense_h])
    np.testing.assert_allclose(g.numpy(), gd.numpy(), rtol=1e-10, atol=1e-14)


def test_projected_logits_student(ad, dtype) -> None:
    """A ``ProjectedLogits`` student (never materialised) against a top-k teacher: the
    values, and the gradients for the hidden states and the head, of the same student given
    as the dense logits ``hidden @ weight.T``, forward and reverse."""
    rng = np.random.default_rng(9)
    h, w = rng.normal(size=(6, 5)), rng.normal(size=(V, 5))
    ids, lp, _ = data(9)
    ids, lp = ids.reshape(6, K), lp.reshape(6, K)
    xp = ad.impl.xp

    def loss(projected):
        def f(hh, ww):
            t = TopKLogProbs(ints(ad, ids), ad.asarray(lp, dtype), padding_id=PAD)
            z = ProjectedLogits(hh, ww) if projected else hh @ xp.matrix_transpose(ww)
            fwd = kl_divergence(t, z, inputs="logits", temperature=2.0)
            return fwd + js_divergence(z, t, inputs="logits", beta=0.3)

        return f

    args = [ad.asarray(h, dtype), ad.asarray(w, dtype)]
    tol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(
        ad.to_numpy(loss(True)(*args)), ad.to_numpy(loss(False)(*args)), rtol=tol, atol=tol
    )
    if dtype == "float64":  # the gradients once per backend (each is a compilation in JAX)
        for g, e in zip(grad(ad, loss(True), args), grad(ad, loss(False), args)):
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


def test_torch_compile_fullgraph() -> None:
    """``torch.compile(fullgraph=True)``: no graph break, the eager values and gradients."""
    torch = need("torch")
    ids, lp, z = data(10)
    t = TopKLogProbs(torch.tensor(ids), torch.tensor(lp), padding_id=PAD)

    def f(zz):
        return kl_divergence(zz, t, inputs="logits", temperature=2.0, reduction="sum")

    zc, ze = (torch.tensor(z, requires_grad=True) for _ in range(2))
    compiled = torch.compile(f, fullgraph=True, dynamic=False)(zc)
    eager = f(ze)
    np.testing.assert_allclose(compiled.detach().numpy(), eager.detach().numpy(), rtol=1e-12)
    compiled.backward()
    eager.backward()
    np.testing.assert_allclose(zc.grad.numpy(), ze.grad.numpy(), rtol=1e-10, atol=1e-14)


# --- errors ------------------------------------------------------------------------------


def test_errors() -> None:
    ids, lp, z = data()
    t = TopKLogProbs(ids, lp, padding_id=PAD)
    with pytest.raises(ValueError, match="inputs='logits'"):
        kl_divergence(t, z)
    with pytest.raises(TypeError, match="both sides"):
        kl_divergence(t, t, inputs="logits")
    with pytest.raises(TypeError, match="integer dtype"):
        TopKLogProbs(ids.astype(np.float64), lp)
    with pytest.raises(TypeError, match="real floating"):
        TopKLogProbs(ids, ids)
    with pytest.raises(ValueError, match="same shape"):
        TopKLogProbs(ids[..., :2], lp)
    with pytest.raises(TypeError, match="padding_id"):
        TopKLogProbs(ids, lp, padding_id=True)
    with pytest.raises(ValueError, match="temperature"):
        kl_divergence(t, z, inputs="logits", temperature=0.0)
    with pytest.raises(ValueError, match="broadcast"):
        kl_divergence(t, z[:, :2], inputs="logits")
    with pytest.raises(ValueError, match="where"):
        kl_divergence(t, z, inputs="logits", where=np.ones((2,), bool))
