"""Training steps: the Rocket Launching graph written out by hand, and the baselines.

Notation
--------
x input, y labels, h stem output, z booster logits, l light logits, t teacher logits,
gz, gl gradients of the loss w.r.t. z and l, gh gradient w.r.t. h,
W_S shared, W_B booster-only, W_L light-only parameters.

Every step runs forward, the losses and backward, and ACCUMULATES parameter gradients
(``param.grad``); the caller zeroes the gradients before and steps the optimizer after::

    model.zero_grad()
    res = rocket_step(pair, x, y, objective)
    optimizer.step()

The rocket step (paper Eq. 1, Fig. 2; authors' ``rocket_interval.py``):

1. ``h = stem(x)`` once when the stem is shared (it is literally shared: the authors
   compute ``x = conv0(input)`` once and feed both nets).
2. ``z = booster_body(h)``, ``l = light_body(h)``; the shared block convs run inside each
   body with that body's own BN.
3. Losses, each with the gradient w.r.t. its logits:
   ``gz_ce = (q - y)/B``, ``gl_ce = (p - y)/B``, hint ``(gl_hint, gz_hint)``,
   KD ``gl_kd`` (teacher logits are data, never differentiated).
4. ``gl = gl_ce + gl_hint [+ gl_kd]``; ``gz = gz_ce [+ gz_hint if the block is off]``
   (the gradient-block line).
5. ``gh_from_booster = booster_body^T gz``, ``gh_from_light = light_body^T gl``.
6. ``gh = gh_from_booster + gh_from_light`` (the shared-gradient line: h fans out to two
   branches, so its gradient is the sum of both).
7. ``stem^T gh``.

Shared conv weights inside the blocks (interval / bottom layouts) are *used* in both
bodies; each use accumulates its own gradient into the same Parameter, so their total
gradient is also the sum of the two branches, formed by accumulation in step 5.
"""
from dataclasses import dataclass, field

import numpy as np

from minirocket.core.parameter import RowGrad
from minirocket.errors import ArgumentError, ArgumentTypeError, NumericalError
from minirocket.losses.sigmoid_bce import sigmoid_binary_cross_entropy
from minirocket.losses.softmax_ce import softmax_cross_entropy
from minirocket.models.rocket_pair import RocketPair
from minirocket.rocket.objective import TERMS, RocketObjective
from minirocket.validate import check_array, check_float


@dataclass
class StepResult:
    """What a training step returns.

    Attributes
    ----------
    losses : dict of str -> float
        Each term's value as it enters the total (weights applied):
        ``ce_light, ce_booster, hint, kd`` (rocket); ``ce`` (plain CE);
        ``ce_light, kd`` (KD baseline); ``ce_light, hint`` (two-stage); ``ce_light, at`` (AT).
    total : float
        Sum of ``losses``.
    light_logits, booster_logits : array or None
        Logits computed in the step (training mode). A single-net step fills the one that
        matches the net it trained.
    blocked_norm : float
        Norm of the hint's gradient w.r.t. z that the gradient block discarded (0 when the
        block is off or the hint is not back-propagated).
    terms : tuple of str
        The terms that were back-propagated.
    """
    losses: dict
    total: float
    light_logits: object = None
    booster_logits: object = None
    blocked_norm: float = 0.0
    terms: tuple = field(default_factory=tuple)

    @property
    def logits(self):
        return self.light_logits if self.light_logits is not None else self.booster_logits


# ---------------------------------------------------------------------------------- checks
def check_labels(y, n, num_classes, xp, output="softmax", name="y"):
    """Integer labels of shape (n,) in [0, num_classes) ({0, 1} for a sigmoid output)."""
    check_array(name, y, ndim=1, dtype_kind="iu", xp=xp)
    if y.shape[0] != n:
        raise ArgumentError(f"argument '{name}': expected {n} labels (one per input row), got "
                            f"{y.shape[0]}")
    hi_ok = 2 if output == "sigmoid" else num_classes
    if n:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= hi_ok:
            raise ArgumentError(f"argument '{name}': expected values in [0, {hi_ok}), got "
                                f"{lo if lo < 0 else hi}")
    return y


def _batch_size(x):
    return x[0].shape[0] if isinstance(x, (tuple, list)) else x.shape[0]


