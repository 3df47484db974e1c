"""Rocket pairs: sharing by reference, validation, stand-alone light net, arch dicts."""
import json

import numpy as np
import pytest

from minirocket import models
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError
from minirocket.rocket import RocketObjective, rocket_step
from tests.rocket._tiny import ctr_batch, image_batch, mlp_pair, wrn_pair


def test_interval_sharing_references_the_same_conv_arrays():
    p = models.rocket_wrn(16, 40, 1, 10, share="interval")
    B, L = p.booster, p.light
    assert L.conv0 is B.conv0
    for g in range(3):
        for b in range(2):
            lb, bb = getattr(getattr(L, f"group{g}"), f"block{b}"), \
                getattr(getattr(B, f"group{g}"), f"block{b}")
            assert lb.conv0.W is bb.conv0.W and lb.conv1.W is bb.conv1.W
            assert lb.bn0 is not bb.bn0 and lb.bn0.gamma is not bb.bn0.gamma   # own BN
    assert L.group1.block0.convdim.W is B.group1.block0.convdim.W
    assert L.fc is not B.fc and L.bn is not B.bn
    assert L.num_parameters() == 175_066 and B.num_parameters() == 563_930
    names = dict(p.named_parameters())
    assert "booster.group2.block1.conv0.W" in names
    assert "light.group2.block1.conv0.W" not in names          # canonical = booster's path
    assert "light.group2.block1.bn0.gamma" in names
    assert p.aliases()["booster.group2.block1.conv0.W"] == ["booster.group2.block1.conv0.W",
                                                            "light.group2.block1.conv0.W"]
    assert len(p.aliases()) == 15


def test_bottom_sharing_uses_all_blocks_of_groups_0_and_1():
    p = models.rocket_wrn(16, 40, 1, 10, share="bottom")
    assert p.light.num_groups == 2 and p.light.num_parameters() == 136_090
    assert p.light.group1.block5.conv1.W is p.booster.group1.block5.conv1.W
    assert not hasattr(p.light, "group2")
    # stem + 12 blocks * 2 convs + 1 projection
    assert len(p.aliases()) == 1 + 24 + 1


@pytest.mark.parametrize("share_stem,n_alias", [(True, 1), (False, 0)])
def test_no_sharing_shares_only_the_stem_if_asked(share_stem, n_alias):
    p = models.rocket_wrn(16, 40, 1, 10, share="none", share_stem=share_stem)
    assert len(p.aliases()) == n_alias
    assert p.stem_shared is share_stem
    assert p.light.num_parameters() == 175_066


def test_none_with_bottom_layout():
    p = models.rocket_wrn(16, 40, 1, 10, share="none", layout="bottom")
    assert p.light.num_parameters() == 136_090 and len(p.aliases()) == 1


def test_pair_validation():
    with pytest.raises(ArgumentError, match="light_depth"):
        models.rocket_wrn(40, 16)
    with pytest.raises(ArgumentError, match="booster_depth"):
        models.rocket_wrn(16, 39)
    with pytest.raises(ArgumentError, match="share"):
        models.rocket_wrn(16, 40, share="top")
    with pytest.raises(ArgumentTypeError, match="share_stem"):
        models.rocket_wrn(16, 40, share_stem="False")
    with pytest.raises(ArgumentError, match="layout"):
        models.rocket_wrn(16, 40, share="interval", layout="bottom")


def test_sharing_report_lists_every_shared_array_and_totals():
    p = models.rocket_wrn(16, 40, 1, 10)
    text = p.sharing_report()
    assert "booster.group0.block0.conv0.W" in text and "light.group0.block0.conv0.W" in text
    last = text.splitlines()[-1]
    assert "shared 173,488 (15 arrays)" in last and "light net 175,066" in last
    assert "booster net 563,930" in last


