"""Inference-only CTR MLP: stacked embedding tables, BN folded into its Linear.

Notation
--------
N batch, F categorical fields, D embedding width, M numeric features, V_f rows of field
f's table, ``offsets[f] = V_0 + ... + V_{f-1}``.

The MLP is ``h = [E_0[c_0], ..., E_{F-1}[c_{F-1}], u]``, then ``Linear [-> BN] -> ReLU``
per hidden layer and a final Linear. Every hidden BN directly follows its Linear, so it
folds exactly into it (evaluation mode, ``BN(z) = a z + t``)::

    BN(x W + b) = x (W a) + (a b + t)        (a scales the columns of W)

The F tables are stacked into one (sum V_f, D) array so that the lookup of all fields is
one gather with ``cat + offsets``. The copy is a snapshot of the weights.

On the numba backend small batches (``N <= small_batch``) run the whole forward in one
compiled call (no per-layer Python or BLAS call overhead, which dominates at batch 1);
larger batches use BLAS per layer.
"""
import numpy as np

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.validate import check_array


class InferenceMLP:
    """A frozen, BN-folded copy of a :class:`~minirocket.models.MLP` for ``predict`` only.

    Parameters
    ----------
    net : MLP
    ops : Ops
    small_batch : int
        Largest batch run by the fused numba kernel (numba backend only).

    Attributes
    ----------
    folded : list of str
        BN layers folded into the Linear before them.
    """

    def __init__(self, net, ops, small_batch=64):
        from minirocket.models.mlp import MLP
        if not isinstance(net, MLP):
            raise ArgumentTypeError(f"argument 'net': expected an MLP, got {type(net).__name__}")
        self.ops = ops
        self.small_batch = int(small_batch)
        self.dtype = np.dtype(net.dtype)
        host = net.ops.to_numpy
        dt = self.dtype
        e = net.embed
        self.num_fields = len(e.field_sizes)
        self.num_numeric = e.num_numeric
        self.embed_dim = e.embed_dim
        self.field_sizes = tuple(e.field_sizes)
        sizes = np.asarray(self.field_sizes, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        if self.num_fields:
            table = np.concatenate([host(f.E.data) for f in e.fields], axis=0)
        else:
            table = np.zeros((1, self.embed_dim), dt)
        self.folded = []
        Ws, bs = [], []
        for i, (fc, bn) in enumerate(zip(net.fcs, net.bns)):
            W = host(fc.W.data).astype(np.float64)
            b = host(fc.b.data).astype(np.float64) if fc.b is not None else np.zeros(W.shape[1])
            if bn is not None:
                from minirocket.serve.wrn import _affine64
                a, t = _affine64(bn)
                W, b = W * a[None, :], a * b + t
                self.folded.append(f"bn{i}")
            Ws.append(W)
            bs.append(b)
        Ws.append(host(net.out.W.data))
        bs.append(host(net.out.b.data) if net.out.b is not None
                  else np.zeros(net.out.W.data.shape[1]))

        def dev(a):
            return ops.asarray(np.ascontiguousarray(np.asarray(a).astype(dt)))

        self.offsets = ops.asarray(offsets)
        self.table = dev(table)
        self.Ws = tuple(dev(W) for W in Ws)
        self.bs = tuple(dev(b) for b in bs)
        self.out_features = int(self.Ws[-1].shape[1])
        self._fused = ops.name == "numba"
        if self._fused:
            from minirocket.backend import _numba_kernels
            self._kernel = _numba_kernels.mlp_forward_into

    def __repr__(self):
        return (f"InferenceMLP(fields={self.num_fields}, numeric={self.num_numeric}, "
                f"layers={len(self.Ws)}, backend={self.ops.name!r}, folded={self.folded})")

    def _check(self, x):
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ArgumentTypeError(f"argument 'x': expected a pair (cat int (N, F), num float "
                                    f"(N, M)), got {type(x).__name__}")
        cat, num = x
        xp = self.ops.xp
        check_array("x[0]", cat, ndim=2, dtype_kind="iu", xp=xp)
        check_array("x[1]", num, ndim=2, dtype_kind="f", xp=xp)
        if cat.shape[1] != self.num_fields or num.shape[1] != self.num_numeric:
            raise ArgumentError(f"argument 'x': expected shapes (N, {self.num_fields}) and "
                                f"(N, {self.num_numeric}), got {tuple(cat.shape)} and "
                                f"{tuple(num.shape)}")
        if num.shape[0] != cat.shape[0]:
            raise ArgumentError(f"argument 'x[1]': expected {cat.shape[0]} rows (as x[0]), "
                                f"got {num.shape[0]}")
        if num.dtype != self.dtype:
            raise ArgumentError(f"argument 'x[1]': expected dtype {self.dtype}, got {num.dtype}")
        if cat.size:
            lo, hi = cat.min(axis=0), cat.max(axis=0)
            sizes = xp.asarray(self.field_sizes)
            if bool((lo < 0).any()) or bool((hi >= sizes).any()):
                raise ArgumentError(f"argument 'x[0]': expected ids in [0, V_f) per field with "
                                    f"V = {list(self.field_sizes)}, got per-field min "
                                    f"{lo.tolist()} and max {hi.tolist()}")

    def predict(self, x):
        """Logits (N, 1) or (N, 2) for ``x = (cat int (N, F), num float (N, M))``."""
        self._check(x)
        cat, num = x
        N = cat.shape[0]
        if self._fused and N <= self.small_batch:
            out = np.empty((N, self.out_features), dtype=self.dtype)
            self._kernel.serial(np.ascontiguousarray(cat, np.int64), self.offsets, self.table,
                                np.ascontiguousarray(num), self.Ws, self.bs, out)
            return out
        xp = self.ops.xp
        h = xp.empty((N, self.Ws[0].shape[0]), dtype=self.dtype)
        FD = self.num_fields * self.embed_dim
        if self.num_fields:
            h[:, :FD] = self.table[cat + self.offsets].reshape(N, FD)
        h[:, FD:] = num
        last = len(self.Ws) - 1
        for i, (W, b) in enumerate(zip(self.Ws, self.bs)):
            h = h @ W
            h += b
            if i < last:
                xp.maximum(h, 0, out=h)
        return h
