"""Tools for checking gradients and backend parity (public: users audit their own layers)."""
from minirocket.testing.gradcheck import (GradcheckError, GradcheckReport, TensorCheck,
                                          check_gradients, check_module, numerical_grad,
                                          rel_error)

__all__ = ["GradcheckError", "GradcheckReport", "TensorCheck", "check_gradients",
           "check_module", "numerical_grad", "rel_error"]
