"""minirocket: Rocket Launching (Zhou et al., AAAI 2018) with hand-written gradients.

A booster net and a light net train together; they share lower layers, each has its own
cross-entropy, a hint loss pulls the light logits towards the booster's, and the gradient
block stops the hint from reaching the booster. Only the light net is served.
"""
__version__ = "0.1.0"

from minirocket.backend import available_backends, get_backend
from minirocket.core import Module, Parameter

__all__ = ["Module", "Parameter", "available_backends", "get_backend", "__version__"]
