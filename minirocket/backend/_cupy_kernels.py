"""CUDA kernels behind :class:`~minirocket.backend.cupy_ops.CupyOps` (CuPy ElementwiseKernel).

Notation
--------
N batch, C channels, H x W input, kh x kw kernel, s stride, p zero padding, Ho x Wo
output, L = Ho * Wo, K = C * kh * kw; P = H*W (1 for 2-d batch-norm input).

Every kernel is an ``ElementwiseKernel`` that runs one thread per *output* element and
gathers what it needs, so no kernel writes an element another thread writes: col2im and
the pooling backward are gathers over the windows that cover a pixel rather than
scatters with atomics, which keeps them deterministic (the same order of additions as the
NumPy reference: taps in (i, j) order). Only the embedding scatter-add uses atomics
(``atomicAdd``): its result is exact up to the order of float additions, which
varies between runs.

Kernels are built on first use (``kernel(name)``), so importing this module does not need
a GPU. Index arithmetic is in ``long long`` so arrays above 2**31 elements are safe.
"""
import functools

from minirocket.backend._compat import cupy

_SOURCES = {
    # out: cols (N, K, L); raw x (N, C, H, W)
    "im2col": (
        "raw T x, int64 C, int64 H, int64 W, int64 kh, int64 kw, int64 s, int64 p, "
        "int64 Ho, int64 Wo",
        "T cols",
        """
        const long long L = Ho * Wo, K = C * kh * kw;
        const long long l = i % L, r = (i / L) % K, n = i / (L * K);
        const long long c = r / (kh * kw), ij = r % (kh * kw), ki = ij / kw, kj = ij % kw;
        const long long h = l / Wo, w = l % Wo;
        const long long hi = h * s + ki - p, wi = w * s + kj - p;
        cols = (hi >= 0 && hi < H && wi >= 0 && wi < W)
               ? x[((n * C + c) * H + hi) * W + wi] : (T)0;
        """),
    # out: gx (N, C, H, W); raw cols (N, K, L). Gather: taps in (i, j) order.
    "col2im": (
        "raw T cols, int64 C, int64 H, int64 W, int64 kh, int64 kw, int64 s, int64 p, "
        "int64 Ho, int64 Wo",
        "T gx",
        """
        const long long L = Ho * Wo, K = C * kh * kw;
        const long long w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
        T acc = 0;
        for (long long ki = 0; ki < kh; ++ki) {
            const long long hp = h + p - ki;
            if (hp < 0 || hp % s != 0) continue;
            const long long ho = hp / s;
            if (ho >= Ho) continue;
            for (long long kj = 0; kj < kw; ++kj) {
                const long long wp = w + p - kj;
                if (wp < 0 || wp % s != 0) continue;
                const long long wo = wp / s;
                if (wo >= Wo) continue;
                const long long r = (c * kh + ki) * kw + kj;
                acc += cols[(n * K + r) * L + ho * Wo + wo];
            }
        }
        gx = acc;
        """),
    # y = x * scale[c] + shift[c], optionally ReLU; x viewed as (N, C, P)
    "affine": (
        "T x, raw T scale, raw T shift, int64 C, int64 P, bool relu",
        "T y",
        """
        const long long c = (i / P) % C;
        T v = x * scale[c] + shift[c];
        y = (relu && !(v > (T)0) && v == v) ? (T)0 : v;
        """),
    # xhat = (x - mean[c]) * inv_std[c]; y = xhat * gamma[c] + beta[c]
    "bn_train": (
        "T x, raw T mean, raw T inv_std, raw T gamma, raw T beta, int64 C, int64 P",
        "T xhat, T y",
        """
        const long long c = (i / P) % C;
        xhat = (x - mean[c]) * inv_std[c];
        y = xhat * gamma[c] + beta[c];
        """),
    # gx = scale[c] * (m * gy - gbeta[c] - xhat * ggamma[c]), scale = gamma inv_std / m
    "bn_backward": (
        "T gy, T xhat, raw T scale, raw T gbeta, raw T ggamma, T m, int64 C, int64 P",
        "T gx",
        """
        const long long c = (i / P) % C;
        gx = scale[c] * (m * gy - gbeta[c] - xhat * ggamma[c]);
        """),
    "relu": ("T x", "T y", "y = (!(x > (T)0) && x == x) ? (T)0 : x;"),
    "relu_backward": ("T y, T gy", "T gx", "gx = (y > (T)0) ? gy : gy * (T)0;"),
    # out: y (N, C, Ho, Wo); raw x (N, C, H, W)
    "avgpool": (
        "raw T x, int64 H, int64 W, int64 Ho, int64 Wo, int64 k, int64 s, T inv",
        "T y",
        """
        const long long w = i % Wo, h = (i / Wo) % Ho, nc = i / (Wo * Ho);
        T acc = 0;
        for (long long a = 0; a < k; ++a)
            for (long long b = 0; b < k; ++b)
                acc += x[(nc * H + h * s + a) * W + w * s + b];
        y = acc * inv;
        """),
    # out: gx (N, C, H, W); raw gy (N, C, Ho, Wo). Gather over covering windows.
    "avgpool_backward": (
        "raw T gy, int64 H, int64 W, int64 Ho, int64 Wo, int64 k, int64 s, T inv",
        "T gx",
        """
        const long long w = i % W, h = (i / W) % H, nc = i / (W * H);
        T acc = 0;
        for (long long a = 0; a < k; ++a) {
            const long long hp = h - a;
            if (hp < 0 || hp % s != 0 || hp / s >= Ho) continue;
            for (long long b = 0; b < k; ++b) {
                const long long wp = w - b;
                if (wp < 0 || wp % s != 0 || wp / s >= Wo) continue;
                acc += gy[(nc * Ho + hp / s) * Wo + wp / s] * inv;
            }
        }
        gx = acc;
        """),
    # out[idx[k], d] += rows[k, d], one thread per element of rows (atomics: duplicates
    # add up; the order of the additions, hence the last bits, is not deterministic).
    "scatter_add": (
        "T rows, raw I idx, int64 D",
        "raw T out",
        "atomicAdd(&out[idx[i / D] * D + i % D], rows);"),
}


@functools.lru_cache(maxsize=None)
def kernel(name):
    """The compiled ``cupy.ElementwiseKernel`` called ``name`` (built once, then cached)."""
    in_params, out_params, body = _SOURCES[name]
    return cupy.ElementwiseKernel(in_params, out_params, body, f"minirocket_{name}")
