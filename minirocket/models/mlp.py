"""Click-through-rate MLPs over shared embedding tables (the paper's Table 5 setting).

Notation
--------
N batch, F categorical fields, V_f vocabulary of field f, D embedding dimension,
M numeric features, E = F * D + M the concatenated input width, H_i hidden widths.

Structure::

    (cat int (N, F), num float (N, M))
    -> embed: [E_0[cat[:, 0]], ..., E_{F-1}[cat[:, F-1]], num] concatenated    = h (N, E)
    -> per hidden width H_i: Linear -> [BatchNorm] -> ReLU
    -> out: Linear to 1 logit (sigmoid output) or 2 logits (softmax output)

The paper's booster has BatchNorm after every hidden Linear ("wide hidden layers with BN");
its light net is fully connected only. In a rocket pair both nets reference the same
:class:`EmbedConcat` module, whose output ``h`` is computed once per step and shared.
"""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.layers._init import as_generator
from minirocket.layers.batchnorm import BatchNorm
from minirocket.layers.embedding import Embedding
from minirocket.layers.linear import Linear
from minirocket.validate import check_array, check_bool, check_choice, check_int


def _check_sizes(name, values, min_value=1):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"argument '{name}': expected a sequence of integers, got "
                                f"{values!r}")
    return tuple(check_int(f"{name}[{i}]", v, min_value=min_value) for i, v in enumerate(values))


@dataclass(frozen=True, slots=True)
class EmbedConcatCtx:
    """One Embedding context per field, and the input widths to split the gradient."""
    c_fields: tuple
    num_numeric: int


class EmbedConcat(Module):
    """Embedding lookup per categorical field, concatenated with the numeric features.

    .. math::
        h_n = [E_0[c_{n,0}], \\dots, E_{F-1}[c_{n,F-1}], u_n], \\qquad
        gE_f[v] \\mathrel{+}= \\sum_{n: c_{n,f} = v} gh_{n, fD:(f+1)D}

    No gradient is returned for the inputs (ids are discrete; numeric features are data).

    Parameters
    ----------
    field_sizes : sequence of int
        V_f for each field (children ``field0``, ``field1``, ...).
    num_numeric : int
        M.
    embed_dim : int
        D.
    sparse : bool
        Row-sparse gradients (:class:`~minirocket.core.parameter.RowGrad`).
    """

    def __init__(self, field_sizes, num_numeric, embed_dim=8, sparse=True, rng=None,
                 dtype=np.float32):
        super().__init__()
        self.field_sizes = _check_sizes("field_sizes", field_sizes)
        self.num_numeric = check_int("num_numeric", num_numeric, min_value=0)
        self.embed_dim = check_int("embed_dim", embed_dim, min_value=1)
        if not self.field_sizes and self.num_numeric == 0:
            raise ArgumentError("argument 'field_sizes': expected at least one categorical "
                                "field or num_numeric > 0, got no input at all")
        rng = as_generator(rng)
        self.fields = [self.add_child(f"field{i}", Embedding(v, self.embed_dim, sparse=sparse,
                                                             rng=rng, dtype=dtype))
                       for i, v in enumerate(self.field_sizes)]
        for i, emb in enumerate(self.fields):
            setattr(self, f"field{i}", emb)       # embed.field0 reads like the dotted name
        self.out_features = len(self.field_sizes) * self.embed_dim + self.num_numeric
        self._dtype = np.dtype(dtype)

    def extra_repr(self):
        return f"fields={list(self.field_sizes)}, dim={self.embed_dim}, numeric={self.num_numeric}"

    def check_x(self, x, name="x"):
        """x must be a pair ``(cat int (N, F), num float (N, M))`` with matching N."""
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ArgumentTypeError(f"argument '{name}': expected a pair (cat int (N, F), num "
                                    f"float (N, M)), got {type(x).__name__}")
        cat, num = x
        xp = self.ops.xp
        check_array(f"{name}[0]", cat, ndim=2, dtype_kind="iu", xp=xp)
        check_array(f"{name}[1]", num, ndim=2, dtype_kind="f", xp=xp, finite=True)
        F = len(self.field_sizes)
        if cat.shape[1] != F:
            raise ArgumentError(f"argument '{name}[0]': expected {F} categorical columns, got "
                                f"shape {tuple(cat.shape)}")
        if num.shape[1] != self.num_numeric:
            raise ArgumentError(f"argument '{name}[1]': expected {self.num_numeric} numeric "
                                f"columns, got shape {tuple(num.shape)}")
        if num.shape[0] != cat.shape[0]:
            raise ArgumentError(f"argument '{name}[1]': expected {cat.shape[0]} rows (as x[0]), "
                                f"got {num.shape[0]}")
        if num.dtype != self._dtype_now():
            raise ArgumentError(f"argument '{name}[1]': expected dtype {self._dtype_now()} (the "
                                f"parameters' dtype), got {num.dtype}")
        return x

    def _dtype_now(self):
        for p in self.parameters():
            return p.data.dtype
        return self._dtype

    def forward(self, x, train=True):
        self.check_x(x)
        cat, num = x
        parts, ctxs = [], []
        for f, emb in enumerate(self.fields):
            e, c = emb.forward(cat[:, f], train)
            parts.append(e)
            ctxs.append(c)
        parts.append(num)
        h = self.ops.xp.concatenate(parts, axis=1)
        return h, (EmbedConcatCtx(tuple(ctxs), self.num_numeric) if train else None)

    def backward(self, ctx, gh):
        D = self.embed_dim
        for f, (emb, c) in enumerate(zip(self.fields, ctx.c_fields)):
            emb.backward(c, gh[:, f * D:(f + 1) * D])
        return None


