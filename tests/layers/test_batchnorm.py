"""BatchNorm over (N, C) and (N, C, H, W): batch statistics in training, running in eval."""
import numpy as np
import pytest

from minirocket.backend import _compat
from minirocket.errors import ArgumentError
from minirocket.layers import BatchNorm
from tests.layers._template import LAYOUTS, as_layout, gradcheck, make_input


def bn_train_oracle(x, gamma, beta, eps):
    """Explicit per-channel loop in float64; returns y, batch mean, biased batch variance."""
    C = x.shape[1]
    y = np.empty(x.shape)
    means, variances = np.empty(C), np.empty(C)
    for c in range(C):
        vals = np.asarray(x[:, c], dtype=np.float64).ravel()
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)
        y[:, c] = (np.asarray(x[:, c], np.float64) - mean) / np.sqrt(var + eps) * gamma[c] + beta[c]
        means[c], variances[c] = mean, var
    return y, means, variances


def bn_eval_oracle(x, gamma, beta, running_mean, running_var, eps):
    y = np.empty(x.shape)
    for c in range(x.shape[1]):
        y[:, c] = ((np.asarray(x[:, c], np.float64) - float(running_mean[c]))
                   / np.sqrt(float(running_var[c]) + eps) * float(gamma[c]) + float(beta[c]))
    return y


def _layer(C, dtype, seed=0):
    layer = BatchNorm(C, gamma_init="uniform", rng=seed, dtype=dtype)
    # Non-trivial beta and running statistics so that a dropped term shows up.
    g = np.random.default_rng(seed + 11)
    layer.gamma.data[...] = (0.5 + g.random(C)).astype(dtype)
    layer.beta.data[...] = g.standard_normal(C).astype(dtype)
    layer.running_mean.data[...] = g.standard_normal(C).astype(dtype)
    layer.running_var.data[...] = (0.5 + g.random(C)).astype(dtype)
    return layer


