"""CuPy GPU backend: the reference primitives with hand-written CUDA kernels.

Notation
--------
N batch, C input channels, O output channels, H x W input, kh x kw kernel, s stride,
p zero padding, Ho x Wo output, L = Ho * Wo, K = C * kh * kw.

CuPy 14 wheels ship no cuDNN binding that this package relies on, so convolution is
im2col (a gather kernel) + ``cupy.matmul`` (cuBLAS, one batched GEMM (O, K) @ (K, L) over
the N samples); col2im, pooling and its gradient are gathers (one thread per output
element, deterministic, same order of additions as the NumPy reference). Batch norm uses
CuPy reductions for the per-channel sums (two passes for the variance, as the reference)
and one fused elementwise kernel for the normalisation. The embedding scatter-add uses
an ``atomicAdd`` kernel (exact up to the order of float additions, which is
**nondeterministic** between runs).

Every method takes and returns CuPy arrays; inputs of the wrong device are rejected by the
layers' ``check_input`` before they get here. Kernels live in
:mod:`minirocket.backend._cupy_kernels`.
"""
from minirocket.backend import _cupy_kernels as ck
from minirocket.backend._compat import cupy
from minirocket.backend.ops import Ops, conv_output_size


def _c(a):
    return cupy.ascontiguousarray(a)


def _as3(x):
    return x.reshape(x.shape[0], x.shape[1], -1)


class CupyOps(Ops):
    """Ops over CuPy arrays on the current CUDA device."""

    name = "cupy"

    def __init__(self):
        super().__init__(cupy)

    def to_numpy(self, x):
        return cupy.asnumpy(x)

    # ----------------------------------------------------------------- convolution
    def im2col(self, x, kh, kw, stride, padding):
        N, C, H, W = x.shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        cols = cupy.empty((N, C * kh * kw, Ho * Wo), dtype=x.dtype)
        ck.kernel("im2col")(_c(x), C, H, W, kh, kw, stride, padding, Ho, Wo, cols)
        return cols

    def col2im(self, cols, x_shape, kh, kw, stride, padding):
        N, C, H, W = x_shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        gx = cupy.empty(tuple(x_shape), dtype=cols.dtype)
        ck.kernel("col2im")(_c(cols), C, H, W, kh, kw, stride, padding, Ho, Wo, gx)
        return gx

    def conv2d(self, x, W, stride, padding):
        N = x.shape[0]
        O, C, kh, kw = W.shape
        cols = self.im2col(x, kh, kw, stride, padding)                 # (N, K, L)
        Ho = conv_output_size(x.shape[2], kh, stride, padding)
        Wo = conv_output_size(x.shape[3], kw, stride, padding)
        return cupy.matmul(_c(W).reshape(O, -1), cols).reshape(N, O, Ho, Wo)

    def conv2d_backward(self, x, W, gy, stride, padding, need_gx=True):
        N = x.shape[0]
        O, C, kh, kw = W.shape
        cols = self.im2col(x, kh, kw, stride, padding)                 # (N, K, L)
        gy3 = _c(gy).reshape(N, O, -1)                                   # (N, O, L)
        # gW = sum_n gy_n cols_n^T as ONE GEMM: (O, N*L) @ (N*L, K).
        gy_t = gy3.transpose(1, 0, 2).reshape(O, -1)
        cols_t = cols.transpose(0, 2, 1).reshape(-1, cols.shape[1])
        gW = cupy.matmul(gy_t, cols_t).reshape(W.shape)
        gx = None
        if need_gx:
            gcols = cupy.matmul(_c(W).reshape(O, -1).T, gy3)            # (N, K, L)
            gx = self.col2im(gcols, x.shape, kh, kw, stride, padding)
        return gx, gW

    # ----------------------------------------------------------------- batch norm
    def batchnorm_train(self, x, gamma, beta, eps, axes):
        x = _c(x)
        mean = x.mean(axis=axes)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        d = x - mean.reshape(shape)
        var = (d * d).mean(axis=axes)
        del d
        inv_std = (1.0 / cupy.sqrt(var + eps)).astype(x.dtype, copy=False)
        C = x.shape[1]
        P = x.size // (x.shape[0] * C) if x.size else 1
        xhat = cupy.empty_like(x)
        y = cupy.empty_like(x)
        ck.kernel("bn_train")(x, mean, inv_std, _c(gamma), _c(beta), C, P, xhat, y)
        return y, xhat, mean, var, inv_std

    def batchnorm_backward(self, xhat, inv_std, gamma, gy, axes):
        gy = _c(gy)
        xhat = _c(xhat)
        m = gy.size // gy.shape[1]
        gbeta = gy.sum(axis=axes)
        ggamma = (gy * xhat).sum(axis=axes)
        scale = (gamma * inv_std / m).astype(gy.dtype, copy=False)
        C = gy.shape[1]
        P = gy.size // (gy.shape[0] * C) if gy.size else 1
        gx = cupy.empty_like(gy)
        ck.kernel("bn_backward")(gy, xhat, scale, gbeta, ggamma, gy.dtype.type(m), C, P, gx)
        return gx, ggamma, gbeta

    def _affine(self, x, scale, shift, relu):
        x = _c(x)
        C = x.shape[1]
        P = x.size // (x.shape[0] * C) if x.size else 1
        y = cupy.empty_like(x)
        ck.kernel("affine")(x, _c(scale).astype(x.dtype, copy=False),
                            _c(shift).astype(x.dtype, copy=False), C, P, bool(relu), y)
        return y

    # ----------------------------------------------------------------- elementwise
    def relu(self, x):
        if x.dtype.kind != "f":
            return super().relu(x)
        return ck.kernel("relu")(x)

    def relu_backward(self, y, gy):
        if gy.dtype.kind != "f" or y.dtype != gy.dtype:
            return super().relu_backward(y, gy)
        return ck.kernel("relu_backward")(y, gy)

    # ----------------------------------------------------------------- pooling
    def avgpool2d(self, x, k, stride):
        N, C, H, W = x.shape
        Ho = conv_output_size(H, k, stride, 0)
        Wo = conv_output_size(W, k, stride, 0)
        y = cupy.empty((N, C, Ho, Wo), dtype=x.dtype)
        ck.kernel("avgpool")(_c(x), H, W, Ho, Wo, k, stride, x.dtype.type(1.0 / (k * k)), y)
        return y

    def avgpool2d_backward(self, gy, x_shape, k, stride):
        N, C, H, W = x_shape
        Ho, Wo = gy.shape[2], gy.shape[3]
        gx = cupy.empty(tuple(x_shape), dtype=gy.dtype)
        ck.kernel("avgpool_backward")(_c(gy), H, W, Ho, Wo, k, stride,
                                      gy.dtype.type(1.0 / (k * k)), gx)
        return gx

    # ----------------------------------------------------------------- embeddings
    def scatter_add_rows(self, table_shape, idx, rows):
        out = cupy.zeros(tuple(table_shape), dtype=rows.dtype)
        rows = _c(rows)
        ck.kernel("scatter_add")(rows, _c(idx).reshape(-1), rows.shape[1], out)
        return out

    def unique_rows_sum(self, idx, rows):
        uniq, inverse = cupy.unique(idx, return_inverse=True)
        summed = cupy.zeros((uniq.shape[0], rows.shape[1]), dtype=rows.dtype)
        rows = _c(rows)
        ck.kernel("scatter_add")(rows, _c(inverse).reshape(-1), rows.shape[1], summed)
        return uniq, summed


__all__ = ["CupyOps"]
