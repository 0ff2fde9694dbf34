"""Tests for the `sysid` command: end-to-end fits, and one test per user error (exit 2, one line)."""

from __future__ import annotations

import json
import pathlib
import shutil

import mujoco
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, write_csv

from sysid.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = "horizons: [0.1, 0.3]\noptimizer_options:\n  cmaes: {max_evaluations: 300}\n"


@pytest.fixture
def files(tmp_path, truth_model) -> dict[str, pathlib.Path]:
    """A pendulum model, a 1.5 s log of the true pendulum and a fit config, in tmp_path/inputs."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    model = folder / "pendulum.xml"
    model.write_text(PENDULUM_XML)
    log = write_csv(make_log(truth_model, 1.5, seed=11), folder / "run.csv")
    config = folder / "fit.yaml"
    config.write_text(CONFIG)
    return {"model": model, "log": log, "config": config, "out": tmp_path / "calib"}


def _argv(files, *, params="damping,armature,friction", **extra) -> list[str]:
    argv = ["fit", "--model", str(files["model"]), "--log", str(files["log"]), "--params", params,
            "--config", str(files["config"]), "--threads", "2", "--out", str(files["out"]), "--quiet"]
    for flag, value in extra.items():
        argv += [f"--{flag}", str(value)]
    return argv


# --- end to end ---------------------------------------------------------------------------------


def test_fit_end_to_end(files, capsys):
    inputs = [files["model"], files["log"], files["config"]]
    before = {path: path.read_bytes() for path in inputs}
    argv = [a for a in _argv(files, seed=1) if a != "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "damping@hinge" in captured.out and "Traceback" not in captured.err
    # Damping and frictionloss of a 1.5 s pendulum log are strongly correlated: that warning is expected.
    assert not [line for line in captured.err.splitlines()
                if line.startswith("sysid:") and "correlated" not in line and not line.startswith("sysid: check: ")]
    out = files["out"]
    for name in ("calibrated.xml", "result.json", "fit.png", "convergence.png"):
        assert (out / name).stat().st_size > 0
    result = json.loads((out / "result.json").read_text())
    assert list(result["params"]) == ["damping@hinge", "armature@hinge", "frictionloss@hinge"]
    for name, entry in result["params"].items():
        assert entry["value"] == pytest.approx(TRUTH[name], rel=0.05)
        assert 0 < entry["std"] < 0.05 * entry["value"]
    assert result["seed"] == 1 and result["optimizer"] == "cmaes+lsq"
    assert result["logs"] == [str(files["log"])] and result["model"] == str(files["model"])
    calibrated = mujoco.MjModel.from_xml_path(str(out / "calibrated.xml"))
    assert calibrated.dof_damping[0] == pytest.approx(result["params"]["damping@hinge"]["value"], rel=1e-5)
    # The inputs are only read.
    assert {path: path.read_bytes() for path in inputs} == before


def test_fit_starts_are_recorded_in_result_json(files):
    assert main(_argv(files, seed=4, starts=2, optimizer="lsq")) == 0
    result = json.loads((files["out"] / "result.json").read_text())
    assert [s["seed"] for s in result["starts"]] == [4, 5] and result["config"]["starts"] == 2
    assert result["loss"]["final"] == pytest.approx(min(s["loss"] for s in result["starts"]))
    assert main(_argv(files, starts=0)) == 2


def test_fit_on_a_slice_of_the_bundled_arm_log(tmp_path, capsys):
    lines = (REPO / "datasets" / "arm2" / "run1.csv").read_text().splitlines()
    log = tmp_path / "run1_2s.csv"
    log.write_text("\n".join(lines[:1002]) + "\n")  # header + 2 s at 500 Hz
    config = tmp_path / "fit.yaml"
    config.write_text(CONFIG)
    model = REPO / "datasets" / "arm2" / "arm2.xml"
    model_bytes = model.read_bytes()
    out = tmp_path / "calib"
    argv = ["fit", "--model", str(model), "--log", str(log), "--params", "damping@elbow", "--config", str(config),
            "--threads", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    # The other 7 parameters stay at arm2.xml's wrong values, so the fit cannot explain the log: one
    # line says so, nothing else is printed.
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("sysid: warning: the fitted loss is")
    result = json.loads((out / "result.json").read_text())
    entry = result["params"]["damping@elbow"]
    assert entry["initial"] == 0.08 and entry["lower"] <= entry["value"] <= entry["upper"]
    assert entry["value"] != pytest.approx(entry["initial"], rel=0.05)  # the fit moved it
    assert result["loss"]["final"] < result["loss"]["initial"]
    assert set(result["rmse"]) == {"shoulder.pos", "shoulder.vel", "elbow.pos", "elbow.vel"}
    calibrated = mujoco.MjModel.from_xml_path(str(out / "calibrated.xml"))
    assert calibrated.dof_damping[1] == pytest.approx(entry["value"], rel=1e-5)
    assert model.read_bytes() == model_bytes


# --- user errors: exit 2, one line naming the file, column and row, no traceback ------------------


def _user_error(argv, capsys, *fragments) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sysid: error: ")
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _edit_csv(files, edit) -> None:
    """Rewrite the log's CSV: edit(header, rows) -> (header, rows), rows as lists of cells."""
    lines = files["log"].read_text().splitlines()
    header, rows = edit(lines[0].split(","), [line.split(",") for line in lines[1:]])
    files["log"].write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")


