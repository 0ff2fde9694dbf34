"""Held-out prediction: `sysid eval`, cross-validation, choice by held-out error, honest warnings."""

from __future__ import annotations

import json
import pathlib

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, make_log, write_csv

from sysid.cli import main
from sysid.data import load_log
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.heldout import make_folds
from sysid.params import parse_params

REPO = pathlib.Path(__file__).resolve().parents[1]
ARM2 = REPO / "datasets" / "arm2"
FAST = "horizons: [0.25, 0.5]\nmax_windows: 8\noptimizer_options:\n  cmaes: {max_evaluations: 200}\n  lsq: {max_iterations: 15}\n"
# The true pendulum's motor saturates at 1 N m; the model's does not (an effect the model lacks).
SATURATING = PENDULUM_XML.replace('<motor name="motor" joint="hinge"/>',
                                  '<motor name="motor" joint="hinge" forcerange="-1 1" forcelimited="true"/>')


def _json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def test_eval_reproduces_the_fits_val_log_rmse_on_the_arm2_example(tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text(FAST)
    code = main(["fit", "--model", str(ARM2 / "arm2.xml"), "--log", str(ARM2 / "run1.csv"), "--val-log", str(ARM2 / "run2.csv"),
                 "--params", "damping,frictionloss", "--config", str(config), "--horizons", "0.5,1,open",
                 "--out", str(tmp_path / "fit"), "--quiet"])
    assert code == 0
    validation = _json(tmp_path / "fit" / "result.json")["validation"]
    code = main(["eval", "--model", f"nominal={ARM2 / 'arm2.xml'}", "--fit", f"ours={tmp_path / 'fit'}", "--log", str(ARM2 / "run2.csv"),
                 "--horizons", "0.5,1,open", "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 0
    report = _json(tmp_path / "eval" / "eval.json")
    assert report["horizons"] == ["0.5", "1", "open"] and report["logs"] == [str(ARM2 / "run2.csv")]
    for h in ("0.5", "1", "open"):
        for signal, value in validation["by_horizon"][h]["fitted"].items():
            assert report["models"]["ours"]["rmse"][h][signal] == pytest.approx(value, rel=1e-6)
        for signal, value in validation["by_horizon"][h]["initial"].items():
            assert report["models"]["nominal"]["rmse"][h][signal] == pytest.approx(value, rel=1e-6)
    assert report["best"]["1"] == "ours"
    assert (tmp_path / "eval" / "eval_horizons.png").stat().st_size > 0
    assert (tmp_path / "eval" / "eval_traces.png").stat().st_size > 0
    assert report["worse_than_reference"] == [w for w in report["worse_than_reference"] if w["model"] == "ours" and "signal" in w]

    # Against the fit as the reference, the nominal model is listed wherever it is worse: by score and signal by signal.
    assert main(["eval", "--model", f"nominal={ARM2 / 'arm2.xml'}", "--fit", f"ours={tmp_path / 'fit'}", "--log", str(ARM2 / "run2.csv"),
                 "--horizons", "0.5,1", "--reference", "ours", "--out", str(tmp_path / "eval2"), "--quiet"]) == 0
    report = _json(tmp_path / "eval2" / "eval.json")
    log = str(ARM2 / "run2.csv")
    nominal, ours = report["models"]["nominal"]["per_log"][log], report["models"]["ours"]["per_log"][log]
    expected = {(h, s) for h in ("0.5", "1") for s in nominal[h] if nominal[h][s] > ours[h][s]}
    listed = {(w["horizon"], w["signal"]) for w in report["worse_than_reference"] if "signal" in w}
    assert listed == expected and len(expected) >= 2
    assert {w["horizon"] for w in report["worse_than_reference"] if "signal" not in w} == {"0.5", "1"}


def test_choose_keeps_the_simplest_candidate_within_one_standard_error():
    from sysid.heldout import choose

    rows = [{"name": "full", "score": 10.0, "score_se": 2.0, "n_params": 5, "run": {}},
            {"name": "three", "score": 11.5, "score_se": 1.0, "n_params": 3, "run": {}},
            {"name": "shrunk", "score": 11.9, "score_se": 1.0, "n_params": 3, "run": {"shrink": 100.0}},
            {"name": "initial model", "score": 12.5, "score_se": 1.0, "n_params": 0, "run": {}}]
    assert choose(rows, "best")["name"] == "full" == choose(rows)["name"]  # the default
    assert choose(rows, "1se")["name"] == "shrunk"  # within 10 + 2; the initial model (12.5) is not
    rows[0]["score_se"] = 3.0
    assert choose(rows, "1se")["name"] == "initial model"
    rows[0]["score_se"] = 0.0  # a single validation split: no spread to forgive
    assert choose(rows, "1se")["name"] == "full"


def test_eval_scores_a_fit_folder_with_its_delay_and_actuator_model(tmp_path):
    from test_closedloop import SERVO_XML, _servo_log

    from actuator_models.analytic import DCMotorConfig

    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    write_csv(_servo_log(model, DCMotorConfig(kt=0.4, R=3.0, vin=7.4), 1.0, 4, "run.csv"), tmp_path / "run.csv")
    (tmp_path / "servo.xml").write_text(SERVO_XML)
    (tmp_path / "fit.yaml").write_text("actuators:\n  dcmotor@servo: {vin: 7.4, kt: 0.3}\nhorizons: [0.5]\noptimizer: lsq\n"
                                       "refine_states: false\nparams:\n  delay: {initial: 0.01, upper: 0.05}\n")
    code = main(["fit", "--model", str(tmp_path / "servo.xml"), "--log", str(tmp_path / "run.csv"), "--params", "delay",
                 "--actuator", "dcmotor@servo", "--config", str(tmp_path / "fit.yaml"), "--out", str(tmp_path / "out"),
                 "--quiet", "--val", "0.25", "--horizons", "0.2,open"])
    assert code == 0
    result = _json(tmp_path / "out" / "result.json")
    assert "delay" in result["params"]
    code = main(["eval", "--fit", f"ours={tmp_path / 'out'}", "--model", f"calibrated_xml_alone={tmp_path / 'out' / 'calibrated.xml'}",
                 "--log", str(tmp_path / "run.csv"), "--horizons", "0.2,open", "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 0
    report = _json(tmp_path / "eval" / "eval.json")
    # The same model on the whole log: the fit's own (DC motor in the loop, fitted delay) predicts it
    # to the noise level; calibrated.xml without the actuator model cannot.
    ours, alone = report["models"]["ours"]["rmse"]["open"]["hinge.pos"], report["models"]["calibrated_xml_alone"]["rmse"]["open"]["hinge.pos"]
    assert ours < 1e-3 and alone > 10 * ours
    # ... and on the held-out quarter it gives the numbers the fit reported.
    held = tmp_path / "held.csv"
    log = load_log(tmp_path / "run.csv")
    cut = int(np.searchsorted(log.time, log.time[-1] - 0.25 * log.duration))
    import pandas as pd

    pd.read_csv(tmp_path / "run.csv").iloc[cut:].to_csv(held, index=False)
    main(["eval", "--fit", f"ours={tmp_path / 'out'}", "--log", str(held), "--horizons", "0.2,open", "--out", str(tmp_path / "e2"), "--quiet"])
    again = _json(tmp_path / "e2" / "eval.json")["models"]["ours"]["rmse"]
    for h in ("0.2", "open"):
        assert again[h]["hinge.pos"] == pytest.approx(result["validation"]["by_horizon"][h]["fitted"]["hinge.pos"], rel=1e-3)


@pytest.fixture
def saturating(tmp_path) -> dict[str, pathlib.Path]:
    """A nominal pendulum that is exact except for the true motor's 1 N m limit; a 3 N m training log
    (it saturates) and a 0.8 N m held-out log (it does not)."""
    truth = mujoco.MjModel.from_xml_string(SATURATING)
    (tmp_path / "nominal.xml").write_text(PENDULUM_XML)
    write_csv(make_log(truth, 3.0, seed=1, peak=3.0, source="train.csv"), tmp_path / "train.csv")
    write_csv(make_log(truth, 3.0, seed=2, peak=0.8, source="held.csv"), tmp_path / "held.csv")
    return {"model": tmp_path / "nominal.xml", "train": tmp_path / "train.csv", "held": tmp_path / "held.csv", "dir": tmp_path}


def _overfit_argv(files, out: str, *extra: str) -> list[str]:
    return ["fit", "--model", str(files["model"]), "--log", str(files["train"]), "--val-log", str(files["held"]),
            "--params", "mass,armature,damping,frictionloss", "--out", str(files["dir"] / out), "--quiet", *extra]


def test_a_fit_that_predicts_held_out_data_worse_than_its_start_warns_and_shrink_auto_removes_it(saturating, capsys):
    assert main(_overfit_argv(saturating, "plain")) == 0
    err = capsys.readouterr().err
    result = _json(saturating["dir"] / "plain" / "result.json")
    worse = result["validation"]["worse_than_initial"]
    assert {w["horizon"] for w in worse} == {"0.5", "1", "open"}
    assert all(w["fitted"] > 2 * w["initial"] for w in worse)
    assert "predicts " + str(saturating["held"]) + " worse than the initial model over 1 s windows" in err

    assert main(_overfit_argv(saturating, "shrunk", "--shrink", "auto")) == 0
    err = capsys.readouterr().err
    result = _json(saturating["dir"] / "shrunk" / "result.json")
    assert result["validation"]["worse_than_initial"] == []
    assert "worse than the initial model" not in err
    # The initial model predicts the held-out log best (the strongest shrinkage comes close): it is kept, nothing fitted.
    assert result["shrink"]["chosen"] == "initial" and result["structures"]["by"] == "validation"
    assert result["structures"]["chosen"] == "initial model" and result["optimizer"] == "none"
    assert all(p["value"] == p["initial"] for p in result["params"].values())
    assert "kept the initial values, nothing fitted" in err
    ranking = result["structures"]["ranking"]
    assert ranking[0]["name"] == result["structures"]["chosen"] and ranking[0]["score"] <= ranking[-1]["score"]
    assert [r["name"] for r in ranking[:2]] == ["initial model", "shrink 100000"] and ranking[1]["score"] < 1.2 * ranking[0]["score"]


def test_structures_file_chooses_by_cross_validated_error(tmp_path, truth_model):
    (tmp_path / "pendulum.xml").write_text(PENDULUM_XML)
    for k in range(2):
        write_csv(make_log(truth_model, 1.5, seed=20 + k), tmp_path / f"run{k}.csv")
    (tmp_path / "fit.yaml").write_text(FAST)
    (tmp_path / "structures.yaml").write_text("candidates:\n  - {name: armature only, params: armature}\n"
                                              "  - {name: all three, params: 'damping,armature,frictionloss'}\n")
    code = main(["fit", "--model", str(tmp_path / "pendulum.xml"), "--log", str(tmp_path / "run0.csv"), "--log", str(tmp_path / "run1.csv"),
                 "--structures", str(tmp_path / "structures.yaml"), "--cv", "2", "--config", str(tmp_path / "fit.yaml"),
                 "--horizons", "0.5,1", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    result = _json(tmp_path / "out" / "result.json")
    # The truth differs from the model in all three numbers: the full structure predicts better.
    assert result["structures"]["chosen"] == "all three" and result["structures"]["by"] == "cross-validation"
    assert set(result["params"]) == {"damping@hinge", "armature@hinge", "frictionloss@hinge"}
    cv = result["cv"]
    assert cv["k"] == 2 and cv["split"] == "logs" and len(cv["folds"]) == 2
    assert [f["held_out"] for f in cv["folds"]] == [[str(tmp_path / "run0.csv")], [str(tmp_path / "run1.csv")]]
    for h in ("0.5", "1"):
        assert cv["by_horizon"][h]["score_fitted"] < 0.5 * cv["by_horizon"][h]["score_initial"]


def test_cv_on_one_log_uses_contiguous_time_blocks(tmp_path, truth_model):
    log = make_log(truth_model, 3.0, seed=5)
    folds = make_folds([log], ["run.csv"], 3)
    assert [f.split for f in folds] == ["time"] * 3
    # Fold 2 holds out the middle second and fits on the two pieces around it.
    assert folds[1].held[0].time[0] == pytest.approx(1.0, abs=0.003) and folds[1].held[0].time[-1] == pytest.approx(2.0, abs=0.003)
    assert len(folds[1].train) == 2 and folds[1].train[0].time[-1] == folds[1].held[0].time[0]
    assert len(folds[0].train) == 1 and folds[0].train[0].time[0] == folds[1].held[0].time[0]


def test_starts_keep_the_start_that_choose_prefers(truth_model, noisy_log, pendulum):
    params = parse_params("damping,frictionloss", pendulum)
    config = FitConfig(horizons=(0.25,), max_windows=4, starts=2, optimizer="cmaes",
                       optimizer_options={"cmaes": {"max_evaluations": 40}})
    chosen = fit(pendulum, [noisy_log], params, config, progress=False, choose=lambda results: 1)
    assert chosen.loss_final == chosen.starts[1][1]
    default = fit(pendulum, [noisy_log], params, config, progress=False)
    assert default.loss_final == min(loss for _, loss in default.starts)


def test_warnings_are_issued_once_per_fit_not_once_per_start(pendulum, noisy_log):
    # Damping held far above the truth: every start ends at the bound with a poor fit, and says so.
    params = parse_params("damping", pendulum, overrides={"damping@hinge": {"lower": 5.0, "upper": 10.0, "initial": 6.0}})
    config = FitConfig(horizons=(0.1,), max_windows=2, starts=3, optimizer="lsq")
    with pytest.warns(UserWarning) as record:
        result = fit(pendulum, [noisy_log], params, config, progress=False)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and len(set(messages)) == 2
    assert set(messages) == set(result.warnings)


def test_poor_fit_warning_tests_the_printed_loss(pendulum, noisy_log):
    params = parse_params("damping", pendulum, overrides={"damping@hinge": {"lower": 5.0, "upper": 10.0, "initial": 6.0}})
    with pytest.warns(UserWarning) as record:
        result = fit(pendulum, [noisy_log], params, FitConfig(horizons=(0.25,), optimizer="lsq"), progress=False)
    poor = [str(w.message) for w in record if "the fitted loss is" in str(w.message)]
    assert poor == [next(m for m in result.warnings if "the fitted loss is" in m)]
    assert f"the fitted loss is {result.loss_final:.3g}," in poor[0]
    # ... and the parameter held at its bound is named.
    assert result.at_bound == ("damping@hinge",)
    assert any("damping@hinge ended at its lower bound 5" in str(w.message) for w in record)


# --- user errors: exit 2, one line ---------------------------------------------------------------

@pytest.fixture
def small(tmp_path, truth_model) -> dict[str, pathlib.Path]:
    (tmp_path / "pendulum.xml").write_text(PENDULUM_XML)
    write_csv(make_log(truth_model, 1.0, seed=3), tmp_path / "run.csv")
    return {"model": tmp_path / "pendulum.xml", "log": tmp_path / "run.csv", "dir": tmp_path}


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("extra", "message"), [
    (["--reference", "nobody"], "--reference 'nobody': no model has that label; labels: nominal"),
    (["--horizons", "0.5,2"], "--horizons: horizon 2 s is longer than"),
    (["--horizons", "0.5,soon"], "--horizons: 'soon' is neither seconds nor 'open'"),
    (["--horizons", "-1"], "--horizons: horizon '-1' must be a positive number of seconds"),
])
def test_eval_user_errors(small, capsys, extra, message):
    code = main(["eval", "--model", f"nominal={small['model']}", "--log", str(small["log"]), "--out", str(small["dir"] / "e"), *extra])
    assert code == 2
    assert message in _error(capsys)


def test_eval_without_models_and_with_a_folder_that_is_no_fit(small, capsys):
    assert main(["eval", "--log", str(small["log"]), "--out", str(small["dir"] / "e")]) == 2
    assert "give at least one --model" in _error(capsys)
    assert main(["eval", "--fit", f"ours={small['dir']}", "--log", str(small["log"]), "--out", str(small["dir"] / "e")]) == 2
    assert "no calibrated.xml in it" in _error(capsys)
    assert main(["eval", "--model", f"a={small['model']}", "--model", f"a={small['model']}", "--log", str(small["log"]),
                 "--out", str(small["dir"] / "e")]) == 2
    assert "model labels must be unique" in _error(capsys)


@pytest.mark.parametrize(("extra", "message"), [
    (["--cv", "200"], "--cv 200: fold 2 of"),  # an empty fold: 501 rows in 200 blocks
    (["--cv", "1"], "--cv 1: the number of folds must be an integer of at least 2"),
    (["--shrink", "lots"], "--shrink 'lots': give a strength >= 0"),
    (["--shrink", "-1"], "config: shrink must be a number >= 0"),
    (["--shrink", "auto"], "choosing among candidate structures needs held-out data"),
    (["--val", "0.2", "--horizons", "0.5"], "--horizons: horizon 0.5 s is longer than"),
])
def test_fit_held_out_user_errors(small, capsys, extra, message):
    code = main(["fit", "--model", str(small["model"]), "--log", str(small["log"]), "--params", "damping",
                 "--out", str(small["dir"] / "o"), *extra])
    assert code == 2
    assert message in _error(capsys)


def test_cv_with_more_folds_than_logs(small, capsys, truth_model):
    write_csv(make_log(truth_model, 1.0, seed=4), small["dir"] / "run2.csv")
    code = main(["fit", "--model", str(small["model"]), "--log", str(small["log"]), "--log", str(small["dir"] / "run2.csv"),
                 "--params", "damping", "--cv", "3", "--out", str(small["dir"] / "o")])
    assert code == 2
    assert "--cv 3: 2 logs make at most 2 folds" in _error(capsys)


def test_structures_file_errors(small, capsys):
    bad = small["dir"] / "s.yaml"
    bad.write_text("candidates:\n  - {name: a, params: damping, colour: red}\n")
    code = main(["fit", "--model", str(small["model"]), "--log", str(small["log"]), "--structures", str(bad), "--val", "0.5",
                 "--out", str(small["dir"] / "o")])
    assert code == 2
    assert "candidate 'a': unknown key(s) colour" in _error(capsys)


def test_make_folds_rejects_non_integer_k(truth_model):
    with pytest.raises(UserError):
        make_folds([make_log(truth_model, 1.0)], ["a"], 2.5)
