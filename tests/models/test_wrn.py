"""Wide ResNet: parameter counts, structure, validation, gradients."""
import numpy as np
import pytest

from minirocket import models
from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.models.wrn import WRNBlock
from minirocket.testing import check_module


@pytest.mark.parametrize("depth,width,count", [(16, 1, 175_066), (16, 2, 691_674),
                                               (40, 1, 563_930), (40, 2, 2_243_546)])
def test_parameter_counts_match_the_authors(depth, width, count):
    assert models.wrn(depth, width, 10).num_parameters() == count


def test_bottom_light_net_has_the_authors_136090_parameters():
    assert models.wrn(40, 1, 10, num_groups=2).num_parameters() == 136_090


@pytest.mark.parametrize("depth", [15, 12, 4, 41])
def test_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ArgumentError, match="depth"):
        models.wrn(depth, 1, 10)


def test_bad_types_are_one_line_errors():
    with pytest.raises(ArgumentTypeError, match="'width'"):
        models.wrn(16, "1", 10)
    with pytest.raises(ArgumentError, match="gamma_init"):
        models.wrn(16, 1, 10, gamma_init="zeros")


def test_block_children_and_names():
    net = models.wrn(16, 1, 10)
    names = [n for n, _ in net.named_parameters()]
    assert names[0] == "conv0.W"
    assert names[-2:] == ["fc.W", "fc.b"]
    assert [n for n, _ in net.group1.block0.children()] == ["bn0", "conv0", "bn1", "conv1",
                                                            "convdim"]
    assert [n for n, _ in net.group1.block1.children()] == ["bn0", "conv0", "bn1", "conv1"]
    assert [n for n, _ in net.group0.block0.children()] == ["bn0", "conv0", "bn1", "conv1"]
    assert net.group1.block0.conv0.stride == 2 and net.group0.block0.conv0.stride == 1
    assert net.group2.block0.convdim.W.data.shape == (64, 32, 1, 1)


def test_init_as_the_authors():
    net = models.wrn(16, 1, 10, rng=3)
    g = net.group2.block1.bn0.gamma.data
    assert g.min() >= 0 and g.max() < 1 and g.std() > 0.1          # U[0, 1)
    assert np.all(net.fc.b.data == 0) and np.all(net.group0.block0.bn0.beta.data == 0)
    assert np.all(net.bn.running_var.data == 1) and np.all(net.bn.running_mean.data == 0)
    W = net.group2.block1.conv1.W.data
    assert abs(W.std() - np.sqrt(2 / (64 * 9))) < 0.05 * np.sqrt(2 / (64 * 9))
    ones = models.wrn(16, 1, 10, gamma_init="ones")
    assert np.all(ones.group0.block0.bn0.gamma.data == 1)


def test_same_seed_same_weights_different_seed_different():
    a, b = models.wrn(10, 1, 10, rng=1), models.wrn(10, 1, 10, rng=1)
    c = models.wrn(10, 1, 10, rng=2)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.conv0.W.data, c.conv0.W.data)


def test_forward_shapes_and_input_checks():
    net = models.wrn(10, 1, 10)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert net.predict(x).shape == (2, 10)
    logits, feats, _ = net.forward_features(x, train=False)
    assert [f.shape for f in feats] == [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ArgumentError, match="argument 'x'.*finite"):
        net.predict(bad)
    with pytest.raises(ArgumentError, match="argument 'x'"):
        net.predict(x[:, :2])
    with pytest.raises(ArgumentError, match="divisible"):
        net.predict(np.zeros((2, 3, 6, 6), np.float32))


@pytest.mark.parametrize("cin,cout,stride", [(4, 4, 1), (4, 6, 2)])
def test_block_gradients(cin, cout, stride):
    blk = WRNBlock(cin, cout, stride, rng=0)
    x = np.random.default_rng(1).standard_normal((3, cin, 6, 6))
    rep = check_module(blk, x, mode="auto", seed=2)
    assert rep.ok and len(rep.checks) == len(blk.parameters()) + 1


def test_whole_wrn_gradients_directional():
    net = models.wrn(10, 1, 10, rng=0)
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8))
    rep = check_module(net, x, mode="directional", seed=3)
    assert rep.ok


def test_group_feature_gradients_enter_at_group_outputs():
    """backward_features(g_features) equals the gradient of sum(gy*logits) + sum(gf*feats)."""
    from minirocket.testing import check_gradients
    net = models.wrn(10, 1, 10, rng=0, dtype=np.float64)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 8, 8))
    logits, feats, ctx = net.forward_features(x)
    gy = rng.standard_normal(logits.shape)
    gfs = [rng.standard_normal(f.shape) for f in feats]
    net.zero_grad()
    net.backward_features(ctx, gy, gfs)

    def f():
        lo, fe, _ = net.forward_features(x)
        return float((gy * lo).sum() + sum((g * a).sum() for g, a in zip(gfs, fe)))

    tensors = {n: p.data for n, p in net.named_parameters()}
    grads = {n: p.grad for n, p in net.named_parameters()}
    rep = check_gradients(f, tensors, grads, mode="directional", seed=5)
    assert rep.ok, rep.table()
