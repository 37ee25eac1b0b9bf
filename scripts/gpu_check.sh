#!/usr/bin/env bash
# One command for a GPU machine (no network; PyTorch, Triton, JAX and CuPy installed,
# no TensorFlow): the GPU subset of the tests, `kl-backends parity` and the benchmarks.
#
#     bash scripts/gpu_check.sh [OUT_DIR]        # default: benchmarks/results/gpu
#
# Installs nothing.  Run from the repository root, in an environment where kl_backends
# is importable (pip install -e . done beforehand, or PYTHONPATH=src as below).
# Liger-Kernel (liger-kernel 0.8.5 from a wheel) is compared against where importable.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-benchmarks/results/gpu}"
mkdir -p "$OUT"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export KL_BACKENDS="numpy,array_api_strict,torch,jax,dask,cupy"
status=0

python - <<'PY' | tee "$OUT/devices.txt"
import importlib.util
print("torch:", end=" ")
import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "NO CUDA")
for m in ("triton", "jax", "cupy", "liger_kernel"):
    print(m, "importable" if importlib.util.find_spec(m) else "absent")
import jax; print("jax devices:", jax.devices())
PY

# 1. The tests on GPU devices (parameter ids hold cuda:N for torch/cupy, gpu:N for JAX),
#    and the logits tests in full (they include GPU-independent checks of the same code).
python -m pytest -q -p no:cacheprovider tests/logits tests/tooling/test_parity_matrix.py \
    tests/core/test_fastpaths.py tests/core/test_gradients.py tests/core/test_api.py \
    -k "cuda or gpu" 2>&1 | tee "$OUT/pytest_gpu.txt" || status=1
python -m pytest -q -p no:cacheprovider tests/logits/test_logits.py 2>&1 | tee "$OUT/pytest_logits.txt" \
    || status=1

# 2. Parity on every GPU-capable backend.
python -m kl_backends parity --backends torch,jax,cupy 2>&1 | tee "$OUT/parity.txt" || status=1

# 3. Benchmarks: the row-wise KL benchmark and the logits section (which adds
#    [8192, 128256] bf16 on CUDA against F.kl_div and Liger's LigerKLDIVLoss).
python benchmarks/bench_kl.py --backends numpy,torch,jax --out "$OUT" 2>&1 | tail -40 \
    | tee "$OUT/bench.txt" || status=1
python benchmarks/bench_kl.py --logits --backends torch,jax --out "$OUT" 2>&1 | tail -40 \
    | tee "$OUT/logits.txt" || status=1

echo "results in $OUT (exit status $status)"
exit $status
