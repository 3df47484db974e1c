"""Flatten all axes after the batch axis."""
from dataclasses import dataclass

from minirocket.core.module import Module


@dataclass(frozen=True, slots=True)
class FlattenCtx:
    """What :meth:`Flatten.backward` needs: the input shape."""
    x_shape: tuple


class Flatten(Module):
    """``y = x.reshape(N, -1)``; ``gx = gy.reshape(x.shape)``.

    Shapes: x (N, d1, d2, ...) -> y (N, d1*d2*...).
    """

    def forward(self, x, train=True):
        self.check_input(x, ndim=(2, 3, 4, 5))
        return x.reshape(x.shape[0], -1), (FlattenCtx(tuple(x.shape)) if train else None)

    def backward(self, ctx, gy):
        return gy.reshape(ctx.x_shape)
