"""``KLStats``: every statistic against float64 NumPy, merging, Dask chunks, no host sync."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from conftest import need
from kl_backends import KLStats
from kl_backends.evaluation import _moments
from kl_backends.evaluation._sketch import Sketch
from kl_backends.pytest_plugin import target_params

ALPHA = 1e-3
QS = (0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "compiled_on" in metafunc.fixturenames:  # jax.jit, tf.function: one case each
        metafunc.parametrize("compiled_on", target_params(metafunc.config, "compiled_in_matrix"))


def _kl_values(n: int = 400, seed: int = 0) -> np.ndarray:
    """KL-like values over eight decades, exact zeros and tiny negative rounding values."""
    rng = np.random.default_rng(seed)
    x = np.exp(rng.uniform(np.log(1e-7), np.log(20.0), n))
    x[:20] = 0.0
    x[20:30] = -rng.uniform(0, 1e-10, 10)
    return rng.permutation(x)


def _reference(x: np.ndarray) -> dict:
    """The float64 NumPy statistics of the values ``x`` (already masked)."""
    n = x.size
    return {
        "count": n,
        "mean": x.mean(),
        "std": x.std(ddof=1),
        "sem": x.std(ddof=1) / math.sqrt(n),
        "min": x.min(),
        "max": x.max(),
        "quantiles": {q: np.quantile(x, q) for q in QS},
    }


def _sketch_bound(x: np.ndarray, q: float) -> float:
    """How far a sketch quantile may be from np.quantile: the bound on each of the two
    order statistics it interpolates (relative alpha, absolute min_value near 0)."""
    s = np.sort(x)
    j = math.floor(q * (x.size - 1))
    k = min(j + 1, x.size - 1)
    return ALPHA * max(abs(s[j]), abs(s[k])) * (1 + 1e-6) + 1e-9


def _feed(stats: KLStats, on, x: np.ndarray, mask: np.ndarray) -> KLStats:
    """Three uneven batches of shape [k, 2]."""
    for xs, ms in zip(np.split(x, [100, 260]), np.split(mask, [100, 260])):
        stats.update(on.asarray(xs.reshape(-1, 2), "float64"), _mask(on, ms.reshape(-1, 2)))
    return stats


def _mask(on, m: np.ndarray):
    return on.asarray(m.astype(np.float64), "float64") > 0.5  # a bool array of the backend


def _check(r, ref: dict, exact: bool, x: np.ndarray) -> None:
    assert r.count == ref["count"] and r.nan_count == 0
    for name in ("mean", "std", "sem", "min", "max"):
        np.testing.assert_allclose(getattr(r, name), ref[name], rtol=1e-9, atol=1e-15, err_msg=name)
    assert r.quantile_method == ("exact" if exact else "sketch")
    for q in QS:
        if exact:  # (atol: the values' own rounding, as for min and max above)
            np.testing.assert_allclose(r.quantiles[q], ref["quantiles"][q], rtol=1e-12, atol=1e-15)
        else:
            assert abs(r.quantiles[q] - ref["quantiles"][q]) <= _sketch_bound(x, q), q


def test_statistics_match_float64_numpy(backend) -> None:
    x = _kl_values()
    mask = np.random.default_rng(1).random(x.size) > 0.1
    for exact in (True, False):
        r = _feed(KLStats(exact=exact), backend, x, mask).result(QS)
        _check(r, _reference(x[mask]), exact, x[mask])
        assert r.top1_agreement is None and r.logits_count == 0


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _logits_reference(b, o, mask, targets=None, temperature=1.0) -> dict:
    lb, lo = _log_softmax(b / temperature), _log_softmax(o / temperature)
    with np.errstate(invalid="ignore"):  # -inf - -inf where both are impossible: term 0
        kl = np.where(lb > -np.inf, np.exp(lb) * (lb - lo), 0.0).sum(axis=-1)
    tok = b.argmax(axis=-1) if targets is None else targets
    pick = lambda lp: np.take_along_axis(lp, tok[..., None], axis=-1)[..., 0]  # noqa: E731
    dp = np.exp(pick(lo)) - np.exp(pick(lb))
    same = b.argmax(-1) == o.argmax(-1)
    return {"kl": kl[mask], "dp": dp[mask], "same": same[mask]}


def _check_logits(r, ref: dict) -> None:
    _check(r, _reference(ref["kl"]), True, ref["kl"])
    dp, n = ref["dp"], ref["dp"].size
    p = ref["same"].mean()
    assert r.logits_count == n
    np.testing.assert_allclose(r.top1_agreement, p, rtol=1e-12)
    np.testing.assert_allclose(r.top1_sem, math.sqrt(p * (1 - p) / (n - 1)), rtol=1e-12)
    np.testing.assert_allclose(r.delta_p_mean, dp.mean(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(r.delta_p_sem, dp.std(ddof=1) / math.sqrt(n), rtol=1e-6)
    rms = math.sqrt((dp**2).mean())
    np.testing.assert_allclose(r.delta_p_rms, rms, rtol=1e-6)
    se2 = (dp**2).std(ddof=1) / math.sqrt(n)
    np.testing.assert_allclose(r.delta_p_rms_sem, 0.5 / rms * se2, rtol=1e-6)  # llama.cpp's
    np.testing.assert_allclose([r.delta_p_min, r.delta_p_max], [dp.min(), dp.max()], rtol=1e-6)
    for q, v in r.delta_p_quantiles.items():
        np.testing.assert_allclose(v, np.quantile(dp, q), rtol=1e-6, atol=1e-12)


def test_logits_statistics_match_float64_numpy(backend) -> None:
    rng = np.random.default_rng(2)
    b = 3 * rng.normal(size=(4, 6, 17))
    o = b + rng.normal(size=b.shape)
    b[0, 0, :3] = o[0, 0, :3] = -np.inf  # impossible tokens under both models
    b[1, 1] = o[1, 1]  # identical rows: KL 0 (or rounding)
    mask = rng.random((4, 6)) > 0.2
    for ids in (None, rng.integers(3, 17, size=(4, 6))):
        stats = KLStats(exact=True)
        for s in (slice(0, 2), slice(2, 4)):
            stats.update_logits(
                backend.asarray(b[s]),
                backend.asarray(o[s]),
                _mask(backend, mask[s]),
                temperature=1.5,
                targets=None if ids is None else _ids(backend, ids[s]),
                upcast=True,
            )
        r = stats.result(QS)
        _check_logits(r, _logits_reference(b, o, mask, ids, temperature=1.5))
        assert r.delta_p_of == ("base top" if ids is None else "target")


def _ids(on, ids: np.ndarray):
    """Integer ids as the backend's array (through its float64 path: exact for small ids)."""
    x = on.asarray(ids.astype(np.float64), "float64")
    xp = on.namespace
    index = xp.__array_namespace_info__().default_dtypes()["indexing"]
    return xp.astype(x, index)


