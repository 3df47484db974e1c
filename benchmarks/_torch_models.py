"""PyTorch twins of the benchmarked minirocket nets, for the optional comparison only.

Imported by ``benchmarks/compare.py`` when torch is installed (never by the package or its
tests). Each twin copies the minirocket weights, so the comparison script can also check
that both frameworks compute the same logits before timing them.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(cin)
        self.conv0 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.convdim = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if cin != cout else None

    def forward(self, x):
        o1 = F.relu(self.bn0(x))
        o2 = F.relu(self.bn1(self.conv0(o1)))
        s = self.convdim(o1) if self.convdim is not None else x
        return self.conv1(o2) + s


class WRN(nn.Module):
    def __init__(self, depth, width, num_classes=10, reuse=None):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv0 = reuse.conv0 if reuse is not None else nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        groups = []
        for g in range(3):
            blocks = []
            for b in range(n):
                blk = Block(widths[g] if b == 0 else widths[g + 1], widths[g + 1],
                            (1 if g == 0 else 2) if b == 0 else 1)
                if reuse is not None:
                    # Interval sharing: block b of group g uses the booster's convs.
                    src = reuse.groups[g][b]
                    blk.conv0, blk.conv1 = src.conv0, src.conv1
                    if blk.convdim is not None:
                        blk.convdim = src.convdim
                blocks.append(blk)
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.ModuleList(groups)
        self.bn = nn.BatchNorm2d(widths[-1])
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        h = self.conv0(x)
        for g in self.groups:
            h = g(h)
        h = F.relu(self.bn(h)).mean(dim=(2, 3))
        return self.fc(h)


def load_wrn(twin, net):
    """Copy a minirocket WRN's parameters and BN statistics into its torch twin."""
    sd = net.state_dict()
    with torch.no_grad():
        twin.conv0.weight.copy_(_t(sd["conv0.W"]))
        for g, grp in enumerate(twin.groups):
            for b, blk in enumerate(grp):
                p = f"group{g}.block{b}."
                for bn in ("bn0", "bn1"):
                    m = getattr(blk, bn)
                    m.weight.copy_(_t(sd[p + bn + ".gamma"]))
                    m.bias.copy_(_t(sd[p + bn + ".beta"]))
                    m.running_mean.copy_(_t(sd[p + bn + ".running_mean"]))
                    m.running_var.copy_(_t(sd[p + bn + ".running_var"]))
                blk.conv0.weight.copy_(_t(sd[p + "conv0.W"]))
                blk.conv1.weight.copy_(_t(sd[p + "conv1.W"]))
                if blk.convdim is not None:
                    blk.convdim.weight.copy_(_t(sd[p + "convdim.W"]))
        twin.bn.weight.copy_(_t(sd["bn.gamma"]))
        twin.bn.bias.copy_(_t(sd["bn.beta"]))
        twin.bn.running_mean.copy_(_t(sd["bn.running_mean"]))
        twin.bn.running_var.copy_(_t(sd["bn.running_var"]))
        twin.fc.weight.copy_(_t(sd["fc.W"].T))
        twin.fc.bias.copy_(_t(sd["fc.b"]))
    return twin


def rocket_wrn_pair():
    booster = WRN(40, 1)
    light = WRN(16, 1, reuse=booster)
    return booster, light


def rocket_wrn_step(booster, light, lam=0.03):
    """fwd + bwd + SGD momentum of the pair: CE(z) + CE(l) + lam * ||l - stopgrad(z)||^2."""
    params = {id(p): p for p in list(booster.parameters()) + list(light.parameters())}
    opt = torch.optim.SGD(list(params.values()), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        z = booster(x)
        l = light(x)
        loss = (F.cross_entropy(z, y) + F.cross_entropy(l, y)
                + lam * ((l - z.detach()) ** 2).sum(dim=1).mean())
        loss.backward()
        opt.step()
    return step


class CTRMLP(nn.Module):
    def __init__(self, field_sizes, num_numeric, dim, hidden, batchnorm, embeds=None):
        super().__init__()
        self.embeds = embeds if embeds is not None else nn.ModuleList(
            [nn.Embedding(v, dim, sparse=True) for v in field_sizes])
        layers, width = [], len(field_sizes) * dim + num_numeric
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            width = h
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, cat, num):
        h = torch.cat([e(cat[:, f]) for f, e in enumerate(self.embeds)] + [num], dim=1)
        return self.body(h)


def load_ctr_light(twin, net):
    """Copy a minirocket light MLP (no BN) into its torch twin."""
    sd = net.state_dict()
    with torch.no_grad():
        for f, e in enumerate(twin.embeds):
            e.weight.copy_(_t(sd[f"embed.field{f}.E"]))
        lins = [m for m in twin.body if isinstance(m, nn.Linear)]
        names = [f"fc{i}" for i in range(len(lins) - 1)] + ["out"]
        for m, n in zip(lins, names):
            m.weight.copy_(_t(sd[n + ".W"].T))
            m.bias.copy_(_t(sd[n + ".b"]))
    return twin


class CTRLightInfer(nn.Module):
    """Light MLP with the tables stacked into one (one gather), as the serving path does."""

    def __init__(self, twin, field_sizes):
        super().__init__()
        self.table = nn.Parameter(torch.cat([e.weight for e in twin.embeds]).detach())
        self.register_buffer("offsets", torch.tensor(
            np.concatenate([[0], np.cumsum(field_sizes)[:-1]]), dtype=torch.int64))
        self.body = twin.body

    def forward(self, cat, num):
        e = self.table[cat + self.offsets].reshape(cat.shape[0], -1)
        return self.body(torch.cat([e, num], dim=1))


def ctr_pair(field_sizes, num_numeric, dim):
    booster = CTRMLP(field_sizes, num_numeric, dim, (720, 360, 240, 180, 90), True)
    light = CTRMLP(field_sizes, num_numeric, dim, (200, 80), False, embeds=booster.embeds)
    return booster, light


def ctr_step(booster, light, lam=0.03):
    """Sparse embedding rows with plain SGD (torch's SGD takes no momentum on sparse
    gradients), dense layers with SGD momentum 0.9."""
    emb = list(booster.embeds.parameters())
    dense = {id(p): p for p in list(booster.parameters()) + list(light.parameters())
             if all(p is not e for e in emb)}
    opt_d = torch.optim.SGD(list(dense.values()), lr=0.05, momentum=0.9)
    opt_e = torch.optim.SGD(emb, lr=0.05)

    def step(cat, num, y):
        opt_d.zero_grad(set_to_none=True)
        opt_e.zero_grad(set_to_none=True)
        z = booster(cat, num)
        l = light(cat, num)
        loss = (F.binary_cross_entropy_with_logits(z[:, 0], y)
                + F.binary_cross_entropy_with_logits(l[:, 0], y)
                + lam * ((l - z.detach()) ** 2).sum(dim=1).mean())
        loss.backward()
        opt_d.step()
        opt_e.step()
    return step
