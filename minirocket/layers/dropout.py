"""Inverted dropout with a seeded mask."""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.validate import check_float, check_int


@dataclass(frozen=True, slots=True)
class DropoutCtx:
    """What :meth:`Dropout.backward` needs: the scaled keep-mask, same shape as x."""
    mask: object


class Dropout(Module):
    """Zero each element with probability ``p`` in training; scale survivors by 1/(1-p).

    .. math:: y = x \\cdot M, \\quad M = [u \\ge p] / (1 - p), \\qquad gx = gy \\cdot M

    Evaluation is the identity. Masks come from this layer's own
    ``numpy.random.Generator`` seeded with ``seed`` (drawn on the host, then moved to the
    device, so every backend sees the same masks). Its state is saved in checkpoints.

    Parameters
    ----------
    p : float in [0, 1)
    seed : int
    """

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        self.p = check_float("p", p, min_value=0.0, max_value=1.0, max_exclusive=True)
        self.seed = check_int("seed", seed, min_value=0)
        self.rng = np.random.default_rng(self.seed)

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x, train=True, mask=None):
        """Apply dropout; ``mask`` (same shape as x) replaces the random draw if given."""
        self.check_input(x)
        if not train or self.p == 0.0:
            return x, (DropoutCtx(None) if train else None)
        if mask is None:
            keep = self.rng.random(x.shape) >= self.p
            mask = self.ops.asarray(keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p)))
        else:
            # A given mask (gradient checks freeze one) must fit x exactly: broadcasting
            # would silently apply one mask row to every sample.
            self.check_input(mask, name="mask", dtype=False)
            if tuple(mask.shape) != tuple(x.shape):
                raise ArgumentError(f"argument 'mask' of Dropout: expected shape "
                                    f"{tuple(x.shape)}, got {tuple(mask.shape)}")
            mask = mask.astype(x.dtype, copy=False)
        return x * mask, DropoutCtx(mask)

    def backward(self, ctx, gy):
        return gy if ctx.mask is None else gy * ctx.mask
