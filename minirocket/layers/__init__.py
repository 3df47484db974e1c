"""Layers: one file each, each with ``forward(x, train) -> (y, ctx)`` and
``backward(ctx, gy) -> gx``."""
from minirocket.layers.avg_pool import AvgPool2d
from minirocket.layers.batchnorm import BatchNorm
from minirocket.layers.conv2d import Conv2d
from minirocket.layers.dropout import Dropout
from minirocket.layers.embedding import Embedding
from minirocket.layers.flatten import Flatten
from minirocket.layers.global_avg_pool import GlobalAvgPool2d
from minirocket.layers.linear import Linear
from minirocket.layers.relu import ReLU
from minirocket.layers.sequential import Sequential
from minirocket.layers.stop_gradient import StopGradient

__all__ = ["AvgPool2d", "BatchNorm", "Conv2d", "Dropout", "Embedding", "Flatten",
           "GlobalAvgPool2d", "Linear", "ReLU", "Sequential", "StopGradient"]
