"""Stochastic gradient descent with momentum (PyTorch's convention).

Notation
--------
w parameter, g gradient, b momentum buffer, mu momentum, lr learning rate, wd weight
decay, idx rows touched by a sparse gradient.

.. math::
    d = g + wd\\, w, \\qquad b \\leftarrow \\mu b + d, \\qquad
    w \\leftarrow w - lr\\, b \\quad (\\text{Nesterov: } w \\leftarrow w - lr\\,(d + \\mu b))

with b = d at a parameter's first update (PyTorch initialises the buffer to the first
gradient; a zero buffer gives the same value). The authors use mu = 0.9, wd = 5e-4 on
every parameter, no Nesterov, lr 0.1.

Sparse (embedding) gradients are applied **lazily, row-wise**: only the rows ``idx`` that
the batch touched are updated, their momentum rows move (``b[idx] <- mu b[idx] + d[idx]``)
and weight decay applies to them alone; untouched rows keep their value and their buffer
(no decay, no momentum drift). This is the usual sparse-embedding semantics; it differs
from a dense update of the same table.
"""
from minirocket.optim.base import Optimizer
from minirocket.validate import check_bool, check_float


class SGD(Optimizer):
    """SGD with momentum, weight decay and optional Nesterov, keyed by parameter name.

    Parameters
    ----------
    named_params : Module or iterable of (str, Parameter)
    lr : float > 0
    momentum : float in [0, 1)
    nesterov : bool
    weight_decay : float >= 0
    decay_bn_and_bias : bool
    """

    kind = "sgd"

    def __init__(self, named_params, lr, momentum=0.9, nesterov=False, weight_decay=5e-4,
                 decay_bn_and_bias=True):
        super().__init__(named_params, lr, weight_decay, decay_bn_and_bias)
        self.momentum = check_float("momentum", momentum, min_value=0.0, max_value=1.0,
                                    max_exclusive=True)
        self.nesterov = check_bool("nesterov", nesterov)

    def hyper(self):
        return {**super().hyper(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update_dense(self, name, p, g):
        w = p.data
        t = w.dtype.type
        wd = self.decay_of(p)
        d = g + t(wd) * w if wd else g
        if self.momentum == 0.0:
            w -= t(self.lr) * d
            return
        st = self.state.get(name)
        if st is None:
            buf = d.copy()
            self.state[name] = {"momentum_buffer": buf}
        else:
            buf = st["momentum_buffer"]
            buf *= t(self.momentum)
            buf += d
        step = d + t(self.momentum) * buf if self.nesterov else buf
        w -= t(self.lr) * step

    def _update_rows(self, name, p, rg):
        w = p.data
        t = w.dtype.type
        idx = rg.indices
        wd = self.decay_of(p)
        d = rg.values + t(wd) * w[idx] if wd else rg.values
        if self.momentum == 0.0:
            w[idx] -= t(self.lr) * d            # idx are distinct: plain indexing is exact
            return
        st = self.state.get(name)
        if st is None:
            from minirocket.backend import get_array_module
            st = {"momentum_buffer": get_array_module(w).zeros_like(w)}
            self.state[name] = st
        buf = st["momentum_buffer"]
        b_rows = t(self.momentum) * buf[idx] + d
        buf[idx] = b_rows
        step = d + t(self.momentum) * b_rows if self.nesterov else b_rows
        w[idx] -= t(self.lr) * step
