"""Hint losses between the light logits l and the booster (or teacher) logits z.

Notation
--------
B actual batch size, B_nom nominal batch size (the divisor; defaults to B), C classes
(logit columns), l light logits (B, C), z booster/teacher logits (B, C),
p = softmax(l), q = softmax(z), T temperature, s = softmax(l/T), r = softmax(z/T),
lam the weight of the term.

Every function returns ``(value, gl, gz)``: the weighted loss (0-d array) and its gradients
with respect to **both** inputs. Which of them is used is decided by the training step
(:func:`minirocket.rocket.step.rocket_step`): with the gradient block on, ``gz`` of the hint
is discarded there (stop-gradient on z, the authors' code behaviour).

Reduction conventions (``lam`` means different things under different conventions; use
:func:`convert_lambda` to translate):

``"example_sum"`` (the authors' code, default)
    ``lam * sum_{n,k} (z - l)^2 / B_nom``: per example a sum over classes, then a batch
    mean with the *nominal* batch size (the authors divide by 128 even for a last partial
    batch). The authors' gamma = 0.03 is this lam.
``"element_mean"``
    ``lam * sum_{n,k} (z - l)^2 / (B_nom * C)`` (mean over all elements, as
    ``torch.nn.MSELoss``, XDL and TorchEasyRec use it). Equal to ``example_sum`` when
    ``lam_element_mean = C * lam_example_sum``.
``"half_example_sum"``
    ``lam / 2 * sum_{n,k} (z - l)^2 / B_nom`` (the "1/2 ||.||^2" textbook convention).
    Equal when ``lam_half = 2 * lam_example_sum``.

Binary (sigmoid) outputs have one logit column; :func:`logits_mse` works on it directly
(C = 1), :func:`probs_mse` and :func:`kd` use the two-class distribution
``[1 - sigmoid(l), sigmoid(l)] = softmax([0, l])``.
"""
from minirocket.backend import get_array_module
from minirocket.errors import ArgumentError
from minirocket.losses.softmax_ce import log_softmax
from minirocket.validate import check_array, check_choice, check_float, check_int

HINTS = ("logits_mse", "probs_mse", "kd")
CONVENTIONS = ("example_sum", "element_mean", "half_example_sum")
# Weight each convention puts on one squared element, relative to lam / B_nom.
_PER_ELEMENT = {"example_sum": lambda C: 1.0, "element_mean": lambda C: 1.0 / C,
                "half_example_sum": lambda C: 0.5}


def convert_lambda(lam, from_convention, to_convention, num_classes):
    """Translate a hint weight between reduction conventions (same loss, other lam).

    Parameters
    ----------
    lam : float
    from_convention, to_convention : {"example_sum", "element_mean", "half_example_sum"}
    num_classes : int
        C, the number of logit columns (1 for a single sigmoid logit).

    Examples
    --------
    The authors' gamma = 0.03 ("example_sum", CIFAR-10) is an element-mean weight of 0.3:

    >>> convert_lambda(0.03, "example_sum", "element_mean", 10)
    0.3
    """
    lam = check_float("lam", lam, min_value=0.0)
    check_choice("from_convention", from_convention, CONVENTIONS)
    check_choice("to_convention", to_convention, CONVENTIONS)
    C = check_int("num_classes", num_classes, min_value=1)
    out = lam * _PER_ELEMENT[from_convention](C) / _PER_ELEMENT[to_convention](C)
    return float(round(out, 15))


def _check_pair(l, z):
    xp = get_array_module(l)
    check_array("l", l, ndim=(1, 2), dtype_kind="f", xp=xp)
    check_array("z", z, ndim=(1, 2), dtype_kind="f", xp=xp)
    if l.shape != z.shape:
        raise ArgumentError(f"argument 'z': expected the shape of the light logits "
                            f"{tuple(l.shape)}, got {tuple(z.shape)}")
    if l.shape[0] == 0:
        raise ArgumentError("argument 'l': expected at least one row, got 0")
    return xp


def _divisor(name, nominal_batch, B):
    if nominal_batch is None:
        return B
    nb = check_int(name, nominal_batch, min_value=1)
    return nb


def logits_mse(l, z, lam=0.03, nominal_batch=None, convention="example_sum"):
    """Squared distance of the logits (the paper's L_mimic, Eq. 1's hint term).

    .. math::
        H = \\lambda\\, w \\sum_{n,k} (l_{n,k} - z_{n,k})^2, \\qquad
        \\frac{\\partial H}{\\partial l} = 2\\lambda w (l - z), \\qquad
        \\frac{\\partial H}{\\partial z} = 2\\lambda w (z - l)

    with w = 1/B_nom (example_sum), 1/(B_nom C) (element_mean) or 1/(2 B_nom)
    (half_example_sum). The paper's Eq. 3 writes the gradient without the factor 2.

    Parameters
    ----------
    l, z : array (B, C) or (B,)
    lam : float >= 0
    nominal_batch : int, optional
        B_nom (the authors' ``opt.batchSize``); None uses the actual B.
    convention : str
        See the module docstring.

    Returns
    -------
    value : 0-d array, gl : array like l, gz : array like z
    """
    _check_pair(l, z)
    lam = check_float("lam", lam, min_value=0.0)
    check_choice("convention", convention, CONVENTIONS)
    C = 1 if l.ndim == 1 else l.shape[1]
    w = _PER_ELEMENT[convention](C) / _divisor("nominal_batch", nominal_batch, l.shape[0])
    d = l - z
    value = (d * d).sum() * l.dtype.type(lam * w)
    gl = d * l.dtype.type(2.0 * lam * w)
    return value, gl, -gl


