"""Limit the BLAS thread pool of NumPy's OpenBLAS for a training run.

Why: the convolutions are im2col + GEMM, and OpenBLAS's worker threads synchronise on every
call. On a machine whose cores are also busy with other work, a 2-thread GEMM waits for a
descheduled worker again and again; measured here on 2 cores under load, a training step
went from 2 s (one thread) to 40-60 s (two threads). One thread is predictable; ``0`` leaves
OpenBLAS's own choice (``OPENBLAS_NUM_THREADS`` or all cores).

Uses OpenBLAS's ``openblas_set_num_threads`` through ctypes on the library NumPy loaded; if
none is found (another BLAS), nothing is changed and :func:`set_blas_threads` says so.
"""
import ctypes
import glob
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads_64_",
            "openblas_get_num_threads64_", "openblas_get_num_threads")


def _loaded_openblas():
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                p = line.rsplit(None, 1)[-1]
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    if not paths:
        import numpy as np
        libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        paths = glob.glob(os.path.join(libs, "*openblas*"))
    return paths


def _call(names, *args):
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                return fn(*args)
    return None


def get_blas_threads():
    """OpenBLAS's current thread count, or None if it cannot be queried."""
    return _call(_GETTERS)


def set_blas_threads(n):
    """Set OpenBLAS's thread count to ``n`` (>= 1); return the count now in force or None."""
    if n is None or n < 1:
        return get_blas_threads()
    _call(_SETTERS, ctypes.c_int(int(n)))
    return get_blas_threads()
