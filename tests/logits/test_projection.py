"""Logits given as a projection (``kl_backends.ProjectedLogits``), never materialised.

Values against float64 NumPy formulas on the materialised logits
(``_projection_refs``) and against the dense path (``kl_divergence`` of
``h @ W.T``); gradients for the hidden states, weights and biases of both
sides and for dense logits against autodiff of the materialised formula (the
framework's own matmul, ``tanh`` and the dense path); blocks of rows and
vocabulary tiles small enough that every pass crosses both; bfloat16 inputs,
vocabularies of different sizes, ``-inf`` padding, masks, temperature,
soft-capping, ``beta``, ``jax.jit``, ``tf.function`` and one ``torch.compile``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _projection_refs import ce64, js64, kl64, log_softmax64, logits64

from _gradients import grad
from conftest import need
from kl_backends import ProjectedLogits, cross_entropy, js_divergence, kl_divergence
from kl_backends._math import projection_calls

FNS = {"kl": kl_divergence, "ce": cross_entropy, "js": js_divergence}
REFS = {"kl": kl64, "ce": ce64, "js": js64}


@pytest.fixture
def small_tiles(monkeypatch):
    """Blocks of 3 rows and vocabulary tiles of 4 ids: every pass crosses both."""
    monkeypatch.setattr(projection_calls, "ROW_BLOCK", 3)
    monkeypatch.setattr(projection_calls, "TILE_ELEMENTS", 12)


def _case(seed=0, n=5, h=4, vp=7, vq=9):
    rng = np.random.default_rng(seed)
    return {
        "hp": rng.normal(size=(n, h)),
        "wp": rng.normal(size=(vp, h)),
        "bp": rng.normal(size=vp),
        "hq": rng.normal(size=(n, h)),
        "wq": rng.normal(size=(vq, h)),
        "bq": rng.normal(size=vq),
    }


P_OPTS = {"logit_scale": 1.3, "softcap": 4.0}
MASK = np.array([True, False, True, True, True])


def _ref(kind, c, temperature=None, beta=None):
    vocab = max(c["wp"].shape[0], c["wq"].shape[0])
    zp = logits64(c["hp"], c["wp"], c["bp"], 1.3, 4.0, vocab)
    zq = logits64(c["hq"], c["wq"], c["bq"], vocab=vocab)
    if kind == "js":
        return js64(zp, zq, beta, temperature)
    return REFS[kind](zp, zq, temperature)


def _kw(kind, beta=0.3):
    return {"beta": beta} if kind == "js" else {}


@pytest.mark.parametrize("kind", ["kl", "ce", "js"])
def test_values_against_float64_and_the_dense_path(backend, kind, small_tiles) -> None:
    """Every backend: the materialised float64 formula, and our dense path on ``h @ W.T``."""
    c = _case()
    a = {k: backend.asarray(v) for k, v in c.items()}
    p = ProjectedLogits(a["hp"], a["wp"], a["bp"], **P_OPTS)
    q = ProjectedLogits(a["hq"], a["wq"], a["bq"])
    mask = backend.namespace.asarray(MASK)
    if backend.impl.lazy:
        with pytest.raises(TypeError, match="lazy"):
            FNS[kind](p, q, inputs="logits")
        return
    out = FNS[kind](p, q, inputs="logits", temperature=1.5, where=mask, **_kw(kind))
    expected = np.where(MASK, _ref(kind, c, 1.5, 0.3), 0.0)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-10, atol=1e-12)
    vocab = c["wq"].shape[0]
    zp = backend.asarray(logits64(c["hp"], c["wp"], c["bp"], 1.3, 4.0, vocab))
    zq = backend.asarray(logits64(c["hq"], c["wq"], c["bq"]))
    dense = FNS[kind](zp, zq, inputs="logits", temperature=1.5, where=mask, **_kw(kind))
    np.testing.assert_allclose(backend.to_numpy(out), backend.to_numpy(dense), rtol=1e-12)
    mixed = FNS[kind](p, zq, inputs="logits", temperature=1.5, where=mask, **_kw(kind))
    np.testing.assert_allclose(backend.to_numpy(mixed), expected, rtol=1e-10, atol=1e-12)


def _tanh(xp, x):
    fn = getattr(xp, "tanh", None)
    if fn is not None:
        return fn(x)
    e = xp.exp(-2 * x)
    return (1 - e) / (1 + e)


def _materialised(xp, h, w, b, vocab, scale=None, cap=None):
    """The logits in the framework's own operations (autodiff: the reference gradient)."""
    z = h @ xp.matrix_transpose(w) + b
    if scale is not None:
        z = z * scale
    if cap is not None:
        z = cap * _tanh(xp, z / cap)
    extra = vocab - w.shape[0]
    if extra:
        ninf = xp.asarray(-np.inf, dtype=z.dtype)
        z = xp.concat([z, xp.broadcast_to(ninf, (z.shape[0], extra))], axis=-1)
    return z


