"""A compiled CPU kernel for the sums of ``p log(p / q)`` over the last axis of ``[N, V]``
float32 or float64 probabilities, exact on every input.

C source built once with the system's C compiler into a shared library cached on disk
(``backends/_cbuild.py``), called through ``ctypes`` on raw pointers; no framework is
imported here (PyTorch's compiled path, ``backends/torch/kernels.py``, passes pointers;
JAX's, ``backends/jax/kernels.py``, calls it through XLA's FFI).

It computes what the generic code (``kl_backends._math.common.kl_sum``) computes, in one
read of ``p`` and ``q``, with one division and one short polynomial per element:

* ``p = m_p 2^e_p``, ``q = m_q 2^e_q`` (exponent and mantissa from the bits), with ``m_q``
  doubled or halved so that ``m_p / m_q`` lies in ``[1/sqrt 2, sqrt 2]`` (``k`` the
  exponents' difference); ``v = (m_p - m_q) / (m_p + m_q)`` (the difference exact,
  Sterbenz), ``x = v^2 <= 0.0295``;
* ``log(p / q) = k log 2 + 2 atanh(v)``, ``atanh(v) = v (1 + x A(x))`` with
  ``A(x) = 1/3 + x/5 + x^2/7 + ...`` (5 terms in float32, 11 in float64: truncation
  below half an ulp); no ratio ``p / q`` is formed, so none over- or underflows;
* nearly equal (``|p - q| < NEAR (p + q)``, where ``k = 0`` and ``v`` is exactly the
  generic code's ``(p - q) / (p + q)``): the generalised term
  ``a = (p - q) v (1 + v (1 + v) A(x))`` and ``b = p - q``, summed apart as the generic
  code sums them; elsewhere ``a = p log(p / q)``, ``b = 0``;
* ``p == 0``: 0 (``q`` is then replaced by 1, as in the generic code).

Chunks of ``CHUNK`` elements holding anything else (a zero ``q`` under ``p > 0``, a
subnormal, an infinity, a NaN, a negative value) are redone one element at a time in
double with ``rel_entr``'s conventions (0 where ``p == 0``; ``+inf`` where ``p > 0 = q``;
NaN for NaN and negative values; ``p = inf``: ``+inf``, NaN against ``q = inf``; ``q =
inf`` under finite ``p > 0``: ``-inf``), subnormals rescaled by ``2^64`` first.  Within
a chunk the terms are summed in the input's precision in SIMD lanes (32 bytes, 64 where
the CPU has AVX-512), the chunks' lanes added in double lanes, and those summed once per
row.  ``kl_probs_rows`` splits rows over ``threads`` OpenMP threads: built with
``-fopenmp`` and loaded after PyTorch, the library shares PyTorch's ``libgomp`` and so
its thread pool (threads of its own would compete with that pool's workers, which spin
for a while after each parallel region); without OpenMP it runs on one thread.
``kl_probs_rows_own_threads`` (JAX's) starts threads of its own for the call.  Every
thread runs with the calling thread's floating-point environment (``_cbuild.FPENV``):
under XLA, which flushes subnormals to zero on its CPU threads, all rows are flushed as
XLA's own code flushes them; elsewhere none is.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kl_backends._lib.policy import NEAR
from kl_backends.backends import _cbuild

__all__ = ["CHUNK", "SOURCE", "library", "sums"]

#: Elements per chunk: summed in the input's precision (2 to 8 per SIMD lane), added to
#: the row's double lanes; a chunk holding a special value is redone one element at a time.
CHUNK = 64

_BODY = r"""
typedef REAL PFX_v __attribute__((vector_size(VBYTES)));
typedef UINT PFX_u __attribute__((vector_size(VBYTES)));
typedef SINT PFX_s __attribute__((vector_size(VBYTES)));
#define PFX_W ((int64_t)(VBYTES / sizeof(REAL)))
typedef double PFX_d __attribute__((vector_size(DBYTES)));  /* PFX_W doubles */

static inline PFX_v PFX_sel(PFX_s m, PFX_v a, PFX_v b) {
    return (PFX_v)((m & (PFX_s)a) | (~m & (PFX_s)b));
}

