"""A compiled CPU kernel for KL and cross-entropy rows of ``[N, V]`` logits, with gradients.

C source built once with the system's C compiler into a shared library cached on disk
(``backends/_cbuild.py``), and called through ``ctypes`` on raw pointers.
No framework is imported here: the torch kernel (``torch/logits.py``) and JAX's
(``backends/jax/logits.py``) pass pointers.  Where no compiler is found, or the build
fails, ``library()`` returns ``None`` and the callers keep their other paths.

Per row ``i`` (float32 arithmetic, sums in float lanes over chunks of ``chunk``
elements, the chunks added in double), with ``x = a_i / T`` and ``y = b_i / T``:

1. ``ma = max x``, ``mb = max y`` (one pass over both rows; ``+inf`` or a row of
   ``-inf`` only is an invalid row);
2. ``ea = exp(x - ma)`` kept in a per-thread scratch row, ``eb = exp(y - mb)`` in the
   gradient row wrt ``b`` where one is wanted (both rows stay in cache), ``Sa = sum ea``,
   ``Sb = sum eb`` (NaN there: an input held NaN); ``la = ma + log Sa``,
   ``lb = mb + log Sb`` (in double);
3. KL: ``sum p (log p - log q)``; cross-entropy: ``-sum p log q``, with ``p = ea / Sa``,
   ``log p - log q = ((x - ma) - (y - mb)) - (log Sa - log Sb)`` and
   ``log q = (y - mb) - log Sb`` formed in double (no cancellation between large logits
   and their log-sum-exps), and terms where ``x == -inf`` equal to 0; the gradient wrt
   ``b``, ``q - p`` (``q = eb / Sb``), written over ``eb``;
4. (if wanted) the gradient wrt ``a``: KL ``p (log p - log q - KL)``, cross-entropy
   ``-p (log q + H)``, 0 where ``x == -inf``.

Gradients are multiplied by ``scale`` (``kl_rows_scaled``; ``kl_rows``: 1, unscaled); the
caller multiplies by the rest of the row cotangent and by ``1/T``.
Rows whose inputs hold NaN or ``+inf``, or whose logits are all ``-inf`` on a side,
get the value NaN and gradient rows left unspecified: the caller redoes the NaN rows
(values and gradients) with the generic code (also those whose value comes out NaN,
e.g. an underflowed ``p`` against ``q == 0``).  Masked rows (``mask[i] == 0``) get
value 0 and zero gradients.  Inputs and gradients are float32 or bfloat16 (``dtype`` 0
or 1; bfloat16 rounded to nearest even).  Rows are split over ``threads`` POSIX
threads, which inherit the calling thread's floating-point environment (under XLA,
flush-to-zero).  ``exp`` is a degree-6 polynomial after a Cody-Waite
reduction (within 1.05 ulp of ``exp`` on every float32 in ``[-87, 0]``; 0 below, so
``p`` and ``q`` under ``2^-125`` are 0) that the compiler vectorises.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kl_backends.backends import _cbuild

__all__ = ["CHUNK", "SOURCE", "library", "rows", "threads"]

#: Elements summed in float lanes before each addition to the row's double total.
CHUNK = 1024

SOURCE = r"""
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define NINF (-INFINITY)

/* Transparent huge pages for a fresh output (a few faults instead of one per 4 KiB page),
   where the kernel allows them on request (THP "madvise"); advisory. */
static void advise_huge(void *p, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)1 << 21;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + (uintptr_t)bytes) & ~(huge - 1);
    if (p != NULL && bytes >= (int64_t)(4 * huge) && hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

static inline float kexp(float x) {
    /* exp(x) for x <= 0 (x - row max): -inf and x < -87 give 0; within 1.05 ulp of exp
       on every float32 in [-87, 0].  Rounding k by adding 1.5 * 2^23; a degree-6
       polynomial on [-ln2/2, ln2/2] (coefficients fitted for relative error). */
    float xc = x < -87.0f ? -87.0f : x;
    float kf = __builtin_fmaf(xc, 1.44269504088896341f, 12582912.0f);
    float k = kf - 12582912.0f;
    float r = __builtin_fmaf(k, -0.693359375f, xc);
    r = __builtin_fmaf(k, 2.12194440e-4f, r);
    float p = 1.3859382598e-3f;
    p = __builtin_fmaf(p, r, 8.3747478202e-3f);
    p = __builtin_fmaf(p, r, 4.1667722166e-2f);
    p = __builtin_fmaf(p, r, 1.6666421294e-1f);
    p = __builtin_fmaf(p, r, 4.9999994040e-1f);
    p = __builtin_fmaf(p, r, 1.0f);
    p = __builtin_fmaf(p, r, 1.0f);
    union { float f; uint32_t i; } kb, sc;
    kb.f = kf;
    sc.i = (kb.i << 23) + 0x3F800000u;
    return x < -87.0f ? 0.0f : p * sc.f;
}

static inline float bf16_to_f(uint16_t h) {
    union { uint32_t i; float f; } u;
    u.i = (uint32_t)h << 16;
    return u.f;
}

static inline uint16_t f_to_bf16(float f) {
    union { uint32_t i; float f; } w;
    w.f = f;
    uint32_t u = w.i;
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? ((u >> 16) | 0x40u) : rounded);
}