def _check_net(name, net):
    for attr in ("forward_stem", "forward_body", "backward_body", "backward_stem"):
        if not hasattr(net, attr):
            raise ArgumentTypeError(f"argument '{name}': expected a network (WRN or MLP), got "
                                    f"{type(net).__name__}")
    return net


def _check_objective(objective):
    if not isinstance(objective, RocketObjective):
        raise ArgumentTypeError(f"argument 'objective': expected a RocketObjective, got "
                                f"{type(objective).__name__}")
    return objective


def _check_terms(terms, allowed):
    if terms is None:
        return tuple(allowed)
    if isinstance(terms, str):
        terms = (terms,)
    terms = tuple(terms)
    bad = [t for t in terms if t not in allowed]
    if bad:
        raise ArgumentError(f"argument 'terms': expected a subset of {list(allowed)}, got "
                            f"{bad[0]!r}")
    return terms


def _finite(value, term, net, step):
    v = float(value)
    if not np.isfinite(v):
        where = f" at step {step}" if step is not None else ""
        raise NumericalError(f"loss term '{term}' of the {net} net is {v}{where} (lower the "
                             f"learning rate or check the input data)")
    return v


def check_finite_grads(model, step=None, terms=None):
    """Raise :class:`NumericalError` naming the first parameter with a NaN/Inf gradient."""
    for name, p in model.named_parameters():
        g = p.grad
        if g is None:
            continue
        vals = g.values if isinstance(g, RowGrad) else g
        xp = model.ops.xp
        if not bool(xp.isfinite(vals).all()):
            net = name.split(".")[0] if isinstance(model, RocketPair) else type(model).__name__
            where = f" at step {step}" if step is not None else ""
            after = f" after back-propagating {list(terms)}" if terms else ""
            raise NumericalError(f"gradient of parameter '{name}' ({net} net) is not finite"
                                 f"{where}{after}")


def ce_loss(net, logits, y):
    """``(value, g_logits)``: softmax CE (mean over the batch), or binary CE for sigmoid nets."""
    if getattr(net, "output", "softmax") == "sigmoid":
        return sigmoid_binary_cross_entropy(logits, y)
    return softmax_cross_entropy(logits, y)


def _zeros(a):
    return a * a.dtype.type(0)