def _same_state(a: KLStats, b: KLStats) -> None:
    """Equal counts and histograms (exactly), sums and M2 (to rounding)."""
    da, db = a.to_dict(), b.to_dict()
    for key in ("kl", "dp", "dp2", "top"):
        if da[key] is None or db[key] is None:
            assert da[key] is db[key] is None
            continue
        for field, va in da[key].items():
            vb = db[key][field]
            if field in ("s", "m2"):  # the compensated totals
                total_a, total_b = va + da[key][field + "_c"], vb + db[key][field + "_c"]
                np.testing.assert_allclose(total_a, total_b, rtol=1e-12, err_msg=field)
            elif field in ("max", "min"):
                assert va == vb, (key, field)
            elif not field.endswith("_c"):
                assert va == vb, (key, field)


def test_merge_is_associative_and_equals_one_pass() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(size=(12, 9))
    o = b + 0.5 * rng.normal(size=b.shape)
    parts = [KLStats().update_logits(b[i : i + 4], o[i : i + 4]) for i in (0, 4, 8)]
    one = KLStats().update_logits(b, o)
    left = (parts[0] + parts[1]) + parts[2]
    right = parts[0] + (parts[1] + parts[2])
    _same_state(left, one)
    _same_state(right, one)
    _same_state(sum(parts), one)
    # In place, and through JSON and pickle (other processes).
    merged = KLStats()
    for p in parts:
        merged.merge(KLStats.from_dict(json.loads(json.dumps(p.to_dict()))))
    _same_state(merged, one)
    _same_state(pickle.loads(pickle.dumps(one)), one)
    assert (parts[0] + KLStats()).result() == parts[0].result()


