"""Argument checks shared by every entry point (library API and command line).

Each function either returns the (possibly normalised) value or raises an
:class:`~minirocket.errors.ArgumentError` that names the argument, what was expected and
what was given.
"""
import numbers

import numpy as np

from minirocket.errors import ArgumentError, ArgumentTypeError, arg_error


def check_bool(name, value):
    """Return ``value`` if it is a real bool; strings such as ``"False"`` are an error."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise arg_error(name, "a bool (True or False)", value, ArgumentTypeError)


def check_int(name, value, *, min_value=None, max_value=None):
    """Return ``value`` as int if it is an integer (not a bool) within the bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise arg_error(name, "an integer", value, ArgumentTypeError)
    value = int(value)
    _check_bounds(name, value, min_value, max_value, "an integer")
    return value


def check_float(name, value, *, min_value=None, max_value=None, min_exclusive=False,
                max_exclusive=False):
    """Return ``value`` as float if it is a finite real number within the bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise arg_error(name, "a number", value, ArgumentTypeError)
    value = float(value)
    if not np.isfinite(value):
        raise arg_error(name, "a finite number", value)
    _check_bounds(name, value, min_value, max_value, "a number", min_exclusive, max_exclusive)
    return value


def _check_bounds(name, value, lo, hi, what, lo_excl=False, hi_excl=False):
    bad_lo = lo is not None and (value <= lo if lo_excl else value < lo)
    bad_hi = hi is not None and (value >= hi if hi_excl else value > hi)
    if bad_lo or bad_hi:
        parts = []
        if lo is not None:
            parts.append(f"{'>' if lo_excl else '>='} {lo}")
        if hi is not None:
            parts.append(f"{'<' if hi_excl else '<='} {hi}")
        raise arg_error(name, f"{what} {' and '.join(parts)}", value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices`` (compared with ``==``)."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise arg_error(name, f"one of {listed}", value)
    return value


def check_array(name, x, *, ndim=None, dtype_kind=None, xp=None, finite=False):
    """Check an array argument's type, ndim, dtype kind, device and finiteness.

    Parameters
    ----------
    name : str
        Argument name used in the message.
    x : array
        The array to check.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    dtype_kind : str, optional
        Allowed ``dtype.kind`` letters, e.g. ``"f"`` for floating, ``"iu"`` for integers.
    xp : module, optional
        The array module (numpy or cupy) the array must belong to.
    finite : bool
        If True, NaN or Inf anywhere is an error.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise arg_error(name, "an array", x, ArgumentTypeError)
    if xp is not None:
        module = type(x).__module__.split(".")[0]
        want = xp.__name__.split(".")[0]
        if module != want:
            raise ArgumentError(
                f"argument '{name}': expected an array on the {want} device, got a {module} "
                f"array (move it with the backend's asarray first; devices are never mixed "
                f"silently)")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ArgumentError(
                f"argument '{name}': expected a {want}-d array, got shape {tuple(x.shape)}")
    if dtype_kind is not None and x.dtype.kind not in dtype_kind:
        kinds = {"f": "floating", "i": "signed integer", "u": "unsigned integer",
                 "b": "boolean"}
        want = " or ".join(kinds.get(k, k) for k in dtype_kind)
        raise ArgumentError(f"argument '{name}': expected a {want} dtype, got {x.dtype}")
    if finite and x.dtype.kind == "f":
        amod = np if xp is None else xp
        if not bool(amod.isfinite(x).all()):
            raise ArgumentError(
                f"argument '{name}': expected finite values, got NaN or Inf in an array of "
                f"shape {tuple(x.shape)}")
    return x
