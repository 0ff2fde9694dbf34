"""`sysid excite` end to end, sequential design with --prior, and one test per user error (exit 2, one line)."""

from __future__ import annotations

import json

import mujoco
import pandas as pd
import pytest
from test_excite import SERVO_XML

from sysid.cli import main


@pytest.fixture
def servo_path(tmp_path):
    path = tmp_path / "servo.xml"
    path.write_text(SERVO_XML)
    return path


DEFAULTS = {"duration": "1", "max-vel": "2", "max-acc": "40", "max-freq": "3", "lines": "3", "evaluations": "8", "threads": "2"}


def _argv(model, out, *, params="damping,kp", drop=(), flags=(), **options) -> list[str]:
    """`sysid excite` arguments: DEFAULTS updated by `options` (flag_name=value), less `drop`, plus `flags`."""
    values = {**DEFAULTS, **{k.replace("_", "-"): str(v) for k, v in options.items()}}
    argv = ["excite", "--model", str(model), "--params", params, "--out", str(out), *flags]
    for flag, value in values.items():
        if flag not in drop:
            argv += [f"--{flag}", value]
    return argv


def test_excite_end_to_end(servo_path, tmp_path, capsys):
    out = tmp_path / "plan"
    before = servo_path.read_bytes()
    assert main(_argv(servo_path, out)) == 0
    captured = capsys.readouterr()
    assert "damping@shoulder" in captured.out and "std plan" in captured.out and "Traceback" not in captured.err
    for name in ("plan.csv", "baseline.csv", "plan.png", "excite.json"):
        assert (out / name).stat().st_size > 0
    assert servo_path.read_bytes() == before
    frame = pd.read_csv(out / "plan.csv")
    assert list(frame.columns) == ["time", "shoulder_servo.ctrl", "elbow_servo.ctrl", "shoulder.pos", "shoulder.vel", "elbow.pos", "elbow.vel"]
    assert frame["time"].iloc[-1] == pytest.approx(1.0)
    model = mujoco.MjModel.from_xml_path(str(servo_path))
    assert frame["shoulder_servo.ctrl"].between(*model.actuator_ctrlrange[0]).all()
    summary = json.loads((out / "excite.json").read_text())
    assert list(summary["params"]) == ["damping@shoulder", "damping@elbow", "kp@shoulder_servo", "kp@elbow_servo"]
    for entry in summary["params"].values():
        assert entry["std"] > 0 and entry["std_baseline"] > 0 and entry["unit"]
    assert summary["criterion"]["kind"] == "d" and summary["family"] == "fourier"
    assert summary["limits"]["velocity"]["shoulder"] == [-2.0, 2.0]
    assert max(max(v.values()) for v in summary["limit_ratios"]["plan"].values()) <= 1.0


def test_excite_sequential_with_a_prior(servo_path, tmp_path, capsys):
    """Plan the next experiment around an earlier fit: its standard errors count as known information."""
    prior = tmp_path / "result.json"
    prior.write_text(json.dumps({"params": {"damping@shoulder": {"value": 0.8, "std": 1e-4}, "kp@shoulder_servo": {"value": 60, "std": None}}}))
    out = tmp_path / "next"
    assert main(_argv(servo_path, out, prior=prior, flags=["--quiet"])) == 0
    assert capsys.readouterr().out == ""
    params = json.loads((out / "excite.json").read_text())["params"]
    assert params["damping@shoulder"]["std_combined"] < 2e-4 < params["damping@shoulder"]["std"]
    assert params["damping@elbow"]["std_combined"] == pytest.approx(params["damping@elbow"]["std"], rel=0.05)


# --- user errors: exit 2, one line, no traceback ---------------------------------------------------


def _user_error(argv, capsys, *fragments) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysid: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("duration", ["0", "-2", "nan"])
def test_bad_duration(servo_path, tmp_path, capsys, duration):
    _user_error(_argv(servo_path, tmp_path / "o", duration=duration), capsys, "--duration", "positive")


def test_too_short_duration(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", duration="0.005"), capsys, "--duration")


def test_unknown_param_kind(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", params="damping,dampng"), capsys, "--params", "unknown parameter kind 'dampng'")


def test_unknown_param_target(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", params="damping@knee"), capsys, "--params", "no joint named 'knee'")


def test_unknown_family(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", family="square"), capsys, "--family", "square")


def test_band_above_the_command_rate(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", rate="10"), capsys, "--max-freq")


def test_missing_prior(servo_path, tmp_path, capsys):
    _user_error(_argv(servo_path, tmp_path / "o", prior=tmp_path / "nope.json"), capsys, "--prior", "not found")


def test_model_without_actuators(tmp_path, capsys):
    path = tmp_path / "bare.xml"
    path.write_text(SERVO_XML.split("<actuator>")[0] + "</mujoco>\n")
    _user_error(_argv(path, tmp_path / "o", params="damping"), capsys, "no actuators")


def test_unbounded_motion(tmp_path, capsys):
    path = tmp_path / "free.xml"
    path.write_text(SERVO_XML.replace(' range="-1.2 1.0"', "").replace(' ctrlrange="-1.2 1.0"', ""))
    _user_error(_argv(path, tmp_path / "o", params="damping", drop=("max-vel", "max-acc")), capsys, "joint shoulder", "nothing bounds")