def test_exact_values_survive_merging_until_they_no_longer_fit() -> None:
    x = _kl_values(60)
    a = KLStats(exact=True, max_exact=50).update(x[:30])
    b = KLStats(exact=True, max_exact=50).update(x[30:45])
    assert (a + b).result().quantile_method == "exact"
    np.testing.assert_allclose((a + b).result(QS).quantiles[0.5], np.quantile(x[:45], 0.5))
    assert (
        a + b + KLStats(exact=True, max_exact=50).update(x[45:])
    ).result().quantile_method == "sketch"
    assert KLStats(exact=True, max_exact=50).update(x).result().quantile_method == "sketch"
    restored = KLStats.from_dict(json.loads(json.dumps((a + b).to_dict())))
    assert restored.result() == (a + b).result()


def test_dask_chunks_map_then_merge() -> None:
    dask = need("dask")
    da = need("dask.array")
    x = _kl_values(300)
    arr = da.from_array(x, chunks=70)
    parts = [dask.delayed(lambda blk: KLStats().update(blk))(blk) for blk in arr.to_delayed()]
    total = dask.delayed(sum)(parts).compute(scheduler="sync")
    _same_state(total, KLStats().update(x))
    _check(total.result(QS), _reference(x), False, x)


def test_dask_arrays_stay_lazy() -> None:
    dask = need("dask")
    da = need("dask.array")
    x = _kl_values(100)

    def refuse(*args, **kwargs):
        raise AssertionError("an update computed a Dask graph")

    stats = KLStats(exact=True)
    with dask.config.set(scheduler=refuse):
        stats.update(da.from_array(x, chunks=30))
        stats.update(da.from_array(x[:10], chunks=5), da.from_array(x[:10] > 1e-3, chunks=5))
    keep = np.concatenate([x, x[:10][x[:10] > 1e-3]])
    _check(stats.result(QS), _reference(keep), True, keep)


def test_the_update_step_compiles(compiled_on) -> None:
    """The state update is a pure array function: under jax.jit / tf.function it gives
    the state NumPy gives (the values cannot be read there)."""
    xp = compiled_on.namespace
    sketch = Sketch(0.01, 1e-9, 1e3)
    x = _kl_values(64)
    x[5] = np.nan
    valid = x > -1.0  # NaN is not > -1: counted as excluded, not as NaN
    on_numpy = (np, x, valid, None)
    on_target = (xp, compiled_on.asarray(x, "float64"), _mask(compiled_on, valid), None)
    states = []
    for lib, xa, va, device in (on_numpy, on_target):
        dtype = _moments.work_dtype(lib, device)
        const = sketch.constants(lib, dtype, device)

        def step(state, values, mask, lib=lib, const=const):
            return _moments.step(lib, sketch, state, values, mask, const)

        first = _moments.empty(lib, sketch, dtype, device)
        if lib is np:
            states.append(step(step(first, xa, va), xa, va))
        else:
            run = compiled_on.impl.compile(step)
            states.append(run(run(first, xa, va), xa, va))
    for key in _moments.FIELDS:
        got = compiled_on.to_numpy(states[1][key])
        np.testing.assert_allclose(got, states[0][key], rtol=1e-12, err_msg=key)
    assert int(states[0]["n"]) == 2 * int(valid.sum()) and int(states[0]["nan"]) == 0


def test_torch_updates_read_no_values() -> None:
    """On PyTorch's meta device tensors have no values: any read would raise."""
    torch = need("torch")
    meta = torch.device("meta")
    b = torch.empty((3, 5, 11), device=meta)
    mask = torch.empty((3, 5), dtype=torch.bool, device=meta)
    ids = torch.empty((3, 5), dtype=torch.int64, device=meta)
    stats = KLStats(exact=True)
    stats.update_logits(b, b, mask, targets=ids, temperature=2.0)
    stats.update_logits(b, b, upcast=True)
    stats.update(torch.empty((4, 5), device=meta), mask[:1])
    stats = stats + KLStats().update(torch.empty(7, device=meta))
    state = [*stats._parts["kl"].values(), *stats._parts["dp"].values(), *stats._top.values()]
    assert all(t.device == meta for t in state)
    assert stats._parts["kl"]["s"].dtype == torch.float64


