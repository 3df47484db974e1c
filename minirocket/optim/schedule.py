"""Step-wise learning-rate schedule (the authors' ``epoch_step`` / ``lr_decay_ratio``).

Notation: lr_0 base rate, f decay factor, M milestones (1-based epoch numbers), e the epoch
about to run (1-based).

.. math:: lr(e) = lr_0 \\cdot f^{\\,|\\{m \\in M : m \\le e\\}|}

Milestone convention: epoch m is the FIRST epoch that runs with the reduced rate, as in
the authors' ``on_start_epoch`` (``epoch = state['epoch'] + 1; if epoch in epoch_step:
lr *= 0.2``). PyTorch's ``MultiStepLR`` stepped once per epoch would reduce from epoch
m + 1. The authors re-create the optimizer at every drop, which resets momentum:
``reset_momentum=True`` reproduces that.
"""
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError
from minirocket.optim.base import Optimizer
from minirocket.validate import check_bool, check_float, check_int


class MultiStepLR:
    """Multiply the optimizer's lr by ``factor`` at each milestone epoch.

    Parameters
    ----------
    optimizer : Optimizer
    milestones : sequence of int
        Strictly increasing 1-based epoch numbers (authors: [60, 120, 160]; bottom layout
        [70, 130, 190]).
    factor : float in (0, 1]
        0.2 (the authors' ``lr_decay_ratio``).
    reset_momentum : bool
        Drop the optimizer's state (momentum buffers) at each milestone.

    Usage::

        for epoch in range(1, epochs + 1):
            sched.start_epoch(epoch)    # sets optimizer.lr for this epoch
            ...
    """

    def __init__(self, optimizer, milestones, factor=0.2, reset_momentum=False):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"argument 'optimizer': expected an Optimizer, got "
                                    f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise ArgumentTypeError(f"argument 'milestones': expected a list of epoch numbers, "
                                    f"got {milestones!r}")
        ms = [check_int(f"milestones[{i}]", m, min_value=1) for i, m in enumerate(milestones)]
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ArgumentError(f"argument 'milestones': expected strictly increasing epochs, "
                                f"got {ms}")
        self.milestones = ms
        self.factor = check_float("factor", factor, min_value=0.0, max_value=1.0,
                                  min_exclusive=True)
        self.reset_momentum = check_bool("reset_momentum", reset_momentum)
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch):
        """Learning rate of (1-based) epoch ``epoch``."""
        e = check_int("epoch", epoch, min_value=1)
        return self.base_lr * self.factor ** sum(1 for m in self.milestones if m <= e)

    def start_epoch(self, epoch):
        """Set the lr for ``epoch``; at a milestone also reset momentum if asked."""
        e = check_int("epoch", epoch, min_value=1)
        self.optimizer.lr = self.lr_at(e)
        if self.reset_momentum and e in self.milestones and e != self.last_epoch:
            self.optimizer.reset_state()
        self.last_epoch = e
        return self.optimizer.lr

    def state_dict(self):
        return {"kind": "multistep", "base_lr": self.base_lr, "milestones": list(self.milestones),
                "factor": self.factor, "reset_momentum": self.reset_momentum,
                "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        if not isinstance(state, dict) or state.get("kind") != "multistep":
            raise CheckpointError(f"schedule state: expected kind 'multistep', got "
                                  f"{state.get('kind') if isinstance(state, dict) else state!r}")
        self.base_lr = float(state["base_lr"])
        self.milestones = [int(m) for m in state["milestones"]]
        self.factor = float(state["factor"])
        self.reset_momentum = bool(state["reset_momentum"])
        self.last_epoch = int(state["last_epoch"])
        return self