/* Adds the terms a, b of PFX_W pairs to *sa, *sb (see the module docstring) and returns
   the mask of the lanes that are not both positive normal numbers (left out: their terms
   here are garbage, and the caller redoes their chunk). */
static inline PFX_s PFX_terms(PFX_v p, PFX_v q, PFX_v *sa, PFX_v *sb) {
    PFX_v one = (PFX_v){0} + 1, nought = (PFX_v){0};
    PFX_s zero = p == 0;
    PFX_v p1 = PFX_sel(zero, one, p), q1 = PFX_sel(zero, one, q);
    PFX_u pi = (PFX_u)p1, qi = (PFX_u)q1;
    /* positive normal: the sign and biased exponent (e) in [1, max - 1] */
    PFX_u ep = pi >> MANT, eq = qi >> MANT;
    PFX_s odd = (PFX_s)((ep - 1) >= EXP_TOP) | (PFX_s)((eq - 1) >= EXP_TOP);
    /* the biased exponents as REAL: (2^MANT + e) - 2^MANT, with no integer conversion */
    PFX_v fp = (PFX_v)(ep | MAGIC_BITS), fq = (PFX_v)(eq | MAGIC_BITS);
    PFX_v mp = (PFX_v)((pi & MASK) | ONE_BITS), mq = (PFX_v)((qi & MASK) | ONE_BITS);
    PFX_s up = mp > (REAL)1.41421356237309505 * mq;
    PFX_s down = mp * (REAL)1.41421356237309505 < mq;
    mq = PFX_sel(up, mq + mq, PFX_sel(down, (REAL)0.5 * mq, mq));
    PFX_v kf = (fp - fq) + PFX_sel(up, one, nought) - PFX_sel(down, one, nought);
    PFX_v v = (mp - mq) / (mp + mq);
    PFX_v x = v * v;
    PFX_v A = POLY_A;
    PFX_v d = p1 - q1;
    PFX_v ad = (PFX_v)((PFX_u)d & ABS_BITS);
    PFX_s near = ad < (REAL)NEAR_VALUE * (p1 + q1);
    PFX_v lr = kf * (REAL)0.693147180369123816
               + (kf * (REAL)1.90821492927058770e-10 + (v + v) * (1 + x * A));
    *sa += PFX_sel(near, d * v * (1 + v * (1 + v) * A), p1 * lr);
    *sb += PFX_sel(near, d, nought);
    return odd;
}