CASES = [("kl", "none"), ("ce", "mean"), ("js", "sum")]


@pytest.mark.parametrize(("kind", "reduction"), CASES)
def test_gradients_against_autodiff_of_the_materialised_formula(
    ad, dtype, kind, reduction, small_tiles
) -> None:
    """Hidden, weight and bias of both sides (vocabularies 7 and 9: the smaller side's
    missing ids are -inf), with temperature, a mask and soft-capping; the JSD under the
    compiled mode where it is in the matrix (``jax.jit``, ``tf.function``)."""
    c = _case()
    xp = ad.namespace
    args = [ad.asarray(c[k], dtype) for k in ("hp", "wp", "bp", "hq", "wq", "bq")]
    mask = xp.asarray(MASK)
    kw = {"inputs": "logits", "temperature": 1.5, "where": mask, "reduction": reduction}
    kw.update(_kw(kind))

    def ours(hp, wp, bp, hq, wq, bq):
        p = ProjectedLogits(hp, wp, bp, **P_OPTS)
        return FNS[kind](p, ProjectedLogits(hq, wq, bq), **kw)

    def materialised(hp, wp, bp, hq, wq, bq):
        zp = _materialised(xp, hp, wp, bp, 9, 1.3, 4.0)
        return FNS[kind](zp, _materialised(xp, hq, wq, bq, 9), **kw)

    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(ad.to_numpy(ours(*args)), ad.to_numpy(materialised(*args)), **tol)
    compiled = kind == "js" and ad.impl.compiled_in_matrix
    if compiled:
        run = ad.impl.compile(ours)
        np.testing.assert_allclose(ad.to_numpy(run(*args)), ad.to_numpy(ours(*args)), **tol)
    for g, r in zip(grad(ad, ours, args, compiled), grad(ad, materialised, args)):
        np.testing.assert_allclose(g, r, **tol)


def test_gradients_of_a_dense_side_and_a_projection(ad, dtype) -> None:
    """Dense logits (with -inf padding ids) against a projection: both gradients."""
    c = _case()
    zp = logits64(c["hp"], c["wp"], c["bp"], vocab=9)
    zp[:, 5:] = -np.inf  # the last ids: padding
    args = [ad.asarray(x, dtype) for x in (zp, c["hq"], c["wq"], c["bq"])]
    xp = ad.namespace

    def ours(zp, hq, wq, bq):
        return js_divergence(zp, ProjectedLogits(hq, wq, bq), inputs="logits", beta=0.7)

    def materialised(zp, hq, wq, bq):
        zq = _materialised(xp, hq, wq, bq, 9)
        return js_divergence(zp, zq, inputs="logits", beta=0.7)

    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(ad.to_numpy(ours(*args)), js64(zp, _ref_q(c), 0.7), **tol)
    for g, r in zip(grad(ad, ours, args), grad(ad, materialised, args)):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, r, **tol)


def _ref_q(c):
    return logits64(c["hq"], c["wq"], c["bq"])


