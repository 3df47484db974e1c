"""Linear: y = x W + b."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers import Linear
from tests.layers._template import LAYOUTS, assert_forward_matches, gradcheck, make_input


def linear_oracle(x, W, b):
    """Triple loop in float64: y[n, j] = sum_i x[n, i] W[i, j] + b[j]."""
    N, D_in = x.shape
    D_out = W.shape[1]
    y = np.zeros((N, D_out))
    for n in range(N):
        for j in range(D_out):
            acc = 0.0 if b is None else float(b[j])
            for i in range(D_in):
                acc += float(x[n, i]) * float(W[i, j])
            y[n, j] = acc
    return y


def _layer(D_in, D_out, bias, dtype, seed=0):
    layer = Linear(D_in, D_out, bias=bias, rng=seed, dtype=dtype)
    if bias:
        # A zero bias would hide a forward that forgets to add it.
        layer.b.data[...] = np.random.default_rng(seed + 7).standard_normal(D_out).astype(dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("N,D_in,D_out", [(1, 4, 3), (5, 3, 7)])
def test_forward_matches_loop_oracle(rng, dtype, layout, bias, N, D_in, D_out):
    layer = _layer(D_in, D_out, bias, dtype)
    x = make_input(rng, (N, D_in), dtype, layout)
    b = layer.b.data if bias else None
    assert_forward_matches(layer, x, linear_oracle(x, layer.W.data, b))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("N,D_in,D_out", [(1, 4, 3), (3, 5, 2), (2, 1, 1)])
def test_gradcheck_full(rng, layout, bias, N, D_in, D_out):
    layer = _layer(D_in, D_out, bias, np.float64)
    x = make_input(rng, (N, D_in), np.float64, layout)
    report = gradcheck(layer, x, mode="full")
    assert all(c.mode == "full" and c.kinks == 0 for c in report.checks)


def test_gradcheck_directional_bigger(rng):
    layer = _layer(40, 30, True, np.float64)
    x = make_input(rng, (16, 40), np.float64, "transposed")
    report = gradcheck(layer, x, mode="directional")
    assert {c.mode for c in report.checks} == {"directional"}


def test_backward_formulas_by_hand():
    # 1 x 2 input, 2 x 2 weights: every number can be checked with pencil and paper.
    layer = Linear(2, 2, rng=0, dtype=np.float64)
    layer.W.data[...] = [[1.0, 2.0], [3.0, 4.0]]
    layer.b.data[...] = [0.5, -0.5]
    x = np.array([[1.0, -1.0]])
    y, ctx = layer.forward(x)
    np.testing.assert_array_equal(y, [[1 - 3 + 0.5, 2 - 4 - 0.5]])
    gx = layer.backward(ctx, np.array([[1.0, 10.0]]))
    np.testing.assert_array_equal(gx, [[1 + 20, 3 + 40]])          # gy W^T
    np.testing.assert_array_equal(layer.W.grad, [[1, 10], [-1, -10]])  # x^T gy
    np.testing.assert_array_equal(layer.b.grad, [1, 10])


def test_eval_returns_no_ctx(rng):
    layer = _layer(3, 2, True, np.float32)
    x = make_input(rng, (4, 3), np.float32)
    y_train, ctx = layer.forward(x, train=True)
    y_eval, ctx_eval = layer.forward(x, train=False)
    assert ctx is not None and ctx_eval is None
    np.testing.assert_array_equal(y_train, y_eval)
    np.testing.assert_array_equal(layer.predict(x), y_eval)


def test_bad_inputs_name_the_argument(rng):
    layer = Linear(3, 2, rng=0)
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of Linear: expected a 2-d array, "
                             r"got shape \(4, 3, 1\)"):
        layer.forward(np.zeros((4, 3, 1), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of Linear: expected 3 channels/features on axis 1, got "
                             r"shape \(4, 5\)"):
        layer.forward(np.zeros((4, 5), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"expected dtype float32 \(the parameters' dtype\), got float64"):
        layer.forward(np.zeros((4, 3), np.float64))
    with pytest.raises(ArgumentTypeError,
                       match=r"argument 'bias': expected a bool \(True or False\), got 'False'"):
        Linear(3, 2, bias="False")
    with pytest.raises(TypeError, match=r"argument 'in_features': expected an integer, got 3.0"):
        Linear(3.0, 2)
    with pytest.raises(ArgumentError,
                       match=r"argument 'out_features': expected an integer >= 1, got 0"):
        Linear(3, 0)
