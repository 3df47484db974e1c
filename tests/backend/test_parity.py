"""Backend parity: every fast primitive against the NumPy reference :class:`Ops`.

One test body per primitive, parametrised over the fast backends (``numba`` here, ``cupy``
on a GPU machine) and, for numba, over its two builds (serial for small work, parallel
above ``SERIAL_BELOW``), so both compiled versions are checked whatever the shape.

Tolerances (float32 / float64), per primitive, and why:

* exact (``assert_array_equal``): im2col, col2im, ReLU and its backward, average pooling
  and its backward, scatter-add and the unique-rows sum on numba: the kernels do the same
  float operations in the same order as the reference (taps in (i, j) order, stable
  index order).
* convolution forward and gradients: ``rtol 1e-5`` plus ``atol 1e-5 * max|ref|``
  (float32), ``1e-12`` (float64): the GEMM is one (O, K) @ (K, N*L) call instead of N
  per-sample calls, so BLAS blocks the K-sums differently and gW sums over N*L in a
  different order.
* batch norm: ``rtol 1e-5, atol 1e-5`` on outputs of unit scale (float32), ``1e-12``
  (float64): the kernels accumulate the per-channel sums in float64, the reference in
  the array dtype with pairwise summation.
* evaluation-mode affine and fused BN+ReLU: ``rtol 1e-6, atol 1e-6`` (float32): one
  multiply-add per element, identical up to contraction into an FMA.
"""
import numpy as np
import pytest

from minirocket.backend import _compat, get_backend, to_numpy
from minirocket.layers import AvgPool2d, BatchNorm, Conv2d, Embedding, ReLU

needs_numba = pytest.mark.skipif(not _compat.numba_available,
                                 reason=f"numba is not importable: {_compat.numba_reason}")

# (backend, numba build). "cupy" runs on GPU machines only (conftest skips gpu tests).
FAST = [pytest.param(("numba", "serial"), marks=needs_numba, id="numba-serial"),
        pytest.param(("numba", "parallel"), marks=needs_numba, id="numba-parallel"),
        pytest.param(("cupy", None), marks=pytest.mark.gpu, id="cupy")]

DTYPES = [np.float32, np.float64]


@pytest.fixture
def fast(request, monkeypatch):
    """The fast Ops object, with the numba build forced to serial or parallel."""
    name, build = request.param
    if name == "numba":
        from minirocket.backend import _numba_kernels as nk
        monkeypatch.setattr(nk, "SERIAL_BELOW", 1 << 62 if build == "serial" else 0)
    return get_backend(name)


def _parametrize_fast():
    return pytest.mark.parametrize("fast", FAST, indirect=True)


REF = get_backend("numpy")


def _exact(ops):
    # Atomics on the GPU change the order of additions: CuPy results are compared with
    # the summation tolerance instead of bit equality.
    return ops.name == "numba"


def _close(got, ref, dtype, rtol32=1e-5, atol32=1e-5, scale=False):
    got = to_numpy(got)
    assert got.dtype == ref.dtype == np.dtype(dtype)
    assert got.shape == ref.shape
    if dtype == np.float64:
        rtol, atol = 1e-12, 1e-12
    else:
        rtol, atol = rtol32, atol32
    if scale:
        atol = atol * max(float(np.abs(ref).max()), 1.0)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def _same(ops, got, ref, dtype):
    got = to_numpy(got)
    assert got.dtype == np.dtype(dtype)
    if _exact(ops):
        np.testing.assert_array_equal(got, ref)
    else:
        _close(got, ref, dtype, scale=True)


# ------------------------------------------------------------------------ convolution
CONV_CASES = [  # (N, C, H, W, O, k, stride, padding)
    (2, 3, 9, 7, 5, 3, 1, 1),
    (3, 4, 8, 8, 6, 3, 2, 1),
    (2, 4, 8, 8, 6, 1, 2, 0),       # WRN projection shortcut
    (1, 2, 5, 6, 3, 3, 1, 0),
    (2, 3, 6, 6, 4, 2, 3, 2),       # stride > kernel, padding > 1
    # Unit stride with the width kept: im2col copies whole shifted planes.
    (2, 2, 5, 5, 3, 5, 1, 2),       # 5x5 "same"
    (2, 2, 1, 1, 3, 3, 1, 1),       # 1x1 image: every tap but the centre is padding
    (2, 3, 4, 6, 2, 1, 1, 0),       # 1x1 kernel, stride 1
]


