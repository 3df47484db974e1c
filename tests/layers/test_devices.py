"""Arrays from another device (array module) are refused with a clear message."""
import numpy as np
import pytest

from minirocket.backend import _compat
from minirocket.errors import ArgumentError
from minirocket.layers import BatchNorm, Conv2d, Embedding, Linear, ReLU
from minirocket.losses import sigmoid_binary_cross_entropy, softmax_cross_entropy


class FakeDeviceArray:
    """Looks like an array (shape, dtype, ndim) but belongs to another array module."""

    __module__ = "fakegpu"

    def __init__(self, data):
        self._data = np.asarray(data)
        self.shape, self.dtype, self.ndim = self._data.shape, self._data.dtype, self._data.ndim


@pytest.mark.parametrize("layer,shape", [
    (Linear(3, 2), (4, 3)), (Conv2d(2, 2, 1), (1, 2, 3, 3)), (BatchNorm(2), (3, 2)),
    (ReLU(), (2, 2)),
], ids=["linear", "conv", "bn", "relu"])
def test_layers_refuse_foreign_arrays(layer, shape):
    x = FakeDeviceArray(np.zeros(shape, np.float32))
    with pytest.raises(ArgumentError, match=rf"argument 'x': expected a numpy.ndarray on the "
                                            rf"'numpy' backend of {type(layer).__name__}, got "
                                            rf"fakegpu.FakeDeviceArray"):
        layer.forward(x)


def test_embedding_refuses_foreign_ids():
    with pytest.raises(ArgumentError,
                       match=r"argument 'idx': expected a numpy.ndarray .* got fakegpu"):
        Embedding(4, 2).forward(FakeDeviceArray(np.zeros(3, np.int64)))


def test_losses_refuse_mixed_devices():
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ArgumentError, match=r"argument 'labels': expected an array on the numpy "
                                            r"device, got a fakegpu array"):
        softmax_cross_entropy(logits, FakeDeviceArray(np.zeros(2, np.int64)))
    with pytest.raises(ArgumentError, match=r"argument 'labels': expected an array on the numpy "
                                            r"device, got a fakegpu array"):
        sigmoid_binary_cross_entropy(np.zeros(2), FakeDeviceArray(np.zeros(2)))


@pytest.mark.gpu
@pytest.mark.skipif(not _compat.has_gpu,
                    reason="needs CuPy and a GPU to build a real device array")
def test_real_cupy_array_into_numpy_layer():
    x = _compat.cupy.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ArgumentError, match=r"got cupy.ndarray"):
        Linear(3, 2).forward(x)
