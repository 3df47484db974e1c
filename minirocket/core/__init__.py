"""Parameters and the module protocol."""
from minirocket.core.module import Module
from minirocket.core.parameter import Parameter, RowGrad

__all__ = ["Module", "Parameter", "RowGrad"]
