"""Softmax cross-entropy: values, gradient, extreme logits, dtypes, bad labels."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.losses import log_softmax, softmax_cross_entropy
from minirocket.testing import check_gradients


def ce_reference(logits, labels):
    """float64 reference with a hand-written log-sum-exp, row by row."""
    z = np.asarray(logits, np.float64)
    total = 0.0
    for row, y in zip(z, labels):
        m = max(row)
        # log-sum-exp minus the label's logit, both relative to the row maximum: adding m
        # back first would round (1e4 + log 2) - 1e4 to the spacing of 1e4 (~2e-12).
        total += np.log(sum(np.exp(v - m) for v in row)) - (row[y] - m)
    return total / len(labels)


def ce_grad_reference(logits, labels):
    z = np.asarray(logits, np.float64)
    N, C = z.shape
    g = np.zeros((N, C))
    for n in range(N):
        e = np.exp(z[n] - z[n].max())
        g[n] = e / e.sum()
        g[n, labels[n]] -= 1.0
    return g / N


@pytest.mark.parametrize("N,C", [(1, 2), (4, 3), (6, 10)])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_gradcheck(rng, N, C, scale):
    z = rng.standard_normal((N, C)) * scale
    y = rng.integers(0, C, N)
    s = float(rng.uniform(0.5, 2.0))       # a random upstream scalar on the loss
    loss, gz = softmax_cross_entropy(z, y)
    report = check_gradients(lambda: s * float(softmax_cross_entropy(z, y)[0]), {"z": z},
                             {"z": s * gz}, mode="full")
    report.raise_if_failed()
    assert report.checks[0].rel_err < 1e-6
    assert float(loss) == pytest.approx(ce_reference(z, y), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,logits,labels", [
    ("huge", [[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], [0, 0]),
    ("equal", [[7.0, 7.0, 7.0, 7.0], [-3.0, -3.0, -3.0, -3.0]], [1, 3]),
    ("far_apart", [[0.0, 200.0], [-500.0, 500.0], [100.0, -100.0]], [0, 1, 0]),
    ("all_huge_equal", [[1e4, 1e4], [-1e4, -1e4]], [0, 1]),
])
def test_extreme_logits_exact_and_finite(dtype, name, logits, labels):
    z = np.array(logits, dtype)
    y = np.array(labels)
    loss, gz = softmax_cross_entropy(z, y)
    assert loss.dtype == dtype and gz.dtype == dtype and loss.shape == ()
    assert np.isfinite(loss) and np.all(np.isfinite(gz))
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(float(loss), ce_reference(z, y), **tol)
    np.testing.assert_allclose(gz, ce_grad_reference(z, y), **tol)
    np.testing.assert_allclose(gz.sum(axis=1), 0.0, atol=1e-7)    # softmax rows sum to one


def test_extreme_values_by_hand():
    z = np.array([[1e4, -1e4, 0.0]], np.float32)
    loss, gz = softmax_cross_entropy(z, np.array([0]))
    assert float(loss) == 0.0
    np.testing.assert_array_equal(gz, [[0.0, 0.0, 0.0]])
    loss, gz = softmax_cross_entropy(z, np.array([1]))
    assert float(loss) == 2e4                                   # exact, no overflow
    np.testing.assert_array_equal(gz, [[1.0, -1.0, 0.0]])
    loss, _ = softmax_cross_entropy(np.full((3, 5), 2.5), np.array([0, 2, 4]))
    assert float(loss) == pytest.approx(np.log(5), rel=1e-15)


def test_log_softmax_matches_reference(rng):
    z = rng.standard_normal((3, 4)) * 50
    expected = np.array([[v - (row.max() + np.log(np.exp(row - row.max()).sum())) for v in row]
                         for row in z])
    np.testing.assert_allclose(log_softmax(z, np), expected, rtol=1e-13, atol=1e-12)


def test_float32_in_float32_out(rng):
    z = rng.standard_normal((5, 3)).astype(np.float32)
    loss, gz = softmax_cross_entropy(z, np.array([0, 1, 2, 0, 1], dtype=np.uint8))
    assert loss.dtype == np.float32 and gz.dtype == np.float32
    assert float(loss) == pytest.approx(ce_reference(z, [0, 1, 2, 0, 1]), rel=1e-6)


def test_bad_labels_and_logits():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected values in \[0, 4\), got 4"):
        softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected values in \[0, 4\), got -1"):
        softmax_cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected an integer dtype, got float64"):
        softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected an integer dtype, got bool"):
        softmax_cross_entropy(z, np.array([True, False, True]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected 3 labels \(one per logit row\), got 2"):
        softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'labels': expected a 1-d array, got shape \(3, 1\)"):
        softmax_cross_entropy(z, np.zeros((3, 1), np.int64))
    with pytest.raises(ArgumentError,
                       match=r"argument 'logits': expected a 2-d array, got shape \(4,\)"):
        softmax_cross_entropy(np.zeros(4), np.array([0]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'logits': expected a floating dtype, got int64"):
        softmax_cross_entropy(np.zeros((3, 4), np.int64), np.array([0, 1, 2]))
    with pytest.raises(ArgumentError, match=r"argument 'logits': expected at least one row"):
        softmax_cross_entropy(np.zeros((0, 4)), np.zeros(0, np.int64))
    with pytest.raises(TypeError, match=r"argument 'labels': expected an array, got \[0, 1, 2\]"):
        softmax_cross_entropy(z, [0, 1, 2])
