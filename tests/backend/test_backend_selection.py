"""Backend selection by name: explicit, never a silent fallback."""
import numpy as np
import pytest

from minirocket.backend import (BACKENDS, Ops, _compat, available_backends,
                                backend_unavailable_reason, get_array_module, get_backend,
                                to_numpy)
from minirocket.errors import ArgumentError, BackendUnavailableError
from minirocket.layers import BatchNorm, Conv2d, Linear, Sequential


def test_numpy_backend():
    ops = get_backend("numpy")
    assert isinstance(ops, Ops) and ops.name == "numpy" and ops.xp is np
    assert get_backend("numpy") is ops             # one stateless instance per name
    assert get_backend(ops) is ops                 # an Ops object passes through
    assert "numpy" in available_backends() and backend_unavailable_reason("numpy") == ""


@pytest.mark.parametrize("name", ["torch", "NumPy", "", "gpu"])
def test_unknown_name_lists_the_choices(name):
    with pytest.raises(ArgumentError, match=rf"argument 'backend': expected one of 'numpy', "
                                            rf"'numba', 'cupy', got '{name}'"):
        get_backend(name)
    assert set(BACKENDS) == {"numpy", "numba", "cupy"}


def test_non_string_name_is_an_error():
    with pytest.raises(ArgumentError, match=r"argument 'backend': expected one of"):
        get_backend(3)


@pytest.mark.skipif(_compat.has_gpu,
                    reason="a GPU is present, so the cupy backend is available")
def test_cupy_without_gpu_is_a_clear_error():
    with pytest.raises(BackendUnavailableError,
                       match=r"argument 'backend': 'cupy' is not available here: .*cupy"):
        get_backend("cupy")
    assert "cupy" not in available_backends()
    assert backend_unavailable_reason("cupy")
    with pytest.raises(BackendUnavailableError):
        Linear(2, 2).to("cupy")


@pytest.mark.skipif(not _compat.numba_available,
                    reason=f"numba is not importable here: {_compat.numba_reason}")
def test_numba_backend_when_importable():
    ops = get_backend("numba")
    assert isinstance(ops, Ops) and ops.name == "numba" and ops.xp is np
    assert "numba" in available_backends()
    layer = Linear(3, 2, rng=0).to("numba")
    assert layer.ops is ops
    y = layer.predict(np.ones((2, 3), np.float32))
    assert y.dtype == np.float32 and y.shape == (2, 2)


@pytest.mark.skipif(_compat.numba_available,
                    reason="numba is importable, so the backend exists")
def test_numba_missing_is_a_clear_error():
    with pytest.raises(BackendUnavailableError, match=r"'numba' is not available here"):
        get_backend("numba")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_numpy_keeps_dtype_values_and_resets_grads(dtype):
    net = Sequential(Conv2d(2, 3, 3, bias=True, rng=0, dtype=dtype), BatchNorm(3, dtype=dtype))
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(dtype)
    y0, ctx = net.forward(x)
    net.backward(ctx, np.ones_like(y0))
    state = net.state_dict()
    assert net.to("numpy") is net
    for name, p in net.named_parameters():
        assert p.data.dtype == dtype, name
        assert p.grad is None, name
    for name, b in net.named_buffers():
        assert b.data.dtype == dtype, name
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    assert all(m.ops is get_backend("numpy") for _, m in net.named_modules())


def test_array_module_helpers():
    a = np.arange(3.0)
    assert get_array_module(a) is np and get_array_module(a, 1.0) is np
    assert to_numpy(a) is a


@pytest.mark.gpu
@pytest.mark.skipif(not _compat.has_gpu,
                    reason=f"no usable GPU: {_compat.gpu_reason}")
def test_cupy_backend_on_gpu():
    ops = get_backend("cupy")
    layer = Linear(3, 2, rng=0).to("cupy")
    assert layer.W.data.dtype == np.float32 and ops.owns(layer.W.data)
    y = layer.predict(ops.asarray(np.ones((2, 3), np.float32)))
    assert to_numpy(y).shape == (2, 2)
