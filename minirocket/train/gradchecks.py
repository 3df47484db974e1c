"""``minirocket gradcheck``: finite-difference checks of every layer and of the rocket loss.

Everything runs in float64 with central differences (eps = 1e-6) and a random upstream
gradient. Inputs of ReLU-containing layers are drawn away from the kink.

Rocket objective (a booster WRN-16-1 and a light WRN-10-1 sharing convs, 8x8 inputs):

- gradient block OFF: finite differences of the total loss
  ``CE(l) + CE(z) + hint(l, z)`` match every parameter's analytic gradient;
- gradient block ON: finite differences of the *surrogate* loss, in which the booster logits
  inside the hint are frozen at their current value (the definition of a stop-gradient),
  match every gradient; and the booster-only parameters' gradients match finite differences
  of ``CE(z)`` alone (the hint never reaches them);
- the same for the CTR pair (shared embeddings, sigmoid output).
"""
import numpy as np


def _layer_cases(rng):
    from minirocket import layers as L
    f64 = np.float64

    def away_from_zero(shape):
        x = rng.standard_normal(shape)
        return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)

    drop = L.Dropout(0.5, seed=3)
    mask = (rng.random((3, 5)) >= 0.5) * 2.0
    cases = [
        ("Linear 4->3", L.Linear(4, 3, rng=1, dtype=f64), rng.standard_normal((3, 4)), {}),
        ("Conv2d 2->3 k3 s1 p1", L.Conv2d(2, 3, 3, stride=1, padding=1, rng=2, dtype=f64),
         rng.standard_normal((2, 2, 5, 5)), {}),
        ("Conv2d 2->2 k3 s2 p1 +bias", L.Conv2d(2, 2, 3, stride=2, padding=1, bias=True, rng=3,
                                                dtype=f64), rng.standard_normal((2, 2, 5, 5)), {}),
        ("Conv2d 2->3 k1 s2 (projection)", L.Conv2d(2, 3, 1, stride=2, rng=4, dtype=f64),
         rng.standard_normal((2, 2, 4, 4)), {}),
        ("BatchNorm (N, C)", L.BatchNorm(3, gamma_init="uniform", rng=5, dtype=f64),
         rng.standard_normal((4, 3)), {}),
        ("BatchNorm (N, C, H, W)", L.BatchNorm(2, gamma_init="uniform", rng=6, dtype=f64),
         rng.standard_normal((3, 2, 3, 3)), {}),
        ("ReLU", L.ReLU(), away_from_zero((3, 4)), {}),
        ("Dropout p=0.5 (fixed mask)", drop, rng.standard_normal((3, 5)), {"mask": mask}),
        ("AvgPool2d k2", L.AvgPool2d(2), rng.standard_normal((2, 2, 4, 4)), {}),
        ("GlobalAvgPool2d", L.GlobalAvgPool2d(), rng.standard_normal((2, 3, 3, 3)), {}),
        ("Flatten", L.Flatten(), rng.standard_normal((2, 2, 2, 3)), {}),
        ("Embedding 6x3 (repeated ids)", L.Embedding(6, 3, rng=7, dtype=f64),
         np.array([0, 2, 2, 5, 0], dtype=np.int64), {}),
        ("Sequential Linear-BN-ReLU-Linear",
         L.Sequential(L.Linear(4, 5, rng=8, dtype=f64), L.BatchNorm(5, dtype=f64), L.ReLU(),
                      L.Linear(5, 2, rng=9, dtype=f64)), rng.standard_normal((6, 4)), {}),
    ]
    return cases


def check_layers(seed=0):
    """``[(name, GradcheckReport)]`` for every layer type."""
    from minirocket.testing import check_module
    rng = np.random.default_rng(seed)
    out = []
    for name, module, x, kw in _layer_cases(rng):
        rep = check_module(module, x, seed=seed, check_input=x.dtype.kind == "f",
                           forward_kwargs=kw or None, raise_on_fail=False)
        out.append((name, rep))
    return out


def _forward_terms(pair, x, y, objective, z_frozen=None):
    from minirocket.rocket.step import ce_loss
    B, L = pair.booster, pair.light
    hb, _ = B.forward_stem(x, True)
    hl = hb if pair.stem_shared else L.forward_stem(x, True)[0]
    z, _ = B.forward_body(hb, True)
    l, _ = L.forward_body(hl, True)
    return {"ce_light": float(ce_loss(L, l, y)[0]), "ce_booster": float(ce_loss(B, z, y)[0]),
            "hint": float(objective.hint_loss(l, z if z_frozen is None else z_frozen)[0])}, z


