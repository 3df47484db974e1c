"""ReLU: y = max(x, 0), gradient 0 at exactly 0."""
import numpy as np
import pytest

from minirocket.layers import ReLU
from minirocket.testing import check_module
from tests.layers._template import LAYOUTS, assert_forward_matches, gradcheck, make_input


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 7, 5), (1, 6)])
def test_forward_matches_oracle(rng, dtype, layout, shape):
    x = make_input(rng, shape, dtype, layout)
    expected = np.where(np.asarray(x, np.float64) > 0, x, 0.0)
    assert_forward_matches(ReLU(), x, expected)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 3, 3), (1, 5)])
def test_gradcheck_away_from_zero(rng, layout, shape):
    # Every input at least 0.1 from the kink: finite differences never straddle it.
    x = make_input(rng, shape, np.float64, layout, away_from=0.0, margin=0.1)
    report = gradcheck(ReLU(), x, mode="full")
    assert report.checks[0].kinks == 0


def test_gradient_at_exactly_zero_is_zero():
    # The documented convention: the gradient passes only where the output is positive.
    layer = ReLU()
    x = np.array([[-1.0, 0.0, 2.0, -0.0]])
    y, ctx = layer.forward(x)
    gx = layer.backward(ctx, np.array([[3.0, 5.0, 7.0, 11.0]]))
    np.testing.assert_array_equal(y, [[0.0, 0.0, 2.0, 0.0]])
    np.testing.assert_array_equal(gx, [[0.0, 0.0, 7.0, 0.0]])


def test_gradcheck_reports_the_kink_at_zero():
    x = np.array([[0.0, 1.0, -1.0]])
    report = check_module(ReLU(), x, mode="full", raise_on_fail=False)
    c = report.checks[0]
    assert not c.ok and c.kinks == 1 and c.worst == (0, 0)
    # Central difference at the kink is the mean of the one-sided slopes: gy / 2.
    assert c.analytic == 0.0 and c.numeric != 0.0


def test_eval_keeps_nothing_and_dtype(rng):
    x = make_input(rng, (2, 3), np.float32)
    y, ctx = ReLU().forward(x, train=False)
    assert ctx is None and y.dtype == np.float32
