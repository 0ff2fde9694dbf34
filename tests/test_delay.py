"""Tests for the actuation-delay estimate: recovery of an injected delay, and its use as the fit's start."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, make_log, multisine, write_csv

from sysid.cli import main
from sysid.data import Log
from sysid.data.delay import actuated_joints, compare_with_fit, estimate_delay
from sysid.errors import UserError
from sysid.sim import held_controls

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
    log = write_csv(make_log(truth_model, 3.0, seed=6, delay=0.0073), tmp_path / "run.csv")
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


# The delay-estimate table: a torque pendulum, a position servo and a cart under a free pole, each
# logged every 5 ms (model step 1 ms, 1 mrad / 1 mm noise) with true delays 0 to 31 ms.
TABLE_SYSTEMS = {
    "pendulum": ("""<mujoco><option timestep="0.001" integrator="implicitfast"/><worldbody><body pos="0 0 1">
      <joint name="hinge" axis="0 1 0" damping="0.2" frictionloss="0.1" armature="0.02"/>
      <inertial pos="0 0 -0.3" mass="1.0" diaginertia="0.01 0.01 0.001"/></body></worldbody>
      <actuator><motor name="motor" joint="hinge"/></actuator></mujoco>""", 3.0),
    "servo": ("""<mujoco><option timestep="0.001" integrator="implicitfast"/><worldbody><body pos="0 0 1">
      <joint name="hinge" axis="0 1 0" damping="0.05" armature="0.01"/>
      <inertial pos="0 0 -0.3" mass="1.0" diaginertia="0.01 0.01 0.001"/></body></worldbody>
      <actuator><position name="servo" joint="hinge" kp="20" kv="0.5"/></actuator></mujoco>""", 1.0),
    "cart": ("""<mujoco><option timestep="0.001" integrator="implicitfast"/><worldbody>
      <body><joint name="slider" type="slide" axis="1 0 0" damping="2"/><inertial pos="0 0 0" mass="1" diaginertia="0.01 0.01 0.01"/>
      <body><joint name="pole" axis="0 1 0" damping="0.01"/><inertial pos="0 0 0.3" mass="0.2" diaginertia="0.005 0.005 0.0001"/>
      </body></body></worldbody><actuator><motor name="push" joint="slider"/></actuator></mujoco>""", 10.0),
}


def _table_log(system: str, delay: float, *, every: int = 5, duration: float = 4.0) -> tuple[mujoco.MjModel, Log]:
    xml, peak = TABLE_SYSTEMS[system]
    model = mujoco.MjModel.from_xml_string(xml)
    dt = model.opt.timestep
    n = int(round(duration / dt)) + 1
    time, rows = np.arange(n) * dt, np.arange(0, n, every)
    command = multisine(time[rows], 0, peak=peak, f_lo=0.3, f_hi=3.0)
    held = command[np.searchsorted(rows, np.arange(n), side="right") - 1]
    applied = held_controls(time, held[:, None], np.zeros(1), n, dt, delay)[0, :, 0]
    data, qpos = mujoco.MjData(model), np.empty((n, model.nq))
    for i in range(n):
        qpos[i] = data.qpos
        data.ctrl[0] = applied[i]
        mujoco.mj_step(model, data)
    rng = np.random.default_rng(7)
    pos = {model.joint(j).name: qpos[rows, j] + rng.normal(0, 1e-3, len(rows)) for j in range(model.njnt)}
    return model, Log(f"{system}.csv", time[rows], pos, {}, {}, {model.actuator(0).name: command})


@pytest.mark.parametrize("system", list(TABLE_SYSTEMS))
def test_delay_table_within_one_sample_or_not_informative(system):
    for delay in (0.0, 0.005, 0.014, 0.020, 0.031):
        model, log = _table_log(system, delay)
        estimate = estimate_delay([log], actuated_joints(model), timestep=model.opt.timestep)
        assert estimate.sample_period == pytest.approx(0.005)
        assert estimate.lower <= estimate.delay <= estimate.upper
        if estimate.informative:
            assert estimate.upper - estimate.lower < estimate.sample_period
            assert abs(estimate.delay - delay) < estimate.sample_period, (system, delay, estimate)
        if delay == 0:  # no non-zero delay is stated for a log without one
            assert not estimate.detected and estimate.describe().startswith("no delay detected"), estimate
    if system != "cart":  # the torque pendulum and the servo pin the delay; under a free pole it is not informative
        assert estimate.informative and estimate.detected


def test_a_fitted_delay_outside_the_estimate_is_flagged():
    model, log = _table_log("servo", 0.014)
    estimate = estimate_delay([log], actuated_joints(model), timestep=model.opt.timestep)
    assert compare_with_fit(estimate, estimate.delay + 0.3 * estimate.sample_period, 1e-4) is None
    message = compare_with_fit(estimate, 0.031, 1e-4)
    assert message and message.startswith("the fitted delay 31 ms disagrees with the delay estimated from the logs, 14")
