"""numba kernels behind :class:`~minirocket.backend.numba_ops.NumbaOps`.

Notation
--------
N batch, C channels, O output channels, H x W input, kh x kw kernel, s stride, p zero
padding, Ho x Wo output, L = Ho * Wo, K = C * kh * kw, m = N * H * W values per channel.

Rules every kernel follows (numba's documented pitfalls for ``prange``):

* each ``prange`` iteration writes a disjoint block of the output (one row of the
  unfolded columns, one (n, c) plane, one channel), so no two threads ever reduce into the
  same element;
* reductions go into scalars local to an iteration, accumulated in float64 so that a
  float32 sum over 10^5..10^6 values does not lose digits (this is why BN results differ
  from the float32 pairwise sums of NumPy in the last bits: parity tests state it);
* outputs are allocated by the caller: the kernels only fill them, which is what lets
  :class:`NumbaOps` reuse its internal scratch buffers;
* every parallel kernel also has a serial build (:class:`_Kernel`), used for small work.

Call a kernel as ``kernel(work, *args)`` with ``work`` the number of elements it touches.

No kernel is compiled on import: numba compiles on first call, once per dtype signature,
and ``cache=True`` stores the machine code next to this file for later processes.
"""
import math
import types

import numpy as np

from minirocket.backend._compat import numba

prange = numba.prange

#: Below this many elements of work a kernel runs single-threaded. Waking the thread pool
#: costs microseconds on a quiet machine, and on a busy one a parallel region waits for
#: its slowest thread, which the OS may have descheduled for a whole time slice (measured:
#: a batch-1 convolution took 16 ms instead of 0.2 ms while another process ran).
SERIAL_BELOW = 1 << 18


class _Kernel:
    """A kernel compiled twice from one Python function: ``parallel`` and ``serial``.

    ``kernel(work, *args)`` picks the serial build when ``work < SERIAL_BELOW``. The serial
    build is the same code with ``prange`` acting as ``range``; both are cached on disk
    under distinct names.
    """

    def __init__(self, func):
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.py_func = func
        self.parallel = numba.njit(parallel=True, cache=True, fastmath=False)(func)
        twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                                  func.__defaults__, func.__closure__)
        twin.__qualname__ = func.__qualname__ + "_serial"
        twin.__module__ = func.__module__
        self.serial = numba.njit(parallel=False, cache=True, fastmath=False)(twin)

    def __call__(self, work, *args):
        if work < SERIAL_BELOW:
            return self.serial(*args)
        return self.parallel(*args)


_jit = _Kernel
_jit_serial = numba.njit(parallel=False, cache=True, fastmath=False)


# --------------------------------------------------------------------------- convolution
@_jit
def im2col_into(x, kh, kw, s, p, Ho, Wo, out):
    """Fill ``out`` (K, N, L) with the unfolded windows of ``x`` (N, C, H, W).

    ``out[(c*kh+i)*kw+j, n, h*Wo+w] = x[n, c, s*h+i-p, s*w+j-p]`` or 0 in the padding.
    The (K, N, L) layout makes ``out.reshape(K, N*L)`` one GEMM operand for a whole block
    of samples. Parallel over the K*N rows; each iteration writes one contiguous row of
    length L. The valid range of w is computed once per (row, h), so the inner loop is a
    branch-free strided copy (contiguous for stride 1, which LLVM vectorises).
    """
    N, C, H, W = x.shape
    K = C * kh * kw
    for t in prange(K * N):
        r = t // N
        n = t - r * N
        c = r // (kh * kw)
        ij = r - c * (kh * kw)
        i = ij // kw
        j = ij - i * kw
        # w is valid when 0 <= w*s + j - p < W.
        w_lo = 0
        if p - j > 0:
            w_lo = (p - j + s - 1) // s
        w_hi = 0
        if W - 1 - j + p >= 0:
            w_hi = (W - 1 - j + p) // s + 1
        w_lo = min(w_lo, Wo)
        w_hi = max(min(w_hi, Wo), w_lo)
        for h in range(Ho):
            hi = h * s + i - p
            base = h * Wo
            if hi < 0 or hi >= H:
                for w in range(Wo):
                    out[r, n, base + w] = 0
            else:
                for w in range(w_lo):
                    out[r, n, base + w] = 0
                off = j - p
                if s == 1:
                    # Unit stride: a contiguous copy LLVM can vectorise (a runtime
                    # stride in the index would make it a gather).
                    for w in range(w_lo, w_hi):
                        out[r, n, base + w] = x[n, c, hi, w + off]
                else:
                    for w in range(w_lo, w_hi):
                        out[r, n, base + w] = x[n, c, hi, w * s + off]
                for w in range(w_hi, Wo):
                    out[r, n, base + w] = 0


