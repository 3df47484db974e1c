"""numba CPU kernels (placeholder until the kernels land: the reference path is used)."""
from minirocket.backend.ops import NumpyOps


class NumbaOps(NumpyOps):
    name = "numba"