def test_bfloat16_gradients_within_1e_2_of_float64(backend) -> None:
    """bfloat16 inputs: the matmul is done in float32, so the gradients are within 1e-2
    (relative norm) of float64 autodiff of the materialised formula on the same values."""
    if not backend.impl.autodiff or "bfloat16" not in backend.dtypes:
        pytest.skip("bfloat16 gradients need autodiff and bfloat16")
    c = _case(seed=3, n=16, h=64, vp=96, vq=96)
    c["wp"], c["wq"] = c["wp"] * 0.5, c["wq"] * 0.5
    keys = ("hp", "wp", "bp", "hq", "wq", "bq")
    low = [backend.asarray(c[k], "bfloat16") for k in keys]
    rounded = [backend.asarray(backend.to_numpy(x), "float64") for x in low]
    xp = backend.namespace

    def ours(hp, wp, bp, hq, wq, bq):
        p = ProjectedLogits(hp, wp, bp, softcap=30.0)
        return kl_divergence(p, ProjectedLogits(hq, wq, bq), inputs="logits", reduction="mean")

    def materialised(hp, wp, bp, hq, wq, bq):
        zp = _materialised(xp, hp, wp, bp, 96, cap=30.0)
        zq = _materialised(xp, hq, wq, bq, 96)
        return kl_divergence(zp, zq, inputs="logits", reduction="mean")

    for g, r in zip(grad(backend, ours, low), grad(backend, materialised, rounded)):
        assert np.linalg.norm(g - r) <= 1e-2 * np.linalg.norm(r)


def test_vocabularies_of_different_sizes() -> None:
    """The larger side's extra ids are impossible events in the smaller model (never 0):
    KL and cross-entropy are +inf where p gives them mass, the JSD finite."""
    c = _case()
    small = ProjectedLogits(c["hp"], c["wp"], c["bp"], **P_OPTS)  # 7 ids
    large = ProjectedLogits(c["hq"], c["wq"], c["bq"])  # 9 ids
    zs = logits64(c["hp"], c["wp"], c["bp"], 1.3, 4.0, vocab=9)
    zl = logits64(c["hq"], c["wq"], c["bq"])
    np.testing.assert_allclose(kl_divergence(small, large, inputs="logits"), kl64(zs, zl))
    assert np.all(kl_divergence(large, small, inputs="logits") == np.inf)
    assert np.all(cross_entropy(large, small, inputs="logits") == np.inf)
    np.testing.assert_allclose(js_divergence(large, small, inputs="logits"), js64(zl, zs))
    zero_padded = logits64(c["hp"], c["wp"], c["bp"], 1.3, 4.0)
    zero_padded = np.concatenate([zero_padded, np.zeros((5, 2))], axis=-1)
    assert not np.allclose(kl_divergence(small, large, inputs="logits"), kl64(zero_padded, zl))


def test_infinite_and_invalid_dense_logits(small_tiles) -> None:
    """-inf in the dense side: padding of p gives 0 terms; -inf in q where p > 0 gives +inf;
    a row of NaN gives NaN, a row of -inf NaN (as the dense path)."""
    c = _case()
    q = ProjectedLogits(c["hq"], c["wq"], c["bq"])
    zq = logits64(c["hq"], c["wq"], c["bq"])
    zp = zq[::-1].copy()
    zp[0, 6:] = -np.inf
    zp[1, :] = np.nan
    zp[2, :] = -np.inf
    expected = kl_divergence(zp, zq, inputs="logits")
    got = kl_divergence(zp, q, inputs="logits")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isnan(got[1]) and np.isnan(got[2]) and np.isfinite(got[0])
    zp2 = zq.copy()
    zp2[3, 2] = 1.0
    p = ProjectedLogits(c["hp"], c["wp"], c["bp"])
    dense_q = logits64(c["hp"], c["wp"], c["bp"], vocab=9)
    np.testing.assert_allclose(kl_divergence(zp2, p, inputs="logits"), kl64(zp2, dense_q))
    assert np.all(kl_divergence(zp2, p, inputs="logits") == np.inf)  # ids 7, 8 have mass


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, None])
def test_beta_and_its_limits(beta, small_tiles) -> None:
    c = _case()
    p = ProjectedLogits(c["hp"], c["wp"], c["bp"], **P_OPTS)
    q = ProjectedLogits(c["hq"], c["wq"], c["bq"])
    out = js_divergence(p, q, inputs="logits", beta=beta, temperature=0.7)
    np.testing.assert_allclose(out, _ref("js", c, 0.7, beta), rtol=1e-10)