@_jit
def col2im_into(cols, kh, kw, s, p, Ho, Wo, out):
    """Adjoint of :func:`im2col_into`: ``out`` (N, C, H, W) = sum of the columns (K, N, L).

    Parallel over the N*C planes; each plane adds its kh*kw taps in the order (i, j), the
    same order as the NumPy reference, so the sums agree bit for bit. The valid w range is
    hoisted out of the inner loop as in :func:`im2col_into`.
    """
    N, C, H, W = out.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        for hh in range(H):
            for ww in range(W):
                out[n, c, hh, ww] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                w_lo = 0
                if p - j > 0:
                    w_lo = (p - j + s - 1) // s
                w_hi = 0
                if W - 1 - j + p >= 0:
                    w_hi = (W - 1 - j + p) // s + 1
                w_lo = min(w_lo, Wo)
                w_hi = max(min(w_hi, Wo), w_lo)
                off = j - p
                for h in range(Ho):
                    hi = h * s + i - p
                    if hi < 0 or hi >= H:
                        continue
                    base = h * Wo
                    if s == 1:
                        for w in range(w_lo, w_hi):
                            out[n, c, hi, w + off] += cols[r, n, base + w]
                    else:
                        for w in range(w_lo, w_hi):
                            out[n, c, hi, w * s + off] += cols[r, n, base + w]


@_jit
def swap01_into(a, out):
    """``out[j, i, :] = a[i, j, :]`` for ``a`` (A, B, L): the (O, N, L) <-> (N, O, L) copy.

    Parallel over the A*B rows, each a contiguous run of length L in both arrays.
    """
    A, B, L = a.shape
    for t in prange(A * B):
        i = t // B
        j = t - i * B
        for q in range(L):
            out[j, i, q] = a[i, j, q]


# --------------------------------------------------------------------------- batch norm
@_jit
def bn_train_into(x, gamma, beta, eps, y, xhat, mean, var, inv_std):
    """Batch-statistics normalisation of ``x`` (N, C, P) with P = H*W (1 for 2-d input).

    Two passes per channel (mean, then mean of squared deviations), float64 accumulators.
    Fills y, xhat (N, C, P) and mean, var, inv_std (C,).
    """
    N, C, P = x.shape
    m = N * P
    for c in prange(C):
        acc = 0.0
        for n in range(N):
            for q in range(P):
                acc += x[n, c, q]
        mu = acc / m
        acc2 = 0.0
        for n in range(N):
            for q in range(P):
                d = x[n, c, q] - mu
                acc2 += d * d
        v = acc2 / m
        istd = 1.0 / math.sqrt(v + eps)
        mean[c] = mu
        var[c] = v
        inv_std[c] = istd
        g = gamma[c]
        b = beta[c]
        for n in range(N):
            for q in range(P):
                xh = (x[n, c, q] - mu) * istd
                xhat[n, c, q] = xh
                y[n, c, q] = xh * g + b


@_jit
def bn_backward_into(xhat, inv_std, gamma, gy, gx, ggamma, gbeta):
    """Gradients of :func:`bn_train_into` for ``gy`` (N, C, P).

    ``gx = gamma*inv_std/m * (m*gy - sum(gy) - xhat*sum(gy*xhat))``, per channel.
    """
    N, C, P = gy.shape
    m = N * P
    for c in prange(C):
        sb = 0.0
        sg = 0.0
        for n in range(N):
            for q in range(P):
                g = gy[n, c, q]
                sb += g
                sg += g * xhat[n, c, q]
        gbeta[c] = sb
        ggamma[c] = sg
        scale = gamma[c] * inv_std[c] / m
        for n in range(N):
            for q in range(P):
                gx[n, c, q] = scale * (m * gy[n, c, q] - sb - xhat[n, c, q] * sg)


@_jit
def affine_into(x, scale, shift, relu, out):
    """``out = x*scale + shift`` per channel of ``x`` (N, C, P); then max(., 0) if ``relu``.

    This is BN in evaluation mode, and with ``relu`` the fused BN+ReLU of a pre-activation
    block: one read and one write of the activation instead of three of each.
    """
    N, C, P = x.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        a = scale[c]
        b = shift[c]
        if relu:
            for q in range(P):
                v = x[n, c, q] * a + b
                out[n, c, q] = v if v > 0 else 0
        else:
            for q in range(P):
                out[n, c, q] = x[n, c, q] * a + b


# --------------------------------------------------------------------------- elementwise
@_jit
def relu_into(x, out):
    """``out = max(x, 0)`` over flat arrays. NaN propagates, as with ``np.maximum``."""
    for k in prange(x.shape[0]):
        v = x[k]
        out[k] = v if (v > 0 or v != v) else 0


