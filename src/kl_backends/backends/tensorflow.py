"""TensorFlow: recognition, kl_backends' array-API adapter, devices, symbolic tensors, the KL
kernel with its ``tf.custom_gradient``, the quick path, ``tf.function`` for the harness,
built-ins.

Nothing here imports TensorFlow until one of its tensors has arrived; ``_load``
then binds the module-level ``tf``.

The adapter.  array-api-compat has no TensorFlow namespace, and
``tf.experimental.numpy`` only behaves like NumPy after
``experimental_enable_numpy_behavior()``, which changes TensorFlow's global
behaviour for the whole process.  The adapter never does that: it maps the
array-API functions that kl_backends uses onto plain ``tf`` / ``tf.math``
operations, in the spirit of einops' TensorFlow backend.

Covered, and nothing else (``tests/test_tensorflow_adapter.py`` checks the
list): the dtypes ``float16``, ``bfloat16``, ``float32``, ``float64``, ``int64``;
``asarray``, ``astype``, ``result_type``, ``isdtype``, ``finfo``,
``__array_namespace_info__().default_dtypes``; elementwise ``where``,
``log``, ``log1p``, ``exp``, ``expm1``, ``sqrt``, ``abs``, ``isnan``,
``minimum``, ``maximum``, ``zeros_like``, ``cos``, ``tan``, ``sign``, ``floor``,
``isfinite``; ``broadcast_to``, ``broadcast_arrays``, ``expand_dims``, ``reshape``,
``concat``, ``flip``, ``eye``, ``ones``, ``arange``, ``matrix_transpose``, ``sort``,
``unique_values``, ``argmax``; reductions ``sum``, ``max``, ``mean``, ``any``,
``all``, ``std`` (``axis`` an int, a tuple or ``None``; ``keepdims``);
``linalg`` with ``cholesky``, ``diagonal``, ``solve``.  Operators
(``+ - * / == < >``) are TensorFlow's own, which are elementwise in TF 2.

The kernel: for small eager tensors ``xlogy(p, p) - xlogy(p, q)``; otherwise
``multiply_no_nan(log(p / q), p)`` (0 where ``p == 0``, as fast as
the naive formula), the rows it cannot be trusted with (NumPy's rule) recomputed
by the generic code under ``tf.cond``, and a ``tf.custom_gradient`` giving the
exact derivatives.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from kl_backends.backends._base import SMALL, Backend, Builtin, fast_paths_enabled
from kl_backends.backends.numpy import EXACT_BELOW

__all__ = ["TensorFlow", "namespace"]

tf: Any = None  # bound by _load() once a tensor has arrived


def _load() -> Any:
    global tf
    if tf is None:
        import tensorflow

        tf = tensorflow
    return tf


# --- the adapter ----------------------------------------------------------------


class _Info:
    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        return {
            "real floating": tf.float32,
            "integral": tf.int64,
            "indexing": tf.int64,
            "complex floating": tf.complex64,
        }


class _Linalg:
    """``linalg.cholesky``, ``linalg.diagonal`` and ``linalg.solve``."""

    @staticmethod
    def cholesky(x: Any, /) -> Any:
        return tf.linalg.cholesky(x)

    @staticmethod
    def diagonal(x: Any, /, *, offset: int = 0) -> Any:
        return tf.linalg.diag_part(x, k=offset)

    @staticmethod
    def solve(x1: Any, x2: Any, /) -> Any:
        return tf.linalg.solve(x1, x2)


class _Namespace:
    """The array-API subset used by kl_backends, on TensorFlow tensors."""

    __name__ = "kl_backends.backends.tensorflow"

    def __init__(self) -> None:
        self.float16, self.bfloat16 = tf.float16, tf.bfloat16
        self.float32, self.float64, self.int64 = tf.float32, tf.float64, tf.int64
        self.log, self.log1p = tf.math.log, tf.math.log1p
        self.exp, self.expm1 = tf.math.exp, tf.math.expm1
        self.sqrt, self.abs, self.isnan = tf.math.sqrt, tf.math.abs, tf.math.is_nan
        self.minimum, self.maximum = tf.math.minimum, tf.math.maximum
        self.zeros_like = tf.zeros_like
        self.cos, self.tan, self.sign = tf.math.cos, tf.math.tan, tf.math.sign
        self.floor, self.isfinite = tf.math.floor, tf.math.is_finite
        self.linalg = _Linalg()
        self._floating = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
        self._signed = (tf.int8, tf.int16, tf.int32, tf.int64)
        self._unsigned = (tf.uint8, tf.uint16, tf.uint32, tf.uint64)
        # Promotion order (array-API rules, restricted to what TF has).
        self._float_rank = {tf.float16: 1, tf.bfloat16: 1, tf.float32: 2, tf.float64: 3}

    def __array_namespace_info__(self) -> _Info:
        return _Info()

    # -- creation and dtypes ------------------------------------------------
    @staticmethod
    def asarray(x: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
        if device is not None:
            with tf.device(device):
                return _as_tensor(x, dtype)
        return _as_tensor(x, dtype)

    @staticmethod
    def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        return x if x.dtype == dtype else tf.cast(x, dtype)

    def isdtype(self, dtype: Any, kind: Any) -> bool:
        if isinstance(kind, tuple):
            return any(self.isdtype(dtype, k) for k in kind)
        if kind == "real floating":
            return dtype in self._floating
        if kind == "bool":
            return dtype == tf.bool
        if kind == "signed integer":
            return dtype in self._signed
        if kind == "unsigned integer":
            return dtype in self._unsigned
        if kind == "integral":
            return dtype in self._signed + self._unsigned
        if kind == "complex floating":
            return dtype in (tf.complex64, tf.complex128)
        if kind == "numeric":
            return dtype in self._floating + self._signed + self._unsigned or dtype in (
                tf.complex64,
                tf.complex128,
            )
        return dtype == kind

    def result_type(self, *arrays_and_dtypes: Any) -> Any:
        dtypes = [getattr(a, "dtype", a) for a in arrays_and_dtypes]
        floats = [d for d in dtypes if d in self._float_rank]
        if not floats:
            if len(set(dtypes)) == 1:
                return dtypes[0]
            integral = self._signed + self._unsigned
            return tf.int64 if all(d in integral for d in dtypes) else dtypes[0]
        if len(set(floats)) == 1:
            return floats[0]
        if set(floats) == {tf.float16, tf.bfloat16}:
            return tf.float32
        return max(floats, key=self._float_rank.__getitem__)

    @staticmethod
    def finfo(dtype: Any) -> Any:
        return _finfo(dtype)

    # -- elementwise and shapes ---------------------------------------------
    @staticmethod
    def where(condition: Any, x1: Any, x2: Any, /) -> Any:
        return tf.where(condition, x1, x2)

    @staticmethod
    def eye(
        n_rows: int,
        n_cols: int | None = None,
        /,
        *,
        k: int = 0,
        dtype: Any = None,
        device: Any = None,
    ) -> Any:
        if k:
            raise NotImplementedError("eye(k != 0) is not covered by the adapter")
        return tf.eye(n_rows, n_cols, dtype=dtype or tf.float32)

    @staticmethod
    def unique_values(x: Any, /) -> Any:
        return tf.sort(tf.unique(tf.reshape(x, [-1])).y)

    @staticmethod
    def matrix_transpose(x: Any, /) -> Any:
        return tf.linalg.matrix_transpose(x)

    @staticmethod
    def sort(x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")

    @staticmethod
    def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.ones(shape, dtype=dtype or tf.float32)

    @staticmethod
    def concat(arrays: Any, /, *, axis: int = 0) -> Any:
        return tf.concat(list(arrays), axis)

    @staticmethod
    def reshape(x: Any, /, shape: tuple[int, ...], *, copy: Any = None) -> Any:
        return tf.reshape(x, shape)

    @staticmethod
    def expand_dims(x: Any, /, *, axis: int = 0) -> Any:
        return tf.expand_dims(x, axis)

    @staticmethod
    def broadcast_to(x: Any, /, shape: tuple[int, ...]) -> Any:
        return tf.broadcast_to(x, shape)

    @staticmethod
    def broadcast_arrays(*arrays: Any) -> list[Any]:
        shape = tf.TensorShape([])
        for a in arrays:
            shape = tf.broadcast_static_shape(shape, a.shape)
        return [tf.broadcast_to(a, shape) for a in arrays]

    @staticmethod
    def flip(x: Any, /, *, axis: int) -> Any:
        return tf.reverse(x, [axis])

    @staticmethod
    def argmax(x: Any, /, *, axis: int) -> Any:
        return tf.math.argmax(x, axis=axis)

    @staticmethod
    def arange(stop: int, /, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.range(stop, dtype=dtype or tf.int64)

    # -- reductions ---------------------------------------------------------
    @staticmethod
    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        if dtype is not None:
            x = tf.cast(x, dtype)
        return tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def all(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_all(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def std(x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False) -> Any:
        mean = tf.reduce_mean(x, axis=axis, keepdims=True)
        sq = tf.reduce_sum(tf.math.square(x - mean), axis=axis, keepdims=keepdims)
        n = tf.cast(tf.size(x) // tf.size(mean), x.dtype)
        return tf.math.sqrt(sq / (n - correction))

    @staticmethod
    def mean(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def any(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def _axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def _as_tensor(x: Any, dtype: Any) -> Any:
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x if dtype is None or x.dtype == dtype else tf.cast(x, dtype)
    return tf.convert_to_tensor(x, dtype=dtype)


@functools.cache
def _finfo(dtype: Any) -> Any:
    import ml_dtypes  # a TensorFlow dependency; its finfo knows bfloat16 too

    return ml_dtypes.finfo(dtype.as_numpy_dtype)


@functools.cache
def namespace() -> _Namespace:
    """The (single) TensorFlow namespace object."""
    _load()
    return _Namespace()


# --- the kernel -----------------------------------------------------------------


def _small(p: Any, q: Any, exact: Any) -> Any:
    """Small eager tensors: ``xlogy(p, p) - xlogy(p, q)``, two kernels fewer than ``_kl``
    and no custom gradient (TensorFlow's own ``xlogy`` gradients are exact); ``rel_entr``'s
    conventions built in, no ratio to overflow.  Nearly equal float64 rows (cancellation
    between the two logs) go to ``exact``, PyTorch's rule (``backends/torch.py``)."""
    a, b = tf.math.xlogy(p, p), tf.math.xlogy(p, q)
    sums = tf.reduce_sum(a - b, axis=-1)
    if p.dtype != tf.float64:
        return sums
    bad = tf.abs(sums) < 2.0**-52 * 1e12 * tf.reduce_sum(tf.abs(a) + tf.abs(b), axis=-1)
    if bool(tf.reduce_any(bad)):
        sums = tf.where(bad, exact(p, q), sums)
    return sums


def _kl(p: Any, q: Any, exact: Any) -> Any:
    @tf.custom_gradient
    def kl(p: Any, q: Any) -> Any:
        # multiply_no_nan(x, y) is 0 where y == 0, even for x = -inf or NaN: the zero
        # fix in the multiply itself, as fast as the naive formula.
        sums = tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p / q), p), axis=-1)
        # A negative q is all the sign check needs (numpy.py's rule): a negative p gives a
        # NaN or infinite term otherwise.  A comparison, as reduce_min would let a NaN
        # (zeroed under p == 0) hide a negative q.
        bad = tf.logical_not(tf.math.is_finite(sums)) | tf.reduce_any(q < 0, axis=-1)
        if "CPU" not in (p.device or ""):
            # A ratio below the normal range loses digits where subnormals are kept
            # (GPUs keep float64 ones): max(p / tiny, 1) < q, an exact scaling (it also
            # takes p == 0 under q > 1, unnormalised, to the generic code).  TensorFlow's
            # CPU kernels flush such a ratio to 0: a -inf term, a non-finite sum.
            scaled = tf.maximum(p * (1 / float(_finfo(p.dtype).tiny)), tf.ones((), p.dtype))
            bad = bad | tf.reduce_any(scaled < q, axis=-1)
        if p.dtype == tf.float64:
            bad = bad | (tf.abs(sums) < EXACT_BELOW * tf.reduce_sum(p, axis=-1))
        # The rows the fast form cannot be trusted with (numpy.py's rule) from the
        # generic code; tf.cond runs one branch, so it costs nothing until one needs it.
        value = tf.cond(tf.reduce_any(bad), lambda: tf.where(bad, exact(p, q), sums), lambda: sums)

        def grad(g: Any) -> Any:
            zero = tf.equal(p, 0)
            nought = tf.zeros((), p.dtype)
            one = tf.ones((), p.dtype)
            p_s, q_s = tf.where(zero, one, p), tf.where(zero, one, q)
            ratio = p_s / q_s
            # log p - log q where the ratio leaves the normal range (flushed to 0 on CPU:
            # log(p / q) would be -inf for p = 1e-300, q = 1e15).
            normal = (ratio >= _finfo(p.dtype).tiny) & (ratio < float("inf"))
            log_ratio = tf.where(normal, tf.math.log(ratio), tf.math.log(p_s) - tf.math.log(q_s))
            g = tf.expand_dims(g, -1)
            return (
                tf.where(zero, nought, log_ratio + 1) * g,
                tf.where(zero, nought, -ratio) * g,
            )

        return value, grad

    return kl(p, q)


