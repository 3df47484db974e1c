"""Sigmoid binary cross-entropy on logits: values, gradient, extremes, dtypes, bad labels."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.losses import sigmoid, sigmoid_binary_cross_entropy
from minirocket.testing import check_gradients


def bce_reference(z, y):
    """float64 reference: softplus(z) - z*y with softplus = logaddexp(0, z)."""
    z = np.asarray(z, np.float64).reshape(-1)
    y = np.asarray(y, np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - z * y))


def bce_grad_reference(z, y):
    z = np.asarray(z, np.float64).reshape(-1)
    p = np.array([1.0 / (1.0 + np.exp(-v)) if v >= 0 else np.exp(v) / (1.0 + np.exp(v))
                  for v in z])
    return (p - np.asarray(y, np.float64)) / z.size


@pytest.mark.parametrize("shape", [(1,), (7,), (5, 1)])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_gradcheck(rng, shape, scale):
    z = rng.standard_normal(shape) * scale
    y = rng.integers(0, 2, shape[0])
    s = float(rng.uniform(0.5, 2.0))
    loss, gz = sigmoid_binary_cross_entropy(z, y)
    assert gz.shape == z.shape
    report = check_gradients(lambda: s * float(sigmoid_binary_cross_entropy(z, y)[0]),
                             {"z": z}, {"z": s * gz}, mode="full")
    report.raise_if_failed()
    assert float(loss) == pytest.approx(bce_reference(z, y), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,logits,labels", [
    ("huge", [1e4, -1e4, 1e4, -1e4], [1, 0, 0, 1]),
    ("zero", [0.0, 0.0], [0, 1]),
    ("far_apart", [80.0, -80.0, 700.0, -700.0, 30.0], [1, 1, 0, 0, 1]),
])
def test_extreme_logits_exact_and_finite(dtype, name, logits, labels):
    z = np.array(logits, dtype)
    y = np.array(labels)
    loss, gz = sigmoid_binary_cross_entropy(z, y)
    assert loss.dtype == dtype and gz.dtype == dtype
    assert np.isfinite(loss) and np.all(np.isfinite(gz))
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(float(loss), bce_reference(z, y), **tol)
    np.testing.assert_allclose(gz, bce_grad_reference(z, y), **tol)


def test_extreme_values_by_hand():
    z = np.array([1e4, -1e4], np.float32)
    loss, gz = sigmoid_binary_cross_entropy(z, np.array([1, 0]))
    assert float(loss) == 0.0
    np.testing.assert_array_equal(gz, [0.0, 0.0])
    loss, gz = sigmoid_binary_cross_entropy(z, np.array([0, 1]))
    assert float(loss) == 1e4                     # mean of 1e4 and 1e4, no inf
    np.testing.assert_array_equal(gz, [0.5, -0.5])
    loss, gz = sigmoid_binary_cross_entropy(np.zeros(3), np.array([0, 1, 1]))
    assert float(loss) == pytest.approx(np.log(2), rel=1e-15)


def test_sigmoid_saturates_without_overflow():
    with np.errstate(over="raise"):
        s = sigmoid(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], np.float32), np)
    assert s.dtype == np.float32
    np.testing.assert_array_equal(s[[0, 2, 4]], [0.0, 0.5, 1.0])


@pytest.mark.parametrize("labels", [np.array([0, 1, 1]), np.array([False, True, True]),
                                    np.array([0.0, 1.0, 1.0], np.float32)])
def test_label_dtypes_accepted_and_dtype_preserved(labels):
    z = np.array([0.5, -1.0, 2.0], np.float32)
    loss, gz = sigmoid_binary_cross_entropy(z, labels)
    assert loss.dtype == np.float32 and gz.dtype == np.float32
    assert float(loss) == pytest.approx(bce_reference(z, [0, 1, 1]), rel=1e-6)


def test_bad_labels_and_logits():
    z = np.zeros(3, np.float32)
    with pytest.raises(ArgumentError, match=r"argument 'labels': expected values in \{0, 1\}"):
        sigmoid_binary_cross_entropy(z, np.array([0, 2, 1]))
    with pytest.raises(ArgumentError, match=r"argument 'labels': expected values in \{0, 1\}"):
        sigmoid_binary_cross_entropy(z, np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected 3 labels \(N > 0\), got 2"):
        sigmoid_binary_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'logits': expected shape \(N,\) or \(N, 1\), got \(3, 2\)"):
        sigmoid_binary_cross_entropy(np.zeros((3, 2)), np.array([0, 1, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'logits': expected a floating dtype, got int64"):
        sigmoid_binary_cross_entropy(np.zeros(3, np.int64), np.array([0, 1, 1]))
