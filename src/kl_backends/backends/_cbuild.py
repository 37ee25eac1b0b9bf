"""Building and loading the C kernels of ``backends/`` (``_logits_cpu``, ``_probs_cpu``).

A kernel's C source is compiled once with the system's C compiler (``cc``; ``-O3
-march=native``) into a shared library cached under ``~/.cache/kl_backends`` (or
``$KL_BACKENDS_CACHE``), keyed by the source, the compiler flags and the CPU, and loaded
with ``ctypes``.  No framework is imported here.  Where no compiler is found, or the build
fails, ``load`` returns ``None`` and the callers keep their other paths;
``KL_BACKENDS_CPU_KERNEL=0`` turns every C kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FLAGS", "FPENV", "enabled", "load", "threads"]

FLAGS = (
    "-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math",
    "-fPIC", "-shared",
)  # fmt: skip

#: C macros reading and setting a thread's floating-point environment (x86: MXCSR, with
#: the flush-to-zero and denormals-are-zero bits): a kernel's threads take their caller's,
#: so that a row's result does not depend on the thread that computes it.  XLA sets both
#: bits on its CPU threads; a thread started for the call inherits its creator's (the
#: logits kernel's threads, ``kl_probs_rows_own_threads``), but an OpenMP pool's threads
#: keep the environment they were started with (``kl_probs_rows``).  Elsewhere no-ops.
FPENV = r"""
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FPENV_GET() _mm_getcsr()
#define FPENV_SET(env) _mm_setcsr(env)
#else
#define FPENV_GET() 0u
#define FPENV_SET(env) ((void)(env))
#endif
"""

_lock = threading.Lock()
_loaded: dict[tuple[str, str], Any] = {}  # (kernel, tag) -> library or None, once tried


def enabled() -> bool:
    """False under ``KL_BACKENDS_CPU_KERNEL=0``."""
    return os.environ.get("KL_BACKENDS_CPU_KERNEL", "1") != "0"


def _cpu_key() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith(("model name", "flags"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _cache_dir(kernel: str) -> str:
    root = os.environ.get("KL_BACKENDS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kl_backends"
    )
    return os.path.join(root, kernel)


def _build(
    source: str,
    compiler: str,
    path: str,
    cxx: str | None,
    include: str | None,
    extra: tuple[str, ...],
) -> None:
    """Compile ``source`` (and ``cxx``, C++) into ``path`` (built in a temporary
    directory, then renamed into place)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        src = os.path.join(tmp, "kernel.c")
        out = os.path.join(tmp, "kernel.so")
        with open(src, "w") as f:
            f.write(source)
        files = ["-x", "c", src]
        if cxx is not None:
            with open(os.path.join(tmp, "wrap.cc"), "w") as f:
                f.write(cxx)
            files += ["-x", "c++", os.path.join(tmp, "wrap.cc")]
        inc = [] if include is None else ["-I", include]
        cmd = [compiler, *FLAGS, *extra, *inc, *files, "-o", out, "-lm", "-lpthread"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        os.replace(out, path)


def _load(
    kernel: str, source: str, tag: str, cxx: str | None, include: str | None, openmp: bool
) -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") and sys.platform != "darwin":
        return None
    env, names = ("CC", ("cc", "gcc")) if cxx is None else ("CXX", ("c++", "g++"))
    compiler = os.environ.get(env) or shutil.which(names[0]) or shutil.which(names[1])
    if compiler is None:
        return None
    # The cache, else (an unwritable home) a per-user temporary directory.
    fallback = os.path.join(tempfile.gettempdir(), f"kl_backends-{os.getuid()}", kernel)
    machine = (platform.machine(), _cpu_key())
    # With OpenMP where asked for, else (no OpenMP runtime to link) without.
    for extra in (("-fopenmp",), ()) if openmp else ((),):
        parts = (source, cxx or "", include or "", " ".join(FLAGS + extra), compiler)
        key = hashlib.sha256("\0".join((*parts, *machine)).encode())
        for root in (_cache_dir(kernel), fallback):
            path = os.path.join(root, f"{kernel}_{tag}_{key.hexdigest()[:20]}.so")
            try:
                if not os.path.exists(path):
                    _build(source, compiler, path, cxx, include, extra)
                return ctypes.CDLL(path)
            except (OSError, subprocess.SubprocessError):
                continue
    return None


def load(
    kernel: str,
    source: str,
    declare: Callable[[Any], None],
    tag: str = "c",
    cxx: str | None = None,
    include: str | None = None,
    openmp: bool = False,
) -> Any:
    """The library of ``kernel`` built from ``source`` (once per process and tag; ``None``
    where it cannot be built or under ``KL_BACKENDS_CPU_KERNEL=0``).

    ``declare(lib)`` sets the ``ctypes`` signatures once it is loaded; ``cxx``: C++ source
    compiled into the same library (a framework's wrapper, tagged ``tag``), with
    ``include`` on the include path; ``openmp``: built with ``-fopenmp`` where that links
    (else without).
    """
    if not enabled():
        return None
    if (kernel, tag) not in _loaded:
        with _lock:
            if (kernel, tag) not in _loaded:
                lib = _load(kernel, source, tag, cxx, include, openmp)
                if lib is not None:
                    declare(lib)
                _loaded[kernel, tag] = lib
    return _loaded[kernel, tag]


def threads() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
