"""The peers' KL registries, read at collection time, mapped to the families of ``_families``.

A pair is discovered from ``torch.distributions.kl._KL_REGISTRY`` or TFP's
``kullback_leibler._DIVERGENCES``: every two families of ``_families.FAMILIES``
whose peer classes are subclasses of a registered pair's classes (so torch's
``Chi2``, a ``Gamma``, is paired wherever ``Gamma`` is).  The peer's own lookup
decides what it computes; a combination it does not compute (its
``NotImplementedError``) is left out when the test runs.  A pair registered
tomorrow is tested the day it appears.

A library that is not installed gives no pairs (the tests then skip or fail
through ``conftest.need``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from _families import FAMILIES

#: How the parameters change when the variable is scaled, x -> a x: KL is invariant
#: under that map, so the KL at a scale of 1e+-30 equals the peer's at scale 1.
SCALE: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
    "Normal": lambda d, a: {"loc": d["loc"] * a, "scale": d["scale"] * a},
    "Laplace": lambda d, a: {"loc": d["loc"] * a, "scale": d["scale"] * a},
    "Cauchy": lambda d, a: {"loc": d["loc"] * a, "scale": d["scale"] * a},
    "Gumbel": lambda d, a: {"loc": d["loc"] * a, "scale": d["scale"] * a},
    "Uniform": lambda d, a: {"low": d["low"] * a, "high": d["high"] * a},
    "HalfNormal": lambda d, a: {"scale": d["scale"] * a},
    "Exponential": lambda d, a: {"rate": d["rate"] / a},
    "Gamma": lambda d, a: {"concentration": d["concentration"], "rate": d["rate"] / a},
    "InverseGamma": lambda d, a: {"concentration": d["concentration"], "rate": d["rate"] * a},
    "Pareto": lambda d, a: {"scale": d["scale"] * a, "alpha": d["alpha"]},
    "Weibull": lambda d, a: {"scale": d["scale"] * a, "concentration": d["concentration"]},
    "LogNormal": lambda d, a: {"loc": d["loc"] + math.log(a), "scale": d["scale"]},
    "MultivariateNormal": lambda d, a: {"loc": d["loc"] * a, "scale_tril": d["scale_tril"] * a},
    "LowRankMultivariateNormal": lambda d, a: {
        "loc": d["loc"] * a,
        "cov_factor": d["cov_factor"] * a,
        "cov_diag": d["cov_diag"] * a * a,
    },
    "Independent": lambda d, a: {"loc": d["loc"] * a, "scale": d["scale"] * a},
}


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _classes(lib: str) -> dict[str, type]:
    """The peer's class of each family (built once from the family's own constructor)."""
    out: dict[str, type] = {}
    torch = _module("torch") if lib == "torch" else None
    tfp = _module("tensorflow_probability") if lib == "tfp" else None
    if torch is None and tfp is None:
        return out

    def build(f: Any, d: dict[str, Any]) -> Any:
        if torch is not None:
            return f.torch(torch.distributions, {k: torch.tensor(v) for k, v in d.items()})
        return f.tfp(tfp.distributions, d)

    for name, fam in FAMILIES.items():
        if getattr(fam, lib) is None:
            continue
        obj = build(fam, fam.gen(np.random.default_rng(0), 2))
        out[name] = type(obj)
    return out


def _registry(lib: str) -> list[tuple[type, type]]:
    if lib == "torch":
        kl = _module("torch.distributions.kl")
        return [] if kl is None else list(kl._KL_REGISTRY)
    kl = _module("tensorflow_probability.python.distributions.kullback_leibler")
    return [] if kl is None else list(kl._DIVERGENCES)


def peer_pairs(lib: str) -> list[tuple[str, str]]:
    """(p family, q family) for which ``lib`` registers a KL (by subclass), sorted."""
    classes = _classes(lib)
    found = set()
    for cp, cq in _registry(lib):
        if cp.__name__ in ("Distribution", "ExponentialFamily") or cq.__name__ in (
            "Distribution",
            "ExponentialFamily",
        ):
            continue  # the generic fallbacks (Bregman, coercion), not a family's closed form
        for a, ta in classes.items():
            for b, tb in classes.items():
                if issubclass(ta, cp) and issubclass(tb, cq):
                    found.add((a, b))
    return sorted(found)
