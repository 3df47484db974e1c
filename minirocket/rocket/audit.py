"""Gradient routing audit: which loss term reaches which parameter group.

Notation
--------
g_P^t gradient of parameter P from back-propagating loss term t alone,
||.|| Euclidean norm over all elements of all parameters of a group.

For every parameter group (see :meth:`minirocket.models.RocketPair.parameter_groups`)

============  ===========================================================================
shared        reachable from both nets (stem, shared convs / embedding tables)
booster_body  booster-only, outside the booster head
booster_head  booster head (bn + fc, or out)
light_bn      the light net's private BatchNorm outside its head
light_body    other light-only parameters outside the head (own convs / hidden layers)
light_head    light head (bn + fc, or out)
booster_only  = booster_body + booster_head            (aggregate)
light_only    = light_bn + light_body + light_head     (aggregate)
============  ===========================================================================

and every loss term (``ce_light``, ``ce_booster``, ``hint``, and ``kd`` with a teacher)
the report gives ``||g^t||`` over the group, computed on a float64 copy of the pair by
running :func:`minirocket.rocket.step.rocket_step` with ``terms=(t,)``. Gradients are
linear in the loss, so the per-term gradients must add up to the gradient of the full
step; the largest deviation is reported as ``residual``.

Expected routing (checked by :func:`routing_violations`):

- booster_only x hint is exactly 0.0 with the gradient block on, non-zero with it off;
- booster_only x ce_light and x kd are exactly 0.0 (the light loss never enters W_B);
- light_only x ce_booster is exactly 0.0 (always);
- shared x (ce_light, ce_booster, hint) are non-zero when something is shared;
- with the block on, the discarded hint gradient (``blocked_norm``) is non-zero, so the
  zero above is not vacuous;
- residual <= 1e-12 (relative, float64).
"""
import copy
import json

import numpy as np

from minirocket.errors import ArgumentTypeError
from minirocket.models.rocket_pair import RocketPair
from minirocket.rocket import step as _step
from minirocket.rocket.objective import TERMS, RocketObjective

GROUPS = ("shared", "booster_body", "booster_head", "light_bn", "light_body", "light_head")
AGGREGATES = {"booster_only": ("booster_body", "booster_head"),
              "light_only": ("light_bn", "light_body", "light_head")}
RESIDUAL_TOL = 1e-12

# Indirection so that a test can substitute the step (mutation check of the audit).
rocket_step = _step.rocket_step