def test_masked_rows_hold_nan_and_give_zero_gradients(ad, dtype) -> None:
    """Rows where ``where`` is False: value 0, nothing of them (NaN) in any gradient."""
    c = _case()
    expected = np.mean(_ref_plain("kl", c)[MASK])
    c["hp"][1] = np.nan
    c["hq"][1] = np.inf
    args = [ad.asarray(c[k], dtype) for k in ("hp", "wp", "bp", "hq", "wq", "bq")]
    mask = ad.namespace.asarray(MASK)

    def ours(hp, wp, bp, hq, wq, bq):
        p, q = ProjectedLogits(hp, wp, bp), ProjectedLogits(hq, wq, bq)
        return kl_divergence(p, q, inputs="logits", where=mask, reduction="mean")

    tol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(ad.to_numpy(ours(*args)), expected, rtol=tol)
    grads = grad(ad, ours, args)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(grads[0][1] == 0) and np.all(grads[3][1] == 0)


def _ref_plain(kind, c):
    zp = logits64(c["hp"], c["wp"], c["bp"], vocab=9)
    return REFS[kind](zp, logits64(c["hq"], c["wq"], c["bq"]))


def test_reductions_keepdims_base_and_batch_shapes() -> None:
    rng = np.random.default_rng(1)
    h, w = rng.normal(size=(2, 3, 4)), rng.normal(size=(6, 4))
    ht = rng.normal(size=(2, 3, 4))
    p, q = ProjectedLogits(ht, w), ProjectedLogits(h, w)
    ref = kl64(logits64(ht, w), logits64(h, w))
    out = kl_divergence(p, q, inputs="logits", keepdims=True, base=2)
    assert out.shape == (2, 3, 1)
    np.testing.assert_allclose(out[..., 0], ref / np.log(2))
    s = kl_divergence(p, q, inputs="logits", reduction="sum", keepdims=True)
    assert s.shape == (1, 1, 1)
    np.testing.assert_allclose(s.ravel(), ref.sum())
    mask = np.array([[True, False, True], [False, False, True]])
    m = kl_divergence(p, q, inputs="logits", reduction="mean", where=mask)
    np.testing.assert_allclose(m, ref[mask].mean())
    one = kl_divergence(ProjectedLogits(ht[0, 0], w), ProjectedLogits(h[0, 0], w), inputs="logits")
    assert np.shape(one) == ()
    np.testing.assert_allclose(one, ref[0, 0])
    empty = ProjectedLogits(np.zeros((0, 4)), w)
    assert kl_divergence(empty, empty, inputs="logits").shape == (0,)
    assert np.isnan(kl_divergence(empty, empty, inputs="logits", reduction="mean"))


def test_take_and_log_normalizer_values(backend) -> None:
    c = _case()
    a = {k: backend.asarray(v) for k, v in c.items()}
    p = ProjectedLogits(a["hp"], a["wp"], a["bp"], **P_OPTS)
    assert p.vocab_size == 7 and p.batch_shape == (5,)
    if backend.impl.lazy:
        with pytest.raises(TypeError, match="lazy"):
            p.log_normalizer()
        return
    ids = np.array([[0, 6], [3, 3], [1, 2], [5, 0], [4, 4]])
    z = logits64(c["hp"], c["wp"], c["bp"], 1.3, 4.0) / 2.0
    got = p.take(backend.namespace.asarray(ids), temperature=2.0)
    np.testing.assert_allclose(backend.to_numpy(got), np.take_along_axis(z, ids, -1), rtol=1e-12)
    lse = z - log_softmax64(z)
    np.testing.assert_allclose(backend.to_numpy(p.log_normalizer(2.0)), lse[:, 0], rtol=1e-12)