SHAPES = [(4, 3), (2, 5), (2, 3, 3, 3), (1, 2, 3, 2), (3, 2, 7, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_train_forward_and_running_stats(rng, dtype, layout, shape):
    C = shape[1]
    layer = _layer(C, dtype)
    rm0 = layer.running_mean.data.astype(np.float64)
    rv0 = layer.running_var.data.astype(np.float64)
    # Mean 2, std 3: normalisation has to move and rescale every channel.
    x = as_layout((rng.standard_normal(shape) * 3 + 2).astype(dtype), layout)
    expected, mean, var = bn_train_oracle(x, layer.gamma.data, layer.beta.data, layer.eps)
    y, _ = layer.forward(x, train=True)
    np.testing.assert_allclose(y, expected, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    m = x.size // C
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=0)
    np.testing.assert_allclose(layer.running_mean.data, 0.9 * rm0 + 0.1 * mean, **tol)
    np.testing.assert_allclose(layer.running_var.data, 0.9 * rv0 + 0.1 * var * m / (m - 1), **tol)
    assert layer.running_mean.data.dtype == dtype and layer.running_var.data.dtype == dtype
    if not x.flags["C_CONTIGUOUS"]:
        y_copy, _ = _layer(C, dtype).forward(np.ascontiguousarray(x), train=True)
        np.testing.assert_allclose(y, y_copy, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES + [(1, 3)])
def test_eval_uses_running_stats(rng, dtype, layout, shape):
    layer = _layer(shape[1], dtype)
    x = make_input(rng, shape, dtype, layout)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    expected = bn_eval_oracle(x, layer.gamma.data, layer.beta.data, layer.running_mean.data,
                              layer.running_var.data, layer.eps)
    y, ctx = layer.forward(x, train=False)
    assert ctx is None
    np.testing.assert_allclose(y, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    assert y.dtype == dtype
    for k, v in layer.state_dict().items():    # evaluation changes nothing
        np.testing.assert_array_equal(v, before[k])
    if not x.flags["C_CONTIGUOUS"]:
        np.testing.assert_array_equal(y, layer.forward(np.ascontiguousarray(x), train=False)[0])


def test_running_stats_by_hand():
    layer = BatchNorm(1, dtype=np.float64)
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    y, _ = layer.forward(x)
    # mean 2.5; biased variance 1.25; unbiased 5/3; momentum 0.1 from (mean 0, var 1).
    assert layer.running_mean.data[0] == pytest.approx(0.25, abs=1e-15)
    assert layer.running_var.data[0] == pytest.approx(0.9 + 0.1 * 5 / 3, abs=1e-15)
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 2.5) / np.sqrt(1.25 + 1e-5), rtol=1e-14)
    layer.forward(x)   # second step: the averages move again towards the batch values
    assert layer.running_mean.data[0] == pytest.approx(0.9 * 0.25 + 0.25, abs=1e-15)
    assert layer.running_var.data[0] == pytest.approx(0.9 * (0.9 + 0.5 / 3) + 0.5 / 3, abs=1e-15)


def test_running_stats_by_hand_4d():
    layer = BatchNorm(2, dtype=np.float64)
    x = np.zeros((2, 2, 1, 2))
    x[:, 0] = [[[0.0, 2.0]], [[4.0, 6.0]]]      # channel 0: m = 4 values 0, 2, 4, 6
    x[:, 1] = 5.0                               # channel 1: constant
    layer.forward(x)
    # channel 0: mean 3, biased var 5, unbiased 20/3; channel 1: mean 5, var 0.
    np.testing.assert_allclose(layer.running_mean.data, [0.3, 0.5], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var.data, [0.9 + 2 / 3, 0.9], rtol=1e-15)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_full(rng, layout, shape):
    layer = _layer(shape[1], np.float64)
    x = make_input(rng, shape, np.float64, layout)
    report = gradcheck(layer, x, mode="full")
    assert {c.name for c in report.checks} == {"x", "gamma", "beta"}


def test_gradcheck_directional_bigger(rng):
    layer = _layer(8, np.float64)
    x = make_input(rng, (4, 8, 6, 5), np.float64, "transposed")
    gradcheck(layer, x, mode="directional")


def test_float32_variance_is_stable():
    # |mean| >> std: E[x^2] - E[x]^2 cancels catastrophically in float32 (both terms are
    # ~1e8, their float32 spacing is 8), the two-pass variance keeps the digits.
    g = np.random.default_rng(5)
    x = (1e4 + 0.1 * g.standard_normal((64, 3))).astype(np.float32)
    truth = x.astype(np.float64).var(axis=0)                    # ~0.01
    layer = BatchNorm(3, momentum=1.0)                          # running_var = unbiased var
    y, _ = layer.forward(x)
    np.testing.assert_allclose(layer.running_var.data, truth * 64 / 63, rtol=1e-3)
    # The normalised output has unit variance per channel, as it must.
    np.testing.assert_allclose(y.astype(np.float64).var(axis=0), truth / (truth + 1e-5),
                               rtol=1e-3)
    naive = (x * x).mean(axis=0) - x.mean(axis=0) ** 2         # what the test guards against
    assert np.max(np.abs(naive - truth) / truth) > 0.5


def test_batch_of_one_in_2d_is_a_clear_error():
    layer = BatchNorm(3)
    with pytest.raises(ArgumentError, match=r"argument 'x' of BatchNorm: expected more than one "
                                            r"value per channel in training .* got shape \(1, 3\)"):
        layer.forward(np.zeros((1, 3), np.float32))
    with pytest.raises(ArgumentError, match=r"got shape \(1, 3, 1, 1\)"):
        layer.forward(np.zeros((1, 3, 1, 1), np.float32))
    y, _ = layer.forward(np.ones((1, 3), np.float32), train=False)   # eval is fine
    assert y.shape == (1, 3)


def test_bad_inputs_name_the_argument():
    layer = BatchNorm(3)
    with pytest.raises(ArgumentError,
                       match=r"argument 'x' of BatchNorm: expected a 2-d or 4-d array, got shape "
                             r"\(2, 3, 4\)"):
        layer.forward(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"expected 3 channels/features on axis 1, got shape \(2, 4\)"):
        layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ArgumentError,
                       match=r"expected dtype float32 \(the parameters' dtype\), got float64"):
        layer.forward(np.zeros((2, 3), np.float64))
    with pytest.raises(ArgumentError,
                       match=r"argument 'gamma_init': expected one of 'ones', 'uniform', got "
                             r"'zeros'"):
        BatchNorm(3, gamma_init="zeros")
    with pytest.raises(ArgumentError,
                       match=r"argument 'momentum': expected a number >= 0.0 and <= 1.0, got 1.5"):
        BatchNorm(3, momentum=1.5)
    with pytest.raises(ArgumentError, match=r"argument 'eps': expected a number > 0.0, got 0.0"):
        BatchNorm(3, eps=0.0)


# ------------------------------------------------------------------ fused BN + ReLU
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_fused_relu(rng, shape):
    # beta shifted so that about half the outputs are clamped: both sides of the ReLU
    # are exercised; the seeded draw keeps every output well away from the kink at 0.
    layer = _layer(shape[1], np.float64, seed=3)
    x = make_input(rng, shape, np.float64)
    gradcheck(layer, x, mode="full", forward_kwargs={"relu": True})


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not _compat.numba_available, reason=f"numba is not importable: {_compat.numba_reason}"))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_relu_is_bn_then_relu(rng, backend, dtype, train, shape):
    from minirocket.layers import ReLU
    fused = _layer(shape[1], dtype).to(backend)
    plain = _layer(shape[1], dtype).to(backend)
    relu = ReLU().to(backend)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    o, c_fused = fused.forward(x, train, relu=True)
    y, c_bn = plain.forward(x, train)
    o_ref, c_relu = relu.forward(y, train)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(o, o_ref, **tol)
    assert (o >= 0).all()
    np.testing.assert_array_equal(fused.running_mean.data, plain.running_mean.data)
    if not train:
        assert c_fused is None
        return
    go = rng.standard_normal(shape).astype(dtype)
    gx = fused.backward(c_fused, go)
    gx_ref = plain.backward(c_bn, relu.backward(c_relu, go))
    np.testing.assert_allclose(gx, gx_ref, **tol)
    np.testing.assert_allclose(fused.gamma.grad, plain.gamma.grad, **tol)
    np.testing.assert_allclose(fused.beta.grad, plain.beta.grad, **tol)
