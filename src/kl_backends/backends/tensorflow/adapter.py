"""kl_backends' array-API adapter for TensorFlow, and the lazily bound ``tf``.

array-api-compat has no TensorFlow namespace, and
``tf.experimental.numpy`` only behaves like NumPy after
``experimental_enable_numpy_behavior()``, which changes TensorFlow's global
behaviour for the whole process.  The adapter never does that: it maps the
array-API functions that kl_backends uses onto plain ``tf`` / ``tf.math``
operations, in the spirit of einops' TensorFlow backend.

What it covers is listed in ``kl_backends.backends.tensorflow``'s docstring.

Importing this module imports no framework: ``_load`` binds ``tf``.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["namespace"]

tf: Any = None  # bound by _load() once a tensor has arrived


def _load() -> Any:
    global tf
    if tf is None:
        import tensorflow

        tf = tensorflow
        _leave_to_autograph_alone()
    return tf


def _leave_to_autograph_alone() -> None:
    """AutoGraph calls kl_backends' code unconverted, as it calls TensorFlow's own.

    The math has no Python control flow on tensor values, so converting it buys
    nothing and costs seconds per ``tf.function`` trace.  The public functions carry
    the marker themselves (``Backend.function_attributes``); this rule covers the
    rest (methods of distribution objects called inside a user's ``tf.function``).
    The rule list is AutoGraph's own configuration: if it moves, traces are only slower.
    """
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # pragma: no cover - a TensorFlow without AutoGraph's config
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple) or not hasattr(config, "DoNotConvert"):
        return  # pragma: no cover
    if not any(getattr(r, "_prefix", None) == "kl_backends" for r in rules):
        config.CONVERSION_RULES = (config.DoNotConvert("kl_backends"), *rules)


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
