"""Run with:  pytest --xp-backends=numpy,array_api_strict,torch,jax,dask

smooth_l1 is written with array_api_compat.array_namespace, which has no
TensorFlow namespace, so it cannot take TensorFlow tensors: TensorFlow is left
out of its checks.  symmetric_kl only calls kl_backends, which takes
TensorFlow tensors through its own adapter: it is checked on every backend.
"""

import numpy as np
from mylosses import smooth_l1, symmetric_kl

from kl_backends.testing import assert_backends_agree

RNG = np.random.default_rng(0)
PRED, TARGET = RNG.normal(size=(8, 16)), RNG.normal(size=(8, 16))
P, Q = RNG.dirichlet(np.ones(16), size=8), RNG.dirichlet(np.ones(16), size=8)
ARRAY_API = "numpy,array_api_strict,torch,jax,dask"  # what array_api_compat supports


def test_smooth_l1_every_backend_agrees():
    # One call: every installed backend x device x dtype against float64 NumPy.
    assert_backends_agree(smooth_l1, PRED, TARGET, targets=ARRAY_API)


def test_symmetric_kl_against_a_closed_reference():
    reference = ((P - Q) * np.log(P / Q)).sum(-1)
    assert_backends_agree(symmetric_kl, P, Q, reference=reference)  # every backend, TF too


def test_smooth_l1_per_backend(xp, xp_target):
    # The xp fixture: this test runs once per backend x device, ids like [torch:cpu].
    pred = xp_target.asarray(PRED, "float32")
    out = smooth_l1(pred, pred)
    assert xp_target.to_numpy(out).tolist() == [0.0] * 8
