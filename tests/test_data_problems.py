"""Data problems are named: outliers by file, column and row; a robust loss recovers the fit; a
noise-free signal gets a noise floor; free joints missing from the log are warned about."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH, make_log, write_csv

from sysid.cli import main
from sysid.data import load_log
from sysid.loss import robust_residuals
from sysid.track import bind_log

FIT = ["--params", "damping,armature,frictionloss", "--optimizer", "lsq", "--quiet"]


def _worst_error(out) -> float:
    result = json.loads((out / "result.json").read_text())
    return max(abs(result["params"][name]["value"] / value - 1) for name, value in TRUTH.items())


def test_a_spike_is_named_by_row_and_huber_recovers_the_clean_fit(tmp_path, pendulum_path, truth_model, capsys):
    clean = write_csv(make_log(truth_model, 2.0, seed=4), tmp_path / "clean.csv")
    table = pd.read_csv(clean)
    table.loc[400, "hinge.pos"] = 100.0  # one 100 rad spike, data row 401
    table.to_csv(tmp_path / "spike.csv", index=False)
    with pytest.warns(UserWarning, match=r"spike.csv: 1 outlier\(s\) .*column hinge.pos row 401 \(t 0.8 s\): 100 where"):
        load_log(tmp_path / "spike.csv")
    model = ["fit", "--model", str(pendulum_path), *FIT]
    assert main([*model, "--log", str(clean), "--out", str(tmp_path / "clean")]) == 0
    assert main([*model, "--log", str(tmp_path / "spike.csv"), "--out", str(tmp_path / "linear")]) == 0
    assert "column hinge.pos row 401" in capsys.readouterr().err
    assert main([*model, "--log", str(tmp_path / "spike.csv"), "--loss", "huber", "--out", str(tmp_path / "huber")]) == 0
    clean_error, linear_error, huber_error = (_worst_error(tmp_path / k) for k in ("clean", "linear", "huber"))
    print(f"worst parameter error: clean {clean_error:.4f}, spiked {linear_error:.4f}, spiked with huber {huber_error:.4f}")
    assert linear_error > 10 * clean_error  # the spike does bias a least-squares fit
    assert huber_error <= 2 * max(clean_error, 1e-3)
    assert json.loads((tmp_path / "huber" / "result.json").read_text())["config"]["loss"] == "huber"


def test_a_clean_log_has_no_outliers(truth_model):
    from sysid.data.outliers import find_outliers

    assert find_outliers(make_log(truth_model, 2.0, seed=4)) == []


@pytest.mark.parametrize("loss", ["huber", "soft_l1", "cauchy"])
def test_robust_residuals_are_the_identity_near_zero_and_grow_slowly(loss):
    r = np.array([-0.1, 0.0, 0.2, 1e4])
    out = robust_residuals(r, loss)
    np.testing.assert_allclose(out[:3], r[:3], rtol=0.01, atol=1e-12)
    assert 1 < out[3] < 300  # sqrt-like (huber, soft_l1) or log-like (cauchy), not 1e4
    assert robust_residuals(r, "linear") is r


def test_a_noise_free_signal_gets_a_noise_floor(pendulum, truth_model):
    log = make_log(truth_model, 1.0, seed=2, noise=False)
    with pytest.warns(UserWarning, match=r"hinge.pos, hinge.vel look noise-free .*below 0.0001 of the signal's range"):
        track = bind_log(log, pendulum)
    span = np.percentile(log.pos["hinge"], 99.5) - np.percentile(log.pos["hinge"], 0.5)
    assert track.sigma[0] == pytest.approx(1e-4 * span)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noisy = bind_log(make_log(truth_model, 1.0, seed=2), pendulum)  # a noisy log: no floor, no warning
    assert 5e-4 < noisy.sigma[0] < 2e-3


def test_a_free_joint_missing_from_the_log_is_warned(truth_model):
    import mujoco

    xml = """<mujoco><worldbody><body name="base"><freejoint name="root"/><geom size="0.1"/>
      <body name="link"><joint name="hinge" axis="0 1 0"/><geom size="0.05" pos="0 0 -0.2"/></body></body></worldbody>
      <actuator><motor name="motor" joint="hinge"/></actuator></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    with pytest.warns(UserWarning, match="the model's free joint 'root' not in the log"):
        bind_log(make_log(truth_model, 0.5, seed=1), model)
