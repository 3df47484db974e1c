"""Rocket pairs: a booster net and a light net that share lower layers.

Notation
--------
x input, h stem output (shared activation), z booster logits, l light logits,
W_S shared parameters, W_B booster-only parameters, W_L light-only parameters.

Sharing is done by **referencing the same modules** (hence the same
:class:`~minirocket.core.parameter.Parameter` objects), never by copying. The pair
registers ``booster`` first and ``light`` second, so a shared array's canonical dotted name
is the booster's path (``booster.group0.block1.conv0.W``); :meth:`RocketPair.aliases` lists
the light's path too (``light.group0.block1.conv0.W``).

Layouts for Wide ResNets (authors' ``rocket_interval.py`` / ``rocket_bottom.py``)::

    interval (Fig. 3b): light WRN-(6m+4) reuses conv0/conv1/convdim of the FIRST m blocks
                        of every booster group, plus the stem; own BN, own head.
        booster: stem | g0: B0 B1 B2 .. B{n-1} | g1: B0 B1 .. | g2: B0 B1 .. | bn fc
        light:   stem | g0: B0 B1             | g1: B0 B1    | g2: B0 B1    | bn' fc'
                 (same conv arrays, light's own bn0'/bn1' in every block)

    bottom (Fig. 3a):   light reuses the stem and ALL blocks of booster groups 0-1 (own BN),
                        then its own bn' -> relu -> avgpool -> fc' on 32k channels.
        booster: stem | g0: B0..B{n-1} | g1: B0..B{n-1} | g2: B0..B{n-1} | bn fc
        light:   stem | g0: B0..B{n-1} | g1: B0..B{n-1} | bn' fc'

    none:               light has its own convs; the stem is shared iff share_stem
                        (the authors' "no sharing" still shares the stem, ambiguity A4).

Only the stem output ``h`` is literally shared (computed once per training step); the
shared block convs run twice (once inside each net, with different BN), so their
gradients are summed by accumulation into the same Parameter.

CTR pairs: both MLPs reference one :class:`~minirocket.models.mlp.EmbedConcat` (the
embedding tables); its output ``h`` is the shared activation.
"""
import numpy as np

from minirocket.core.module import Module
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError
from minirocket.layers._init import as_generator
from minirocket.layers.conv2d import Conv2d
from minirocket.models.mlp import MLP, EmbedConcat
from minirocket.models.wrn import WRN, blocks_per_group
from minirocket.validate import check_bool, check_choice

SHARE_MODES = ("interval", "bottom", "none")


