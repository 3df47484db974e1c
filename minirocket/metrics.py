"""Evaluation metrics: accuracy, ROC AUC, log loss and group AUC.

Notation
--------
N : number of samples; C : number of classes
P, Q : numbers of positive and negative samples (P + Q = N)

All functions take the true labels first and return a Python float. They check their
inputs (shapes, lengths, label values, finiteness) and raise
:class:`~minirocket.errors.ArgumentError` naming the argument; they never return NaN for a
degenerate input.

ROC AUC is computed from ranks: with the scores ranked 1..N (tied scores sharing the
average of their ranks) and ``R`` the sum of the positives' ranks,

    AUC = (R - P (P + 1) / 2) / (P Q),

which is the Mann-Whitney U statistic divided by ``P Q``: the fraction of (positive,
negative) pairs ordered correctly, a tie counting one half. Cost O(N log N).

Group AUC (GAUC, Zhou et al., "Deep Interest Network", KDD 2018) averages the AUC of each
group (user, session, ...) weighted by the group's number of impressions, over the groups
that contain both classes; other groups carry no ranking information and are skipped.
"""
import numpy as np

from minirocket.errors import ArgumentError, ArgumentTypeError, arg_error
from minirocket.validate import check_float

__all__ = ["accuracy", "error_rate", "roc_auc", "log_loss", "log_loss_from_logits",
           "group_auc", "rank_average"]


def _as_array(name, x):
    if not hasattr(x, "shape"):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            raise arg_error(name, "an array", x, ArgumentTypeError)
    # CuPy and other array types are brought to the host: metrics run once per evaluation.
    if type(x).__module__.split(".")[0] == "cupy":
        x = x.get()
    return np.asarray(x)


def _binary_labels(labels):
    y = _as_array("labels", labels)
    if y.ndim != 1:
        raise ArgumentError(f"argument 'labels': expected a 1-d array, got shape {y.shape}")
    if y.size == 0:
        raise ArgumentError("argument 'labels': expected at least one sample, got an empty array")
    if y.dtype.kind not in "buif":
        raise ArgumentError(f"argument 'labels': expected 0/1 labels, got dtype {y.dtype}")
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        raise ArgumentError(f"argument 'labels': expected values in {{0, 1}}, got "
                            f"{y[bad][0]!r} (and {int(bad.sum()) - 1} more outside 0/1)")
    return y.astype(np.int64)


def _scores(name, x, n):
    s = _as_array(name, x)
    if s.shape != (n,):
        raise ArgumentError(f"argument '{name}': expected shape ({n},) like labels, got "
                            f"{s.shape}")
    if s.dtype.kind not in "buif":
        raise ArgumentError(f"argument '{name}': expected a numeric array, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise ArgumentError(f"argument '{name}': expected finite values, got NaN or Inf")
    return s


def rank_average(x):
    """Ranks 1..N of ``x`` with ties given the average of their ranks.

    Parameters
    ----------
    x : array_like, shape (N,)

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
    """
    x = np.asarray(x)
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    s = x[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], n]
    ranks = np.empty(n, np.float64)
    # A tie block at sorted positions start..end-1 holds ranks start+1..end: mean (start+1+end)/2.
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _grouped_auc(y, s, g, n_groups):
    """Per-group AUC from ranks within each group.

    Returns (auc per group with NaN where a class is absent, positives, negatives).
    """
    order = np.lexsort((s, g))
    gs, ss, ys = g[order], s[order], y[order]
    n = len(y)
    pos = np.arange(n)
    group_start_flag = np.r_[True, gs[1:] != gs[:-1]]
    group_start = np.maximum.accumulate(np.where(group_start_flag, pos, 0))
    tie_start_flag = group_start_flag | np.r_[True, ss[1:] != ss[:-1]]
    tie_starts = np.flatnonzero(tie_start_flag)
    tie_ends = np.r_[tie_starts[1:], n]
    # Average rank within the group of each tie block, 1-based.
    block_rank = (tie_starts + 1 + tie_ends) / 2.0 - group_start[tie_starts]
    ranks = np.repeat(block_rank, tie_ends - tie_starts)
    n_pos = np.bincount(gs, weights=ys, minlength=n_groups)
    n_all = np.bincount(gs, minlength=n_groups).astype(np.float64)
    n_neg = n_all - n_pos
    rank_sum = np.bincount(gs, weights=ranks * ys, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc, n_pos, n_neg


def roc_auc(labels, scores):
    """Area under the ROC curve, ties handled (average ranks).

    Parameters
    ----------
    labels : array_like of {0, 1}, shape (N,)
        True classes (bool, int or float holding exactly 0 and 1).
    scores : array_like of float, shape (N,)
        Higher means more likely positive (probabilities, logits, any monotone score).

    Returns
    -------
    float
        In [0, 1]; the probability that a random positive scores above a random negative,
        ties counting 1/2.

    Raises
    ------
    ArgumentError
        If shapes differ, labels are not 0/1, scores are not finite, or only one class is
        present (the AUC is undefined then).
    """
    y = _binary_labels(labels)
    s = _scores("scores", scores, len(y))
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        only = 1 if n_pos else 0
        raise ArgumentError(f"argument 'labels': expected both classes 0 and 1 for ROC AUC, "
                            f"got only class {only} in {len(y)} samples")
    auc, _, _ = _grouped_auc(y, s, np.zeros(len(y), np.int64), 1)
    return float(auc[0])


def group_auc(labels, scores, groups):
    """Impression-weighted mean of per-group ROC AUC (GAUC).

    Parameters
    ----------
    labels : array_like of {0, 1}, shape (N,)
    scores : array_like of float, shape (N,)
    groups : array_like, shape (N,)
        Group key of each sample (user id, session id; ints or strings).

    Returns
    -------
    float
        ``sum_g n_g AUC_g / sum_g n_g`` over the groups g holding both classes, where
        ``n_g`` is the group's number of samples (impressions).

    Raises
    ------
    ArgumentError
        As :func:`roc_auc`, or if no group holds both classes.
    """
    y = _binary_labels(labels)
    s = _scores("scores", scores, len(y))
    g = _as_array("groups", groups)
    if g.shape != (len(y),):
        raise ArgumentError(f"argument 'groups': expected shape ({len(y)},) like labels, got "
                            f"{g.shape}")
    _, inverse = np.unique(g, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    n_groups = int(inverse.max()) + 1
    auc, n_pos, n_neg = _grouped_auc(y, s, inverse, n_groups)
    ok = ~np.isnan(auc)
    if not ok.any():
        raise ArgumentError(f"argument 'groups': expected at least one group holding both "
                            f"classes, got {n_groups} group(s) each with a single class")
    weights = (n_pos + n_neg)[ok]
    return float(np.sum(weights * auc[ok]) / np.sum(weights))


def log_loss(labels, probs, eps=1e-7):
    """Mean binary cross-entropy of probabilities, clipped so it stays finite.

    Parameters
    ----------
    labels : array_like of {0, 1}, shape (N,)
    probs : array_like of float, shape (N,)
        Predicted probability of class 1, in [0, 1].
    eps : float
        Probabilities are clipped to ``[eps, 1 - eps]`` (0 < eps < 0.5), so a confident
        mistake costs at most ``-log(eps)`` (16.1 for the default).

    Returns
    -------
    float
        ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped, computed in float64.
    """
    y = _binary_labels(labels)
    p = _scores("probs", probs, len(y))
    eps = check_float("eps", eps, min_value=0.0, max_value=0.5, min_exclusive=True,
                      max_exclusive=True)
    if (p < 0).any() or (p > 1).any():
        raise ArgumentError(f"argument 'probs': expected probabilities in [0, 1], got values "
                            f"from {p.min()} to {p.max()}")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def log_loss_from_logits(labels, logits):
    """Mean binary cross-entropy of logits, computed stably (no clipping needed).

    Parameters
    ----------
    labels : array_like of {0, 1}, shape (N,)
    logits : array_like of float, shape (N,)
        ``log(p / (1 - p))``.

    Returns
    -------
    float
        ``mean(log(1 + exp(z)) - y z)``, evaluated as ``max(z, 0) - y z + log1p(exp(-|z|))``.
    """
    y = _binary_labels(labels)
    z = _scores("logits", logits, len(y))
    return float(np.mean(np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))))