def test_log_column_for_an_actuator_not_in_the_model(files, capsys):
    _edit_csv(files, lambda h, rows: (h + ["ghost.ctrl"], [r + ["0.5"] for r in rows]))
    _user_error(_argv(files), capsys, "run.csv", "column 'ghost.ctrl'", "no actuator named 'ghost'", "actuators: motor")
    assert not files["out"].exists()


def test_log_without_position_columns(files, capsys):
    files["log"].write_text("time,motor.ctrl\n0,1\n0.002,1\n0.004,1\n")
    _user_error(_argv(files), capsys, "run.csv", "no JOINT.pos column", "'motor.ctrl'")


def test_log_with_a_nan_cell(files, capsys):
    def edit(h, rows):
        rows[4][h.index("hinge.pos")] = "nan"
        return h, rows

    _edit_csv(files, edit)
    _user_error(_argv(files), capsys, "run.csv", "column 'hinge.pos'", "row 5", "not a finite number")


def test_log_with_an_inf_cell(files, capsys):
    def edit(h, rows):
        rows[6][h.index("motor.ctrl")] = "inf"
        return h, rows

    _edit_csv(files, edit)
    _user_error(_argv(files), capsys, "run.csv", "column 'motor.ctrl'", "row 7", "not a finite number")


def test_log_time_not_increasing(files, capsys):
    def edit(h, rows):
        rows[3][0] = rows[2][0]
        return h, rows

    _edit_csv(files, edit)
    _user_error(_argv(files), capsys, "run.csv", "column 'time'", "row 4", "strictly increase")


def test_log_joint_not_in_the_model(files, capsys):
    _edit_csv(files, lambda h, rows: ([c.replace("hinge", "knee") for c in h], rows))
    _user_error(_argv(files), capsys, "run.csv", "column 'knee.pos'", "no joint named 'knee'", "joints: hinge")


def test_unknown_param_kind(files, capsys):
    _user_error(_argv(files, params="damping,dampng"), capsys, "--params", "unknown parameter kind 'dampng'", "known kinds:")


def test_unknown_param_target(files, capsys):
    _user_error(_argv(files, params="damping@knee"), capsys, "--params", "no joint named 'knee'", "joints: hinge")


def test_unreadable_model(files, capsys):
    files["model"].write_text("<mujoco><worldbody><body></worldbody></mujoco>")
    _user_error(_argv(files), capsys, "pendulum.xml", "cannot load the model")


def test_missing_model_file(files, capsys):
    files["model"].unlink()
    _user_error(_argv(files), capsys, "pendulum.xml", "model file not found")


def test_unreadable_config(files, capsys):
    files["config"].write_text("horizons: [0.1, 0.3\nseed: 1\n")
    _user_error(_argv(files), capsys, "fit.yaml", "not valid YAML", "line")


def test_unknown_config_key(files, capsys):
    files["config"].write_text("horizon: [0.1, 0.3]\n")
    _user_error(_argv(files), capsys, "fit.yaml", "unknown key(s) 'horizon'", "horizons")


def test_map_file_naming_a_missing_column(files, capsys):
    mapfile = files["model"].parent / "map.yaml"
    mapfile.write_text("hinge.pos: {column: q_deg, scale: 0.0174532925}\n")
    _user_error(_argv(files, map=mapfile), capsys, "map.yaml", "entry 'hinge.pos'", "column 'q_deg'", "run.csv")


def test_out_that_would_overwrite_an_input_is_refused(files, capsys):
    files["out"].mkdir()
    model = shutil.copy(files["model"], files["out"] / "calibrated.xml")
    original = pathlib.Path(model).read_bytes()
    argv = _argv(files)
    argv[argv.index(str(files["model"]))] = str(model)
    _user_error(argv, capsys, "--out", "would overwrite the input file", "calibrated.xml")
    assert pathlib.Path(model).read_bytes() == original
    assert sorted(p.name for p in files["out"].iterdir()) == ["calibrated.xml"]


def test_out_that_is_a_file_is_refused(files, capsys):
    files["out"].write_text("not a folder")
    _user_error(_argv(files), capsys, "--out", "is a file; give a folder")
    assert files["out"].read_text() == "not a folder"
