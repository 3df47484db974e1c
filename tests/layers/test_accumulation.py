"""Parameter gradients are added, never assigned; zero_grad resets them to None."""
import numpy as np
import pytest

from minirocket.layers import BatchNorm, Conv2d, Embedding, Linear, Sequential
from tests.layers._template import make_input


def _cases():
    return [
        (Linear(3, 2, rng=0, dtype=np.float64), (4, 3)),
        (Conv2d(2, 3, 3, padding=1, bias=True, rng=0, dtype=np.float64), (2, 2, 4, 3)),
        (BatchNorm(2, gamma_init="uniform", rng=0, dtype=np.float64), (5, 2)),
        (Sequential(Linear(3, 3, rng=0, dtype=np.float64), BatchNorm(3, dtype=np.float64)),
         (4, 3)),
    ]


@pytest.mark.parametrize("case", range(4))
def test_backward_twice_doubles_and_zero_grad_resets(rng, case):
    layer, shape = _cases()[case]
    x = make_input(rng, shape)
    y, ctx = layer.forward(x)
    gy = rng.standard_normal(y.shape)
    assert all(p.grad is None for p in layer.parameters())
    gx1 = layer.backward(ctx, gy)
    once = [p.grad.copy() for p in layer.parameters()]
    gx2 = layer.backward(ctx, gy)
    np.testing.assert_array_equal(gx1, gx2)                 # input gradients are returned
    for g1, p in zip(once, layer.parameters()):
        assert np.abs(g1).max() > 0
        np.testing.assert_allclose(p.grad, 2 * g1, rtol=1e-15)   # parameter gradients add
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    layer.backward(ctx, gy)
    for g1, p in zip(once, layer.parameters()):
        np.testing.assert_array_equal(p.grad, g1)


def test_grad_is_a_copy_not_a_view_of_the_upstream_gradient(rng):
    layer = BatchNorm(3, dtype=np.float64)     # gbeta = sum(gy): could alias a buffer
    x = make_input(rng, (4, 3))
    y, ctx = layer.forward(x)
    gy = rng.standard_normal(y.shape)
    layer.backward(ctx, gy)
    before = layer.beta.grad.copy()
    gy[...] = 0.0
    np.testing.assert_array_equal(layer.beta.grad, before)


def test_sparse_embedding_accumulates_and_resets():
    layer = Embedding(4, 2, rng=0, dtype=np.float64)
    _, ctx = layer.forward(np.array([1, 1, 3]))
    gy = np.arange(6.0).reshape(3, 2)
    layer.backward(ctx, gy)
    layer.backward(ctx, gy)
    np.testing.assert_array_equal(layer.E.dense_grad(),
                                  [[0, 0], [4, 8], [0, 0], [8, 10]])
    layer.zero_grad()
    assert layer.E.grad is None and layer.E.dense_grad() is None