# --- rows of logits (``logits_rows``) ------------------------------------------------


def _fused_kl_ce(kind: str, prep: Any, a: Any, b: Any, temperature: Any, work: Any) -> Any:
    """KL and cross-entropy rows from TensorFlow's fused ``log_softmax``/``softmax`` kernels.

    (TF runs each op as a pass over memory: the generic form's safe substitutions
    cost a pass each.)  ``where(p == 0, 0, x) * p`` is 0 where ``p == 0``, whatever
    ``x`` is (``-inf`` logits on both sides), and ``p * inf = inf`` where only the
    second side is ``-inf``; unlike ``multiply_no_nan`` its derivative (which a
    nested ``GradientTape`` takes for second derivatives) holds no ``0 * inf``.  One difference from the generic code: where
    ``exp(lp)`` underflows to 0 but ``lq == -inf`` the term is 0, not ``+inf``.
    Backward: ``(softmax(b) - softmax(a)) g / T`` for the second input; for the
    first ``p (lp - lq - KL)`` (KL) or ``-p (lq + H)`` (cross-entropy).
    """
    zero = tf.zeros((), work)

    @tf.custom_gradient
    def inner(a: Any, b: Any) -> Any:
        lp = tf.nn.log_softmax(prep(a))
        lq = tf.nn.log_softmax(prep(b))
        p = tf.exp(lp)
        # 0 where p == 0 (a select, not multiply_no_nan): its derivative, which a nested
        # tape takes (second derivatives), sends no 0 * inf into the logits either.
        if kind == "kl":
            vals = tf.reduce_sum(tf.where(p == 0, zero, lp - lq) * p, axis=-1)
        else:
            vals = -tf.reduce_sum(tf.where(p == 0, zero, lq) * p, axis=-1)

        def grad(g: Any) -> Any:
            g = tf.cast(g, work)
            if temperature is not None:
                g = g / temperature
            g = g[:, None]
            pa = tf.nn.softmax(prep(a))
            gb = (tf.nn.softmax(prep(b)) - pa) * g
            lqb = tf.nn.log_softmax(prep(b))
            if kind == "kl":
                inner_a = tf.nn.log_softmax(prep(a)) - lqb - vals[:, None]
            else:
                inner_a = -(lqb + vals[:, None])
            ga = tf.where(pa == 0, zero, inner_a) * pa * g
            return tf.cast(ga, a.dtype), tf.cast(gb, b.dtype)

        return vals, grad

    return inner(a, b)


