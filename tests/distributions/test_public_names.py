"""The public names of kl_backends.distributions."""

from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np
from scipy import stats

import kl_backends.distributions as D


def test_kl_divergence_is_kl() -> None:
    """torch.distributions' and TFP's name: the same function, public, without a warning."""
    assert D.kl_divergence is D.kl
    assert "kl_divergence" in D.__all__ and "kl" in D.__all__
    p, q = D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = D.kl_divergence(p, q)
    x = np.linspace(-30.0, 30.0, 600_001)
    fp, fq = stats.norm(0.0, 1.0).pdf(x), stats.norm(1.0, 2.0).pdf(x)
    expected = np.sum(fp * np.log(fp / fq)) * (x[1] - x[0])
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_every_public_name_exists() -> None:
    for name in D.__all__:
        assert getattr(D, name) is not None, name
    assert sorted(D.__all__) == D.__all__


def _sections(obj: object) -> set[str]:
    """The numpydoc section headers of ``obj``'s docstring."""
    lines = inspect.cleandoc(obj.__doc__ or "").splitlines()
    return {
        a.strip()
        for a, b in itertools.pairwise(lines)
        if b.strip() and set(b.strip()) == {"-"} and len(b.strip()) == len(a.strip())
    }


def test_every_public_name_has_a_numpydoc_docstring() -> None:
    """Parameters (or Returns / Attributes), Examples; Notes for every family and function."""
    missing = []
    for name in D.__all__:
        obj = getattr(D, name)
        sections = _sections(obj)
        needed = {"Examples", "See Also"}
        if isinstance(obj, type) and issubclass(obj, D.Distribution) and obj is not D.Distribution:
            needed |= {"Parameters", "Notes"}
        elif not isinstance(obj, type) and name != "registered_pairs":
            needed |= {"Parameters", "Returns", "Notes"}
        if not needed <= sections:
            missing.append(f"{name}: {sorted(needed - sections)}")
    assert not missing, missing
