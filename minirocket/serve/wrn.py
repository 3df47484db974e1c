"""Inference-only pre-activation WRN with batch norm folded where that is exact.

Notation
--------
N batch, C channels, H x W spatial size; for a BN in evaluation mode
``a = gamma / sqrt(running_var + eps)`` (scale) and ``t = beta - running_mean * a`` (shift),
so that ``BN(x) = a * x + t`` per channel.

Which BN layers can be folded (block: ``o1 = relu(bn0(x)); o2 = relu(bn1(conv0(o1)));
out = conv1(o2) + S`` with ``S = convdim(o1)`` or ``x``):

* **bn1 of every block -> into conv0 (the PRECEDING conv), always exact.**
  ``bn1(conv0(o1)) = a * (W0 * o1) + t = (a W0) * o1 + t``: scale each output channel's
  filter by ``a_o`` and add ``t_o`` as a bias. Zero padding is harmless here: it pads the
  conv's *input*, and the affine map acts on the conv's output.
* **bn1 -> into conv1 (the FOLLOWING conv): not legal.** A ReLU sits between them, and
  even without it, conv1 zero-pads its input: folding ``t`` into conv1's bias would treat
  the padded border as if it held ``t`` instead of 0.
* **bn0 of the first block -> into the stem conv, exact only when that block has a
  projection shortcut** (width > 1: 16 -> 16k channels). Then the stem output ``h`` is
  consumed only by bn0 (the shortcut reads ``o1``). With width 1 the shortcut is the
  identity on the raw ``h``, which must stay un-normalised: not folded.
* **bn0 of every later block: not legal.** It follows the residual sum ``r + S``, whose
  raw value is needed again by the next identity shortcut; the identity path has no conv
  to absorb the scale. It is fused with its ReLU into one pass instead
  (``Ops.batchnorm_relu_eval``).
* **head bn: not legal** for the same reason (it follows the last residual sum); fused
  with its ReLU. The global average pool and fc stay as they are.

In numbers: every ``bn1`` (one per block) is folded, plus the first ``bn0`` when width > 1;
the remaining BN layers cost one fused pass each, the same single pass a folded BN's
bias + ReLU costs. Folding changes the rounding of the conv (``(a W) * x`` against
``a (W * x)``), so the folded net equals the evaluation-mode net to float tolerances,
not bit for bit (tests: float64 ``rtol 1e-10``; float32 ``rtol 1e-4, atol 1e-4 max|l|``
on logits after 16 layers).
"""
import numpy as np

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.validate import check_array


class _Block:
    """Arrays of one block, already on the serving device.

    pre : (scale, shift) of bn0 fused with ReLU, or None when bn0 was folded upstream
    W0, b0 : conv0 with bn1 folded in (bias b0 = bn1 shift)
    W1 : conv1
    Wd : convdim (projection) or None (identity)
    """

    __slots__ = ("pre", "W0", "b0", "W1", "Wd", "stride")

    def __init__(self, pre, W0, b0, W1, Wd, stride):
        self.pre, self.W0, self.b0, self.W1, self.Wd, self.stride = pre, W0, b0, W1, Wd, stride


def _affine64(bn):
    """Evaluation-mode (scale, shift) of a BatchNorm in float64 on the host."""
    to = bn.ops.to_numpy
    gamma = to(bn.gamma.data).astype(np.float64)
    var = to(bn.running_var.data).astype(np.float64)
    mean = to(bn.running_mean.data).astype(np.float64)
    scale = gamma / np.sqrt(var + bn.eps)
    return scale, to(bn.beta.data).astype(np.float64) - mean * scale


