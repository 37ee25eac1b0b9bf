"""``benchmarks/gpu.py``, the GPU check: what it runs and writes, checked without a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> object:
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_steps(tmp_path: Path) -> None:
    gpu = _script()
    steps = gpu.steps(tmp_path, "python")  # type: ignore[attr-defined]
    names = [name for name, _, _ in steps]
    assert names == [
        "pytest_triton.txt", "pytest_gpu.txt", "parity.txt", "bench.txt", "bench_logits.txt",
    ]  # fmt: skip
    triton_cmd, extra = steps[0][1], steps[0][2]
    # Compiled for the GPU, not interpreted; every Triton test file.
    assert extra == {"TRITON_INTERPRET": "0"}
    wanted = sorted(p.name for p in (ROOT / "tests" / "kernels").glob("test_triton_*.py"))
    assert sorted(Path(a).name for a in triton_cmd if a.endswith(".py")) == wanted
    assert len(wanted) == 2
    parity = steps[2][1]
    assert parity[parity.index("--backends") + 1] == "torch,jax,cupy"
    for _, cmd, _ in steps[3:]:  # the benchmark tables, into the same folder
        assert "benchmarks/bench_kl.py" in cmd and cmd[cmd.index("--out") + 1] == str(tmp_path)


def test_the_table() -> None:
    gpu = _script()
    rows = [{"what": "x", "shape": [8192, 128256], "dtype": "bfloat16", "ms": 12.345,
             "peak_mib": 2048.4}]  # fmt: skip
    table = gpu.markdown(rows, "Some GPU")  # type: ignore[attr-defined]
    assert table.startswith("Device: Some GPU.")
    assert "| x | 8192x128256 | bfloat16 | 12.35 ms | 2048 MiB |" in table.splitlines()


def test_without_a_gpu_it_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run for real")
    gpu = _script()
    assert gpu.main(["--out", str(tmp_path / "gpu")]) == 2  # type: ignore[attr-defined]
    assert "no CUDA device" in capsys.readouterr().out
    assert not (tmp_path / "gpu").exists()