static void PFX_row(const REAL *p, const REAL *q, int64_t n, double *out) {
    /* each chunk's lane sums added in double lanes, the lanes summed at the end */
    PFX_d A = {0}, B = {0};
    double ea = 0, eb = 0;  /* the chunks redone one element at a time */
    const PFX_s none = {0};
    for (int64_t c = 0; c < n; c += CHUNK_VALUE) {
        int64_t m = n - c < CHUNK_VALUE ? n - c : CHUNK_VALUE;
        PFX_v sa = {0}, sb = {0};
        PFX_s bad = {0};
        int64_t j = 0;
        for (; j + PFX_W <= m; j += PFX_W) {
            PFX_v pv, qv;
            memcpy(&pv, p + c + j, sizeof pv);
            memcpy(&qv, q + c + j, sizeof qv);
            bad |= PFX_terms(pv, qv, &sa, &sb);
        }
        if (j < m) {  /* the rest, padded with p = q = 0 (terms 0) */
            PFX_v pv = {0}, qv = {0};
            memcpy(&pv, p + c + j, (size_t)(m - j) * sizeof(REAL));
            memcpy(&qv, q + c + j, (size_t)(m - j) * sizeof(REAL));
            bad |= PFX_terms(pv, qv, &sa, &sb);
        }
        if (memcmp(&bad, &none, sizeof bad) == 0) {
            A += __builtin_convertvector(sa, PFX_d);
            B += __builtin_convertvector(sb, PFX_d);
        } else {  /* a special value: the chunk one element at a time */
            for (int64_t i = 0; i < m; i++) {
                double a, b;
                exact_term((double)p[c + i], (double)q[c + i], &a, &b);
                ea += a;
                eb += b;
            }
        }
    }
    for (int64_t l = 0; l < PFX_W; l++) {
        ea += A[l];
        eb += B[l];
    }
    *out = ea + eb;
}
"""
_EXACT = r"""/* One element with the conventions, in double (the special lanes). */
static void exact_term(double p, double q, double *a, double *b) {
    *b = 0;
    if (p == 0) { *a = 0; return; }
    if (isnan(p) || isnan(q) || p < 0 || q < 0) { *a = NAN; return; }
    if (q == 0) { *a = INFINITY; return; }
    if (isinf(p)) { *a = isinf(q) ? NAN : INFINITY; return; }
    if (isinf(q)) { *a = -INFINITY; return; }
    double c = (p < q ? p : q) < 0x1p-960 ? 0x1p64 : 1.0;
    double ps = p * c, qs = q * c, d = ps - qs, s = ps + qs;
    if ((d < 0 ? -d : d) < NEAR_VALUE * s) {
        double v = d / s, x = v * v;
        double A = SERIES64;
        *a = (d * v * (1 + v * (1 + v) * A)) / c;
        *b = p - q;
    } else {
        *a = p * (log(ps) - log(qs));
    }
}
"""

_F32 = {
    "REAL": "float", "UINT": "uint32_t", "SINT": "int32_t", "MANT": "23",
    "MASK": "0x007fffffu", "ONE_BITS": "0x3f800000u", "MAGIC_BITS": "0x4b000000u", "EXP_TOP": "254u",
    "DBYTES": "(2 * VBYTES)", "ABS_BITS": "0x7fffffffu",
    "PFX_": "f32_",
}  # fmt: skip
_F64 = {
    "REAL": "double", "UINT": "uint64_t", "SINT": "int64_t", "MANT": "52",
    "MASK": "0x000fffffffffffffull", "ONE_BITS": "0x3ff0000000000000ull",
    "MAGIC_BITS": "0x4330000000000000ull", "EXP_TOP": "2046u", "DBYTES": "VBYTES",
    "ABS_BITS": "0x7fffffffffffffffull",
    "PFX_": "f64_",
}  # fmt: skip


def _series(terms: int, real: str) -> str:
    """``A(x) = 1/3 + x/5 + ...`` (``terms`` terms) in Horner form, constants in ``real``."""
    text = f"({real})(1.0 / {2 * terms + 1})"
    for i in range(terms - 1, 0, -1):
        text = f"({real})(1.0 / {2 * i + 1}) + x * ({text})"
    return f"({text})"


#: Terms of ``A``: truncation below half an ulp for ``x <= 0.0295``.
_TERMS = {"float": 5, "double": 11}


def _instance(names: dict[str, str]) -> str:
    body = _BODY.replace("POLY_A", _series(_TERMS[names["REAL"]], names["REAL"]))
    for key, value in names.items():
        body = body.replace(key, value)
    return body


SOURCE = (
    "#include <math.h>\n#include <pthread.h>\n#include <stdint.h>\n#include <string.h>\n"
    "#ifdef _OPENMP\n#include <omp.h>\n#else\n"
    "#define omp_get_thread_num() 0\n#define omp_get_num_threads() 1\n#endif\n"
    # the SIMD vectors' bytes: AVX-512's where the CPU has it (the library is built
    # with -march=native), else AVX2's (GCC splits them where the CPU has neither)
    "#if defined(__AVX512F__)\n#define VBYTES 64\n#else\n#define VBYTES 32\n#endif\n"
    + _cbuild.FPENV
    + f"#define NEAR_VALUE {NEAR!r}\n#define CHUNK_VALUE {CHUNK}\n"
    f"#define SERIES64 {_series(_TERMS['double'], 'double')}\n"
    + _EXACT
    + _instance(_F32)
    + _instance(_F64)
    + r"""
static void rows_range(int64_t lo, int64_t hi, int64_t n, const void *p, int64_t sp,
                       const void *q, int64_t sq, int f64, double *out) {
    for (int64_t r = lo; r < hi; r++) {
        if (f64)
            f64_row((const double *)p + r * sp, (const double *)q + r * sq, n, out + r);
        else
            f32_row((const float *)p + r * sp, (const float *)q + r * sq, n, out + r);
    }
}

