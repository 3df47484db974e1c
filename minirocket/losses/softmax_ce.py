"""Softmax cross-entropy over integer labels.

Notation: N batch, C classes, z logits (N, C), y integer labels (N,), p = softmax(z).
"""
from minirocket.errors import ArgumentError
from minirocket.validate import check_array


def log_softmax(z, xp):
    """Row-wise ``log softmax(z)``, exact for logits of any magnitude.

    Shifting by the row maximum makes every exponent <= 0, so nothing overflows; the
    largest term is exactly 1, so the log-sum never underflows to log(0).
    """
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def check_labels(y, n, num_classes, xp):
    """Integer labels of shape (n,) within [0, num_classes); one-line error otherwise."""
    check_array("labels", y, ndim=1, xp=xp)
    if y.dtype.kind not in "iu":
        raise ArgumentError(f"argument 'labels': expected an integer dtype, got {y.dtype}")
    if y.shape[0] != n:
        raise ArgumentError(f"argument 'labels': expected {n} labels (one per logit row), "
                            f"got {y.shape[0]}")
    if n:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ArgumentError(f"argument 'labels': expected values in [0, {num_classes}), "
                                f"got {lo if lo < 0 else hi}")


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    .. math::
        L = \\frac{1}{N} \\sum_n \\Big(\\log \\sum_k e^{z_{n,k}} - z_{n,y_n}\\Big), \\qquad
        \\frac{\\partial L}{\\partial z_{n,k}} = \\frac{p_{n,k} - [k = y_n]}{N}

    Parameters
    ----------
    logits : array, shape (N, C), float32 or float64
    labels : int array, shape (N,), values in [0, C)

    Returns
    -------
    loss : 0-d array (same dtype as logits)
    gz : array, shape (N, C)
    """
    xp = _xp(logits)
    check_array("logits", logits, ndim=2, dtype_kind="f", xp=xp)
    N, C = logits.shape
    if N == 0:
        raise ArgumentError("argument 'logits': expected at least one row, got shape (0, C)")
    check_labels(labels, N, C, xp)
    logp = log_softmax(logits, xp)
    rows = xp.arange(N)
    loss = -logp[rows, labels].mean()
    gz = xp.exp(logp)
    gz[rows, labels] -= 1
    gz *= logits.dtype.type(1.0 / N)
    return loss, gz


def _xp(a):
    from minirocket.backend import get_array_module
    return get_array_module(a)
