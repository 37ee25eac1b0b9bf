"""README's examples and the docstring examples run, and say what they claim."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from kl_backends._math import categorical as _divergence

README = Path(__file__).parents[2] / "README.md"


def test_docstring_examples() -> None:
    result = doctest.testmod(_divergence)
    assert result.attempted >= 3 and result.failed == 0


def test_readme_examples_per_backend() -> None:
    for module in ("torch", "tensorflow", "jax", "dask"):
        need(module)
    text = README.read_text()
    section = text[text.index("## One example per backend") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # Each line commented with a value is checked against it.
    checked = 0
    namespace: dict = {}
    for line in code.splitlines():
        statement, sep, comment = line.partition("  # ")
        value = re.match(r"(\[[^\]]*\]|-?\d[\d.]*)", comment.strip()) if sep else None
        if value:
            got = eval(statement, namespace)
            expected = np.array(eval(value.group(1)), dtype=float)
            np.testing.assert_allclose(
                np.asarray(got, dtype=float), expected, atol=5e-5, err_msg=line
            )
            checked += 1
        else:
            exec(line, namespace)
    assert checked == 4  # every numeric claim in the block


# --- every ```python block of README runs as written, each on its own ----------------------

#: A block whose first line is this comment needs a GPU; it runs only where one is present.
NEEDS_GPU = "# needs: gpu"
#: A block whose first line is this comment runs in tests/test_interop_jax.py (nox -s
#: jax_distributions): distrax needs tfp-nightly, which the main environment cannot have.
NEEDS_JAX_DISTRIBUTIONS = "# needs: distrax, numpyro"


def _readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _has_gpu() -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def test_readme_has_python_blocks() -> None:
    assert len(_readme_blocks()) >= 8


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_block_runs_on_its_own(index, tmp_path) -> None:
    for module in ("torch", "tensorflow", "jax", "dask", "array_api_strict"):
        need(module)  # every backend is installed in CI: the blocks use them
    code = _readme_blocks()[index]
    if code.startswith(NEEDS_JAX_DISTRIBUTIONS):
        pytest.skip("README block of distrax and numpyro: runs in `nox -s jax_distributions`")
    if code.startswith(NEEDS_GPU) and not _has_gpu():
        pytest.skip("README block marked '# needs: gpu' and no GPU here")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "error"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, f"README block {index}:\n{code}\n{result.stderr[-3000:]}"
