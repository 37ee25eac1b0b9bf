"""Reading logits (and masks, token ids) for ``kl-backends compare``, a slice at a time.

A source is a file or a directory of shards.  Files: ``.npy`` (memory-mapped),
``.npz``, ``.safetensors`` (``safetensors``' lazy slices) and torch's ``.pt`` /
``.pth`` (``torch.load(mmap=True, weights_only=True)``).  A file holding several
arrays names one with ``PATH::KEY``; one holding a single array needs no key.  A
directory's shards are its files with those suffixes, sorted by name; two
directories are matched by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SUFFIXES", "Shard", "open_source"]

SUFFIXES = (".npy", ".npz", ".safetensors", ".pt", ".pth")


@dataclass
class Shard:
    """One array of a source: its name (matching shards), shape and a slicer."""

    name: str
    shape: tuple[int, ...]
    rows: Callable[[int, int], Any]  # rows(i0, i1): the array's [i0:i1] along axis 0
    torch: bool  # whether its slices are torch tensors


def _pick(path: str, key: str | None, names: list[str]) -> str:
    if key is not None:
        if key not in names:
            raise ValueError(f"{path}: no array {key!r}; it holds {sorted(names)}")
        return key
    if len(names) != 1:
        raise ValueError(
            f"{path} holds {len(names)} arrays ({', '.join(sorted(names)[:8])}); "
            f"name one as {path}::KEY"
        )
    return names[0]


def _safetensors(path: str, key: str | None, torch: bool) -> Shard:
    try:
        from safetensors import safe_open
    except ImportError:
        raise ImportError(
            f"{path}: reading .safetensors needs the safetensors package (pip install safetensors)"
        ) from None
    handle = safe_open(path, framework="pt" if torch else "numpy")
    name = _pick(path, key, list(handle.keys()))
    sl = handle.get_slice(name)
    if not torch and sl.get_dtype() in ("BF16", "F8_E4M3", "F8_E5M2"):
        raise ValueError(
            f"{path}: {sl.get_dtype()} tensors need torch to be read; pass --device cpu"
        )
    return Shard(name, tuple(sl.get_shape()), lambda i0, i1: sl[i0:i1], torch)


def _torch_file(path: str, key: str | None) -> Shard:
    try:
        import torch
    except ImportError:
        raise ImportError(f"{path}: reading a .pt file needs torch") from None
    obj = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    if isinstance(obj, dict):
        obj = obj[_pick(path, key, [str(k) for k in obj])]
    elif key is not None:
        raise ValueError(f"{path} holds one tensor; drop ::{key}")
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{path}: expected a tensor (or a dict of them); got {type(obj).__name__}")
    return Shard(key or "", tuple(obj.shape), lambda i0, i1: obj[i0:i1], True)


def _file(path: str, key: str | None, torch: bool) -> Shard:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        if key is not None:
            raise ValueError(f"{path} holds one array; drop ::{key}")
        a = np.load(path, mmap_mode="r")
        return Shard("", a.shape, lambda i0, i1: np.array(a[i0:i1]), False)
    if suffix == ".npz":
        with np.load(path) as data:
            b = data[_pick(path, key, list(data.files))]
        return Shard("", b.shape, lambda i0, i1: b[i0:i1], False)
    if suffix == ".safetensors":
        return _safetensors(path, key, torch)
    if suffix in (".pt", ".pth"):
        return _torch_file(path, key)
    raise ValueError(f"{path}: unknown file type {suffix!r}; known: {', '.join(SUFFIXES)}")


def open_source(spec: str, torch: bool) -> list[Shard]:
    """The shards of ``spec`` (``PATH``, ``PATH::KEY`` or a directory), named for matching.

    Raises ``ValueError`` (or ``ImportError`` for a missing optional reader) with the
    path in the message.
    """
    path, _, key = spec.partition("::")
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(SUFFIXES))
        if not names:
            raise ValueError(f"{path}: a directory without {', '.join(SUFFIXES)} files")
        shards = []
        for name in names:
            shard = _file(os.path.join(path, name), key or None, torch)
            shard.name = name
            shards.append(shard)
        return shards
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file or directory")
    shard = _file(path, key or None, torch)
    shard.name = ""  # a single file pairs with a single file
    return [shard]


def uses_torch(spec: str) -> bool:
    """Whether reading ``spec`` needs torch (``.pt`` files)."""
    path = spec.partition("::")[0]
    if os.path.isdir(path):
        return any(f.lower().endswith((".pt", ".pth")) for f in os.listdir(path))
    return path.lower().endswith((".pt", ".pth"))


def match(base: list[Shard], other: list[Shard], what: str = "OTHER") -> None:
    """``ValueError`` unless the shards pair up by name and shape."""
    if [s.name for s in base] != [s.name for s in other]:
        only_b = sorted({s.name for s in base} - {s.name for s in other})
        only_o = sorted({s.name for s in other} - {s.name for s in base})
        raise ValueError(
            f"BASE and {what} shards do not match by name: only in BASE {only_b}, "
            f"only in {what} {only_o}"
        )
    for b, o in zip(base, other):
        if what == "OTHER" and b.shape != o.shape:
            raise ValueError(f"shard {b.name or 0}: BASE {b.shape} and OTHER {o.shape} differ")
