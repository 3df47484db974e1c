"""Fully connected layer.

Notation: N batch, D_in input features, D_out output features.
"""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.layers._init import kaiming_normal
from minirocket.validate import check_bool, check_int


@dataclass(frozen=True, slots=True)
class LinearCtx:
    """What :meth:`Linear.backward` needs: the input x, shape (N, D_in)."""
    x: object


class Linear(Module):
    """Affine map ``y = x W + b``.

    .. math::
        y = xW + b, \\qquad gx = gy\\,W^T, \\qquad gW \\mathrel{+}= x^T gy, \\qquad
        gb \\mathrel{+}= \\textstyle\\sum_n gy_n

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    rng : numpy.random.Generator or int, optional
        Initialisation: W ~ Normal(0, sqrt(2 / in_features)) (Kaiming-normal), b = 0.

    Shapes: x (N, D_in) -> y (N, D_out); W (D_in, D_out); b (D_out,).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = check_int("in_features", in_features, min_value=1)
        self.out_features = check_int("out_features", out_features, min_value=1)
        bias = check_bool("bias", bias)
        self.W = self.add_param("W", kaiming_normal(rng, (self.in_features, self.out_features),
                                                    self.in_features, dtype))
        self.b = self.add_param("b", np.zeros(self.out_features, dtype), kind="bias") if bias else None

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.b is not None}"

    def forward(self, x, train=True):
        self.check_input(x, ndim=2, channels=self.in_features)
        y = x @ self.W.data
        if self.b is not None:
            y += self.b.data
        return y, (LinearCtx(x) if train else None)

    def backward(self, ctx, gy):
        self.W.accumulate(ctx.x.T @ gy)
        if self.b is not None:
            self.b.accumulate(gy.sum(axis=0))
        return gy @ self.W.data.T
