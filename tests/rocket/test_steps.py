"""Training steps: accumulation, validation, numerical errors, baselines, method registry."""
import numpy as np
import pytest

from minirocket import models
from minirocket.errors import ArgumentError, ArgumentTypeError, NumericalError
from minirocket.layers import StopGradient
from minirocket.rocket import (METHODS, RocketObjective, at_loss, at_step, ce_step,
                               check_finite_grads,
                               init_light_from_booster, kd_step, make_step, rocket_step,
                               two_stage_step)
from minirocket.rocket.step import ce_loss
from minirocket.testing import check_gradients
from tests.rocket._tiny import C, ctr_batch, image_batch, mlp_pair, teacher_wrn, wrn_pair


def _grads(m):
    return {n: p.dense_grad().copy() for n, p in m.named_parameters() if p.grad is not None}


def test_rocket_step_accumulates_and_reports_terms():
    pair = wrn_pair("interval")
    x, y = image_batch()
    pair.zero_grad()
    r1 = rocket_step(pair, x, y, RocketObjective())
    g1 = _grads(pair)
    # Same batch again: BN batch statistics are the same, so the gradient doubles.
    rocket_step(pair, x, y, RocketObjective())
    g2 = _grads(pair)
    assert all(np.allclose(g2[k], 2 * g1[k], rtol=1e-12, atol=1e-15) for k in g1)
    assert set(r1.losses) == {"ce_light", "ce_booster", "hint"}
    assert r1.total == pytest.approx(sum(r1.losses.values()))
    assert r1.light_logits.shape == (4, C) and r1.booster_logits.shape == (4, C)
    assert r1.blocked_norm > 0 and r1.terms == ("ce_light", "ce_booster", "hint")


def test_hint_value_matches_logits():
    pair = wrn_pair("bottom")
    x, y = image_batch()
    r = rocket_step(pair, x, y, RocketObjective(lam=0.03, nominal_batch=128))
    d = r.light_logits - r.booster_logits
    assert r.losses["hint"] == pytest.approx(0.03 * (d * d).sum() / 128, rel=1e-12)


def test_shared_stem_gradient_is_sum_of_branches():
    """The stem weight's gradient equals (booster-branch term) + (light-branch term)."""
    pair = wrn_pair("none", share_stem=True)
    x, y = image_batch()
    obj = RocketObjective(grad_block=True)
    per = {}
    for t in ("ce_booster", "ce_light", "hint"):
        pair.zero_grad()
        rocket_step(pair, x, y, obj, terms=(t,))
        per[t] = pair.booster.conv0.W.grad.copy()
    pair.zero_grad()
    rocket_step(pair, x, y, obj)
    total = pair.booster.conv0.W.grad
    assert np.allclose(total, per["ce_booster"] + per["ce_light"] + per["hint"], rtol=1e-12,
                       atol=1e-15)
    assert np.linalg.norm(per["ce_booster"]) > 0 and np.linalg.norm(per["ce_light"]) > 0


@pytest.mark.parametrize("bad,msg", [
    ("nan", r"argument 'x'.*finite"), ("shape", r"argument 'x'"),
    ("label", r"argument 'y'.*\[0, 10\)"), ("nlabels", r"argument 'y'.*4 labels"),
    ("ylabelfloat", r"argument 'y'")])
def test_step_input_validation(bad, msg):
    pair = wrn_pair()
    x, y = image_batch()
    if bad == "nan":
        x[1, 2, 3, 4] = np.nan
    elif bad == "shape":
        x = x[:, :, :, None]
    elif bad == "label":
        y[0] = 10
    elif bad == "nlabels":
        y = y[:3]
    else:
        y = y.astype(np.float64)
    with pytest.raises(ArgumentError, match=msg):
        rocket_step(pair, x, y, RocketObjective())


def test_step_argument_types():
    pair = wrn_pair()
    x, y = image_batch()
    with pytest.raises(ArgumentTypeError, match="objective"):
        rocket_step(pair, x, y, {"lam": 0.03})
    with pytest.raises(ArgumentTypeError, match="pair"):
        rocket_step(pair.light, x, y, RocketObjective())
    with pytest.raises(ArgumentError, match="terms"):
        rocket_step(pair, x, y, RocketObjective(), terms=("kd",))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_loss_names_net_term_and_step():
    pair = wrn_pair()
    x, y = image_batch()
    pair.light.fc.W.data[...] = np.inf
    with pytest.raises(NumericalError, match=r"'ce_light' of the light net .* at step 17"):
        rocket_step(pair, x, y, RocketObjective(), step=17)
    pair = wrn_pair()
    pair.booster.fc.b.data[0] = np.nan
    with pytest.raises(NumericalError, match="'ce_booster' of the booster net"):
        rocket_step(pair, x, y, RocketObjective())


