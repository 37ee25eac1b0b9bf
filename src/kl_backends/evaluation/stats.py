"""``KLStats``: a mergeable accumulator of per-token KL divergences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.categorical import kl_divergence
from kl_backends.backends import Backend
from kl_backends.evaluation import _moments, _state, _tokens
from kl_backends.evaluation._sketch import Sketch
from kl_backends.evaluation._summary import build
from kl_backends.evaluation.result import KLResult

__all__ = ["DELTA_P_QUANTILES", "QUANTILES", "KLStats"]

#: KL quantiles reported by default.
QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
#: Quantiles of the probability change reported by default (llama.cpp's list).
DELTA_P_QUANTILES = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)


class KLStats:
    r"""Streaming statistics of per-token KL divergence, mergeable exactly.

    Feed it batch by batch, with per-token KL values (``update``) or with the
    logits of two models (``update_logits``, which also counts how often their
    top token agrees and how the token's probability changes, as llama.cpp's
    ``perplexity --kl-divergence``); ask for ``result()`` at the end.  The
    state stays in the batch's library, on its device; an update reads no
    value (no host synchronisation), so a GPU stream is never stalled.

    Parameters
    ----------
    exact : bool, default False
        Also keep every value (on the device) while there are at most
        ``max_exact`` of them, for exact quantiles; beyond that the values
        are dropped and the sketch answers.
    max_exact : int, default 2**24
        How many values (per statistic) ``exact=True`` keeps at most.
    relative_accuracy : float, default 1e-3
        The sketch's bound ``alpha``: each order statistic it reports is within
        a relative ``alpha`` of the true one.
    min_value, max_value : float, default 1e-9 and 1e9
        The sketch's range: values with ``|x| <= min_value`` are reported as
        0 (absolute error at most ``min_value``), values beyond ``max_value``
        by the exact extreme.

    Raises
    ------
    ValueError
        A ``relative_accuracy`` outside (0, 0.5), a bad range, or a negative
        ``max_exact``.

    See Also
    --------
    kl_backends.kl_divergence : The per-token KL (``reduction="none"``).

    Notes
    -----
    Count, sum and extremes merge exactly; mean and variance with Chan, Golub
    and LeVeque's parallel update (``M2 = M2_a + M2_b + delta**2 n_a n_b / n``,
    ``delta`` the difference of the means), with Neumaier-compensated running
    sums, in float64 where the library has it on the device (NumPy, PyTorch
    except on MPS, TensorFlow, Dask, CuPy, JAX with ``jax_enable_x64``), else
    in float32.  Counts are integers of the library's index dtype (int32 on
    JAX without x64: at most ``2**31 - 1`` tokens).

    Quantiles (``np.quantile``'s default "linear" definition, which is
    llama.cpp's) come from a signed log-bucket histogram (DDSketch) whose
    buckets are counted on the device with ``sort`` and ``searchsorted``;
    merging two is adding two integer vectors, so a merged sketch is the
    sketch of the union, exactly.

    ``std`` is the sample standard deviation (``ddof=1``) and ``sem`` is
    ``std / sqrt(count)``, the same as llama.cpp's "±" (which it prints as 0
    for ten tokens or fewer).  NaN values are counted apart: while there are
    any, every statistic is NaN unless ``result(omit_nan=True)``.  An
    infinite KL makes the mean infinite and the standard deviation NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends import KLStats
    >>> stats = KLStats(exact=True)
    >>> for batch in np.array_split(np.linspace(0.0, 1.0, 101), 3):
    ...     _ = stats.update(batch)
    >>> r = stats.result()
    >>> r.count, round(r.mean, 6), round(r.std, 6), round(r.quantiles[0.9], 6), r.quantile_method
    (101, 0.5, 0.293002, 0.9, 'exact')
    >>> a, b = KLStats().update(np.full(4, 0.25)), KLStats().update(np.full(4, 0.75))
    >>> round((a + b).result().mean, 6)
    0.5
    """

    def __init__(
        self,
        *,
        exact: bool = False,
        max_exact: int = 2**24,
        relative_accuracy: float = 1e-3,
        min_value: float = 1e-9,
        max_value: float = 1e9,
    ) -> None:
        if not isinstance(exact, bool):
            raise TypeError(f"exact must be a bool; got {exact!r}")
        if not isinstance(max_exact, int) or max_exact < 0:
            raise ValueError(f"max_exact must be a non-negative int; got {max_exact!r}")
        alpha, lo, hi = float(relative_accuracy), float(min_value), float(max_value)
        self._kl_sketch = Sketch(alpha, lo, hi)
        self._dp_sketch = Sketch(alpha, lo, 1.0 if lo < 1.0 else 2 * lo)
        self._max_exact = max_exact
        self._be: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._const: dict[str, Any] = {}
        self._parts: dict[str, dict[str, Any] | None] = {"kl": None, "dp": None, "dp2": None}
        self._top: dict[str, Any] | None = None
        self._kept: dict[str, list[Any] | None] = {
            "kl": [] if exact else None,
            "dp": [] if exact else None,
        }
        self._sizes = {"kl": 0, "dp": 0}
        self._of: set[str] = set()

    # -- configuration ----------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        s = self._kl_sketch
        return {
            "relative_accuracy": s.alpha,
            "min_value": s.min_value,
            "max_value": s.max_value,
            "max_exact": self._max_exact,
        }

    def __repr__(self) -> str:
        where = "empty" if self._be is None else f"{self._be.name}, {self._device}"
        return f"<KLStats {where}>"

    def copy(self) -> KLStats:
        """A copy that can be updated on its own (the arrays are shared, never mutated)."""
        new = KLStats.__new__(KLStats)
        new.__dict__.update(self.__dict__)
        new._parts = dict(self._parts)
        new._kept = {k: None if v is None else list(v) for k, v in self._kept.items()}
        new._sizes = dict(self._sizes)
        new._of = set(self._of)
        return new

    # -- where the state lives --------------------------------------------------
    def _adopt(self, be: Any, device: Any) -> None:
        """Put the state in ``be``'s library on ``device`` (a NumPy state moves there)."""
        if self._be is be and (self._device == device or device is None):
            return
        if self._be is not None and not self._be.is_reference:
            if self._be is not be:
                raise TypeError(
                    f"this KLStats holds {self._be.name} arrays; a batch of {be.name} "
                    "arrays cannot join it (convert one of them first)"
                )
            raise ValueError(
                f"this KLStats lives on {self._device!r}; a batch on {device!r} cannot join it"
            )
        dtype = _moments.work_dtype(be.xp, device)
        if self._be is not None:
            self._parts = {
                k: _state.to_library(self._be, v, be, device, dtype) for k, v in self._parts.items()
            }
            self._top = _state.to_library(self._be, self._top, be, device, dtype)
            for key, kept in self._kept.items():
                if kept is not None:
                    self._kept[key] = [
                        be.xp.asarray(self._be.to_numpy(v), dtype=dtype, device=device)
                        for v in kept
                    ]
        self._be, self._device, self._dtype = be, device, dtype
        self._const = {
            "kl": self._kl_sketch.constants(be.xp, dtype, device),
            "dp": self._dp_sketch.constants(be.xp, dtype, device),
        }

    def _feed(self, key: str, x: Any, valid: Any) -> None:
        """Add 1-d ``x`` (work dtype) where ``valid`` to the statistic ``key``."""
        xp = self._be.xp
        sketch = {"kl": self._kl_sketch, "dp": self._dp_sketch}.get(key)
        const = self._const.get(key, {})
        kept = self._kept.get(key)
        if kept is not None:
            self._sizes[key] += x.shape[0]
            if self._sizes[key] > self._max_exact:
                self._kept[key] = None  # no longer fits: the sketch answers
            else:
                kept.append(xp.where(valid, x, xp.zeros_like(x) + math.nan))
        if type(self._be).jit is not Backend.jit:  # compiles eager calls: few shapes
            pad = max(1024, 1 << (x.shape[0] - 1).bit_length()) - x.shape[0]
            if pad:
                x = xp.concat([x, xp.zeros((pad,), dtype=x.dtype, device=self._device)])
                valid = xp.concat([valid, xp.zeros((pad,), dtype=xp.bool, device=self._device)])
        with self._be.quiet():  # inf - inf in an infinite KL's deviation: NaN, by design
            old = self._parts[key]
            if old is None:
                old = _moments.empty(xp, sketch, self._dtype, self._device)
            run = self._be.jit(_moments.step, xp, sketch)
            self._parts[key] = run(old, x, valid, const)

    # -- feeding ------------------------------------------------------------------
    def update(self, kl: Any, where: Any = None) -> KLStats:
        """Add a batch of per-token KL values.

        Parameters
        ----------
        kl : array, any shape
            Per-token KL (e.g. ``kl_divergence(..., reduction="none")``), of
            any array library; NaN counts apart (``nan_count``).
        where : bool array, broadcastable to ``kl``'s shape, optional
            Which tokens count (e.g. ``labels != -100``); default all.

        Returns
        -------
        KLStats
            ``self``, updated.

        Raises
        ------
        TypeError
            ``kl`` not an array of a supported library, ``where`` not boolean,
            or a batch of another library than the state's.
        ValueError
            ``where`` that does not broadcast, or a batch on another device.
        """
        be, xp, (x,), _ = _common.prepare(kl, names=("kl",), upcast=True)
        valid = _tokens.mask_of(be, x, where, x.shape, "kl")
        self._adopt(be, be.device(x))
        size = math.prod(x.shape)
        if size:
            x = xp.reshape(xp.astype(x, self._dtype), (size,))
            self._feed("kl", x, xp.reshape(valid, (size,)))
        return self

    def update_logits(
        self,
        base_logits: Any,
        other_logits: Any,
        where: Any = None,
        *,
        temperature: float | None = None,
        targets: Any = None,
        upcast: bool = False,
    ) -> KLStats:
        r"""Add a batch of two models' logits: KL(base || other) per token, and more.

        Parameters
        ----------
        base_logits, other_logits : arrays ``[..., V]``, the same shape
            Logits of the reference model and of the one compared with it,
            the vocabulary last; float16 and bfloat16 are computed in float32.
        where : bool array, broadcastable to ``[...]``, optional
            Which tokens count (padding excluded); default all.
        temperature : float, optional
            Both sides' logits are divided by it first (KL, top token and
            probabilities of the tempered distributions).
        targets : int array ``[...]``, optional
            The token whose probability change is measured at each position:
            the next token of the evaluated text, as llama.cpp measures it.
            Default: the base model's most probable token.  An id outside
            ``[0, V)`` gives a NaN change (count in ``delta_p_nan_count``).
        upcast : bool, default False
            Compute in the accumulator's dtype (float64 where the library has
            it) rather than the logits' (float16 and bfloat16: float32): for
            nearly identical models, whose KL (around 1e-7 and below) float32
            rounding of the log-softmax (about 1e-7 absolute) would swamp.
            Costs a float64 copy of the batch.

        Returns
        -------
        KLStats
            ``self``, updated.

        Raises
        ------
        TypeError, ValueError
            As ``update``; logits of two shapes, or 0-d logits.

        Notes
        -----
        Per token (llama.cpp's ``tools/perplexity/perplexity.cpp``,
        ``log_softmax`` and ``kl_divergence``): the KL is
        ``sum_i p_base,i (log p_base,i - log p_other,i)`` (computed exactly
        here, where llama.cpp stores the base log-probabilities in 16 bits and
        skips those below -16); the top token agrees when
        ``argmax(base) == argmax(other)`` (the first maximum on ties); the
        probability change is ``p_other(t) - p_base(t)`` of the token ``t``.
        """
        be, xp, (b, o), _ = _common.prepare(
            base_logits, other_logits, names=("base_logits", "other_logits")
        )
        if b.ndim == 0 or tuple(b.shape) != tuple(o.shape):
            raise ValueError(
                "base_logits and other_logits must have one shape [..., V]; got "
                f"{tuple(b.shape)} and {tuple(o.shape)}"
            )
        shape = tuple(b.shape[:-1])
        valid = _tokens.mask_of(be, b[..., 0], where, shape, "base_logits")
        self._adopt(be, be.device(b))
        if _args.check_bool("upcast", upcast):
            b, o = xp.astype(b, self._dtype), xp.astype(o, self._dtype)
        kl = kl_divergence(b, o, inputs="logits", temperature=temperature, where=valid)
        size = math.prod(shape)
        if not size:
            return self
        dev, dt = self._device, self._dtype
        if targets is None:
            self._of.add("base top")
        else:
            _, (_, targets) = _dispatch.resolve(b, targets, names=("base_logits", "targets"))
            if not xp.isdtype(targets.dtype, "integral"):
                raise TypeError(f"targets must be integer token ids; got dtype {targets.dtype}")
            targets = xp.broadcast_to(targets, shape)
            self._of.add("target")
        with be.quiet():
            run = be.jit(_tokens.token_stats, xp, dt, dev)
            dp, same = run(b, o, temperature, targets)
        flat = (size,)
        v = xp.reshape(valid, flat)
        self._feed("kl", xp.reshape(xp.astype(kl, dt), flat), v)
        dp = xp.reshape(dp, flat)
        self._feed("dp", dp, v)
        self._feed("dp2", dp * dp, v)
        index = xp.__array_namespace_info__().default_dtypes(device=dev)["indexing"]
        same = xp.reshape(same, flat)
        top = {
            "n": xp.sum(xp.astype(v, index)),
            "same": xp.sum(xp.astype(v & same, index)),
        }
        old = self._top
        self._top = top if old is None else {k: old[k] + top[k] for k in top}
        return self

    # -- merging ------------------------------------------------------------------
    def merge(self, other: KLStats) -> KLStats:
        """Add ``other``'s tokens to ``self`` (in place), exactly as if fed here.

        Parameters
        ----------
        other : KLStats
            Statistics of other batches, chunks or processes, made with the same
            ``relative_accuracy``, ``min_value`` and ``max_value``; on the same
            library and device, or from ``from_dict`` (NumPy), which moves to
            this one's library.

        Returns
        -------
        KLStats
            ``self``.

        Raises
        ------
        TypeError
            ``other`` is not a KLStats, or holds arrays of another library.
        ValueError
            Another sketch layout, or another device.
        """
        if not isinstance(other, KLStats):
            raise TypeError(f"can only merge a KLStats; got {type(other).__name__}")
        if other._config() != self._config():
            raise ValueError(
                f"cannot merge KLStats of other settings: {other._config()} != {self._config()}"
            )
        other = other.copy()
        if other._be is not None:
            if self._be is None or (self._be.is_reference and not other._be.is_reference):
                self._adopt(other._be, other._device)
            other._adopt(self._be, self._device)
        xp = self._be.xp if self._be is not None else None
        for key in self._parts:
            a, b = self._parts[key], other._parts[key]
            if a is not None and b is not None:
                with self._be.quiet():
                    self._parts[key] = _moments.merge(xp, a, b)
            else:
                self._parts[key] = a if b is None else b
        a, b = self._top, other._top
        self._top = a if b is None else b if a is None else {k: a[k] + b[k] for k in a}
        for key in self._kept:
            mine, theirs = self._kept[key], other._kept[key]
            self._sizes[key] += other._sizes[key]
            fits = self._sizes[key] <= self._max_exact
            both = mine is not None and theirs is not None
            self._kept[key] = mine + theirs if both and fits else None  # type: ignore[operator]
        self._of |= other._of
        return self

    def __copy__(self) -> KLStats:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as ``to_dict()`` (NumPy on unpickling; merging moves it back)."""
        return (KLStats.from_dict, (self.to_dict(),))

    def __add__(self, other: KLStats) -> KLStats:
        if not isinstance(other, KLStats):
            return NotImplemented
        return self.copy().merge(other)

    def __radd__(self, other: Any) -> KLStats:
        if isinstance(other, int) and other == 0:  # sum(parts)
            return self.copy()
        return NotImplemented

    # -- serialising -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready Python values (one host transfer).

        ``KLStats.from_dict`` rebuilds it, in another process for instance, and
        ``merge`` combines it with others exactly: the histogram's counts are
        integers, the sums are float64 numbers (``inf`` and NaN as strings).
        Kept values (``exact=True``) are included as a list of floats.

        Returns
        -------
        dict
        """
        return _state.dump(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KLStats:
        """A ``KLStats`` (NumPy arrays, float64) from ``to_dict``'s output.

        Parameters
        ----------
        data : dict
            As ``to_dict`` returned it (possibly through JSON).

        Returns
        -------
        KLStats
            Merging it into statistics on a device moves it there.

        Raises
        ------
        ValueError
            Not a ``to_dict`` result, or an inconsistent one.
        """
        return _state.load(cls, data)

    # -- reading --------------------------------------------------------------------
    def _host(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The state as NumPy, and the kept values (or None) as float64 NumPy."""
        be = self._be
        host = _state.gather(be, {**self._parts, "top": self._top})
        kept = {}
        for key, values in self._kept.items():
            if values is None or not values:
                kept[key] = None if values is None else np.zeros(0)
            else:
                joined = be.to_numpy(be.xp.concat(values) if len(values) > 1 else values[0])
                kept[key] = joined[~np.isnan(joined)]
        return host, kept

    def result(
        self,
        quantiles: Sequence[float] = QUANTILES,
        delta_p_quantiles: Sequence[float] = DELTA_P_QUANTILES,
        *,
        omit_nan: bool = False,
    ) -> KLResult:
        """The statistics so far (one host transfer of the state).

        Parameters
        ----------
        quantiles, delta_p_quantiles : sequence of float in [0, 1]
            Which quantiles of the KL and of the probability change to report.
        omit_nan : bool, default False
            Report the statistics of the non-NaN values even where NaN values
            were seen (their number is in ``nan_count`` either way).

        Returns
        -------
        KLResult

        Raises
        ------
        ValueError
            A quantile outside [0, 1].
        """
        return build(self, quantiles, delta_p_quantiles, omit_nan)
