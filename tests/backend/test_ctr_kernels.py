"""The numba kernels of the CTR training step: 2-d batch norm and the fused SGD updates.

2-d batch norm (the MLP's BN on (N, C) activations, ReLU fused or not) is compared with
the NumPy reference :class:`~minirocket.backend.ops.Ops` at the batch-norm tolerances of
``test_parity`` (float64 sums in the kernel, pairwise float32 sums in the reference), over
shapes that exercise one row block, several, and a partial last block, in both builds
(serial and parallel). Its gradients are also checked against float64 central
differences. The SGD kernels are checked bit for bit against the array-module update.
"""
import numpy as np
import pytest

from minirocket.backend import _compat, get_backend
from minirocket.errors import ArgumentError
from minirocket.layers import BatchNorm

pytestmark = pytest.mark.skipif(not _compat.numba_available,
                                reason=f"numba is not importable: {_compat.numba_reason}")

REF = get_backend("numpy")
# N below, at and above one block of rows (BN2D_ROWS = 64), with a partial last block.
SHAPES = [(7, 5), (64, 3), (130, 33), (300, 17)]


@pytest.fixture(params=["serial", "parallel"])
def fast(request, monkeypatch):
    """NumbaOps with its kernels forced to the serial or the parallel build."""
    from minirocket.backend import _numba_kernels as nk
    monkeypatch.setattr(nk, "SERIAL_BELOW", 1 << 62 if request.param == "serial" else 0)
    return get_backend("numba")


def _close(got, ref, dtype, scale=False):
    assert got.dtype == ref.dtype == np.dtype(dtype)
    assert got.shape == ref.shape
    rtol = atol = 1e-12 if dtype == np.float64 else 1e-5
    if scale:
        atol = atol * max(float(np.abs(ref).max()), 1.0)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def _inputs(shape, dtype, rng, offset=3.0):
    C = shape[1]
    # A mean far from 0 relative to the spread: the variance must not cancel.
    x = (rng.standard_normal(shape) * 0.5 + offset).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, gy


# ------------------------------------------------------------------------ 2-d batch norm
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_bn2d_forward_backward_match_reference(fast, dtype, shape, rng):
    x, gamma, beta, gy = _inputs(shape, dtype, rng)
    ref = REF.batchnorm_train(x, gamma, beta, 1e-5, (0,))
    got = fast.batchnorm_train(x, gamma, beta, 1e-5, (0,))
    for g, r in zip(got, ref):
        _close(g, r, dtype)
    xhat, inv_std = ref[1], ref[4]
    ref_b = REF.batchnorm_backward(xhat, inv_std, gamma, gy, (0,))
    got_b = fast.batchnorm_backward(xhat, inv_std, gamma, gy, (0,))
    for g, r in zip(got_b, ref_b):
        _close(g, r, dtype, scale=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_bn2d_fused_relu_matches_reference(fast, dtype, shape, rng):
    x, gamma, beta, gy = _inputs(shape, dtype, rng, offset=0.0)
    ref = REF.batchnorm_relu_train(x, gamma, beta, 1e-5, (0,))
    got = fast._bn2d_train(x, gamma, beta, 1e-5, (0,), True)
    assert (ref[0] == 0).any() and (ref[0] > 0).any()      # both sides of the ReLU
    for g, r in zip(got, ref):
        _close(g, r, dtype)
    o = ref[0]
    ref_b = REF.batchnorm_relu_backward(ref[1], ref[4], gamma, o, gy, (0,))
    got_b = fast._bn2d_backward(ref[1], ref[4], gamma, o, gy, (0,))
    for g, r in zip(got_b, ref_b):
        _close(g, r, dtype, scale=True)


def test_bn2d_variance_survives_a_huge_mean(fast, rng):
    # float64, |mean| / std = 1e7: a one-pass E[x^2] - E[x]^2 would keep ~2 digits; the
    # per-block two-pass sums combined exactly keep the reference's ~1e-9 relative error.
    x = rng.standard_normal((300, 4)) + 1e7
    gamma, beta = np.ones(4), np.zeros(4)
    _, _, mean, var, _ = fast.batchnorm_train(x, gamma, beta, 0.0, (0,))
    exact_mean = x.mean(axis=0)
    exact_var = ((x - exact_mean) ** 2).mean(axis=0)
    np.testing.assert_allclose(mean, exact_mean, rtol=1e-14)
    np.testing.assert_allclose(var, exact_var, rtol=1e-7)


def test_bn2d_non_contiguous_input(fast, rng):
    x, gamma, beta, gy = _inputs((40, 9), np.float32, rng)
    xt = np.asfortranarray(x)
    ref = REF.batchnorm_train(x, gamma, beta, 1e-5, (0,))
    got = fast.batchnorm_train(xt, gamma, beta, 1e-5, (0,))
    for g, r in zip(got, ref):
        _close(g, r, np.float32)
    ref_b = REF.batchnorm_backward(ref[1], ref[4], gamma, gy, (0,))
    got_b = fast.batchnorm_backward(np.asfortranarray(ref[1]), ref[4], gamma,
                                    np.asfortranarray(gy), (0,))
    for g, r in zip(got_b, ref_b):
        _close(g, r, np.float32, scale=True)


@pytest.mark.parametrize("relu", [False, True])
def test_bn2d_gradients_by_central_differences(fast, relu, rng):
    # Loss L = sum(R * y) for a fixed random R; float64 throughout.
    N, C = 70, 3
    x = rng.standard_normal((N, C)) * 0.7 + 0.2
    gamma = rng.uniform(0.5, 1.5, C)
    beta = rng.standard_normal(C) * 0.3
    R = rng.standard_normal((N, C))

    def loss(x_, g_, b_):
        y = fast._bn2d_train(x_, g_, b_, 1e-5, (0,), relu)[0]
        return float((R * y).sum())

    y, xhat, _, _, inv_std = fast._bn2d_train(x, gamma, beta, 1e-5, (0,), relu)
    gx, ggamma, gbeta = fast._bn2d_backward(xhat, inv_std, gamma, y if relu else None, R,
                                            (0,))
    h = 1e-6
    for arr, grad, name in ((x, gx, "x"), (gamma, ggamma, "gamma"), (beta, gbeta, "beta")):
        flat = arr.reshape(-1)
        for k in rng.choice(flat.size, size=min(flat.size, 12), replace=False):
            keep = flat[k]
            flat[k] = keep + h
            up = loss(x, gamma, beta)
            flat[k] = keep - h
            down = loss(x, gamma, beta)
            flat[k] = keep
            num = (up - down) / (2 * h)
            assert abs(grad.reshape(-1)[k] - num) <= 1e-6 * max(1.0, abs(num)), (name, k)


def test_bn_layer_on_2d_input_matches_reference(rng):
    x, _, _, gy = _inputs((90, 6), np.float32, rng)
    layers = [BatchNorm(6, rng=0), BatchNorm(6, rng=0).to("numba")]
    outs = [bn.forward(x, train=True) for bn in layers]
    _close(outs[1][0], outs[0][0], np.float32)
    np.testing.assert_allclose(layers[1].running_var.data, layers[0].running_var.data,
                               rtol=1e-5)
    gxs = [bn.backward(ctx, gy) for bn, (_, ctx) in zip(layers, outs)]
    _close(gxs[1], gxs[0], np.float32, scale=True)
    np.testing.assert_allclose(layers[1].gamma.grad, layers[0].gamma.grad, rtol=1e-4,
                               atol=1e-4)
    with pytest.raises(ArgumentError, match="more than one value per channel"):
        layers[1].forward(x[:1], train=True)
    with pytest.raises(ArgumentError):
        layers[1].forward(x[:, :5], train=True)


# ------------------------------------------------------------------------ SGD kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mu,nesterov,wd", [(0.9, False, 5e-4), (0.9, True, 5e-4),
                                             (0.9, False, 0.0), (0.0, False, 5e-4)])
