"""The reference array primitives, written once for any NumPy-compatible array module.

Notation
--------
N batch, C input channels, O output channels, H x W input size, kh x kw kernel size,
s stride, p zero padding, Ho x Wo output size, L = Ho * Wo, K = C * kh * kw.

:class:`Ops` is the xp-generic reference: every layer's hot work goes through one of its
methods, so a backend overrides a method (``NumbaOps``, ``CupyOps``) and every layer that
calls it speeds up, while this class stays the readable definition the overrides are
tested against. Methods never change the dtype of their inputs.
"""
import contextlib

import numpy as np


def conv_output_size(size, k, stride, padding):
    """Output length of a convolution or pooling window along one axis (floor rule).

    .. math:: H_o = \\lfloor (H + 2p - k) / s \\rfloor + 1
    """
    return (size + 2 * padding - k) // stride + 1


class Ops:
    """Reference primitives over the array module ``xp``.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``cupy``.
    """

    name = "numpy"

    def __init__(self, xp=np):
        self.xp = xp

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    def __deepcopy__(self, memo):
        # An Ops object is a stateless handle on a device: copies of a module share it.
        return self

    def __reduce__(self):
        # Pickle by name so a module pickled on one machine reloads on the same backend.
        from minirocket.backend import get_backend
        return (get_backend, (self.name,))

    def one_thread_pool(self, batch):
        """Context for a whole pass over ``batch`` samples, run with one thread pool.

        The reference has nothing to arrange (a null context). The numba backend holds
        OpenBLAS to one thread for the pass when its convolutions spread the batch over
        their own worker threads, so that the two pools never compete for the cores
        (see :meth:`minirocket.backend.numba_ops.NumbaOps.one_thread_pool`).
        """
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- arrays and devices
    def asarray(self, x, dtype=None):
        """Move ``x`` to this backend's device (no copy when it is already there)."""
        return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        """Return ``x`` as a NumPy array on the host."""
        return np.asarray(x)

    def owns(self, x):
        """True if ``x`` is an array of this backend's array module."""
        return isinstance(x, self.xp.ndarray)

    # ----------------------------------------------------------------- convolution
    def im2col(self, x, kh, kw, stride, padding):
        """Unfold sliding windows of ``x`` into columns.

        Parameters
        ----------
        x : array, shape (N, C, H, W)
        kh, kw, stride, padding : int

        Returns
        -------
        cols : array, shape (N, K, L) with K = C*kh*kw ordered (c, i, j) and L = Ho*Wo
        """
        xp = self.xp
        N, C, H, W = x.shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        if padding:
            x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        cols = xp.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
        # One strided slice per kernel tap: kh*kw copies of a (N, C, Ho, Wo) block.
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = x[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
        return cols.reshape(N, C * kh * kw, Ho * Wo)

    def col2im(self, cols, x_shape, kh, kw, stride, padding):
        """Adjoint of :meth:`im2col`: add every column entry back to its input pixel.

        Overlapping windows add up, which is exactly the gradient of the unfolding.

        Parameters
        ----------
        cols : array, shape (N, K, L)
        x_shape : tuple (N, C, H, W)

        Returns
        -------
        gx : array, shape (N, C, H, W)
        """
        xp = self.xp
        N, C, H, W = x_shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(W, kw, stride, padding)
        cols = cols.reshape(N, C, kh, kw, Ho, Wo)
        gxp = xp.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                gxp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += cols[:, :, i, j]
        if padding:
            return gxp[:, :, padding:padding + H, padding:padding + W]
        return gxp

    def conv2d(self, x, W, stride, padding):
        """Cross-correlation ``y[n,o] = sum_c,i,j W[o,c,i,j] x_pad[n,c,s*h+i,s*w+j]``.

        Parameters
        ----------
        x : array, shape (N, C, H, W)
        W : array, shape (O, C, kh, kw)

        Returns
        -------
        y : array, shape (N, O, Ho, Wo)
        """
        N, C, H, Wd = x.shape
        O, _, kh, kw = W.shape
        Ho = conv_output_size(H, kh, stride, padding)
        Wo = conv_output_size(Wd, kw, stride, padding)
        cols = self.im2col(x, kh, kw, stride, padding)              # (N, K, L)
        y = self.xp.matmul(W.reshape(O, -1), cols)                 # (N, O, L)
        return y.reshape(N, O, Ho, Wo)

    def conv2d_backward(self, x, W, gy, stride, padding, need_gx=True):
        """Gradients of :meth:`conv2d`.

        .. math::
            gW = \\sum_n gy_n \\, \\mathrm{cols}_n^T, \\qquad
            gx = \\mathrm{col2im}(W^T gy)

        Parameters
        ----------
        x : array, shape (N, C, H, W)
        W : array, shape (O, C, kh, kw)
        gy : array, shape (N, O, Ho, Wo)
        need_gx : bool
            False skips the input gradient (first layer of a net).

        Returns
        -------
        gx : array of shape (N, C, H, W), or None
        gW : array, shape (O, C, kh, kw)
        """
        xp = self.xp
        N = x.shape[0]
        O, C, kh, kw = W.shape
        cols = self.im2col(x, kh, kw, stride, padding)              # (N, K, L)
        gy2 = gy.reshape(N, O, -1)                                  # (N, O, L)
        gW = xp.tensordot(gy2, cols, axes=([0, 2], [0, 2])).reshape(W.shape)
        gx = None
        if need_gx:
            gcols = xp.matmul(W.reshape(O, -1).T, gy2)             # (N, K, L)
            gx = self.col2im(gcols, x.shape, kh, kw, stride, padding)
        return gx, gW

    # ----------------------------------------------------------------- batch norm
    def batchnorm_train(self, x, gamma, beta, eps, axes):
        """Normalise with batch statistics.

        Two-pass variance (mean first, then the mean of squared deviations): the one-pass
        ``E[x^2] - E[x]^2`` loses every digit in float32 when |mean| >> std.

        Parameters
        ----------
        x : array, shape (N, C) or (N, C, H, W)
        gamma, beta : array, shape (C,)
        axes : tuple
            Reduction axes, ``(0,)`` or ``(0, 2, 3)``.

        Returns
        -------
        y : array, same shape as x
        xhat : array, same shape as x (the normalised input, kept for backward)
        mean, var : array, shape (C,) (biased batch variance)
        inv_std : array, shape (C,)
        """
        xp = self.xp
        shape = _channel_shape(x.ndim)
        mean = x.mean(axis=axes)
        d = x - mean.reshape(shape)
        var = (d * d).mean(axis=axes)
        inv_std = 1.0 / xp.sqrt(var + eps)
        inv_std = inv_std.astype(x.dtype, copy=False)
        xhat = d * inv_std.reshape(shape)
        y = xhat * gamma.reshape(shape) + beta.reshape(shape)
        return y, xhat, mean, var, inv_std

    def batchnorm_backward(self, xhat, inv_std, gamma, gy, axes):
        """Gradients of batch-statistics normalisation.

        .. math::
            g\\gamma = \\sum gy\\,\\hat x, \\quad g\\beta = \\sum gy, \\quad
            gx = \\frac{\\gamma\\,\\sigma^{-1}}{m}\\left(m\\,gy - g\\beta - \\hat x\\, g\\gamma\\right)

        with m the number of elements per channel.

        Returns
        -------
        gx : array, same shape as gy
        ggamma, gbeta : array, shape (C,)
        """
        shape = _channel_shape(gy.ndim)
        m = gy.size // gy.shape[1]
        gbeta = gy.sum(axis=axes)
        ggamma = (gy * xhat).sum(axis=axes)
        scale = (gamma * inv_std / m).reshape(shape)
        gx = scale * (m * gy - gbeta.reshape(shape) - xhat * ggamma.reshape(shape))
        return gx, ggamma, gbeta

    def batchnorm_relu_train(self, x, gamma, beta, eps, axes):
        """Batch-statistics BN followed by ReLU: ``o = max(gamma * xhat + beta, 0)``.

        Same arguments and returns as :meth:`batchnorm_train`, with ``o`` in place of
        ``y``. The reference composes the two steps; a backend may fuse them into one
        pass (one write of the activation instead of two, and one read less).
        """
        y, xhat, mean, var, inv_std = self.batchnorm_train(x, gamma, beta, eps, axes)
        return self.relu(y), xhat, mean, var, inv_std

    def batchnorm_relu_backward(self, xhat, inv_std, gamma, o, go, axes):
        """Gradients of :meth:`batchnorm_relu_train` for ``go`` = d/d o.

        :meth:`batchnorm_backward` of ``gy = go * [o > 0]`` (the ReLU gradient at 0 is 0).
        """
        return self.batchnorm_backward(xhat, inv_std, gamma, self.relu_backward(o, go), axes)

    def batchnorm_eval(self, x, scale, shift):
        """Affine per-channel map ``y = x * scale + shift`` (running statistics folded in).

        Parameters
        ----------
        x : array, shape (N, C) or (N, C, H, W)
        scale, shift : array, shape (C,)
        """
        return self._affine(x, scale, shift, False)

    def batchnorm_relu_eval(self, x, scale, shift):
        """Evaluation-mode BN followed by ReLU: ``y = max(x * scale + shift, 0)``.

        The pre-activation unit of a WRN block in inference; a backend may fuse it into one
        pass over the activation. Same shapes as :meth:`batchnorm_eval`.
        """
        return self._affine(x, scale, shift, True)

    def _affine(self, x, scale, shift, relu):
        # Both evaluation-mode BN methods; a backend overrides this one with a fused pass.
        shape = _channel_shape(x.ndim)
        y = x * scale.reshape(shape) + shift.reshape(shape)
        return self.relu(y) if relu else y

    # ----------------------------------------------------------------- elementwise
    def relu(self, x):
        """``max(x, 0)``."""
        return self.xp.maximum(x, 0)

    def relu_backward(self, y, gy):
        """``gy * (y > 0)``: the gradient at exactly 0 is 0."""
        return gy * (y > 0)

    # ----------------------------------------------------------------- pooling
    def avgpool2d(self, x, k, stride):
        """Mean over k x k windows (no padding).

        Parameters
        ----------
        x : array, shape (N, C, H, W)

        Returns
        -------
        y : array, shape (N, C, Ho, Wo)
        """
        N, C, H, W = x.shape
        Ho = conv_output_size(H, k, stride, 0)
        Wo = conv_output_size(W, k, stride, 0)
        y = self.xp.zeros((N, C, Ho, Wo), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                y += x[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
        return y * x.dtype.type(1.0 / (k * k))

    def avgpool2d_backward(self, gy, x_shape, k, stride):
        """Spread each output gradient evenly (1/k^2) over its window; overlaps add."""
        N, C, H, W = x_shape
        Ho, Wo = gy.shape[2], gy.shape[3]
        gx = self.xp.zeros(x_shape, dtype=gy.dtype)
        g = gy * gy.dtype.type(1.0 / (k * k))
        for i in range(k):
            for j in range(k):
                gx[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += g
        return gx

    # ----------------------------------------------------------------- embeddings
    def scatter_add_rows(self, table_shape, idx, rows):
        """Dense table of zeros with ``rows[k]`` added into row ``idx[k]``.

        Repeated indices add up. ``a[idx] += rows`` would keep only one of them, which is
        the classic embedding-gradient bug; ``xp.add.at`` is unbuffered and correct.

        Parameters
        ----------
        table_shape : tuple (V, D)
        idx : int array, shape (M,)
        rows : array, shape (M, D)
        """
        out = self.xp.zeros(table_shape, dtype=rows.dtype)
        self.xp.add.at(out, idx, rows)
        return out

    def unique_rows_sum(self, idx, rows):
        """Sum ``rows`` that share an index: the compact (sparse) form of a row gradient.

        Returns
        -------
        uniq : int array, shape (U,), sorted
        summed : array, shape (U, D)
        """
        xp = self.xp
        uniq, inverse = xp.unique(idx, return_inverse=True)
        summed = xp.zeros((uniq.shape[0], rows.shape[1]), dtype=rows.dtype)
        xp.add.at(summed, inverse.ravel(), rows)
        return uniq, summed


def _channel_shape(ndim):
    """Broadcast shape of a per-channel vector against an (N, C, ...) array."""
    return (1, -1) + (1,) * (ndim - 2)


class NumpyOps(Ops):
    """The reference CPU backend: :class:`Ops` over NumPy, unchanged."""

    name = "numpy"

    def __init__(self):
        super().__init__(np)
