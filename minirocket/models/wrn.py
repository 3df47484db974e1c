"""Pre-activation Wide Residual Networks (WRN-d-k), as in the Rocket Launching authors' code.

Notation
--------
N batch, C channels, H x W spatial size, d = 6n + 4 depth, n blocks per group, k width,
widths ``[16, 32, 64] * k``, G number of groups (3 for a WRN; 2 for the authors' "bottom"
light net), s stride, K number of classes.

Structure (Zagoruyko & Komodakis; the authors' ``rocket_interval.py``)::

    x (N, 3, H, W)
    -> conv0 (3 -> 16, 3x3, pad 1, no bias; no BN/ReLU after it: pre-activation)   = h
    -> group0 (n blocks, 16k, stride 1) -> group1 (32k, stride 2) -> group2 (64k, stride 2)
    -> bn -> relu -> global average pool -> fc (Linear with bias)                   = logits

Block (pre-activation; every conv without bias; 3x3 convs with padding 1)::

    o1  = relu(bn0(x))
    o2  = relu(bn1(conv0(o1)))            conv0: 3x3, stride s
    out = conv1(o2) + shortcut            conv1: 3x3, stride 1
    shortcut = convdim(o1)  if C_in != C_out   (1x1, stride s, on the PRE-ACTIVATED o1)
             = x            otherwise          (identity on the raw input)

The network is split into a **stem** (``conv0``) and a **body** (groups + head) so that a
rocket pair can compute the stem output once and feed it to both nets
(:mod:`minirocket.rocket.step`). Sharing between nets is done by *referencing the same
Conv2d modules*: a light WRN is built with ``reuse=lookup`` returning the booster's conv
modules, and keeps its own BatchNorm modules and head.

Initialisation (authors' code): convs and linears Kaiming-normal (std sqrt(2 / fan_in)),
zero biases, BN gamma ~ U[0, 1) (``gamma_init="uniform"``) or 1 (``"ones"``), beta 0,
running mean 0 and variance 1.
"""
from dataclasses import dataclass

import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError
from minirocket.layers._init import as_generator
from minirocket.layers.batchnorm import BatchNorm
from minirocket.layers.conv2d import Conv2d
from minirocket.layers.linear import Linear
from minirocket.validate import check_array, check_choice, check_int

BASE_WIDTHS = (16, 32, 64)


def blocks_per_group(depth, name="depth"):
    """n for a depth d = 6n + 4 (n >= 1); one-line error otherwise."""
    d = check_int(name, depth, min_value=10)
    if (d - 4) % 6 != 0:
        raise ArgumentError(f"argument '{name}': expected a WRN depth 6n+4 (10, 16, 22, 28, "
                            f"34, 40, ...), got {d}")
    return (d - 4) // 6


# ---------------------------------------------------------------------------------- block
@dataclass(frozen=True, slots=True)
class WRNBlockCtx:
    """What :meth:`WRNBlock.backward` needs.

    c_bn0, c_conv0, c_bn1, c_conv1, c_dim : child contexts (c_dim None for identity);
    the BN contexts hold their fused ReLU outputs o1, o2, whose masks o > 0 route the
    ReLU gradients
    """
    c_bn0: object
    c_conv0: object
    c_bn1: object
    c_conv1: object
    c_dim: object


