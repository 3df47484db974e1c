"""Stop-gradient node: the identity forward, no gradient backward (when active).

Notation: z input (any shape), gy upstream gradient.

The Rocket Launching gradient block is a stop-gradient on the booster logits inside the
hint loss, ``hint(l, sg(z))`` (paper Fig. 2, the authors' ``Variable(y.data)``).
:func:`minirocket.rocket.rocket_step` applies it in one visible line; this node is the
same switch as a composable layer, for graphs built from modules.
"""
from dataclasses import dataclass

from minirocket.core.module import Module
from minirocket.validate import check_bool


@dataclass(frozen=True, slots=True)
class StopGradientCtx:
    """Nothing is needed to back-propagate; kept for the protocol (shape for zeros)."""
    shape: tuple


class StopGradient(Module):
    """``y = x``; backward returns None (no gradient flows) when ``active``, else ``gy``.

    .. math::
        y = x, \\qquad gx = \\begin{cases} \\text{None (no gradient)} & \\text{active} \\\\
        gy & \\text{otherwise} \\end{cases}

    A frozen layer still passes gradients; this node is the only thing that stops them,
    so a blocked path is explicit in the graph. ``last_blocked_norm`` records the norm of
    the gradient discarded by the most recent backward (0.0 when it passed), so a test can
    assert that the block was not vacuous.

    Parameters
    ----------
    active : bool
    """

    def __init__(self, active=True):
        super().__init__()
        self.active = check_bool("active", active)
        self.last_blocked_norm = 0.0

    def extra_repr(self):
        return f"active={self.active}"

    def forward(self, x, train=True):
        return x, (StopGradientCtx(tuple(x.shape)) if train else None)

    def backward(self, ctx, gy):
        if self.active:
            self.last_blocked_norm = float(self.ops.xp.sqrt((gy * gy).sum()))
            return None
        self.last_blocked_norm = 0.0
        return gy
