"""Sequential: children applied in order, backward in reverse."""
import numpy as np
import pytest

from minirocket.layers import (AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool2d,
                               Linear, ReLU, Sequential)
from tests.layers._template import LAYOUTS, gradcheck, make_input


def _net(dtype=np.float64):
    return Sequential(
        ("conv", Conv2d(2, 3, 3, padding=1, bias=True, rng=1, dtype=dtype)),
        ("bn", BatchNorm(3, gamma_init="uniform", rng=2, dtype=dtype)),
        ("relu", ReLU()),
        ("pool", AvgPool2d(2)),
        ("flat", Flatten()),
        ("fc", Linear(12, 4, rng=3, dtype=dtype)),
    )


def test_names_and_order():
    net = _net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["conv.W", "conv.b", "bn.gamma", "bn.beta", "fc.W", "fc.b"]
    assert [n for n, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var"]
    assert len(net) == 6 and isinstance(net[0], Conv2d) and net["fc"] is net[5]
    unnamed = Sequential(ReLU(), Flatten())
    assert [n for n, _ in unnamed.children()] == ["0", "1"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_is_the_composition(rng, dtype, layout):
    net = _net(dtype)
    x = make_input(rng, (2, 2, 4, 5), dtype, layout)
    y, ctx = net.forward(x)
    h = x
    for _, child in _net(dtype).children():     # a fresh, identical copy applied by hand
        h, _ = child.forward(h)
    np.testing.assert_array_equal(y, h)
    assert y.dtype == dtype and len(ctx.ctxs) == 6
    y_eval, ctx_eval = net.forward(x, train=False)
    assert ctx_eval is None and y_eval.shape == (2, 4)
    if layout != "contiguous":
        np.testing.assert_allclose(y, _net(dtype).forward(np.ascontiguousarray(x))[0],
                                   rtol=1e-5, atol=1e-6)


def test_backward_is_the_reverse_chain(rng):
    net = _net()
    x = make_input(rng, (2, 2, 4, 4), np.float64)
    y, ctx = net.forward(x)
    gy = rng.standard_normal(y.shape)
    gx = net.backward(ctx, gy)
    g = gy
    children = [m for _, m in net.children()]
    for child, c in zip(reversed(children), reversed(ctx.ctxs)):
        g = child.backward(c, g)      # second pass: parameter grads now hold twice the value
    np.testing.assert_array_equal(gx, g)
    np.testing.assert_allclose(net["fc"].W.grad, 2 * (ctx.ctxs[5].x.T @ gy), rtol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_whole_chain(rng, layout):
    x = make_input(rng, (2, 2, 4, 4), np.float64, layout)
    report = gradcheck(_net(), x, mode="auto")
    assert {c.name for c in report.checks} == {"x", "conv.W", "conv.b", "bn.gamma", "bn.beta",
                                               "fc.W", "fc.b"}


def test_gradcheck_with_dropout_and_global_pool(rng):
    net = Sequential(Conv2d(2, 4, 1, rng=0, dtype=np.float64), GlobalAvgPool2d(),
                     Dropout(0.5, seed=1), Linear(4, 3, rng=2, dtype=np.float64))
    x = make_input(rng, (3, 2, 3, 3), np.float64, "strided")
    gradcheck(net, x, mode="full",
              before_forward=lambda m: setattr(m[2], "rng", np.random.default_rng(1)))