class InferenceWRN:
    """A frozen, BN-folded copy of a :class:`~minirocket.models.WRN` for ``predict`` only.

    The copy is a snapshot: training the source net afterwards does not change it (build
    a new one). No context is kept, nothing is back-propagated.

    Parameters
    ----------
    net : WRN
    ops : Ops
        Backend to run on (the weights are moved there).
    fold : bool
        Fold BN into the preceding convs where exact (see the module docstring). False
        keeps every BN as a fused BN+ReLU pass (used to measure what folding buys).

    Attributes
    ----------
    folded : list of str
        Dotted names of the BN layers folded into a conv.
    fused : list of str
        Dotted names of the BN layers run as a fused BN+ReLU pass.
    """

    def __init__(self, net, ops, fold=True):
        from minirocket.models.wrn import WRN
        if not isinstance(net, WRN):
            raise ArgumentTypeError(f"argument 'net': expected a WRN, got {type(net).__name__}")
        self.ops = ops
        self.dtype = np.dtype(net.dtype)
        self.in_channels = net.in_channels
        self.num_groups = net.num_groups
        self.num_classes = net.num_classes
        self.folded, self.fused = [], []
        host = net.ops.to_numpy
        dt = self.dtype

        def dev(a):
            return ops.asarray(np.ascontiguousarray(np.asarray(a).astype(dt)))

        def fuse(bn, name):
            scale, shift = _affine64(bn)
            self.fused.append(name)
            return dev(scale), dev(shift)

        stem_W = host(net.conv0.W.data).astype(np.float64)
        first = net.groups[0].blocks[0]
        self.stem_bias = None
        fold_stem = fold and first.projection
        if fold_stem:
            # h feeds only bn0 of block 0 (its shortcut reads o1): fold bn0 into the stem.
            scale, shift = _affine64(first.bn0)
            stem_W = stem_W * scale[:, None, None, None]
            self.stem_bias = dev(shift)
            self.folded.append("group0.block0.bn0")
        self.stem_W = dev(stem_W)
        self.blocks = []
        for g, grp in enumerate(net.groups):
            for b, blk in enumerate(grp.blocks):
                name = f"group{g}.block{b}"
                pre = None if (fold_stem and g == 0 and b == 0) else fuse(blk.bn0, f"{name}.bn0")
                W0 = host(blk.conv0.W.data).astype(np.float64)
                if fold:
                    scale, shift = _affine64(blk.bn1)
                    W0 = W0 * scale[:, None, None, None]
                    b0 = (dev(np.ones_like(scale)), dev(shift))
                    self.folded.append(f"{name}.bn1")
                else:
                    b0 = fuse(blk.bn1, f"{name}.bn1")
                Wd = dev(host(blk.convdim.W.data)) if blk.projection else None
                self.blocks.append(_Block(pre, dev(W0), b0, dev(host(blk.conv1.W.data)), Wd,
                                          blk.stride))
        self.head = fuse(net.bn, "bn")
        self.fc_W = dev(host(net.fc.W.data))
        self.fc_b = dev(host(net.fc.b.data))
        self._stem_ones = dev(np.ones(stem_W.shape[0]))

    def __repr__(self):
        return (f"InferenceWRN(groups={self.num_groups}, blocks={len(self.blocks)}, "
                f"backend={self.ops.name!r}, folded={len(self.folded)}, fused={len(self.fused)})")

    def _check(self, x):
        check_array("x", x, ndim=4, dtype_kind="f", xp=self.ops.xp)
        if x.shape[1] != self.in_channels:
            raise ArgumentError(f"argument 'x': expected {self.in_channels} channels, got "
                                f"shape {tuple(x.shape)}")
        if x.dtype != self.dtype:
            raise ArgumentError(f"argument 'x': expected dtype {self.dtype} (the net's), got "
                                f"{x.dtype}")
        f = 2 ** (self.num_groups - 1)
        if x.shape[2] % f or x.shape[3] % f:
            raise ArgumentError(f"argument 'x': expected H and W divisible by {f}, got shape "
                                f"{tuple(x.shape)}")

    def predict(self, x):
        """Logits of the evaluation-mode net.

        Parameters
        ----------
        x : array (N, C_in, H, W) of the net's dtype, on this object's backend

        Returns
        -------
        logits : array (N, num_classes)
        """
        self._check(x)
        with self.ops.one_thread_pool(x.shape[0]):
            return self._logits(x)

    def _logits(self, x):
        ops = self.ops
        conv = ops.conv2d
        bnrelu = ops.batchnorm_relu_eval
        h = conv(x, self.stem_W, 1, 1)
        if self.stem_bias is not None:
            h = bnrelu(h, self._stem_ones, self.stem_bias)       # bias + ReLU, one pass
        for blk in self.blocks:
            o1 = h if blk.pre is None else bnrelu(h, blk.pre[0], blk.pre[1])
            o2 = bnrelu(conv(o1, blk.W0, blk.stride, 1), blk.b0[0], blk.b0[1])
            r = conv(o2, blk.W1, 1, 1)
            if blk.Wd is not None:
                r += conv(o1, blk.Wd, blk.stride, 0)
            else:
                r += h
            h = r
        a = bnrelu(h, self.head[0], self.head[1])
        p = a.mean(axis=(2, 3))
        logits = p @ self.fc_W
        logits += self.fc_b
        return logits
