"""minirocket: Rocket Launching (Zhou et al., AAAI 2018) with hand-written gradients.

A booster net and a light net train together; they share lower layers, each has its own
cross-entropy, a hint loss pulls the light logits towards the booster's, and the gradient
block stops the hint from reaching the booster. Only the light net is served.
"""
__version__ = "0.1.0"

from minirocket.backend import available_backends, get_backend
from minirocket.core import Module, Parameter
from minirocket import models, optim, rocket  # noqa: E402  (the paper: nets, optimizers, training)


def load_artifact(path, backend="numpy", fast=False):
    """Load an exported light net (``light.json`` + ``light.npz``) as a predictor.

    See :func:`minirocket.train.artifact.load_artifact`; needs only minirocket and NumPy.
    ``fast=True`` serves through the BN-folded inference path (:mod:`minirocket.serve`).
    """
    from minirocket.train.artifact import load_artifact as _load
    return _load(path, backend=backend, fast=fast)


__all__ = ["Module", "Parameter", "available_backends", "get_backend", "load_artifact",
           "__version__"]
