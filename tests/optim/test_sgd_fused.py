"""SGD's compiled one-pass update against its array-module code, bit for bit.

For NumPy parameters SGD runs compiled kernels (one pass over the parameter, or over the
touched rows of a sparse gradient). They do the same float operations in the same order
as the array-module code, so every test here demands exact equality: the reference is the
same optimizer with the kernels switched off.
"""
import numpy as np
import pytest

from minirocket.backend import _compat, get_backend
from minirocket.core import Parameter
from minirocket.core.parameter import RowGrad
from minirocket.optim import SGD
from minirocket.optim import sgd as sgd_module

pytestmark = pytest.mark.skipif(not _compat.numba_available,
                                reason=f"numba is not importable: {_compat.numba_reason}")

OPS = get_backend("numpy")
SETTINGS = [  # (momentum, nesterov, weight decay)
    (0.9, False, 5e-4),
    (0.9, True, 5e-4),
    (0.9, False, 0.0),
    (0.5, True, 0.0),
    (0.0, False, 5e-4),
    (0.0, False, 0.0),
]


@pytest.fixture(params=["serial", "parallel"])
def build(request, monkeypatch):
    """Force the serial or the parallel build of the kernels, whatever the size."""
    from minirocket.backend import _numba_kernels as nk
    monkeypatch.setattr(nk, "SERIAL_BELOW", 1 << 62 if request.param == "serial" else 0)
    return request.param


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of each fused kernel (a silent fallback would make parity trivial)."""
    from minirocket.backend import _numba_kernels as nk
    counts = {"sgd_dense_into": 0, "sgd_rows_into": 0}
    for name in counts:
        kernel = getattr(nk, name)

        def spy(*args, _kernel=kernel, _name=name):
            counts[_name] += 1
            return _kernel(*args)
        monkeypatch.setattr(nk, name, spy)
    return counts


def _reference(opt, monkeypatch):
    """Run ``opt.step()`` with the kernels switched off (the array-module code)."""
    with monkeypatch.context() as m:
        m.setattr(sgd_module, "_fused_kernels", lambda *a: None)
        opt.step()


def _tables(dtype, rng):
    E = rng.standard_normal((50, 4)).astype(dtype)
    W = rng.standard_normal((6, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    return E, W, b


def _pair(E, W, b):
    return [("embed.E", Parameter("E", E.copy())), ("fc.W", Parameter("W", W.copy())),
            ("fc.b", Parameter("b", b.copy(), kind="bias"))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mu,nesterov,wd", SETTINGS)
def test_fused_steps_match_array_code_exactly(build, calls, monkeypatch, dtype, mu, nesterov,
                                              wd):
    rng = np.random.default_rng(3)
    E, W, b = _tables(dtype, rng)
    fast, ref = _pair(E, W, b), _pair(E, W, b)
    opt_fast = SGD(fast, 0.1, momentum=mu, nesterov=nesterov, weight_decay=wd,
                   decay_bn_and_bias=False)
    opt_ref = SGD(ref, 0.1, momentum=mu, nesterov=nesterov, weight_decay=wd,
                  decay_bn_and_bias=False)
    for step in range(4):
        # Repeated ids in the lookups (summed into distinct rows by accumulate_rows), and
        # rows that come and go between steps (lazy: untouched rows must not move).
        idx = rng.integers(0, 12 + 10 * step, 30)
        rows = rng.standard_normal((30, 4)).astype(dtype)
        gW = rng.standard_normal(W.shape).astype(dtype)
        gb = rng.standard_normal(b.shape).astype(dtype)
        for params in (fast, ref):
            p = dict(params)
            for q in p.values():
                q.zero_grad()
            p["embed.E"].accumulate_rows(OPS, idx, rows)
            p["fc.W"].accumulate(gW)
            p["fc.b"].accumulate(gb)
        opt_fast.step()
        _reference(opt_ref, monkeypatch)
        for (name, pf), (_, pr) in zip(fast, ref):
            assert pf.data.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(pf.data, pr.data, err_msg=f"{name}, step {step}")
        assert opt_fast.state.keys() == opt_ref.state.keys()
        for name, st in opt_ref.state.items():
            np.testing.assert_array_equal(opt_fast.state[name]["momentum_buffer"],
                                          st["momentum_buffer"], err_msg=name)
    assert calls == {"sgd_dense_into": 8, "sgd_rows_into": 4}
    if mu == 0.0:
        assert opt_fast.state == {}


def test_sparse_update_is_lazy_and_hand_computed(calls):
    E0 = np.arange(24, dtype=np.float32).reshape(6, 4) / 10
    E = Parameter("E", E0.copy())
    opt = SGD([("embed.E", E)], 0.5, momentum=0.9, weight_decay=0.1)
    t = np.float32
    buf = np.zeros_like(E0)
    w = E0.copy()
    for idx, rows in [([4, 1, 4], [[1, 2, 3, 4], [0, 1, 0, 1], [1, 1, 1, 1]]),
                      ([2, 4], [[1, 1, 1, 1], [2, 2, 2, 2]])]:
        idx, rows = np.array(idx), np.array(rows, np.float32)
        E.zero_grad()
        E.accumulate_rows(OPS, idx, rows)
        g = np.zeros_like(E0)
        np.add.at(g, idx, rows)
        touched = np.unique(idx)
        d = g[touched] + t(0.1) * w[touched]
        buf[touched] = t(0.9) * buf[touched] + d
        w[touched] -= t(0.5) * buf[touched]
        opt.step()
        np.testing.assert_array_equal(E.data, w)
        np.testing.assert_array_equal(opt.state["embed.E"]["momentum_buffer"], buf)
    np.testing.assert_array_equal(E.data[[0, 3, 5]], E0[[0, 3, 5]])
    assert calls["sgd_rows_into"] == 2


@pytest.mark.parametrize("indices", [[3, 1], [1, 1], [-1, 2]],
                         ids=["unsorted", "repeated", "negative"])
def test_rows_kernel_refuses_ids_it_cannot_update_in_place(build, indices):
    # Such ids never come from accumulate_rows; a hand-made RowGrad may hold them. The
    # kernel must refuse before writing, and SGD then runs NumPy's indexing.
    from minirocket.backend import _numba_kernels as nk
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    buf = rng.standard_normal((5, 3)).astype(np.float32)
    w0, buf0 = w.copy(), buf.copy()
    idx = np.array(indices)
    vals = np.ones((2, 3), np.float32)
    t = np.float32
    assert nk.sgd_rows_into(vals.size, w, idx, vals, buf, t(0.1), t(0.9), t(0.0), False) is False
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(buf, buf0)


@pytest.mark.parametrize("indices", [[3, 1], [-1, 2]], ids=["unsorted", "negative"])
def test_hand_made_row_gradient_falls_back_to_array_code(monkeypatch, indices):
    rng = np.random.default_rng(1)
    E0 = rng.standard_normal((5, 3)).astype(np.float32)
    vals = rng.standard_normal((2, 3)).astype(np.float32)
    out = []
    for fused in (True, False):
        E = Parameter("E", E0.copy())
        E.grad = RowGrad(np.array(indices), vals, E0.shape)
        opt = SGD([("embed.E", E)], 0.1, momentum=0.9, weight_decay=1e-2)
        if fused:
            opt.step()
        else:
            _reference(opt, monkeypatch)
        out.append((E.data, opt.state["embed.E"]["momentum_buffer"]))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_array_code_kept_for_what_the_kernels_do_not_take(calls):
    # A float16 table and a Fortran-order weight take the array-module path.
    E = Parameter("E", np.arange(12, dtype=np.float16).reshape(6, 2))
    W = Parameter("W", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    opt = SGD([("embed.E", E), ("fc.W", W)], 0.1, momentum=0.9, weight_decay=0.0)
    E.accumulate_rows(OPS, np.array([1, 4, 1]), np.ones((3, 2), np.float16))
    W.accumulate(np.ones((2, 3), np.float32))
    opt.step()
    assert calls == {"sgd_dense_into": 0, "sgd_rows_into": 0}
    np.testing.assert_array_equal(E.data[1], np.float16([2, 3]) - np.float16(0.1) * 2)
    np.testing.assert_array_equal(W.data, np.arange(6, dtype=np.float32).reshape(2, 3)
                                  - np.float32(0.1))
