"""Optimizers and schedule: hand-computed updates, exclusions, sparse rows, state dicts."""
import numpy as np
import pytest

from minirocket.core import Parameter
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError
from minirocket.optim import SGD, Adam, MultiStepLR
from minirocket.rocket import RocketObjective, rocket_step
from tests.rocket._tiny import ctr_batch, image_batch, mlp_pair, wrn_pair


def _params():
    w = Parameter("W", np.array([[1.0, -2.0], [0.5, 3.0]]))
    b = Parameter("b", np.array([0.1, -0.2]), kind="bias")
    g = Parameter("gamma", np.array([1.0, 0.5]), kind="bn")
    return [("fc.W", w), ("fc.b", b), ("bn.gamma", g)]


GRADS = [{"fc.W": np.array([[0.1, 0.2], [-0.3, 0.4]]), "fc.b": np.array([1.0, -1.0]),
          "bn.gamma": np.array([0.5, 0.25])},
         {"fc.W": np.array([[-0.2, 0.1], [0.0, 0.3]]), "fc.b": np.array([0.5, 0.5]),
          "bn.gamma": np.array([-0.5, 1.0])},
         {"fc.W": np.array([[0.3, -0.1], [0.2, 0.2]]), "fc.b": np.array([-1.0, 0.0]),
          "bn.gamma": np.array([0.0, 0.5])}]


def _run(opt, params, steps=3):
    for gs in GRADS[:steps]:
        for n, p in params:
            p.zero_grad()
            p.accumulate(gs[n])
        opt.step()


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("decay_all", [True, False])
def test_sgd_matches_hand_computation(nesterov, decay_all):
    params = _params()
    start = {n: p.data.copy() for n, p in params}
    lr, mu, wd = 0.1, 0.9, 5e-4
    opt = SGD(params, lr, momentum=mu, nesterov=nesterov, weight_decay=wd,
              decay_bn_and_bias=decay_all)
    _run(opt, params)
    for n, p in params:
        w, buf = start[n].copy(), None
        wdn = wd if (decay_all or n == "fc.W") else 0.0
        for gs in GRADS:
            d = gs[n] + wdn * w
            buf = d if buf is None else mu * buf + d
            w = w - lr * ((d + mu * buf) if nesterov else buf)
        assert np.allclose(p.data, w, rtol=1e-14, atol=1e-16), n


def test_weight_decay_exclusion_is_real():
    a, b = _params(), _params()
    oa = SGD(a, 0.1, weight_decay=0.5, decay_bn_and_bias=True)
    ob = SGD(b, 0.1, weight_decay=0.5, decay_bn_and_bias=False)
    _run(oa, a, 1)
    _run(ob, b, 1)
    da, db = dict(a), dict(b)
    assert np.array_equal(da["fc.W"].data, db["fc.W"].data)
    assert not np.array_equal(da["fc.b"].data, db["fc.b"].data)
    assert not np.array_equal(da["bn.gamma"].data, db["bn.gamma"].data)
    assert ob.decay_of(db["bn.gamma"]) == 0.0 and ob.decay_of(db["fc.W"]) == 0.5


def test_adam_matches_hand_computation():
    params = _params()
    start = {n: p.data.copy() for n, p in params}
    lr, (b1, b2), eps, wd = 0.01, (0.9, 0.999), 1e-8, 1e-2
    opt = Adam(params, lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    _run(opt, params)
    for n, p in params:
        w, m, v = start[n].copy(), 0.0, 0.0
        for t, gs in enumerate(GRADS, 1):
            d = gs[n] + wd * w
            m = b1 * m + (1 - b1) * d
            v = b2 * v + (1 - b2) * d * d
            w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        assert np.allclose(p.data, w, rtol=1e-12, atol=1e-15), n


def test_parameters_without_gradient_or_frozen_are_not_touched():
    params = _params()
    params[1][1].trainable = False
    opt = SGD(params, 0.1)
    for n, p in params:
        p.accumulate(GRADS[0][n])
    params[2][1].zero_grad()
    before = {n: p.data.copy() for n, p in params}
    opt.step()
    assert np.array_equal(params[1][1].data, before["fc.b"])
    assert np.array_equal(params[2][1].data, before["bn.gamma"])
    assert not np.array_equal(params[0][1].data, before["fc.W"])


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_sparse_rows_lazy_update(opt_cls):
    from minirocket.backend import get_backend
    ops = get_backend("numpy")
    E = Parameter("E", np.arange(12.0).reshape(6, 2))
    opt = opt_cls([("embed.E", E)], 0.1, weight_decay=0.01)
    dense_twin = Parameter("E", E.data.copy())
    twin = opt_cls([("embed.E", dense_twin)], 0.1, weight_decay=0.01)
    idx = np.array([1, 4, 1])
    rows = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5]])
    E.accumulate_rows(ops, idx, rows)
    g = np.zeros((6, 2))
    np.add.at(g, idx, rows)
    dense_twin.accumulate(g)
    opt.step()
    twin.step()
    untouched = [0, 2, 3, 5]
    assert np.array_equal(E.data[untouched], np.arange(12.0).reshape(6, 2)[untouched])
    # Touched rows get exactly the dense update on the first step (same d, same state).
    assert np.allclose(E.data[[1, 4]], dense_twin.data[[1, 4]], rtol=1e-14)
    # The dense twin decays untouched rows; the lazy update does not.
    assert not np.array_equal(dense_twin.data[0], E.data[0])


