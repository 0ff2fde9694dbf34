"""report.html from result.json dicts: sections, tables of held-out results, the what-to-do-next list."""

from __future__ import annotations

import json

import numpy as np

from sysid.cli import main
from sysid.htmlreport import SECTIONS, next_steps, render, verdict, write_report
from sysid.reportdata import residual_stats


def _summary(**extra) -> dict:
    return {
        "params": {"damping@elbow": {"value": 0.31, "initial": 0.5, "lower": 0.0, "upper": 5.0, "std": 0.004,
                                     "ci95": [0.30, 0.32], "unit": "N m s/rad", "identifiable": True},
                   "mass@fore": {"value": 5.0, "initial": 1.0, "lower": 0.1, "upper": 5.0, "std": 2.0,
                                 "ci95": [1.0, 5.0], "unit": "kg", "identifiable": False}},
        "loss": {"initial": 1.8, "final": 0.012}, "rmse": {"elbow.pos": 0.002}, "rmse_initial": {"elbow.pos": 0.03},
        "optimizer": "lsq", "evaluations": 10, "sim_steps": 1000, "wall_time_s": 1.0, "model": "robot.xml",
        "logs": ["run1.csv"], "rmse_horizon_s": 1.0, "residual_scale": 1.1, "stages": ["lsq 1s: 3 windows"],
        "correlation": {"names": ["damping@elbow", "mass@fore"], "matrix": [[1.0, 0.2], [0.2, 1.0]]},
        **extra,
    }


CV = {"k": 3, "split": "logs", "by_horizon": {"0.5": {"score_initial": 4.0, "score_fitted": 1.5, "score_fitted_std": 0.2}},
      "worse_than_initial": [{"log": "run3.csv", "horizon": "open", "initial": 2.0, "fitted": 3.0}]}
STRUCTURES = {"chosen": "dc motor", "by": "cross-validation",
              "ranking": [{"name": "dc motor", "score": 1.2, "score_initial": 4.0}, {"name": "plain", "score": 2.0, "score_initial": 4.0}]}
EVAL = {"models": {"nominal": {"score": {"0.5": 3.0, "open": 9.0}}, "ours": {"score": {"0.5": 1.0, "open": 2.5}}},
        "horizons": ["0.5", "open"], "logs": ["held.csv"], "reference": "nominal"}


def test_every_section_with_held_out_tables_and_flags():
    page = render(_summary(cv=CV, structures=STRUCTURES, at_bound=["mass@fore"], combinations=[{"name": "m*l", "value": 0.4}]),
                  eval_report=EVAL)
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "3-fold cross-validation by logs" in page and "dc motor (chosen)" in page
    assert "<td>ours</td><td>1</td><td>2.5</td>" in page
    assert '<span class="flag">at bound</span>' in page and '<span class="flag">not identifiable</span>' in page
    assert "<td>m*l</td><td>0.4</td>" in page


def test_next_steps_follow_the_findings():
    todo = next_steps(_summary(cv=CV, at_bound=["mass@fore"], warnings=["the fitted loss is high"], residual_scale=12.0))
    text = "\n".join(todo)
    assert "Warning: the fitted loss is high" in text
    assert "mass@fore ended at a bound" in text
    assert "worse than the initial model (1 comparison(s))" in text
    assert "Not identifiable from these logs: mass@fore" in text
    assert "12 x the noise level" in text
    assert "No held-out check" not in text
    assert verdict(_summary(cv=CV))[0] == "poor"
    assert verdict(_summary(at_bound=["mass@fore"]))[0] == "check"
    clean = _summary(validation={"by_horizon": {}, "worse_than_initial": []})
    clean["params"]["mass@fore"]["identifiable"] = True
    assert verdict(clean)[0] == "good"
    assert next_steps(clean) == ["Nothing pressing: hand the model to a trainer with sysid export calib/ --out bundle/."]


def test_residual_statistics_of_white_noise():
    rng = np.random.default_rng(0)
    stats = residual_stats([rng.standard_normal(500) for _ in range(8)], 0.01)
    assert abs(stats["rms"] - 1.0) < 0.05
    assert stats["acf"][0] == 1.0 and np.max(np.abs(stats["acf"][1:])) < 0.1
    assert sum(stats["hist_counts"]) == 4000


def test_report_command_rebuilds_the_page(tmp_path, capsys):
    (tmp_path / "result.json").write_text(json.dumps(_summary()))
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "eval.json").write_text(json.dumps(EVAL))
    assert main(["report", str(tmp_path), "--eval", str(tmp_path / "eval"), "--out", str(tmp_path / "r.html")]) == 0
    assert "sysid eval on held.csv" in (tmp_path / "r.html").read_text()
    write_report(tmp_path, _summary())
    assert (tmp_path / "report.html").is_file()


def test_report_of_a_folder_without_result_json_is_a_user_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "result.json: not found" in err


def test_a_fit_with_held_out_data_draws_its_predictions_in_report_html(tmp_path, truth_model):
    """--val-log and --cv: report.html shows each held-out log replayed open loop (the validation log
    by the final fit, each fold's held-out log by that fold's fit) with its commands, decimated."""
    import re

    from conftest import PENDULUM_XML, make_log, write_csv

    from sysid.reportdata import MAX_POINTS

    (tmp_path / "pendulum.xml").write_text(PENDULUM_XML.replace('armature="0.05"', 'armature="0.02"'))  # the true one
    paths = [write_csv(make_log(truth_model, 1.2, seed=20 + i), tmp_path / f"run{i}.csv") for i in range(3)]
    (tmp_path / "fit.yaml").write_text("horizons: [0.5]\n")
    assert main(["fit", "--model", str(tmp_path / "pendulum.xml"), "--log", str(paths[0]), "--log", str(paths[1]),
                 "--val-log", str(paths[2]), "--cv", "2", "--params", "damping,frictionloss", "--optimizer", "lsq",
                 "--config", str(tmp_path / "fit.yaml"), "--out", str(tmp_path / "calib"), "--quiet", "--check", "off"]) == 0
    page = (tmp_path / "calib" / "report.html").read_text()
    heldout = re.search(r'<section id="heldout">(.*?)</section>', page, re.S).group(1)
    headings = re.findall(r"<h3>(.*?)</h3>", heldout)
    assert headings == ["run2.csv (held-out data), open loop", "run0.csv (held out of fold 1), open loop",
                        "run1.csv (held out of fold 2), open loop"]
    assert heldout.count('src="data:image/png;base64,') == 3
    data = json.loads((tmp_path / "calib" / "report_data.json").read_text())
    first = data["heldout"][0]
    assert list(first["commands"]) == ["motor"] and len(first["command_time"]) <= MAX_POINTS
    pos = first["signals"]["hinge.pos"]
    assert len(pos["time"]) <= MAX_POINTS < 601  # 1.2 s at 500 Hz, decimated
    fitted_error = np.sqrt(np.nanmean((np.array(pos["fitted"]) - pos["logged"]) ** 2))
    initial_error = np.sqrt(np.nanmean((np.array(pos["initial"]) - pos["logged"]) ** 2))
    assert fitted_error < initial_error / 5  # the fitted model predicts the held-out log, the initial one does not
