"""Shared machinery of the optimizers: parameters keyed by dotted name, state dicts.

Notation
--------
w parameter, g its accumulated gradient, lr learning rate, wd weight decay,
idx the rows touched by a sparse (embedding) gradient.

Optimizers live outside the layers and are keyed by the parameters' dotted names
(``booster.group0.block0.conv0.W``), so their state can be saved, inspected and
restored by name. Each :class:`~minirocket.core.parameter.Parameter` object is updated once
per :meth:`Optimizer.step`, however many paths reach it: a shared array receives one
update computed from its summed gradient.
"""
import numpy as np

from minirocket.core.parameter import Parameter, RowGrad
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError
from minirocket.validate import check_bool, check_float


def named_parameter_list(named_params):
    """``[(name, Parameter)]`` from a Module or an iterable of pairs; each array once.

    Raises
    ------
    ArgumentError
        A Parameter object listed under two names (it would be updated twice per step).
    """
    if hasattr(named_params, "named_parameters"):
        named_params = named_params.named_parameters()
    out, seen = [], {}
    for item in named_params:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Parameter)):
            raise ArgumentTypeError(f"argument 'named_params': expected (name, Parameter) "
                                    f"pairs or a Module, got an item {item!r}")
        name, p = item
        if id(p) in seen:
            raise ArgumentError(f"argument 'named_params': expected each parameter once, got "
                                f"the same array as {seen[id(p)]!r} and {name!r} (a shared "
                                f"array must be updated once per step)")
        if any(n == name for n, _ in out):
            raise ArgumentError(f"argument 'named_params': expected distinct names, got "
                                f"{name!r} twice")
        seen[id(p)] = name
        out.append((name, p))
    if not out:
        raise ArgumentError("argument 'named_params': expected at least one parameter, got none")
    return out


class Optimizer:
    """Base class. Subclasses implement ``_update_dense`` and ``_update_rows``.

    Parameters
    ----------
    named_params : Module or iterable of (str, Parameter)
    lr : float > 0
    weight_decay : float >= 0
        L2 penalty added to the gradient (``g + wd * w``), PyTorch's convention.
    decay_bn_and_bias : bool
        False excludes parameters of kind "bn" (gamma, beta) and "bias" from weight decay.
        The authors decay every parameter (True).
    """

    kind = "base"
    _slot_names = ()

    def __init__(self, named_params, lr, weight_decay=0.0, decay_bn_and_bias=True):
        self.params = named_parameter_list(named_params)
        self.lr = check_float("lr", lr, min_value=0.0, min_exclusive=True)
        self.weight_decay = check_float("weight_decay", weight_decay, min_value=0.0)
        self.decay_bn_and_bias = check_bool("decay_bn_and_bias", decay_bn_and_bias)
        self.state = {}          # name -> dict of slot arrays (and counters)
        self.step_count = 0

    def decay_of(self, p):
        """Weight decay applied to parameter ``p`` (0 for excluded BN/bias parameters)."""
        if not self.decay_bn_and_bias and p.kind in ("bn", "bias"):
            return 0.0
        return self.weight_decay

    def zero_grad(self):
        """Forget every parameter's gradient."""
        for _, p in self.params:
            p.zero_grad()

    def step(self):
        """Update every trainable parameter that has a gradient, once."""
        self.step_count += 1
        for name, p in self.params:
            if not p.trainable or p.grad is None:
                continue
            if isinstance(p.grad, RowGrad):
                self._update_rows(name, p, p.grad)
            else:
                self._update_dense(name, p, p.grad)

    def reset_state(self):
        """Drop the per-parameter state (momentum buffers, moments)."""
        self.state = {}

    # ------------------------------------------------------------------ state dicts
    def hyper(self):
        return {"lr": self.lr, "weight_decay": self.weight_decay,
                "decay_bn_and_bias": self.decay_bn_and_bias}

    def state_dict(self):
        """``{"kind", "hyper", "step_count", "state": {name: {slot: numpy array}}}``."""
        st = {}
        for name, slots in self.state.items():
            st[name] = {k: (np.array(_to_numpy(v), copy=True) if hasattr(v, "shape") else v)
                        for k, v in slots.items()}
        return {"kind": self.kind, "hyper": self.hyper(), "step_count": self.step_count,
                "state": st}

    def load_state_dict(self, state):
        """Restore hyper-parameters and per-parameter state saved by :meth:`state_dict`."""
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            got = state.get("kind") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"optimizer state: expected kind {self.kind!r}, got {got!r}")
        params = dict(self.params)
        unknown = [k for k in state["state"] if k not in params]
        if unknown:
            raise CheckpointError(f"optimizer state: parameters {unknown[:5]} are not in this "
                                  f"model (state from another architecture?)")
        new = {}
        for name, slots in state["state"].items():
            p = params[name]
            new[name] = {}
            for k, v in slots.items():
                if hasattr(v, "shape"):
                    if tuple(v.shape) != tuple(p.data.shape):
                        raise CheckpointError(f"optimizer state '{name}.{k}': expected shape "
                                              f"{tuple(p.data.shape)}, got {tuple(v.shape)}")
                    v = _asarray_like(v, p.data)
                new[name][k] = v
        for k, v in state["hyper"].items():
            setattr(self, k, v)
        self.step_count = int(state["step_count"])
        self.state = new
        return self

    def __repr__(self):
        h = ", ".join(f"{k}={v!r}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({len(self.params)} params, {h})"


def _to_numpy(a):
    from minirocket.backend import to_numpy
    return to_numpy(a)


def _asarray_like(v, like):
    from minirocket.backend import get_array_module
    xp = get_array_module(like)
    if np.asarray(v).dtype.kind == "f":
        return xp.asarray(np.asarray(v), dtype=like.dtype).copy()
    return xp.asarray(np.asarray(v)).copy()
