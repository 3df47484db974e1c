"""2-d convolution (cross-correlation), NCHW.

Notation: N batch, C input channels, O output channels, H x W input, kh x kw kernel,
s stride, p zero padding, Ho = floor((H + 2p - kh) / s) + 1, Wo likewise.
"""
from dataclasses import dataclass

import numpy as np

from minirocket.backend.ops import conv_output_size
from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.layers._init import kaiming_normal
from minirocket.validate import check_bool, check_int


@dataclass(frozen=True, slots=True)
class Conv2dCtx:
    """What :meth:`Conv2d.backward` needs: the input x, shape (N, C, H, W).

    The unfolded columns are recomputed in backward rather than kept: for a WRN-40 step
    they would hold tens of copies of every activation.
    """
    x: object


def _pair(name, value):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ArgumentError(f"argument '{name}': expected an int or a pair of ints, got {value!r}")
        return check_int(name, value[0], min_value=1), check_int(name, value[1], min_value=1)
    v = check_int(name, value, min_value=1)
    return v, v


class Conv2d(Module):
    """Convolution with zero padding, any kernel size and stride.

    .. math::
        y_{n,o,h,w} = \\sum_{c,i,j} W_{o,c,i,j}\\, x^{pad}_{n,c,sh+i,sw+j} + b_o

    Backward (through the unfolding ``cols = im2col(x)``, shape (N, C*kh*kw, Ho*Wo)):

    .. math::
        gW \\mathrel{+}= \\sum_n gy_n\\, \\mathrm{cols}_n^T, \\qquad
        gx = \\mathrm{col2im}(W^T gy), \\qquad gb \\mathrel{+}= \\sum_{n,h,w} gy

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding : int
    bias : bool
        The authors' WRN convolutions have none (default False).
    rng : numpy.random.Generator or int, optional
        W ~ Normal(0, sqrt(2 / (C*kh*kw))) (Kaiming-normal).

    Shapes: x (N, C, H, W) -> y (N, O, Ho, Wo); W (O, C, kh, kw); b (O,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias=False, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.out_channels = check_int("out_channels", out_channels, min_value=1)
        self.kh, self.kw = _pair("kernel_size", kernel_size)
        self.stride = check_int("stride", stride, min_value=1)
        self.padding = check_int("padding", padding, min_value=0)
        bias = check_bool("bias", bias)
        fan_in = self.in_channels * self.kh * self.kw
        self.W = self.add_param("W", kaiming_normal(
            rng, (self.out_channels, self.in_channels, self.kh, self.kw), fan_in, dtype))
        self.b = self.add_param("b", np.zeros(self.out_channels, dtype), kind="bias") if bias else None

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kh}, {self.kw}), "
                f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}")

    def output_shape(self, x_shape):
        """(N, O, Ho, Wo) for an input of shape (N, C, H, W)."""
        N, _, H, W = x_shape
        return (N, self.out_channels, conv_output_size(H, self.kh, self.stride, self.padding),
                conv_output_size(W, self.kw, self.stride, self.padding))

    def forward(self, x, train=True):
        self.check_input(x, ndim=4, channels=self.in_channels)
        H, W = x.shape[2], x.shape[3]
        if H + 2 * self.padding < self.kh or W + 2 * self.padding < self.kw:
            raise ArgumentError(
                f"argument 'x' of Conv2d: expected a padded input of at least "
                f"{self.kh}x{self.kw} (the kernel), got {H}x{W} with padding {self.padding}")
        y = self.ops.conv2d(x, self.W.data, self.stride, self.padding)
        if self.b is not None:
            y += self.b.data.reshape(1, -1, 1, 1)
        return y, (Conv2dCtx(x) if train else None)

    def backward(self, ctx, gy):
        gx, gW = self.ops.conv2d_backward(ctx.x, self.W.data, gy, self.stride, self.padding)
        self.W.accumulate(gW)
        if self.b is not None:
            self.b.accumulate(gy.sum(axis=(0, 2, 3)))
        return gx
