"""Backend selection: ``numpy`` (reference), ``numba`` (CPU kernels), ``cupy`` (GPU).

A backend is an :class:`~minirocket.backend.ops.Ops` object. It is chosen explicitly, by
name, and handed to a module with ``module.to("numba")``; there is no global default that
changes behind a user's back. Asking for a backend that cannot run here is an error, never a
silent fallback to the CPU.
"""
import numpy as np

from minirocket.backend import _compat
from minirocket.backend.ops import NumpyOps, Ops, conv_output_size
from minirocket.errors import BackendUnavailableError, arg_error

BACKENDS = ("numpy", "numba", "cupy")

_instances = {}


def available_backends():
    """Names of the backends that can run on this machine, reference first."""
    names = ["numpy"]
    if _compat.numba_available:
        names.append("numba")
    if _compat.has_gpu:
        names.append("cupy")
    return names


def backend_unavailable_reason(name):
    """Why ``name`` cannot run here, or ``""`` if it can."""
    if name == "numba":
        return _compat.numba_reason
    if name == "cupy":
        return _compat.gpu_reason
    return ""


def get_backend(name):
    """Return the :class:`Ops` for ``name`` (an Ops instance is returned unchanged).

    Parameters
    ----------
    name : {"numpy", "numba", "cupy"} or Ops

    Raises
    ------
    ArgumentError
        ``name`` is not a known backend.
    BackendUnavailableError
        The backend is known but cannot run on this machine (numba missing, no GPU).
    """
    if isinstance(name, Ops):
        return name
    if name not in BACKENDS:
        raise arg_error("backend", "one of 'numpy', 'numba', 'cupy'", name)
    reason = backend_unavailable_reason(name)
    if reason:
        raise BackendUnavailableError(f"argument 'backend': '{name}' is not available here: {reason}")
    if name not in _instances:
        if name == "numpy":
            _instances[name] = NumpyOps()
        elif name == "numba":
            from minirocket.backend.numba_ops import NumbaOps
            _instances[name] = NumbaOps()
        else:
            from minirocket.backend.cupy_ops import CupyOps
            _instances[name] = CupyOps()
    return _instances[name]


def get_array_module(*arrays):
    """``cupy`` if any argument is a CuPy array, else ``numpy`` (works without CuPy)."""
    if _compat.cupy_available:
        for a in arrays:
            if isinstance(a, _compat.cupy.ndarray):
                return _compat.cupy
    return np


def to_numpy(x):
    """Host copy of ``x`` as a NumPy array (a NumPy array is returned as is)."""
    if _compat.cupy_available and isinstance(x, _compat.cupy.ndarray):
        return _compat.cupy.asnumpy(x)
    return np.asarray(x)


__all__ = ["BACKENDS", "Ops", "NumpyOps", "available_backends", "backend_unavailable_reason",
           "conv_output_size", "get_array_module", "get_backend", "to_numpy"]
