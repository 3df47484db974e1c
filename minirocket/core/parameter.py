"""A trainable array with its accumulated gradient.

Rule of the whole package: *input gradients are returned, parameter gradients are added*.
A layer applied twice (a shared layer) calls :meth:`Parameter.accumulate` once per use, so
its gradient is the sum over uses, which is the fan-out rule of reverse-mode
differentiation. Nothing ever assigns ``grad`` directly except :meth:`zero_grad`.
"""


class RowGrad:
    """Sparse gradient of an embedding table: only the rows that were looked up.

    Attributes
    ----------
    indices : int array, shape (U,)
        Distinct row ids, sorted.
    values : array, shape (U, D)
        Summed gradient of each listed row (repeated lookups already added together).
    shape : tuple (V, D)
        Shape of the full table.
    """

    __slots__ = ("indices", "values", "shape")

    def __init__(self, indices, values, shape):
        self.indices = indices
        self.values = values
        self.shape = tuple(shape)

    def to_dense(self, xp):
        """The same gradient as a dense (V, D) array of module ``xp``."""
        out = xp.zeros(self.shape, dtype=self.values.dtype)
        out[self.indices] = self.values     # indices are distinct: plain assignment is exact
        return out

    def __repr__(self):
        return f"RowGrad(rows={len(self.indices)}, shape={self.shape})"


class Parameter:
    """A named trainable array.

    Parameters
    ----------
    name : str
        Local name inside its layer (``W``, ``b``, ``gamma``); the dotted full name
        (``booster.group2.block3.conv0.W``) comes from the module tree.
    data : array
        The value; updated in place by optimizers.
    kind : {"weight", "bias", "bn"}
        Used by optimizers to exclude biases and BN parameters from weight decay on request.
    """

    __slots__ = ("name", "data", "grad", "kind", "trainable")

    def __init__(self, name, data, kind="weight"):
        self.name = name
        self.data = data
        self.grad = None
        self.kind = kind
        self.trainable = True

    def accumulate(self, g):
        """Add a dense gradient ``g`` (same shape as ``data``) into ``grad``."""
        if g.shape != self.data.shape:
            raise ValueError(f"gradient for parameter '{self.name}': expected shape "
                             f"{self.data.shape}, got {g.shape}")
        if self.grad is None:
            # Copy: g may be a view of an activation buffer that a later call reuses.
            self.grad = g.astype(self.data.dtype, copy=True)
        elif isinstance(self.grad, RowGrad):
            self.grad = self.grad.to_dense(_xp_of(self.data)) + g
        else:
            self.grad += g

    def accumulate_rows(self, ops, idx, rows):
        """Add a gradient that touches only rows ``idx`` of a 2-d table.

        Repeated indices are summed (never dropped). The gradient is kept sparse as a
        :class:`RowGrad` until a dense gradient is added to the same parameter.

        Parameters
        ----------
        ops : Ops
        idx : int array, shape (M,)
        rows : array, shape (M, D)
        """
        xp = ops.xp
        if self.grad is None:
            uniq, summed = ops.unique_rows_sum(idx, rows)
            self.grad = RowGrad(uniq, summed, self.data.shape)
        elif isinstance(self.grad, RowGrad):
            all_idx = xp.concatenate([self.grad.indices, idx])
            all_rows = xp.concatenate([self.grad.values, rows])
            uniq, summed = ops.unique_rows_sum(all_idx, all_rows)
            self.grad = RowGrad(uniq, summed, self.data.shape)
        else:
            xp.add.at(self.grad, idx, rows)

    def dense_grad(self):
        """The gradient as a dense array (None if nothing was accumulated)."""
        if isinstance(self.grad, RowGrad):
            return self.grad.to_dense(_xp_of(self.data))
        return self.grad

    def zero_grad(self):
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    def __repr__(self):
        shape = tuple(self.data.shape)
        return f"Parameter({self.name!r}, shape={shape}, dtype={self.data.dtype})"


def _xp_of(a):
    from minirocket.backend import get_array_module
    return get_array_module(a)