# ---------------------------------------------------------------------------------- rocket
def rocket_step(pair, x, y, objective, teacher=None, terms=None, step=None, check_grads=True):
    """One Rocket Launching step: forward both nets, Eq. (1), backward with routing.

    Parameters
    ----------
    pair : RocketPair
    x : array (N, C, H, W) float, or (cat int (N, F), num float (N, M)) for CTR pairs
    y : int array (N,)
    objective : RocketObjective
    teacher : net, optional
        A pre-trained teacher (rocket + KD): run with ``train=False`` (BN running stats),
        never differentiated; adds the authors' KD term ``2 alpha T^2 KL`` to the light net.
        The authors always block in this mode; ``objective.grad_block=False`` with a
        teacher is refused rather than silently ignored.
    terms : sequence of str, optional
        Subset of ``("ce_light", "ce_booster", "hint", "kd")`` to back-propagate (all the
        computed terms by default). All values are still computed and reported; the
        routing audit back-propagates one term at a time.
    step : int, optional
        Step number, quoted in :class:`NumericalError` messages.
    check_grads : bool
        After backward, raise if any parameter gradient is NaN/Inf.

    Returns
    -------
    StepResult
        ``losses`` has ``ce_light, ce_booster, hint`` (+ ``kd`` with a teacher).
    """
    if not isinstance(pair, RocketPair):
        raise ArgumentTypeError(f"argument 'pair': expected a RocketPair, got "
                                f"{type(pair).__name__}")
    objective = _check_objective(objective)
    if teacher is not None:
        _check_net("teacher", teacher)
        if not objective.grad_block:
            raise ArgumentError("argument 'objective.grad_block': expected True with a teacher "
                                "(rocket + KD always blocks the hint, as the authors' code), "
                                "got False")
    computed = TERMS if teacher is not None else TERMS[:3]
    terms = _check_terms(terms, computed)
    B, L = pair.booster, pair.light
    xp = B.ops.xp
    pair.check_x(x)
    check_labels(y, _batch_size(x), getattr(B, "num_classes", 2), xp, B.output)

    # 1. Stem. When shared, h is computed ONCE and feeds both branches.
    hb, c_stem_b = B.forward_stem(x, True)
    if pair.stem_shared:
        hl, c_stem_l = hb, None
    else:
        hl, c_stem_l = L.forward_stem(x, True)
    # 2. The two bodies (shared block convs run in both, each with its own BN).
    z, c_body_b = B.forward_body(hb, True)
    l, c_body_l = L.forward_body(hl, True)

    # 3. Losses, each with the gradient w.r.t. its logits.
    ce_l, gl_ce = ce_loss(L, l, y)
    ce_b, gz_ce = ce_loss(B, z, y)
    hint, gl_hint, gz_hint = objective.hint_loss(l, z)
    losses = {"ce_light": _finite(ce_l, "ce_light", "light", step),
              "ce_booster": _finite(ce_b, "ce_booster", "booster", step),
              "hint": _finite(hint, "hint", "light", step)}
    gl_kd = None
    if teacher is not None:
        t = teacher.predict(x)                      # eval mode, constant: no gradient to t
        kd, gl_kd = objective.kd_loss(l, t)
        losses["kd"] = _finite(kd, "kd", "light", step)

    # 4. Route the logit gradients (only the selected terms).
    gl = _zeros(l)
    if "ce_light" in terms:
        gl = gl + gl_ce
    if "hint" in terms:
        gl = gl + gl_hint
    if "kd" in terms:
        gl = gl + gl_kd
    gz_ce_booster = gz_ce if "ce_booster" in terms else _zeros(z)
    gz_hint = gz_hint if "hint" in terms else _zeros(z)
    # GRADIENT BLOCK (paper Fig. 2; stop-gradient on z inside the hint, ambiguity A1): with
    # the block on, the hint's gradient w.r.t. z is DROPPED, so the booster head, the
    # booster body and, through them, the shared layers get no hint gradient from the
    # booster side; the booster learns from CE(y, q) alone. Off: it also flows into z.
    gz = gz_ce_booster if objective.grad_block else gz_ce_booster + gz_hint
    blocked = float(xp.sqrt((gz_hint * gz_hint).sum())) if objective.grad_block else 0.0

    # 5. Back-propagate each branch down to the stem output.
    gh_from_booster = B.backward_body(c_body_b, gz)
    gh_from_light = L.backward_body(c_body_l, gl)
    # 6.-7. Stem.
    if pair.stem_shared:
        # SHARED-GRADIENT SUM (fan-out rule): h feeds both branches, so dL/dh is the sum of
        # the gradient arriving from the booster branch and from the light branch.
        gh = gh_from_booster + gh_from_light
        B.backward_stem(c_stem_b, gh)
    else:
        B.backward_stem(c_stem_b, gh_from_booster)
        L.backward_stem(c_stem_l, gh_from_light)
    if check_grads:
        check_finite_grads(pair, step, terms)
    return StepResult(losses, float(sum(losses.values())), l, z, blocked, terms)


# ---------------------------------------------------------------------------------- baselines
def ce_step(net, x, y, step=None, check_grads=True, role="light"):
    """Plain cross-entropy step for one net (base light net, booster alone, teachers).

    ``losses = {"ce": CE(y, net(x))}``. ``role`` says which logits field of the result to
    fill ("light" or "booster").
    """
    _check_net("net", net)
    xp = net.ops.xp
    net.check_x(x)
    check_labels(y, _batch_size(x), getattr(net, "num_classes", 2), xp, net.output)
    logits, ctx = net.forward(x, True)
    ce, g = ce_loss(net, logits, y)
    losses = {"ce": _finite(ce, "ce", role, step)}
    net.backward(ctx, g)
    if check_grads:
        check_finite_grads(net, step)
    if role == "booster":
        return StepResult(losses, losses["ce"], None, logits, 0.0, ("ce",))
    return StepResult(losses, losses["ce"], logits, None, 0.0, ("ce",))