@_jit
def relu_backward_into(y, gy, out):
    """``out = gy * (y > 0)`` over flat arrays (the gradient at 0 is 0)."""
    for k in prange(y.shape[0]):
        out[k] = gy[k] if y[k] > 0 else gy[k] * 0


# --------------------------------------------------------------------------- pooling
@_jit
def avgpool_into(x, k, s, inv, out):
    """Mean of k x k windows of ``x`` (N, C, H, W) into ``out`` (N, C, Ho, Wo).

    The taps are added in the order (i, j) as in the reference, then scaled by ``inv`` =
    1/k^2 given in the dtype of ``x`` (as the reference does), so results agree bit for bit.
    """
    N, C, Ho, Wo = out.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        for h in range(Ho):
            for w in range(Wo):
                # Accumulate in the output element itself (dtype of x), as the reference.
                out[n, c, h, w] = 0
                for i in range(k):
                    for j in range(k):
                        out[n, c, h, w] += x[n, c, h * s + i, w * s + j]
                out[n, c, h, w] *= inv


@_jit
def avgpool_backward_into(gy, k, s, inv, out):
    """Spread ``gy`` (N, C, Ho, Wo) evenly over the windows of ``out`` (N, C, H, W)."""
    N, C, Ho, Wo = gy.shape
    H, W = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        for hh in range(H):
            for ww in range(W):
                out[n, c, hh, ww] = 0
        for i in range(k):
            for j in range(k):
                for h in range(Ho):
                    for w in range(Wo):
                        out[n, c, h * s + i, w * s + j] += gy[n, c, h, w] * inv


# --------------------------------------------------------------------------- embeddings
@_jit
def scatter_add_rows_into(idx, rows, out):
    """``out[idx[k]] += rows[k]`` for every k, duplicates added, over a zeroed ``out``.

    Parallel over the D columns: each thread owns whole columns of the table, walks the
    indices in their original order, and so never writes an element another thread writes
    (a parallel loop over k would race on repeated indices).
    """
    M, D = rows.shape
    for d in prange(D):
        for k in range(M):
            out[idx[k], d] += rows[k, d]


@_jit_serial
def unique_rows_sum_sorted(idx, order, rows, uniq, summed):
    """Sum ``rows`` grouped by ``idx`` given a stable sorting permutation ``order``.

    ``uniq`` and ``summed`` have room for M entries; returns the number U of distinct ids.
    Rows of one id are added in their original order (stable sort), as ``np.add.at`` does.
    """
    M, D = rows.shape
    u = -1
    prev = 0
    for t in range(M):
        k = order[t]
        v = idx[k]
        if u < 0 or v != prev:
            u += 1
            uniq[u] = v
            prev = v
            for d in range(D):
                summed[u, d] = 0
        for d in range(D):
            summed[u, d] += rows[k, d]
    return u + 1


# --------------------------------------------------------------------------- CTR inference
@_jit
def mlp_forward_into(cat, offsets, table, num, Ws, bs, out):
    """Whole forward of a CTR MLP for a small batch, one row per iteration.

    ``h0[n] = [table[cat[n, f] + offsets[f]] for f] ++ num[n]``, then for every layer
    ``h <- h @ W + b`` with a ReLU between layers (none after the last), into ``out``.

    Parameters
    ----------
    cat : int64 (N, F)
    offsets : int64 (F,)
        First row of each field's table inside ``table`` (tables stacked).
    table : (V_total, D)
    num : (N, M)
    Ws, bs : tuples of (D_in, D_out) and (D_out,) arrays
    out : (N, D_last)

    For batch 1 a BLAS call per layer costs more in call overhead than it saves: the loops
    here are ordered k-outer, j-inner so the inner loop runs along a contiguous row of W.
    """
    N, F = cat.shape
    D = table.shape[1]
    M = num.shape[1]
    for n in prange(N):
        x = np.empty(F * D + M, dtype=table.dtype)
        for f in range(F):
            row = cat[n, f] + offsets[f]
            for d in range(D):
                x[f * D + d] = table[row, d]
        for m in range(M):
            x[F * D + m] = num[n, m]
        nl = len(Ws)
        for layer in range(nl):
            W = Ws[layer]
            y = np.zeros(W.shape[1], dtype=table.dtype)
            for k in range(W.shape[0]):
                xk = x[k]
                for j in range(W.shape[1]):
                    y[j] += xk * W[k, j]
            b = bs[layer]
            for j in range(W.shape[1]):
                v = y[j] + b[j]
                if layer < nl - 1 and not v > 0 and v == v:
                    v = 0
                y[j] = v
            x = y
        for j in range(x.shape[0]):
            out[n, j] = x[j]