@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_col2im(fast, dtype, case, rng):
    N, C, H, W, O, k, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    ref = REF.im2col(x, k, k, s, p)
    got = fast.im2col(fast.asarray(x), k, k, s, p)
    _same(fast, got, ref, dtype)
    cols = rng.standard_normal(ref.shape).astype(dtype)
    _same(fast, fast.col2im(fast.asarray(cols), x.shape, k, k, s, p),
          REF.col2im(cols, x.shape, k, k, s, p), dtype)


@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_backward(fast, dtype, case, rng):
    N, C, H, W, O, k, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((O, C, k, k)).astype(dtype)
    y_ref = REF.conv2d(x, Wt, s, p)
    y = fast.conv2d(fast.asarray(x), fast.asarray(Wt), s, p)
    _close(y, y_ref, dtype, scale=True)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    gx_ref, gW_ref = REF.conv2d_backward(x, Wt, gy, s, p)
    gx, gW = fast.conv2d_backward(fast.asarray(x), fast.asarray(Wt), fast.asarray(gy), s, p)
    _close(gx, gx_ref, dtype, scale=True)
    _close(gW, gW_ref, dtype, scale=True)
    gx_none, gW2 = fast.conv2d_backward(fast.asarray(x), fast.asarray(Wt), fast.asarray(gy),
                                        s, p, need_gx=False)
    assert gx_none is None
    _close(gW2, gW_ref, dtype, scale=True)


@_parametrize_fast()
def test_conv2d_non_contiguous_inputs(fast, rng):
    # Transposed storage: kernels must not assume C order of what the caller hands in.
    x = np.transpose(rng.standard_normal((9, 9, 3, 2)).astype(np.float32))       # (2,3,9,9)
    Wt = np.transpose(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))      # (4,3,3,3)
    assert not x.flags.c_contiguous and not Wt.flags.c_contiguous
    y_ref = REF.conv2d(np.ascontiguousarray(x), np.ascontiguousarray(Wt), 1, 1)
    _close(fast.conv2d(fast.asarray(x), fast.asarray(Wt), 1, 1), y_ref, np.float32, scale=True)
    gy = np.transpose(rng.standard_normal(y_ref.shape[::-1]).astype(np.float32))
    gx_ref, gW_ref = REF.conv2d_backward(x, Wt, np.ascontiguousarray(gy), 1, 1)
    gx, gW = fast.conv2d_backward(fast.asarray(x), fast.asarray(Wt), fast.asarray(gy), 1, 1)
    _close(gx, gx_ref, np.float32, scale=True)
    _close(gW, gW_ref, np.float32, scale=True)


@_parametrize_fast()
def test_returned_arrays_survive_later_calls(fast, rng):
    # Workspace reuse is for internal scratch only: an output the caller holds (and a ctx
    # that holds an activation) must not change when the same shapes run again.
    x1 = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    x2 = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    Wt = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    y1 = fast.conv2d(fast.asarray(x1), fast.asarray(Wt), 1, 1)
    keep = to_numpy(y1).copy()
    cols1 = fast.im2col(fast.asarray(x1), 3, 3, 1, 1)
    keep_cols = to_numpy(cols1).copy()
    fast.conv2d(fast.asarray(x2), fast.asarray(Wt), 1, 1)
    fast.conv2d_backward(fast.asarray(x2), fast.asarray(Wt), fast.asarray(
        rng.standard_normal((4, 5, 8, 8)).astype(np.float32)), 1, 1)
    fast.im2col(fast.asarray(x2), 3, 3, 1, 1)
    np.testing.assert_array_equal(to_numpy(y1), keep)
    np.testing.assert_array_equal(to_numpy(cols1), keep_cols)


@needs_numba
@pytest.mark.parametrize("block", [1, 2 * 18 * 36])
def test_numba_conv_in_sample_blocks(block, monkeypatch, rng):
    # Large batches are unfolded a block of samples at a time: with a tiny block size the
    # same small problem runs as 1 sample per block (block=1) or 2-3 samples per block.
    # (Small work stays in the calling thread, whose budget is COLS_BLOCK; the worker
    # threads' THREAD_BLOCK is exercised in test_threads.py.)
    from minirocket.backend import numba_ops
    monkeypatch.setattr(numba_ops, "COLS_BLOCK", block)
    fast = get_backend("numba")
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    Wt = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert fast._split(5, 18, 36) == [(0, 5)]
    assert len(fast._blocks(0, 5, 18, 36, threaded=False)) == (5 if block == 1 else 3)
    y_ref = REF.conv2d(x, Wt, 1, 1)
    _close(fast.conv2d(x, Wt, 1, 1), y_ref, np.float32, scale=True)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    gx_ref, gW_ref = REF.conv2d_backward(x, Wt, gy, 1, 1)
    gx, gW = fast.conv2d_backward(x, Wt, gy, 1, 1)
    _close(gx, gx_ref, np.float32, scale=True)
    _close(gW, gW_ref, np.float32, scale=True)