class WRNBlock(Module):
    """One pre-activation residual block.

    Forward::

        o1 = relu(bn0(x)); o2 = relu(bn1(conv0(o1))); out = conv1(o2) + S
        S = convdim(o1) (projection, C_in != C_out) or x (identity)

    Backward (gy = d/d out)::

        g_o2 = conv1^T gy;  g_o1 = conv0^T bn1^T (g_o2 * [o2 > 0])  [+ convdim^T gy]
        gx   = bn0^T (g_o1 * [o1 > 0])  [+ gy for the identity shortcut]

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int
        Stride of conv0 and of the projection shortcut.
    gamma_init : {"uniform", "ones"}
    rng : numpy.random.Generator
    reuse : dict, optional
        ``{"conv0": Conv2d, "conv1": Conv2d, "convdim": Conv2d}``: existing conv modules to
        reference instead of creating new ones (parameter sharing between nets). Missing
        keys are created. BatchNorm modules are always this block's own.
    """

    def __init__(self, in_channels, out_channels, stride=1, gamma_init="uniform", rng=None,
                 reuse=None, dtype=np.float32):
        super().__init__()
        rng = as_generator(rng)
        reuse = reuse or {}
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.projection = in_channels != out_channels

        def conv(name, cin, cout, k, s, p):
            m = reuse.get(name)
            if m is None:
                return Conv2d(cin, cout, k, stride=s, padding=p, bias=False, rng=rng, dtype=dtype)
            want = (cout, cin, k, k)
            if tuple(m.W.data.shape) != want or m.stride != s or m.padding != p:
                raise ArgumentError(f"argument 'reuse[{name!r}]': expected a Conv2d with W of "
                                    f"shape {want}, stride {s}, padding {p}, got W "
                                    f"{tuple(m.W.data.shape)}, stride {m.stride}, padding "
                                    f"{m.padding}")
            return m

        # Registration order fixes the order of random draws and of named_parameters().
        self.bn0 = self.add_child("bn0", BatchNorm(in_channels, gamma_init=gamma_init, rng=rng,
                                                   dtype=dtype))
        self.conv0 = self.add_child("conv0", conv("conv0", in_channels, out_channels, 3, stride, 1))
        self.bn1 = self.add_child("bn1", BatchNorm(out_channels, gamma_init=gamma_init, rng=rng,
                                                   dtype=dtype))
        self.conv1 = self.add_child("conv1", conv("conv1", out_channels, out_channels, 3, 1, 1))
        self.convdim = (self.add_child("convdim", conv("convdim", in_channels, out_channels, 1,
                                                       stride, 0))
                        if self.projection else None)

    def extra_repr(self):
        return f"{self.in_channels} -> {self.out_channels}, stride={self.stride}"

    def forward(self, x, train=True):
        # Each BN and the ReLU after it run as one fused pass (BatchNorm(relu=True)).
        o1, c_bn0 = self.bn0.forward(x, train, relu=True)
        y, c_conv0 = self.conv0.forward(o1, train)
        o2, c_bn1 = self.bn1.forward(y, train, relu=True)
        r, c_conv1 = self.conv1.forward(o2, train)
        if self.projection:
            s, c_dim = self.convdim.forward(o1, train)   # projection of the pre-activated o1
        else:
            s, c_dim = x, None                            # identity on the raw input
        r += s                                            # r is fresh: add in place
        if not train:
            return r, None
        return r, WRNBlockCtx(c_bn0, c_conv0, c_bn1, c_conv1, c_dim)

    def backward(self, ctx, gy):
        # bn.backward applies the fused ReLU's mask [o > 0] to its upstream gradient.
        g_o2 = self.conv1.backward(ctx.c_conv1, gy)
        g_y = self.bn1.backward(ctx.c_bn1, g_o2)
        g_o1 = self.conv0.backward(ctx.c_conv0, g_y)
        if self.projection:
            # o1 feeds conv0 and the projection shortcut: its gradient is the sum of both paths.
            g_o1 += self.convdim.backward(ctx.c_dim, gy)
            return self.bn0.backward(ctx.c_bn0, g_o1)
        # x feeds bn0 (residual branch) and the identity shortcut: sum of both paths.
        gx = self.bn0.backward(ctx.c_bn0, g_o1)
        gx += gy
        return gx


# ---------------------------------------------------------------------------------- group
@dataclass(frozen=True, slots=True)
class WRNGroupCtx:
    """One block context per block, in forward order."""
    ctxs: tuple


class WRNGroup(Module):
    """``n`` blocks ``block0 .. block{n-1}``; the first carries the stride."""

    def __init__(self, n, in_channels, out_channels, stride, gamma_init, rng, reuse=None,
                 prefix="", dtype=np.float32):
        super().__init__()
        self.blocks = []
        for i in range(n):
            name = f"block{i}"
            lookup = {}
            if reuse is not None:
                for c in ("conv0", "conv1", "convdim"):
                    m = reuse(f"{prefix}{name}.{c}")
                    if m is not None:
                        lookup[c] = m
            blk = WRNBlock(in_channels if i == 0 else out_channels, out_channels,
                           stride if i == 0 else 1, gamma_init, rng, lookup, dtype)
            self.blocks.append(self.add_child(name, blk))
            setattr(self, name, blk)          # net.group1.block0 reads like the dotted name

    def forward(self, x, train=True):
        ctxs = []
        for b in self.blocks:
            x, c = b.forward(x, train)
            ctxs.append(c)
        return x, (WRNGroupCtx(tuple(ctxs)) if train else None)

    def backward(self, ctx, gy):
        for b, c in zip(reversed(self.blocks), reversed(ctx.ctxs)):
            gy = b.backward(c, gy)
        return gy