/* out[r] = sum_j p[r, j] log(p[r, j] / q[r, j]) for r < rows (row strides sp, sq); rows
   split over `threads` OpenMP threads (PyTorch's own pool: the same libgomp). */
int kl_probs_rows(int64_t rows, int64_t n, const void *p, int64_t sp, const void *q,
                  int64_t sq, int f64, double *out, int threads) {
    if (threads < 1) threads = 1;
    unsigned int env = FPENV_GET();
#pragma omp parallel num_threads(threads) if (threads > 1 && rows > 1)
    {
        /* every thread with the caller's floating-point environment (FPENV) */
        unsigned int own = FPENV_GET();
        FPENV_SET(env);
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        rows_range(rows * t / nt, rows * (t + 1) / nt, n, p, sp, q, sq, f64, out);
        FPENV_SET(own);
    }
    return 0;
}

typedef struct {
    int64_t lo, hi, n, sp, sq;
    const void *p, *q;
    int f64;
    double *out;
} job_t;

static void *run_job(void *arg) {
    job_t *j = (job_t *)arg;
    rows_range(j->lo, j->hi, j->n, j->p, j->sp, j->q, j->sq, j->f64, j->out);
    return NULL;
}

/* The same on threads started for this call and joined before it returns (they inherit
   the caller's floating-point environment), for callers outside PyTorch's pool: XLA
   calls it on threads that flush subnormals, and pool threads that libgomp started from
   such a thread would keep flushing when PyTorch reuses them.  Under 2^18 elements, one
   thread (the caller). */
int kl_probs_rows_own_threads(int64_t rows, int64_t n, const void *p, int64_t sp,
                              const void *q, int64_t sq, int f64, double *out, int threads) {
    if (threads > 64) threads = 64;
    if (threads > rows) threads = (int)rows;
    if (rows * n < ((int64_t)1 << 18) || threads < 1) threads = 1;
    job_t jobs[64];
    pthread_t ids[64];
    int started[64];
    for (int t = 0; t < threads; t++) {
        job_t j = {rows * t / threads, rows * (t + 1) / threads, n, sp, sq, p, q, f64, out};
        jobs[t] = j;
        started[t] = t > 0 && pthread_create(&ids[t], NULL, run_job, &jobs[t]) == 0;
    }
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(ids[t], NULL);
        else run_job(&jobs[t]);
    }
    return 0;
}
"""
)


def _declare(lib: Any) -> None:
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.kl_probs_rows.restype = ctypes.c_int
    lib.kl_probs_rows.argtypes = [i64, i64, ptr, i64, ptr, i64, ctypes.c_int, ptr, ctypes.c_int]
    lib.kl_probs_rows_own_threads.restype = ctypes.c_int
    lib.kl_probs_rows_own_threads.argtypes = lib.kl_probs_rows.argtypes


def library(
    tag: str = "c", cxx: str | None = None, include: str | None = None, openmp: bool = True
) -> Any:
    """The loaded kernel (built on first use), or ``None`` where it cannot be built
    (``KL_BACKENDS_CPU_KERNEL=0`` turns it off).

    ``cxx``: C++ source compiled into the same library (a framework's wrapper, tagged
    ``tag``), with ``include`` on the include path; ``openmp=False``: built without
    OpenMP (``kl_probs_rows`` then runs on one thread; ``kl_probs_rows_own_threads`` is
    the same), so that loading it loads no OpenMP runtime.
    """
    return _cbuild.load("probs_cpu", SOURCE, _declare, tag, cxx, include, openmp=openmp)


def sums(
    lib: Any,
    shape: tuple[int, int],
    p: tuple[int, int],
    q: tuple[int, int],
    float64: bool,
    out: int,
    threads: int,
) -> None:
    """Call the kernel: ``p``, ``q`` are (address, row stride in elements) of ``shape``
    (``[rows, n]``, unit stride along a row); ``out`` the address of ``rows`` doubles."""
    rows, n = shape
    lib.kl_probs_rows(rows, n, p[0], p[1], q[0], q[1], 1 if float64 else 0, out, threads)
