"""The float32 training path: dtypes never change, and values agree with float64.

Gradient checks run in float64; this covers what they cannot, the float32 arithmetic that
training actually uses (a stray float64 constant would silently promote an activation).
"""
import numpy as np
import pytest

from minirocket.layers import (AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, Flatten,
                               GlobalAvgPool2d, Linear, ReLU, Sequential)
from tests.layers._template import make_input


def _cases():
    return {
        "linear": (lambda dt: Linear(5, 3, rng=0, dtype=dt), (4, 5)),
        "conv": (lambda dt: Conv2d(2, 3, 3, stride=2, padding=1, bias=True, rng=0, dtype=dt),
                 (2, 2, 7, 5)),
        "bn2d": (lambda dt: BatchNorm(3, gamma_init="uniform", rng=0, dtype=dt), (6, 3)),
        "bn4d": (lambda dt: BatchNorm(2, gamma_init="uniform", rng=0, dtype=dt), (2, 2, 3, 3)),
        "relu": (lambda dt: ReLU(), (3, 4)),
        "dropout": (lambda dt: Dropout(0.3, seed=0), (3, 4)),
        "avgpool": (lambda dt: AvgPool2d(2, 1), (2, 2, 5, 4)),
        "gap": (lambda dt: GlobalAvgPool2d(), (2, 3, 4, 4)),
        "flatten": (lambda dt: Flatten(), (2, 3, 2, 2)),
        "sequential": (lambda dt: Sequential(Conv2d(2, 2, 3, padding=1, rng=0, dtype=dt),
                                             BatchNorm(2, dtype=dt), ReLU(), Flatten(),
                                             Linear(18, 3, rng=1, dtype=dt)), (3, 2, 3, 3)),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_float32_forward_backward_keeps_dtype_and_matches_float64(rng, name):
    make, shape = _cases()[name]
    x64 = make_input(rng, shape, np.float64, away_from=0.0)
    x32 = x64.astype(np.float32)
    l32, l64 = make(np.float32), make(np.float64)
    for p32, p64 in zip(l32.parameters(), l64.parameters()):
        p64.data = p32.data.astype(np.float64)     # identical starting values
    y32, c32 = l32.forward(x32)
    y64, c64 = l64.forward(x64)
    gy = rng.standard_normal(y64.shape)
    gx32 = l32.backward(c32, gy.astype(np.float32))
    gx64 = l64.backward(c64, gy)
    assert y32.dtype == np.float32 and gx32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx32, gx64, rtol=1e-4, atol=1e-5)
    for (n, p32), p64 in zip(l32.named_parameters(), l64.parameters()):
        assert p32.grad.dtype == np.float32, n
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-4, atol=1e-5, err_msg=n)
    for n, b in l32.named_buffers():
        assert b.data.dtype == np.float32, n


def test_embedding_float32_rows():
    layer = Embedding(6, 3, rng=0)
    y, ctx = layer.forward(np.array([[0, 5], [5, 2]]))
    layer.backward(ctx, np.ones(y.shape, np.float32))
    assert y.dtype == np.float32 and layer.E.grad.values.dtype == np.float32
    assert layer.E.dense_grad().dtype == np.float32
