"""Limit the BLAS thread pool of NumPy's OpenBLAS for a training run.

Why: the 2-d layers' GEMMs are OpenBLAS calls, and OpenBLAS's worker threads synchronise
on every call. On a machine whose cores are also busy with other work, a 2-thread GEMM
waits for a descheduled worker again and again; measured here on 2 cores under load, a
training step went from 2 s (one thread) to 40-60 s (two threads). One thread is
predictable; ``0`` leaves OpenBLAS's own choice (``OPENBLAS_NUM_THREADS`` or all cores).
The convolutions of the numba backend spread their samples over their own worker threads
and run OpenBLAS single-threaded inside whatever is set here.

The ctypes binding lives in :mod:`minirocket.backend.blas`; with another BLAS nothing is
changed and :func:`set_blas_threads` returns None.
"""
from minirocket.backend.blas import get_blas_threads, set_blas_threads

__all__ = ["get_blas_threads", "set_blas_threads"]
