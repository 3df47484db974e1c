"""Serving the light net: inference-only copies with batch norm folded where exact.

:func:`compile_light` turns a trained light net (a :class:`~minirocket.models.WRN`, a CTR
:class:`~minirocket.models.MLP`, or a rocket pair, whose ``light`` member is taken) into an
object with one method, ``predict(x) -> logits``. It keeps no context, folds BN layers into
the preceding conv or Linear where that is exact (:mod:`minirocket.serve.wrn` documents
which pre-activation positions can and cannot be folded), and fuses the rest with their
ReLU. Its logits equal the evaluation-mode net's ``forward(x, train=False)`` within float
tolerances.

Example
-------
>>> from minirocket import models, serve
>>> pair = models.rocket_wrn(light_depth=16, booster_depth=40)
>>> fast = serve.compile_light(pair, backend="numba")
>>> logits = fast.predict(x)        # x float32 (N, 3, 32, 32)
"""
from minirocket.backend import get_backend
from minirocket.errors import ArgumentTypeError
from minirocket.serve.mlp import InferenceMLP
from minirocket.serve.wrn import InferenceWRN
from minirocket.validate import check_bool


def _serving_ops(backend, reuse_workspace):
    ops = get_backend(backend)
    if ops.name == "numba":
        # Own instance: its scratch buffers do not compete with a training loop's ops.
        from minirocket.backend.numba_ops import NumbaOps
        return NumbaOps(reuse_workspace=reuse_workspace)
    return ops


def compile_light(model, backend=None, fold=True, reuse_workspace=True):
    """Inference-only copy of a light net.

    Parameters
    ----------
    model : WRN, MLP or RocketPair
        A pair contributes its ``light`` net (the served one).
    backend : {"numpy", "numba", "cupy"} or Ops, optional
        Where to run; defaults to the model's current backend.
    fold : bool
        Fold BN where exact (default). False keeps every BN as a fused BN+ReLU pass (WRN).
    reuse_workspace : bool
        On numba, keep the internal im2col columns between calls (default True).

    Returns
    -------
    InferenceWRN or InferenceMLP
        ``predict(x)`` returns the logits; ``folded`` lists the folded BN layers.

    Raises
    ------
    ArgumentTypeError
        ``model`` is not a WRN, an MLP or a pair of them.
    """
    from minirocket.models.mlp import MLP
    from minirocket.models.rocket_pair import RocketPair
    from minirocket.models.wrn import WRN
    fold = check_bool("fold", fold)
    reuse_workspace = check_bool("reuse_workspace", reuse_workspace)
    net = model.light if isinstance(model, RocketPair) else model
    if not isinstance(net, (WRN, MLP)):
        raise ArgumentTypeError(f"argument 'model': expected a WRN, an MLP or a RocketPair, "
                                f"got {type(model).__name__}")
    ops = _serving_ops(net.ops if backend is None else backend, reuse_workspace)
    if isinstance(net, WRN):
        return InferenceWRN(net, ops, fold=fold)
    return InferenceMLP(net, ops)


__all__ = ["InferenceMLP", "InferenceWRN", "compile_light"]
