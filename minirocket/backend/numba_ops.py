"""numba CPU backend: parallel kernels for the work BLAS does not do.

Notation
--------
N batch, C input channels, O output channels, H x W input, kh x kw kernel, s stride,
p zero padding, Ho x Wo output, L = Ho * Wo, K = C * kh * kw.

What changes against the reference :class:`~minirocket.backend.ops.Ops`:

* convolution unfolds with a parallel kernel into a **reused internal buffer** laid out
  as a (K, n*L) matrix for a block of n samples (at most ``COLS_BLOCK`` elements) and
  hands one large GEMM per block to BLAS ((O, K) @ (K, n*L)); the unfolding copy, not
  the GEMM, dominated the reference's time;
* 4-d batch norm (forward: mean, variance and normalisation, one parallel kernel;
  backward likewise), the fused BN+ReLU of evaluation, ReLU and its gradient, average
  pooling and the embedding scatter-add are ``prange`` kernels with float64 accumulators;
  2-d batch norm stays on NumPy (a numba kernel measured no faster);
* small work (below ``_numba_kernels.SERIAL_BELOW`` elements) runs a serial build of the
  same kernel;
* layout stays NCHW, the layout of every layer (``docs/benchmarks.md`` explains why
  NHWC was not pursued with im2col).

Workspace reuse is limited to *internal* scratch (the unfolded columns, which are reused
for their gradient, the GEMM output before its NCHW copy and the transposed upstream
gradient): every array returned to a caller is freshly allocated, so a ``ctx`` that holds
an activation can never be overwritten by a later call. The scratch makes a
:class:`NumbaOps` object unsafe to share between Python threads running ops at the same
time; use one instance per thread (``NumbaOps()``) if you need that.
"""
import os

# numba's default threading layer is GNU OpenMP, whose idle threads spin for a while after
# every parallel region. On a 2-core machine they then starve OpenBLAS's threads in the
# GEMM that follows: one batch-1 convolution took 8 ms instead of 0.2 ms. A spin count of 0
# makes them sleep at once. libgomp reads it when it loads, i.e. at the first parallel
# kernel launch, so it is set here, before any kernel runs, and only if the user has not
# chosen an OpenMP wait policy.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "0"

import numpy as np  # noqa: E402

from minirocket.backend import _numba_kernels as nk  # noqa: E402
from minirocket.backend.ops import NumpyOps, conv_output_size  # noqa: E402
from minirocket.validate import check_bool  # noqa: E402


#: Most unfolded-column elements per block of samples in a convolution (16 MiB float32).
COLS_BLOCK = 1 << 22


class _Workspace:
    """Grow-only flat scratch buffers, one per (role, dtype), viewed to any shape.

    Only ops-internal temporaries live here; a view handed out is valid until the next
    request for the same role.
    """

    def __init__(self):
        self._bufs = {}

    def get(self, role, shape, dtype):
        dtype = np.dtype(dtype)
        size = 1
        for d in shape:
            size *= int(d)
        key = (role, dtype.str)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = np.empty(size, dtype=dtype)
            self._bufs[key] = buf
        return buf[:size].reshape(shape)

    def nbytes(self):
        return sum(b.nbytes for b in self._bufs.values())

    def clear(self):
        self._bufs.clear()


def _c(a):
    """C-contiguous view or copy: the kernels index with C-order assumptions."""
    return np.ascontiguousarray(a)


def _as3(x):
    """(N, C) -> (N, C, 1) and (N, C, H, W) -> (N, C, H*W) views of a contiguous array."""
    return x.reshape(x.shape[0], x.shape[1], -1)