def _class_predictions(labels, logits):
    y = _as_array("labels", labels)
    if y.ndim != 1 or y.size == 0:
        raise ArgumentError(f"argument 'labels': expected a non-empty 1-d array, got shape "
                            f"{y.shape}")
    if y.dtype.kind not in "iub":
        raise ArgumentError(f"argument 'labels': expected integer class indexes, got dtype "
                            f"{y.dtype}")
    z = _as_array("logits", logits)
    if z.dtype.kind not in "iuf":
        raise ArgumentError(f"argument 'logits': expected a numeric array, got dtype {z.dtype}")
    if z.ndim == 1:
        # One logit per sample: a binary classifier, positive when the logit is above 0.
        n_classes = 2
        if z.shape != y.shape:
            raise ArgumentError(f"argument 'logits': expected shape {y.shape} like labels, "
                                f"got {z.shape}")
        pred = (z > 0).astype(np.int64)
    elif z.ndim == 2:
        n_classes = z.shape[1]
        if z.shape[0] != len(y) or n_classes == 0:
            raise ArgumentError(f"argument 'logits': expected shape ({len(y)}, C) with C >= 1, "
                                f"got {z.shape}")
        pred = np.argmax(z, axis=1)
    else:
        raise ArgumentError(f"argument 'logits': expected shape (N, C) or (N,), got {z.shape}")
    if z.dtype.kind == "f" and not np.isfinite(z).all():
        raise ArgumentError("argument 'logits': expected finite values, got NaN or Inf")
    y = y.astype(np.int64)
    if (y < 0).any() or (y >= n_classes).any():
        raise ArgumentError(f"argument 'labels': expected class indexes in 0..{n_classes - 1}, "
                            f"got values from {y.min()} to {y.max()}")
    return y, pred


def accuracy(labels, logits):
    """Fraction of samples whose highest logit is the true class.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Class indexes in ``0 .. C-1``.
    logits : array_like of float, shape (N, C), or shape (N,)
        Class scores (argmax; the first maximum wins a tie), or one binary logit per sample
        (predicted class 1 when > 0).

    Returns
    -------
    float
        In [0, 1].
    """
    y, pred = _class_predictions(labels, logits)
    return float(np.mean(pred == y))


def error_rate(labels, logits):
    """``1 - accuracy(labels, logits)``: the fraction of misclassified samples."""
    y, pred = _class_predictions(labels, logits)
    return float(np.mean(pred != y))
