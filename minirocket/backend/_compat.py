"""The only module that imports the optional packages (numba, cupy).

When a package is missing, a placeholder is bound instead, so that ``xp is cupy`` is simply
False and ``numba_available`` tells the truth. Nothing here chooses a backend: selection is
explicit (:func:`minirocket.backend.get_backend`).
"""


class _Missing:
    """Placeholder bound to the name of an optional package that is not installed.

    Any attribute access raises ImportError with the reason, so a code path that forgot to
    check availability fails loudly instead of running on the wrong device.
    """

    def __init__(self, name, reason):
        self._name = name
        self._reason = reason

    def __getattr__(self, attr):
        raise ImportError(f"{self._name} is not available: {self._reason}")

    def __bool__(self):
        return False


try:
    import numba  # noqa: F401
    numba_available = True
    numba_reason = ""
except Exception as exc:  # ImportError, or a broken llvmlite
    numba = _Missing("numba", f"import failed ({exc})")
    numba_available = False
    numba_reason = f"numba could not be imported ({exc}); install minirocket without it " \
                   f"and use backend='numpy', or `pip install 'numba>=0.67,<0.69'`"

try:
    import cupy  # noqa: F401
    cupy_available = True
    cupy_reason = ""
except Exception as exc:
    cupy = _Missing("cupy", f"import failed ({exc})")
    cupy_available = False
    cupy_reason = f"cupy could not be imported ({exc}); install it with " \
                  f"`pip install -e '.[gpu]'` on a machine with an NVIDIA GPU"


def _probe_gpu():
    # Ask the runtime rather than catching a failed device call later: this returns False
    # on machines where cupy imports but no driver or device exists.
    if not cupy_available:
        return False, cupy_reason
    try:
        ok = bool(cupy.cuda.is_available())
    except Exception as exc:  # a broken CUDA install reports through an exception
        return False, f"cupy is installed but CUDA could not be queried ({exc})"
    if not ok:
        return False, "cupy is installed but cupy.cuda.is_available() is False (no GPU or driver)"
    return True, ""


has_gpu, gpu_reason = _probe_gpu()
