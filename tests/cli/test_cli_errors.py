"""Command-line errors: exit status 2, one line on stderr, no traceback unless --debug."""
import os
import subprocess
import sys

import pytest

from minirocket.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("minirocket: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("argv,fragment", [
    (["--lr", "-1"], "argument '--lr': expected a number > 0.0, got -1.0"),
    (["--lam", "-0.5"], "argument '--lam': expected a number >= 0.0, got -0.5"),
    (["--temperature", "0"], "argument '--temperature': expected a number > 0.0, got 0.0"),
    (["--booster-depth", "15"], "argument '--booster-depth': expected a WRN depth of the form "
                                "6n+4"),
    (["--light-depth", "22", "--booster-depth", "16"],
     "argument '--light-depth': expected a light net no deeper than the booster"),
    (["--preset", "nope"], "argument 'preset': expected one of"),
    (["--method", "magic"], "argument '--method': expected one of 'rocket', 'light_only'"),
    (["--share", "top"], "argument '--share': expected one of 'interval', 'bottom', 'none', "
                         "got 'top'"),
    (["--milestones", "60,x"], "argument '--milestones': expected comma-separated integers"),
    (["--milestones", "120,60"], "argument '--milestones': expected strictly increasing epochs"),
    (["--batch-size", "1"], "argument '--batch-size': expected an integer >= 2, got 1"),
    (["--backend", "tpu"], "argument '--backend': expected one of 'auto', 'numpy', 'numba', "
                           "'cupy', got 'tpu'"),
    (["--dataset", "criteo"], "argument 'data.criteo_path': expected the path of a "
                              "Criteo-format file"),
])
def test_bad_training_arguments(capsys, argv, fragment):
    code, out, err = run_main(capsys, "train", *argv)
    assert code == 2
    assert fragment in one_line_error(err)


def test_unknown_config_key_in_a_file(capsys, tmp_path):
    f = tmp_path / "run.toml"
    f.write_text("[optim]\nlearning_rate = 0.1\n")
    code, _, err = run_main(capsys, "train", "--config", str(f))
    assert code == 2
    line = one_line_error(err)
    assert "unknown config key 'optim.learning_rate'" in line and "valid keys in [optim]" in line


