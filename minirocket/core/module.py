"""The module protocol shared by every layer, container and net.

Protocol
--------
``y, ctx = module.forward(x, train=True)``
    Computes the output and a small named record ``ctx`` holding exactly what backward
    needs. With ``train=False`` nothing is kept and ``ctx`` is None (the inference path).
``gx = module.backward(ctx, gy)``
    Returns the gradient with respect to the input and *adds* parameter gradients into
    ``param.grad``. A module keeps no activations between calls, so it can be applied twice
    (shared layers) and both calls back-propagated in any order.

Parameters and buffers are registered by name; dotted names come from the tree
(``booster.group2.block3.conv0.W``). A parameter reachable by two paths (a shared layer)
is listed once, under the first path, and :meth:`Module.aliases` lists every path.
"""
import numpy as np

from minirocket.backend import get_backend
from minirocket.core.parameter import Parameter
from minirocket.errors import ArgumentError, CheckpointError


class Buffer:
    """A non-trainable array that belongs to a module (BN running statistics)."""

    __slots__ = ("name", "data")

    def __init__(self, name, data):
        self.name = name
        self.data = data

    def __repr__(self):
        return f"Buffer({self.name!r}, shape={tuple(self.data.shape)})"


class Module:
    """Base class: parameter/buffer/child registry, device moves and state dicts.

    Subclasses implement :meth:`forward` and :meth:`backward`.
    """

    def __init__(self):
        self._params = {}
        self._buffers = {}
        self._children = {}
        # Explicit default: a new module computes with the reference NumPy backend until
        # ``to()`` says otherwise. No global setting can change this.
        self.ops = get_backend("numpy")

    # ------------------------------------------------------------------ registration
    def add_param(self, name, data, kind="weight"):
        """Register and return a :class:`Parameter` named ``name``."""
        p = Parameter(name, data, kind)
        self._params[name] = p
        return p

    def add_buffer(self, name, data):
        """Register and return a :class:`Buffer` named ``name``."""
        b = Buffer(name, data)
        self._buffers[name] = b
        return b

    def add_child(self, name, module):
        """Register ``module`` as child ``name`` and return it."""
        if not isinstance(module, Module):
            raise ArgumentError(f"argument 'module': expected a Module, got {type(module).__name__}")
        self._children[name] = module
        return module

    def children(self):
        """``(name, module)`` pairs of the direct children, in registration order."""
        return list(self._children.items())

    # ------------------------------------------------------------------ traversal
    def _walk(self, prefix, seen_modules):
        # Depth-first, own entries first; every reachable (path, module) pair, including
        # a shared module reached through several paths.
        yield prefix, self
        for name, child in self._children.items():
            key = (id(child), prefix + name)
            if key in seen_modules:
                continue
            seen_modules.add(key)
            yield from child._walk(prefix + name + ".", seen_modules)

    def named_modules(self):
        """Every ``(dotted_prefix, module)`` pair; a shared module appears once per path."""
        return [(p.rstrip("."), m) for p, m in self._walk("", set())]

    def _named(self, attr, dedup=True):
        seen = set()
        for prefix, module in self._walk("", set()):
            for name, item in getattr(module, attr).items():
                if dedup and id(item) in seen:
                    continue
                seen.add(id(item))
                yield prefix + name, item

    def named_parameters(self):
        """``(dotted_name, Parameter)`` pairs, each parameter once (first path wins)."""
        return list(self._named("_params"))

    def parameters(self):
        """Every :class:`Parameter` once."""
        return [p for _, p in self._named("_params")]

    def named_buffers(self):
        """``(dotted_name, Buffer)`` pairs, each buffer once."""
        return list(self._named("_buffers"))

    def num_parameters(self):
        """Number of trainable scalars (shared arrays counted once; buffers excluded)."""
        return int(sum(p.data.size for p in self.parameters()))

    def aliases(self):
        """Map each parameter reachable by more than one path to all its paths.

        Returns
        -------
        dict of str -> list of str
            ``{first_path: [first_path, other_path, ...]}``, only for shared arrays.
        """
        paths = {}
        first = {}
        for name, p in self._named("_params", dedup=False):
            paths.setdefault(id(p), []).append(name)
            first.setdefault(id(p), name)
        return {first[k]: v for k, v in paths.items() if len(v) > 1}

    def zero_grad(self):
        """Set every parameter's ``grad`` to None."""
        for p in self.parameters():
            p.zero_grad()

    # ------------------------------------------------------------------ device and dtype
    def to(self, backend):
        """Move parameters and buffers to ``backend`` and compute there from now on.

        Parameters
        ----------
        backend : {"numpy", "numba", "cupy"} or Ops
        """
        ops = get_backend(backend)
        for _, m in self._walk("", set()):
            m.ops = ops
        for _, item in self._named("_params"):
            item.data = ops.asarray(item.data)
            item.grad = None
        for _, item in self._named("_buffers"):
            item.data = ops.asarray(item.data)
        return self

    def astype(self, dtype):
        """Cast parameters and buffers to ``dtype`` (float64 for gradient checks)."""
        dtype = np.dtype(dtype)
        for _, item in self._named("_params"):
            item.data = item.data.astype(dtype)
            item.grad = None
        for _, item in self._named("_buffers"):
            if item.data.dtype.kind == "f":
                item.data = item.data.astype(dtype)
        return self

    @property
    def dtype(self):
        """dtype of the first parameter (float32 by default)."""
        for p in self.parameters():
            return p.data.dtype
        return np.dtype(np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """``{dotted_name: numpy array}`` of parameters and buffers (host copies)."""
        out = {}
        for name, p in self._named("_params"):
            out[name] = self.ops.to_numpy(p.data).copy()
        for name, b in self._named("_buffers"):
            out[name] = self.ops.to_numpy(b.data).copy()
        return out

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into parameters and buffers, checking every shape.

        Raises
        ------
        CheckpointError
            A key is missing or unexpected (``strict``), or a shape/dtype kind differs:
            the arrays come from another architecture.
        """
        items = dict(self._named("_params"))
        items.update(self._named("_buffers"))
        missing = [k for k in items if k not in state]
        unexpected = [k for k in state if k not in items]
        if strict and (missing or unexpected):
            raise CheckpointError(
                "state does not match this architecture: "
                f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        for name, item in items.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != tuple(item.data.shape):
                raise CheckpointError(
                    f"array '{name}': expected shape {tuple(item.data.shape)}, got "
                    f"{value.shape} (state from another architecture?)")
            item.data = self.ops.asarray(value.astype(item.data.dtype, copy=True))
        return self

    # ------------------------------------------------------------------ protocol
    def forward(self, x, train=True):
        raise NotImplementedError

    def backward(self, ctx, gy):
        raise NotImplementedError

    def predict(self, x):
        """Inference: ``forward(x, train=False)`` and return the output alone."""
        y, _ = self.forward(x, train=False)
        return y

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()})"]
        for name, child in self._children.items():
            sub = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ input checks
    def check_input(self, x, name="x", ndim=None, channels=None, dtype=True):
        """Raise a one-line error when ``x`` does not fit this module.

        Checks the array type and device (must belong to this module's backend), the number
        of dimensions, the channel count (axis 1) and the dtype (must equal the parameter
        dtype: arrays never change dtype silently).
        """
        ops = self.ops
        if not ops.owns(x):
            got = type(x).__module__.split(".")[0] + "." + type(x).__name__
            raise ArgumentError(
                f"argument '{name}': expected a {ops.xp.__name__}.ndarray on the "
                f"'{ops.name}' backend of {type(self).__name__}, got {got} (devices are never "
                f"mixed silently; move it with the backend's asarray first)")
        if ndim is not None:
            allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
            if x.ndim not in allowed:
                want = " or ".join(f"{a}-d" for a in allowed)
                raise ArgumentError(f"argument '{name}' of {type(self).__name__}: expected a "
                                    f"{want} array, got shape {tuple(x.shape)}")
        if channels is not None and x.shape[1] != channels:
            raise ArgumentError(f"argument '{name}' of {type(self).__name__}: expected "
                                f"{channels} channels/features on axis 1, got shape "
                                f"{tuple(x.shape)}")
        if dtype and self._params:
            want = next(iter(self._params.values())).data.dtype
            if x.dtype != want:
                raise ArgumentError(f"argument '{name}' of {type(self).__name__}: expected dtype "
                                    f"{want} (the parameters' dtype), got {x.dtype}")
        return x
