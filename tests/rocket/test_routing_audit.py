"""Routing audit: every grad-block mode x sharing layout, plus a mutation check."""
import importlib
import json

import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.rocket import RocketObjective, audit
from minirocket.rocket.audit import routing_violations
from minirocket.rocket.objective import RocketObjective as Obj
from tests.rocket._tiny import ctr_batch, image_batch, mlp_pair, teacher_wrn, wrn_pair

audit_module = importlib.import_module("minirocket.rocket.audit")

LAYOUTS = [("interval", True), ("bottom", True), ("none", True), ("none", False)]


@pytest.mark.parametrize("share,share_stem", LAYOUTS)
@pytest.mark.parametrize("grad_block", [True, False])
def test_routing_pattern(share, share_stem, grad_block):
    pair = wrn_pair(share, share_stem)
    x, y = image_batch()
    rep = audit(pair, x, y, RocketObjective(grad_block=grad_block))
    n = rep.norms
    assert rep.violations() == [], rep.table()
    # The rules, spelled out (routing_violations checks the same ones):
    assert n["light_only"]["ce_booster"] == 0.0
    assert n["booster_only"]["ce_light"] == 0.0
    if grad_block:
        assert n["booster_only"]["hint"] == 0.0 and rep.blocked_norm > 0.0
    else:
        assert n["booster_only"]["hint"] > 0.0 and rep.blocked_norm == 0.0
    if rep.sizes["shared"]:
        assert n["shared"]["hint"] > 0 and n["shared"]["ce_light"] > 0
        assert n["shared"]["ce_booster"] > 0
    else:
        assert share == "none" and not share_stem
    assert rep.residual <= 1e-12
    assert rep.sizes["light_bn"] > 0 if share != "none" else rep.sizes["light_body"] > 0


def test_groups_are_disjoint_and_cover_the_pair():
    pair = wrn_pair("interval")
    x, y = image_batch()
    rep = audit(pair, x, y, RocketObjective())
    fine = ["shared", "booster_body", "booster_head", "light_bn", "light_body", "light_head"]
    names = [k for g in fine for k in rep.params[g]]
    assert sorted(names) == sorted(n for n, _ in pair.named_parameters())
    assert rep.params["booster_head"] == ["booster.bn.gamma", "booster.bn.beta",
                                          "booster.fc.W", "booster.fc.b"]
    assert sum(rep.sizes[g] for g in fine) == pair.num_parameters()


def test_audit_leaves_the_pair_untouched():
    pair = wrn_pair("interval")
    x, y = image_batch()
    state = pair.state_dict()
    audit(pair, x.astype(np.float32), y, RocketObjective())
    assert all(p.grad is None for p in pair.parameters())
    assert all(np.array_equal(v, pair.state_dict()[k]) for k, v in state.items())


def test_mutation_a_leaking_block_is_detected(monkeypatch):
    """If the step let the hint into the booster while claiming the block is on, the audit
    must say so (the checker is not vacuous)."""
    real = audit_module.rocket_step

    def leaky(pair, x, y, objective, **kw):
        leaked = Obj(**{**objective.to_dict(), "grad_block": False})
        return real(pair, x, y, leaked, **kw)

    monkeypatch.setattr(audit_module, "rocket_step", leaky)
    pair = wrn_pair("interval")
    x, y = image_batch()
    rep = audit(pair, x, y, RocketObjective(grad_block=True))
    bad = rep.violations()
    assert any(v.startswith("booster_only x hint") for v in bad), bad
    assert not rep.ok and "VIOLATIONS" in rep.table()


def test_mutation_light_loss_into_booster_is_detected(monkeypatch):
    """A step that routed the light CE into the booster head breaks 'booster_only x ce_light'."""
    real = audit_module.rocket_step

    def crossed(pair, x, y, objective, terms=None, **kw):
        res = real(pair, x, y, objective, terms=terms, **kw)
        if terms == ("ce_light",):
            pair.booster.fc.b.accumulate(np.full(pair.booster.fc.b.data.shape, 1e-3))
        return res

    monkeypatch.setattr(audit_module, "rocket_step", crossed)
    pair = wrn_pair("bottom")
    x, y = image_batch()
    bad = audit(pair, x, y, RocketObjective()).violations()
    assert any("booster_only x ce_light" in v for v in bad)
    assert any("do not add up" in v for v in bad)        # the residual catches it as well


def test_rocket_kd_routing_and_block_forced():
    pair = wrn_pair("interval")
    x, y = image_batch()
    rep = audit(pair, x, y, RocketObjective(), teacher=teacher_wrn())
    assert rep.terms == ("ce_light", "ce_booster", "hint", "kd")
    assert rep.norms["booster_only"]["kd"] == 0.0 and rep.norms["shared"]["kd"] > 0
    assert rep.violations() == []
    with pytest.raises(ArgumentError, match="grad_block"):
        audit(pair, x, y, RocketObjective(grad_block=False), teacher=teacher_wrn())


@pytest.mark.parametrize("grad_block", [True, False])
def test_ctr_pair_routing(grad_block):
    pair = mlp_pair()
    x, y = ctr_batch()
    rep = audit(pair, x, y, RocketObjective(grad_block=grad_block))
    assert rep.violations() == []
    assert rep.params["shared"] == ["booster.embed.field0.E", "booster.embed.field1.E",
                                    "booster.embed.field2.E"]


def test_report_formats():
    pair = wrn_pair("interval")
    x, y = image_batch()
    rep = audit(pair, x, y, RocketObjective())
    d = json.loads(rep.to_json())
    assert d["norms"]["booster_only"]["hint"] == 0.0 and d["violations"] == []
    assert d["settings"]["objective"]["grad_block"] is True
    text = rep.table()
    assert "booster_only" in text and "routing: as documented" in text
    assert routing_violations(rep) == []
