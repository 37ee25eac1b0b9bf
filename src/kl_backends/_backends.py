"""The array libraries that kl_backends is checked on: find, load, convert.

Used by the ``kl-backends parity`` command and by the test suite; nothing in
the math depends on it.  A backend is imported only when asked for (``load``),
never by ``import kl_backends``.

Each backend knows how to turn a float64 NumPy array into one of its arrays of
a given dtype on a given device, and back into float64 NumPy; which devices it
sees; and how to compile a function (``jax.jit``, ``tf.function``,
``torch.compile``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "ENV_VAR", "Backend", "selected_backends"]

#: Environment variable that selects backends: comma-separated names, or "all".
ENV_VAR = "KL_BACKENDS"


class Backend:
    """One array library, as seen by the parity checks."""

    name: str = ""
    module: str = ""
    distribution: str = ""
    dtypes: tuple[str, ...] = ("float32", "float64")
    compiler: str | None = None  # name of the compiled mode, if any
    autodiff: bool = False

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"

    def installed(self) -> bool:
        """Whether the library can be imported (without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:  # "dask.array" when dask itself is absent
            return False

    def load(self) -> Any:
        return importlib.import_module(self.module)

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution or self.module)
        except importlib.metadata.PackageNotFoundError:
            return getattr(self.load(), "__version__", "?")

    def devices(self) -> list[str]:
        return ["cpu"]

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        """float64 NumPy copy of ``x`` (on the host)."""
        return np.asarray(x, dtype=np.float64)

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).rsplit(".", 1)[-1].replace("'>", "").replace("<dtype: '", "")

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError(f"{self.name} has no compiled mode")

    def round_trip(self, a: np.ndarray, dtype: str) -> np.ndarray:
        """``a`` rounded to ``dtype`` as this backend stores it, back in float64."""
        return self.to_numpy(self.asarray(a, dtype))


class _NumPy(Backend):
    name = module = distribution = "numpy"
    dtypes = ("float32", "float64", "float16")

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        return np.asarray(a, dtype=dtype)


class _ArrayApiStrict(Backend):
    name = module = "array_api_strict"
    distribution = "array-api-strict"

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        xp = self.load()
        return xp.asarray(np.asarray(a, dtype=dtype), dtype=getattr(xp, dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(np.from_dlpack(x), dtype=np.float64)


class _Torch(Backend):
    name = module = distribution = "torch"
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "torch.compile"
    autodiff = True

    def devices(self) -> list[str]:
        torch = self.load()
        found = ["cpu"]
        if torch.cuda.is_available():
            found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return found

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        torch = self.load()
        return torch.from_numpy(np.array(a, dtype=np.float64)).to(  # a writable copy
            device=device, dtype=getattr(torch, dtype)
        )

    def to_numpy(self, x: Any) -> np.ndarray:
        torch = self.load()
        return x.detach().to("cpu", torch.float64).numpy()

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.load().compile(fn, fullgraph=True, dynamic=False)


class _TensorFlow(Backend):
    name = module = distribution = "tensorflow"
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "tf.function"
    autodiff = True

    def load(self) -> Any:
        # The harness compiles one tf.function per case on purpose: TensorFlow's
        # C++ start-up chatter and retracing warnings would bury the report.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        tf = importlib.import_module("tensorflow")
        tf.get_logger().setLevel("ERROR")
        return tf

    def devices(self) -> list[str]:
        tf = self.load()
        gpus = tf.config.list_logical_devices("GPU")
        return ["CPU:0"] + [d.name.split("device:")[-1] for d in gpus]

    def asarray(self, a: np.ndarray, dtype: str, device: str = "CPU:0") -> Any:
        tf = self.load()
        with tf.device(_tf_device(device)):
            return tf.cast(tf.constant(np.asarray(a, dtype=np.float64)), getattr(tf, dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        tf = self.load()
        return tf.cast(x, tf.float64).numpy()

    def dtype_name(self, x: Any) -> str:
        return x.dtype.name

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.load().function(fn)


def _tf_device(device: str) -> str:
    return "CPU:0" if device == "cpu" else device


class _Jax(Backend):
    name = module = distribution = "jax"
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "jax.jit"
    autodiff = True

    def load(self) -> Any:
        jax = importlib.import_module("jax")
        # float64 is part of the matrix; JAX needs x64 mode for it.
        jax.config.update("jax_enable_x64", True)
        return jax

    def devices(self) -> list[str]:
        jax = self.load()
        found = ["cpu"]
        try:
            found += [f"gpu:{d.id}" for d in jax.devices("gpu")]
        except RuntimeError:  # no GPU backend
            pass
        return found

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        jax = self.load()
        platform, _, index = device.partition(":")
        dev = jax.devices(platform)[int(index or 0)]
        return jax.device_put(jax.numpy.asarray(np.asarray(a, np.float64), dtype=dtype), dev)

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.load().jit(fn)


class _Dask(Backend):
    name = "dask"
    module = "dask.array"
    distribution = "dask"
    dtypes = ("float32", "float64", "float16")

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        da = self.load()
        a = np.asarray(a, dtype=dtype)
        chunks = tuple(max(1, (n + 1) // 2) for n in a.shape)  # several chunks per axis
        return da.from_array(a, chunks=chunks)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x.compute(), dtype=np.float64)


class _CuPy(Backend):
    name = module = "cupy"
    distribution = "cupy-cuda12x"

    def installed(self) -> bool:
        if not super().installed():
            return False
        try:
            return self.load().cuda.runtime.getDeviceCount() > 0
        except Exception:  # no driver or no device
            return False

    def version(self) -> str:
        return self.load().__version__

    def devices(self) -> list[str]:
        return [f"cuda:{i}" for i in range(self.load().cuda.runtime.getDeviceCount())]

    def asarray(self, a: np.ndarray, dtype: str, device: str = "cuda:0") -> Any:
        cp = self.load()
        with cp.cuda.Device(int(device.partition(":")[2] or 0)):
            return cp.asarray(np.asarray(a, dtype=dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x.get(), dtype=np.float64)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (_NumPy(), _ArrayApiStrict(), _Torch(), _TensorFlow(), _Jax(), _Dask(), _CuPy())
}


def selected_backends(spec: str | Iterable[str] | None = None) -> list[Backend]:
    """The backends named by ``spec`` (default: ``$KL_BACKENDS``, else all).

    ``spec`` is a comma-separated string or an iterable of names; ``"all"``
    means every known backend.  Unknown names raise ``ValueError``.  Whether
    each is installed is not checked here.
    """
    if spec is None:
        spec = os.environ.get(ENV_VAR, "all")
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if not names or names == ["all"]:
        return list(BACKENDS.values())
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(
            f"unknown backend name(s) {unknown} in {ENV_VAR}; "
            f"known: {', '.join(BACKENDS)} (or 'all')"
        )
    return [BACKENDS[n] for n in names]


@functools.cache
def installed_backends() -> list[Backend]:
    return [b for b in BACKENDS.values() if b.installed()]