# --- rows of logits (``logits_rows``) ------------------------------------------------
#
# A ``tf.custom_gradient`` around the generic block functions of
# ``kl_backends._math.logits``: one block (the whole ``[N, V]`` array); the
# gradient is the closed form of ``backward_block`` from the row log-sum-exps
# kept by the forward (eagerly both inputs' gradients are formed; inside
# ``tf.function`` Grappler prunes the one nobody uses), in float32 for
# float16/bfloat16 and returned in the inputs' dtype.


def _logits_rows(
    be: Any, kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any
) -> Any:
    from kl_backends._math import logits as _logits

    if mask is not None:
        keep = mask[:, None]
        a = tf.where(keep, a, tf.zeros((), a.dtype))
        b = tf.where(keep, b, tf.zeros((), b.dtype))

    def prep(x: Any) -> Any:
        x = tf.cast(x, work)
        return x if temperature is None else x / temperature

    if kind in ("kl", "ce"):
        vals = _fused_kl_ce(kind, prep, a, b, temperature, work)
        if mask is not None:
            vals = tf.where(mask, vals, tf.zeros((), vals.dtype))
        return vals

    @tf.custom_gradient
    def inner(a: Any, b: Any) -> Any:
        vals, lse_a, lse_b = _logits.forward_block(be, kind, beta, prep(a), prep(b), with_lse=True)

        def grad(g: Any) -> Any:
            g = tf.cast(g, work)
            if temperature is not None:
                g = g / temperature
            ga, gb = _logits.backward_block(
                be, kind, beta, prep(a), prep(b), vals, g, (True, True), (lse_a, lse_b)
            )
            return tf.cast(ga, a.dtype), tf.cast(gb, b.dtype)

        return vals, grad

    vals = inner(a, b)
    if mask is not None:
        vals = tf.where(mask, vals, tf.zeros((), vals.dtype))
    return vals