@dataclass(frozen=True, slots=True)
class MLPBodyCtx:
    """Per hidden layer: (fc ctx, bn ctx or None, relu output); then the output layer ctx."""
    layers: tuple
    c_out: object


@dataclass(frozen=True, slots=True)
class MLPCtx:
    c_stem: object
    c_body: MLPBodyCtx


class MLP(Module):
    """Embeddings + concat -> hidden Linear[-BN]-ReLU layers -> output logits.

    Parameters
    ----------
    field_sizes : sequence of int
    num_numeric : int
    embed_dim : int
    hidden : sequence of int
        Hidden widths; children ``fc0, bn0, fc1, bn1, ...`` (``bn*`` only if ``batchnorm``).
    batchnorm : bool
        BatchNorm after every hidden Linear (the paper's booster).
    output : {"sigmoid", "softmax"}
        One logit with binary cross-entropy, or two logits with softmax cross-entropy.
    rng : int or Generator
    embed : EmbedConcat, optional
        An existing embedding module to reference (sharing with another net).

    Parameter names: ``embed.field{f}.E``, ``fc{i}.{W,b}``, ``bn{i}.{gamma,beta}``,
    ``out.{W,b}``. Output: logits (N, 1) or (N, 2).
    """

    head_names = ("out",)

    def __init__(self, field_sizes, num_numeric, embed_dim=8, hidden=(200, 80), batchnorm=False,
                 output="sigmoid", rng=0, embed=None, sparse=True, dtype=np.float32):
        super().__init__()
        rng = as_generator(rng)
        self.hidden = _check_sizes("hidden", hidden)
        self.batchnorm = check_bool("batchnorm", batchnorm)
        self.output = check_choice("output", output, ("sigmoid", "softmax"))
        if embed is None:
            embed = EmbedConcat(field_sizes, num_numeric, embed_dim, sparse=sparse, rng=rng,
                                dtype=dtype)
        elif not isinstance(embed, EmbedConcat):
            raise ArgumentTypeError(f"argument 'embed': expected an EmbedConcat, got "
                                    f"{type(embed).__name__}")
        self.embed = self.add_child("embed", embed)
        width = embed.out_features
        self.fcs, self.bns = [], []
        for i, hdim in enumerate(self.hidden):
            self.fcs.append(self.add_child(f"fc{i}", Linear(width, hdim, rng=rng, dtype=dtype)))
            self.bns.append(self.add_child(f"bn{i}", BatchNorm(hdim, rng=rng, dtype=dtype))
                            if self.batchnorm else None)
            setattr(self, f"fc{i}", self.fcs[-1])
            setattr(self, f"bn{i}", self.bns[-1])
            width = hdim
        self.num_classes = 2
        self.out = self.add_child("out", Linear(width, 1 if self.output == "sigmoid" else 2,
                                                rng=rng, dtype=dtype))

    @property
    def stem(self):
        return self.embed

    @property
    def arch(self):
        e = self.embed
        return {"kind": "mlp", "field_sizes": list(e.field_sizes), "num_numeric": e.num_numeric,
                "embed_dim": e.embed_dim, "hidden": list(self.hidden),
                "batchnorm": self.batchnorm, "output": self.output}

    def extra_repr(self):
        return f"hidden={list(self.hidden)}, batchnorm={self.batchnorm}, output={self.output!r}"

    def check_x(self, x, name="x"):
        return self.embed.check_x(x, name)

    def forward_stem(self, x, train=True):
        return self.embed.forward(x, train)

    def backward_stem(self, ctx, gh):
        return self.embed.backward(ctx, gh)

    def forward_body(self, h, train=True):
        layers = []
        for fc, bn in zip(self.fcs, self.bns):
            h, c_fc = fc.forward(h, train)
            c_bn = None
            if bn is not None:
                h, c_bn = bn.forward(h, train, relu=True)        # bn -> relu, one pass
            else:
                h = self.ops.relu(h)
            layers.append((c_fc, c_bn, h))
        logits, c_out = self.out.forward(h, train)
        return logits, (MLPBodyCtx(tuple(layers), c_out) if train else None)

    def backward_body(self, ctx, gy):
        g = self.out.backward(ctx.c_out, gy)
        for (fc, bn), (c_fc, c_bn, a) in zip(reversed(list(zip(self.fcs, self.bns))),
                                             reversed(ctx.layers)):
            if bn is not None:
                g = bn.backward(c_bn, g)                         # applies the mask [a > 0]
            else:
                g = self.ops.relu_backward(a, g)
            g = fc.backward(c_fc, g)
        return g

    def forward(self, x, train=True):
        """x = (cat int (N, F), num float (N, M)) -> logits (N, 1) or (N, 2)."""
        h, c_stem = self.forward_stem(x, train)
        logits, c_body = self.forward_body(h, train)
        return logits, (MLPCtx(c_stem, c_body) if train else None)

    def backward(self, ctx, gy):
        gh = self.backward_body(ctx.c_body, gy)
        self.backward_stem(ctx.c_stem, gh)
        return None


def mlp(field_sizes, num_numeric, embed_dim=8, hidden=(200, 80), batchnorm=False,
        output="sigmoid", rng=0, sparse=True, dtype=np.float32):
    """A stand-alone CTR :class:`MLP` (the base light net when trained alone)."""
    return MLP(field_sizes, num_numeric, embed_dim, hidden, batchnorm, output, rng,
               sparse=sparse, dtype=dtype)
