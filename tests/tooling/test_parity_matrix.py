"""The parity matrix: backend x device x dtype x input kind x case, eager and compiled.

Every result is compared with the independent float64 reference computed
from the very values the backend holds (so rounding the inputs to float32,
float16 or bfloat16 is not counted as error), and its library and dtype are
checked.  Published values are checked in float32 and float64.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from kl_backends import kl_divergence
from kl_backends._dispatch import backend_of
from kl_backends.parity.cases import CASES, FUNCTION_CASES, Case, FunctionCase
from kl_backends.parity.compare import TOLERANCES, compare
from kl_backends.parity.run import check_case, check_function_case

CASE_KINDS = [pytest.param(c, k, id=f"{c.name}[{k}]") for c in CASES for k in c.kinds]


def _check(on, dtype: str, case: Case, kind: str, fn=None) -> None:
    out, got, ref = check_case(on.impl, on.device, dtype, case, kind, fn)
    assert backend_of(out).name == on.name, f"result is a {type(out)}, not a {on.name} array"
    assert on.impl.dtype_name(out) == dtype
    cmp = compare(got, ref, dtype)
    assert cmp.ok, cmp.message
    if (
        case.expected is not None
        and kind in case.expected_kinds
        and dtype
        in (
            "float32",
            "float64",
        )
    ):
        rtol, atol = TOLERANCES[dtype]
        np.testing.assert_allclose(got, case.expected, rtol=rtol, atol=case.expected_atol + atol)


@pytest.mark.parametrize(("case", "kind"), CASE_KINDS)
def test_eager(combo, case: Case, kind: str) -> None:
    on, dtype = combo
    _check(on, dtype, case, kind)


@pytest.mark.parametrize(("case", "kind"), CASE_KINDS)
def test_compiled(jit_combo, case: Case, kind: str) -> None:
    """The same cases under jax.jit and tf.function (torch.compile: test_compile.py)."""
    on, dtype = jit_combo
    fn = on.impl.compile(
        functools.partial(kl_divergence, inputs=kind, **case.kwargs),
        convert=dtype == "float64",  # the source rewrite (AutoGraph) is dtype-free: see below
    )
    _check(on, dtype, case, kind, fn)


def _check_function(on, dtype: str, case: FunctionCase, compiled: bool) -> None:
    # The compiler's source rewrite (AutoGraph) does not depend on the dtype: it is
    # checked in float64; the other dtypes trace the code as written (the same graph).
    convert = dtype == "float64"
    out, got, ref = check_function_case(on.impl, on.device, dtype, case, compiled, convert)
    assert backend_of(out).name == on.name
    assert on.impl.dtype_name(out) == dtype
    cmp = compare(got, ref, dtype)
    assert cmp.ok, cmp.message
    if case.expected is not None and dtype in ("float32", "float64"):
        rtol, atol = TOLERANCES[dtype]
        np.testing.assert_allclose(got, case.expected, rtol=rtol, atol=case.expected_atol + atol)


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=lambda c: c.name)
def test_function_cases_eager(combo, case: FunctionCase) -> None:
    """Closed forms, JS divergence and grid KL against float64 formulas."""
    on, dtype = combo
    _check_function(on, dtype, case, compiled=False)


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=lambda c: c.name)
def test_function_cases_compiled(jit_combo, case: FunctionCase) -> None:
    on, dtype = jit_combo
    _check_function(on, dtype, case, compiled=True)