@needs_numba
def test_numba_workspace_switch_and_release(rng):
    from minirocket.backend.numba_ops import NumbaOps
    from minirocket.errors import ArgumentTypeError
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    Wt = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    reuse, fresh = NumbaOps(), NumbaOps(reuse_workspace=False)
    a = reuse.conv2d(x, Wt, 1, 1)
    b = fresh.conv2d(x, Wt, 1, 1)
    np.testing.assert_array_equal(a, b)
    assert reuse.workspace_nbytes() >= 27 * 72 * 4        # the (K, N*L) columns are kept
    assert fresh.workspace_nbytes() == 0
    reuse.release_workspace()
    assert reuse.workspace_nbytes() == 0
    with pytest.raises(ArgumentTypeError, match="reuse_workspace"):
        NumbaOps(reuse_workspace="yes")


# ------------------------------------------------------------------------ batch norm
@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 5, 6)])
def test_batchnorm_train_backward(fast, dtype, shape, rng):
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    # A mean far from 0 relative to the spread: the two-pass variance must hold up.
    x = (rng.standard_normal(shape) * 0.5 + 3.0).astype(dtype)
    C = shape[1]
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    ref = REF.batchnorm_train(x, gamma, beta, 1e-5, axes)
    got = fast.batchnorm_train(fast.asarray(x), fast.asarray(gamma), fast.asarray(beta), 1e-5,
                               axes)
    for g, r in zip(got, ref):
        _close(g, r, dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    xhat, inv_std = ref[1], ref[4]
    ref_b = REF.batchnorm_backward(xhat, inv_std, gamma, gy, axes)
    got_b = fast.batchnorm_backward(fast.asarray(xhat), fast.asarray(inv_std),
                                    fast.asarray(gamma), fast.asarray(gy), axes)
    for g, r in zip(got_b, ref_b):
        _close(g, r, dtype, scale=True)


@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 5, 6)])
def test_batchnorm_relu_train_backward(fast, dtype, shape, rng):
    # Training BN fused with its ReLU, against the reference's composition of the two.
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    x = (rng.standard_normal(shape) * 0.5 + 3.0).astype(dtype)
    C = shape[1]
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)           # about half the outputs clamped
    ref = REF.batchnorm_relu_train(x, gamma, beta, 1e-5, axes)
    got = fast.batchnorm_relu_train(fast.asarray(x), fast.asarray(gamma), fast.asarray(beta),
                                    1e-5, axes)
    for g, r in zip(got, ref):
        _close(g, r, dtype)
    o, xhat, inv_std = ref[0], ref[1], ref[4]
    assert 0 < (o == 0).sum() < o.size
    go = rng.standard_normal(shape).astype(dtype)
    ref_b = REF.batchnorm_relu_backward(xhat, inv_std, gamma, o, go, axes)
    got_b = fast.batchnorm_relu_backward(fast.asarray(xhat), fast.asarray(inv_std),
                                         fast.asarray(gamma), fast.asarray(o), fast.asarray(go),
                                         axes)
    for g, r in zip(got_b, ref_b):
        _close(g, r, dtype, scale=True)