def test_sgd_row_kernel_matches_numpy_indexing(fast, dtype, mu, nesterov, wd, rng):
    from minirocket.backend import _numba_kernels as nk
    t = np.dtype(dtype).type
    w = rng.standard_normal((40, 8)).astype(dtype)
    buf = rng.standard_normal((40, 8)).astype(dtype)
    idx = np.unique(rng.integers(0, 40, 25))
    vals = rng.standard_normal((idx.size, 8)).astype(dtype)
    ew, eb = w.copy(), buf.copy()
    d = vals + t(wd) * ew[idx] if wd else vals
    if mu:
        b = t(mu) * eb[idx] + d
        eb[idx] = b
        ew[idx] -= t(0.1) * (d + t(mu) * b if nesterov else b)
    else:
        ew[idx] -= t(0.1) * d
    assert nk.sgd_rows_into(vals.size, w, idx, vals, buf, t(0.1), t(mu), t(wd), nesterov)
    np.testing.assert_array_equal(w, ew)
    np.testing.assert_array_equal(buf, eb)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("mu,nesterov,wd", [(0.9, False, 5e-4), (0.9, True, 0.0),
                                             (0.0, False, 5e-4)])
def test_sgd_dense_kernel_matches_numpy(fast, first, mu, nesterov, wd, rng):
    from minirocket.backend import _numba_kernels as nk
    t = np.float32
    w = rng.standard_normal(300).astype(t)
    g = rng.standard_normal(300).astype(t)
    buf = rng.standard_normal(300).astype(t)
    ew, eb = w.copy(), buf.copy()
    d = g + t(wd) * ew if wd else g
    if mu:
        eb = d.copy() if first else t(mu) * eb + d
        ew -= t(0.1) * (d + t(mu) * eb if nesterov else eb)
    else:
        ew -= t(0.1) * d
    nk.sgd_dense_into(w.size, w, g, buf, t(0.1), t(mu), t(wd), nesterov, first)
    np.testing.assert_array_equal(w, ew)
    if mu:
        np.testing.assert_array_equal(buf, eb)
