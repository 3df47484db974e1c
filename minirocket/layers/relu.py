"""Rectified linear unit."""
from dataclasses import dataclass

from minirocket.core.module import Module


@dataclass(frozen=True, slots=True)
class ReLUCtx:
    """What :meth:`ReLU.backward` needs: the output y (the mask is y > 0)."""
    y: object


class ReLU(Module):
    """``y = max(x, 0)``, elementwise, any shape.

    .. math:: y = \\max(x, 0), \\qquad gx = gy \\cdot [y > 0]

    The derivative at exactly ``x = 0`` is taken as **0** (the gradient passes only where
    the output is positive). Gradient checks must keep inputs away from 0.
    """

    def forward(self, x, train=True):
        self.check_input(x)
        y = self.ops.relu(x)
        return y, (ReLUCtx(y) if train else None)

    def backward(self, ctx, gy):
        return self.ops.relu_backward(ctx.y, gy)
