"""Weight initialisation shared by the layers (Kaiming-normal, as the paper's authors)."""
import numpy as np


def as_generator(rng):
    """``numpy.random.Generator`` from a Generator, an int seed, or None (seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def kaiming_normal(rng, shape, fan_in, dtype=np.float32):
    """Normal(0, sqrt(2 / fan_in)) samples: He et al. 2015, the authors' conv/linear init."""
    std = np.sqrt(2.0 / fan_in)
    return (as_generator(rng).standard_normal(shape) * std).astype(dtype)
