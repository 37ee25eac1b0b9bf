"""Divergences between rows of logits: values, gradients, masks, temperature, beta, half precision.

References are float64 NumPy formulas written here (not the library's code):
log-softmax by max and log-sum-exp, KL, cross-entropy, the generalised JSD,
and the formulas of TRL's ``GKDTrainer.generalized_jsd_loss`` and of
Liger-Kernel's JSD kernel, transcribed from their definitions:

* TRL: ``beta == 0``: ``KL(teacher || student)``; ``beta == 1``:
  ``KL(student || teacher)``; otherwise, with
  ``m = (1 - beta) student + beta teacher``,
  ``beta KL(teacher || m) + (1 - beta) KL(student || m)``; ``batchmean``
  over the rows whose label is not -100.
* Liger (``X`` = student log-probs, ``Y`` = teacher log-probs, ``Q = e^X``,
  ``P = e^Y``): ``beta == 0``: ``sum P (Y - X)``; ``beta == 1``:
  ``sum Q (X - Y)``; otherwise ``sum beta P Y + (1 - beta) Q X - M log M`` with
  ``M = beta P + (1 - beta) Q``; divided by the number of rows not ignored.

The gradient references are the closed forms d/d(student logits) =
``(softmax(s/T) - softmax(t/T)) / T`` (KL, cross-entropy) and numerical
differentiation of the float64 reference (JSD).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from _logits_refs import MASK, log_softmax, ref_ce, ref_js, ref_kl

from _gradients import grad
from conftest import need
from kl_backends import cross_entropy, js_divergence, kl_divergence
from kl_backends._math import logits as _logits

BETAS = [0.0, 0.1, 0.5, 0.9, 1.0]


# --- float64 references ---------------------------------------------------------------


def trl_generalized_jsd(student, teacher, labels, beta, temperature=1.0):
    """TRL's generalized_jsd_loss (reduction="batchmean" with labels), in float64 NumPy."""
    ls, lt = log_softmax(student / temperature), log_softmax(teacher / temperature)
    if beta == 0:
        jsd = np.exp(lt) * (lt - ls)  # F.kl_div(ls, lt, log_target=True)
    elif beta == 1:
        jsd = np.exp(ls) * (ls - lt)
    else:
        mix = np.logaddexp(ls + np.log(1 - beta), lt + np.log(beta))
        kl_teacher = np.exp(lt) * (lt - mix)
        kl_student = np.exp(ls) * (ls - mix)
        jsd = beta * kl_teacher + (1 - beta) * kl_student
    mask = labels != -100
    return jsd[mask].sum() / mask.sum()


def liger_jsd(student, teacher, labels, beta):
    """Liger-Kernel's LigerJSD kernel formula on log-probs, in float64 NumPy."""
    x, y = log_softmax(student), log_softmax(teacher)
    q, p = np.exp(x), np.exp(y)
    if beta == 0.0:
        loss = p * (y - x)
    elif beta == 1.0:
        loss = q * (x - y)
    else:
        m = beta * p + (1 - beta) * q
        loss = beta * p * y + (1 - beta) * q * x - m * np.log(m)
    keep = labels != -100
    return loss[keep].sum() / keep.sum()


def ref_grad_student(t, s, temperature=1.0, weights=None):
    """d sum_rows(w * KL(t || s)) / d s: w (softmax(s/T) - softmax(t/T)) / T."""
    g = (np.exp(log_softmax(s / temperature)) - np.exp(log_softmax(t / temperature))) / temperature
    if weights is not None:
        g = g * weights[:, None]
    return g


def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp_, xm = x.copy(), x.copy()
        xp_[i] += h
        xm[i] -= h
        out[i] = (f(xp_) - f(xm)) / (2 * h)
    return out


# --- inputs ------------------------------------------------------------------------


