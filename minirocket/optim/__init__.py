"""Optimizers and schedules, outside the layers and keyed by dotted parameter name."""
from minirocket.optim.adam import Adam
from minirocket.optim.base import Optimizer, named_parameter_list
from minirocket.optim.schedule import MultiStepLR
from minirocket.optim.sgd import SGD

__all__ = ["Adam", "MultiStepLR", "Optimizer", "SGD", "named_parameter_list"]