class NumbaOps(NumpyOps):
    """NumPy arrays, numba kernels. Results match :class:`NumpyOps` within float tolerances.

    Parameters
    ----------
    reuse_workspace : bool
        Keep the im2col columns (and their gradient) in buffers reused across calls
        (default). False allocates them per call, like the reference.
    """

    name = "numba"

    def __init__(self, reuse_workspace=True):
        super().__init__()
        self.reuse_workspace = check_bool("reuse_workspace", reuse_workspace)
        self._ws = _Workspace()

    def workspace_nbytes(self):
        """Bytes currently held by the internal scratch buffers."""
        return self._ws.nbytes()

    def release_workspace(self):
        """Free the internal scratch buffers (they are re-created on demand)."""
        self._ws.clear()

    def _scratch(self, role, shape, dtype):
        if self.reuse_workspace:
            return self._ws.get(role, shape, dtype)
        return np.empty(shape, dtype=dtype)

    # ----------------------------------------------------------------- convolution
    def _unfold(self, x, kh, kw, stride, padding, Ho, Wo):
        """Columns of ``x`` (C-contiguous) as one (K, N*L) matrix in the ``cols`` scratch."""
        N, C = x.shape[0], x.shape[1]
        K = C * kh * kw
        cols = self._scratch("cols", (K, N, Ho * Wo), x.dtype)
        nk.im2col_into(cols.size, x, kh, kw, stride, padding, Ho, Wo, cols)
        return cols.reshape(K, -1)

    @staticmethod
    def _chunks(N, K, L):
        """Sample ranges whose unfolded columns fit in ``COLS_BLOCK`` elements."""
        step = max(1, min(N, COLS_BLOCK // max(1, K * L)))
        return [(a, min(N, a + step)) for a in range(0, N, step)]

    def im2col(self, x, kh, kw, stride, padding):
        N, C, H, W = x.shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        K = C * kh * kw
        # Filled through the same (K, N, L) layout as the convolution, so that a single
        # compiled signature serves both; the returned array is a fresh (N, K, L) copy.
        cols = np.empty((K, N, Ho * Wo), dtype=x.dtype)
        nk.im2col_into(cols.size, _c(x), kh, kw, stride, padding, Ho, Wo, cols)
        return np.ascontiguousarray(cols.transpose(1, 0, 2))

    def col2im(self, cols, x_shape, kh, kw, stride, padding):
        N, C, H, W = x_shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        K = C * kh * kw
        cols_knl = np.ascontiguousarray(cols.reshape(N, K, Ho * Wo).transpose(1, 0, 2))
        gx = np.empty(x_shape, dtype=cols.dtype)
        nk.col2im_into(cols_knl.size, cols_knl, kh, kw, stride, padding, Ho, Wo, gx)
        return gx

    def conv2d(self, x, W, stride, padding):
        """Forward as ``im2col`` into scratch, then one GEMM (O, K) @ (K, n*L) per block.

        A few large GEMMs run closer to the BLAS roof than N per-sample ones (measured in
        ``docs/benchmarks.md``); each (O, n, L) result is swapped to NCHW by a parallel
        copy. Samples are taken in blocks of at most ``COLS_BLOCK`` unfolded elements, so
        the scratch stays bounded (16 MiB in float32) whatever the batch.
        """
        x = _c(x)
        N, C, H, Wd = x.shape
        O, _, kh, kw = W.shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(Wd, kw, stride, padding)
        L, K = Ho * Wo, C * kh * kw
        W2 = _c(W).reshape(O, K)
        y = np.empty((N, O, Ho, Wo), dtype=x.dtype)                     # fresh, returned
        y3 = y.reshape(N, O, L)
        for a, b in self._chunks(N, K, L):
            cols = self._unfold(x[a:b], kh, kw, stride, padding, Ho, Wo)
            if b - a == 1:
                np.matmul(W2, cols, out=y3[a])
            else:
                yt = self._scratch("yt", (O, (b - a) * L), x.dtype)
                np.matmul(W2, cols, out=yt)
                nk.swap01_into(yt.size, yt.reshape(O, b - a, L), y3[a:b])
        return y

    def conv2d_backward(self, x, W, gy, stride, padding, need_gx=True):
        """``gW = sum over blocks gy^T cols^T`` and ``gx = col2im(W^T gy^T)`` per block.

        After gW has used a block's columns, their scratch buffer receives the column
        gradient: one (K, n*L) buffer serves both GEMMs.
        """
        x = _c(x)
        N, C, H, Wd = x.shape
        O, _, kh, kw = W.shape
        Ho, Wo = gy.shape[2], gy.shape[3]
        L, K = Ho * Wo, C * kh * kw
        gy3 = _c(gy).reshape(N, O, L)
        W2t = _c(W).reshape(O, K).T
        gW = np.empty((O, K), dtype=x.dtype)                             # fresh, returned
        gx = np.empty(x.shape, dtype=x.dtype) if need_gx else None
        for a, b in self._chunks(N, K, L):
            n = b - a
            cols = self._unfold(x[a:b], kh, kw, stride, padding, Ho, Wo)   # (K, n*L)
            if n == 1:
                gyt = gy3[a]                                                 # (O, L)
            else:
                gyt = self._scratch("gyt", (O, n, L), gy3.dtype)
                nk.swap01_into(gyt.size, gy3[a:b], gyt)
                gyt = gyt.reshape(O, n * L)
            if a == 0:
                np.matmul(gyt, cols.T, out=gW)
            else:
                gW += gyt @ cols.T
            if need_gx:
                np.matmul(W2t, gyt, out=cols)            # columns done: reuse for gcols
                nk.col2im_into(cols.size, cols.reshape(K, n, L), kh, kw, stride, padding,
                               Ho, Wo, gx[a:b])
        return gx, gW.reshape(W.shape)

    # ----------------------------------------------------------------- batch norm
    def batchnorm_train(self, x, gamma, beta, eps, axes):
        x = _c(x)
        if x.ndim == 2:
            # (N, C) input (the MLP's dense layers): NumPy's vectorised column reductions
            # measured as fast as a blocked numba kernel (1.4-1.6 ms at 1024 x 720).
            return super().batchnorm_train(x, gamma, beta, eps, axes)
        x3 = _as3(x)
        C = x.shape[1]
        y = np.empty_like(x)
        xhat = np.empty_like(x)
        mean = np.empty(C, x.dtype)
        var = np.empty(C, x.dtype)
        inv_std = np.empty(C, x.dtype)
        nk.bn_train_into(x.size, x3, _c(gamma), _c(beta), float(eps), _as3(y), _as3(xhat),
                         mean, var, inv_std)
        return y, xhat, mean, var, inv_std

    def batchnorm_backward(self, xhat, inv_std, gamma, gy, axes):
        gy = _c(gy)
        if gy.ndim == 2:
            return super().batchnorm_backward(xhat, inv_std, gamma, gy, axes)
        C = gy.shape[1]
        gx = np.empty_like(gy)
        ggamma = np.empty(C, gy.dtype)
        gbeta = np.empty(C, gy.dtype)
        nk.bn_backward_into(gy.size, _as3(_c(xhat)), _c(inv_std), _c(gamma), _as3(gy),
                            _as3(gx), ggamma, gbeta)
        return gx, ggamma, gbeta

    def _affine(self, x, scale, shift, relu):
        # One pass for ``x * scale + shift`` per channel, optionally clamped at 0.
        x = _c(x)
        out = np.empty_like(x)
        nk.affine_into(x.size, _as3(x), _c(scale).astype(x.dtype, copy=False),
                       _c(shift).astype(x.dtype, copy=False), relu, _as3(out))
        return out

    def batchnorm_eval(self, x, scale, shift):
        return self._affine(x, scale, shift, False)

    def batchnorm_relu_eval(self, x, scale, shift):
        return self._affine(x, scale, shift, True)

    # ----------------------------------------------------------------- elementwise
    def relu(self, x):
        if x.dtype.kind != "f":
            return super().relu(x)
        x = _c(x)
        out = np.empty_like(x)
        nk.relu_into(x.size, x.reshape(-1), out.reshape(-1))
        return out

    def relu_backward(self, y, gy):
        if gy.dtype.kind != "f" or y.shape != gy.shape or y.dtype != gy.dtype:
            return super().relu_backward(y, gy)
        gy = _c(gy)
        out = np.empty_like(gy)
        nk.relu_backward_into(gy.size, _c(y).reshape(-1), gy.reshape(-1), out.reshape(-1))
        return out

    # ----------------------------------------------------------------- pooling
    def avgpool2d(self, x, k, stride):
        N, C, H, W = x.shape
        out = np.empty((N, C, conv_output_size(H, k, stride, 0),
                        conv_output_size(W, k, stride, 0)), dtype=x.dtype)
        nk.avgpool_into(x.size, _c(x), k, stride, x.dtype.type(1.0 / (k * k)), out)
        return out

    def avgpool2d_backward(self, gy, x_shape, k, stride):
        gx = np.empty(x_shape, dtype=gy.dtype)
        nk.avgpool_backward_into(gx.size, _c(gy), k, stride, gy.dtype.type(1.0 / (k * k)),
                                 gx)
        return gx

    # ----------------------------------------------------------------- embeddings
    def scatter_add_rows(self, table_shape, idx, rows):
        out = np.zeros(table_shape, dtype=rows.dtype)
        nk.scatter_add_rows_into(rows.size, _c(idx).astype(np.int64, copy=False), _c(rows),
                                 out)
        return out

    def unique_rows_sum(self, idx, rows):
        idx_dtype = idx.dtype
        idx = _c(idx).reshape(-1).astype(np.int64, copy=False)
        rows = _c(rows)
        M = idx.shape[0]
        order = np.argsort(idx, kind="stable")
        uniq = np.empty(M, dtype=np.int64)
        summed = np.empty((M, rows.shape[1]), dtype=rows.dtype)
        U = nk.unique_rows_sum_sorted(idx, order, rows, uniq, summed)
        return uniq[:U].astype(idx_dtype), summed[:U].copy()