typedef struct {
    int64_t n, v, sa, sb, sga, sgb, chunk, lo, hi;
    const void *a, *b;
    const uint8_t *mask;
    void *ga, *gb;
    float *vals;
    double temperature;
    float scale;
    int dtype, kind;
} job_t;

/* Row r of x as float32 (converted and divided by T into buf), or the row itself. */
static const float *row_in(const job_t *j, const void *x, int64_t stride, int64_t r, float *buf) {
    int64_t v = j->v;
    if (j->dtype == 0) {
        const float *src = (const float *)x + r * stride;
        if (j->temperature == 0.0) return src;
        float t = (float)j->temperature;
        #pragma omp simd
        for (int64_t i = 0; i < v; i++) buf[i] = src[i] / t;
        return buf;
    }
    const uint16_t *src = (const uint16_t *)x + r * stride;
    if (j->temperature == 0.0) {
        #pragma omp simd
        for (int64_t i = 0; i < v; i++) buf[i] = bf16_to_f(src[i]);
    } else {
        float t = (float)j->temperature;
        #pragma omp simd
        for (int64_t i = 0; i < v; i++) buf[i] = bf16_to_f(src[i]) / t;
    }
    return buf;
}

/* Row r of a gradient: from float32 scratch (bfloat16), or zeros. */
static void row_out(const job_t *j, void *g, int64_t stride, int64_t r, const float *src) {
    int64_t v = j->v;
    if (j->dtype == 0) {
        float *dst = (float *)g + r * stride;
        if (src == NULL) memset(dst, 0, (size_t)v * 4);
        else if (src != dst) memcpy(dst, src, (size_t)v * 4);
        return;
    }
    uint16_t *dst = (uint16_t *)g + r * stride;
    if (src == NULL) { memset(dst, 0, (size_t)v * 2); return; }
    #pragma omp simd
    for (int64_t i = 0; i < v; i++) dst[i] = f_to_bf16(src[i]);
}


/* The row maxima of x and y (NaN ignored here: the sums catch it). */
static void row_max2(const float *x, const float *y, int64_t v, float *ma, float *mb) {
    float m1 = NINF, m2 = NINF;
    #pragma omp simd reduction(max:m1, m2)
    for (int64_t i = 0; i < v; i++) {
        m1 = x[i] > m1 ? x[i] : m1;
        m2 = y[i] > m2 ? y[i] : m2;
    }
    *ma = m1;
    *mb = m2;
}

typedef struct { float *x, *y, *ea, *eb, *g; } scratch_t;

/* log p - log q and log q from the row maxima (xm, ym) and log-sums, in double (the
   differences of floats there are exact): no cancellation between large logits and
   their log-sum-exps, whatever their offset (in float, (x - y) - (la - lb) lost
   ulp(la - lb): 0 instead of 1.18 for logits of 1e30) */
static inline double log_ratio(float x, float y, double xm, double ym, double dd) {
    return (((double)x - xm) - ((double)y - ym)) - dd;
}

static inline double log_q(float y, double ym, double lsb) {
    return ((double)y - ym) - lsb;
}