def test_shared_array_updated_exactly_once_with_summed_gradient():
    pair = wrn_pair("interval")
    x, y = image_batch()
    opt = SGD(pair.named_parameters(), lr=0.1, momentum=0.9, weight_decay=0.0)
    W = pair.booster.group1.block0.conv0.W
    assert pair.light.group1.block0.conv0.W is W
    per = []
    for t in ("ce_booster", "ce_light", "hint"):      # each branch's contribution alone
        pair.zero_grad()
        rocket_step(pair, x, y, RocketObjective(), terms=(t,))
        per.append(W.grad.copy())
    pair.zero_grad()
    rocket_step(pair, x, y, RocketObjective())
    before = W.data.copy()
    opt.step()
    assert np.allclose(W.data, before - 0.1 * sum(per), rtol=1e-12, atol=1e-15)
    assert sum(1 for n, _ in opt.params if n.endswith("group1.block0.conv0.W")) == 1


def test_a_parameter_listed_twice_is_refused():
    pair = wrn_pair("interval")
    listed = pair.booster.named_parameters() + [("light.conv0.W", pair.light.conv0.W)]
    with pytest.raises(ArgumentError, match="updated once"):
        SGD(listed, 0.1)


def test_bad_hyper_parameters():
    with pytest.raises(ArgumentError, match="'lr'"):
        SGD(_params(), 0.0)
    with pytest.raises(ArgumentError, match="'momentum'"):
        SGD(_params(), 0.1, momentum=1.0)
    with pytest.raises(ArgumentTypeError, match="'nesterov'"):
        SGD(_params(), 0.1, nesterov="yes")
    with pytest.raises(ArgumentError, match="milestones"):
        MultiStepLR(SGD(_params(), 0.1), [60, 60])


def test_schedule_authors_convention_and_momentum_reset():
    params = _params()
    opt = SGD(params, 0.1)
    sched = MultiStepLR(opt, [3, 5], factor=0.2, reset_momentum=True)
    lrs = []
    for epoch in range(1, 7):
        lrs.append(sched.start_epoch(epoch))
        if epoch == 2:
            _run(opt, params, 1)
            assert opt.state
        if epoch == 3:
            assert opt.state == {}         # re-created optimizer: momentum gone
            _run(opt, params, 1)
        if epoch == 4:
            assert opt.state               # no reset between milestones
    assert lrs == pytest.approx([0.1, 0.1, 0.02, 0.02, 0.004, 0.004])
    keep = MultiStepLR(SGD(_params(), 0.1), [2], reset_momentum=False)
    keep.optimizer.state = {"x": {}}
    keep.start_epoch(2)
    assert keep.optimizer.state == {"x": {}}


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_state_dict_round_trip_continues_identically(opt_cls):
    pair_a = mlp_pair("softmax", seed=1)
    pair_b = mlp_pair("softmax", seed=1)
    batches = [ctr_batch(seed=s) for s in range(5)]
    oa = opt_cls(pair_a.named_parameters(), 0.05, weight_decay=1e-3)
    sa = MultiStepLR(oa, [2], factor=0.5)
    for i, (x, y) in enumerate(batches[:3]):
        sa.start_epoch(i + 1)
        pair_a.zero_grad()
        rocket_step(pair_a, x, y, RocketObjective())
        oa.step()
    state, sched_state, weights = oa.state_dict(), sa.state_dict(), pair_a.state_dict()
    pair_b.load_state_dict(weights)
    ob = opt_cls(pair_b.named_parameters(), 0.9)
    ob.load_state_dict(state)
    sb = MultiStepLR(ob, [7]).load_state_dict(sched_state)
    assert sb.milestones == [2] and ob.lr == oa.lr
    for i, (x, y) in enumerate(batches[3:]):
        for o, s, p in ((oa, sa, pair_a), (ob, sb, pair_b)):
            s.start_epoch(i + 4)
            p.zero_grad()
            rocket_step(p, x, y, RocketObjective())
            o.step()
    for (n, pa), (_, pb) in zip(pair_a.named_parameters(), pair_b.named_parameters()):
        assert np.array_equal(pa.data, pb.data), n


def test_state_dict_from_another_model_is_refused():
    opt = SGD(_params(), 0.1)
    _run(opt, opt.params, 1)
    other = SGD([("other.W", Parameter("W", np.zeros(2)))], 0.1)
    with pytest.raises(CheckpointError, match="not in this model"):
        other.load_state_dict(opt.state_dict())
    with pytest.raises(CheckpointError, match="kind"):
        Adam(_params()).load_state_dict(opt.state_dict())