class AuditReport:
    """Per-group x per-term gradient norms, the additivity residual and the settings.

    Attributes
    ----------
    norms : dict of str -> dict of str -> float
        ``norms[group][term]``; groups are :data:`GROUPS` plus the aggregates
        ``booster_only`` and ``light_only``; terms the back-propagated terms plus "total".
    sizes : dict of str -> int
        Number of scalars per group.
    params : dict of str -> list of str
        Parameter names (canonical dotted names) per group.
    residual : float
        ``||sum_t g^t - g^total|| / ||g^total||`` over all parameters.
    residual_abs : float
        Largest absolute element of ``sum_t g^t - g^total``.
    blocked_norm : float
        Norm of the hint gradient w.r.t. z discarded by the gradient block.
    losses : dict of str -> float
    settings : dict
        Objective settings, sharing layout and whether a teacher was used.
    """

    def __init__(self, norms, sizes, params, residual, residual_abs, blocked_norm, losses,
                 settings, terms):
        self.norms = norms
        self.sizes = sizes
        self.params = params
        self.residual = residual
        self.residual_abs = residual_abs
        self.blocked_norm = blocked_norm
        self.losses = losses
        self.settings = settings
        self.terms = tuple(terms)

    @property
    def grad_block(self):
        return self.settings["objective"]["grad_block"]

    def violations(self):
        """Broken routing rules (empty list when the routing is as documented)."""
        return routing_violations(self)

    @property
    def ok(self):
        return not self.violations()

    def to_dict(self):
        return {"settings": self.settings, "terms": list(self.terms), "losses": self.losses,
                "sizes": self.sizes, "norms": self.norms, "residual": self.residual,
                "residual_abs": self.residual_abs, "blocked_norm": self.blocked_norm,
                "violations": self.violations(), "params": self.params}

    def to_json(self, indent=2):
        """JSON text (machines): every number as a float, exact zeros as 0.0."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def table(self):
        """Fixed-width table (people): one row per group, one column per term."""
        cols = list(self.terms) + ["total"]
        s = self.settings
        head = (f"gradient routing audit: share={s.get('share')!r}, "
                f"grad_block={self.grad_block}, hint={s['objective']['hint']!r}, "
                f"lam={s['objective']['lam']:g}, teacher={s['teacher']}")
        lines = [head, f"{'group':<14} {'size':>9} " + " ".join(f"{c:>12}" for c in cols)]
        for g in list(GROUPS) + list(AGGREGATES):
            if g == "booster_only":
                lines.append("-" * len(lines[1]))
            row = self.norms[g]
            cells = " ".join("0.0".rjust(12) if row[c] == 0.0 else f"{row[c]:>12.4e}"
                             for c in cols)
            lines.append(f"{g:<14} {self.sizes[g]:>9} {cells}")
        lines.append("losses: " + ", ".join(f"{k}={v:.6g}" for k, v in self.losses.items()))
        lines.append(f"sum of per-term gradients vs full step: relative residual "
                     f"{self.residual:.2e}, max abs {self.residual_abs:.2e} "
                     f"(tolerance {RESIDUAL_TOL:g})")
        lines.append(f"hint gradient discarded by the block: {self.blocked_norm:.4e}")
        bad = self.violations()
        lines.append("routing: as documented" if not bad else "routing VIOLATIONS:\n  "
                     + "\n  ".join(bad))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def routing_violations(report):
    """List the documented routing rules that ``report`` breaks (see module docstring)."""
    n, bad = report.norms, []
    terms = report.terms

    def zero(group, term):
        if term in terms and report.sizes[group] and n[group][term] != 0.0:
            bad.append(f"{group} x {term} = {n[group][term]:.3e}, expected exactly 0.0")

    def nonzero(group, term):
        if term in terms and report.sizes[group] and not n[group][term] > 0.0:
            bad.append(f"{group} x {term} = {n[group][term]!r}, expected non-zero")

    lam = report.settings["objective"]["lam"]
    zero("light_only", "ce_booster")
    zero("booster_only", "ce_light")
    zero("booster_only", "kd")
    nonzero("shared", "ce_light")
    nonzero("shared", "ce_booster")
    nonzero("light_only", "ce_light")
    nonzero("booster_only", "ce_booster")
    if lam > 0:
        nonzero("shared", "hint")
        nonzero("light_only", "hint")
        if report.grad_block:
            zero("booster_only", "hint")
            if "hint" in terms and not report.blocked_norm > 0.0:
                bad.append("blocked hint gradient is 0: the block check would be vacuous")
        else:
            nonzero("booster_only", "hint")
    if not report.residual <= RESIDUAL_TOL:
        bad.append(f"per-term gradients do not add up to the full gradient: relative residual "
                   f"{report.residual:.3e} > {RESIDUAL_TOL:g}")
    return bad


def _grads(model):
    out = {}
    for name, p in model.named_parameters():
        g = p.dense_grad()
        out[name] = (np.zeros(p.data.shape) if g is None
                     else np.array(model.ops.to_numpy(g), dtype=np.float64))
    return out


def _to64(x):
    if isinstance(x, (tuple, list)):
        cat, num = x
        return (cat, num.astype(np.float64))
    return x.astype(np.float64)


def audit(pair, x, y, objective, teacher=None):
    """Back-propagate each loss term alone and report gradient norms per parameter group.

    Works on float64 deep copies (the caller's pair and teacher are untouched, including BN
    running statistics).

    Parameters
    ----------
    pair : RocketPair
    x, y : a batch (as for :func:`~minirocket.rocket.step.rocket_step`)
    objective : RocketObjective
    teacher : net, optional
        Adds the ``kd`` term (rocket + KD).

    Returns
    -------
    AuditReport
    """
    if not isinstance(pair, RocketPair):
        raise ArgumentTypeError(f"argument 'pair': expected a RocketPair, got "
                                f"{type(pair).__name__}")
    if not isinstance(objective, RocketObjective):
        raise ArgumentTypeError(f"argument 'objective': expected a RocketObjective, got "
                                f"{type(objective).__name__}")
    p64 = copy.deepcopy(pair).astype(np.float64)
    t64 = None if teacher is None else copy.deepcopy(teacher).astype(np.float64)
    x64 = _to64(x)
    terms = TERMS if teacher is not None else TERMS[:3]
    groups = p64.parameter_groups()

    per_term, blocked, losses = {}, 0.0, None
    for t in terms:
        p64.zero_grad()
        res = rocket_step(p64, x64, y, objective, teacher=t64, terms=(t,), check_grads=False)
        per_term[t] = _grads(p64)
        if t == "hint":
            blocked = res.blocked_norm
    p64.zero_grad()
    res = rocket_step(p64, x64, y, objective, teacher=t64, check_grads=False)
    total = _grads(p64)
    losses = res.losses
    p64.zero_grad()

    names = list(total)
    diff2 = sum(float(((sum(per_term[t][k] for t in terms) - total[k]) ** 2).sum())
                for k in names)
    tot2 = sum(float((total[k] ** 2).sum()) for k in names)
    residual = 0.0 if diff2 == 0.0 else float(np.sqrt(diff2) / max(np.sqrt(tot2), 1e-300))
    residual_abs = max((float(np.abs(sum(per_term[t][k] for t in terms) - total[k]).max())
                        for k in names if total[k].size), default=0.0)

    all_groups = dict(groups)
    for agg, parts in AGGREGATES.items():
        all_groups[agg] = [item for part in parts for item in groups[part]]
    norms, sizes, params = {}, {}, {}
    for g, items in all_groups.items():
        keys = [name for name, _ in items]
        params[g] = keys
        sizes[g] = int(sum(total[k].size for k in keys))
        row = {}
        for t, grads in list(per_term.items()) + [("total", total)]:
            row[t] = float(np.sqrt(sum(float((grads[k] ** 2).sum()) for k in keys)))
        norms[g] = row
    settings = {"arch": pair.arch.get("kind"), "share": pair.arch.get("share", "embedding"),
                "share_stem": pair.arch.get("share_stem", True),
                "objective": objective.to_dict(), "teacher": teacher is not None,
                "batch": int(y.shape[0])}
    return AuditReport(norms, sizes, params, residual, residual_abs, blocked, losses,
                       settings, terms)
