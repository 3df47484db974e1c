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

For NumPy parameters (numba installed) both updates run as one compiled pass
(``sgd_dense_into``, ``sgd_rows_into`` in :mod:`minirocket.backend._numba_kernels`) doing
the same float operations in the same order, so results are bit-identical to the
array-module code below, which CuPy arrays and every other case keep using.
"""
import numpy as np

from minirocket.backend import _compat
from minirocket.optim.base import Optimizer
from minirocket.validate import check_bool, check_float


def _fused_kernels(w, *arrays):
    """The compiled update kernels for a NumPy parameter ``w``, or None.

    The fused kernels do the update in one pass instead of NumPy's five or six (gather,
    multiply, add, scatter, each through a temporary). They take plain C-contiguous float
    NumPy arrays of one dtype; anything else (CuPy arrays, other dtypes, views) and a
    machine without numba keep the array-module code, which defines the semantics.
    """
    if not _compat.numba_available or type(w) is not np.ndarray:
        return None
    if w.dtype not in (np.float32, np.float64) or not w.flags.c_contiguous:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != w.dtype or not a.flags.c_contiguous:
            return None
    from minirocket.backend import _numba_kernels
    return _numba_kernels


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
        if self._dense_fused(name, w, g, t, wd):
            return
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
        if self._rows_fused(name, w, rg, t, wd):
            return
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

    # ------------------------------------------------------------------ fused NumPy path
    def _fused_setup(self, name, w, g):
        """``(kernels, momentum buffer or None)`` for the compiled path, or None.

        None when the arrays (parameter, gradient and, if it exists and is used, the
        momentum buffer) are not all contiguous NumPy float arrays of one dtype, or the
        buffer's shape does not match.
        """
        mu = self.momentum
        st = self.state.get(name)
        buf = None if st is None else st["momentum_buffer"]
        if mu == 0.0 or buf is None:
            nk = _fused_kernels(w, g)
        elif buf.shape != w.shape:
            return None
        else:
            nk = _fused_kernels(w, g, buf)
        return None if nk is None else (nk, buf)

    def _dense_fused(self, name, w, g, t, wd):
        """:meth:`_update_dense` in one compiled pass; False where it does not apply.

        Same operations, same order, same dtype as the array-module code, so the results
        agree bit for bit (the parity tests hold it to that).
        """
        if g.shape != w.shape:
            return False
        found = self._fused_setup(name, w, g)
        if found is None:
            return False
        nk, buf = found
        mu = self.momentum
        first = mu != 0.0 and buf is None
        if first:
            buf = np.empty_like(w)
            self.state[name] = {"momentum_buffer": buf}
        elif mu == 0.0:
            buf = w                      # never touched by the kernel when mu == 0
        nk.sgd_dense_into(w.size, w.reshape(-1), g.reshape(-1), buf.reshape(-1), t(self.lr),
                          t(mu), t(wd), self.nesterov, first)
        return True

    def _rows_fused(self, name, w, rg, t, wd):
        """:meth:`_update_rows` in one compiled pass over the touched rows.

        Returns False, having changed nothing, where it does not apply: then the
        array-module code runs. That includes row ids that are not strictly increasing
        and inside the table (the kernel checks before writing), so repeated or negative
        ids behave exactly as NumPy indexing makes them.
        """
        idx, vals = rg.indices, rg.values
        if (w.ndim != 2 or type(idx) is not np.ndarray or idx.ndim != 1
                or idx.dtype.kind not in "iu" or vals.shape != (idx.shape[0], w.shape[1])):
            return False
        found = self._fused_setup(name, w, vals)
        if found is None:
            return False
        nk, buf = found
        mu = self.momentum
        created = mu != 0.0 and buf is None
        if created:
            buf = np.zeros_like(w)
        elif mu == 0.0:
            buf = w                      # never touched by the kernel when mu == 0
        done = nk.sgd_rows_into(vals.size, w, idx, vals, buf, t(self.lr), t(mu), t(wd),
                                self.nesterov)
        if done and created:
            self.state[name] = {"momentum_buffer": buf}
        return done
