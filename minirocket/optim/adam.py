"""Adam (PyTorch's convention: L2 weight decay added to the gradient, bias correction).

Notation
--------
w parameter, g gradient, m and v first and second moment estimates, beta1, beta2 their
decay rates, t the parameter's update count, lr, eps, wd weight decay.

.. math::
    d = g + wd\\, w, \\quad m \\leftarrow \\beta_1 m + (1 - \\beta_1) d, \\quad
    v \\leftarrow \\beta_2 v + (1 - \\beta_2) d^2, \\quad
    w \\leftarrow w - \\frac{lr}{1 - \\beta_1^t}\\, \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t}
    + \\epsilon}

Sparse (embedding) gradients follow PyTorch's ``SparseAdam``: only touched rows update
their m, v and weights; the count t is per parameter (it grows whenever the table gets a
gradient); weight decay applies to the touched rows only.
"""
from minirocket.errors import ArgumentError
from minirocket.optim.base import Optimizer
from minirocket.validate import check_float


class Adam(Optimizer):
    """Adam keyed by parameter name.

    Parameters
    ----------
    named_params : Module or iterable of (str, Parameter)
    lr : float > 0
        1e-3 (the paper's SVHN setting).
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    decay_bn_and_bias : bool
    """

    kind = "adam"

    def __init__(self, named_params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decay_bn_and_bias=True):
        super().__init__(named_params, lr, weight_decay, decay_bn_and_bias)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ArgumentError(f"argument 'betas': expected a pair of numbers, got {betas!r}")
        self.betas = (check_float("betas[0]", betas[0], min_value=0.0, max_value=1.0,
                                  max_exclusive=True),
                      check_float("betas[1]", betas[1], min_value=0.0, max_value=1.0,
                                  max_exclusive=True))
        self.eps = check_float("eps", eps, min_value=0.0, min_exclusive=True)

    def hyper(self):
        return {**super().hyper(), "betas": tuple(self.betas), "eps": self.eps}

    def _slots(self, name, w):
        st = self.state.get(name)
        if st is None:
            from minirocket.backend import get_array_module
            xp = get_array_module(w)
            st = {"step": 0, "exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}
            self.state[name] = st
        st["step"] += 1
        return st

    def _coefs(self, st):
        b1, b2 = self.betas
        t = st["step"]
        return self.lr / (1.0 - b1 ** t), (1.0 - b2 ** t) ** 0.5

    def _update_dense(self, name, p, g):
        w = p.data
        ty = w.dtype.type
        wd = self.decay_of(p)
        d = g + ty(wd) * w if wd else g
        st = self._slots(name, w)
        b1, b2 = self.betas
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m *= ty(b1)
        m += ty(1 - b1) * d
        v *= ty(b2)
        v += ty(1 - b2) * d * d
        step_size, bc2 = self._coefs(st)
        w -= ty(step_size) * m / (v ** ty(0.5) / ty(bc2) + ty(self.eps))

    def _update_rows(self, name, p, rg):
        w = p.data
        ty = w.dtype.type
        idx = rg.indices
        wd = self.decay_of(p)
        d = rg.values + ty(wd) * w[idx] if wd else rg.values
        st = self._slots(name, w)
        b1, b2 = self.betas
        m_rows = ty(b1) * st["exp_avg"][idx] + ty(1 - b1) * d
        v_rows = ty(b2) * st["exp_avg_sq"][idx] + ty(1 - b2) * d * d
        st["exp_avg"][idx] = m_rows
        st["exp_avg_sq"][idx] = v_rows
        step_size, bc2 = self._coefs(st)
        w[idx] -= ty(step_size) * m_rows / (v_rows ** ty(0.5) / ty(bc2) + ty(self.eps))
