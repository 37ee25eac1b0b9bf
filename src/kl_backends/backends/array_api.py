"""Any library that follows the array API standard: array-api-strict, CuPy, and the rest.

The generic backend uses ``Backend``'s defaults, which are the standard's own
behaviour, with the namespace from array-api-compat.  array-api-strict (the
standard and nothing more: the test that the math is written against the
array API) and CuPy add only what the parity harness needs to convert their
arrays.
"""

from __future__ import annotations

import sys
from typing import Any

from kl_backends.backends._base import Backend

__all__ = ["ArrayAPI", "ArrayApiStrict", "CuPy"]


class ArrayAPI(Backend):
    """A library known only by its ``__array_namespace__`` (one instance per array type)."""

    def __init__(self, namespace: Any = None, name: str = "") -> None:
        self._given = namespace
        if name:
            self.name = self.module = name

    def owns(self, x: object) -> bool:
        return False  # instances are made by dispatch for the type it saw

    def _namespace(self) -> Any:
        return self._given

    def device(self, x: Any) -> Any:
        import array_api_compat

        try:
            return array_api_compat.device(x)
        except Exception:  # abstract values carry no device
            return None

    def values_unavailable(self, x: Any) -> str | None:
        import array_api_compat

        if array_api_compat.is_lazy_array(x):
            return "its library evaluates lazily"
        return None


class ArrayApiStrict(ArrayAPI):
    name = module = "array_api_strict"
    array_types = ("Array",)
    distribution = "array-api-strict"

    def owns(self, x: object) -> bool:
        mod = sys.modules.get("array_api_strict._array_object")  # where its Array lives
        return mod is not None and isinstance(x, mod.Array)

    def _namespace(self) -> Any:
        import array_api_strict

        return array_api_strict

    def values_unavailable(self, x: Any) -> str | None:
        return None

    def quiet(self) -> Any:
        import numpy as np  # array-api-strict computes with NumPy

        return np.errstate(divide="ignore", invalid="ignore")

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import numpy as np

        xp = self.load()
        return xp.asarray(np.asarray(a, dtype=dtype), dtype=getattr(xp, dtype))

    def to_numpy(self, x: Any) -> Any:
        import numpy as np

        return np.asarray(np.from_dlpack(x), dtype=np.float64)


class CuPy(ArrayAPI):
    name = module = "cupy"
    array_types = ("ndarray",)
    distribution = "cupy-cuda12x"
    needs_gpu = True
    cost = 2

    def owns(self, x: object) -> bool:
        return Backend.owns(self, x)

    def _namespace(self) -> Any:
        import array_api_compat.cupy as xp

        return xp

    def values_unavailable(self, x: Any) -> str | None:
        return None

    def special(self, name: str) -> Any:
        from kl_backends.backends._base import native_function
        from kl_backends.backends.numpy import SCIPY_SPECIAL

        return native_function("cupyx.scipy.special", SCIPY_SPECIAL.get(name))

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

    def asarray(self, a: Any, dtype: str, device: str = "cuda:0") -> Any:
        import numpy as np

        cp = self.load()
        with cp.cuda.Device(int(device.partition(":")[2] or 0)):
            return cp.asarray(np.asarray(a, dtype=dtype))

    def to_numpy(self, x: Any) -> Any:
        import numpy as np

        return np.asarray(x.get(), dtype=np.float64)
