"""Average pooling over k x k windows."""
from dataclasses import dataclass

from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.validate import check_int


@dataclass(frozen=True, slots=True)
class AvgPool2dCtx:
    """What :meth:`AvgPool2d.backward` needs: the input shape (N, C, H, W)."""
    x_shape: tuple


class AvgPool2d(Module):
    """Mean of each k x k window, no padding.

    .. math::
        y_{n,c,h,w} = \\frac{1}{k^2} \\sum_{i,j<k} x_{n,c,sh+i,sw+j}, \\qquad
        gx_{n,c,sh+i,sw+j} \\mathrel{+}= gy_{n,c,h,w} / k^2

    Parameters
    ----------
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.

    Shapes: x (N, C, H, W) -> y (N, C, floor((H-k)/s)+1, floor((W-k)/s)+1).
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.k = check_int("kernel_size", kernel_size, min_value=1)
        self.stride = self.k if stride is None else check_int("stride", stride, min_value=1)

    def extra_repr(self):
        return f"kernel_size={self.k}, stride={self.stride}"

    def forward(self, x, train=True):
        self.check_input(x, ndim=4)
        if x.shape[2] < self.k or x.shape[3] < self.k:
            raise ArgumentError(f"argument 'x' of AvgPool2d: expected at least {self.k}x{self.k} "
                                f"spatial size, got shape {tuple(x.shape)}")
        y = self.ops.avgpool2d(x, self.k, self.stride)
        return y, (AvgPool2dCtx(tuple(x.shape)) if train else None)

    def backward(self, ctx, gy):
        return self.ops.avgpool2d_backward(gy, ctx.x_shape, self.k, self.stride)