class TensorFlow(Backend):
    name = module = distribution = extra = "tensorflow"
    array_types = ("Tensor", "Variable")
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "tf.function"
    autodiff = True
    compiled_in_matrix = True
    cost = 5

    def _namespace(self) -> Any:
        return namespace()

    def coerce(self, name: str, x: Any) -> Any:
        """A ``tf.Variable`` as the tensor of its value (read on the tape: gradients flow)."""
        tf_ = _load()
        return tf_.convert_to_tensor(x) if isinstance(x, tf_.Variable) else x

    def device(self, x: Any) -> Any:
        return x.device or None

    def values_unavailable(self, x: Any) -> str | None:
        if not tf.executing_eagerly() or tf.is_symbolic_tensor(x):
            return "it is a symbolic TensorFlow tensor (inside tf.function)"
        return None

    def solve_triangular(self, a: Any, b: Any) -> Any:
        return tf.linalg.triangular_solve(a, b, lower=True)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any:
        if p.shape[-1] == 0:
            return tf.reduce_sum(p, axis=-1)
        size = p.shape.num_elements()
        if size is not None and size <= SMALL and tf.executing_eagerly():
            return _small(p, q, functools.partial(exact, self))
        return _kl(p, q, functools.partial(exact, self))

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        dtype = p.dtype
        if (
            dtype != q.dtype
            or (dtype != tf.float32 and dtype != tf.float64)
            or p.shape != q.shape
            or not p.shape.rank
            or p.device != q.device
            or not fast_paths_enabled()
        ):
            return None
        return self.kl_last_axis(p, q, exact)

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def rng(self, seed: Any, like: Any) -> Any:
        """A stateless seed: ``[seed, 0]`` for an int, else the int tensor of shape [2] given."""
        if isinstance(seed, bool):
            raise TypeError("seed must be an int or a stateless seed of shape [2]; got bool")
        if isinstance(seed, int):
            return tf.constant([seed, 0], tf.int64)
        seed = tf.convert_to_tensor(seed)
        if seed.shape != (2,) or not seed.dtype.is_integer:
            raise TypeError(
                f"a TensorFlow stateless seed is an int tensor of shape [2]; got {seed!r}"
            )
        return tf.cast(seed, tf.int64)  # [5, 0] as int32 or int64: the same stream

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        state, key = tf.unstack(tf.random.experimental.stateless_split(state, 2))
        dtype = like.dtype
        r = tf.random
        if kind == "uniform":
            out = r.stateless_uniform(shape, key, dtype=dtype)
        elif kind == "normal":
            out = r.stateless_normal(shape, key, dtype=dtype)
        elif kind == "gamma":  # differentiable in alpha (implicit reparameterisation)
            out = r.stateless_gamma(shape, key, alpha=params[0], dtype=dtype)
        elif kind == "poisson":
            out = r.stateless_poisson(shape, key, lam=params[0], dtype=dtype)
        elif kind == "binomial":
            out = r.stateless_binomial(shape, key, params[0], params[1], output_dtype=dtype)
        else:
            raise ValueError(f"unknown kind of random numbers {kind!r}")
        return out, state

    # -- harness -----------------------------------------------------------
    def special(self, name: str) -> Any:
        _load()
        names = {
            "lgamma": tf.math.lgamma,
            "digamma": tf.math.digamma,
            "erf": tf.math.erf,
            "i0e": tf.math.bessel_i0e,
            "i1e": tf.math.bessel_i1e,
            "cos": tf.math.cos,  # not in the adapter
        }
        return names.get(name)

    def read_distribution(self, obj: Any) -> Any:
        """A container for a ``tfp.distributions`` object, else ``None``."""
        import sys

        _load()
        from kl_backends.distributions import _containers as C
        from kl_backends.distributions._interop import PROBS_OR_LOGITS, SAME_NAMES, fields_of

        dists = sys.modules.get("tensorflow_probability.python.distributions")
        if dists is None or not isinstance(obj, dists.Distribution):
            return None
        if not type(obj).__module__.startswith("tensorflow_probability."):
            return None
        name = type(obj).__name__
        params = obj.parameters
        renames = {"Pareto": {"alpha": "concentration"}, "InverseGamma": {"rate": "scale"}}

        def get(key: str) -> Any:
            value = params.get(key)
            return None if value is None else tf.convert_to_tensor(value)

        if name in ("Gamma", "Poisson", "Exponential") and params.get("rate") is None:
            rate = tf.exp(get("log_rate"))
            if name == "Gamma":
                return C.Gamma(get("concentration"), rate)
            return (C.Poisson if name == "Poisson" else C.Exponential)(rate)
        if name in SAME_NAMES and name != "LowRankMultivariateNormal":
            cls = SAME_NAMES[name]
            rename = renames.get(name, {})
            return cls(**{f: get(rename.get(f, f)) for f in fields_of(cls)})
        if name in PROBS_OR_LOGITS or name == "Binomial":
            kind = "logits" if params.get("logits") is not None else "probs"
            if name == "Binomial":
                return C.Binomial(get("total_count"), **{kind: get(kind)})
            return PROBS_OR_LOGITS[name](**{kind: get(kind)})

        def loc() -> Any:  # TFP's normals take loc=None for zeros
            given = get("loc")
            return obj.mean() if given is None else given

        if name == "MultivariateNormalTriL":
            return C.MultivariateNormal(loc(), scale_tril=get("scale_tril"))
        if name == "MultivariateNormalFullCovariance":
            return C.MultivariateNormal(loc(), covariance_matrix=get("covariance_matrix"))
        if name == "MultivariateNormalDiag" and params.get("scale_diag") is not None:
            return C.MultivariateNormal(loc(), scale_tril=tf.linalg.diag(get("scale_diag")))
        if name == "MultivariateNormalDiagPlusLowRankCovariance":
            return C.LowRankMultivariateNormal(
                loc(), get("cov_perturb_factor"), get("cov_diag_factor")
            )
        if isinstance(obj, dists.MultivariateNormalLinearOperator):
            # MultivariateNormalDiagPlusLowRank (scale = D + U diag(s) U^T, not a covariance
            # factor), MultivariateNormalLinearOperator: the covariance, as TFP's KL uses.
            return C.MultivariateNormal(obj.mean(), covariance_matrix=obj.covariance())
        if name == "Independent":
            base = self.read_distribution(obj.distribution)
            if base is None:
                return None
            n = params.get("reinterpreted_batch_ndims")
            return C.Independent(base, len(obj.distribution.batch_shape) if n is None else int(n))
        if name == "MixtureSameFamily":
            mix = self.read_distribution(obj.mixture_distribution)
            comp = self.read_distribution(obj.components_distribution)
            return None if mix is None or comp is None else C.MixtureSameFamily(mix, comp)
        return None

    def load(self) -> Any:
        # The harness compiles one tf.function per case on purpose: TensorFlow's
        # C++ start-up chatter and retracing warnings would bury the report.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        tf = _load()
        tf.get_logger().setLevel("ERROR")
        return tf

    def logits_rows(
        self, kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any
    ) -> Any:
        return _logits_rows(self, kind, beta, a, b, mask, temperature, work)

    def devices(self) -> list[str]:
        tf = self.load()
        gpus = tf.config.list_logical_devices("GPU")
        return ["CPU:0"] + [d.name.split("device:")[-1] for d in gpus]

    def asarray(self, a: Any, dtype: str, device: str = "CPU:0") -> Any:
        import numpy as np

        tf = self.load()
        with tf.device("CPU:0" if device == "cpu" else device):
            return tf.cast(tf.constant(np.asarray(a, dtype=np.float64)), getattr(tf, dtype))

    def to_numpy(self, x: Any) -> Any:
        tf = self.load()
        return tf.cast(x, tf.float64).numpy()

    def dtype_name(self, x: Any) -> str:
        return x.dtype.name

    def compile(self, fn: Any) -> Any:
        return self.load().function(fn)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return (
            Builtin(
                "tfp.distributions.kl_divergence(Categorical)",
                "tensorflow_probability",
                _tfp_categorical,
            ),
            Builtin("tf.keras.losses.kld(p, q)", "keras", _keras_kl),
            Builtin("tf_keras.losses.kl_divergence(p, q)", "tf_keras", _tf_keras_kl),
        )


def _tfp_categorical(p: Any, q: Any) -> Any:
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.kl_divergence(tfd.Categorical(probs=p), tfd.Categorical(probs=q))


def _keras_kl(p: Any, q: Any) -> Any:
    # (y_true, y_pred) = (p, q); both clipped to [1e-7, 1] first.  tf.keras is
    # Keras 3 on TF >= 2.16, where the function is only exported as ``kld``.
    return _load().keras.losses.kld(p, q)


def _tf_keras_kl(p: Any, q: Any) -> Any:
    import tf_keras

    return tf_keras.losses.kl_divergence(p, q)