def test_non_finite_gradient_names_parameter_and_net():
    pair = mlp_pair()
    x, y = ctr_batch()
    pair.zero_grad()
    rocket_step(pair, x, y, RocketObjective())
    check_finite_grads(pair, step=3)                       # all finite: no error
    pair.light.fc0.W.grad[0, 0] = np.nan
    with pytest.raises(NumericalError, match=r"'light.fc0.W' \(light net\).* at step 3"):
        check_finite_grads(pair, step=3)
    pair.zero_grad()
    rocket_step(pair, x, y, RocketObjective())
    pair.booster.embed.field1.E.grad.values[0, 0] = np.inf    # sparse row gradient
    with pytest.raises(NumericalError, match="'booster.embed.field1.E' \\(booster net\\)"):
        check_finite_grads(pair)


def test_ce_step_is_plain_cross_entropy_gradient():
    net = models.wrn(10, 1, C, rng=0, gamma_init="ones", dtype=np.float64)
    x, y = image_batch()
    net.zero_grad()
    r = ce_step(net, x, y, role="booster")
    assert set(r.losses) == {"ce"} and r.booster_logits is not None and r.light_logits is None
    tensors = {n: p.data for n, p in net.named_parameters()}
    rep = check_gradients(lambda: float(ce_loss(net, net.forward(x)[0], y)[0]), tensors,
                          {n: p.grad for n, p in net.named_parameters()}, mode="directional")
    assert rep.ok, rep.table()


def test_kd_step_authors_formula_and_gradients():
    student = models.wrn(10, 1, C, rng=0, gamma_init="ones", dtype=np.float64)
    teacher = teacher_wrn()
    x, y = image_batch()
    obj = RocketObjective(kd_alpha=0.9, kd_temperature=4.0)
    student.zero_grad()
    r = kd_step(student, x, y, teacher, obj)
    t = teacher.predict(x)
    T = 4.0
    s = np.exp(r.light_logits / T)
    s /= s.sum(1, keepdims=True)
    q = np.exp(t / T)
    q /= q.sum(1, keepdims=True)
    kl_elem = (q * (np.log(q) - np.log(s))).mean()
    assert r.losses["kd"] == pytest.approx(kl_elem * T * T * 2 * 0.9, rel=1e-10)
    assert r.losses["ce_light"] == pytest.approx(
        0.1 * float(ce_loss(student, r.light_logits, y)[0]), rel=1e-12)

    def f():
        lo = student.forward(x)[0]
        return float(obj.kd_loss(lo, t)[0]) + 0.1 * float(ce_loss(student, lo, y)[0])

    rep = check_gradients(f, {n: p.data for n, p in student.named_parameters()},
                          {n: p.grad for n, p in student.named_parameters()},
                          mode="directional")
    assert rep.ok, rep.table()
    assert all(p.grad is None for p in teacher.parameters())


def test_at_loss_gradient_full():
    rng = np.random.default_rng(0)
    fs, ft = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 5, 4, 4))
    _, g = at_loss(fs, ft, beta=7.0)
    rep = check_gradients(lambda: float(at_loss(fs, ft, 7.0)[0]), {"fs": fs}, {"fs": g},
                          mode="full", full_max_size=100)
    assert rep.ok, rep.table()


def test_at_step_gradients():
    student = models.wrn(10, 1, C, rng=0, gamma_init="ones", dtype=np.float64)
    teacher = teacher_wrn()
    x, y = image_batch()
    student.zero_grad()
    r = at_step(student, x, y, teacher, beta=1e3)
    assert r.losses["at"] > 0
    _, ft, _ = teacher.forward_features(x, False)

    def f():
        lo, fs, _ = student.forward_features(x)
        return float(ce_loss(student, lo, y)[0]) + sum(float(at_loss(a, b, 1e3)[0])
                                                       for a, b in zip(fs, ft))

    rep = check_gradients(f, {n: p.data for n, p in student.named_parameters()},
                          {n: p.grad for n, p in student.named_parameters()},
                          mode="directional")
    assert rep.ok, rep.table()


