"""Tests for the actuation-delay estimate: recovery of an injected delay, and its use as the fit's start."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import PENDULUM_XML, make_log, write_csv

from sysid.cli import main
from sysid.data import Log
from sysid.data.delay import actuated_joints, estimate_delay
from sysid.errors import UserError

PERIOD = 0.002  # s, the synthetic logs' sample period (one model step)


@pytest.mark.parametrize("delay", [0.0073, 0.0251])
def test_recovers_an_injected_delay_within_one_sample(truth_model, delay):
    log = make_log(truth_model, 3.0, seed=3, delay=delay)  # measurement noise on
    estimate = estimate_delay([log], timestep=truth_model.opt.timestep)
    assert estimate.sample_period == pytest.approx(PERIOD)
    assert abs(estimate.delay - delay) < PERIOD, estimate
    assert abs(estimate.coarse - delay) <= PERIOD
    assert estimate.informative and estimate.r2 > estimate.r2_no_command
    assert estimate.pairs == (("motor", "hinge"),)


def test_recovers_a_delay_from_a_slow_irregular_log(truth_model):
    # Rows every 4-6 model steps (8-12 ms): the estimate is still within one (median) sample period.
    rng = np.random.default_rng(0)
    rows = np.cumsum(np.r_[0, rng.integers(4, 7, 400)])
    rows = rows[rows < 1500]
    log = make_log(truth_model, 3.0, seed=4, delay=0.0315, rows=rows)
    estimate = estimate_delay([log], timestep=truth_model.opt.timestep)
    assert abs(estimate.delay - 0.0315) < estimate.sample_period, estimate


def test_no_estimate_without_a_changing_command():
    time = np.arange(100) * 0.01
    log = Log("still.csv", time, {"hinge": np.sin(time)}, {}, {}, {"motor": np.ones(100)})
    assert estimate_delay([log]) is None
    assert estimate_delay([log], {"other": "hinge"}) is None


def test_needs_pairs_when_ambiguous(truth_model):
    log = make_log(truth_model, 0.5, seed=5)
    two = Log("two.csv", log.time, {**log.pos, "other": log.pos["hinge"]}, {}, {}, log.ctrl)
    with pytest.raises(UserError, match="give the actuator -> joint pairs"):
        estimate_delay([two])
    assert estimate_delay([two], {"motor": "hinge"}) is not None


def test_actuated_joints(arm):
    assert actuated_joints(arm) == {"shoulder_motor": "shoulder", "elbow_servo": "elbow", "rail_motor": "rail"}


def test_cli_starts_the_fitted_delay_at_the_estimate(tmp_path, truth_model):
    model = tmp_path / "pendulum.xml"  # true friction and armature: only damping and the delay are unknown
    model.write_text(PENDULUM_XML.replace('frictionloss="0.05" armature="0.05"', 'frictionloss="0.1" armature="0.02"'))
    log = write_csv(make_log(truth_model, 1.5, seed=6, delay=0.0073), tmp_path / "run.csv")
    config = tmp_path / "fit.yaml"
    config.write_text("horizons: [0.1, 0.3]\noptimizer: lsq\noptimizer_options:\n  lsq: {max_iterations: 3}\n")
    out = tmp_path / "calib"
    argv = ["fit", "--model", str(model), "--log", str(log), "--params", "damping,delay", "--config", str(config),
            "--threads", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    estimate = result["delay_estimate"]
    assert estimate["used_as_initial"] and abs(estimate["value"] - 0.0073) < PERIOD
    assert result["params"]["delay"]["initial"] == pytest.approx(estimate["value"])
    assert abs(result["params"]["delay"]["value"] - 0.0073) < 1e-3
    # An initial value in the config wins over the estimate.
    config.write_text(config.read_text() + "params:\n  delay: {initial: 0.02}\n")
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    assert not result["delay_estimate"]["used_as_initial"] and result["params"]["delay"]["initial"] == 0.02
