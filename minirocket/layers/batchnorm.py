"""Batch normalisation over the channel axis of (N, C) or (N, C, H, W) input.

Notation: N batch, C channels, m = N (2-d) or N*H*W (4-d) elements per channel,
mu and sigma^2 the batch mean and biased variance, eps = 1e-5, momentum = 0.1.
"""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.layers._init import as_generator
from minirocket.validate import check_choice, check_float, check_int


@dataclass(frozen=True, slots=True)
class BatchNormCtx:
    """What :meth:`BatchNorm.backward` needs.

    xhat : array, same shape as x (normalised input)
    inv_std : array, shape (C,) (1 / sqrt(var + eps))
    out : array or None
        With a fused ReLU, the layer's output ``max(y, 0)``: its mask ``out > 0`` routes
        the ReLU gradient. None without one.
    """
    xhat: object
    inv_std: object
    out: object = None


class BatchNorm(Module):
    """Batch normalisation with learned scale ``gamma`` and shift ``beta``.

    Training (batch statistics):

    .. math::
        \\hat x = (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon}, \\qquad
        y = \\gamma \\hat x + \\beta

    .. math::
        g\\gamma \\mathrel{+}= \\sum gy\\,\\hat x, \\quad g\\beta \\mathrel{+}= \\sum gy, \\quad
        gx = \\frac{\\gamma}{m\\sqrt{\\sigma^2+\\epsilon}}\\Big(m\\,gy - \\sum gy
        - \\hat x \\sum gy\\,\\hat x\\Big)

    With ``relu=True`` the layer is BN followed by ReLU, ``o = max(y, 0)``, computed in one
    pass over the activation (the pre-activation unit of a WRN block and the hidden unit of
    the CTR MLP); backward then takes ``go`` and uses ``gy = go * [o > 0]`` (the gradient
    at 0 is 0, as for :class:`~minirocket.layers.ReLU`).

    Running statistics follow PyTorch's convention: ``running_mean <- (1 - momentum) *
    running_mean + momentum * mu`` and the same for ``running_var`` with the **unbiased**
    batch variance ``sigma^2 * m / (m - 1)``. Evaluation uses the running statistics.

    Parameters
    ----------
    num_features : int
        C.
    momentum : float
        Weight of the new batch in the running averages (0.1).
    eps : float
        Added to the variance (1e-5).
    gamma_init : {"ones", "uniform"}
        ``"uniform"`` draws gamma ~ U[0, 1) as the paper's authors do; ``"ones"`` is the
        common convention. beta starts at 0, running mean 0, running variance 1.
    rng : numpy.random.Generator or int, optional
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, gamma_init="ones", rng=None,
                 dtype=np.float32):
        super().__init__()
        self.num_features = check_int("num_features", num_features, min_value=1)
        self.momentum = check_float("momentum", momentum, min_value=0.0, max_value=1.0)
        self.eps = check_float("eps", eps, min_value=0.0, min_exclusive=True)
        check_choice("gamma_init", gamma_init, ("ones", "uniform"))
        C = self.num_features
        if gamma_init == "uniform":
            gamma = as_generator(rng).random(C).astype(dtype)
        else:
            gamma = np.ones(C, dtype)
        self.gamma = self.add_param("gamma", gamma, kind="bn")
        self.beta = self.add_param("beta", np.zeros(C, dtype), kind="bn")
        self.running_mean = self.add_buffer("running_mean", np.zeros(C, dtype))
        self.running_var = self.add_buffer("running_var", np.ones(C, dtype))

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"

    def eval_affine(self):
        """``(scale, shift)`` with ``y = x * scale + shift`` in evaluation mode, shape (C,).

        This is what folding BN into a neighbouring layer uses.
        """
        xp = self.ops.xp
        scale = self.gamma.data / xp.sqrt(self.running_var.data + self.eps)
        shift = self.beta.data - self.running_mean.data * scale
        return scale.astype(self.gamma.data.dtype), shift.astype(self.gamma.data.dtype)

    def forward(self, x, train=True, relu=False):
        """``y = gamma * xhat + beta`` (or ``max(y, 0)`` with ``relu``), same shape as x."""
        self.check_input(x, ndim=(2, 4), channels=self.num_features)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        ops = self.ops
        if not train:
            scale, shift = self.eval_affine()
            fn = ops.batchnorm_relu_eval if relu else ops.batchnorm_eval
            return fn(x, scale, shift), None
        m = x.size // self.num_features
        if m < 2:
            raise ArgumentError(
                f"argument 'x' of BatchNorm: expected more than one value per channel in "
                f"training (a batch variance needs at least 2), got shape {tuple(x.shape)}")
        fn = ops.batchnorm_relu_train if relu else ops.batchnorm_train
        y, xhat, mean, var, inv_std = fn(x, self.gamma.data, self.beta.data, self.eps, axes)
        mom = self.momentum
        rm, rv = self.running_mean, self.running_var
        rm.data = ((1 - mom) * rm.data + mom * mean).astype(rm.data.dtype, copy=False)
        rv.data = ((1 - mom) * rv.data + mom * var * (m / (m - 1))).astype(rv.data.dtype, copy=False)
        return y, BatchNormCtx(xhat, inv_std, y if relu else None)

    def backward(self, ctx, gy):
        """``gx`` for the upstream gradient ``gy`` (of the ReLU output when fused)."""
        axes = (0,) if gy.ndim == 2 else (0, 2, 3)
        if ctx.out is None:
            gx, ggamma, gbeta = self.ops.batchnorm_backward(ctx.xhat, ctx.inv_std,
                                                            self.gamma.data, gy, axes)
        else:
            gx, ggamma, gbeta = self.ops.batchnorm_relu_backward(
                ctx.xhat, ctx.inv_std, self.gamma.data, ctx.out, gy, axes)
        self.gamma.accumulate(ggamma)
        self.beta.accumulate(gbeta)
        return gx