def test_log_normalizer_and_take_gradients(ad, dtype) -> None:
    c = _case()
    args = [ad.asarray(c[k], dtype) for k in ("hp", "wp", "bp")]
    xp = ad.namespace
    ids = xp.asarray(np.array([[0, 6], [3, 3], [1, 2], [5, 0], [4, 4]]))

    def ours(h, w, b):
        p = ProjectedLogits(h, w, b, **P_OPTS)
        return p.log_normalizer(1.5) + xp.sum(p.take(ids, 1.5), axis=-1)

    def materialised(h, w, b):
        z = _materialised(xp, h, w, b, 7, 1.3, 4.0) / 1.5
        m = xp.max(z, axis=-1, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(z - m), axis=-1)) + m[:, 0]
        onehot = xp.asarray(np.eye(7)[np.asarray([[0, 6], [3, 3], [1, 2], [5, 0], [4, 4]])])
        picked = xp.sum(xp.astype(onehot, z.dtype) * xp.expand_dims(z, axis=1), axis=-1)
        return lse + xp.sum(picked, axis=-1)

    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(ad.to_numpy(ours(*args)), ad.to_numpy(materialised(*args)), **tol)
    for g, r in zip(grad(ad, ours, args), grad(ad, materialised, args)):
        np.testing.assert_allclose(g, r, **tol)


def test_torch_compile() -> None:
    torch = need("torch")
    c = _case()
    args = [torch.tensor(c[k], requires_grad=True) for k in ("hp", "wp", "hq", "wq")]

    def ours(hp, wp, hq, wq):
        p, q = ProjectedLogits(hp, wp, softcap=3.0), ProjectedLogits(hq, wq)
        return kl_divergence(p, q, inputs="logits", reduction="sum")

    compiled = torch.compile(ours, fullgraph=True, dynamic=False)
    got = compiled(*args)
    grads = torch.autograd.grad(got, args)
    want = ours(*args)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    for g, r in zip(grads, torch.autograd.grad(want, args)):
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)


def test_second_backward_is_refused() -> None:
    torch = need("torch")
    c = _case()
    h = torch.tensor(c["hq"], requires_grad=True)
    p = ProjectedLogits(torch.tensor(c["hp"]), torch.tensor(c["wp"]))
    q = ProjectedLogits(h, torch.tensor(c["wq"]))
    loss = kl_divergence(p, q, inputs="logits", reduction="mean")
    (g,) = torch.autograd.grad(loss, h, retain_graph=True)
    assert bool(torch.isfinite(g).all()) and bool((g != 0).any())
    with pytest.raises(RuntimeError):  # the gradient computed in the forward is used once
        torch.autograd.grad(loss, h)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        loss2 = kl_divergence(p, q, inputs="logits")
        torch.autograd.grad(loss2.sum(), h, create_graph=True)


def test_errors() -> None:
    c = _case()
    p = ProjectedLogits(c["hp"], c["wp"])
    q = ProjectedLogits(c["hq"], c["wq"])
    with pytest.raises(ValueError, match="inputs='logits'"):
        kl_divergence(p, q)
    with pytest.raises(ValueError, match="axis must be -1"):
        kl_divergence(p, q, inputs="logits", axis=0)
    with pytest.raises(ValueError, match="one batch shape"):
        kl_divergence(p, ProjectedLogits(c["hq"][:3], c["wq"]), inputs="logits")
    with pytest.raises(ValueError, match="weight must be"):
        ProjectedLogits(c["hp"], c["wp"][:, :3])
    with pytest.raises(ValueError, match="bias must be"):
        ProjectedLogits(c["hp"], c["wp"], c["bq"])
    with pytest.raises(ValueError, match="softcap"):
        ProjectedLogits(c["hp"], c["wp"], softcap=0.0)
    with pytest.raises(TypeError, match="hidden must be an array"):
        ProjectedLogits(c["hp"].tolist(), c["wp"])
    with pytest.raises(TypeError, match="temperature must be a Python number"):
        kl_divergence(p, q, inputs="logits", temperature=np.asarray(2.0))
    with pytest.raises(ValueError, match="validate"):
        kl_divergence(p, q, inputs="logits", validate=True)
    with pytest.raises(TypeError, match="ids must be an integer"):
        p.take(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="ids must be"):
        p.take(np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="real floating"):
        kl_divergence(ProjectedLogits(c["hp"].astype(np.int64), c["wp"]), q, inputs="logits")
    torch = need("torch")
    with pytest.raises(TypeError, match="one array library"):
        kl_divergence(p, ProjectedLogits(torch.tensor(c["hq"]), c["wq"]), inputs="logits")
