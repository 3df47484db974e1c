"""AvgPool2d (k x k windows, no padding) and GlobalAvgPool2d."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.layers import AvgPool2d, GlobalAvgPool2d
from tests.layers._template import LAYOUTS, assert_forward_matches, gradcheck, make_input


def avgpool_oracle(x, k, stride):
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    y = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for w in range(Wo):
                    total = 0.0
                    for i in range(k):
                        for j in range(k):
                            total += float(x[n, c, h * stride + i, w * stride + j])
                    y[n, c, h, w] = total / (k * k)
    return y


def global_avgpool_oracle(x):
    N, C, H, W = x.shape
    y = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            y[n, c] = sum(float(v) for v in np.ravel(x[n, c])) / (H * W)
    return y


# (shape, k, stride): non-overlapping, overlapping (stride < k), floor rule on odd sizes,
# k = 1, window = whole input, batch 1.
POOL_CASES = [
    ((2, 3, 4, 4), 2, None),
    ((1, 2, 7, 5), 2, 2),
    ((2, 1, 7, 5), 3, 1),
    ((1, 2, 5, 6), 2, 1),
    ((2, 2, 3, 3), 1, None),
    ((1, 1, 3, 3), 3, None),
    ((2, 2, 7, 7), 3, 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape,k,stride", POOL_CASES)
def test_avgpool_forward(rng, dtype, layout, shape, k, stride):
    x = make_input(rng, shape, dtype, layout)
    assert_forward_matches(AvgPool2d(k, stride), x, avgpool_oracle(x, k, stride or k))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape,k,stride", POOL_CASES)
def test_avgpool_gradcheck(rng, layout, shape, k, stride):
    gradcheck(AvgPool2d(k, stride), make_input(rng, shape, np.float64, layout), mode="full")


def test_avgpool_overlapping_windows_add_gradients():
    layer = AvgPool2d(2, stride=1)
    x = np.zeros((1, 1, 3, 3))
    _, ctx = layer.forward(x)
    gx = layer.backward(ctx, np.ones((1, 1, 2, 2)))
    # The centre pixel sits in all four windows, corners in one, edges in two.
    np.testing.assert_array_equal(gx[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_avgpool_pixels_outside_every_window_get_zero_gradient():
    layer = AvgPool2d(2)                  # 5x5 input: last row and column are never pooled
    x = np.ones((1, 1, 5, 5))
    _, ctx = layer.forward(x)
    gx = layer.backward(ctx, np.ones((1, 1, 2, 2)))
    assert np.all(gx[0, 0, 4, :] == 0) and np.all(gx[0, 0, :, 4] == 0)
    assert np.all(gx[0, 0, :4, :4] == 0.25)


def test_avgpool_bad_inputs():
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of AvgPool2d: expected at least 3x3 spatial size, got "
                             r"shape \(1, 1, 2, 5\)"):
        AvgPool2d(3).forward(np.zeros((1, 1, 2, 5)))
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of AvgPool2d: expected a 4-d array, "
                             r"got shape \(2, 3\)"):
        AvgPool2d(2).forward(np.zeros((2, 3)))
    with pytest.raises(ArgumentError,
                       match=r"argument 'kernel_size': expected an integer >= 1, got 0"):
        AvgPool2d(0)
    with pytest.raises(TypeError, match=r"argument 'stride': expected an integer, got '2'"):
        AvgPool2d(2, stride="2")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 2, 7, 5), (3, 2, 1, 1), (1, 1, 1, 6)])
def test_global_avgpool_forward(rng, dtype, layout, shape):
    x = make_input(rng, shape, dtype, layout)
    assert_forward_matches(GlobalAvgPool2d(), x, global_avgpool_oracle(x))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 2, 7, 5), (3, 2, 1, 1)])
def test_global_avgpool_gradcheck(rng, layout, shape):
    gradcheck(GlobalAvgPool2d(), make_input(rng, shape, np.float64, layout), mode="full")


def test_global_avgpool_bad_input():
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of GlobalAvgPool2d: expected a 4-d array, got shape "
                             r"\(2, 3, 4\)"):
        GlobalAvgPool2d().forward(np.zeros((2, 3, 4)))
