"""Limit the BLAS thread pool of NumPy's OpenBLAS for a training run.

Why: the 2-d layers' GEMMs are OpenBLAS calls, and OpenBLAS's worker threads synchronise
on every call. On a machine whose cores are also busy with other work, a 2-thread GEMM
waits for a descheduled worker again and again; measured here on 2 cores under load, a
training step went from 2 s (one thread) to 40-60 s (two threads). One thread is
predictable; ``0`` leaves OpenBLAS's own choice (``OPENBLAS_NUM_THREADS`` or all cores).
The convolutions of the numba backend spread their samples over their own worker threads
and run OpenBLAS single-threaded inside whatever is set here.

Unset (the default), the count follows the model: a WRN pair gets one OpenBLAS thread,
since its convolutions spread samples over the numba backend's worker threads, and an
MLP pair (no convolutions; its step is GEMM-bound) keeps OpenBLAS's own choice, all
cores. Measured on 2 cores, CTR step at batch 1024: 36-72 ms with two OpenBLAS threads
against 57-70 ms with one (three runs of ``benchmarks/compare.py``).

The ctypes binding lives in :mod:`minirocket.backend.blas`; with another BLAS nothing is
changed and :func:`set_blas_threads` returns None.
"""
from minirocket.backend.blas import get_blas_threads, set_blas_threads

__all__ = ["blas_threads_for", "get_blas_threads", "set_blas_threads"]


def blas_threads_for(cfg):
    """The OpenBLAS thread count a run with configuration ``cfg`` uses.

    ``run.blas_threads`` when set (0: OpenBLAS's own choice, left unchanged); otherwise 1
    for ``model.arch == "wrn"`` and 0 for ``"mlp"``.
    """
    n = cfg["run"].get("blas_threads")
    if n is None:
        n = 1 if cfg["model"]["arch"] == "wrn" else 0
    return n