def _inputs(n=6, v=37, seed=0, special=True):
    """Teacher and student logits; row 1: -inf in the teacher (and at one spot in both),
    row 2: one possible event on both sides, row 3: NaN (masked out by ``MASK``)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, v)) * 3
    s = rng.normal(size=(n, v)) * 3
    if special:
        t[1, :5] = -np.inf
        s[1, 0] = -np.inf
        t[2, :] = -np.inf
        t[2, 7] = 1.5
        s[2, :] = -np.inf
        s[2, 7] = -4.0
        t[3, 4] = np.nan
        s[3, 9] = np.inf
    return t, s


def _tol(dtype: str) -> dict:
    return {
        "float64": {"rtol": 1e-10, "atol": 1e-12},
        "float32": {"rtol": 2e-5, "atol": 2e-5},
        "float16": {"rtol": 2e-2, "atol": 2e-2},
        "bfloat16": {"rtol": 3e-2, "atol": 3e-2},
    }[dtype]


FUNCS = {
    "kl": (kl_divergence, {}),
    "ce": (cross_entropy, {}),
    **{f"js-{b}": (js_divergence, {"beta": b}) for b in [None, *BETAS]},
}


def _ref(name: str, t, s, temperature=1.0):
    if name == "kl":
        return ref_kl(t, s, temperature)
    if name == "ce":
        return ref_ce(t, s, temperature)
    beta = name.split("-", 1)[1]
    return ref_js(t, s, None if beta == "None" else float(beta), temperature)


# --- values on every backend --------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCS))
def test_values_against_float64(combo, name) -> None:
    """Every backend and dtype: -inf logits, one-event rows, a masked NaN row, T = 2."""
    on, dtype = combo
    fn, kw = FUNCS[name]
    t, s = _inputs()
    tt, ss = on.asarray(t, dtype), on.asarray(s, dtype)
    t64, s64 = on.to_numpy(tt), on.to_numpy(ss)  # the values as stored in ``dtype``
    mask = on.impl.asarray(MASK.astype(np.float64), "float64", on.device) > 0
    out = fn(tt, ss, inputs="logits", temperature=2.0, where=mask, **kw)
    assert on.impl.dtype_name(out) == dtype
    expected = np.where(MASK, _ref(name, np.where(MASK[:, None], t64, 0), s64, 2.0), 0.0)
    np.testing.assert_allclose(on.to_numpy(out), expected, **_tol(dtype))
    mean = fn(tt, ss, inputs="logits", temperature=2.0, where=mask, reduction="mean", **kw)
    np.testing.assert_allclose(on.to_numpy(mean), expected.sum() / MASK.sum(), **_tol(dtype))


def test_log_probs_inputs_and_reductions(backend) -> None:
    t, s = _inputs(special=False)
    lt, ls = log_softmax(t), log_softmax(s)
    out = kl_divergence(backend.asarray(lt), backend.asarray(ls), inputs="log_probs")
    np.testing.assert_allclose(backend.to_numpy(out), ref_kl(t, s), rtol=1e-10)
    total = js_divergence(
        backend.asarray(lt), backend.asarray(ls), inputs="log_probs", beta=0.3, reduction="sum"
    )
    np.testing.assert_allclose(backend.to_numpy(total), ref_js(t, s, 0.3).sum(), rtol=1e-10)


def test_batch_axes_and_keepdims(backend) -> None:
    rng = np.random.default_rng(3)
    t, s = rng.normal(size=(2, 3, 11)), rng.normal(size=(2, 3, 11))
    flat = ref_kl(t.reshape(6, 11), s.reshape(6, 11)).reshape(2, 3)
    mask = np.array([True, False, True])
    w = backend.impl.asarray(mask.astype(np.float64), "float64", backend.device) > 0
    out = kl_divergence(backend.asarray(t), backend.asarray(s), inputs="logits", where=w)
    np.testing.assert_allclose(backend.to_numpy(out), np.where(mask, flat, 0.0), rtol=1e-10)
    kept = kl_divergence(
        backend.asarray(t),
        backend.asarray(s),
        inputs="logits",
        keepdims=True,
        reduction="mean",
        where=w,
    )
    assert tuple(kept.shape) == (1, 1, 1)
    np.testing.assert_allclose(backend.to_numpy(kept).ravel(), flat[:, mask].mean(), rtol=1e-10)
    # The event axis first (moved or computed in place).
    out0 = kl_divergence(
        backend.asarray(np.moveaxis(t, -1, 0)),
        backend.asarray(np.moveaxis(s, -1, 0)),
        inputs="logits",
        axis=0,
    )
    np.testing.assert_allclose(backend.to_numpy(out0), flat, rtol=1e-10)


@pytest.mark.parametrize("v", [1, 7, 1000])
def test_many_blocks_and_ragged_last_block(monkeypatch, backend, v) -> None:
    """V not a multiple of the block, N not a multiple of the rows per block."""
    monkeypatch.setattr(_logits, "ROW_ELEMENTS", 3 * v + 1)
    package = type(backend.impl).__module__
    try:  # a backend with its own logits blocks (its ``logits`` role module)
        kernels = importlib.import_module(f"{package}.logits")
    except ModuleNotFoundError:
        kernels = None
    if hasattr(kernels, "LOGITS_BLOCK"):
        monkeypatch.setattr(kernels, "LOGITS_BLOCK", 3 * v + 1)
    t, s = _inputs(n=11, v=v, seed=v, special=False)
    out = kl_divergence(backend.asarray(t), backend.asarray(s), inputs="logits")
    np.testing.assert_allclose(backend.to_numpy(out), ref_kl(t, s), rtol=1e-10, atol=1e-14)


def test_identical_and_shifted_logits_give_zero(backend) -> None:
    t, _ = _inputs(special=False)
    for other in (t, t + 100.0):
        out = kl_divergence(backend.asarray(t), backend.asarray(other), inputs="logits")
        np.testing.assert_allclose(backend.to_numpy(out), 0.0, atol=1e-12)
        js = js_divergence(backend.asarray(t), backend.asarray(other), inputs="logits", beta=0.1)
        np.testing.assert_allclose(backend.to_numpy(js), 0.0, atol=1e-12)


# --- beta conventions: TRL and Liger ------------------------------------------------


@pytest.mark.parametrize("beta", BETAS)
def test_beta_maps_to_trl_and_liger(beta) -> None:
    rng = np.random.default_rng(7)
    student, teacher = rng.normal(size=(8, 50)) * 2, rng.normal(size=(8, 50)) * 2
    labels = rng.integers(0, 50, size=8)
    labels[[2, 5]] = -100
    ours = js_divergence(
        teacher, student, inputs="logits", beta=beta, where=labels != -100, reduction="mean"
    )
    scale = beta * (1 - beta) if 0 < beta < 1 else 1.0
    np.testing.assert_allclose(
        ours * scale, trl_generalized_jsd(student, teacher, labels, beta), rtol=1e-12
    )
    np.testing.assert_allclose(ours * scale, liger_jsd(student, teacher, labels, beta), rtol=1e-12)
    # Temperature as TRL applies it.
    tempered = js_divergence(
        teacher,
        student,
        inputs="logits",
        beta=beta,
        where=labels != -100,
        reduction="mean",
        temperature=2.0,
    )
    np.testing.assert_allclose(
        tempered * scale, trl_generalized_jsd(student, teacher, labels, beta, 2.0), rtol=1e-12
    )


def test_beta_is_continuous_at_both_ends() -> None:
    rng = np.random.default_rng(8)
    t, s = rng.normal(size=(4, 30)), rng.normal(size=(4, 30))
    j = {b: js_divergence(t, s, inputs="logits", beta=b) for b in (0.0, 1e-7, 1 - 1e-7, 1.0)}
    np.testing.assert_allclose(j[1e-7], j[0.0], rtol=1e-5)
    np.testing.assert_allclose(j[1 - 1e-7], j[1.0], rtol=1e-5)
    np.testing.assert_allclose(j[0.0], ref_kl(t, s), rtol=1e-12)
    np.testing.assert_allclose(j[1.0], ref_kl(s, t), rtol=1e-12)
    # beta=None is the ordinary JSD, the same as on probabilities.
    p, q = np.exp(log_softmax(t)), np.exp(log_softmax(s))
    np.testing.assert_allclose(js_divergence(t, s, inputs="logits"), js_divergence(p, q))
    np.testing.assert_allclose(
        js_divergence(t, s, inputs="logits", beta=0.5), 4 * js_divergence(p, q), rtol=1e-12
    )


# --- gradients ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kl", "ce", "js-None", "js-0.1", "js-0.9", "js-1.0"])
def test_gradients_against_float64_and_generic(ad, dtype, compiled, name, monkeypatch) -> None:
    fn, kw = FUNCS[name]
    t, s = _inputs()
    tt, ss = ad.asarray(t, dtype), ad.asarray(s, dtype)
    mask = ad.impl.asarray(MASK.astype(np.float64), "float64", ad.device) > 0

    def loss(a, b):
        return fn(a, b, inputs="logits", temperature=2.0, where=mask, reduction="mean", **kw)

    gt, gs = grad(ad, loss, [tt, ss], compiled)
    # Masked rows: exactly zero gradient, although they hold NaN and inf.
    assert np.all(gs[~MASK] == 0) and np.all(gt[~MASK] == 0)
    t0 = np.where(MASK[:, None], t, 0.0)
    s0 = np.where(MASK[:, None], s, 0.0)
    # Finite wherever the loss is (row 1 has -inf teacher logits, row 2 one event;
    # KL(s || t), beta=1, is +inf on row 1).
    ok = np.isfinite(_ref(name, t0, s0, 2.0))
    assert np.isfinite(gs[ok]).all()
    weights = MASK / MASK.sum()
    if name in ("kl", "ce"):
        expected = ref_grad_student(t0, s0, 2.0, weights)
    else:
        beta = name.split("-", 1)[1]
        b = None if beta == "None" else float(beta)
        rows = [0, 4]  # finite rows: numerical differentiation of the float64 reference
        expected = gs.copy()
        for r in rows:
            expected[r] = (
                numeric_grad(lambda x, r=r: ref_js(t0[r : r + 1], x[None], b, 2.0)[0], s0[r])
                * weights[r]
            )
    tol = 1e-7 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(gs[ok], expected[ok], atol=tol)
    # The same as autodiff through the generic code (fast paths off).
    monkeypatch.setenv("KL_BACKENDS_FASTPATHS", "0")
    gt_generic, gs_generic = grad(ad, loss, [tt, ss], compiled)
    np.testing.assert_allclose(gs[ok], gs_generic[ok], atol=tol)
    np.testing.assert_allclose(gt[ok], gt_generic[ok], atol=tol)


def test_torch_second_backward_and_func_grad() -> None:
    torch = need("torch")
    t, s = _inputs(special=False)
    tt = torch.tensor(t)
    ss = torch.tensor(s, requires_grad=True)
    loss = kl_divergence(tt, ss, inputs="logits", reduction="sum", temperature=3.0)
    (g1,) = torch.autograd.grad(loss, ss, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, ss)  # recomputed: the first was handed over
    expected = ref_grad_student(t, s, 3.0)
    np.testing.assert_allclose(g1.numpy(), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g2.numpy(), expected, rtol=1e-10, atol=1e-14)
    g3 = torch.func.grad(lambda x: kl_divergence(tt, x, inputs="logits", reduction="sum"))(
        torch.tensor(s)
    )
    np.testing.assert_allclose(g3.numpy(), ref_grad_student(t, s), rtol=1e-10, atol=1e-14)
    # A per-row cotangent (reduction="none") scales each row.
    w = torch.arange(1.0, 7.0, dtype=torch.float64)
    ss.grad = None
    (kl_divergence(tt, ss, inputs="logits") * w).sum().backward()
    np.testing.assert_allclose(
        ss.grad.numpy(), ref_grad_student(t, s, 1.0, w.numpy()), rtol=1e-10, atol=1e-14
    )


# --- half precision at a real vocabulary --------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_half_precision_at_v_128256(lib, dtype) -> None:
    """Loss within 1e-3 (relative) of float64 before the final rounding to ``dtype``,
    gradient within 1e-2 (norm), identical logits <= 1e-6."""
    from kl_backends.backends import BACKENDS

    need(lib)
    be = BACKENDS[lib]
    rng = np.random.default_rng(11)
    t = rng.normal(size=(4, 128256)) * 2
    s = t + rng.normal(size=t.shape) * 0.5
    tt, ss = be.asarray(t, dtype), be.asarray(s, dtype)
    t64, s64 = be.to_numpy(tt), be.to_numpy(ss)
    expected = ref_kl(t64, s64).mean()
    g_expected = ref_grad_student(t64, s64) / 4

    def loss(a, b):
        return kl_divergence(a, b, inputs="logits", reduction="mean")

    if lib == "torch":
        ss.requires_grad_(True)
        out = loss(tt, ss)
        out.backward()
        g_native = ss.grad
        same = loss(tt, tt)
    else:
        jax = be.load()
        out, g_native = jax.value_and_grad(loss, argnums=1)(tt, ss)
        same = loss(tt, tt)
    assert be.dtype_name(out) == dtype and be.dtype_name(g_native) == dtype
    # The float32 accumulation is within 1e-3; the value returned in ``dtype`` is
    # that result rounded once (bfloat16's spacing alone is 2**-8 = 3.9e-3 relative).
    acc = be.to_numpy(loss(be.asarray(t64, "float32"), be.asarray(s64, "float32")))
    assert abs(acc - expected) <= 1e-3 * expected
    assert be.to_numpy(out) == be.round_trip(np.asarray(acc), dtype)
    g = be.to_numpy(g_native)
    assert np.linalg.norm(g - g_expected) <= 1e-2 * np.linalg.norm(g_expected)
    assert abs(be.to_numpy(same)) <= 1e-6


# --- compiled, meta device, errors --------------------------------------------------


@pytest.mark.slow
def test_torch_compile_fullgraph_logits() -> None:
    torch = need("torch")
    torch._dynamo.reset()
    t, s = _inputs()
    tt = torch.tensor(t, dtype=torch.float32)
    ss = torch.tensor(s, dtype=torch.float32, requires_grad=True)
    mask = torch.tensor(MASK)

    def f(a, b):
        return torch.stack(
            [
                kl_divergence(a, b, inputs="logits", where=mask, temperature=2.0, reduction="mean"),
                js_divergence(a, b, inputs="logits", beta=0.3, where=mask, reduction="sum"),
                cross_entropy(a, b, inputs="logits", where=mask, reduction="mean"),
            ]
        )

    out = torch.compile(f, fullgraph=True, dynamic=False)(tt, ss)
    t0, s0 = np.where(MASK[:, None], t, 0.0), np.where(MASK[:, None], s, 0.0)
    expected = [
        ref_kl(t0, s0, 2.0)[MASK].mean(),
        ref_js(t0, s0, 0.3)[MASK].sum(),
        ref_ce(t0, s0)[MASK].mean(),
    ]
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=2e-5)
    out[0].backward()
    np.testing.assert_allclose(
        ss.grad.numpy(), ref_grad_student(t0, s0, 2.0, MASK / MASK.sum()), atol=2e-6
    )


def test_meta_device() -> None:
    torch = need("torch")
    t = torch.empty(7, 3, 101, device="meta", requires_grad=True)
    s = torch.empty(7, 3, 101, device="meta", requires_grad=True)
    mask = torch.ones(7, 3, dtype=torch.bool, device="meta")
    out = kl_divergence(t, s, inputs="logits", where=mask, temperature=2.0)
    assert out.device.type == "meta" and tuple(out.shape) == (7, 3)
    js = js_divergence(t, s, inputs="logits", beta=0.2, reduction="mean")
    js.backward()
    assert s.grad.device.type == "meta" and s.grad.shape == s.shape
    half = cross_entropy(t.to(torch.bfloat16), s.to(torch.bfloat16), inputs="logits")
    assert half.dtype == torch.bfloat16


def test_errors() -> None:
    t, s = _inputs(special=False)
    with pytest.raises(ValueError, match="at least one logit per distribution"):
        kl_divergence(np.zeros((3, 0)), np.zeros((3, 0)), inputs="logits")
    np.testing.assert_array_equal(  # log-probabilities over no events: the empty sum
        kl_divergence(np.zeros((3, 0)), np.zeros((3, 0)), inputs="log_probs"), 0.0
    )
    with pytest.raises(ValueError, match="temperature must be a finite positive"):
        kl_divergence(t, s, inputs="logits", temperature=0.0)
    with pytest.raises(ValueError, match="temperature applies to logits"):
        kl_divergence(t, s, inputs="log_probs", temperature=2.0)
    with pytest.raises(ValueError, match="apply to inputs='logits'"):
        kl_divergence(np.exp(log_softmax(t)), np.exp(log_softmax(s)), temperature=2.0)
    with pytest.raises(ValueError, match=r"beta must be a Python number in \[0, 1\]"):
        js_divergence(t, s, inputs="logits", beta=1.5)
    with pytest.raises(TypeError, match="where must be a boolean array"):
        kl_divergence(t, s, inputs="logits", where=np.ones(6))
    with pytest.raises(ValueError, match=r"where must broadcast to the batch shape \(6,\)"):
        kl_divergence(t, s, inputs="logits", where=np.ones(5, bool))


def test_mean_over_no_rows_is_nan() -> None:
    t, s = _inputs(special=False)
    out = kl_divergence(t, s, inputs="logits", where=np.zeros(6, bool), reduction="mean")
    assert math.isnan(out)
    assert kl_divergence(t, s, inputs="logits", where=np.zeros(6, bool), reduction="sum") == 0
