"""Networks: Wide ResNets, CTR MLPs and rocket pairs (booster + light sharing layers).

Every net follows the module protocol and additionally splits into a stem and a body, so a
rocket pair can compute the shared stem output once:

``h, c = net.forward_stem(x, train)``, ``logits, c = net.forward_body(h, train)``,
``gh = net.backward_body(c, g_logits)``, ``net.backward_stem(c, gh)``;
``net.stem`` (the stem module), ``net.head_names`` (children forming the head),
``net.arch`` (JSON-able dict for :func:`build`), ``net.check_x(x)``.
"""
from minirocket.models.mlp import MLP, EmbedConcat, mlp
from minirocket.models.rocket_pair import (SHARE_MODES, RocketPair, build, build_light,
                                           light_arch, rocket_mlp, rocket_wrn)
from minirocket.models.wrn import WRN, WRNBlock, WRNGroup, blocks_per_group, wrn

__all__ = ["EmbedConcat", "MLP", "RocketPair", "SHARE_MODES", "WRN", "WRNBlock", "WRNGroup",
           "blocks_per_group", "build", "build_light", "light_arch", "mlp", "rocket_mlp",
           "rocket_wrn", "wrn"]
