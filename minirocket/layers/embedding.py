"""Embedding table lookup with a gradient that adds repeated indices."""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.layers._init import as_generator
from minirocket.validate import check_bool, check_float, check_int


@dataclass(frozen=True, slots=True)
class EmbeddingCtx:
    """What :meth:`Embedding.backward` needs: the flat indices, shape (M,)."""
    idx: object


class Embedding(Module):
    """Rows of a (V, D) table picked by integer ids.

    .. math::
        y_{n} = E_{idx_n}, \\qquad gE_v \\mathrel{+}= \\sum_{n:\\,idx_n = v} gy_n

    Repeated ids add their gradients (a plain ``E[idx] += g`` would drop all but one).
    With ``sparse=True`` the gradient is kept as a :class:`~minirocket.core.RowGrad` (only
    the looked-up rows), which optimizers apply as a row update: CTR tables are large and a
    batch touches few rows.

    Parameters
    ----------
    num_embeddings : int
        V.
    dim : int
        D.
    sparse : bool
    init_std : float
        E ~ Normal(0, init_std).
    rng : numpy.random.Generator or int, optional

    Shapes: idx int (N,) or (N, F) -> y (N, D) or (N, F, D). No gradient flows to idx.
    """

    def __init__(self, num_embeddings, dim, sparse=True, init_std=0.05, rng=None,
                 dtype=np.float32):
        super().__init__()
        self.num_embeddings = check_int("num_embeddings", num_embeddings, min_value=1)
        self.dim = check_int("dim", dim, min_value=1)
        self.sparse = check_bool("sparse", sparse)
        init_std = check_float("init_std", init_std, min_value=0.0)
        table = as_generator(rng).standard_normal((self.num_embeddings, self.dim)) * init_std
        self.E = self.add_param("E", table.astype(dtype))

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.dim}, sparse={self.sparse}"

    def forward(self, idx, train=True):
        self.check_input(idx, name="idx", ndim=(1, 2), dtype=False)
        if idx.dtype.kind not in "iu":
            raise ArgumentError(f"argument 'idx' of Embedding: expected an integer dtype, "
                                f"got {idx.dtype}")
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise ArgumentError(f"argument 'idx' of Embedding: expected ids in "
                                    f"[0, {self.num_embeddings}), got {bad}")
        y = self.E.data[idx]
        return y, (EmbeddingCtx(idx.reshape(-1)) if train else None)

    def backward(self, ctx, gy):
        rows = gy.reshape(-1, self.dim)
        if self.sparse:
            self.E.accumulate_rows(self.ops, ctx.idx, rows)
        else:
            self.E.accumulate(self.ops.scatter_add_rows(self.E.data.shape, ctx.idx, rows))
        return None
