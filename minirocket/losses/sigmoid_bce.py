"""Binary cross-entropy on logits (click / no click).

Notation: N batch, z logits (N,) or (N, 1), y labels in {0, 1}, s = sigmoid(z).
"""
from minirocket.errors import ArgumentError
from minirocket.validate import check_array


def sigmoid(z, xp):
    """``1 / (1 + exp(-z))`` without overflow for any z (exp of a non-positive number only)."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def sigmoid_binary_cross_entropy(logits, labels):
    """Mean binary cross-entropy of ``sigmoid(logits)`` and its gradient.

    Written in the form that never takes the log of a rounded probability:

    .. math::
        L = \\frac{1}{N}\\sum_n \\max(z_n, 0) - z_n y_n + \\log(1 + e^{-|z_n|}), \\qquad
        \\frac{\\partial L}{\\partial z_n} = \\frac{\\sigma(z_n) - y_n}{N}

    Parameters
    ----------
    logits : array, shape (N,) or (N, 1), float
    labels : array, shape (N,), values in {0, 1} (integer, bool or float)

    Returns
    -------
    loss : 0-d array
    gz : array, same shape as logits
    """
    from minirocket.backend import get_array_module
    xp = get_array_module(logits)
    check_array("logits", logits, ndim=(1, 2), dtype_kind="f", xp=xp)
    if logits.ndim == 2 and logits.shape[1] != 1:
        raise ArgumentError(f"argument 'logits': expected shape (N,) or (N, 1), got "
                            f"{tuple(logits.shape)}")
    z = logits.reshape(-1)
    N = z.shape[0]
    check_array("labels", labels, ndim=1, xp=xp)
    if labels.shape[0] != N or N == 0:
        raise ArgumentError(f"argument 'labels': expected {N} labels (N > 0), got "
                            f"{labels.shape[0]}")
    y = labels.astype(z.dtype)
    if not bool(((y == 0) | (y == 1)).all()):
        raise ArgumentError("argument 'labels': expected values in {0, 1}, got other values")
    loss = (xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))).mean()
    gz = (sigmoid(z, xp) - y) * z.dtype.type(1.0 / N)
    return loss, gz.reshape(logits.shape)