# ---------------------------------------------------------------------------------- net
@dataclass(frozen=True, slots=True)
class WRNBodyCtx:
    """Contexts of the body: groups, head BN, head ReLU output a (N, C, H, W), fc."""
    c_groups: tuple
    c_bn: object
    a: object
    c_fc: object


@dataclass(frozen=True, slots=True)
class WRNCtx:
    """Stem context + body context."""
    c_stem: object
    c_body: WRNBodyCtx


class WRN(Module):
    """Wide ResNet WRN-``depth``-``width`` for NCHW images.

    Parameters
    ----------
    depth : int
        6n + 4 (10, 16, 22, 28, 34, 40, ...).
    width : int
        k; group widths are ``[16, 32, 64][:num_groups] * k``.
    num_classes : int
    gamma_init : {"uniform", "ones"}
        BN gamma ~ U[0, 1) as the authors, or ones.
    rng : int or numpy.random.Generator
    num_groups : {1, 2, 3}
        3 for a WRN. 2 gives the authors' "bottom" light net (stem + groups 0-1, head on 32k
        channels; 136,090 parameters for depth 40, width 1).
    in_channels : int
        3 for RGB.
    reuse : callable, optional
        ``reuse(path) -> Conv2d or None`` for paths ``"conv0"`` and
        ``"group{g}.block{b}.{conv0,conv1,convdim}"``: existing conv modules to reference
        (shared with another net). BN and the head are always this net's own.
    dtype : numpy dtype

    Parameter names: ``conv0.W``, ``group{g}.block{b}.{bn0,conv0,bn1,conv1,convdim}.*``,
    ``bn.{gamma,beta}``, ``fc.{W,b}``.

    Input: x float (N, in_channels, H, W), H and W divisible by 2**(num_groups-1).
    Output: logits (N, num_classes).
    """

    head_names = ("bn", "fc")
    output = "softmax"

    def __init__(self, depth, width, num_classes, gamma_init="uniform", rng=0, num_groups=3,
                 in_channels=3, reuse=None, dtype=np.float32):
        super().__init__()
        self.n = blocks_per_group(depth)
        self.depth = int(depth)
        self.width = check_int("width", width, min_value=1)
        self.num_classes = check_int("num_classes", num_classes, min_value=2)
        self.num_groups = check_int("num_groups", num_groups, min_value=1, max_value=3)
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        check_choice("gamma_init", gamma_init, ("uniform", "ones"))
        self.gamma_init = gamma_init
        rng = as_generator(rng)
        widths = [16] + [w * self.width for w in BASE_WIDTHS[:self.num_groups]]
        self.widths = tuple(widths[1:])

        stem = reuse("conv0") if reuse is not None else None
        if stem is None:
            stem = Conv2d(self.in_channels, 16, 3, stride=1, padding=1, bias=False, rng=rng,
                          dtype=dtype)
        elif tuple(stem.W.data.shape) != (16, self.in_channels, 3, 3):
            raise ArgumentError(f"argument 'reuse(\"conv0\")': expected a Conv2d with W of shape "
                                f"(16, {self.in_channels}, 3, 3), got {tuple(stem.W.data.shape)}")
        self.conv0 = self.add_child("conv0", stem)
        self.groups = []
        for g in range(self.num_groups):
            grp = WRNGroup(self.n, widths[g], widths[g + 1], 1 if g == 0 else 2, gamma_init, rng,
                           reuse=reuse, prefix=f"group{g}.", dtype=dtype)
            self.groups.append(self.add_child(f"group{g}", grp))
            setattr(self, f"group{g}", grp)
        self.bn = self.add_child("bn", BatchNorm(widths[-1], gamma_init=gamma_init, rng=rng,
                                                 dtype=dtype))
        self.fc = self.add_child("fc", Linear(widths[-1], self.num_classes, bias=True, rng=rng,
                                              dtype=dtype))

    # ------------------------------------------------------------------ description
    @property
    def stem(self):
        """The stem module (``conv0``): its output is what a rocket pair can share."""
        return self.conv0

    @property
    def arch(self):
        """JSON-able dict that rebuilds this architecture with :func:`minirocket.models.build`."""
        return {"kind": "wrn", "depth": self.depth, "width": self.width,
                "num_classes": self.num_classes, "num_groups": self.num_groups,
                "in_channels": self.in_channels, "gamma_init": self.gamma_init}

    def extra_repr(self):
        g = "" if self.num_groups == 3 else f", num_groups={self.num_groups}"
        return f"WRN-{self.depth}-{self.width}, num_classes={self.num_classes}{g}"

    def check_x(self, x, name="x"):
        """One-line error unless x is a finite float (N, C_in, H, W) array of this backend."""
        check_array(name, x, ndim=4, dtype_kind="f", xp=self.ops.xp, finite=True)
        self.conv0.check_input(x, name=name, ndim=4, channels=self.in_channels)
        f = 2 ** (self.num_groups - 1)
        if x.shape[2] % f or x.shape[3] % f:
            raise ArgumentError(f"argument '{name}': expected H and W divisible by {f} "
                                f"(one stride-2 per group after the first), got shape "
                                f"{tuple(x.shape)}")
        return x

    # ------------------------------------------------------------------ stem / body
    def forward_stem(self, x, train=True):
        """``h = conv0(x)``: (N, C_in, H, W) -> (N, 16, H, W)."""
        return self.conv0.forward(x, train)

    def backward_stem(self, ctx, gh):
        return self.conv0.backward(ctx, gh)

    def forward_body(self, h, train=True, features=False):
        """Groups and head from the stem output ``h``.

        Returns ``(logits, ctx)``, or ``(logits, [g_0, ..., g_{G-1}], ctx)`` with the group
        outputs (pre-head activations, used by attention transfer) when ``features``.
        """
        c_groups, feats = [], []
        for grp in self.groups:
            h, c = grp.forward(h, train)
            c_groups.append(c)
            feats.append(h)
        a, c_bn = self.bn.forward(h, train, relu=True)          # bn -> relu, one pass
        # Global average pooling (the authors' avg_pool2d(8) on 8x8 maps), inline so that it
        # always runs on this module's backend.
        p = a.mean(axis=(2, 3))
        logits, c_fc = self.fc.forward(p, train)
        ctx = WRNBodyCtx(tuple(c_groups), c_bn, a, c_fc) if train else None
        return (logits, feats, ctx) if features else (logits, ctx)

    def backward_body(self, ctx, gy, g_features=None):
        """Gradient w.r.t. the stem output; ``g_features[g]`` (optional) is added at the
        output of group g (attention transfer)."""
        g = self.fc.backward(ctx.c_fc, gy)
        N, C, H, W = ctx.a.shape
        g = self.ops.xp.broadcast_to((g * g.dtype.type(1.0 / (H * W)))[:, :, None, None],
                                     ctx.a.shape)
        g = self.bn.backward(ctx.c_bn, g)                       # mask [a > 0] applied inside
        for i in range(len(self.groups) - 1, -1, -1):
            if g_features is not None and g_features[i] is not None:
                g = g + g_features[i]
            g = self.groups[i].backward(ctx.c_groups[i], g)
        return g

    # ------------------------------------------------------------------ whole net
    def forward(self, x, train=True):
        """x (N, C_in, H, W) float -> logits (N, num_classes)."""
        self.check_x(x)
        h, c_stem = self.forward_stem(x, train)
        logits, c_body = self.forward_body(h, train)
        return logits, (WRNCtx(c_stem, c_body) if train else None)

    def backward(self, ctx, gy):
        gh = self.backward_body(ctx.c_body, gy)
        return self.backward_stem(ctx.c_stem, gh)

    def forward_features(self, x, train=True):
        """``(logits, [group outputs], ctx)``; back-propagate with :meth:`backward_features`."""
        self.check_x(x)
        h, c_stem = self.forward_stem(x, train)
        logits, feats, c_body = self.forward_body(h, train, features=True)
        return logits, feats, (WRNCtx(c_stem, c_body) if train else None)

    def backward_features(self, ctx, gy, g_features):
        gh = self.backward_body(ctx.c_body, gy, g_features)
        return self.backward_stem(ctx.c_stem, gh)


def wrn(depth=16, width=1, num_classes=10, gamma_init="uniform", rng=0, num_groups=3,
        in_channels=3, dtype=np.float32):
    """A stand-alone :class:`WRN` (baselines: base light net, booster alone, teachers)."""
    return WRN(depth, width, num_classes, gamma_init=gamma_init, rng=rng, num_groups=num_groups,
               in_channels=in_channels, dtype=dtype)
