"""Configuration schema: presets, TOML files, flags, every bad value a one-line error."""
import json

import pytest

from minirocket.errors import ArgumentError, ArgumentTypeError, DataError
from minirocket.train import config as C
from minirocket.train.presets import PRESETS, get_preset, preset_names


def test_every_preset_builds_and_paper_presets_hold_the_authors_numbers():
    for name in preset_names():
        cfg = C.build_config(name)
        assert cfg["preset"] == name
    p = C.build_config("paper-cifar10-wrn16-1-wrn40-1-interval")
    assert (p["optim"]["lr"], p["optim"]["momentum"], p["optim"]["weight_decay"],
            p["optim"]["batch_size"], p["optim"]["epochs"]) == (0.1, 0.9, 5e-4, 128, 200)
    assert p["optim"]["milestones"] == [60, 120, 160] and p["optim"]["lr_decay"] == 0.2
    assert p["method"]["lam"] == 0.03 and p["method"]["grad_block"] is True
    assert (p["model"]["booster_depth"], p["model"]["light_depth"]) == (40, 16)
    b = C.build_config("paper-cifar10-wrn16-1-wrn40-1-bottom")
    assert b["model"]["share"] == "bottom" and b["optim"]["milestones"] == [70, 130, 190]
    w2 = C.build_config("paper-cifar10-wrn16-2-wrn40-2-interval")
    assert w2["model"]["booster_width"] == w2["model"]["light_width"] == 2
    ctr = C.build_config("paper-ctr-table5")
    assert ctr["model"]["booster_hidden"] == [720, 360, 240, 180, 90]
    assert ctr["model"]["light_hidden"] == [200, 80]


def test_precedence_flags_over_file_over_preset(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('preset = "quick-adult"\n[optim]\nlr = 0.01\nepochs = 5\n')
    cfg = C.build_config(file=f, overrides={"optim": {"epochs": 7}})
    assert cfg["preset"] == "quick-adult"
    assert cfg["optim"]["lr"] == 0.01          # file over preset
    assert cfg["optim"]["epochs"] == 7         # flag over file
    assert cfg["data"]["dataset"] == "adult"   # preset over defaults


def test_unknown_key_and_section_list_the_valid_ones(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[optim]\nlrr = 0.1\n")
    with pytest.raises(ArgumentError, match=r"unknown config key 'optim.lrr' in .*c\.toml; "
                                            r"valid keys in \[optim\]: optimizer, lr, "):
        C.build_config(file=f)
    f.write_text("[optimiser]\nlr = 0.1\n")
    with pytest.raises(ArgumentError, match="unknown config section 'optimiser' .*valid "
                                            "sections: data, model, method, optim, run"):
        C.build_config(file=f)


def test_unknown_preset():
    with pytest.raises(ArgumentError, match=r"argument 'preset': expected one of .*main.*, got "
                                            r"'nope'"):
        C.build_config("nope")


def test_boolean_given_as_string_is_an_error(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[method]\ngrad_block = "False"\n')
    with pytest.raises(ArgumentTypeError, match=r"argument 'method.grad_block in .*c.toml': "
                                                r"expected a bool \(True or False\), got 'False'"):
        C.build_config(file=f)


@pytest.mark.parametrize("sec,key,value,fragment", [
    ("method", "lam", -0.5, "argument '--lam': expected a number >= 0.0, got -0.5"),
    ("method", "temperature", 0.0, "argument '--temperature': expected a number > 0.0, got 0.0"),
    ("optim", "lr", 0.0, "argument '--lr': expected a number > 0.0, got 0.0"),
    ("optim", "momentum", 1.0, "argument '--momentum': expected a number >= 0.0 and < 1.0, "
                               "got 1.0"),
    ("optim", "batch_size", 1, "argument '--batch-size': expected an integer >= 2, got 1"),
    ("optim", "lr", "0.1", "argument '--lr': expected a number, got '0.1'"),
    ("method", "alpha", 1.5, "argument '--alpha': expected a number >= 0.0 and <= 1.0, got 1.5"),
    ("model", "booster_depth", 15, "argument '--booster-depth': expected a WRN depth of the "
                                   "form 6n+4"),
])
def test_out_of_range_values_name_the_flag(sec, key, value, fragment):
    names = {"method.lam": "--lam", "method.temperature": "--temperature", "optim.lr": "--lr",
             "optim.momentum": "--momentum", "optim.batch_size": "--batch-size",
             "method.alpha": "--alpha", "model.booster_depth": "--booster-depth"}
    with pytest.raises((ArgumentError, ArgumentTypeError)) as e:
        C.build_config("quick-fashion-mnist", overrides={sec: {key: value}}, flag_names=names)
    assert fragment in str(e.value)


def test_light_deeper_than_booster_with_sharing_is_an_error():
    with pytest.raises(ArgumentError, match="expected a light net no deeper than the booster "
                                            "when layers are shared"):
        C.build_config("quick-fashion-mnist",
                       overrides={"model": {"light_depth": 22, "booster_depth": 16}})
    # Without sharing the light net may be anything.
    C.build_config("quick-fashion-mnist", overrides={"model": {"light_depth": 22,
                                                               "booster_depth": 16,
                                                               "share": "none"}})


def test_bad_toml_and_missing_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[optim\nlr = 1\n")
    with pytest.raises(DataError, match=r"config file .*c\.toml is not valid TOML"):
        C.build_config(file=f)
    with pytest.raises(DataError, match="config file not found"):
        C.build_config(file=tmp_path / "none.toml")


def test_hash_is_stable_ignores_locations_and_detects_edits(tmp_path):
    cfg = C.build_config("quick-adult", overrides={"run": {"backend": "numpy"}})
    eff, notes = C.effective_config(cfg)
    assert notes == []
    h = eff["config_hash"]
    assert h == C.config_hash(json.loads(json.dumps(eff)))
    moved = json.loads(json.dumps(eff))
    moved["data"]["data_dir"] = "/elsewhere"
    assert C.config_hash(moved) == h
    changed = json.loads(json.dumps(eff))
    changed["optim"]["lr"] = 0.5
    assert C.config_hash(changed) != h
    path = tmp_path / "config.json"
    path.write_text(json.dumps(changed))
    from minirocket.errors import CheckpointError
    with pytest.raises(CheckpointError, match="config_hash does not match the content"):
        C.load_config_json(path)


def test_auto_backend_is_resolved_in_the_effective_config():
    eff, _ = C.effective_config(C.build_config("quick-adult"))
    assert eff["run"]["backend"] in ("numpy", "numba")


def test_unavailable_backend_is_a_one_line_error():
    from minirocket.backend import available_backends
    from minirocket.errors import BackendUnavailableError
    if "cupy" in available_backends():
        pytest.skip("a GPU is present, so cupy is available")
    with pytest.raises(BackendUnavailableError, match="argument 'backend': 'cupy' is not "
                                                      "available here"):
        C.effective_config(C.build_config("quick-adult", overrides={"run": {"backend": "cupy"}}))


def test_get_preset_returns_a_copy():
    p = get_preset("main")
    p["optim"]["epochs"] = 999
    assert PRESETS["main"]["optim"]["epochs"] != 999