@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 5, 6)])
def test_batchnorm_eval_and_fused_relu(fast, dtype, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    scale = rng.standard_normal(shape[1]).astype(dtype)
    shift = rng.standard_normal(shape[1]).astype(dtype)
    ref = REF.batchnorm_eval(x, scale, shift)
    _close(fast.batchnorm_eval(fast.asarray(x), fast.asarray(scale), fast.asarray(shift)),
           ref, dtype, rtol32=1e-6, atol32=1e-6)
    fused = fast.batchnorm_relu_eval(fast.asarray(x), fast.asarray(scale), fast.asarray(shift))
    _close(fused, REF.batchnorm_relu_eval(x, scale, shift), dtype, rtol32=1e-6, atol32=1e-6)
    np.testing.assert_array_equal(REF.batchnorm_relu_eval(x, scale, shift),
                                  np.maximum(ref, 0))


# ------------------------------------------------------------------------ elementwise
@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_and_backward(fast, dtype, rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    y_ref = REF.relu(x)
    y = fast.relu(fast.asarray(x))
    assert to_numpy(y).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(to_numpy(y), y_ref)          # exact, NaN in the same places
    gy = rng.standard_normal(x.shape).astype(dtype)
    _same(fast, fast.relu_backward(y, fast.asarray(gy)), REF.relu_backward(y_ref, gy), dtype)
    g = to_numpy(fast.relu_backward(y, fast.asarray(gy)))
    assert g[0, 0, 0, 0] == 0 and g[0, 0, 0, 1] == 0           # gradient at exactly 0 is 0


# ------------------------------------------------------------------------ pooling
@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,stride", [(2, 2), (3, 2), (2, 1), (8, 8)])
def test_avgpool_forward_backward(fast, dtype, k, stride, rng):
    x = rng.standard_normal((2, 3, 8, 9)).astype(dtype)
    y_ref = REF.avgpool2d(x, k, stride)
    _same(fast, fast.avgpool2d(fast.asarray(x), k, stride), y_ref, dtype)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    _same(fast, fast.avgpool2d_backward(fast.asarray(gy), x.shape, k, stride),
          REF.avgpool2d_backward(gy, x.shape, k, stride), dtype)


# ------------------------------------------------------------------------ embeddings
@_parametrize_fast()
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_and_unique_rows_with_duplicates(fast, dtype, rng):
    V, D = 11, 4
    idx = np.array([3, 7, 3, 0, 10, 3, 7, 5], dtype=np.int64)   # repeated ids must add up
    rows = rng.standard_normal((idx.size, D)).astype(dtype)
    ref = REF.scatter_add_rows((V, D), idx, rows)
    got = fast.scatter_add_rows((V, D), fast.asarray(idx), fast.asarray(rows))
    _same(fast, got, ref, dtype)
    np.testing.assert_allclose(to_numpy(got)[3], rows[[0, 2, 5]].sum(axis=0),
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    u_ref, s_ref = REF.unique_rows_sum(idx, rows)
    u, s = fast.unique_rows_sum(fast.asarray(idx), fast.asarray(rows))
    np.testing.assert_array_equal(to_numpy(u), u_ref)
    assert to_numpy(u).dtype == u_ref.dtype
    _same(fast, s, s_ref, dtype)


# ------------------------------------------------------------------------ layers on a backend
def _run_layer(layer, backend, x, gy, train=True):
    layer = layer.to(backend)
    ops = layer.ops
    y, ctx = layer.forward(ops.asarray(x), train=train)
    gx = layer.backward(ctx, ops.asarray(gy))
    grads = {n: to_numpy(p.dense_grad()) for n, p in layer.named_parameters()}
    return to_numpy(y), (None if gx is None else to_numpy(gx)), grads


@_parametrize_fast()
@pytest.mark.parametrize("make,shape", [
    (lambda: Conv2d(3, 4, 3, stride=2, padding=1, bias=True, rng=1), (2, 3, 8, 8)),
    (lambda: BatchNorm(3, gamma_init="uniform", rng=2), (4, 3, 5, 5)),
    (lambda: ReLU(), (2, 3, 4, 4)),
    (lambda: AvgPool2d(2), (2, 3, 6, 6)),
])
def test_layers_match_reference(fast, make, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    ref_layer = make()
    y_ref, _ = ref_layer.forward(x, train=True)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    y0, gx0, g0 = _run_layer(make(), "numpy", x, gy)
    y1, gx1, g1 = _run_layer(make(), fast, x, gy)
    _close(y1, y0, np.float32, scale=True)
    _close(gx1, gx0, np.float32, scale=True)
    assert g1.keys() == g0.keys()
    for n in g0:
        _close(g1[n], g0[n], np.float32, scale=True)


@_parametrize_fast()
def test_embedding_layer_matches_reference(fast, rng):
    idx = rng.integers(0, 6, size=(5, 3))
    idx[0, :] = 2                                        # duplicates
    gy = rng.standard_normal((5, 3, 4)).astype(np.float32)
    for sparse in (True, False):
        _, _, g0 = _run_layer(Embedding(6, 4, sparse=sparse, rng=0), "numpy", idx, gy)
        _, _, g1 = _run_layer(Embedding(6, 4, sparse=sparse, rng=0), fast, idx, gy)
        _close(g1["E"], g0["E"], np.float32)
