"""Worker-thread convolutions of the numba backend, and the BLAS thread control.

:class:`~minirocket.backend.numba_ops.NumbaOps` spreads a convolution's samples over
``threads`` worker threads, each unfolding cache-sized blocks and calling a single-threaded
GEMM. These tests force every path (one part or several, one sample or several per block,
more workers than samples) and compare against the NumPy reference with the tolerances of
``test_parity.py`` (float32: ``rtol 1e-5`` plus ``atol 1e-5 * max|ref|``; float64: 1e-12),
then check that a fixed thread count gives bit-identical results from call to call.
"""
import numpy as np
import pytest

from minirocket.backend import _compat, get_backend
from minirocket.errors import ArgumentError, ArgumentTypeError

pytestmark = pytest.mark.skipif(not _compat.numba_available,
                                reason=f"numba is not importable: {_compat.numba_reason}")

REF = get_backend("numpy")

# (N, C, H, W, O, k, stride, padding)
CASES = [(1, 3, 8, 8, 4, 3, 1, 1), (2, 3, 8, 8, 4, 3, 1, 1), (5, 2, 7, 9, 3, 3, 2, 1),
         (7, 4, 6, 6, 5, 1, 2, 0), (3, 2, 5, 5, 2, 3, 1, 0)]


def _close(got, ref):
    if ref.dtype == np.float64:
        rtol = atol = 1e-12
    else:
        rtol, atol = 1e-5, 1e-5
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * max(float(np.abs(ref).max()), 1.0))


@pytest.fixture
def always_threaded(monkeypatch):
    # Thread even the tiny test shapes (the real threshold is SERIAL_BELOW elements).
    from minirocket.backend import _numba_kernels as nk
    monkeypatch.setattr(nk, "SERIAL_BELOW", 0)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block", ["one sample", "many samples"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_threaded_conv_matches_reference(threads, block, dtype, case, rng, monkeypatch,
                                         always_threaded):
    from minirocket.backend import numba_ops
    from minirocket.backend.numba_ops import NumbaOps
    # A 1-element budget gives one sample per block; a large one puts a worker's whole
    # share in one block (GEMM output swapped from (O, n, L) to NCHW).
    monkeypatch.setattr(numba_ops, "THREAD_BLOCK", 1 if block == "one sample" else 1 << 20)
    N, C, H, W, O, k, s, p = case
    ops = NumbaOps(threads=threads)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((O, C, k, k)).astype(dtype)
    y = ops.conv2d(x, Wt, s, p)
    _close(y, REF.conv2d(x, Wt, s, p))
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gW = ops.conv2d_backward(x, Wt, gy, s, p)
    gx_ref, gW_ref = REF.conv2d_backward(x, Wt, gy, s, p)
    _close(gx, gx_ref)
    _close(gW, gW_ref)
    none, gW2 = ops.conv2d_backward(x, Wt, gy, s, p, need_gx=False)
    assert none is None
    np.testing.assert_array_equal(gW2, gW)


