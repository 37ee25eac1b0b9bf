"""TensorFlow: recognition, namespace (kl_backends' array-API adapter), devices, symbolic
tensors, and the wiring of its hooks.

Nothing here imports TensorFlow until one of its tensors has arrived; the
adapter's ``_load`` then binds ``tf``, and the role modules that import it are
imported: ``kernels`` (the probabilities kernel with its ``tf.custom_gradient``),
``logits`` (rows of logits), ``random`` (stateless seeds) and ``custom``
(``custom_vjp``, ``take_rows``).  ``adapter`` is the
namespace; ``harness`` serves the parity harness (devices, conversions,
``tf.function``, built-in KLs).

The adapter maps the array-API functions that kl_backends uses onto plain
``tf`` / ``tf.math`` operations, without TensorFlow's global NumPy behaviour.
Covered, and nothing else (``tests/backends/test_tensorflow_adapter.py`` checks the
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
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends._lib.policy import quick_admits
from kl_backends.backends._base import Backend, Builtin
from kl_backends.backends.tensorflow import adapter as _adapter
from kl_backends.backends.tensorflow import harness as _harness
from kl_backends.backends.tensorflow import transforms as _transforms
from kl_backends.backends.tensorflow.adapter import namespace

__all__ = ["TensorFlow", "namespace"]


@functools.cache
def _roles() -> Any:
    """The role modules that import TensorFlow (once a tensor has arrived)."""
    from kl_backends.backends.tensorflow import custom, kernels, logits, random

    return kernels, logits, random, custom


def _same_device(p: Any, q: Any) -> bool:
    return bool(p.device == q.device)


class TensorFlow(Backend):
    name = module = distribution = extra = "tensorflow"
    #: AutoGraph takes kl_backends' public functions as they are (``_harness.load`` adds
    #: a rule for the rest of the package, reached through methods).
    function_attributes = (("autograph_info__", {}),)
    array_types = ("Tensor", "Variable")
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "tf.function"
    autodiff = True
    transforms = _transforms
    compiled_in_matrix = True
    cost = 5
    permutes_axes = False  # the adapter has no permute_dims: rows in place along the axes

    def _namespace(self) -> Any:
        return namespace()

    def coerce(self, name: str, x: Any) -> Any:
        """A ``tf.Variable`` as the tensor of its value (read on the tape: gradients flow)."""
        tf = _adapter._load()
        return tf.convert_to_tensor(x) if isinstance(x, tf.Variable) else x

    def device(self, x: Any) -> Any:
        return x.device or None

    def values_unavailable(self, x: Any) -> str | None:
        tf = _adapter.tf
        if not tf.executing_eagerly() or tf.is_symbolic_tensor(x):
            return "it is a symbolic TensorFlow tensor (inside tf.function)"
        return None

    def solve_triangular(self, a: Any, b: Any) -> Any:
        return _adapter.tf.linalg.triangular_solve(a, b, lower=True)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any:
        return _roles()[0].kl_last_axis(p, q, functools.partial(exact, self))

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        tf = _adapter.tf
        if not quick_admits(p, q, (tf.float32, tf.float64), _same_device):
            return None
        return self.kl_last_axis(p, q, exact)

    def logits_rows(self, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
        return _roles()[1].logits_rows(self, spec, a, b, mask, generic)

    def stop_gradient(self, x: Any) -> Any:
        return _adapter.tf.stop_gradient(x)

    def custom_vjp(self, forward: Any, backward: Any) -> Any:
        return _roles()[3].custom_vjp(forward, backward)

    def take_rows(self, x: Any, ids: Any) -> Any:
        return _roles()[3].take_rows(x, ids)

    def rng(self, seed: Any, like: Any) -> Any:
        """A stateless seed: ``[seed, 0]`` for an int, else the int tensor of shape [2] given."""
        return _roles()[2].rng(seed, like)

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        return _roles()[2].draw(state, kind, shape, like, *params)

    def special(self, name: str) -> Any:
        tf = _adapter._load()
        names = {
            "lgamma": tf.math.lgamma,
            "digamma": tf.math.digamma,
            "erf": tf.math.erf,
            "i0e": tf.math.bessel_i0e,
            "i1e": tf.math.bessel_i1e,
            "cos": tf.math.cos,  # not in the adapter
        }
        return names.get(name)

    # -- harness -----------------------------------------------------------
    def load(self) -> Any:
        return _harness.load()

    def devices(self) -> list[str]:
        return _harness.devices()

    def asarray(self, a: Any, dtype: str, device: str = "CPU:0") -> Any:
        return _harness.asarray(a, dtype, device)

    def to_numpy(self, x: Any) -> Any:
        return _harness.to_numpy(x)

    def dtype_name(self, x: Any) -> str:
        return x.dtype.name

    def compile(self, fn: Any, *, convert: bool = True) -> Any:
        return self.load().function(fn, autograph=convert)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return _harness.BUILTINS