def test_nan_values_are_counted_apart() -> None:
    x = np.array([0.1, np.nan, 0.3, 0.2, np.nan])
    r = KLStats().update(x).result()
    assert (r.count, r.nan_count) == (3, 2)
    assert all(math.isnan(v) for v in (r.mean, r.std, r.max, *r.quantiles.values()))
    r = KLStats().update(x).result(omit_nan=True)
    np.testing.assert_allclose([r.mean, r.max, r.min], [0.2, 0.3, 0.1])


def test_infinite_kl_gives_infinite_mean_and_max() -> None:
    r = KLStats(exact=True).update(np.array([0.5, np.inf, 1.0])).result()
    assert r.mean == math.inf and r.max == math.inf and math.isnan(r.std)
    r = KLStats().update(np.array([0.5, np.inf, 1.0])).result()
    assert r.quantiles[0.999] == math.inf


def test_targets_outside_the_vocabulary_give_nan() -> None:
    b = np.zeros((2, 4))
    r = KLStats().update_logits(b, b, targets=np.array([1, 4])).result()
    assert r.delta_p_nan_count == 1 and math.isnan(r.delta_p_mean)
    assert r.count == 2 and r.mean == 0.0 and r.top1_agreement == 1.0


def test_the_fallback_count_agrees_with_sort_and_searchsorted() -> None:
    """The one-hot count (namespaces without searchsorted) gives the same buckets."""
    sketch = Sketch(0.01, 1e-9, 1e3)
    x = np.concatenate([_kl_values(500), -_kl_values(100, seed=5), [1e4, -1e4, np.nan]])
    valid = np.random.default_rng(6).random(x.size) > 0.2
    const = sketch.constants(np, np.float64, None)
    counted = valid & ~np.isnan(x)
    sorted_ = sketch._count_sorted(np, x, counted, const)
    onehot = sketch._count_onehot(np, x, counted, const)
    np.testing.assert_array_equal(onehot, sorted_)
    assert sorted_.sum() == counted.sum()
    assert (sorted_[0], sorted_[-1]) == (valid[-2], valid[-3])  # -1e4 and 1e4: overflow


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="relative_accuracy"):
        KLStats(relative_accuracy=0.7)
    with pytest.raises(ValueError, match="min_value"):
        KLStats(min_value=1.0, max_value=0.5)
    with pytest.raises(TypeError, match="where must be a boolean"):
        KLStats().update(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="broadcast"):
        KLStats().update(np.ones(3), np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="one shape"):
        KLStats().update_logits(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(TypeError, match="integer token ids"):
        KLStats().update_logits(np.ones((2, 3)), np.ones((2, 3)), targets=np.ones(2))
    with pytest.raises(ValueError, match="other settings"):
        KLStats().merge(KLStats(relative_accuracy=0.01))
    with pytest.raises(ValueError, match="to_dict"):
        KLStats.from_dict({"format": "something else"})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        KLStats().result([1.5])
    with pytest.raises(TypeError, match="upcast"):
        KLStats().update_logits(np.ones((2, 3)), np.ones((2, 3)), upcast="yes")


def test_a_numpy_state_moves_to_the_batches_library() -> None:
    torch = need("torch")
    restored = KLStats.from_dict(KLStats().update(np.array([0.25, 0.5])).to_dict())
    restored.update(torch.tensor([0.75, 1.0], dtype=torch.float64))
    np.testing.assert_allclose(restored.result().mean, 0.625)
    assert isinstance(restored._parts["kl"]["s"], torch.Tensor)
    with pytest.raises(TypeError, match="torch arrays"):
        restored.update(need("jax.numpy").ones(2))


def test_result_renders_as_markdown_and_json() -> None:
    b = np.random.default_rng(7).normal(size=(20, 5))
    r = KLStats().update_logits(b, b[::-1]).result()
    text = r.to_markdown()
    assert "| mean ± SE |" in text and "| p99.9 (sketch, within 0.1%) |" in text
    assert "| same top token |" in text and "RMS Δp" in text
    data = json.loads(json.dumps(r.to_dict()))
    assert data["count"] == 20 and set(data["quantiles"]) == {"p50", "p90", "p95", "p99", "p99.9"}
