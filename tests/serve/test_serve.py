"""The serving path: BN-folded, context-free copies equal the evaluation-mode nets.

Tolerances: float64 ``rtol 1e-10`` (folding only changes the rounding of
``(a W) * x`` against ``a (W * x)``); float32 ``rtol 1e-4, atol 1e-4 * max|logit|`` on the
logits of a 10-layer WRN (the rounding differences of every folded layer add up).
"""
import numpy as np
import pytest

from minirocket import models, serve
from minirocket.backend import _compat, get_backend, to_numpy
from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers import BatchNorm

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not _compat.numba_available, reason=f"numba is not importable: {_compat.numba_reason}")),
    pytest.param("cupy", marks=pytest.mark.gpu)]


def _trained_bn(net, seed=0):
    """BN statistics and shifts as after training (initial 0/1 stats would hide errors)."""
    g = np.random.default_rng(seed)
    for _, m in net.named_modules():
        if isinstance(m, BatchNorm):
            C = m.num_features
            dt = m.gamma.data.dtype
            m.running_mean.data = (g.standard_normal(C) * 0.3).astype(dt)
            m.running_var.data = g.uniform(0.3, 2.0, C).astype(dt)
            m.gamma.data = g.uniform(0.5, 1.5, C).astype(dt)
            m.beta.data = (g.standard_normal(C) * 0.2).astype(dt)
    return net


def _close(got, ref, dtype):
    got = to_numpy(got)
    assert got.dtype == ref.dtype == np.dtype(dtype)
    if dtype == np.float64:
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 2])
def test_folded_wrn_equals_eval_net(backend, dtype, width, rng):
    net = _trained_bn(models.wrn(10, width, 7, dtype=dtype, rng=3))
    x = rng.standard_normal((3, 3, 16, 16)).astype(dtype)
    ref, ctx = net.forward(x, train=False)
    assert ctx is None
    fast = serve.compile_light(net, backend=backend)
    ops = get_backend(backend)
    _close(fast.predict(ops.asarray(x)), ref, dtype)
    unfolded = serve.compile_light(net, backend=backend, fold=False)
    assert unfolded.folded == []
    _close(unfolded.predict(ops.asarray(x)), ref, dtype)


def test_which_bn_layers_are_folded():
    # Width 1: the first block's shortcut is the identity on the raw stem output, so its
    # bn0 cannot go into the stem; every bn1 folds into the conv0 before it.
    f1 = serve.compile_light(models.wrn(16, 1, 10), backend="numpy")
    blocks = [f"group{g}.block{b}" for g in range(3) for b in range(2)]
    assert f1.folded == [f"{b}.bn1" for b in blocks]
    assert f1.fused == [f"{b}.bn0" for b in blocks] + ["bn"]
    # Width 2: the first block projects (16 -> 32), the stem output feeds only bn0.
    f2 = serve.compile_light(models.wrn(16, 2, 10), backend="numpy")
    assert f2.folded == ["group0.block0.bn0"] + [f"{b}.bn1" for b in blocks]
    assert "group0.block0.bn0" not in f2.fused and "group1.block0.bn0" in f2.fused


def test_stem_fold_would_be_wrong_with_identity_shortcut(rng):
    # The reason the width-1 stem is left alone: the identity shortcut reads the RAW stem
    # output. Folding bn0 there anyway changes the logits well beyond rounding.
    net = _trained_bn(models.wrn(10, 1, 5, dtype=np.float64))
    x = rng.standard_normal((2, 3, 8, 8))
    ref = net.forward(x, train=False)[0]
    fast = serve.compile_light(net, backend="numpy")
    blk = net.groups[0].blocks[0]
    scale, shift = blk.bn0.eval_affine()
    fast.stem_W = fast.stem_W * scale[:, None, None, None]
    fast.stem_bias = shift
    fast._stem_ones = np.ones_like(shift)
    fast.blocks[0].pre = None
    assert np.abs(fast.predict(x) - ref).max() > 1e-3


def test_predict_keeps_no_state_and_is_a_snapshot(rng):
    net = _trained_bn(models.wrn(10, 1, 4))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    fast = serve.compile_light(net, backend="numpy")
    a = fast.predict(x)
    b = fast.predict(x)
    np.testing.assert_array_equal(a, b)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])          # compiling never mutates the net
    net.fc.b.data += 1.0                                     # later training steps ...
    np.testing.assert_array_equal(fast.predict(x), a)        # ... do not leak into the copy
    assert not hasattr(fast, "ctx")


