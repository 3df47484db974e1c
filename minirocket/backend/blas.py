"""The thread count of the BLAS that NumPy loaded (OpenBLAS), read and set through ctypes.

Two users: a training run fixes it once (``run.blas_threads``, see
:mod:`minirocket.train.threads`), and :class:`~minirocket.backend.numba_ops.NumbaOps`
drops it to one thread around convolutions whose sample blocks it already spreads over
its own worker threads (two thread pools contending for two cores cost more than either
saves).

OpenBLAS exports ``openblas_set_num_threads`` (``scipy_openblas_set_num_threads64_`` in
NumPy's own wheels). The library is found once, in this process's memory map; with any
other BLAS nothing is changed and the getters return None.
"""
import contextlib
import ctypes
import glob
import os
import threading

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads_64_",
            "openblas_get_num_threads64_", "openblas_get_num_threads")

_lock = threading.Lock()
_found = None          # (getter, setter) once looked up; (None, None) when there is none
_initial = None        # OpenBLAS's own count, read at that first lookup


def _loaded_openblas():
    import numpy as np   # loads NumPy's BLAS before the memory map is read
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
        libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        paths = glob.glob(os.path.join(libs, "*openblas*"))
    return paths


def _functions():
    global _found, _initial
    if _found is None:
        getter = setter = None
        for path in _loaded_openblas():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                break
            getter = setter = None
        _found = (getter, setter)
        if getter is not None:
            _initial = int(getter())
    return _found


def get_blas_threads():
    """OpenBLAS's current thread count, or None if it cannot be queried."""
    getter, _ = _functions()
    return None if getter is None else int(getter())


def set_blas_threads(n):
    """Set OpenBLAS's thread count; return the count now in force, or None.

    ``n`` >= 1 sets that count; 0 restores OpenBLAS's own choice (the count it had when
    this module first looked, from ``OPENBLAS_NUM_THREADS`` or the cores); None or a
    negative ``n`` changes nothing.
    """
    _, setter = _functions()
    if setter is not None and n is not None and n >= 0:
        setter(int(n) if n >= 1 else _initial)
    return get_blas_threads()


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with OpenBLAS on ``n`` threads, then restore the previous count.

    Cheap when the count is already ``n`` (one ctypes call). Not re-entrant across Python
    threads that ask for different counts at the same time: the count is process-wide.
    """
    getter, setter = _functions()
    if getter is None:
        yield
        return
    with _lock:
        before = int(getter())
        if before != n:
            setter(int(n))
    try:
        yield
    finally:
        if before != n:
            with _lock:
                setter(before)
