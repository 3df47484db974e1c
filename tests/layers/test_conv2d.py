"""Conv2d: NCHW cross-correlation with zero padding."""
import zlib

import numpy as np
import pytest

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers import Conv2d
from tests.layers._template import LAYOUTS, assert_forward_matches, gradcheck, make_input


def conv_oracle(x, W, b, stride, padding):
    """Direct nested loops; padding handled by bounds checks rather than by padding x."""
    N, C, H, Wd = x.shape
    O, _, kh, kw = W.shape
    Ho = (H + 2 * padding - kh) // stride + 1
    Wo = (Wd + 2 * padding - kw) // stride + 1
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for h in range(Ho):
                for w in range(Wo):
                    acc = 0.0 if b is None else float(b[o])
                    for c in range(C):
                        for i in range(kh):
                            r = h * stride + i - padding
                            if not 0 <= r < H:
                                continue
                            for j in range(kw):
                                s = w * stride + j - padding
                                if 0 <= s < Wd:
                                    acc += float(W[o, c, i, j]) * float(x[n, c, r, s])
                    y[n, o, h, w] = acc
    return y


# (N, C, H, W, O, kernel, stride, padding): 1x1, 3x3 and 3x1 kernels, stride 1 and 2,
# padding 0 and 1, odd and non-square inputs, batch 1.
CASES = [
    (2, 3, 5, 5, 2, 1, 1, 0),
    (1, 2, 7, 5, 3, 3, 1, 1),
    (2, 2, 7, 5, 2, 3, 2, 0),
    (1, 1, 6, 4, 2, 3, 2, 1),
    (2, 2, 5, 3, 2, (3, 1), 1, 0),
    (1, 2, 4, 4, 1, (3, 1), 2, 1),
    (1, 2, 3, 3, 2, 1, 2, 1),
    (1, 1, 2, 2, 1, 3, 1, 1),     # kernel equals the padded input
]


def _layer(C, O, k, stride, padding, bias, dtype, seed=0):
    layer = Conv2d(C, O, k, stride=stride, padding=padding, bias=bias, rng=seed, dtype=dtype)
    if bias:
        layer.b.data[...] = np.random.default_rng(seed + 3).standard_normal(O).astype(dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("N,C,H,W,O,k,stride,padding", CASES)
def test_forward_matches_loop_oracle(rng, dtype, layout, bias, N, C, H, W, O, k, stride,
                                     padding):
    layer = _layer(C, O, k, stride, padding, bias, dtype)
    x = make_input(rng, (N, C, H, W), dtype, layout)
    b = layer.b.data if bias else None
    y = assert_forward_matches(layer, x, conv_oracle(x, layer.W.data, b, stride, padding))
    assert y.shape == layer.output_shape(x.shape)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("N,C,H,W,O,k,stride,padding", CASES)
def test_gradcheck_full(rng, layout, bias, N, C, H, W, O, k, stride, padding):
    layer = _layer(C, O, k, stride, padding, bias, np.float64)
    x = make_input(rng, (N, C, H, W), np.float64, layout)
    gradcheck(layer, x, mode="full")


def test_gradcheck_directional_bigger(rng):
    layer = _layer(4, 6, 3, 1, 1, True, np.float64)
    x = make_input(rng, (3, 4, 9, 7), np.float64, "strided")
    report = gradcheck(layer, x, mode="directional")
    assert {c.mode for c in report.checks} == {"directional"}


def test_conv_of_delta_returns_flipped_kernel():
    # A unit impulse in the middle of a zero image: a cross-correlation answers with the
    # kernel rotated by 180 degrees (a convolution would answer with the kernel itself).
    layer = Conv2d(1, 1, 3, padding=1, rng=0, dtype=np.float64)
    layer.W.data[0, 0] = np.arange(9.0).reshape(3, 3)
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    y, _ = layer.forward(x)
    np.testing.assert_array_equal(y[0, 0], np.arange(9.0).reshape(3, 3)[::-1, ::-1])


def test_bad_inputs_name_the_argument():
    layer = Conv2d(3, 2, 3, rng=0)
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of Conv2d: expected a 4-d array, "
                             r"got shape \(2, 3, 5\)"):
        layer.forward(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of Conv2d: expected 3 channels/features on axis 1, got "
                             r"shape \(2, 4, 5, 5\)"):
        layer.forward(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"expected a padded input of at least 3x3 \(the kernel\), got 2x5 "
                             r"with padding 0"):
        layer.forward(np.zeros((1, 3, 2, 5), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"expected dtype float32 \(the parameters' dtype\), got float64"):
        layer.forward(np.zeros((1, 3, 5, 5), np.float64))
    with pytest.raises(ArgumentTypeError,
                       match=r"argument 'bias': expected a bool \(True or False\), got 'False'"):
        Conv2d(3, 2, 3, bias="False")
    with pytest.raises(ArgumentError,
                       match=r"argument 'kernel_size': expected an int or a pair of ints, got \(3, "
                             r"3, 3\)"):
        Conv2d(3, 2, (3, 3, 3))
    with pytest.raises(ArgumentError, match=r"argument 'stride': expected an integer >= 1, got 0"):
        Conv2d(3, 2, 3, stride=0)
    with pytest.raises(ArgumentError,
                       match=r"argument 'padding': expected an integer >= 0, got -1"):
        Conv2d(3, 2, 3, padding=-1)


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2, 3, (3, 1), (1, 3), (2, 3)])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_gradcheck_exhaustive_sweep(k, stride, padding):
    # Every kernel/stride/padding combination on a 6x5 input, full mode, with bias.
    g = np.random.default_rng(zlib.crc32(repr((k, stride, padding)).encode()))   # fixed seeds
    layer = _layer(2, 2, k, stride, padding, True, np.float64, seed=int(g.integers(100)))
    x = make_input(g, (1, 2, 6, 5), np.float64, "strided")
    expected = conv_oracle(x, layer.W.data, layer.b.data, stride, padding)
    y = assert_forward_matches(layer, x, expected)
    assert y.shape == layer.output_shape(x.shape)
    gradcheck(layer, x, mode="full")
