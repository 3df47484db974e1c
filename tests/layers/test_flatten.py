"""Flatten: (N, d1, d2, ...) -> (N, d1*d2*...)."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.layers import Flatten
from tests.layers._template import LAYOUTS, assert_forward_matches, gradcheck, make_input


def flatten_oracle(x):
    # Row-major order written out: sample n lists its entries with the last axis fastest.
    N = x.shape[0]
    rows = []
    for n in range(N):
        rows.append([float(x[(n,) + idx]) for idx in np.ndindex(x.shape[1:])])
    return np.array(rows).reshape(N, -1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 7, 5), (3, 4, 2), (4, 3)])
def test_forward(rng, dtype, layout, shape):
    x = make_input(rng, shape, dtype, layout)
    assert_forward_matches(Flatten(), x, flatten_oracle(x))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2, 3, 2, 3), (1, 2, 7, 5), (3, 4, 2)])
def test_gradcheck(rng, layout, shape):
    gradcheck(Flatten(), make_input(rng, shape, np.float64, layout), mode="full")


def test_backward_restores_shape(rng):
    x = make_input(rng, (2, 3, 4, 5), np.float32, "transposed")
    y, ctx = Flatten().forward(x)
    gx = Flatten().backward(ctx, np.arange(y.size, dtype=np.float32).reshape(y.shape))
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gx.reshape(2, -1), np.arange(y.size).reshape(y.shape))


def test_bad_input():
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of Flatten: expected a 2-d or 3-d or 4-d or 5-d array, "
                             r"got shape \(4,\)"):
        Flatten().forward(np.zeros(4))