def test_threaded_conv_is_repeatable_and_really_split(rng, always_threaded):
    from minirocket.backend.numba_ops import NumbaOps
    ops = NumbaOps(threads=2)
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    Wt = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((6, 4, 8, 8)).astype(np.float32)
    assert len(ops._split(6, 27, 64)) == 2
    a = ops.conv2d_backward(x, Wt, gy, 1, 1)
    b = ops.conv2d_backward(x, Wt, gy, 1, 1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # Both workers kept scratch: the work really went to two threads.
    assert all(ws.nbytes() > 0 for ws in ops._ws)


def test_small_work_stays_in_the_calling_thread():
    from minirocket.backend import _numba_kernels as nk
    from minirocket.backend.numba_ops import NumbaOps
    ops = NumbaOps(threads=4)
    assert ops._split(1, 27, 1024) == [(0, 1)]                  # one sample
    assert ops._split(4, 27, 16) == [(0, 4)]                    # below SERIAL_BELOW
    big = ops._split(3, 144, nk.SERIAL_BELOW)                   # more workers than samples
    assert big == [(0, 1), (1, 2), (2, 3)]


def test_worker_pool_is_recreated_in_a_forked_child(rng, always_threaded):
    # A forked child inherits the executor object but none of its threads; the pool is
    # keyed by process id. Simulated by changing the recorded id.
    from minirocket.backend.numba_ops import NumbaOps
    ops = NumbaOps(threads=2)
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    Wt = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    y = ops.conv2d(x, Wt, 1, 1)
    first = ops._pool
    ops._pool_pid = -1
    np.testing.assert_array_equal(ops.conv2d(x, Wt, 1, 1), y)
    assert ops._pool is not first


@pytest.mark.parametrize("bad, err", [(0, ArgumentError), (-2, ArgumentError),
                                      (True, ArgumentTypeError), (1.5, ArgumentTypeError),
                                      ("2", ArgumentTypeError)])
def test_threads_argument_is_checked(bad, err):
    from minirocket.backend.numba_ops import NumbaOps
    with pytest.raises(err, match="threads"):
        NumbaOps(threads=bad)


def test_default_thread_count_is_numbas():
    import numba
    from minirocket.backend.numba_ops import NumbaOps
    assert NumbaOps().threads == numba.config.NUMBA_NUM_THREADS


# ------------------------------------------------------------------------ BLAS threads
def _openblas_or_skip():
    from minirocket.backend import blas
    if blas.get_blas_threads() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS here: its thread count cannot be set")
    return blas


def test_blas_threads_context_restores_the_count():
    blas = _openblas_or_skip()
    before = blas.get_blas_threads()
    try:
        blas.set_blas_threads(2)
        with blas.blas_threads(1):
            assert blas.get_blas_threads() == 1
        assert blas.get_blas_threads() == 2
        with pytest.raises(RuntimeError):
            with blas.blas_threads(1):
                raise RuntimeError("restored even when the block fails")
        assert blas.get_blas_threads() == 2
    finally:
        blas.set_blas_threads(before)


def test_set_blas_threads_zero_restores_openblas_choice_none_changes_nothing():
    blas = _openblas_or_skip()
    before = blas.get_blas_threads()
    try:
        own = blas._initial
        assert own is not None and own >= 1
        blas.set_blas_threads(1)
        assert blas.set_blas_threads(None) == 1
        assert blas.set_blas_threads(-3) == 1
        assert blas.set_blas_threads(0) == own
    finally:
        blas.set_blas_threads(before)


@pytest.mark.parametrize("arch, given, expected", [("wrn", None, 1), ("mlp", None, 0),
                                                    ("wrn", 0, 0), ("mlp", 1, 1),
                                                    ("wrn", 2, 2)])
def test_training_blas_threads_follow_the_model_unless_set(arch, given, expected):
    from minirocket.train.threads import blas_threads_for
    assert blas_threads_for({"run": {"blas_threads": given}, "model": {"arch": arch}}) == expected


def test_one_thread_pool_holds_blas_for_a_threaded_batch_only():
    blas = _openblas_or_skip()
    from minirocket.backend.numba_ops import NumbaOps
    before = blas.get_blas_threads()
    try:
        blas.set_blas_threads(2)
        with NumbaOps(threads=2).one_thread_pool(8):
            assert blas.get_blas_threads() == 1
        assert blas.get_blas_threads() == 2
        with NumbaOps(threads=2).one_thread_pool(1):             # batch 1: left alone
            assert blas.get_blas_threads() == 2
        with NumbaOps(threads=1).one_thread_pool(8):             # no workers: left alone
            assert blas.get_blas_threads() == 2
        with REF.one_thread_pool(8):                             # the reference: no-op
            assert blas.get_blas_threads() == 2
    finally:
        blas.set_blas_threads(before)


@pytest.mark.parametrize("fold", [True, False])
def test_an_empty_batch_gives_empty_logits_on_numba_as_on_numpy(fold):
    from minirocket import models, serve
    pair = models.rocket_wrn(light_depth=10, booster_depth=16).to("numba")
    x = np.zeros((0, 3, 32, 32), np.float32)
    assert pair.light.forward(x, train=False)[0].shape == (0, 10)
    for backend in ("numba", "numpy"):
        assert serve.compile_light(pair, backend=backend, fold=fold).predict(x).shape == (0, 10)
    ops = get_backend("numba")
    W = np.ones((4, 3, 3, 3), np.float32)
    assert ops.conv2d(x, W, 1, 1).shape == (0, 4, 32, 32)
    gx, gW = ops.conv2d_backward(x, W, np.zeros((0, 4, 32, 32), np.float32), 1, 1)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gW, 0)
