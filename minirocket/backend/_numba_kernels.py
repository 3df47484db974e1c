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
* every parallel kernel also has a serial build (:class:`_Kernel`), used for small work
  and inside the convolution's worker threads;
* every build releases the GIL (``nogil=True``), so that Python worker threads running
  kernels and BLAS calls share the cores.

Call a kernel as ``kernel(work, *args)`` with ``work`` the number of elements it touches.

No kernel is compiled on import: numba compiles on first call, once per dtype signature,
and ``cache=True`` stores the machine code next to this file for later processes.
"""
import math
import types

import numpy as np

from minirocket.backend._compat import numba

prange = numba.prange
_u = numba.uint64   # unsigned offsets: no negative-index wrap-around checks
_U1, _U2, _U3, _U4 = _u(1), _u(2), _u(3), _u(4)   # (uint64 + int64 would type as float64)

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
        self.parallel = numba.njit(parallel=True, nogil=True, cache=True, fastmath=False)(func)
        twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                                  func.__defaults__, func.__closure__)
        twin.__qualname__ = func.__qualname__ + "_serial"
        twin.__module__ = func.__module__
        self.serial = numba.njit(parallel=False, nogil=True, cache=True, fastmath=False)(twin)

    def __call__(self, work, *args):
        if work < SERIAL_BELOW:
            return self.serial(*args)
        return self.parallel(*args)


_jit = _Kernel
_jit_serial = numba.njit(parallel=False, nogil=True, cache=True, fastmath=False)


# --------------------------------------------------------------------------- convolution
def _valid_w(j, s, p, W, Wo):
    """Output columns ``[w_lo, w_hi)`` whose tap ``j`` reads inside the input row.

    w is valid when ``0 <= w*s + j - p < W``; hoisting this range out of the inner loops
    leaves them branch-free.
    """
    w_lo = 0
    if p - j > 0:
        w_lo = (p - j + s - 1) // s
    w_hi = 0
    if W - 1 - j + p >= 0:
        w_hi = (W - 1 - j + p) // s + 1
    w_lo = min(w_lo, Wo)
    return w_lo, max(min(w_hi, Wo), w_lo)


_valid_w = numba.njit(inline="always")(_valid_w)


@_jit
def im2col_into(x, kh, kw, s, p, Ho, Wo, out):
    """Fill ``out`` (K, N, L) with the unfolded windows of ``x`` (N, C, H, W).

    ``out[(c*kh+i)*kw+j, n, h*Wo+w] = x[n, c, s*h+i-p, s*w+j-p]`` or 0 in the padding.
    The (K, N, L) layout makes ``out.reshape(K, N*L)`` one GEMM operand for a whole block
    of samples. Parallel over the K*N rows; each iteration writes one contiguous row of
    length L.

    Both arrays are C-contiguous and addressed through flat views with unsigned offsets
    (``_u``): numba must otherwise guard every signed index against negative
    wrap-around, which kept LLVM from vectorising the copy (2-5x slower, measured).
    """
    N, C, H, W = x.shape
    K = C * kh * kw
    L = Ho * Wo
    xf = x.reshape(-1)
    of = out.reshape(-1)
    us = _u(s)
    for t in prange(K * N):
        r = t // N
        n = t - r * N
        c = r // (kh * kw)
        ij = r - c * (kh * kw)
        i = ij // kw
        j = ij - i * kw
        w_lo, w_hi = _valid_w(j, s, p, W, Wo)
        nw = _u(w_hi - w_lo)
        row = _u(t) * _u(L)                      # out[r, n, :] starts at (r*N + n)*L
        if s == 1 and Wo == W:
            # Unit stride, width kept (the 3x3 pad-1 case): the whole row is the input
            # plane shifted by (i-p)*W + (j-p) in flat index, so one long contiguous copy
            # replaces Ho short ones (4-8x fewer loop starts at W = 8..16, measured);
            # afterwards the padding is written: rows outside the input, and in every
            # row the wrapped-around columns. Source indices are clipped to the plane, so
            # nothing outside it is read; what the clip leaves out is padding anyway.
            shift = (i - p) * W + (j - p)
            h_lo = min(max(0, p - i), Ho)
            h_hi = max(min(Ho, H + p - i), h_lo)
            lo = max(h_lo * W, -shift)
            hi_ = max(min(h_hi * W, H * W - shift), lo)
            src = _u((n * C + c) * H * W + lo + shift)
            for q in range(_u(lo)):
                of[row + q] = 0
            dst = row + _u(lo)
            for q in range(_u(hi_ - lo)):
                of[dst + q] = xf[src + q]
            for q in range(_u(hi_), _u(L)):
                of[row + q] = 0
            for h in range(h_lo, h_hi):
                o = row + _u(h * W)
                for w in range(_u(w_lo)):
                    of[o + w] = 0
                for w in range(_u(w_hi), _u(W)):
                    of[o + w] = 0
            continue
        for h in range(Ho):
            hi = h * s + i - p
            o = row + _u(h * Wo)
            if hi < 0 or hi >= H:
                for w in range(_u(Wo)):
                    of[o + w] = 0
            else:
                for w in range(_u(w_lo)):
                    of[o + w] = 0
                # First valid input element; non-negative by the choice of w_lo.
                src = _u(((n * C + c) * H + hi) * W + w_lo * s + j - p)
                dst = o + _u(w_lo)
                for w in range(nw):
                    of[dst + w] = xf[src + w * us]
                for w in range(_u(w_hi), _u(Wo)):
                    of[o + w] = 0


@_jit
def col2im_into(cols, kh, kw, s, p, Ho, Wo, out):
    """Adjoint of :func:`im2col_into`: ``out`` (N, C, H, W) = sum of the columns (K, N, L).

    Parallel over the N*C planes; each plane adds its kh*kw taps in the order (i, j), the
    same order as the NumPy reference, so the sums agree bit for bit. Flat views and
    unsigned offsets as in :func:`im2col_into`.
    """
    N, C, H, W = out.shape
    L = Ho * Wo
    cf = cols.reshape(-1)
    of = out.reshape(-1)
    us = _u(s)
    HW = _u(H * W)
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = _u(t) * HW
        for q in range(HW):
            of[plane + q] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                w_lo, w_hi = _valid_w(j, s, p, W, Wo)
                nw = _u(w_hi - w_lo)
                src0 = _u((r * N + n) * L + w_lo)
                for h in range(Ho):
                    hi = h * s + i - p
                    if hi < 0 or hi >= H:
                        continue
                    dst = plane + _u(hi * W + w_lo * s + j - p)
                    src = src0 + _u(h * Wo)
                    for w in range(nw):
                        of[dst + w * us] += cf[src + w]


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
@numba.njit(inline="always")
def _masked(g, o, relu):
    # The ReLU's gradient g * [o > 0] as a select. ``g - g`` is 0 in g's own dtype (and
    # NaN for an infinite or NaN g, like g * 0); a literal 0 would promote to float64.
    return g if (not relu or o > 0) else g - g


@_jit
def bn_train_into(x, gamma, beta, eps, relu, y, xhat, mean, var, inv_std):
    """Batch-statistics normalisation of ``x`` (N, C, P) with P = H*W (1 for 2-d input).

    Two passes per channel (mean, then mean of squared deviations), float64 accumulators.
    Fills y, xhat (N, C, P) and mean, var, inv_std (C,). With ``relu``, ``y`` is
    ``max(gamma*xhat + beta, 0)``: BN and the ReLU after it in one pass.

    The sums run over the contiguous P-runs of a channel with four partial accumulators:
    without ``fastmath`` LLVM keeps one float64 addition chain in order, and four
    independent chains keep the adder busy (float64 sums of 10^5..10^6 terms in any
    order agree far below float32 resolution).
    """
    N, C, P = x.shape
    m = N * P
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    hf = xhat.reshape(-1)
    uP = _u(P)
    for c in prange(C):
        a0 = a1 = a2 = a3 = 0.0
        for n in range(N):
            base = _u((n * C + c) * P)
            q = _u(0)
            while q + _U4 <= uP:
                a0 += xf[base + q]
                a1 += xf[base + q + _U1]
                a2 += xf[base + q + _U2]
                a3 += xf[base + q + _U3]
                q += _U4
            while q < uP:
                a0 += xf[base + q]
                q += _U1
        mu = ((a0 + a1) + (a2 + a3)) / m
        a0 = a1 = a2 = a3 = 0.0
        for n in range(N):
            base = _u((n * C + c) * P)
            q = _u(0)
            while q + _U4 <= uP:
                d0 = xf[base + q] - mu
                d1 = xf[base + q + _U1] - mu
                d2 = xf[base + q + _U2] - mu
                d3 = xf[base + q + _U3] - mu
                a0 += d0 * d0
                a1 += d1 * d1
                a2 += d2 * d2
                a3 += d3 * d3
                q += _U4
            while q < uP:
                d0 = xf[base + q] - mu
                a0 += d0 * d0
                q += _U1
        v = ((a0 + a1) + (a2 + a3)) / m
        istd = 1.0 / math.sqrt(v + eps)
        mean[c] = mu
        var[c] = v
        inv_std[c] = istd
        g = gamma[c]
        b = beta[c]
        for n in range(N):
            base = _u((n * C + c) * P)
            for q in range(uP):
                xh = (xf[base + q] - mu) * istd
                hf[base + q] = xh
                t = xh * g + b
                if relu and not (t > 0 or t != t):
                    t = 0.0            # NaN passes, as through np.maximum(t, 0)
                yf[base + q] = t


@_jit
def bn_backward_into(xhat, inv_std, gamma, o, relu, gy, gx, ggamma, gbeta):
    """Gradients of :func:`bn_train_into` for ``gy`` (N, C, P).

    ``gx = gamma*inv_std/m * (m*g - sum(g) - xhat*sum(g*xhat))``, per channel, with
    ``g = gy``, or with ``relu`` the ReLU's gradient ``g = gy * [o > 0]`` for the fused
    output ``o`` (N, C, P), formed on the fly instead of as an array. Without ``relu``,
    ``o`` is not read (pass ``gy``). Partial accumulators as in :func:`bn_train_into`.
    """
    N, C, P = gy.shape
    m = N * P
    hf = xhat.reshape(-1)
    of = o.reshape(-1)
    gf = gy.reshape(-1)
    xf = gx.reshape(-1)
    uP = _u(P)
    for c in prange(C):
        b0 = b1 = s0 = s1 = 0.0
        for n in range(N):
            base = _u((n * C + c) * P)
            q = _u(0)
            while q + _U2 <= uP:
                g0 = _masked(gf[base + q], of[base + q], relu)
                g1 = _masked(gf[base + q + _U1], of[base + q + _U1], relu)
                b0 += g0
                b1 += g1
                s0 += g0 * hf[base + q]
                s1 += g1 * hf[base + q + _U1]
                q += _U2
            while q < uP:
                g0 = _masked(gf[base + q], of[base + q], relu)
                b0 += g0
                s0 += g0 * hf[base + q]
                q += _U1
        sb = b0 + b1
        sg = s0 + s1
        gbeta[c] = sb
        ggamma[c] = sg
        scale = gamma[c] * inv_std[c] / m
        for n in range(N):
            base = _u((n * C + c) * P)
            for q in range(uP):
                g0 = _masked(gf[base + q], of[base + q], relu)
                xf[base + q] = scale * (m * g0 - sb - hf[base + q] * sg)


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


# --------------------------------------------------------------------------- 2-d batch norm
#: Rows of an (N, C) batch-norm input per block of :func:`bn2d_train_into` and
#: :func:`bn2d_backward_into`. The blocks are fixed by N alone, not by the thread count,
#: so the order of the float64 sums (and hence every result) is the same on any machine.
BN2D_ROWS = 64


def bn2d_blocks(N):
    """Number of row blocks, ``ceil(N / BN2D_ROWS)``: the leading size of the partials."""
    return (N + BN2D_ROWS - 1) // BN2D_ROWS


@_jit
def bn2d_train_into(x, gamma, beta, eps, relu, y, xhat, mean, var, inv_std, part, stat):
    """Batch-statistics normalisation of a row-major ``x`` (N, C) over its rows.

    .. math::
        \\mu_c = \\frac1N \\sum_n x_{nc}, \\quad
        \\sigma^2_c = \\frac1N \\sum_n (x_{nc} - \\mu_c)^2, \\quad
        \\hat x_{nc} = \\frac{x_{nc} - \\mu_c}{\\sqrt{\\sigma^2_c + \\epsilon}}, \\quad
        y_{nc} = \\gamma_c \\hat x_{nc} + \\beta_c

    and with ``relu`` ``y = max(y, 0)`` in the same pass (NaN passes, as through
    ``np.maximum``), the fused BN+ReLU of :func:`bn_train_into`.

    A column of an (N, C) array is strided, so a loop per channel (as in
    :func:`bn_train_into`) reads one float per cache line. Here every loop walks rows
    outer and channels inner, along contiguous memory, into per-channel float64 sums.
    ``prange`` runs over blocks of ``BN2D_ROWS`` rows (b, with n_b rows), each block
    owning its rows of ``part``. A block takes its statistics in two passes while its rows
    are still in cache: the sum S_b, then the squared deviations from its own mean
    m_b = S_b / n_b. The blocks are then combined exactly (Chan, Golub and LeVeque):

    .. math::
        \\mu = \\frac1N \\sum_b S_b, \\qquad
        N \\sigma^2 = \\sum_b \\Big[\\sum_{n \\in b} (x_n - m_b)^2 + n_b (m_b - \\mu)^2\\Big]

    so x is read from memory twice in all (statistics, output), and the variance never
    takes the difference of two large sums (``E[x^2] - E[x]^2`` loses every digit in
    float32 when |mean| >> std).

    Parameters
    ----------
    x : (N, C) C-contiguous, N >= 1
    gamma, beta : (C,)
    eps : float
    relu : bool
    y, xhat : (N, C), filled
    mean, var, inv_std : (C,), filled (var is the biased batch variance)
    part : float64 (3, bn2d_blocks(N), C), scratch (per block: sum, mean, squared
        deviations)
    stat : float64 (2, C), scratch (mean and inverse deviation in float64)
    """
    N, C = x.shape
    nb = part.shape[1]
    for b in prange(nb):
        s = part[0, b]
        m = part[1, b]
        q = part[2, b]
        lo = b * BN2D_ROWS
        hi = min(N, lo + BN2D_ROWS)
        for c in range(C):
            s[c] = 0.0
            q[c] = 0.0
        for n in range(lo, hi):
            xr = x[n]
            for c in range(C):
                s[c] += xr[c]
        inv_nb = 1.0 / (hi - lo)
        for c in range(C):
            m[c] = s[c] * inv_nb
        for n in range(lo, hi):
            xr = x[n]
            for c in range(C):
                d = xr[c] - m[c]
                q[c] += d * d
    mu = stat[0]
    istd = stat[1]
    for c in range(C):
        t = 0.0
        for b in range(nb):
            t += part[0, b, c]
        mu[c] = t / N
    for c in range(C):
        mu_c = mu[c]
        t = 0.0
        for b in range(nb):
            d = part[1, b, c] - mu_c
            nrows = min(N, (b + 1) * BN2D_ROWS) - b * BN2D_ROWS
            t += part[2, b, c] + nrows * d * d
        v = t / N
        istd[c] = 1.0 / math.sqrt(v + eps)
        mean[c] = mu_c
        var[c] = v
        inv_std[c] = istd[c]
    for b in prange(nb):
        for n in range(b * BN2D_ROWS, min(N, (b + 1) * BN2D_ROWS)):
            xr = x[n]
            hr = xhat[n]
            yr = y[n]
            for c in range(C):
                h = (xr[c] - mu[c]) * istd[c]
                hr[c] = h
                v = h * gamma[c] + beta[c]
                if relu and not (v > 0 or v != v):
                    v = 0
                yr[c] = v


@_jit
def bn2d_backward_into(xhat, inv_std, gamma, o, relu, gy, gx, ggamma, gbeta, part, stat):
    """Gradients of :func:`bn2d_train_into` for a row-major ``gy`` (N, C).

    .. math::
        g\\beta_c = \\sum_n gy_{nc}, \\quad g\\gamma_c = \\sum_n gy_{nc} \\hat x_{nc}, \\quad
        gx_{nc} = \\frac{\\gamma_c \\sigma^{-1}_c}{N}
        \\left(N gy_{nc} - g\\beta_c - \\hat x_{nc}\\, g\\gamma_c\\right)

    With ``relu``, ``gy`` is replaced by the ReLU's gradient ``gy * [o > 0]`` for the fused
    output ``o``, formed on the fly; without it ``o`` is not read (pass ``gy``).

    Rows outer, channels inner, float64 partial sums per block of ``BN2D_ROWS`` rows, as
    in :func:`bn2d_train_into`; one reduction pass, then one elementwise pass.

    Parameters
    ----------
    xhat, o, gy : (N, C) C-contiguous
    inv_std, gamma : (C,)
    relu : bool
    gx : (N, C), filled
    ggamma, gbeta : (C,), filled
    part : float64 (2, bn2d_blocks(N), C), scratch
    stat : float64 (3, C), scratch (the two sums and the per-channel scale in float64)
    """
    N, C = gy.shape
    nb = part.shape[1]
    for b in prange(nb):
        sb = part[0, b]
        sg = part[1, b]
        for c in range(C):
            sb[c] = 0.0
            sg[c] = 0.0
        for n in range(b * BN2D_ROWS, min(N, (b + 1) * BN2D_ROWS)):
            gr = gy[n]
            hr = xhat[n]
            orow = o[n]
            for c in range(C):
                g = _masked(gr[c], orow[c], relu)
                sb[c] += g
                sg[c] += g * hr[c]
    tb = stat[0]
    tg = stat[1]
    sc = stat[2]
    for c in range(C):
        s1 = 0.0
        s2 = 0.0
        for b in range(nb):
            s1 += part[0, b, c]
            s2 += part[1, b, c]
        tb[c] = s1
        tg[c] = s2
        gbeta[c] = s1
        ggamma[c] = s2
        sc[c] = gamma[c] * inv_std[c] / N
    for b in prange(nb):
        for n in range(b * BN2D_ROWS, min(N, (b + 1) * BN2D_ROWS)):
            gr = gy[n]
            hr = xhat[n]
            orow = o[n]
            out = gx[n]
            for c in range(C):
                g = _masked(gr[c], orow[c], relu)
                out[c] = sc[c] * (N * g - tb[c] - hr[c] * tg[c])


# --------------------------------------------------------------------------- SGD
@_jit
def sgd_dense_into(w, g, buf, lr, mu, wd, nesterov, first):
    """One SGD step on flat arrays, in place: PyTorch's momentum convention.

    .. math::
        d = g + wd\\, w, \\quad b \\leftarrow \\mu b + d \\;(b = d \\text{ if first}), \\quad
        w \\leftarrow w - lr\\,(d + \\mu b \\text{ if nesterov else } b)

    With ``mu == 0`` the buffer is neither read nor written (``w <- w - lr d``); with
    ``wd == 0`` the decay term is skipped, not added as ``0 * w`` (which would turn an
    infinite weight into NaN). ``lr``, ``mu`` and ``wd`` come in the dtype of ``w``, and
    every step is one rounded operation in that dtype in the order of the NumPy update,
    so both agree bit for bit.

    Parameters
    ----------
    w, g : (P,) same dtype; w updated in place
    buf : (P,) momentum buffer, updated in place (unused when ``mu == 0``)
    lr, mu, wd : scalars of the dtype of w
    nesterov, first : bool
    """
    for k in prange(w.shape[0]):
        d = g[k]
        if wd != 0:
            d = d + wd * w[k]
        if mu == 0:
            w[k] = w[k] - lr * d
            continue
        if first:
            b = d
        else:
            b = mu * buf[k] + d
        buf[k] = b
        if nesterov:
            w[k] = w[k] - lr * (d + mu * b)
        else:
            w[k] = w[k] - lr * b


@_jit
def sgd_rows_into(w, idx, rows, buf, lr, mu, wd, nesterov):
    """Lazy SGD step on the rows ``idx`` of a table ``w`` (V, D), in place.

    For every k, with ``r = idx[k]``, :func:`sgd_dense_into`'s update (never ``first``:
    the buffer starts at zero) applied to ``w[r]`` with gradient ``rows[k]`` and buffer
    ``buf[r]``; untouched rows and their buffer rows are left alone.

    ``idx`` must be strictly increasing and inside [0, V): then the rows are distinct, and
    parallel iterations write disjoint rows. This is checked before anything is written;
    on failure the kernel returns False with w and buf unchanged, and the caller falls
    back to NumPy indexing (which defines what repeated or negative ids do). Returns True
    once the update is applied.

    Parameters
    ----------
    w : (V, D) C-contiguous, updated in place
    idx : int (U,)
    rows : (U, D) gradient rows, dtype of w
    buf : (V, D) momentum buffer (unused when ``mu == 0``)
    lr, mu, wd : scalars of the dtype of w
    nesterov : bool
    """
    U = idx.shape[0]
    V, D = w.shape
    for k in range(U):
        r = idx[k]
        if r < 0 or r >= V or (k > 0 and r <= idx[k - 1]):
            return False
    for k in prange(U):
        r = idx[k]
        for j in range(D):
            d = rows[k, j]
            if wd != 0:
                d = d + wd * w[r, j]
            if mu == 0:
                w[r, j] = w[r, j] - lr * d
            else:
                b = mu * buf[r, j] + d
                buf[r, j] = b
                if nesterov:
                    w[r, j] = w[r, j] - lr * (d + mu * b)
                else:
                    w[r, j] = w[r, j] - lr * b
    return True
