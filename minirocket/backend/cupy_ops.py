"""CuPy GPU backend."""
from minirocket.backend._compat import cupy
from minirocket.backend.ops import Ops


class CupyOps(Ops):
    name = "cupy"

    def __init__(self):
        super().__init__(cupy)

    def to_numpy(self, x):
        return cupy.asnumpy(x)
