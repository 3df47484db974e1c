"""Embedding: row lookup; repeated ids add their gradients (dense or sparse RowGrad)."""
import numpy as np
import pytest

from minirocket.core import RowGrad
from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers import Embedding
from tests.layers._template import as_layout, gradcheck


def one_hot(idx, V):
    flat = np.asarray(idx).reshape(-1)
    out = np.zeros((flat.size, V))
    out[np.arange(flat.size), flat] = 1.0
    return out


# Ids with repeats (3 appears three times) in 1-d and 2-d (N, F) form.
IDS = [np.array([3, 0, 3, 5, 3]), np.array([[1, 4], [4, 4], [0, 6]])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
@pytest.mark.parametrize("idx", IDS)
def test_forward_is_one_hot_matmul(dtype, layout, idx):
    layer = Embedding(7, 4, rng=0, dtype=dtype)
    ids = as_layout(idx, layout) if idx.ndim == 2 else idx
    y, _ = layer.forward(ids)
    expected = (one_hot(ids, 7) @ layer.E.data.astype(np.float64)).reshape(idx.shape + (4,))
    assert y.dtype == dtype and y.shape == idx.shape + (4,)
    np.testing.assert_allclose(y, expected, rtol=0, atol=0)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("idx", IDS)
def test_gradient_equals_one_hot_oracle(rng, sparse, idx):
    layer = Embedding(7, 4, sparse=sparse, rng=0, dtype=np.float64)
    y, ctx = layer.forward(idx)
    gy = rng.standard_normal(y.shape)
    assert layer.backward(ctx, gy) is None          # no gradient flows to integer ids
    expected = one_hot(idx, 7).T @ gy.reshape(-1, 4)
    np.testing.assert_allclose(layer.E.dense_grad(), expected, rtol=1e-14, atol=1e-15)
    assert isinstance(layer.E.grad, RowGrad) == sparse


def test_sparse_rowgrad_equals_dense_scatter(rng):
    idx = np.array([5, 1, 5, 5, 2, 1])
    sparse, dense = Embedding(8, 3, sparse=True, rng=0), Embedding(8, 3, sparse=False, rng=0)
    gy = rng.standard_normal((6, 3)).astype(np.float32)
    for layer in (sparse, dense):
        _, ctx = layer.forward(idx)
        layer.backward(ctx, gy)
    g = sparse.E.grad
    np.testing.assert_array_equal(g.indices, [1, 2, 5])         # distinct, sorted
    assert g.shape == (8, 3) and g.values.dtype == np.float32
    np.testing.assert_allclose(g.to_dense(np), dense.E.grad, rtol=1e-6)
    np.testing.assert_allclose(g.values[2], gy[0] + gy[2] + gy[3], rtol=1e-6)


def test_sparse_gradients_accumulate_across_calls(rng):
    layer = Embedding(6, 2, sparse=True, rng=0, dtype=np.float64)
    total = np.zeros((6, 2))
    for idx in (np.array([0, 3]), np.array([3, 3, 5])):
        _, ctx = layer.forward(idx)
        gy = rng.standard_normal((idx.size, 2))
        layer.backward(ctx, gy)
        total += one_hot(idx, 6).T @ gy
    assert isinstance(layer.E.grad, RowGrad)
    np.testing.assert_allclose(layer.E.dense_grad(), total, rtol=1e-14)
    # A dense contribution (a weight-decay term, say) turns the gradient dense, keeping the sum.
    layer.E.accumulate(np.ones((6, 2)))
    np.testing.assert_allclose(layer.E.grad, total + 1.0, rtol=1e-14)
    _, ctx = layer.forward(np.array([1]))
    layer.backward(ctx, np.full((1, 2), 2.0))
    total[1] += 2.0
    np.testing.assert_allclose(layer.E.grad, total + 1.0, rtol=1e-14)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("idx", IDS)
def test_gradcheck_table(sparse, idx):
    report = gradcheck(Embedding(7, 3, sparse=sparse, rng=0), idx, mode="full",
                       check_input=False)
    assert [c.name for c in report.checks] == ["E"]


def test_out_of_range_and_bad_ids_name_idx():
    layer = Embedding(5, 2)
    with pytest.raises(ArgumentError,
                       match=r"argument 'idx' of Embedding: expected ids in \[0, 5\), got 5"):
        layer.forward(np.array([0, 5, 1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'idx' of Embedding: expected ids in \[0, 5\), got -1"):
        layer.forward(np.array([0, -1]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'idx' of Embedding: expected an integer dtype, "
                             r"got float64"):
        layer.forward(np.array([0.0, 1.0]))
    with pytest.raises(ArgumentError,
                       match=r"argument 'idx' of Embedding: expected a 1-d or 2-d array, got shape "
                             r"\(1, 1, 1\)"):
        layer.forward(np.zeros((1, 1, 1), np.int64))
    with pytest.raises(ArgumentTypeError,
                       match=r"argument 'sparse': expected a bool \(True or False\), got 'True'"):
        Embedding(5, 2, sparse="True")
