"""Dropout: inverted dropout with a seeded mask; identity in evaluation."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers import Dropout
from tests.layers._template import LAYOUTS, gradcheck, make_input


def test_same_seed_same_mask_different_seed_different_mask(rng):
    x = make_input(rng, (8, 16), np.float32, away_from=0.0)
    y1, _ = Dropout(0.5, seed=3).forward(x)
    y2, _ = Dropout(0.5, seed=3).forward(x)
    y3, _ = Dropout(0.5, seed=4).forward(x)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)


def test_successive_calls_draw_new_masks(rng):
    x = make_input(rng, (8, 16), np.float64, away_from=0.0)
    layer = Dropout(0.5, seed=0)
    (y1, _), (y2, _) = layer.forward(x), layer.forward(x)
    assert not np.array_equal(y1 == 0, y2 == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_survivors_scaled_by_inverse_keep_probability(rng, dtype, p):
    x = make_input(rng, (200, 50), dtype, away_from=0.0)
    y, ctx = Dropout(p, seed=1).forward(x)
    assert y.dtype == dtype and ctx.mask.dtype == dtype
    kept = y != 0
    np.testing.assert_allclose(y[kept] / x[kept], 1.0 / (1.0 - p), rtol=1e-6)
    # Keep fraction ~ 1 - p: 10 000 Bernoulli draws, 5 standard deviations of slack.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.size)
    gy = rng.standard_normal(x.shape).astype(dtype)
    gx = Dropout(p, seed=1).backward(ctx, gy)
    np.testing.assert_array_equal(gx, gy * ctx.mask)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_eval_and_p0_are_identity(rng, layout):
    x = make_input(rng, (4, 3, 5), np.float32, layout)
    y, ctx = Dropout(0.7, seed=0).forward(x, train=False)
    assert ctx is None
    np.testing.assert_array_equal(y, x)
    layer = Dropout(0.0)
    y, ctx = layer.forward(x, train=True)
    np.testing.assert_array_equal(y, x)
    gy = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(ctx, gy), gy)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_contiguous_input_same_mask_same_output(rng, layout):
    x = make_input(rng, (4, 6), np.float64, layout)
    y, _ = Dropout(0.5, seed=9).forward(x)
    y_copy, _ = Dropout(0.5, seed=9).forward(np.ascontiguousarray(x))
    np.testing.assert_array_equal(y, y_copy)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_with_fixed_mask(rng, layout):
    x = make_input(rng, (3, 5), np.float64, layout)
    keep = rng.random((3, 5)) >= 0.4
    mask = keep / 0.6
    gradcheck(Dropout(0.4), x, mode="full", forward_kwargs={"mask": mask})


def test_gradcheck_with_reseeded_generator(rng):
    # The other way to freeze the mask: reset the layer's generator before every forward.
    x = make_input(rng, (3, 4), np.float64)
    gradcheck(Dropout(0.5, seed=2), x, mode="full",
              before_forward=lambda m: setattr(m, "rng", np.random.default_rng(2)))


def test_bad_arguments():
    with pytest.raises(ArgumentError,
                       match=r"argument 'p': expected a number >= 0.0 and < 1.0, got 1.0"):
        Dropout(1.0)
    with pytest.raises(ArgumentError,
                       match=r"argument 'p': expected a number >= 0.0 and < 1.0, got -0.1"):
        Dropout(-0.1)
    with pytest.raises(ArgumentTypeError, match=r"argument 'p': expected a number, got '0.5'"):
        Dropout("0.5")
    with pytest.raises(ArgumentError, match=r"argument 'seed': expected an integer >= 0, got -1"):
        Dropout(0.5, seed=-1)
    with pytest.raises(ArgumentError,
                       match=r"argument 'mask' of Dropout: expected shape \(2, 3\), got \(3, 2\)"):
        Dropout(0.5).forward(np.ones((2, 3)), mask=np.ones((3, 2)))
