"""``kl-backends compare BASE OTHER``: KL statistics of two models' saved logits.

The parser's lines are ``add_parser``; the command is ``compare``.  It streams the
two sources batch by batch (``--batch-size`` tokens at most, whole rows of the
first axis), computes KL(base || other) per token with ``KLStats.update_logits``
in NumPy, or in PyTorch on ``--device`` (also where a source is a ``.pt`` file),
and writes the result as Markdown or JSON, optionally with a plot.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

import numpy as np

from kl_backends.evaluation import _sources
from kl_backends.evaluation.stats import KLStats

__all__ = ["add_parser", "compare"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite positive number; got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    """The ``compare`` subcommand on ``sub`` (``argparse``'s subparsers)."""
    p = sub.add_parser(
        "compare",
        help="KL statistics between two models' saved logits (mean, quantiles, top token)",
        description="Stream two sources of logits [..., V] (.npy, .npz, .safetensors, "
        ".pt, or directories of such shards, matched by name; PATH::KEY names one array "
        "of a file) and report KL(BASE || OTHER) per token: count, mean with its "
        "standard error, standard deviation, quantiles, maximum, how often the top "
        "token agrees and how the token's probability changes (llama.cpp's "
        "--kl-divergence statistics).",
    )
    p.add_argument("base", metavar="BASE", help="logits of the reference model")
    p.add_argument("other", metavar="OTHER", help="logits of the model compared with it")
    p.add_argument(
        "--batch-size",
        type=_count,
        default=4096,
        metavar="N",
        help="tokens per batch (default: %(default)s)",
    )
    p.add_argument(
        "--device",
        metavar="DEV",
        help="compute with PyTorch on this device (cpu, cuda, cuda:1, mps)",
    )
    p.add_argument(
        "--temperature", type=_positive_float, metavar="T", help="divide both models' logits by it"
    )
    p.add_argument(
        "--mask",
        metavar="PATH",
        help="which tokens count: booleans or 0/1 (an attention mask) of the logits' "
        "shape without the vocabulary axis; True or 1 counts",
    )
    p.add_argument(
        "--tokens",
        metavar="PATH",
        help="token ids of the evaluated text, shaped as --mask: position t is scored "
        "on the probability of token t+1 (as llama.cpp), and the last position of each "
        "row, which predicts no token, is left out; default: the base model's top token",
    )
    p.add_argument(
        "--pad-id",
        type=int,
        metavar="ID",
        help="with --tokens: leave out positions whose next token is this id",
    )
    p.add_argument(
        "--format", choices=("markdown", "json"), default="markdown", help="default: %(default)s"
    )
    p.add_argument(
        "--output", metavar="PATH", help="write the report here (default: standard output)"
    )
    p.add_argument(
        "--plot", metavar="PATH", help="write a PNG of the KL histogram and CDF (needs matplotlib)"
    )
    p.add_argument(
        "--exact",
        type=_count,
        default=2**24,
        metavar="N",
        help="keep up to N values for exact quantiles, else a sketch (default: %(default)s; 0: sketch)",
    )
    p.add_argument(
        "--relative-accuracy",
        type=_positive_float,
        metavar="ALPHA",
        default=1e-3,
        help="the sketch's relative error bound (default: %(default)s)",
    )
    p.add_argument(
        "--float64",
        action="store_true",
        help="compute in float64 (where float32 rounding, about 1e-7, would swamp the KL "
        "of nearly identical models)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"kl-backends compare: {message}", file=sys.stderr)
    return 2


def compare(args: argparse.Namespace) -> int:
    """Run ``kl-backends compare`` with parsed ``args``; the exit status (0, or 2 on errors)."""
    if args.pad_id is not None and args.tokens is None:
        return _fail("--pad-id needs --tokens")
    if args.batch_size < 1:
        return _fail("--batch-size must be at least 1")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail("--plot needs matplotlib (pip install matplotlib)")
    torch = args.device is not None or any(
        _sources.uses_torch(s) for s in (args.base, args.other, args.mask, args.tokens) if s
    )
    try:
        stats, total = _run(args, torch)
    except (ValueError, TypeError, ImportError, OSError, RuntimeError) as exc:
        return _fail(str(exc))
    result = stats.result()
    meta = {
        "base": args.base,
        "other": args.other,
        "tokens": total,
        "temperature": args.temperature,
        "library": "torch" if torch else "numpy",
        "device": args.device or "cpu",
    }
    if args.format == "json":
        text = json.dumps({**meta, "result": result.to_dict()}, indent=2) + "\n"
    else:
        text = (
            f"# KL({args.base} || {args.other})\n\n"
            f"{total} positions, {meta['library']} on {meta['device']}"
            f"{'' if args.temperature is None else f', temperature {args.temperature:g}'}\n\n"
            + result.to_markdown()
        )
    try:
        if args.output:
            with open(args.output, "w") as fh:
                fh.write(text)
        else:
            sys.stdout.write(text)
        if args.plot:
            from kl_backends.evaluation._plot import plot_kl

            plot_kl(
                stats,
                args.plot,
                f"KL({os.path.basename(args.base)} || {os.path.basename(args.other)})",
            )
    except OSError as exc:
        return _fail(str(exc))
    return 0


def _aux(spec: str | None, base: list[Any], torch: bool, what: str) -> list[Any] | None:
    """A ``--mask`` or ``--tokens`` source as whole NumPy arrays, one per shard of BASE."""
    if spec is None:
        return None
    shards = _sources.open_source(spec, torch)
    _sources.match(base, shards, what)
    out = []
    for b, s in zip(base, shards):
        if s.shape != b.shape[:-1]:
            raise ValueError(
                f"{what} {spec}: shape {s.shape}, the logits' positions are {b.shape[:-1]}"
            )
        a = s.rows(0, s.shape[0] if s.shape else 1)
        out.append(np.asarray(a.cpu().numpy() if s.torch else a))
    return out


def _masks(
    args: argparse.Namespace, base: list[Any], torch: bool
) -> tuple[list[Any], list[Any] | None]:
    """Per shard: the mask of counted positions and the target ids (or None)."""
    masks = _aux(args.mask, base, torch, "--mask")
    tokens = _aux(args.tokens, base, torch, "--tokens")
    out_m: list[Any] = []
    out_t: list[Any] | None = None if tokens is None else []
    for i, shard in enumerate(base):
        m = np.ones(shard.shape[:-1], dtype=bool)
        if masks is not None:
            if masks[i].dtype.kind not in "biu":
                raise ValueError(f"--mask must hold booleans or integers; got {masks[i].dtype}")
            m &= masks[i] != 0
        if tokens is not None and out_t is not None:
            if tokens[i].dtype.kind not in "iu" or tokens[i].ndim == 0:
                raise ValueError(f"--tokens must hold integer ids; got {tokens[i].dtype}")
            nxt = np.concatenate([tokens[i][..., 1:], np.zeros_like(tokens[i][..., :1])], axis=-1)
            m[..., -1] = False  # the last position predicts no token of the text
            if args.pad_id is not None:
                m &= nxt != args.pad_id
            out_t.append(nxt.astype(np.int64))
        out_m.append(m)
    return out_m, out_t


def _run(args: argparse.Namespace, torch: bool) -> tuple[KLStats, int]:
    base = _sources.open_source(args.base, torch)
    other = _sources.open_source(args.other, torch)
    _sources.match(base, other)
    for s in base:
        if len(s.shape) < 2:
            raise ValueError(
                f"BASE {s.name or args.base}: logits [..., V] need 2 axes; got {s.shape}"
            )
    masks, targets = _masks(args, base, torch)
    convert = _converter(torch, args.device)
    stats = KLStats(
        exact=args.exact > 0, max_exact=args.exact, relative_accuracy=args.relative_accuracy
    )
    total = sum(math.prod(s.shape[:-1]) for s in base)
    with _Progress(total, args.quiet) as progress:
        for i, (b, o) in enumerate(zip(base, other)):
            per_row = math.prod(b.shape[1:-1])
            step = max(1, args.batch_size // max(per_row, 1))
            for i0 in range(0, b.shape[0], step):
                i1 = min(i0 + step, b.shape[0])
                tgt = None if targets is None else convert(targets[i][i0:i1])
                stats.update_logits(
                    convert(b.rows(i0, i1)),
                    convert(o.rows(i0, i1)),
                    convert(masks[i][i0:i1]),
                    temperature=args.temperature,
                    targets=tgt,
                    upcast=args.float64,
                )
                progress.advance((i1 - i0) * per_row)
    return stats, total


def _converter(torch: bool, device: str | None) -> Any:
    """A function moving a slice (NumPy or torch) to the computing library and device."""
    if not torch:
        return lambda a: np.asarray(a)
    import torch as t

    dev = t.device(device or "cpu")

    def to_torch(a: Any) -> Any:
        x = a if isinstance(a, t.Tensor) else t.from_numpy(np.ascontiguousarray(a))
        return x.to(dev, non_blocking=True)

    return to_torch


class _Progress:
    """tqdm where installed, else a line on standard error; nothing with ``quiet``."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.done, self.bar = total, quiet, 0, None
        if not quiet:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(
                total=total, unit="tok", unit_scale=True, file=sys.stderr, desc="compare"
            )

    def __enter__(self) -> _Progress:
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif not self.quiet:
            pct = 100.0 * self.done / max(self.total, 1)
            print(
                f"\rcompare: {self.done}/{self.total} positions ({pct:.0f}%)",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet:
            print(file=sys.stderr)