class RocketPair(Module):
    """A booster and a light net sharing lower layers.

    Attributes
    ----------
    booster, light : Module
        Each usable alone: ``forward(x, train)``, ``backward(ctx, gy)``, ``predict(x)``,
        and the split ``forward_stem / forward_body / backward_body / backward_stem``.
    stem_shared : bool
        True when ``light.stem is booster.stem``: the stem output is computed once in a
        training step and its gradient is the sum of the two branches' gradients.
    arch : dict
        JSON-able description; :func:`build` rebuilds the same architecture.
    """

    def __init__(self, booster, light, arch):
        super().__init__()
        self.booster = self.add_child("booster", booster)
        self.light = self.add_child("light", light)
        self.arch = arch

    @property
    def stem_shared(self):
        return self.light.stem is self.booster.stem

    def extra_repr(self):
        keys = ("kind", "share", "layout", "share_stem")
        return ", ".join(f"{k}={self.arch[k]!r}" for k in keys if k in self.arch)

    def check_x(self, x, name="x"):
        return self.booster.check_x(x, name)

    # ------------------------------------------------------------------ forward (both nets)
    def forward(self, x, train=False):
        """``(booster_logits, light_logits)`` with the shared stem computed once.

        The training graph (losses, gradient block, shared-gradient sum) is written out in
        :func:`minirocket.rocket.rocket_step`; this method is the inference convenience and
        returns ``ctx=None`` whatever ``train`` says about BN statistics.
        """
        self.check_x(x)
        hb, _ = self.booster.forward_stem(x, train)
        hl = hb if self.stem_shared else self.light.forward_stem(x, train)[0]
        z, _ = self.booster.forward_body(hb, train)
        l, _ = self.light.forward_body(hl, train)
        return (z, l), None

    def backward(self, ctx, gy):
        raise NotImplementedError("RocketPair has no generic backward: the training graph is "
                                  "minirocket.rocket.rocket_step")

    def predict(self, x):
        """Light-net logits (the served model); nothing booster-specific is computed."""
        return self.light.predict(x)

    # ------------------------------------------------------------------ sharing map
    def parameter_groups(self):
        """Classify every parameter (canonical name) into one disjoint group.

        Groups
        ------
        shared       reachable from both nets (stem, shared convs / embedding tables)
        booster_body booster-only, outside the booster head
        booster_head booster head (``bn``+``fc`` for a WRN, ``out`` for an MLP)
        light_bn     light-only BatchNorm parameters outside the light head (the light's
                     private BN inside shared blocks)
        light_body   other light-only parameters outside the head (own convs / hidden fcs)
        light_head   light head (``bn``+``fc`` / ``out``)

        Returns
        -------
        dict of str -> list of (name, Parameter)
        """
        b_ids = {id(p) for p in self.booster.parameters()}
        l_ids = {id(p) for p in self.light.parameters()}

        def head_ids(net):
            ids = set()
            for hname in net.head_names:
                ids |= {id(p) for p in getattr(net, hname).parameters()}
            return ids

        bh, lh = head_ids(self.booster), head_ids(self.light)
        groups = {k: [] for k in ("shared", "booster_body", "booster_head", "light_bn",
                                  "light_body", "light_head")}
        for name, p in self.named_parameters():
            i = id(p)
            if i in b_ids and i in l_ids:
                groups["shared"].append((name, p))
            elif i in b_ids:
                groups["booster_head" if i in bh else "booster_body"].append((name, p))
            elif i in lh:
                groups["light_head"].append((name, p))
            elif p.kind == "bn":
                groups["light_bn"].append((name, p))
            else:
                groups["light_body"].append((name, p))
        return groups

    def sharing_report(self):
        """Printable aliasing map: each shared array, its paths and size, then totals."""
        aliases = self.aliases()
        named = dict(self.named_parameters())
        lines = [f"sharing map ({self.extra_repr()})",
                 f"{'shared array':<44} {'size':>9}  also reached as"]
        shared = 0
        for first, paths in aliases.items():
            size = int(named[first].data.size)
            shared += size
            lines.append(f"{first:<44} {size:>9}  {', '.join(paths[1:])}")
        g = self.parameter_groups()

        def total(keys):
            return sum(int(p.data.size) for k in keys for _, p in g[k])

        b_only = total(("booster_body", "booster_head"))
        l_only = total(("light_bn", "light_body", "light_head"))
        lines.append(f"totals: shared {shared:,} ({len(aliases)} arrays) | booster-only "
                     f"{b_only:,} | light-only {l_only:,} | booster net {shared + b_only:,} | "
                     f"light net {self.light.num_parameters():,} | pair {self.num_parameters():,}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------- WRN pair
def rocket_wrn(light_depth=16, booster_depth=40, width=1, num_classes=10, share="interval",
               share_stem=True, gamma_init="uniform", rng=0, layout=None, in_channels=3,
               dtype=np.float32):
    """Booster WRN-``booster_depth``-``width`` and light net sharing convs.

    Parameters
    ----------
    light_depth, booster_depth : int
        6n + 4 each, light_depth <= booster_depth. Under ``share="bottom"`` (and
        ``layout="bottom"``) the light net is determined by the booster (stem + all blocks
        of groups 0-1), as in the authors' ``rocket_bottom.py``; ``light_depth`` is then
        only validated.
    width : int
    num_classes : int
    share : {"interval", "bottom", "none"}
        Which convs the light net references (see the module docstring).
    share_stem : bool
        Whether the light net uses the booster's stem conv (and hence the same stem output).
    gamma_init : {"uniform", "ones"}
    rng : int or numpy.random.Generator
        The booster draws first, then the light net's own parameters.
    layout : {"interval", "bottom"}, optional
        Light architecture; defaults to ``share`` (and to "interval" for ``share="none"``).
        ``share="none", layout="bottom"`` is the authors' bottom net without sharing.
    """
    nb = blocks_per_group(booster_depth, "booster_depth")
    nl = blocks_per_group(light_depth, "light_depth")
    if nl > nb:
        raise ArgumentError(f"argument 'light_depth': expected at most booster_depth="
                            f"{booster_depth} (the light net is the smaller one), got "
                            f"{light_depth}")
    check_choice("share", share, SHARE_MODES)
    share_stem = check_bool("share_stem", share_stem)
    if layout is None:
        layout = "interval" if share == "none" else share
    check_choice("layout", layout, ("interval", "bottom"))
    if share != "none" and layout != share:
        raise ArgumentError(f"argument 'layout': expected {share!r} (or None) with "
                            f"share={share!r}, got {layout!r}")
    rng = as_generator(rng)
    booster = WRN(booster_depth, width, num_classes, gamma_init=gamma_init, rng=rng,
                  in_channels=in_channels, dtype=dtype)
    # Every conv of the booster by its path ("conv0", "group1.block0.convdim", ...). The light
    # net asks for the SAME path: block b of group g is shared with block b of group g.
    booster_convs = {path: m for path, m in booster.named_modules() if isinstance(m, Conv2d)}

    def reuse(path):
        if path == "conv0":
            return booster.conv0 if share_stem else None
        if share == "none":
            return None
        return booster_convs.get(path)   # same path in the booster (first blocks of a group)

    if layout == "bottom":
        light = WRN(booster_depth, width, num_classes, gamma_init=gamma_init, rng=rng,
                    num_groups=2, in_channels=in_channels, reuse=reuse, dtype=dtype)
    else:
        light = WRN(light_depth, width, num_classes, gamma_init=gamma_init, rng=rng,
                    in_channels=in_channels, reuse=reuse, dtype=dtype)
    arch = {"kind": "rocket_wrn", "light_depth": int(light_depth),
            "booster_depth": int(booster_depth), "width": int(width),
            "num_classes": int(num_classes), "share": share, "layout": layout,
            "share_stem": share_stem, "gamma_init": gamma_init, "in_channels": int(in_channels),
            "booster": booster.arch, "light": light.arch}
    return RocketPair(booster, light, arch)


# ---------------------------------------------------------------------------------- MLP pair
def rocket_mlp(field_sizes, num_numeric, embed_dim=8, booster_hidden=(720, 360, 240, 180, 90),
               light_hidden=(200, 80), output="sigmoid", rng=0, sparse=True, dtype=np.float32):
    """CTR pair: shared embedding tables; booster Linear-BN-ReLU stack, light Linear-ReLU.

    Defaults follow the paper's Table 5 (booster 720-360-240-180-90, light 200-80).

    Input x = (cat int64 (N, F), num float (N, M)); logits (N, 1) for ``output="sigmoid"``,
    (N, 2) for ``"softmax"``.
    """
    rng = as_generator(rng)
    embed = EmbedConcat(field_sizes, num_numeric, embed_dim, sparse=sparse, rng=rng, dtype=dtype)
    booster = MLP(field_sizes, num_numeric, embed_dim, booster_hidden, batchnorm=True,
                  output=output, rng=rng, embed=embed, dtype=dtype)
    light = MLP(field_sizes, num_numeric, embed_dim, light_hidden, batchnorm=False,
                output=output, rng=rng, embed=embed, dtype=dtype)
    arch = {"kind": "rocket_mlp", "field_sizes": list(embed.field_sizes),
            "num_numeric": embed.num_numeric, "embed_dim": embed.embed_dim,
            "booster_hidden": list(booster.hidden), "light_hidden": list(light.hidden),
            "output": output, "booster": booster.arch, "light": light.arch}
    return RocketPair(booster, light, arch)


# ---------------------------------------------------------------------------------- builders
_ARCH_KEYS = {
    "wrn": ("depth", "width", "num_classes"),
    "mlp": ("field_sizes", "num_numeric", "embed_dim", "hidden", "batchnorm", "output"),
    "rocket_wrn": ("light_depth", "booster_depth", "width", "num_classes", "share"),
    "rocket_mlp": ("field_sizes", "num_numeric", "embed_dim", "booster_hidden",
                   "light_hidden", "output"),
}


def _check_arch(arch):
    if not isinstance(arch, dict):
        raise ArgumentTypeError(f"argument 'arch': expected a dict, got {type(arch).__name__}")
    kind = arch.get("kind")
    if kind not in _ARCH_KEYS:
        raise CheckpointError(f"argument 'arch': expected kind one of "
                              f"{', '.join(repr(k) for k in _ARCH_KEYS)}, got {kind!r}")
    missing = [k for k in _ARCH_KEYS[kind] if k not in arch]
    if missing:
        raise CheckpointError(f"argument 'arch': expected keys {list(_ARCH_KEYS[kind])} for "
                              f"kind {kind!r}, missing {missing}")
    return kind


def build(arch, rng=0, dtype=np.float32):
    """Rebuild a model from its ``arch`` dict (``model.arch``): WRN, MLP or rocket pair.

    Weights are freshly initialised from ``rng``; load a state dict to restore them.
    """
    kind = _check_arch(arch)
    if kind == "wrn":
        return WRN(arch["depth"], arch["width"], arch["num_classes"],
                   gamma_init=arch.get("gamma_init", "uniform"), rng=rng,
                   num_groups=arch.get("num_groups", 3), in_channels=arch.get("in_channels", 3),
                   dtype=dtype)
    if kind == "mlp":
        return MLP(arch["field_sizes"], arch["num_numeric"], arch["embed_dim"], arch["hidden"],
                   batchnorm=arch["batchnorm"], output=arch["output"], rng=rng, dtype=dtype)
    if kind == "rocket_wrn":
        return rocket_wrn(arch["light_depth"], arch["booster_depth"], arch["width"],
                          arch["num_classes"], share=arch["share"],
                          share_stem=arch.get("share_stem", True),
                          gamma_init=arch.get("gamma_init", "uniform"), rng=rng,
                          layout=arch.get("layout"), in_channels=arch.get("in_channels", 3),
                          dtype=dtype)
    return rocket_mlp(arch["field_sizes"], arch["num_numeric"], arch["embed_dim"],
                      arch["booster_hidden"], arch["light_hidden"], output=arch["output"],
                      rng=rng, dtype=dtype)


def light_arch(arch):
    """The stand-alone light net's arch dict, from a pair arch (or a net arch, unchanged)."""
    kind = _check_arch(arch)
    if kind in ("wrn", "mlp"):
        return dict(arch)
    if "light" in arch:
        return dict(arch["light"])
    # Derive it (an arch dict written without the "light" entry).
    return dict(build(arch).light.arch)


def build_light(arch, rng=0, dtype=np.float32):
    """The light net alone (no booster is built), from a pair's or a light net's arch.

    Its ``named_parameters()`` / ``state_dict()`` keys equal those of ``pair.light``, so
    ``build_light(pair.arch).load_state_dict(pair.light.state_dict())`` restores the served
    model exactly.
    """
    return build(light_arch(arch), rng=rng, dtype=dtype)
