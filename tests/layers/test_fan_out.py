"""The fan-out rule: a layer used twice receives the sum of both uses' gradients."""
import numpy as np
import pytest

from minirocket.layers import BatchNorm, Conv2d, Embedding, Linear
from minirocket.testing import check_gradients
from tests.layers._template import make_input


def _linear():
    layer = Linear(3, 2, rng=0, dtype=np.float64)
    layer.b.data[...] = [0.3, -0.2]
    return layer, (2, 3), (4, 3)


def _conv():
    layer = Conv2d(2, 2, 3, stride=2, padding=1, bias=True, rng=0, dtype=np.float64)
    layer.b.data[...] = [0.1, -0.4]
    return layer, (1, 2, 5, 3), (2, 2, 3, 4)


def _bn():
    layer = BatchNorm(2, gamma_init="uniform", rng=0, dtype=np.float64)
    layer.beta.data[...] = [0.5, -1.0]
    return layer, (3, 2), (4, 2, 2, 1)


@pytest.mark.parametrize("make", [_linear, _conv, _bn], ids=["linear", "conv", "bn"])
@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_shared_layer_gets_summed_gradient(rng, make, order):
    # Two inputs of different shapes through the SAME layer object; the scalar is
    # f(x1, x2) = sum(gy1 * layer(x1)) + sum(gy2 * layer(x2)).
    layer, shape1, shape2 = make()
    x1 = make_input(rng, shape1, np.float64)
    x2 = make_input(rng, shape2, np.float64, "transposed")
    y1, ctx1 = layer.forward(x1)
    y2, ctx2 = layer.forward(x2)
    gy1, gy2 = rng.standard_normal(y1.shape), rng.standard_normal(y2.shape)
    layer.zero_grad()
    if order == "forward":
        gx1, gx2 = layer.backward(ctx1, gy1), layer.backward(ctx2, gy2)
    else:      # back-propagation order must not matter
        gx2, gx1 = layer.backward(ctx2, gy2), layer.backward(ctx1, gy1)

    def f():
        return float((gy1 * layer.forward(x1)[0]).sum() + (gy2 * layer.forward(x2)[0]).sum())

    tensors = {"x1": x1, "x2": x2}
    analytic = {"x1": gx1, "x2": gx2}
    for name, p in layer.named_parameters():
        tensors[name], analytic[name] = p.data, p.grad
    report = check_gradients(f, tensors, analytic, mode="full")
    report.raise_if_failed()
    assert len(report.checks) == 2 + len(layer.named_parameters())


def test_shared_gradient_is_sum_of_separate_gradients(rng):
    # The same statement without finite differences: backward of both uses equals the sum
    # of the two single-use backward passes (float64, to rounding).
    layer, shape1, shape2 = _conv()
    x1, x2 = make_input(rng, shape1), make_input(rng, shape2)
    y1, c1 = layer.forward(x1)
    y2, c2 = layer.forward(x2)
    g1, g2 = rng.standard_normal(y1.shape), rng.standard_normal(y2.shape)
    layer.zero_grad()
    layer.backward(c1, g1)
    layer.backward(c2, g2)
    both = {n: p.grad.copy() for n, p in layer.named_parameters()}
    layer.zero_grad()
    layer.backward(c1, g1)
    one = {n: p.grad.copy() for n, p in layer.named_parameters()}
    layer.zero_grad()
    layer.backward(c2, g2)
    for n, p in layer.named_parameters():
        assert np.abs(p.grad).max() > 0 and np.abs(one[n]).max() > 0
        np.testing.assert_allclose(both[n], one[n] + p.grad, rtol=1e-13, atol=1e-14)


def test_shared_embedding_rows_sum(rng):
    layer = Embedding(5, 2, sparse=True, rng=0, dtype=np.float64)
    _, c1 = layer.forward(np.array([1, 2]))
    _, c2 = layer.forward(np.array([2, 2, 4]))
    g1, g2 = rng.standard_normal((2, 2)), rng.standard_normal((3, 2))
    layer.backward(c2, g2)
    layer.backward(c1, g1)
    expected = np.zeros((5, 2))
    expected[1] += g1[0]
    expected[2] += g1[1] + g2[0] + g2[1]
    expected[4] += g2[2]
    np.testing.assert_allclose(layer.E.dense_grad(), expected, rtol=1e-14)