def _as_two_class(a, xp):
    # One sigmoid logit l is the two-class softmax over [0, l].
    if a.ndim == 1:
        a = a[:, None]
    if a.shape[1] == 1:
        return xp.concatenate([xp.zeros_like(a), a], axis=1), True
    return a, False


def _from_two_class(g, binary, like):
    return g[:, 1:].reshape(like.shape) if binary else g


def probs_mse(l, z, lam=0.03, nominal_batch=None, convention="example_sum"):
    """Squared distance of the softmax outputs (the paper's L_MSE, Eq. 2).

    .. math::
        H = \\lambda w \\sum_{n,k} (p_{n,k} - q_{n,k})^2, \\qquad
        \\frac{\\partial H}{\\partial l_{n,i}} = 2\\lambda w\\, p_{n,i}\\Big[p_{n,i} - q_{n,i}
        - \\sum_k p_{n,k}(p_{n,k} - q_{n,k})\\Big]

    and symmetrically for z with p and q swapped. w as in :func:`logits_mse`.
    """
    xp = _check_pair(l, z)
    lam = check_float("lam", lam, min_value=0.0)
    check_choice("convention", convention, CONVENTIONS)
    l2, binary = _as_two_class(l, xp)
    z2, _ = _as_two_class(z, xp)
    C = 1 if binary else l2.shape[1]
    w = _PER_ELEMENT[convention](C) / _divisor("nominal_batch", nominal_batch, l2.shape[0])
    p = xp.exp(log_softmax(l2, xp))
    q = xp.exp(log_softmax(z2, xp))
    d = p - q
    value = (d * d).sum() * l.dtype.type(lam * w)
    k = l.dtype.type(2.0 * lam * w)
    # Softmax Jacobian: dp_k/dl_i = p_k (delta_ki - p_i).
    gl = k * p * (d - (p * d).sum(axis=1, keepdims=True))
    gz = -k * q * (d - (q * d).sum(axis=1, keepdims=True))
    return value, _from_two_class(gl, binary, l), _from_two_class(gz, binary, z)


def kd(l, z, temperature=4.0, lam=1.0, nominal_batch=None, reduction="batchmean"):
    """Knowledge-distillation hint: T^2-scaled KL(softmax(z/T) || softmax(l/T)).

    .. math::
        H = \\lambda\\, T^2\\, \\frac{1}{D} \\sum_{n,k} r_{n,k} (\\log r_{n,k} - \\log s_{n,k}),
        \\qquad \\frac{\\partial H}{\\partial l} = \\frac{\\lambda T}{D} (s - r), \\qquad
        \\frac{\\partial H}{\\partial z_{n,j}} = \\frac{\\lambda T}{D}\\, r_{n,j}
        \\Big(e_{n,j} - \\sum_k r_{n,k} e_{n,k}\\Big),\\ e = \\log r - \\log s

    D = B_nom for ``reduction="batchmean"`` (the mathematically usual KL per example) and
    D = B_nom * C for ``"elementmean"`` (what ``F.kl_div`` of PyTorch 0.2 did: a mean over
    all B*C elements). The authors' KD term ``kl_div(...) * T^2 * 2 * alpha`` is
    ``kd(l, t, T, lam=2 * alpha, reduction="elementmean")``.

    Parameters
    ----------
    l, z : array (B, C) or (B,)/(B, 1) (binary, as two classes)
    temperature : float > 0
    lam : float >= 0
    nominal_batch : int, optional
    reduction : {"batchmean", "elementmean"}
    """
    xp = _check_pair(l, z)
    T = check_float("temperature", temperature, min_value=0.0, min_exclusive=True)
    lam = check_float("lam", lam, min_value=0.0)
    check_choice("reduction", reduction, ("batchmean", "elementmean"))
    l2, binary = _as_two_class(l, xp)
    z2, _ = _as_two_class(z, xp)
    D = _divisor("nominal_batch", nominal_batch, l2.shape[0])
    if reduction == "elementmean":
        D *= l2.shape[1]
    log_s = log_softmax(l2 / l.dtype.type(T), xp)
    log_r = log_softmax(z2 / l.dtype.type(T), xp)
    s, r = xp.exp(log_s), xp.exp(log_r)
    e = log_r - log_s
    value = (r * e).sum() * l.dtype.type(lam * T * T / D)
    k = l.dtype.type(lam * T / D)
    gl = k * (s - r)
    gz = k * r * (e - (r * e).sum(axis=1, keepdims=True))
    return value, _from_two_class(gl, binary, l), _from_two_class(gz, binary, z)


def hint_loss(name, l, z, lam, nominal_batch=None, temperature=4.0):
    """Dispatch to the hint named ``name`` (one of :data:`HINTS`)."""
    check_choice("hint", name, HINTS)
    if name == "logits_mse":
        return logits_mse(l, z, lam, nominal_batch)
    if name == "probs_mse":
        return probs_mse(l, z, lam, nominal_batch)
    return kd(l, z, temperature, lam, nominal_batch)