def test_string_boolean_in_a_file(capsys, tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[data]\naugment = "true"\n')
    code, _, err = run_main(capsys, "train", "--config", str(f))
    assert code == 2
    assert "expected a bool (True or False), got 'true'" in one_line_error(err)


def test_missing_data_folder_says_where_it_looked(capsys, tmp_path):
    code, _, err = run_main(capsys, "train", "--data-dir", str(tmp_path / "nowhere"),
                            "--out", str(tmp_path / "run"))
    assert code == 2
    line = one_line_error(err)
    assert "dataset 'fashion-mnist' not found" in line
    assert str(tmp_path / "nowhere") in line


def test_unavailable_backend(capsys, tmp_path):
    from minirocket.backend import available_backends
    if "cupy" in available_backends():
        pytest.skip("a GPU is present, so cupy is available")
    code, _, err = run_main(capsys, "train", "--backend", "cupy", "--out", str(tmp_path / "r"))
    assert code == 2
    assert "argument 'backend': 'cupy' is not available here" in one_line_error(err)


def test_argparse_usage_errors_exit_2(capsys):
    assert main(["train", "--lr", "abc"]) == 2
    assert "invalid float value: 'abc'" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_resume_errors(capsys, tmp_path):
    code, _, err = run_main(capsys, "train", "--resume", str(tmp_path / "none"))
    assert code == 2 and "run folder" in one_line_error(err) and "does not exist" in err
    code, _, err = run_main(capsys, "train", "--resume", str(tmp_path), "--lr", "0.5")
    assert code == 2
    assert "argument '--lr': cannot be combined with --resume" in one_line_error(err)


def test_eval_and_export_of_non_runs(capsys, tmp_path):
    code, _, err = run_main(capsys, "eval", str(tmp_path / "nothing"))
    assert code == 2 and "does not exist" in one_line_error(err)
    bad = tmp_path / "light.json"
    bad.write_text('{"format": "something-else"}')
    code, _, err = run_main(capsys, "eval", str(bad))
    assert code == 2
    assert "is not a minirocket light-net artifact" in one_line_error(err)
    code, _, err = run_main(capsys, "export", str(tmp_path))
    assert code == 2 and "is not a run folder" in one_line_error(err)


def test_rocket_kd_with_the_block_off_is_refused_before_any_training(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", "--preset", "quick-adult", "--method", "rocket_kd",
                            "--grad-block", "off", "--out", str(out))
    assert code == 2
    assert ("argument '--grad-block': expected on with method 'rocket_kd' (rocket + KD always "
            "blocks the hint), got off") in one_line_error(err)
    assert not out.exists()          # refused at configuration time: no teacher was trained


def test_a_run_that_fails_before_training_leaves_no_folder_behind(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", "--data-dir", str(tmp_path / "nowhere"),
                            "--out", str(out))
    assert code == 2 and "not found" in one_line_error(err)
    assert not out.exists()          # so the same --out can simply be given again


@pytest.mark.parametrize("argv,fragment", [
    (["train", "--grad-block", "False"],
     "argument --grad-block: invalid choice: 'False' (choose from 'on', 'off')"),
    (["train", "--batch-size", "abc"], "argument --batch-size: invalid int value: 'abc'"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_malformed_flags_are_one_line_usage_errors(capsys, argv, fragment):
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert fragment in one_line_error(err)


def test_out_folder_holding_a_run_is_refused(capsys, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    code, _, err = run_main(capsys, "train", "--preset", "quick-adult", "--out", str(tmp_path))
    assert code == 2
    assert "already holds a run; continue it with `minirocket train --resume" in \
        one_line_error(err)


def test_debug_prints_the_traceback_and_python_m_works():
    env = dict(os.environ, PYTHONPATH=REPO)
    plain = subprocess.run([sys.executable, "-m", "minirocket", "train", "--lr", "-1"],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr.strip() == ("minirocket: error: argument '--lr': expected a number "
                                    "> 0.0, got -1.0")
    debug = subprocess.run([sys.executable, "-m", "minirocket", "--debug", "train", "--lr",
                            "-1"], capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ArgumentError" in debug.stderr


def test_presets_and_print_config(capsys):
    code, out, _ = run_main(capsys, "presets")
    assert code == 0 and "paper-cifar10-wrn16-1-wrn40-1-interval" in out and "main" in out
    code, out, _ = run_main(capsys, "--quiet", "train", "--preset", "quick-adult", "--lr",
                            "0.02", "--print-config")
    assert code == 0
    import json
    cfg = json.loads(out)
    assert cfg["optim"]["lr"] == 0.02 and len(cfg["config_hash"]) == 64


def test_gradcheck_command_passes(capsys):
    code, out, _ = run_main(capsys, "gradcheck")
    assert code == 0
    assert "all passed" in out
    assert "rocket, block on: surrogate loss" in out and "BatchNorm (N, C, H, W)" in out


def test_gradcheck_command_fails_on_a_wrong_backward(capsys, monkeypatch):
    from minirocket.backend.ops import NumpyOps
    real = NumpyOps.relu_backward

    def wrong(self, y, gy):
        return real(self, y, gy) * 1.01
    monkeypatch.setattr(NumpyOps, "relu_backward", wrong)
    code, out, _ = run_main(capsys, "gradcheck")
    assert code == 1
    assert "FAILURES" in out and "NO" in out


def test_audit_synthetic_json(capsys):
    code, out, _ = run_main(capsys, "audit", "--preset", "quick-adult", "--synthetic", "--json")
    assert code == 0
    import json
    rep = json.loads(out)
    assert isinstance(rep, dict)
    code, out, _ = run_main(capsys, "audit", "--preset", "quick-adult", "--synthetic")
    assert code == 0 and "hint" in out and "shared" in out