static void one_row(const job_t *j, int64_t r, const scratch_t *w) {
    int64_t v = j->v, chunk = j->chunk;
    int kl = j->kind == 0;
    if (j->mask != NULL && !j->mask[r]) {
        j->vals[r] = 0.0f;
        if (j->ga) row_out(j, j->ga, j->sga, r, NULL);
        if (j->gb) row_out(j, j->gb, j->sgb, r, NULL);
        return;
    }
    const float *x = row_in(j, j->a, j->sa, r, w->x);
    const float *y = row_in(j, j->b, j->sb, r, w->y);
    float ma, mb;
    row_max2(x, y, v, &ma, &mb);
    if (ma == INFINITY || mb == INFINITY || ma == NINF || mb == NINF) {
        j->vals[r] = NAN;
        return;
    }
    float *gb = j->gb && j->dtype == 0 ? (float *)j->gb + r * j->sgb : w->g;
    float *ea = w->ea, *eb = j->gb ? gb : w->eb;
    double sa = 0.0, sb = 0.0;
    for (int64_t s = 0; s < v; s += chunk) {
        int64_t end = s + chunk < v ? s + chunk : v;
        float acca = 0.0f, accb = 0.0f;
        #pragma omp simd reduction(+:acca, accb)
        for (int64_t i = s; i < end; i++) {
            float u = kexp(x[i] - ma), t = kexp(y[i] - mb);
            ea[i] = u;
            eb[i] = t;
            acca += u;
            accb += t;
        }
        sa += acca;
        sb += accb;
    }
    if (sa != sa || sb != sb) {  /* NaN in the row */
        j->vals[r] = NAN;
        return;
    }
    double xm = ma, ym = mb, dd = log(sa) - log(sb), lsb = log(sb);
    float fa = (float)(1.0 / sa), fb = (float)(1.0 / sb);
    int want_b = j->gb != NULL;
    float sc = j->scale, fbs = fb * sc, fas = fa * sc;
    double total = 0.0;
    for (int64_t s = 0; s < v; s += chunk) {
        int64_t end = s + chunk < v ? s + chunk : v;
        float acc = 0.0f;
        if (kl && want_b) {
            #pragma omp simd reduction(+:acc)
            for (int64_t i = s; i < end; i++) {
                float t = (float)log_ratio(x[i], y[i], xm, ym, dd);
                acc += x[i] == NINF ? 0.0f : (ea[i] * fa) * t;
                gb[i] = eb[i] * fbs - ea[i] * fas;
            }
        } else if (kl) {
            #pragma omp simd reduction(+:acc)
            for (int64_t i = s; i < end; i++) {
                float t = (float)log_ratio(x[i], y[i], xm, ym, dd);
                acc += x[i] == NINF ? 0.0f : (ea[i] * fa) * t;
            }
        } else if (want_b) {
            #pragma omp simd reduction(+:acc)
            for (int64_t i = s; i < end; i++) {
                float t = (float)log_q(y[i], ym, lsb);
                acc += x[i] == NINF ? 0.0f : (ea[i] * fa) * t;
                gb[i] = eb[i] * fbs - ea[i] * fas;
            }
        } else {
            #pragma omp simd reduction(+:acc)
            for (int64_t i = s; i < end; i++) {
                float t = (float)log_q(y[i], ym, lsb);
                acc += x[i] == NINF ? 0.0f : (ea[i] * fa) * t;
            }
        }
        total += acc;
    }
    float val = kl ? (float)total : (float)(-total);
    j->vals[r] = val;
    if (val != val) return;
    if (want_b) row_out(j, j->gb, j->sgb, r, gb);
    if (j->ga) {
        float *ga = j->dtype == 0 ? (float *)j->ga + r * j->sga : w->g;
        /* KL: p (log p - log q - KL); cross-entropy: -p (log q + H) */
        double cv = kl ? -(double)val : (double)val;
        /* +inf (q == 0 under p > 0): NaN, as autodiff of the generic code gives */
        if (val == INFINITY) cv = NAN;
        float at_ninf = cv == cv ? 0.0f : NAN;
        float f = kl ? fas : -fas;
        if (kl) {
            #pragma omp simd
            for (int64_t i = 0; i < v; i++) {
                double t = log_ratio(x[i], y[i], xm, ym, dd);
                ga[i] = x[i] == NINF ? at_ninf : (ea[i] * f) * (float)(t + cv);
            }
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < v; i++) {
                double t = log_q(y[i], ym, lsb);
                ga[i] = x[i] == NINF ? at_ninf : (ea[i] * f) * (float)(t + cv);
            }
        }
        row_out(j, j->ga, j->sga, r, ga);
    }
}

static void *run(void *arg) {
    job_t *j = (job_t *)arg;
    int64_t v = j->v;
    float *buf = (float *)malloc((size_t)(5 * v + 64) * sizeof(float));
    if (buf == NULL) {
        for (int64_t r = j->lo; r < j->hi; r++) j->vals[r] = NAN;
        return NULL;
    }
    scratch_t w = {buf, buf + v, buf + 2 * v, buf + 3 * v, buf + 4 * v};
    for (int64_t r = j->lo; r < j->hi; r++) one_row(j, r, &w);
    free(buf);
    return NULL;
}

