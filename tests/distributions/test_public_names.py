"""The public names of kl_backends.distributions."""

from __future__ import annotations

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
