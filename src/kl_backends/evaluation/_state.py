"""Moving a ``KLStats`` state between libraries, and to and from plain Python values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kl_backends.backends import BACKENDS
from kl_backends.evaluation._moments import FIELDS

__all__ = ["dump", "from_plain", "gather", "load", "to_library", "to_plain"]

FORMAT = "kl_backends.KLStats"

_INTS = ("n", "nan", "hist", "same")


def gather(be: Any, parts: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Every state of ``parts`` as NumPy, in two host transfers (integers, floats): one
    synchronisation on a GPU, one computation of a Dask graph."""
    out: dict[str, Any] = {k: None for k in parts}
    items = [(p, k, v) for p, s in parts.items() if s is not None for k, v in s.items()]
    if not items:
        return out
    xp = be.xp
    for ints in (True, False):
        chosen = [(p, k, v) for p, k, v in items if (k in _INTS) == ints]
        if not chosen:
            continue
        dtype = chosen[0][2].dtype
        flat = xp.concat([xp.reshape(xp.astype(v, dtype), (-1,)) for _, _, v in chosen])
        host = np.asarray(be.to_numpy(flat), dtype=np.float64)
        at = 0
        for p, k, v in chosen:
            size = math.prod(v.shape)
            piece = host[at : at + size].reshape(tuple(v.shape))
            out[p] = out[p] or {}
            out[p][k] = np.rint(piece).astype(np.int64) if ints else piece
            at += size
    return out


def to_library(
    be: Any, state: dict[str, Any] | None, target: Any, device: Any, dtype: Any
) -> dict[str, Any] | None:
    """The state of backend ``be`` as arrays of backend ``target`` on ``device``."""
    if state is None:
        return None
    xp = target.xp
    index = xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
    host = gather(be, {"": state})[""]
    return {
        k: xp.asarray(v, dtype=index if k in _INTS else dtype, device=device)
        for k, v in host.items()
    }


def _number(x: float) -> float | str:
    """A float for JSON (``inf`` and NaN as strings, which every JSON parser reads)."""
    return float(x) if math.isfinite(x) else str(float(x))


def to_plain(host: dict[str, np.ndarray] | None) -> dict[str, Any] | None:
    """A NumPy state as JSON-ready Python values (the histogram sparse)."""
    if host is None:
        return None
    out: dict[str, Any] = {}
    for key, value in host.items():
        if key == "hist":
            nonzero = np.flatnonzero(value)
            out[key] = {
                "size": int(value.shape[0]),
                "index": nonzero.tolist(),
                "count": value[nonzero].tolist(),
            }
        elif key in _INTS:
            out[key] = int(value)
        else:
            out[key] = _number(float(value))
    return out


def from_plain(plain: dict[str, Any] | None, size: int | None) -> dict[str, np.ndarray] | None:
    """The inverse of ``to_plain``; ``size``: the histogram's expected length."""
    if plain is None:
        return None
    expected = set(FIELDS) if size is not None else set(FIELDS) - {"hist"}
    if "same" in plain:
        expected = {"n", "same"}
    if set(plain) != expected:
        raise ValueError(f"state fields {sorted(plain)} are not {sorted(expected)}")
    out = {}
    for key, value in plain.items():
        if key == "hist":
            if size is None or value["size"] != size:
                raise ValueError(
                    f"histogram of {value['size']} buckets; this layout has {size} "
                    "(another relative_accuracy, min_value or max_value)"
                )
            hist = np.zeros(size, dtype=np.int64)
            hist[np.asarray(value["index"], dtype=np.int64)] = value["count"]
            out[key] = hist
        elif key in _INTS:
            out[key] = np.asarray(int(value), dtype=np.int64)
        else:
            out[key] = np.asarray(float(value), dtype=np.float64)
    return out


def dump(stats: Any) -> dict[str, Any]:
    """``KLStats.to_dict``."""
    host, kept = stats._host()
    return {
        "format": FORMAT,
        "version": 1,
        **stats._config(),
        "exact": {k: None if v is None else v.tolist() for k, v in kept.items()},
        "sizes": dict(stats._sizes),
        "delta_p_of": sorted(stats._of),
        **{k: to_plain(v) for k, v in host.items()},
    }


def load(cls: Any, data: Any) -> Any:
    """``KLStats.from_dict``: a ``cls`` instance holding NumPy arrays."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise ValueError(f"not a KLStats.to_dict() result (format {FORMAT!r}, version 1)")
    try:
        exact = data["exact"]
        new = cls(
            exact=exact["kl"] is not None,
            max_exact=data["max_exact"],
            relative_accuracy=data["relative_accuracy"],
            min_value=data["min_value"],
            max_value=data["max_value"],
        )
        be = BACKENDS["numpy"]
        new._adopt(be, be.device(np.zeros(0)))
        new._parts = {
            "kl": from_plain(data["kl"], new._kl_sketch.size),
            "dp": from_plain(data["dp"], new._dp_sketch.size),
            "dp2": from_plain(data["dp2"], None),
        }
        new._top = from_plain(data["top"], None)
        new._kept = {
            k: None if exact[k] is None else [np.asarray(exact[k], dtype=np.float64)]
            for k in ("kl", "dp")
        }
        new._sizes = {k: int(data["sizes"][k]) for k in ("kl", "dp")}
        new._of = set(data["delta_p_of"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"an incomplete KLStats.to_dict() result: {exc!r}") from None
    return new