int kl_rows_scaled(int64_t n, int64_t v, const void *a, int64_t sa, const void *b,
                   int64_t sb, int dtype, const uint8_t *mask, double temperature, int kind,
                   void *ga, int64_t sga, void *gb, int64_t sgb, float *vals,
                   int threads, int64_t chunk, double scale) {
    if (threads < 1) threads = 1;
    if (threads > n) threads = n > 0 ? (int)n : 1;
    if (threads > 256) threads = 256;
    if (chunk < 1) chunk = 1;
    int64_t es = dtype == 0 ? 4 : 2;
    if (sga == v) advise_huge(ga, n * v * es);
    if (sgb == v) advise_huge(gb, n * v * es);
    job_t jobs[256];
    pthread_t ids[256];
    int started[256];
    for (int t = 0; t < threads; t++) {
        job_t j = {n, v, sa, sb, sga, sgb, chunk, n * t / threads, n * (t + 1) / threads,
                   a, b, mask, ga, gb, vals, temperature, (float)scale, dtype, kind};
        jobs[t] = j;
        started[t] = 0;
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, run, &jobs[t]) == 0;
    run(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(ids[t], NULL);
        else run(&jobs[t]);
    }
    return 0;
}

/* The kernel's exp on n floats (x <= 0), for the tests. */
void kl_exp(const float *x, float *out, int64_t n) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = kexp(x[i]);
}

/* Gradients unscaled (JAX's wrapper). */
int kl_rows(int64_t n, int64_t v, const void *a, int64_t sa, const void *b, int64_t sb,
            int dtype, const uint8_t *mask, double temperature, int kind,
            void *ga, int64_t sga, void *gb, int64_t sgb, float *vals,
            int threads, int64_t chunk) {
    return kl_rows_scaled(n, v, a, sa, b, sb, dtype, mask, temperature, kind, ga, sga, gb, sgb,
                          vals, threads, chunk, 1.0);
}
"""


def _declare(lib: Any) -> None:
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.kl_rows_scaled.restype = ctypes.c_int
    lib.kl_rows_scaled.argtypes = [
        i64, i64, ptr, i64, ptr, i64, ctypes.c_int, ptr, ctypes.c_double, ctypes.c_int,
        ptr, i64, ptr, i64, ptr, ctypes.c_int, i64, ctypes.c_double,
    ]  # fmt: skip
    lib.kl_exp.restype = None
    lib.kl_exp.argtypes = [ptr, ptr, i64]


def library(tag: str = "c", cxx: str | None = None, include: str | None = None) -> Any:
    """The loaded kernel (built on first use), or ``None`` where it cannot be built.

    ``cxx``: C++ source compiled into the same library (a framework's wrapper, tagged
    ``tag``), with ``include`` on the include path.  ``KL_BACKENDS_CPU_KERNEL=0`` turns
    the kernel off.
    """
    return _cbuild.load("logits_cpu", SOURCE, _declare, tag, cxx, include)


def threads() -> int:
    """The CPUs this process may run on (the JAX kernel's threads)."""
    return _cbuild.threads()


def _span(x: tuple[int, int], n: int, v: int, size: int) -> tuple[int, int]:
    """The bytes ``[start, end)`` of ``n`` rows of ``v`` elements at (address, row stride)."""
    address, stride = x
    return address, address + ((n - 1) * stride + v) * size


def _overlap(x: tuple[int, int], y: tuple[int, int]) -> bool:
    return x[0] < y[1] and y[0] < x[1]


def rows(
    lib: Any,
    shape: tuple[int, int],
    a: tuple[int, int],
    b: tuple[int, int],
    bf16: bool,
    mask: int | None,
    temperature: float | None,
    kind: str,
    ga: tuple[int, int] | None,
    gb: tuple[int, int] | None,
    vals: int,
    threads: int,
    chunk: int = CHUNK,
    scale: float = 1.0,
) -> None:
    """Call the kernel: ``a``, ``b``, ``ga``, ``gb`` are (address, row stride in elements);
    ``mask`` and ``vals`` addresses (bytes of 0/1, float32); the gradients are multiplied
    by ``scale`` (rounded to float32) before they are stored; see the module docstring.

    The gradients must not overlap the inputs (the kernel writes ``exp(b - max b)`` into
    ``gb``'s row before it reads ``b``'s again): a ``ValueError`` otherwise.
    """
    n, v = shape
    size = 2 if bf16 else 4
    spans = [_span(x, n, v, size) for x in (a, b)]
    for g in (ga, gb):
        if g is not None and any(_overlap(_span(g, n, v, size), x) for x in spans):
            raise ValueError("a gradient buffer of the logits kernel overlaps an input")
    lib.kl_rows_scaled(
        n, v, a[0], a[1], b[0], b[1], 1 if bf16 else 0, mask,
        0.0 if temperature is None else float(temperature), 0 if kind == "kl" else 1,
        None if ga is None else ga[0], 0 if ga is None else ga[1],
        None if gb is None else gb[0], 0 if gb is None else gb[1],
        vals, threads, chunk, float(scale),
    )  # fmt: skip