def _student_forward(name, student, x, y, teacher, objective):
    """Shared start of the steps that learn from a fixed teacher (KD, two-stage).

    Validates the arguments, takes the teacher's eval-mode logits ``t`` (constants: no
    gradient goes to the teacher) and runs the student forward with its CE.

    Returns
    -------
    objective, t, l, ctx, ce, gl_ce
    """
    _check_net(name, student)
    _check_net("teacher", teacher)
    objective = _check_objective(objective)
    student.check_x(x)
    check_labels(y, _batch_size(x), getattr(student, "num_classes", 2), student.ops.xp,
                 student.output)
    t = teacher.predict(x)
    l, ctx = student.forward(x, True)
    ce, gl_ce = ce_loss(student, l, y)
    return objective, t, l, ctx, ce, gl_ce


def kd_step(student, x, y, teacher, objective, step=None, check_grads=True):
    """KD baseline (Hinton et al.; authors' ``utils.distillation``, notes 3.4 item 6).

    .. math:: \\mathcal{L} = 2\\alpha T^2\\, \\mathrm{mean}_{n,k}\\, r(\\log r - \\log s)
              + (1 - \\alpha)\\, H(y, p)

    with s = softmax(l/T), r = softmax(t/T), t the teacher's eval-mode logits (constant).
    ``alpha = objective.kd_alpha`` (0.9), ``T = objective.kd_temperature`` (4).
    ``losses = {"kd": ..., "ce_light": (1 - alpha) * CE}``.
    """
    objective, t, l, ctx, ce, gl_ce = _student_forward("student", student, x, y, teacher,
                                                       objective)
    kd, gl_kd = objective.kd_loss(l, t)
    w = 1.0 - objective.kd_alpha
    losses = {"kd": _finite(kd, "kd", "light", step),
              "ce_light": _finite(ce, "ce_light", "light", step) * w}
    student.backward(ctx, gl_kd + gl_ce * l.dtype.type(w))
    if check_grads:
        check_finite_grads(student, step)
    return StepResult(losses, float(sum(losses.values())), l, None, 0.0, ("kd", "ce_light"))


def init_light_from_booster(light, booster, include_bn=False):
    """Copy the booster's conv weights into a separate light net (two-stage baseline).

    Every ``Conv2d`` of ``light`` whose path also exists in ``booster`` with the same
    weight shape gets a copy of the booster's weights: for the interval layout this is the
    stem and the first m blocks of each group, for the bottom layout the stem and groups
    0-1. The arrays are copied, not tied: training the light net afterwards leaves the
    booster (the fixed teacher) untouched. ``include_bn`` also copies matching BN
    parameters and running statistics.

    Returns
    -------
    list of str
        The light-net paths whose arrays were copied.
    """
    from minirocket.layers.batchnorm import BatchNorm
    from minirocket.layers.conv2d import Conv2d
    kinds = (Conv2d, BatchNorm) if include_bn else (Conv2d,)
    b_mods = dict(booster.named_modules())
    copied = []
    for path, m in light.named_modules():
        if not isinstance(m, kinds) or path not in b_mods:
            continue
        src = b_mods[path]
        if type(src) is not type(m):
            continue
        pairs = list(zip(m._params.values(), src._params.values()))
        pairs += list(zip(m._buffers.values(), src._buffers.values()))
        if any(a.data.shape != b.data.shape for a, b in pairs):
            continue
        for a, b in pairs:
            a.data = light.ops.asarray(booster.ops.to_numpy(b.data).astype(a.data.dtype,
                                                                           copy=True))
        copied.append(path)
    return copied


def two_stage_step(light, x, y, teacher, objective, step=None, check_grads=True):
    """"No joint training" ablation (Table 2): CE + hint toward a FIXED trained booster.

    The booster was trained first (``ce_step``) and the light net initialised from its
    shared layers (:func:`init_light_from_booster`). Here ``t = teacher(x)`` in eval mode is
    a constant, so the hint's gradient w.r.t. t is not used (nothing to block).
    ``losses = {"ce_light", "hint"}``.
    """
    objective, t, l, ctx, ce, gl_ce = _student_forward("light", light, x, y, teacher,
                                                       objective)
    hint, gl_hint, _ = objective.hint_loss(l, t)   # t is data: its gradient is discarded
    losses = {"ce_light": _finite(ce, "ce_light", "light", step),
              "hint": _finite(hint, "hint", "light", step)}
    light.backward(ctx, gl_ce + gl_hint)
    if check_grads:
        check_finite_grads(light, step)
    return StepResult(losses, float(sum(losses.values())), l, None, 0.0, ("ce_light", "hint"))


