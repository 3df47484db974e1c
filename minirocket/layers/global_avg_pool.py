"""Global average pooling: one mean per channel."""
from dataclasses import dataclass

from minirocket.core.module import Module


@dataclass(frozen=True, slots=True)
class GlobalAvgPool2dCtx:
    """What :meth:`GlobalAvgPool2d.backward` needs: the input shape (N, C, H, W)."""
    x_shape: tuple


class GlobalAvgPool2d(Module):
    """Mean over the spatial axes.

    .. math::
        y_{n,c} = \\frac{1}{HW} \\sum_{h,w} x_{n,c,h,w}, \\qquad
        gx_{n,c,h,w} = gy_{n,c} / (HW)

    Shapes: x (N, C, H, W) -> y (N, C).
    """

    def forward(self, x, train=True):
        self.check_input(x, ndim=4)
        y = x.mean(axis=(2, 3))
        return y, (GlobalAvgPool2dCtx(tuple(x.shape)) if train else None)

    def backward(self, ctx, gy):
        N, C, H, W = ctx.x_shape
        g = gy * gy.dtype.type(1.0 / (H * W))
        return self.ops.xp.broadcast_to(g[:, :, None, None], ctx.x_shape).copy()