def test_pair_serves_its_light_net(rng):
    pair = _trained_bn(models.rocket_wrn(light_depth=10, booster_depth=16, num_classes=3))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    fast = serve.compile_light(pair, backend="numpy")
    _close(fast.predict(x), pair.light.forward(x, train=False)[0], np.float32)
    assert len(fast.blocks) == 3                             # WRN-10: one block per group


@pytest.mark.skipif(not _compat.numba_available,
                    reason="numba is not importable")
def test_workspace_reuse_does_not_change_results(rng):
    net = _trained_bn(models.wrn(10, 1, 4))
    x1 = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x2 = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    a = serve.compile_light(net, backend="numba", reuse_workspace=True)
    b = serve.compile_light(net, backend="numba", reuse_workspace=False)
    y1 = a.predict(x1)
    keep = y1.copy()
    y2 = a.predict(x2)
    np.testing.assert_array_equal(y1, keep)                  # earlier result not overwritten
    np.testing.assert_array_equal(y2, b.predict(x2))
    assert a.ops.workspace_nbytes() > 0 and b.ops.workspace_nbytes() == 0
    assert a.ops is not get_backend("numba")                 # serving scratch is its own


def test_wrn_predict_errors(rng):
    fast = serve.compile_light(models.wrn(10, 1, 4), backend="numpy")
    with pytest.raises(ArgumentError, match=r"argument 'x': expected dtype float32"):
        fast.predict(rng.standard_normal((1, 3, 8, 8)))
    with pytest.raises(ArgumentError, match=r"argument 'x': expected 3 channels"):
        fast.predict(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(ArgumentError, match=r"divisible by 4"):
        fast.predict(np.zeros((1, 3, 6, 6), np.float32))
    with pytest.raises(ArgumentError, match=r"argument 'x': expected a 4-d array"):
        fast.predict(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ArgumentTypeError, match=r"argument 'model': expected a WRN, an MLP"):
        serve.compile_light(object())
    with pytest.raises(ArgumentTypeError, match=r"argument 'fold'"):
        serve.compile_light(models.wrn(10, 1, 4), fold="False")


# ------------------------------------------------------------------------ CTR MLP
def _ctr_x(rng, n, sizes=(10, 20, 5), m=3):
    cat = np.stack([rng.integers(0, v, n) for v in sizes], axis=1)
    cat[0] = 0                                               # repeated ids across rows
    return cat, rng.standard_normal((n, m)).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 5, 200])                  # fused kernel and BLAS path
def test_folded_mlp_equals_eval_net(backend, n, rng):
    pair = _trained_bn(models.rocket_mlp([10, 20, 5], 3, booster_hidden=(16, 8),
                                         light_hidden=(12, 6)))
    cat, num = _ctr_x(rng, n)
    ops = get_backend(backend)
    for net, folded in ((pair.booster, ["bn0", "bn1"]), (pair.light, [])):
        ref = net.forward((cat, num), train=False)[0]
        fast = serve.compile_light(net, backend=backend)
        assert fast.folded == folded
        got = fast.predict((ops.asarray(cat), ops.asarray(num)))
        _close(got, ref, np.float32)


def test_mlp_predict_errors(rng):
    pair = models.rocket_mlp([10, 20], 2, booster_hidden=(8,), light_hidden=(4,))
    fast = serve.compile_light(pair, backend="numpy")
    cat, num = _ctr_x(rng, 3, sizes=(10, 20), m=2)
    bad = cat.copy()
    bad[1, 1] = 20
    with pytest.raises(ArgumentError, match=r"argument 'x\[0\]': expected ids in \[0, V_f\)"):
        fast.predict((bad, num))
    with pytest.raises(ArgumentError, match=r"argument 'x\[1\]': expected dtype float32"):
        fast.predict((cat, num.astype(np.float64)))
    with pytest.raises(ArgumentTypeError, match=r"argument 'x': expected a pair"):
        fast.predict(cat)
    with pytest.raises(ArgumentError, match=r"expected shapes \(N, 2\) and \(N, 2\)"):
        fast.predict((cat[:, :1], num))
