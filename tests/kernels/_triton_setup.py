"""What the Triton kernel tests share: Triton itself, the device, the generic code.

On a CUDA machine the kernels are compiled and run on the GPU; elsewhere they
run on CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``, which
the nox ``triton`` session sets), forced past the CUDA check.  Triton is
required where ``KL_BACKENDS_REQUIRE`` lists it (that session), else these
tests skip: Triton and TensorFlow cannot share a process, so the ``tests``
session's environment has no Triton.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import REQUIRED, need_optional

torch = pytest.importorskip("torch")
if "triton" in REQUIRED:
    need_optional("triton")  # an import error fails
else:
    pytest.importorskip("triton", reason="triton is not installed: these run in `nox -s triton`")

from kl_backends.backends import BACKENDS  # noqa: E402
from kl_backends.backends.torch import triton as triton_kernels  # noqa: E402

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
if not INTERPRETED and not torch.cuda.is_available():
    pytest.skip("no CUDA device and TRITON_INTERPRET is not 1", allow_module_level=True)

DEVICE = "cpu" if INTERPRETED else "cuda"
#: The interpreter reports NumPy's floating-point warnings (log(0), inf - inf) as it computes.
QUIET = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.*")


@contextlib.contextmanager
def kernels() -> Iterator[None]:
    """The Triton kernels for this device (forced on CPU tensors under the interpreter)."""
    with triton_kernels.force() if INTERPRETED else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def generic(monkeypatch: Any) -> Iterator[None]:
    """The generic code: fast paths (Triton's included) off."""
    with monkeypatch.context() as m:
        m.setenv("KL_BACKENDS_FASTPATHS", "0")
        yield


def backend() -> Any:
    be = BACKENDS["torch"]
    be.xp  # noqa: B018  (loads the namespace and torch)
    return be


def close(got: Any, want: Any, rtol: float = 2e-5, atol: float = 1e-6) -> None:
    """Equal within tolerances, NaN where the other is NaN, infinities equal."""
    torch.testing.assert_close(
        got.detach().double().cpu(), want.detach().double().cpu(), rtol=rtol, atol=atol,
        equal_nan=True,
    )  # fmt: skip
