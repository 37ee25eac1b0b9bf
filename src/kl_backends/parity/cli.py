"""The ``kl-backends`` command (also ``python -m kl_backends``): ``main``.

``kl-backends parity`` runs the parity matrix on every installed backend and
device, prints one row per backend x device x dtype x mode, and exits 1 if any
row fails (2 for bad arguments, including a selected backend that is not
installed).  ``--function MODULE:FUNCTION --args NPZ`` checks a function of
your own instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["main"]

#: The dtypes the parity matrix knows.
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _dtypes(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in DTYPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown dtype(s) {unknown or [text]}; known: {', '.join(DTYPES)}"
        )
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _version() -> str:
    from kl_backends import __version__

    return f"kl-backends {__version__}"


def _parser() -> argparse.ArgumentParser:
    from kl_backends.backends import BACKENDS, ENV_VAR

    parser = argparse.ArgumentParser(
        prog="kl-backends",
        description="Kullback-Leibler divergence on every array library: checks and tools.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    parity = sub.add_parser(
        "parity",
        help="check kl_divergence on every installed backend against an exact "
        "reference and the frameworks' built-ins",
        description="Run every parity case (worked examples, published values, zeros, "
        "NaN, -inf, large logits, several axes, reductions) on every installed backend, "
        "device, dtype and mode (eager, jax.jit, tf.function), compare with an "
        "independent float64 reference and with each framework's built-in KL, and "
        "print one row per backend x device x dtype x mode.  Exits 1 on any FAIL.",
    )
    parity.add_argument(
        "--backends",
        default=None,
        help=f"comma-separated subset of {', '.join(BACKENDS)} "
        f"(default: ${ENV_VAR}, else every installed one)",
    )
    parity.add_argument(
        "--dtypes",
        type=_dtypes,
        default=None,
        help=f"comma-separated subset of {', '.join(DTYPES)} (default: all)",
    )
    parity.add_argument(
        "--no-compiled", action="store_true", help="skip the jax.jit and tf.function modes"
    )
    parity.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=min(2, os.cpu_count() or 1),
        help="backends checked in parallel processes (default: %(default)s)",
    )
    parity.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    parity.add_argument(
        "--markdown", metavar="PATH", help="write a Markdown table (for a PR or a CI job summary)"
    )
    parity.add_argument(
        "--plot", metavar="PATH", help="write a PNG heatmap of the error matrix (needs matplotlib)"
    )
    parity.add_argument(
        "--function",
        metavar="MODULE:FUNCTION",
        help="check your own function instead of kl_divergence: it is run on every "
        "backend with the arrays of --args and compared with its float64 NumPy result",
    )
    parity.add_argument(
        "--args",
        metavar="NPZ",
        help="positional arguments for --function, in the .npz file's order",
    )
    parity.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    from kl_backends.evaluation.cli import add_parser

    add_parser(sub)
    return parser


@dataclass(frozen=True)
class _Outcome:
    """What a run produced: the rows of the reports, the rows for ``--json``, its title."""

    cells: list[Any]  # parity.report.Agreement
    rows_json: list[dict[str, Any]]
    title: str


def _fmt(x: float) -> str:
    return f"{x:.2e}" if x else "0"


def _parity(args: argparse.Namespace) -> int:
    # TensorFlow's C++ start-up chatter (set before any worker imports it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from kl_backends import __version__
    from kl_backends.backends import ENV_VAR, select, select_installed

    try:
        source = "--backends" if args.backends is not None else ENV_VAR
        chosen = select_installed(args.backends, source)
        missing = [b.name for b in select(args.backends, source) if b not in chosen]
    except ValueError as exc:
        print(f"kl-backends parity: {exc}", file=sys.stderr)
        return 2
    if (args.function is None) != (args.args is None):
        print("kl-backends parity: --function and --args go together", file=sys.stderr)
        return 2
    for option in ("json", "markdown", "plot"):
        problem = _unwritable(getattr(args, option))
        if problem:
            print(f"kl-backends parity: --{option} {problem}", file=sys.stderr)
            return 2

    print(
        f"kl_backends {__version__} parity on {platform.node() or 'this machine'} "
        f"(Python {platform.python_version()}, {platform.machine()})"
    )
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}")
    dtypes = args.dtypes
    start = time.perf_counter()
    if args.function:
        try:
            outcome = _user_function(args, chosen, dtypes)
        except (ImportError, AttributeError, OSError, ValueError) as exc:
            print(f"kl-backends parity: {exc}", file=sys.stderr)
            return 2
    else:
        outcome = _kl_matrix(args, chosen, dtypes)
    elapsed = time.perf_counter() - start

    from kl_backends.parity.report import summary

    cells = outcome.cells
    failed = [c for c in cells if not c.ok]
    print(f"\n{summary(cells)} ({elapsed:.1f} s)")
    try:
        _write_outputs(args, outcome, elapsed)
    except (OSError, RuntimeError) as exc:  # e.g. the disk filled up during the run
        print(f"kl-backends parity: {exc}", file=sys.stderr)
        return 2
    if not cells:
        print("no backend ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _write_outputs(args: argparse.Namespace, outcome: _Outcome, elapsed: float) -> None:
    """The ``--json``, ``--markdown`` and ``--plot`` files that were asked for."""
    from kl_backends import __version__

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "kl_backends": __version__,
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "node": platform.node(),
                    "seconds": elapsed,
                    "what": outcome.title,
                    "rows": outcome.rows_json,
                },
                fh,
                indent=2,
            )
        print(f"results written to {args.json}")
    if args.markdown:
        from kl_backends.parity.report import markdown_table

        with open(args.markdown, "w") as fh:
            fh.write(markdown_table(outcome.cells, f"{outcome.title} (kl_backends {__version__})"))
        print(f"Markdown table written to {args.markdown}")
    if args.plot:
        from kl_backends.parity.report import plot_heatmap

        plot_heatmap(outcome.cells, args.plot, outcome.title)
        print(f"heatmap written to {args.plot}")


def _unwritable(path: str | None) -> str:
    """Why ``path`` cannot be written (checked before the run), or ``""``.

    Tested by opening it for appending (nothing in an existing file changes; a new
    one is removed again): permission bits say nothing for root, nor for
    ``/proc``, read-only mounts or full disks.
    """
    if path is None:
        return ""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path}: is a directory"
    if not os.path.isdir(folder):
        return f"{path}: no such directory {folder}"
    existed = os.path.exists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        return f"{path}: cannot be written ({exc.strerror or exc})"
    if not existed:
        try:
            os.remove(path)
        except OSError:
            pass
    return ""


_MATRIX_HEADER = (
    "backend",
    "version",
    "device",
    "dtype",
    "mode",
    "checks",
    "worst error, as judged (its bound; case)",
    "max abs err",
    "built-ins",
    "status",
)


def _matrix_line(r: Any) -> tuple[str, ...]:
    """One ``parity.run.Row`` as a line of the printed matrix."""
    n_ok = sum(b.ok for b in r.builtins.values())
    builtins = f"{n_ok}/{len(r.builtins)} agree" if r.builtins else "-"
    return (
        r.backend,
        r.version,
        r.device,
        r.dtype,
        r.mode,
        str(r.checks),
        r.judged,
        _fmt(r.max_abs),
        builtins,
        "OK" if r.ok else "FAIL",
    )


def _print_failures(r: Any) -> None:
    print(f"\nFAIL {r.backend} {r.device} {r.dtype} {r.mode}:")
    if r.error:
        print(f"  error: {r.error}")
    for f in r.failures[:10]:
        print(f"  {f}")
    for name, b in r.builtins.items():
        for prob in b.problems[:3]:
            print(f"  built-in {name}: {prob}")


def _kl_matrix(args: argparse.Namespace, chosen: list, dtypes: list[str] | None) -> _Outcome:
    from kl_backends.parity.report import render_table
    from kl_backends.parity.run import run_parity_parallel

    rows = run_parity_parallel(
        chosen, dtypes=dtypes, compiled=not args.no_compiled, quiet=args.quiet, jobs=args.jobs
    )
    print(render_table(_MATRIX_HEADER, [_matrix_line(r) for r in rows]))
    for r in rows:
        if not r.ok:
            _print_failures(r)
    cells = [r.agreement() for r in rows]
    return _Outcome(cells, [r.as_dict() for r in rows], "kl_divergence parity")


def _load_function(spec: str) -> Any:
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--function must be MODULE:FUNCTION, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the user's own modules, as `python -m` would
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _announcing(fn: Any) -> Any:
    """``fn``, printing each library and dtype it is first called with (not the reference's).

    Its signature is ``fn``'s (``functools.wraps``): an ``xp`` parameter is still seen.
    """
    import functools

    from kl_backends._dispatch import backend_of

    seen: set[tuple[str, str]] = set()

    @functools.wraps(fn)
    def watched(*a: Any, **k: Any) -> Any:
        inputs = [x for x in a if hasattr(x, "dtype") and hasattr(x, "shape")]
        if inputs:
            be = backend_of(inputs[0])
            name = be.name if be is not None else type(inputs[0]).__module__.split(".")[0]
            key = (name, str(inputs[0].dtype))
            # The reference backend also runs the reference: its calls are not announced.
            if key not in seen and not (be is not None and be.is_reference):
                print(f"  ... {key[0]} {key[1]}", file=sys.stderr, flush=True)
            seen.add(key)
        return fn(*a, **k)

    return watched


def _user_function(args: argparse.Namespace, chosen: list, dtypes: list[str] | None) -> _Outcome:
    import numpy as np

    from kl_backends.backends import ENV_VAR
    from kl_backends.testing import available_targets, check_backends, format_table

    fn = _load_function(args.function)
    with np.load(args.args) as data:
        arrays = [data[k] for k in data.files]
    # The selection as the user typed it: TensorFlow named there is checked strictly
    # (a function that cannot take its tensors fails); selected by "all", it is skipped.
    selection = args.backends if args.backends is not None else os.environ.get(ENV_VAR)
    targets = available_targets(selection) if chosen else []
    if not args.quiet:
        print(
            f"  ... {args.function} on {len(targets)} target(s): "
            f"{', '.join(str(t) for t in targets)}",
            file=sys.stderr,
            flush=True,
        )
        fn = _announcing(fn)
    # check_backends fails a result that came back in another library than its inputs.
    rows = check_backends(
        fn, *arrays, targets=selection if chosen else [], dtypes=dtypes or ("float32", "float64")
    )
    print(format_table(rows))
    return _Outcome(
        [replace(r, message=r.message[:120]) for r in rows],
        [asdict(r) for r in rows],
        f"{args.function} parity",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``kl-backends`` command (also ``python -m kl_backends``).

    ``parity``: check ``kl_divergence`` (or your own function) on every
    installed backend and device against an independent float64 reference,
    and print one row per backend x device x dtype (x mode).  ``compare BASE
    OTHER``: KL statistics of two models' saved logits
    (``kl_backends.evaluation.cli``; its options are in ``--help``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 when every row passed (skipped rows included), 1
        when a row failed or no backend ran, 2 for bad arguments (including a
        backend named but not installed, an output file that cannot be
        written, a ``--function`` that cannot be imported).

    Raises
    ------
    SystemExit
        From argparse: ``--help``, ``--version``, or arguments it rejects
        (status 2).

    Notes
    -----
    ``kl-backends parity`` options:

    ``--backends NAMES``
        Comma-separated subset of numpy, array_api_strict, torch, tensorflow,
        jax, cupy, dask (default: ``$KL_BACKENDS``, else every installed one).
    ``--dtypes NAMES``
        Comma-separated subset of float32, float64, float16, bfloat16
        (default: all that each backend has).
    ``--no-compiled``
        Skip the compiled modes (``jax.jit``, ``tf.function``).
    ``-j N``, ``--jobs N``
        Backends checked in parallel worker processes (default: 2, or 1 on a
        single core).
    ``--json PATH``, ``--markdown PATH``, ``--plot PATH``
        Write the full results as JSON, a Markdown table (for a pull request
        or a CI job summary), or a PNG heatmap of the errors (needs
        matplotlib).
    ``--function MODULE:FUNCTION`` with ``--args NPZ``
        Check your own function instead: it is imported (the current
        directory first on the path), called on every backend and dtype with
        the arrays of the ``.npz`` file as positional arguments (in the
        file's order), and compared with its own float64 NumPy result
        (``kl_backends.testing.check_backends``).  If it takes an ``xp``
        keyword, each backend's namespace is passed; written with
        ``kl_backends.testing.array_namespace`` it runs on TensorFlow too.
        One written with ``array_api_compat.array_namespace`` cannot take
        TensorFlow tensors: its TensorFlow rows are skipped unless
        ``--backends`` names tensorflow.
    ``-q``, ``--quiet``
        No progress lines.

    Examples
    --------
    >>> from kl_backends.parity.cli import main
    >>> argv = ["parity", "--backends", "numpy", "--dtypes", "float64", "-q", "-j", "1"]
    >>> main(argv)  # doctest: +ELLIPSIS
    kl_backends ... parity on ...
    ...
    1 passed, 0 failed (... s)
    0
    """
    args = _parser().parse_args(argv)
    if args.command == "parity":
        return _parity(args)
    if args.command == "compare":  # kl_backends.evaluation.cli
        from kl_backends.evaluation.cli import compare

        return compare(args)
    raise AssertionError(args.command)  # argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
