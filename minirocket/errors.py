"""Exceptions raised by minirocket, and the one helper that words them.

Every error a user can meet names the argument, what was expected and what was given, in
one line, so that the command line can print it without a traceback::

    argument 'lam': expected a number >= 0, got -0.5

The classes subclass the built-in exception a Python user would expect (``ValueError`` for
bad values, ``TypeError`` for bad types), so ``except ValueError`` keeps working.
"""


class MinirocketError(Exception):
    """Base class of every error minirocket raises on purpose."""


class ArgumentError(MinirocketError, ValueError):
    """An argument has the wrong value, shape, dtype or device."""


class ArgumentTypeError(MinirocketError, TypeError):
    """An argument has the wrong Python type (a string where a bool is needed, say)."""


class BackendUnavailableError(MinirocketError, RuntimeError):
    """The requested backend (numba, cupy) cannot run on this machine."""


class DataError(MinirocketError, ValueError):
    """A data file is missing, truncated, or not in the expected format."""


class CheckpointError(MinirocketError, ValueError):
    """A checkpoint or artifact is truncated, foreign, or from a newer format version."""


class NumericalError(MinirocketError, FloatingPointError):
    """A loss or gradient became non-finite during training."""


def describe(value):
    """Short, printable description of ``value`` for error messages.

    Arrays are described by type, shape and dtype (never by their contents); strings are
    quoted so that ``"False"`` is visibly a string.
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        module = type(value).__module__.split(".")[0]
        return f"{module}.ndarray of shape {tuple(shape)} and dtype {dtype}"
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def arg_error(name, expected, got, cls=ArgumentError):
    """Build the one-line error ``argument 'name': expected ..., got ...``.

    Parameters
    ----------
    name : str
        The argument's name as the user wrote it (``lam``, ``--lr``, ``x``).
    expected : str
        What was expected, in words.
    got : object
        The value given; it is passed through :func:`describe`.
    cls : type
        The exception class to instantiate.
    """
    return cls(f"argument '{name}': expected {expected}, got {describe(got)}")
