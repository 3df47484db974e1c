"""Gradient check of the whole Rocket Launching objective (float64, sharing on).

Block off: finite differences of the total loss match every parameter's gradient.
Block on: finite differences of the SURROGATE loss, in which the booster logits inside the
hint are frozen at their current value z0, match every gradient (that is the definition of
a stop-gradient); and the booster-only gradients equal finite differences of CE(booster)
alone. BN runs in training mode, so the loss depends on the whole batch; that is fine.

The pairs use gamma_init="ones": gammas drawn from U[0, 1) can be tiny, which squeezes
ReLU inputs towards 0, where a finite difference straddles the kink.
"""
import numpy as np
import pytest

from minirocket.rocket import RocketObjective, rocket_step
from minirocket.rocket.step import ce_loss
from minirocket.testing import check_gradients
from tests.rocket._tiny import ctr_batch, image_batch, mlp_pair, teacher_wrn, wrn_pair


def forward_terms(pair, x, y, objective, z_frozen=None, teacher_logits=None):
    """Loss terms from the current parameters (no backward); hint uses z_frozen if given."""
    B, L = pair.booster, pair.light
    hb, _ = B.forward_stem(x, True)
    hl = hb if pair.stem_shared else L.forward_stem(x, True)[0]
    z, _ = B.forward_body(hb, True)
    l, _ = L.forward_body(hl, True)
    out = {"ce_light": float(ce_loss(L, l, y)[0]), "ce_booster": float(ce_loss(B, z, y)[0]),
           "hint": float(objective.hint_loss(l, z if z_frozen is None else z_frozen)[0])}
    if teacher_logits is not None:
        out["kd"] = float(objective.kd_loss(l, teacher_logits)[0])
    return out, z


def analytic(pair, x, y, objective, teacher=None):
    pair.zero_grad()
    res = rocket_step(pair, x, y, objective, teacher=teacher)
    grads = {n: p.dense_grad() for n, p in pair.named_parameters()}
    pair.zero_grad()
    return res, grads


def run_check(pair, x, y, objective, teacher=None, full_names=()):
    res, grads = analytic(pair, x, y, objective, teacher)
    t = None if teacher is None else teacher.predict(x)
    _, z0 = forward_terms(pair, x, y, objective)
    frozen = z0.copy() if objective.grad_block or teacher is not None else None

    def f():
        return sum(forward_terms(pair, x, y, objective, frozen, t)[0].values())

    tensors = {n: p.data for n, p in pair.named_parameters()}
    rep = check_gradients(f, tensors, grads, mode="directional", seed=11)
    assert rep.ok, rep.table()
    assert len(rep.checks) == len(tensors)
    if full_names:
        rep_full = check_gradients(f, {n: tensors[n] for n in full_names},
                                   {n: grads[n] for n in full_names}, mode="full")
        assert rep_full.ok, rep_full.table()
    return grads, res


FULL = ("light.fc.b", "light.bn.gamma", "booster.bn.beta", "light.group2.block0.bn1.gamma")


@pytest.mark.parametrize("share", ["interval", "bottom", "none"])
def test_block_off_total_loss_matches_every_gradient(share):
    pair = wrn_pair(share, gamma_init="ones")
    x, y = image_batch()
    full = [n for n in FULL if n in dict(pair.named_parameters())]
    run_check(pair, x, y, RocketObjective(lam=0.5, grad_block=False), full_names=full)


@pytest.mark.parametrize("share", ["interval", "bottom"])
def test_block_on_surrogate_matches_and_booster_only_is_ce_booster(share):
    pair = wrn_pair(share, gamma_init="ones")
    x, y = image_batch()
    obj = RocketObjective(lam=0.5, grad_block=True)
    grads, _ = run_check(pair, x, y, obj, full_names=[n for n in FULL if n in
                                                      dict(pair.named_parameters())])
    # Booster-only parameters: gradient == finite differences of CE(booster) alone.
    groups = pair.parameter_groups()
    b_only = {n: p.data for g in ("booster_body", "booster_head") for n, p in groups[g]}
    rep = check_gradients(lambda: forward_terms(pair, x, y, obj)[0]["ce_booster"], b_only,
                          {n: grads[n] for n in b_only}, mode="directional", seed=12)
    assert rep.ok, rep.table()


def test_block_on_differs_from_plain_total_loss():
    """Non-vacuity: with the block on the analytic gradient is NOT the total-loss gradient."""
    pair = wrn_pair("interval", gamma_init="ones")
    x, y = image_batch()
    obj = RocketObjective(lam=0.5, grad_block=True)
    _, grads = analytic(pair, x, y, obj)
    tensors = {"booster.fc.W": pair.booster.fc.W.data}
    rep = check_gradients(lambda: sum(forward_terms(pair, x, y, obj)[0].values()), tensors,
                          {"booster.fc.W": grads["booster.fc.W"]}, mode="directional", seed=1)
    assert not rep.ok


@pytest.mark.parametrize("hint", ["probs_mse", "kd"])
@pytest.mark.parametrize("grad_block", [True, False])
def test_other_hints(hint, grad_block):
    pair = wrn_pair("interval", seed=3, gamma_init="ones")
    x, y = image_batch(seed=4)
    run_check(pair, x, y, RocketObjective(hint=hint, lam=0.8, grad_block=grad_block,
                                          temperature=2.0))


def test_rocket_plus_kd_teacher_is_constant():
    pair = wrn_pair("interval", seed=5, gamma_init="ones")
    x, y = image_batch(seed=6)
    teacher = teacher_wrn()
    before = {n: p.data.copy() for n, p in teacher.named_parameters()}
    stats = {n: b.data.copy() for n, b in teacher.named_buffers()}
    run_check(pair, x, y, RocketObjective(lam=0.5, kd_alpha=0.9), teacher=teacher)
    assert all(p.grad is None for p in teacher.parameters())
    assert all(np.array_equal(before[n], p.data) for n, p in teacher.named_parameters())
    assert all(np.array_equal(stats[n], b.data) for n, b in teacher.named_buffers())


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("grad_block", [True, False])
def test_ctr_pair(output, grad_block):
    pair = mlp_pair(output)
    x, y = ctr_batch()
    grads, _ = run_check(pair, x, y, RocketObjective(lam=0.7, grad_block=grad_block),
                         full_names=("booster.embed.field1.E", "light.out.b"))
    assert pair.booster.embed.field0.E.grad is None      # zeroed after the analytic pass