def check_rocket(pair, x, y, objective, seed=0):
    """Reports for the rocket step on ``pair`` (see the module docstring)."""
    from minirocket.rocket import rocket_step
    from minirocket.testing import check_gradients
    pair.zero_grad()
    rocket_step(pair, x, y, objective)
    grads = {n: p.dense_grad() for n, p in pair.named_parameters()}
    pair.zero_grad()
    _, z0 = _forward_terms(pair, x, y, objective)
    frozen = z0.copy() if objective.grad_block else None
    tensors = {n: p.data for n, p in pair.named_parameters()}

    def total():
        return sum(_forward_terms(pair, x, y, objective, frozen)[0].values())

    what = "surrogate loss (z frozen in the hint)" if objective.grad_block else "total loss"
    out = [(f"rocket, block {'on' if objective.grad_block else 'off'}: {what}",
            check_gradients(total, tensors, grads, mode="directional", seed=seed))]
    if objective.grad_block:
        groups = pair.parameter_groups()
        b_only = {n: p.data for g in ("booster_body", "booster_head") for n, p in groups[g]}
        rep = check_gradients(lambda: _forward_terms(pair, x, y, objective)[0]["ce_booster"],
                              b_only, {n: grads[n] for n in b_only}, mode="directional",
                              seed=seed + 1)
        out.append(("rocket, block on: booster-only params vs CE(booster) alone", rep))
    return out


def check_rocket_pairs(seed=0):
    from minirocket.models import rocket_mlp, rocket_wrn
    from minirocket.rocket import RocketObjective
    rng = np.random.default_rng(seed + 100)
    out = []
    x = rng.standard_normal((4, 3, 8, 8))
    y = rng.integers(0, 10, 4)
    for block in (False, True):
        pair = rocket_wrn(10, 16, 1, 10, share="interval", rng=seed, dtype=np.float64)
        out += [(f"WRN pair (interval) {n}", r)
                for n, r in check_rocket(pair, x, y, RocketObjective(lam=0.5, grad_block=block),
                                         seed)]
    cat = np.stack([rng.integers(0, v, 6) for v in (7, 5, 9)], axis=1)
    num = rng.standard_normal((6, 2))
    yc = np.array([0, 1, 1, 0, 1, 0])
    for block in (False, True):
        pair = rocket_mlp([7, 5, 9], 2, embed_dim=3, booster_hidden=(12, 8), light_hidden=(6,),
                          rng=seed, dtype=np.float64)
        out += [(f"CTR pair {n}", r)
                for n, r in check_rocket(pair, (cat, num), yc,
                                         RocketObjective(lam=0.5, grad_block=block), seed)]
    return out


def run_all(seed=0):
    """Run every check; return ``(all_ok, printable table)``.

    A tensor passes if its relative error is at most rtol, or else its absolute error at
    most atol (a gradient that is about zero has a meaningless relative error). The table
    keeps the two apart: the worst relative error among the tensors that passed on it, and
    how many passed on the absolute error only.
    """
    rows = []
    results = check_layers(seed) + check_rocket_pairs(seed)
    width = max(len(n) for n, _ in results)
    header = (f"{'check':<{width}}  {'tensors':>7}  {'worst rel err':>13}  "
              f"{'abs-only':>8}  ok")
    rows.append(header)
    rows.append("-" * len(header))
    all_ok = True
    failures = []
    rtol = atol = None
    for name, rep in results:
        rtol, atol = rep.rtol, rep.atol
        by_rel = [c for c in rep.checks if c.rel_err <= rep.rtol]
        by_abs = [c for c in rep.checks if c.rel_err > rep.rtol and c.abs_err <= rep.atol]
        rel = max((c.rel_err for c in by_rel), default=0.0)
        ok = rep.ok
        all_ok &= ok
        rows.append(f"{name:<{width}}  {len(rep.checks):>7}  {rel:>13.2e}  {len(by_abs):>8}  "
                    f"{'yes' if ok else 'NO'}")
        if not ok:
            failures.append(f"\n{name}:\n{rep.table()}")
    rows.append("-" * len(header))
    rows.append(f"{len(results)} checks, float64 central differences (eps=1e-6, rtol={rtol:g}, "
                f"atol = the rounding floor of each difference, random upstream gradient; "
                f"abs-only: tensors whose gradient is about 0, passed on the absolute error): "
                f"{'all passed' if all_ok else 'FAILURES below'}")
    return all_ok, "\n".join(rows + failures)