def _nan_booster_only(pair):
    light_ids = {id(q) for q in pair.light.parameters()}
    for p in pair.booster.parameters():
        if id(p) not in light_ids:
            p.data[...] = np.nan
    for _, b in pair.booster.named_buffers():
        b.data[...] = np.nan


@pytest.mark.parametrize("share", ["interval", "bottom", "none"])
def test_light_predict_computes_nothing_booster_specific(share):
    pair = wrn_pair(share)
    x, _ = image_batch()
    before = pair.light.predict(x)
    _nan_booster_only(pair)
    after = pair.predict(x)
    assert np.all(np.isfinite(after)) and np.array_equal(before, after)


def test_ctr_light_predict_ignores_booster():
    pair = mlp_pair()
    x, _ = ctr_batch()
    before = pair.light.predict(x)
    _nan_booster_only(pair)
    assert np.array_equal(before, pair.light.predict(x))


@pytest.mark.parametrize("share", ["interval", "bottom", "none"])
def test_standalone_light_from_arch_matches_pair_light(share):
    pair = wrn_pair(share)
    x, y = image_batch()
    rocket_step(pair, x, y, RocketObjective())       # moves BN running statistics
    arch = json.loads(json.dumps(pair.arch))          # survives JSON
    light = models.build_light(arch, rng=99, dtype=np.float64)
    assert [n for n, _ in light.named_parameters()] == \
        [n for n, _ in pair.light.named_parameters()]
    light.load_state_dict(pair.light.state_dict())
    assert np.array_equal(light.predict(x), pair.light.predict(x))
    assert light.num_parameters() == pair.light.num_parameters()


def test_standalone_ctr_light_matches():
    pair = mlp_pair("softmax")
    x, y = ctr_batch()
    light = models.build_light(pair.arch, dtype=np.float64)
    light.load_state_dict(pair.light.state_dict())
    assert np.array_equal(light.predict(x), pair.light.predict(x))
    assert pair.light.predict(x).shape == (6, 2)


def test_build_rebuilds_the_same_architecture():
    for pair in (wrn_pair("bottom"), wrn_pair("none", share_stem=False), mlp_pair()):
        again = models.build(json.loads(json.dumps(pair.arch)), dtype=np.float64)
        assert [n for n, _ in again.named_parameters()] == [n for n, _ in pair.named_parameters()]
        assert again.aliases().keys() == pair.aliases().keys()
        again.load_state_dict(pair.state_dict())


def test_build_rejects_foreign_arch():
    with pytest.raises(CheckpointError, match="kind"):
        models.build({"kind": "resnet"})
    with pytest.raises(CheckpointError, match="missing"):
        models.build({"kind": "wrn", "depth": 16})
    light = models.build_light(wrn_pair().arch)
    with pytest.raises(CheckpointError):
        light.load_state_dict(wrn_pair().booster.state_dict())


def test_mlp_pair_structure():
    p = models.rocket_mlp([100, 50], 3)
    assert p.light.embed is p.booster.embed
    assert p.booster.hidden == (720, 360, 240, 180, 90) and p.light.hidden == (200, 80)
    assert p.booster.bns[0] is not None and all(b is None for b in p.light.bns)
    # FC stack of the light net as Table 5: E -> 200 -> 80 -> 1
    assert p.light.fcs[0].W.data.shape == (2 * 8 + 3, 200) and p.light.out.W.data.shape == (80, 1)
    assert list(p.aliases()) == ["booster.embed.field0.E", "booster.embed.field1.E"]


def test_mlp_input_checks():
    p = mlp_pair()
    (cat, num), _ = ctr_batch()
    with pytest.raises(ArgumentTypeError, match="argument 'x'"):
        p.light.predict(cat)
    with pytest.raises(ArgumentError, match=r"argument 'x\[0\]'"):
        p.light.predict((cat[:, :2], num))
    bad = num.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ArgumentError, match=r"argument 'x\[1\]'.*finite"):
        p.light.predict((cat, bad))