def test_two_stage_initialises_from_booster_and_keeps_it_fixed():
    booster = teacher_wrn()
    light = models.wrn(10, 1, C, rng=3, dtype=np.float64)
    copied = init_light_from_booster(light, booster)
    assert "conv0" in copied and "group1.block0.convdim" in copied
    assert "group0.block1.conv0" not in copied          # light has one block per group
    assert np.array_equal(light.group2.block0.conv1.W.data, booster.group2.block0.conv1.W.data)
    assert light.group2.block0.conv1.W is not booster.group2.block0.conv1.W   # copied, not tied
    assert not np.array_equal(light.group0.block0.bn0.gamma.data,
                              booster.group0.block0.bn0.gamma.data)
    x, y = image_batch()
    before = booster.state_dict()
    r = two_stage_step(light, x, y, booster, RocketObjective(lam=0.5))
    d = r.light_logits - booster.predict(x)
    assert r.losses["hint"] == pytest.approx(0.5 * (d * d).sum() / 4, rel=1e-12)
    assert all(np.array_equal(v, booster.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in booster.parameters())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_one_step(method):
    spec = METHODS[method]
    x, y = image_batch()
    model = wrn_pair("interval") if spec.model == "pair" else \
        models.wrn(10, 1, C, rng=0, dtype=np.float64)
    teacher = teacher_wrn() if spec.needs_teacher else None
    step = make_step(method, RocketObjective())
    model.zero_grad()
    r = step(model, x, y, teacher=teacher, step=1)
    assert np.isfinite(r.total) and r.total == pytest.approx(sum(r.losses.values()))
    assert any(p.grad is not None for p in model.parameters())
    if teacher is not None:
        assert all(p.grad is None for p in teacher.parameters())
    if spec.needs_teacher:
        with pytest.raises(ArgumentError, match="teacher"):
            step(model, x, y)
    else:
        with pytest.raises(ArgumentError, match="teacher"):
            step(model, x, y, teacher=teacher_wrn())


def test_methods_on_pairs_train_the_right_net():
    pair = wrn_pair("none", share_stem=False)
    x, y = image_batch()
    pair.zero_grad()
    make_step("booster_only")(pair, x, y)
    assert all(p.grad is None for p in pair.light.parameters())
    pair.zero_grad()
    make_step("light_only")(pair, x, y)
    assert all(p.grad is None for p in pair.booster.parameters())
    with pytest.raises(ArgumentTypeError, match="two_stage"):
        make_step("two_stage")(pair, x, y, teacher=teacher_wrn())
    with pytest.raises(ArgumentError, match="method"):
        make_step("fitnet")


def test_stop_gradient_node():
    sg = StopGradient(active=True)
    z = np.arange(6.0).reshape(2, 3)
    y, ctx = sg.forward(z)
    assert y is z
    assert sg.backward(ctx, np.ones((2, 3))) is None
    assert sg.last_blocked_norm == pytest.approx(6 ** 0.5)
    off = StopGradient(active=False)
    g = np.ones((2, 3))
    assert off.backward(off.forward(z)[1], g) is g and off.last_blocked_norm == 0.0
    with pytest.raises(ArgumentTypeError, match="active"):
        StopGradient(active="True")


def test_shared_stem_is_computed_once_per_step(monkeypatch):
    pair = wrn_pair("interval")
    x, y = image_batch()
    calls = []
    real = pair.booster.conv0.forward

    def counting(inp, train=True):
        calls.append(train)
        return real(inp, train)

    monkeypatch.setattr(pair.booster.conv0, "forward", counting)
    rocket_step(pair, x, y, RocketObjective())
    assert calls == [True]


def test_a_few_sgd_steps_fit_a_toy_task():
    """End to end: rocket steps + SGD lower both CEs and the hint on a separable toy task."""
    from minirocket.optim import SGD
    rng = np.random.default_rng(0)
    pair = models.rocket_mlp([4, 3], 2, embed_dim=3, booster_hidden=(16, 16),
                             light_hidden=(8,), output="softmax", rng=0, dtype=np.float64)
    cat = np.stack([rng.integers(0, 4, 64), rng.integers(0, 3, 64)], axis=1)
    num = rng.standard_normal((64, 2))
    y = ((cat[:, 0] >= 2) ^ (num[:, 0] > 0)).astype(np.int64)
    opt = SGD(pair.named_parameters(), 0.1, weight_decay=0.0)
    first = last = None
    for i in range(60):
        pair.zero_grad()
        r = rocket_step(pair, (cat, num), y, RocketObjective(lam=0.1), step=i)
        opt.step()
        first = first or r.losses
        last = r.losses
    assert last["ce_light"] < 0.7 * first["ce_light"]
    assert last["ce_booster"] < 0.7 * first["ce_booster"]