# ---------------------------------------------------------------------------------- AT
def attention_map(f, eps=1e-12):
    """AT's spatial attention ``a = m / max(||m||, eps)``, ``m = mean_c(f^2)`` flattened.

    Parameters
    ----------
    f : array (N, C, H, W)

    Returns
    -------
    a : (N, H*W), m : (N, H*W), norm : (N, 1)
    """
    xp_sq = f * f
    m = xp_sq.mean(axis=1).reshape(f.shape[0], -1)
    norm = (m * m).sum(axis=1, keepdims=True) ** 0.5
    norm = norm.clip(min=eps)
    return m / norm, m, norm


def at_loss(fs, ft, beta=1.0):
    """``beta * mean((a(fs) - a(ft))^2)`` and its gradient w.r.t. ``fs`` (ft is constant).

    .. math::
        \\frac{\\partial}{\\partial a_s} = \\frac{2\\beta}{N HW}(a_s - a_t), \\quad
        g_m = \\frac{g_a - a_s (a_s \\cdot g_a)}{\\|m\\|}, \\quad
        g_{f} = g_m \\cdot \\frac{2 f}{C}

    (the normalisation's Jacobian applies where ||m|| > eps, always on real activations).
    """
    if fs.shape[0] != ft.shape[0] or fs.shape[2:] != ft.shape[2:]:
        raise ArgumentError(f"argument 'ft': expected the batch and spatial size of the "
                            f"student's group output {tuple(fs.shape)}, got {tuple(ft.shape)}")
    a_s, _, norm = attention_map(fs)
    a_t, _, _ = attention_map(ft)
    d = a_s - a_t
    value = (d * d).mean() * fs.dtype.type(beta)
    ga = d * fs.dtype.type(2.0 * beta / d.size)
    gm = (ga - a_s * (a_s * ga).sum(axis=1, keepdims=True)) / norm
    N, C, H, W = fs.shape
    gf = gm.reshape(N, 1, H, W) * fs * fs.dtype.type(2.0 / C)
    return value, gf


def at_step(student, x, y, teacher, beta=1e3, step=None, check_grads=True):
    """Attention-transfer baseline (Zagoruyko & Komodakis; notes 3.4 item 7).

    .. math:: \\mathcal{L} = H(y, p) + \\beta \\sum_{g} \\mathrm{mean}((a(s_g) - a(t_g))^2)

    over the group outputs s_g, t_g of student and teacher (teacher in eval mode, constant).
    ``losses = {"ce_light", "at"}``.
    """
    _check_net("student", student)
    _check_net("teacher", teacher)
    beta = check_float("beta", beta, min_value=0.0)
    for name, net in (("student", student), ("teacher", teacher)):
        if not hasattr(net, "forward_features"):
            raise ArgumentTypeError(f"argument '{name}': expected a WRN (with group outputs "
                                    f"for attention transfer), got {type(net).__name__}")
    xp = student.ops.xp
    student.check_x(x)
    check_labels(y, _batch_size(x), student.num_classes, xp)
    _, feats_t, _ = teacher.forward_features(x, False)
    l, feats_s, ctx = student.forward_features(x, True)
    if len(feats_s) != len(feats_t):
        raise ArgumentError(f"argument 'teacher': expected {len(feats_s)} groups like the "
                            f"student, got {len(feats_t)}")
    ce, gl = ce_loss(student, l, y)
    at_total, g_feats = 0.0, []
    for fs, ft in zip(feats_s, feats_t):
        v, gf = at_loss(fs, ft, beta)
        at_total += float(v)
        g_feats.append(gf)
    losses = {"ce_light": _finite(ce, "ce_light", "light", step),
              "at": _finite(at_total, "at", "light", step)}
    student.backward_features(ctx, gl, g_feats)
    if check_grads:
        check_finite_grads(student, step)
    return StepResult(losses, float(sum(losses.values())), l, None, 0.0, ("ce_light", "at"))
