"""``kl-backends compare``: a tiny randomly initialised transformers model in float32
against the same weights in bfloat16, its logits saved in every format the command
reads, the JSON report checked against float64 statistics computed here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import need
from kl_backends.parity.cli import main

VOCAB = 101


@pytest.fixture(scope="module")
def logits(tmp_path_factory):
    """``(folder, base float32 [3, 16, V], other bfloat16 as float32, input ids)``."""
    torch = need("torch")
    transformers = need("transformers")
    need("safetensors")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        initializer_range=0.5,  # logits of a few units: bfloat16 changes them visibly
    )
    model = transformers.LlamaForCausalLM(config).eval()
    low = transformers.LlamaForCausalLM(config).eval()
    low.load_state_dict(model.state_dict())
    low = low.to(torch.bfloat16)
    ids = torch.randint(0, VOCAB, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = model(ids).logits
        other = low(ids).logits  # bfloat16
    folder = tmp_path_factory.mktemp("logits")
    np.save(folder / "base.npy", base.numpy())
    save_file({"logits": other.contiguous()}, str(folder / "other.safetensors"))
    torch.save(other, folder / "other.pt")
    np.savez(folder / "other.npz", logits=other.float().numpy(), ids=ids.numpy())
    np.save(folder / "ids.npy", ids.numpy())
    np.save(folder / "mask.npy", (np.arange(16) < np.array([[16], [11], [7]])).astype(np.int64))
    for name, arr in (("base", base.numpy()), ("other", other.float().numpy())):
        (folder / name).mkdir()
        np.save(folder / name / "part-0.npy", arr[:2])
        np.save(folder / name / "part-1.npy", arr[2:])
    return folder, base.double().numpy(), other.double().numpy(), ids.numpy()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _expected(b: np.ndarray, o: np.ndarray, mask: np.ndarray, tok: np.ndarray) -> dict:
    """The statistics of the masked positions, float64 NumPy (llama.cpp's definitions)."""
    lb, lo = _log_softmax(b), _log_softmax(o)
    kl = (np.exp(lb) * (lb - lo)).sum(-1)[mask]
    pick = lambda lp: np.take_along_axis(lp, tok[..., None], axis=-1)[..., 0][mask]  # noqa: E731
    dp = np.exp(pick(lo)) - np.exp(pick(lb))
    n = kl.size
    same = (b.argmax(-1) == o.argmax(-1))[mask].mean()
    return {
        "count": n,
        "mean": kl.mean(),
        "std": kl.std(ddof=1),
        "sem": kl.std(ddof=1) / math.sqrt(n),
        "max": kl.max(),
        "min": kl.min(),
        "quantiles": {f"p{q:g}": np.quantile(kl, q / 100) for q in (50, 90, 95, 99, 99.9)},
        "top1_agreement": same,
        "delta_p_mean": dp.mean(),
        "delta_p_rms": math.sqrt((dp**2).mean()),
        "delta_p_max": dp.max(),
        "delta_p_min": dp.min(),
    }


def _run(args: list[str], out) -> dict:
    assert main(["compare", *args, "--format", "json", "--output", str(out), "-q"]) == 0
    return json.loads(out.read_text())


def _check(report: dict, expected: dict, float64: bool) -> None:
    r = report["result"]
    # The command computes in float32 unless --float64: the log-softmax rounds to ~1e-7.
    tol = {"rtol": 1e-9, "atol": 1e-12} if float64 else {"rtol": 2e-3, "atol": 2e-6}
    assert r["count"] == expected["count"] and r["nan_count"] == 0
    assert r["quantile_method"] == "exact"
    for name in ("mean", "std", "sem", "max", "min", "top1_agreement"):
        np.testing.assert_allclose(r[name], expected[name], err_msg=name, **tol)
    for name in ("delta_p_mean", "delta_p_rms", "delta_p_max", "delta_p_min"):
        np.testing.assert_allclose(r[name], expected[name], err_msg=name, rtol=1e-4, atol=1e-6)
    for q, v in expected["quantiles"].items():
        np.testing.assert_allclose(r["quantiles"][q], v, err_msg=q, **tol)
    assert 0.0 < r["mean"] and r["top1_agreement"] > 0.5  # bfloat16 moves the logits a bit


def test_npy_against_safetensors_with_tokens_and_mask(logits, tmp_path) -> None:
    folder, b, o, ids = logits
    mask = np.load(folder / "mask.npy").astype(bool)
    nxt = np.concatenate([ids[:, 1:], ids[:, :1]], axis=1)
    keep = mask.copy()
    keep[:, -1] = False
    args = [str(folder / "base.npy"), str(folder / "other.safetensors"), "--device", "cpu"]
    args += ["--tokens", str(folder / "ids.npy"), "--mask", str(folder / "mask.npy")]
    report = _run([*args, "--batch-size", "20", "--float64"], tmp_path / "r.json")
    _check(report, _expected(b, o, keep, nxt), float64=True)
    assert report["result"]["delta_p_of"] == "target" and report["tokens"] == 48
    # --pad-id leaves out the positions whose next token is that id.
    pad = int(nxt[0, 3])
    report = _run([*args, "--pad-id", str(pad), "--float64"], tmp_path / "p.json")
    _check(report, _expected(b, o, keep & (nxt != pad), nxt), float64=True)


@pytest.mark.parametrize("other", ["other.pt", "other.npz::logits", "other"])
def test_every_format_in_float32(logits, tmp_path, other: str) -> None:
    folder, b, o, _ = logits
    base = "base" if other == "other" else "base.npy"  # directories of shards, by name
    report = _run(
        [str(folder / base), str(folder / other), "--batch-size", "7"], tmp_path / "r.json"
    )
    _check(report, _expected(b, o, np.ones(b.shape[:-1], bool), b.argmax(-1)), float64=False)
    assert report["result"]["delta_p_of"] == "base top"


def test_markdown_report_plot_and_progress(logits, tmp_path, capsys, monkeypatch) -> None:
    need("matplotlib")
    folder, *_ = logits
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # the plain progress line
    plot = tmp_path / "kl.png"
    args = [str(folder / "base.npy"), str(folder / "other.npz::logits"), "--plot", str(plot)]
    assert main(["compare", *args, "--exact", "0", "--temperature", "2"]) == 0
    out, err = capsys.readouterr()
    assert "| mean ± SE |" in out and "(sketch, within 0.1%)" in out and "temperature 2" in out
    assert "compare: 48/48 positions (100%)" in err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["base.npy", "missing.npy"], "no such file"),
        (["base", "base.npy"], "do not match by name"),
        (["base.npy", "other.npz"], "name one as"),
        (["base.npy", "ids.npy"], "differ"),
        (["base.npy", "base.npy", "--pad-id", "3"], "--pad-id needs --tokens"),
        (["base.npy", "base.npy", "--mask", "base.npy"], "the logits' positions are"),
    ],
)
def test_bad_inputs_exit_2(logits, capsys, args: list[str], message: str) -> None:
    folder, *_ = logits
    paths = [str(folder / a) if a.endswith((".npy", ".npz")) or a == "base" else a for a in args]
    assert main(["compare", *paths, "-q"]) == 2
    assert message in capsys.readouterr().err
